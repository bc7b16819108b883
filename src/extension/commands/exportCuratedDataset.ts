import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { showErrorMessage, showInformationMessage, showWarningMessage } from '../ui';
import { rejectedPathFor, type CurationRule } from '../../core/curate';
import { EXTREME_WEIGHT_TAIL_PERCENT } from '../../core/view/reviewQueue';
import { CommandId } from '../../protocol/commands';
import { isJsonlDocument } from '../documents/trackedDocuments';
import type { ReviewMarks } from '../review/reviewMarks';
import type { ScoreStore } from '../scoring/scoreStore';

/** Arguments the command accepts instead of asking (used by tests and keybindings). */
export interface ExportArguments {
  uri?: vscode.Uri;
  rule?: CurationRule;
  curated?: vscode.Uri;
  /** Overwrite existing outputs without asking. */
  overwrite?: boolean;
}

const exists = (file: string): Promise<boolean> => fs.stat(file).then(
  () => true,
  () => false,
);

const percentIn = (low: number, high: number) => (text: string): string | undefined => {
  const x = Number(text);
  return Number.isFinite(x) && x >= low && x < high ? undefined : `a percentage in [${low}, ${high})`;
};

async function askRule(): Promise<CurationRule | undefined> {
  const rule = await vscode.window.showQuickPick(
    [
      { label: 'Keep a fraction of the rows', detail: 'the rows with the highest IMP weight, e.g. 0.8 keeps 80 %', keep: 'fraction' as const },
      { label: 'Keep rows above a weight', detail: 'every row whose IMP weight is at least a threshold', keep: 'minimum' as const },
      {
        label: 'Drop both tails',
        detail: `reject the lowest and the highest weights (default ${EXTREME_WEIGHT_TAIL_PERCENT} % each): extreme weights in both directions are suspicious`,
        keep: 'tails' as const,
      },
    ],
    { title: 'Export Curated Dataset: which rows to keep (rows marked as reviewed are always kept)' },
  );
  if (!rule) return undefined;
  let chosen: CurationRule;
  if (rule.keep === 'tails') {
    const low = await vscode.window.showInputBox({ title: 'Percentage of rows with the lowest IMP weight to drop', value: String(EXTREME_WEIGHT_TAIL_PERCENT), validateInput: percentIn(0, 100) });
    if (low === undefined) return undefined;
    const high = await vscode.window.showInputBox({
      title: 'Percentage of rows with the highest IMP weight to drop',
      value: String(EXTREME_WEIGHT_TAIL_PERCENT),
      validateInput: (text) => percentIn(0, 100 - Number(low))(text),
    });
    if (high === undefined) return undefined;
    chosen = { by: 'weight', keepFraction: 1 - (Number(low) + Number(high)) / 100, dropHighestFraction: Number(high) / 100 };
  } else {
    const value = await vscode.window.showInputBox({
      title: rule.keep === 'fraction' ? 'Fraction of rows to keep (0–1]' : 'Smallest IMP weight to keep',
      value: rule.keep === 'fraction' ? '0.8' : '0.5',
      validateInput: (text) => {
        const x = Number(text);
        if (!Number.isFinite(x)) return 'a number';
        if (rule.keep === 'fraction' && !(x > 0 && x <= 1)) return 'a fraction in (0, 1]';
        return undefined;
      },
    });
    if (value === undefined) return undefined;
    chosen = rule.keep === 'fraction' ? { by: 'weight', keepFraction: Number(value) } : { by: 'weight', minimum: Number(value) };
  }
  const addWeight = await vscode.window.showQuickPick(
    [
      { label: 'Lines as they are', addWeight: false },
      { label: 'Add a "weight" field', detail: 'each kept line gets its IMP weight', addWeight: true },
    ],
    { title: 'Export Curated Dataset: kept lines' },
  );
  if (!addWeight) return undefined;
  return { ...chosen, addWeight: addWeight.addWeight };
}

/**
 * Export Curated Dataset…: writes the kept rows and the rejected ones (every line lands in exactly one) from
 * the stored scores, in the worker; rows marked as reviewed in the review queue are always kept; never
 * overwrites a file without asking.
 */
export function registerExportCuratedDataset(store: ScoreStore, reviewMarks: ReviewMarks): vscode.Disposable {
  return vscode.commands.registerCommand(CommandId.exportCuratedDataset, async (args: ExportArguments = {}) => {
    const active = vscode.window.activeTextEditor?.document;
    const tab = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
    const uri = args.uri ?? (active && isJsonlDocument(active) ? active.uri : tab instanceof vscode.TabInputText ? tab.uri : store.lastFile);
    if (!uri || !(await store.ensureLoaded(uri).catch(() => undefined))) {
      void showInformationMessage('DIMP: score a synthetic file first (DIMP: Score Synthetic Data), then export it.');
      return undefined;
    }
    const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    if (document?.isDirty) {
      const save = await showWarningMessage(`${path.basename(uri.fsPath)} has unsaved changes; the export reads the file on disk.`, { modal: true }, 'Save and Export');
      if (save !== 'Save and Export' || !(await document.save())) return undefined;
    }
    const rule = args.rule ?? (await askRule());
    if (!rule) return undefined;
    const defaultCurated = uri.fsPath.replace(/\.(jsonl|ndjson)$/i, '') + '.curated.jsonl';
    const curated = args.curated ?? (await vscode.window.showSaveDialog({ title: 'Curated dataset', defaultUri: vscode.Uri.file(defaultCurated), filters: { 'JSON Lines': ['jsonl'] } }));
    if (!curated) return undefined;
    const rejected = rejectedPathFor(curated.fsPath);
    if (path.resolve(curated.fsPath) === path.resolve(uri.fsPath) || path.resolve(rejected) === path.resolve(uri.fsPath)) {
      void showErrorMessage('DIMP: the curated and rejected files must not replace the synthetic file itself.');
      return undefined;
    }
    const existing = [];
    for (const file of [curated.fsPath, rejected]) if (await exists(file)) existing.push(path.basename(file));
    if (existing.length > 0 && !args.overwrite) {
      const answer = await showWarningMessage(`${existing.join(' and ')} already exist${existing.length === 1 ? 's' : ''}. Overwrite?`, { modal: true }, 'Overwrite');
      if (answer !== 'Overwrite') return undefined;
    }
    const summary = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `DIMP: exporting ${path.basename(curated.fsPath)}` }, async () => {
      const alwaysKeep = [...(await reviewMarks.load(uri))];
      const { done } = store.run({ kind: 'export', synthetic: uri.fsPath, storage: store.storageFor(uri), rule, curated: curated.fsPath, rejected, alwaysKeep });
      return (await done).curation;
    }).then(undefined, (error: Error) => {
      void showErrorMessage(`DIMP: export failed: ${error.message}`);
      return undefined;
    });
    if (!summary) return undefined;
    const notes = [summary.unscored > 0 && `${summary.unscored} unscored`, summary.unusable > 0 && `${summary.unusable} unusable`].filter(Boolean).join(', ');
    const reviewed = summary.keptReviewed ? ` (${summary.keptReviewed} marked as reviewed)` : '';
    void showInformationMessage(
        `DIMP: kept ${summary.kept} rows${reviewed} in ${path.basename(curated.fsPath)}; ${summary.rejected} rejected${notes ? ` (+ ${notes})` : ''} in ${path.basename(rejected)}.`,
        'Open Curated File',
      )
      .then((action) => action && vscode.commands.executeCommand('vscode.open', curated));
    return summary;
  });
}
