import * as vscode from 'vscode';
import { rowHoverMarkdown, unscoredHoverMarkdown } from '../../core/view/rowHover';
import type { TrackedDocuments } from '../documents/trackedDocuments';
import { readSettings } from '../settings';

/**
 * The hover of a scored row: label, q, d, IMP weight, last DIMP weight, percentile, the quality checker's
 * preferred label and the models. It reads the score table; it never runs a model.
 */
export function registerRowHover(documents: TrackedDocuments): vscode.Disposable {
  return vscode.languages.registerHoverProvider(
    [{ language: 'jsonl' }, { pattern: '**/*.{jsonl,ndjson}' }],
    {
      provideHover(document, position) {
        const tracked = documents.get(document);
        if (!tracked) return undefined;
        const state = tracked.rows.stateAt(position.line, tracked.textAt);
        if (state.kind !== 'row') return undefined;
        const index = tracked.scores.table.indexOf(state.rowId);
        const text =
          index < 0 ? unscoredHoverMarkdown() : rowHoverMarkdown(tracked.scores.table, index, tracked.scores.provenance, readSettings(document.uri).mislabelThreshold);
        return new vscode.Hover(new vscode.MarkdownString(text), document.lineAt(position.line).range);
      },
    },
  );
}
