import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { EvalScores, LossKind } from '../events';
import { readRunConfig, readRunMetrics } from './runFolder';

/** One finished run, as the comparison table shows it (read from its `config.json` and `metrics.json`). */
export interface RunHistoryEntry {
  runName: string;
  runDir: string;
  loss: LossKind;
  /** Absolute path of the synthetic file it trained on. */
  synthetic: string;
  seed: number;
  epochs: number;
  bestEpoch: number;
  validation: EvalScores | undefined;
  test: EvalScores | undefined;
  trainingRows: number;
  /** ISO time the run started. */
  createdAt: string;
}

/**
 * The finished runs in `outDir`, newest first; with `synthetic`, only those trained on that file.
 * Folders that are not whole runs (temporary siblings, unreadable or foreign folders) are skipped.
 */
export async function listRuns(outDir: string, options: { synthetic?: string; limit?: number } = {}): Promise<RunHistoryEntry[]> {
  let names: string[];
  try {
    names = await fs.readdir(outDir);
  } catch {
    return [];
  }
  const wanted = options.synthetic && path.resolve(options.synthetic);
  const entries: RunHistoryEntry[] = [];
  for (const runName of names) {
    if (runName.startsWith('.')) continue;
    const runDir = path.join(outDir, runName);
    const config = await readRunConfig(runDir);
    if (!config) continue;
    const synthetic = path.resolve(config.data.synthetic.file);
    if (wanted && synthetic !== wanted) continue;
    const metrics = await readRunMetrics(runDir);
    if (!metrics) continue;
    entries.push({
      runName,
      runDir,
      loss: config.loss,
      synthetic,
      seed: config.seed ?? 0,
      epochs: metrics.epochs.length,
      bestEpoch: metrics.bestEpoch,
      validation: metrics.validation,
      test: metrics.test,
      trainingRows: metrics.trainingRows,
      createdAt: config.createdAt ?? '',
    });
  }
  entries.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.runName < b.runName ? 1 : -1));
  return options.limit === undefined ? entries : entries.slice(0, options.limit);
}
