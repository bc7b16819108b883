/**
 * One rule for rows changed since scoring, for every front end: rows whose id the stored scores know keep
 * their scores (at their current lines); rows they do not know are scored with the stored checkers. The
 * diversity checker was trained on the file as it was, so those rows are scored out of sample until the
 * next full scoring. Without stored checkers the caller scores everything again (or says why it cannot).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Dataset } from '../data/dataset';
import type { LabelMap } from '../data/labels';
import type { EventSink } from '../events';
import { loadClassifier } from '../model/modelFolder';
import type { DeviceChoice } from '../runtime/onnxRuntime';
import { argmaxRow } from '../train/metrics';
import type { RowScore, Scores } from '../weighting/score';
import { impWeight, weightDiagnostics, type WeightGuards } from '../weighting/weights';
import { checkersProgress } from './scoreProgress';

/** The two checker model folders a scores file was made with. */
export interface CheckerFolders {
  quality: string;
  diversity: string;
}

/**
 * The stored checkers: the given folders, or `quality/` and `diversity/` inside a checkers folder; undefined
 * when either is missing.
 */
export async function storedCheckers(where: string | CheckerFolders): Promise<CheckerFolders | undefined> {
  const folders = typeof where === 'string' ? { quality: path.join(where, 'quality'), diversity: path.join(where, 'diversity') } : where;
  for (const folder of Object.values(folders)) {
    const found = await fs.stat(path.join(folder, 'config.json')).catch(() => undefined);
    if (!found) return undefined;
  }
  return folders;
}

/** Ids of the dataset's rows the stored scores do not cover. */
export function rowsChangedSinceScoring(stored: Scores, synthetic: Dataset): number {
  const known = new Set(stored.rows.map((r) => r.rowId));
  return synthetic.rows.filter((row) => !known.has(row.rowId)).length;
}

/**
 * The scores of every row of `synthetic`: stored ones moved to their current lines, the rest scored with
 * `checkers`. Rows no longer in the file are dropped. Returns the new scores and how many rows were scored.
 */
export async function scoreChangedRows(
  stored: Scores,
  synthetic: Dataset,
  labelMap: LabelMap,
  checkers: CheckerFolders,
  options: { guards: WeightGuards; device: DeviceChoice; signal?: AbortSignal; onEvent?: EventSink },
): Promise<{ scores: Scores; scored: number }> {
  const byId = new Map(stored.rows.map((r) => [r.rowId, r]));
  const rows: RowScore[] = [];
  const fresh = synthetic.rows.filter((row) => {
    const old = byId.get(row.rowId);
    if (old) rows.push({ ...old, line: row.line });
    return !old;
  });
  // Duplicate lines share a row id: score each once.
  const unique = [...new Map(fresh.map((row) => [row.rowId, row])).values()];
  if (unique.length > 0) {
    options.onEvent?.({ type: 'score-progress', stage: 'score', done: 0, total: unique.length, message: `scoring ${unique.length} row(s) changed since scoring with the stored checkers` });
    const quality = await loadClassifier(checkers.quality, options.device);
    try {
      const diversity = await loadClassifier(checkers.diversity, options.device);
      try {
        const progress = checkersProgress(unique.length, options.onEvent);
        const q = await quality.predict(unique, { signal: options.signal, onProgress: progress.quality });
        const d = await diversity.predict(unique, { signal: options.signal, onProgress: progress.diversity });
        const n = labelMap.size;
        unique.forEach((row, i) => {
          const preferred = argmaxRow(q, i, n);
          const quality = q[i * n + row.label]!;
          const diversity = d[i * n + row.label]!;
          rows.push({
            rowId: row.rowId,
            line: row.line,
            label: labelMap.nameOf(row.label),
            quality,
            diversity,
            impWeight: impWeight(quality, diversity, options.guards),
            qualityLabel: labelMap.nameOf(preferred),
            qualityLabelProbability: q[i * n + preferred]!,
          });
        });
      } finally {
        await diversity.dispose();
      }
    } finally {
      await quality.dispose();
    }
    options.onEvent?.({ type: 'score-progress', stage: 'score', done: unique.length, total: unique.length, message: `${unique.length} row(s) scored` });
  }
  rows.sort((a, b) => a.line - b.line);
  const header = { ...stored.header, rows: rows.length, diagnostics: weightDiagnostics(rows.map((r) => r.impWeight)) };
  return { scores: { header, rows }, scored: unique.length };
}
