import * as vscode from 'vscode';
import { LineRows, type LineText } from '../../core/view/lineRows';
import type { FileScores, ScoreStore } from '../scoring/scoreStore';

/** An open, scored JSON Lines document with the row identity of its lines. */
export interface TrackedDocument {
  readonly document: vscode.TextDocument;
  readonly scores: FileScores;
  readonly rows: LineRows;
  readonly textAt: LineText;
}

/**
 * Why tracked rows changed: an edit (lines shifted or changed), a reorder announced with `expectReorder`
 * (every row known on its new line at once: listeners update without waiting) or new scores.
 */
export interface RowsChange {
  readonly document: vscode.TextDocument;
  readonly reason: 'edit' | 'reorder' | 'scores';
}

/** True for the documents this extension works on. */
export function isJsonlDocument(document: vscode.TextDocument): boolean {
  return document.languageId === 'jsonl' || /\.(jsonl|ndjson)$/i.test(document.uri.path);
}

/**
 * Keeps the row identity of every open scored document in step with its edits, so decorations, hovers,
 * Problems and sorting read a line's row id without re-reading the file. Opening a JSON Lines document
 * loads its stored scores (in the worker), if it has any.
 */
export class TrackedDocuments implements vscode.Disposable {
  private readonly tracked = new Map<string, TrackedDocument>();
  private readonly reorders = new Map<string, readonly number[]>();
  private readonly changed = new vscode.EventEmitter<RowsChange>();
  private readonly disposables: vscode.Disposable[] = [];
  /** Fires after an edit of a tracked document, and when a document's scores appear or change. */
  readonly onDidChange = this.changed.event;

  constructor(
    private readonly store: ScoreStore,
    private readonly log: (message: string) => void,
  ) {
    this.disposables.push(
      this.changed,
      vscode.workspace.onDidOpenTextDocument((document) => this.loadScores(document)),
      vscode.workspace.onDidCloseTextDocument((document) => this.tracked.delete(document.uri.toString())),
      vscode.workspace.onDidChangeTextDocument((event) => this.applyEdit(event)),
      store.onDidChange((uri) => {
        this.tracked.delete(uri.toString());
        const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
        if (document) this.changed.fire({ document, reason: 'scores' });
      }),
    );
    for (const document of vscode.workspace.textDocuments) this.loadScores(document);
  }

  /** The tracked state of a document, or undefined when it is not a scored JSON Lines document. */
  get(document: vscode.TextDocument): TrackedDocument | undefined {
    const key = document.uri.toString();
    const existing = this.tracked.get(key);
    if (existing && existing.document === document) return existing;
    const scores = this.store.get(document.uri);
    if (!scores || !isJsonlDocument(document)) return undefined;
    const tracked: TrackedDocument = {
      document,
      scores,
      rows: new LineRows(scores.fields, scores.labelMap, document.lineCount),
      textAt: (line) => document.lineAt(line).text,
    };
    this.tracked.set(key, tracked);
    return tracked;
  }

  /**
   * Announces that the next edit of `document` replaces it whole with its lines in `order` (new line `i` is
   * old line `order[i]`), as Sort Lines by Weight does: the rows move with their lines instead of being
   * parsed again, and listeners update at once, so nothing is shown on the wrong line meanwhile. Call
   * `cancelReorder` if the edit is not applied.
   */
  expectReorder(document: vscode.TextDocument, order: readonly number[]): void {
    this.reorders.set(document.uri.toString(), order);
  }

  cancelReorder(document: vscode.TextDocument): void {
    this.reorders.delete(document.uri.toString());
  }

  private loadScores(document: vscode.TextDocument): void {
    if (!isJsonlDocument(document) || document.uri.scheme !== 'file') return;
    this.store.ensureLoaded(document.uri).catch((error: Error) => this.log(`could not load the stored scores of ${document.uri.fsPath}: ${error.message}`));
  }

  private applyEdit(event: vscode.TextDocumentChangeEvent): void {
    const key = event.document.uri.toString();
    const reorder = this.reorders.get(key);
    this.reorders.delete(key);
    const tracked = this.tracked.get(key);
    if (!tracked || event.contentChanges.length === 0) return;
    if (reorder && reorder.length === tracked.rows.lineCount && reorder.length === event.document.lineCount) {
      tracked.rows.permute(reorder);
      this.changed.fire({ document: event.document, reason: 'reorder' });
      return;
    }
    for (const change of event.contentChanges) {
      let inserted = 1;
      for (let i = change.text.indexOf('\n'); i >= 0; i = change.text.indexOf('\n', i + 1)) inserted += 1;
      tracked.rows.replaceLines(change.range.start.line, change.range.end.line, inserted);
    }
    if (tracked.rows.lineCount !== event.document.lineCount) {
      // Should not happen; if it does, forget the document rather than show rows on the wrong lines.
      this.log(`line tracking of ${event.document.uri.fsPath} went out of step (${tracked.rows.lineCount} vs ${event.document.lineCount} lines); starting over`);
      this.tracked.delete(event.document.uri.toString());
    }
    this.changed.fire({ document: event.document, reason: 'edit' });
  }

  dispose(): void {
    for (const disposable of this.disposables) disposable.dispose();
    this.tracked.clear();
  }
}
