import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { writeFileAtomic } from '../../core/io/atomic';
import { parseReviewMarks, serialiseReviewMarks } from '../../core/view/reviewQueue';
import type { ScoreStore } from '../scoring/scoreStore';

/**
 * The rows marked as reviewed ("keep"), per synthetic file, by row id: stored in `reviewed.json` next to
 * the file's scores in the extension's storage, so they survive reloads, moved lines and rescoring (an
 * edited row has a new row id, so its mark no longer applies). Export Curated Dataset always keeps them.
 */
export class ReviewMarks implements vscode.Disposable {
  private readonly marks = new Map<string, Set<string>>();
  private readonly loading = new Map<string, Promise<Set<string>>>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  /** Fires with a file's uri when its marks change. */
  readonly onDidChange = this.changed.event;
  private writes: Promise<void> = Promise.resolve();

  constructor(private readonly store: ScoreStore) {}

  /** Where a file's marks are stored. */
  fileFor(uri: vscode.Uri): string {
    return path.join(path.dirname(this.store.storageFor(uri).scoresFile), 'reviewed.json');
  }

  /** The row ids marked in a file, loaded from storage on first use. */
  load(uri: vscode.Uri): Promise<ReadonlySet<string>> {
    const key = uri.toString();
    const inMemory = this.marks.get(key);
    if (inMemory) return Promise.resolve(inMemory);
    let pending = this.loading.get(key);
    if (!pending) {
      pending = fs
        .readFile(this.fileFor(uri), 'utf8')
        .then(parseReviewMarks, () => new Set<string>())
        .then((marks) => {
          const existing = this.marks.get(key);
          if (existing) return existing;
          this.marks.set(key, marks);
          return marks;
        })
        .finally(() => this.loading.delete(key));
      this.loading.set(key, pending);
    }
    return pending;
  }

  /** Marks (or, with `reviewed` false, unmarks) rows of a file and stores the marks; resolves once written. */
  async set(uri: vscode.Uri, rowIds: Iterable<string>, reviewed: boolean): Promise<void> {
    const marks = (await this.load(uri)) as Set<string>;
    for (const rowId of rowIds) {
      if (reviewed) marks.add(rowId);
      else marks.delete(rowId);
    }
    const file = this.fileFor(uri);
    const text = serialiseReviewMarks(marks);
    // One write at a time, in order, so the last mark wins on disk too.
    this.writes = this.writes
      .catch(() => undefined)
      .then(async () => {
      await fs.mkdir(path.dirname(file), { recursive: true });
      await writeFileAtomic(file, text);
    });
    await this.writes;
    this.changed.fire(uri);
  }

  dispose(): void {
    this.changed.dispose();
  }
}
