import { createReadStream } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import * as vscode from 'vscode';
import { listRuns } from '../../core/train/runHistory';

/** One row's final DIMP weight, from the last finished DIMP run on its file. */
export interface DimpRowWeight {
  /** wᵢ(T) = q / max(P(yᵢ|xᵢ; θ_T), ε) at the row's last training step. */
  weight: number;
  /** The run folder the weight comes from. */
  runDir: string;
}

interface FileWeights {
  runDir: string;
  createdAt: string;
  byRowId: Map<string, number>;
}

/**
 * Each synthetic file's final DIMP weights (rowId → weight) from its latest DIMP run's `weights.jsonl`,
 * for hovers and decorations, which read it synchronously and never run a model. Filled when a DIMP run
 * finishes in the editor, or on request from the run folders on disk.
 */
export class DimpWeightStore implements vscode.Disposable {
  private readonly files = new Map<string, FileWeights>();
  private readonly changes = new vscode.EventEmitter<string>();

  /** Fires with the synthetic file's path when its DIMP weights change. */
  readonly onDidChange = this.changes.event;

  /** The row's final DIMP weight, if a DIMP run on `syntheticFile` is loaded. */
  weightOf(syntheticFile: string, rowId: string): DimpRowWeight | undefined {
    const file = this.files.get(path.resolve(syntheticFile));
    const weight = file?.byRowId.get(rowId);
    return file && weight !== undefined ? { weight, runDir: file.runDir } : undefined;
  }

  /** The run folder whose weights are loaded for `syntheticFile`. */
  runOf(syntheticFile: string): string | undefined {
    return this.files.get(path.resolve(syntheticFile))?.runDir;
  }

  /**
   * Loads a finished run's `weights.jsonl` for `syntheticFile`, streaming it so a large file does not
   * hold the extension host. A run older than the one loaded is ignored.
   */
  async loadRun(syntheticFile: string, runDir: string, createdAt = new Date().toISOString()): Promise<void> {
    const key = path.resolve(syntheticFile);
    const current = this.files.get(key);
    if (current && current.createdAt > createdAt) return;
    const byRowId = new Map<string, number>();
    const lines = createInterface({ input: createReadStream(path.join(runDir, 'weights.jsonl'), 'utf8'), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line.trim() === '') continue;
      const row = JSON.parse(line) as { rowId?: unknown; weight?: unknown };
      if (typeof row.rowId === 'string' && typeof row.weight === 'number') byRowId.set(row.rowId, row.weight);
    }
    this.files.set(key, { runDir, createdAt, byRowId });
    this.changes.fire(key);
  }

  /** Loads the latest DIMP run on `syntheticFile` found in `outDir`, unless one is loaded already. */
  async loadLatest(syntheticFile: string, outDir: string): Promise<boolean> {
    if (this.files.has(path.resolve(syntheticFile))) return true;
    const latest = (await listRuns(outDir, { synthetic: syntheticFile })).find((run) => run.loss === 'dimp');
    if (!latest) return false;
    await this.loadRun(syntheticFile, latest.runDir, latest.createdAt);
    return true;
  }

  dispose(): void {
    this.changes.dispose();
    this.files.clear();
  }
}
