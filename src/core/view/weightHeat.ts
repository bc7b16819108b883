import type { ScoreTable } from '../weighting/scoreTable';
import { NOT_A_ROW, UNSCORED, type LineRows, type LineText } from './lineRows';
import { EXTREME_WEIGHT_TAIL_PERCENT } from './reviewQueue';

/**
 * Heat buckets of the gutter mark, by the row's IMP-weight percentile in its file: the lowest tenth (the
 * rows to look at first), the next 15 %, the middle half, the upper quarter, and the top
 * `EXTREME_WEIGHT_TAIL_PERCENT` % (`highest`), as suspicious as the lowest: a weight far above the rest is
 * a row only the quality checker believes, often a wrong label. Rows without scores (new or changed since
 * scoring) are `unscored`. No bucket means "good": a high weight is a strong claim to check, not a grade.
 */
export const WEIGHT_BUCKETS = ['lowest', 'low', 'middle', 'high', 'highest', 'unscored'] as const;

/** One heat bucket. */
export type WeightBucket = (typeof WEIGHT_BUCKETS)[number];

/** The bucket of a weight percentile (0–100). */
export function bucketOfPercentile(percentile: number): Exclude<WeightBucket, 'unscored'> {
  if (percentile < 10) return 'lowest';
  if (percentile < 25) return 'low';
  if (percentile < 75) return 'middle';
  if (percentile <= 100 - EXTREME_WEIGHT_TAIL_PERCENT) return 'high';
  return 'highest';
}

/** A weight or probability with three significant digits: 1.89e-6, 0.0123, 0.689, 1.23, 143, 1.43e+5. */
export function formatScore(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs < 0.001 || abs >= 1000) return value.toExponential(2).replace(/\.?0+e/, 'e');
  if (abs >= 100) return value.toFixed(0);
  return value.toPrecision(3);
}

/** The badge after a scored line: IMP weight and quality. */
export function badgeText(table: ScoreTable, index: number): string {
  const c = table.columns;
  return `w ${formatScore(c.impWeight[index]!)} · q ${formatScore(c.quality[index]!)}`;
}

/** The badge after a row that has no score. */
export const UNSCORED_BADGE = 'unscored (changed since scoring)';

/** What one pass of the decorator puts on the lines it was given (0-based line numbers). */
export interface LineAnnotations {
  /** Lines per heat bucket, each list ascending. */
  buckets: Record<WeightBucket, number[]>;
  /** Badge text per line, in the order of `lines`. */
  badges: { line: number; text: string; bucket: WeightBucket }[];
}

/**
 * Annotates the given lines (the visible ones): each row gets its heat bucket and badge from the score
 * table; blank and unusable lines get nothing (unusable ones are in Problems). Costs one parse per line
 * not seen before and one table lookup per row, independent of the file's size.
 */
export function annotateLines(lines: Iterable<number>, rows: LineRows, textAt: LineText, table: ScoreTable): LineAnnotations {
  const buckets: Record<WeightBucket, number[]> = { lowest: [], low: [], middle: [], high: [], highest: [], unscored: [] };
  const badges: LineAnnotations['badges'] = [];
  for (const line of lines) {
    const index = rows.scoreIndexAt(line, textAt, table);
    if (index === NOT_A_ROW) continue;
    if (index === UNSCORED) {
      buckets.unscored.push(line);
      badges.push({ line, text: UNSCORED_BADGE, bucket: 'unscored' });
      continue;
    }
    const bucket = bucketOfPercentile(table.weightPercentile(index));
    buckets[bucket].push(line);
    badges.push({ line, text: badgeText(table, index), bucket });
  }
  return { buckets, badges };
}

/**
 * The lines to decorate for some visible ranges (0-based, inclusive ends): each range grown by `overscan`
 * lines on both sides, so small scrolls need no new pass, merged and clipped to the document.
 */
export function linesToDecorate(visible: readonly { start: number; end: number }[], lineCount: number, overscan: number): number[] {
  const ranges = visible
    .map((r) => ({ start: Math.max(0, r.start - overscan), end: Math.min(lineCount - 1, r.end + overscan) }))
    .filter((r) => r.start <= r.end)
    .sort((a, b) => a.start - b.start);
  const lines: number[] = [];
  let next = 0;
  for (const range of ranges) {
    for (let line = Math.max(range.start, next); line <= range.end; line++) lines.push(line);
    next = Math.max(next, range.end + 1);
  }
  return lines;
}
