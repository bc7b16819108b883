import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/** The per-row weights of a finished DIMP run. */
export interface DimpRunWeights {
  /** The run folder. */
  runDir: string;
  /** Row id → the row's DIMP weight q / P(y|x; θ) at the end of training. */
  weights: Map<string, number>;
}

interface RunConfigJson {
  kind?: string;
  loss?: string;
  createdAt?: string;
  data?: { synthetic?: { file?: string } };
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
    let config: RunConfigJson;
    try {
      config = JSON.parse(await fs.readFile(path.join(runDir, 'config.json'), 'utf8')) as RunConfigJson;
    } catch {
      continue; // not a run folder
    }
    const file = config.data?.synthetic?.file;
    if (config.kind !== 'dimp-run' || config.loss !== 'dimp' || !file) continue;
    const sameFile = path.resolve(file) === target || path.resolve(path.dirname(runsDir), file) === target;
    if (!sameFile) continue;
    const createdAt = config.createdAt ?? '';
    if (!newest || createdAt > newest.createdAt) newest = { runDir, createdAt };
  }
  if (!newest) return undefined;
  const weights = new Map<string, number>();
  let text: string;
  try {
    text = await fs.readFile(path.join(newest.runDir, 'weights.jsonl'), 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const { rowId, weight } = JSON.parse(line) as { rowId?: unknown; weight?: unknown };
      if (typeof rowId === 'string' && typeof weight === 'number') weights.set(rowId, weight);
    } catch {
      // a damaged line leaves that row without a DIMP weight
    }
  }
  return { runDir: newest.runDir, weights };
}
