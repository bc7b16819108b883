import * as vscode from 'vscode';
import { showInformationMessage } from '../ui';
import { rowHoverMarkdown } from '../../core/view/rowHover';
import { lowestSamples, sampleItemText } from '../../core/view/samples';
import { formatScore } from '../../core/view/weightHeat';
import { CommandId } from '../../protocol/commands';
import type { TrackedDocuments } from '../documents/trackedDocuments';
import { DiskLines } from '../largeFiles';
import type { FileScores, ScoreStore } from '../scoring/scoreStore';
import { readSettings } from '../settings';

/** The view's id in package.json. */
export const SAMPLES_VIEW_ID = 'dimpCurator.samples';

/** Rows listed at most; the rest are counted in the last item. */
const SHOWN_ROWS = 200;
const REFRESH_DEBOUNCE_MS = 300;

/** One row of the view, as the tests read it. */
export interface SampleRow {
  label: string;
  description: string;
  /** 1-based line. */
  line: number;
}

/** A row of the view, or the closing "… more rows" item (no `row`). */
interface SampleNode {
  item: vscode.TreeItem;
  row?: SampleRow;
}


/**
 * "Samples by Weight": the rows of the active scored file (or the last scored one), lowest IMP weight (or
 * quality) first, filterable by label; clicking a row reveals its line. Files over 50 MB are listed from
 * disk, by the lines they had when scored.
 */
