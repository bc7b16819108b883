import * as vscode from 'vscode';
import { NOT_A_ROW, UNSCORED } from '../../core/view/lineRows';
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
        const index = tracked.rows.scoreIndexAt(position.line, tracked.textAt, tracked.scores.table);
        if (index === NOT_A_ROW) return undefined;
        const text =
          index === UNSCORED ? unscoredHoverMarkdown() : rowHoverMarkdown(tracked.scores.table, index, tracked.scores.provenance, readSettings(document.uri).mislabelThreshold);
        return new vscode.Hover(new vscode.MarkdownString(text), document.lineAt(position.line).range);
      },
    },
  );
}
