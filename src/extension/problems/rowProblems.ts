import * as vscode from 'vscode';
import { lineProblems } from '../../core/view/lineProblems';
import type { TrackedDocuments } from '../documents/trackedDocuments';
import { affectsSettings, readSettings } from '../settings';

const SOURCE = 'DIMP';
const EDIT_DEBOUNCE_MS = 400;

/**
 * Problems of scored documents: unusable lines (errors) and likely mislabelled rows (warnings, when the
 * quality checker prefers another label with probability ≥ `dimpCurator.mislabelThreshold`). Quick fixes
 * relabel the row or delete the line, each as one undoable edit. Recomputed when scores change, after
 * edits (debounced) and when the threshold changes.
 */
export class RowProblems implements vscode.Disposable {
  private readonly collection = vscode.languages.createDiagnosticCollection('dimp');
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly documents: TrackedDocuments) {
    this.disposables.push(
      this.collection,
      documents.onDidChange(({ document, reason }) => {
        // A reorder moves every row at once: Problems follow it now rather than point at the old lines.
        if (reason === 'reorder') {
          const key = document.uri.toString();
          clearTimeout(this.timers.get(key));
          this.timers.delete(key);
          this.update(document);
        } else {
          this.schedule(document, reason === 'edit' ? EDIT_DEBOUNCE_MS : 0);
        }
      }),
      vscode.workspace.onDidCloseTextDocument((document) => this.collection.delete(document.uri)),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (affectsSettings(event, ['mislabelThreshold'])) vscode.workspace.textDocuments.forEach((d) => this.schedule(d, 0));
      }),
      vscode.languages.registerCodeActionsProvider([{ language: 'jsonl' }, { pattern: '**/*.{jsonl,ndjson}' }], new RowQuickFixes(documents), {
        providedCodeActionKinds: [vscode.CodeActionKind.QuickFix],
      }),
    );
  }

  private schedule(document: vscode.TextDocument, delayMs: number): void {
    const key = document.uri.toString();
    clearTimeout(this.timers.get(key));
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        this.update(document);
      }, delayMs),
    );
  }

  private update(document: vscode.TextDocument): void {
    if (document.isClosed) return;
    const tracked = this.documents.get(document);
    if (!tracked) {
      this.collection.delete(document.uri);
      return;
    }
    const threshold = readSettings(document.uri).mislabelThreshold;
    const earned = tracked.scores.provenance.qualityCheckerNearChance !== true;
    const diagnostics = lineProblems(tracked.rows, tracked.textAt, tracked.scores.table, { threshold, earned }).map((problem) => {
      const diagnostic = new vscode.Diagnostic(
        document.lineAt(problem.line).range,
        problem.message,
        problem.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning,
      );
      diagnostic.source = SOURCE;
      diagnostic.code = problem.code;
      return diagnostic;
    });
    this.collection.set(document.uri, diagnostics);
  }

  dispose(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    for (const disposable of this.disposables) disposable.dispose();
  }
}

/** "Relabel as …" for likely mislabelled rows, "Delete line" for those and for unusable lines. */
class RowQuickFixes implements vscode.CodeActionProvider {
  constructor(private readonly documents: TrackedDocuments) {}

  provideCodeActions(document: vscode.TextDocument, _range: vscode.Range, context: vscode.CodeActionContext): vscode.CodeAction[] {
    const actions: vscode.CodeAction[] = [];
    for (const diagnostic of context.diagnostics) {
      if (diagnostic.source !== SOURCE) continue;
      const line = diagnostic.range.start.line;
      if (diagnostic.code === 'likely-mislabelled') actions.push(...this.relabelActions(document, line, diagnostic));
      const remove = new vscode.CodeAction('Delete line', vscode.CodeActionKind.QuickFix);
      remove.diagnostics = [diagnostic];
      remove.edit = new vscode.WorkspaceEdit();
      remove.edit.delete(document.uri, document.lineAt(line).rangeIncludingLineBreak);
      actions.push(remove);
    }
    return actions;
  }

  /** One action per other label; the quality checker's preferred one first, marked preferred. */
  private relabelActions(document: vscode.TextDocument, line: number, diagnostic: vscode.Diagnostic): vscode.CodeAction[] {
    const tracked = this.documents.get(document);
    if (!tracked) return [];
    const text = document.lineAt(line).text;
    const { labelMap, fields, table } = tracked.scores;
    let object: Record<string, unknown>;
    try {
      object = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return [];
    }
    const raw = object[fields.label];
    const current = labelMap.indexOf(raw);
    const candidates = labelMap.names.map((_, i) => i).filter((i) => i !== current);
    // Diagnostics come back without extra fields, so the preferred label is looked up again.
    const row = tracked.rows.scoreIndexAt(line, tracked.textAt, table);
    const preferred = row >= 0 ? table.columns.qualityLabel[row] : undefined;
    candidates.sort((a, b) => Number(b === preferred) - Number(a === preferred));
    return candidates.map((index) => {
      const name = labelMap.nameOf(index);
      // Written the way the file writes labels: an index stays an index, a name becomes a name.
      const value = typeof raw === 'number' ? index : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? String(index) : name;
      const action = new vscode.CodeAction(`Relabel as ${name}`, vscode.CodeActionKind.QuickFix);
      action.diagnostics = [diagnostic];
      action.isPreferred = index === preferred;
      action.edit = new vscode.WorkspaceEdit();
      action.edit.replace(document.uri, document.lineAt(line).range, JSON.stringify({ ...object, [fields.label]: value }));
      return action;
    });
  }
}
