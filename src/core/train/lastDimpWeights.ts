import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { readRunConfig, readRunWeights } from './runFolder';

/** The per-row weights of a finished DIMP run. */
export interface DimpRunWeights {
  /** The run folder. */
  runDir: string;
  /** Row id → the row's DIMP weight q / P(y|x; θ) at the end of training. */
  weights: Map<string, number>;
}

/**
 * The newest DIMP run in `runsDir` trained on `syntheticFile`, with its `weights.jsonl`; undefined when
 * there is none. A run records its synthetic file as given on the command line, so a relative path is
 * tried against the runs folder's parent (the project root) as well.
 */
export async function lastDimpWeights(runsDir: string, syntheticFile: string): Promise<DimpRunWeights | undefined> {
  const target = path.resolve(syntheticFile);
  const entries = await fs.readdir(runsDir, { withFileTypes: true }).catch(() => []);
  let newest: { runDir: string; createdAt: string } | undefined;
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const runDir = path.join(runsDir, entry.name);
    const config = await readRunConfig(runDir);
    if (!config || config.loss !== 'dimp') continue; // not a DIMP run folder
    const file = config.data.synthetic.file;
    const sameFile = path.resolve(file) === target || path.resolve(path.dirname(runsDir), file) === target;
    if (!sameFile) continue;
    const createdAt = config.createdAt ?? '';
    if (!newest || createdAt > newest.createdAt) newest = { runDir, createdAt };
  }
  if (!newest) return undefined;
  const weights = await readRunWeights(newest.runDir);
  if (!weights) return undefined;
  return { runDir: newest.runDir, weights };
}

/**
 * Whether a path a runs-folder watcher reports can bring new DIMP weights: a runs folder, a run folder or
 * its weights.jsonl; not a temporary (`.NAME.tmp-…`, a run being built) nor a run whose default name says
 * it is CE, IMP or a baseline (a run named by the user may be a DIMP run: it counts).
 */
export function mayBringDimpWeights(file: string): boolean {
  const name = path.basename(file);
  if (name === 'weights.jsonl') return mayBringDimpWeights(path.dirname(file));
  return !name.startsWith('.') && !/^(ce|imp|quality|filter)-\d{8}-\d{6}/.test(name);
}
