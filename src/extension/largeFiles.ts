import { promises as fs } from 'node:fs';
import * as vscode from 'vscode';
import { indexJsonlLines } from '../core/data/jsonl';

/** VS Code does not pass files larger than this to extensions (no TextDocument, no decorations, no hovers). */
export const EDITOR_SYNC_LIMIT_BYTES = 50 * 1024 * 1024;

/** True when the file is too large for VS Code to pass it to extensions. */
export async function isOverEditorLimit(uri: vscode.Uri): Promise<boolean> {
  if (uri.scheme !== 'file') return false;
  const stat = await fs.stat(uri.fsPath).catch(() => undefined);
  return (stat?.size ?? 0) > EDITOR_SYNC_LIMIT_BYTES;
}

/** Why the editor features are off for a large file, for messages. */
export function largeFileReason(uri: vscode.Uri): string {
  return (
    `${vscode.workspace.asRelativePath(uri)} is over 50 MB, and VS Code does not pass files that large to extensions: ` +
    'weights on lines, hovers, Problems, quick fixes and Sort Lines by Weight are off for it. ' +
    'Scoring, the Samples by Weight view and Export Curated Dataset… work from disk.'
  );
}

/**
 * Reads chosen lines of a file from disk through a byte-offset index of its line starts, so the samples
 * view can show rows of files the editor cannot give us. The index is rebuilt when the file changes.
 */
export class DiskLines {
  private index: { mtimeMs: number; size: number; offsets: Float64Array } | undefined;

  constructor(readonly file: string) {}

  /** The text of each requested 1-based line (without its line break); missing lines are left out. */
  async read(lines: readonly number[]): Promise<Map<number, string>> {
    const stat = await fs.stat(this.file);
    if (!this.index || this.index.mtimeMs !== stat.mtimeMs || this.index.size !== stat.size) {
      this.index = { mtimeMs: stat.mtimeMs, size: stat.size, offsets: await indexJsonlLines(this.file) };
    }
    const { offsets, size } = this.index;
    const texts = new Map<number, string>();
    const handle = await fs.open(this.file, 'r');
    try {
      for (const line of lines) {
        const start = offsets[line - 1];
        if (start === undefined) continue;
        const end = offsets[line] ?? size;
        const buffer = Buffer.alloc(Math.max(0, end - start));
        await handle.read(buffer, 0, buffer.length, start);
        texts.set(line, buffer.toString('utf8').replace(/\r?\n$/, ''));
      }
    } finally {
      await handle.close();
    }
    return texts;
  }
}