export class SamplesView implements vscode.TreeDataProvider<SampleNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly view: vscode.TreeView<SampleNode>;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly diskLines = new Map<string, DiskLines>();
  private sortBy: 'impWeight' | 'quality' = 'impWeight';
  /** Label name to show, or undefined for all (a name, so it carries over to another file's label map). */
  private labelFilter: string | undefined;
  private generation = 0;
  private latest: Promise<void> = Promise.resolve();
  private nodes: SampleNode[] = [];
  private refreshTimer: NodeJS.Timeout | undefined;
  private current: FileScores | undefined;

  constructor(
    private readonly store: ScoreStore,
    private readonly documents: TrackedDocuments,
  ) {
    this.view = vscode.window.createTreeView(SAMPLES_VIEW_ID, { treeDataProvider: this, showCollapseAll: false });
    this.disposables.push(
      this.view,
      this.changed,
      store.onDidChange(() => this.scheduleRefresh(0)),
      documents.onDidChange(() => this.scheduleRefresh(REFRESH_DEBOUNCE_MS)),
      vscode.window.onDidChangeActiveTextEditor(() => this.scheduleRefresh(0)),
      vscode.window.tabGroups.onDidChangeTabs(() => this.scheduleRefresh(REFRESH_DEBOUNCE_MS)),
      vscode.commands.registerCommand(CommandId.revealSample, (uri: vscode.Uri, line: number) => revealLine(uri, line)),
      vscode.commands.registerCommand(CommandId.filterSamplesByLabel, (label?: string) => this.pickLabel(label)),
      vscode.commands.registerCommand(CommandId.showLowestQualitySamples, () => this.show('quality')),
      vscode.commands.registerCommand(CommandId.showLowestWeightSamples, () => this.show('impWeight')),
    );
    this.scheduleRefresh(0);
  }

  /** The rows shown now, for the tests. */
  get rows(): readonly SampleRow[] {
    return this.nodes.flatMap((n) => (n.row ? [n.row] : []));
  }

  /** Recomputes the list now; resolves when the view has its newest rows. */
  refresh(): Promise<void> {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    const generation = ++this.generation;
    // A refresh overtaken by a newer one (while it read lines from disk) resolves with the newer one.
    this.latest = this.rebuild(generation).then(() => (generation === this.generation ? undefined : this.latest));
    return this.latest;
  }

  private async rebuild(generation: number): Promise<void> {
    const current = this.currentFile();
    const nodes = current ? await this.build(current) : [];
    if (generation !== this.generation) return;
    this.current = current;
    this.nodes = nodes;
    const filter = this.labelFilter !== undefined ? ` · label ${this.labelFilter}` : '';
    this.view.description = this.current
      ? `${vscode.workspace.asRelativePath(this.current.uri)} · lowest ${this.sortBy === 'impWeight' ? 'IMP weight' : 'quality'} first${filter}${this.current.provenance.qualityCheckerSummary ? ` · ${this.current.provenance.qualityCheckerSummary}` : ''}`
      : undefined;
    this.changed.fire();
  }

  getTreeItem(node: SampleNode): vscode.TreeItem {
    return node.item;
  }

  getChildren(node?: SampleNode): SampleNode[] {
    return node ? [] : this.nodes;
  }

  private scheduleRefresh(delayMs: number): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => void this.refresh(), delayMs);
  }

  private async show(sortBy: 'impWeight' | 'quality'): Promise<void> {
    this.sortBy = sortBy;
    await this.refresh();
    await vscode.commands.executeCommand(`${SAMPLES_VIEW_ID}.focus`);
  }

  /** Filters by a label name ('' for all labels); asks when none is given. */
  private async pickLabel(label?: string): Promise<void> {
    const scores = this.current ?? this.currentFile();
    if (!scores) {
      void showInformationMessage('DIMP: no scored file yet. Run DIMP: Score Synthetic Data first.');
      return;
    }
    if (typeof label === 'string') {
      this.labelFilter = label === '' ? undefined : label;
    } else {
      const all = { label: 'All labels', name: undefined as string | undefined };
      const picked = await vscode.window.showQuickPick([all, ...scores.labelMap.names.map((name) => ({ label: name, name }))], {
        title: 'Show samples with label',
      });
      if (!picked) return;
      this.labelFilter = picked.name;
    }
    await this.refresh();
  }

  /** The active editor's (or tab's) scored file, else the last scored file. */
  private currentFile(): FileScores | undefined {
    const active = vscode.window.activeTextEditor?.document.uri;
    const tab = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
    const tabUri = tab instanceof vscode.TabInputText ? tab.uri : undefined;
    for (const uri of [active, tabUri, this.store.lastFile]) {
      const scores = uri && this.store.get(uri);
      if (scores) return scores;
    }
    return undefined;
  }

  private async build(scores: FileScores): Promise<SampleNode[]> {
    const { table } = scores;
    const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === scores.uri.toString());
    const tracked = document && this.documents.get(document);
    let lineOf: (index: number) => number | undefined;
    let textOf: (line: number) => string;
    if (tracked) {
      // Where each scored row is in the document now (rows deleted since scoring are not listed).
      const lines = tracked.rows.currentLines(table, tracked.textAt);
      lineOf = (index) => (lines[index]! > 0 ? lines[index] : undefined);
      textOf = (line) => tracked.textAt(line - 1);
    } else {
      lineOf = (index) => table.columns.line[index];
      textOf = () => '';
    }
    const label = this.labelFilter === undefined ? undefined : (scores.labelMap.indexOf(this.labelFilter) ?? -1);
    const { samples, matching } = lowestSamples(table, { sortBy: this.sortBy, label, limit: SHOWN_ROWS, lineOf });
    if (!tracked) {
      // Not open (or over 50 MB, so never open for extensions): the listed lines are read from disk.
      let disk = this.diskLines.get(scores.uri.fsPath);
      if (!disk) this.diskLines.set(scores.uri.fsPath, (disk = new DiskLines(scores.uri.fsPath)));
      const texts = await disk.read(samples.map((s) => s.line)).catch(() => new Map<number, string>());
      textOf = (line) => texts.get(line) ?? '';
    }
    const threshold = readSettings(scores.uri).mislabelThreshold;
    const nodes: SampleNode[] = samples.map(({ index, line }) => {
      const c = table.columns;
      const value = this.sortBy === 'impWeight' ? `w ${formatScore(c.impWeight[index]!)}` : `q ${formatScore(c.quality[index]!)}`;
      const { label, description } = sampleItemText(value, table.labels[c.label[index]!]!, line, textOf(line), scores.fields);
      const item = new vscode.TreeItem(label, vscode.TreeItemCollapsibleState.None);
      item.description = description;
      item.tooltip = new vscode.MarkdownString(`line ${line}\n\n${rowHoverMarkdown(table, index, scores.provenance, threshold)}`);
      item.command = { command: CommandId.revealSample, title: 'Reveal Line', arguments: [scores.uri, line] };
      item.contextValue = 'dimpSample';
      return { item, row: { label, description, line } };
    });
    if (matching > samples.length) {
      const more = new vscode.TreeItem(`… ${matching - samples.length} more rows`, vscode.TreeItemCollapsibleState.None);
      more.description = 'filter by label to see others';
      nodes.push({ item: more });
    }
    return nodes;
  }

  dispose(): void {
    clearTimeout(this.refreshTimer);
    for (const disposable of this.disposables) disposable.dispose();
  }
}

/**
 * Reveals a 1-based line. `vscode.open` with a selection opens files over 50 MB too (the workbench shows
 * them; only extensions cannot read them).
 */
export async function revealLine(uri: vscode.Uri, line: number): Promise<void> {
  const position = new vscode.Position(Math.max(0, line - 1), 0);
  const options: vscode.TextDocumentShowOptions = { selection: new vscode.Range(position, position), preserveFocus: false };
  await vscode.commands.executeCommand('vscode.open', uri, options);
  const editor = vscode.window.activeTextEditor;
  if (editor && editor.document.uri.toString() === uri.toString()) {
    editor.selection = new vscode.Selection(position, new vscode.Position(position.line, editor.document.lineAt(position.line).text.length));
    editor.revealRange(editor.selection, vscode.TextEditorRevealType.InCenter);
  }
}
