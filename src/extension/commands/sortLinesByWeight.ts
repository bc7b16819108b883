import * as vscode from 'vscode';
import { showInformationMessage, showWarningMessage } from '../ui';
import { sortOrderByWeight } from '../../core/view/sortLines';
import { CommandId } from '../../protocol/commands';
import type { TrackedDocuments } from '../documents/trackedDocuments';
import { isOverEditorLimit, largeFileReason } from '../largeFiles';

/** The directions offered, lowest first by default. */
const DIRECTIONS = [
  { label: 'Ascending', description: 'lowest IMP weight first', direction: 'ascending' as const },
  { label: 'Descending', description: 'highest IMP weight first', direction: 'descending' as const },
];

/**
 * Sort Lines by Weight: reorders the active scored document by IMP weight in one edit (one undo restores
 * it). Unscored, unusable and blank lines keep their order after the rows with weights.
 */
export function registerSortLinesByWeight(documents: TrackedDocuments): vscode.Disposable {
  return vscode.commands.registerCommand(CommandId.sortLinesByWeight, async (direction?: 'ascending' | 'descending') => {
    const editor = vscode.window.activeTextEditor;
    const tracked = editor && documents.get(editor.document);
    if (!editor || !tracked) {
      const tab = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
      if (tab instanceof vscode.TabInputText && (await isOverEditorLimit(tab.uri))) {
        void showWarningMessage(`DIMP: cannot sort. ${largeFileReason(tab.uri)}`);
      } else {
        void showInformationMessage('DIMP: open a scored JSON Lines file to sort it (run DIMP: Score Synthetic Data first).');
      }
      return false;
    }
    const chosen = direction ?? (await vscode.window.showQuickPick(DIRECTIONS, { title: 'Sort lines by IMP weight' }))?.direction;
    if (!chosen) return false;
    const { document } = editor;
    const { table } = tracked.scores;
    const order = sortOrderByWeight(document.lineCount, (line) => {
      const index = tracked.rows.scoreIndexAt(line, tracked.textAt, table);
      return index >= 0 ? table.columns.impWeight[index] : undefined;
    }, chosen);
    const eol = document.eol === vscode.EndOfLine.CRLF ? '\r\n' : '\n';
    const sorted = order.map((line) => document.lineAt(line).text).join(eol);
    const whole = new vscode.Range(0, 0, document.lineCount - 1, document.lineAt(document.lineCount - 1).text.length);
    // The rows move with their lines: badges, heat marks and Problems follow the edit at once.
    documents.expectReorder(document, order);
    const applied = await editor.edit((edit) => edit.replace(whole, sorted));
    if (!applied) documents.cancelReorder(document);
    return applied;
  });
}
