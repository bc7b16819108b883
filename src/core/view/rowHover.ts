import type { ScoreTable } from '../weighting/scoreTable';
import { EXTREME_WEIGHT_TAIL_PERCENT, weightTail } from './reviewQueue';
import { formatScore } from './weightHeat';

/** Where a file's scores came from, shown in hovers. */
export interface ScoreProvenance {
  qualityChecker: string;
  diversityChecker: string;
  /** Execution provider that ran the checkers. */
  provider: string;
  /** The training run the DIMP weights come from, when there is one. */
  dimpRun: string | undefined;
  /** How the quality checker did on real rows (accuracy beside the majority-class rate), when known. */
  qualityCheckerReport?: string;
  /** The quality checker's accuracy beside the majority-class rate, in a few words. */
  qualityCheckerSummary?: string;
  /** The quality checker is near chance: its preferred label is shown but flags nothing. */
  qualityCheckerNearChance?: boolean;
}

/** Escapes what Markdown would take as markup in label names and model paths (they come from the user's files). */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_[\]<>|]/g, (c) => `\\${c}`);
}

/** The ordinal of a percentile, e.g. 3 → "3rd". */
function ordinal(n: number): string {
  const mod100 = n % 100;
  if (mod100 >= 11 && mod100 <= 13) return `${n}th`;
  return `${n}${['th', 'st', 'nd', 'rd'][n % 10] ?? 'th'}`;
}

/** Where a weight stands in its file, in words: "lowest 1 %", "37th percentile", "top 1 %". */
export function describePercentile(percentile: number): string {
  if (percentile < 1) return 'lowest 1 % of this file';
  if (percentile >= 99) return 'top 1 % of this file';
  return `${ordinal(Math.round(percentile))} percentile of this file`;
}

/**
 * Why an extreme weight deserves a look, in words, or undefined for a row in neither tail. Both tails are
 * suspicious: IMP weight q / d is low when the quality checker doubts the row, and high when only the
 * quality checker believes its label (d small), which is often a wrong label, not an excellent row.
 */
export function extremeWeightNote(table: ScoreTable, index: number): string | undefined {
  const tail = weightTail(table, index);
  if (tail === 'lowest') return `⚠ **Extreme weight** (lowest ${EXTREME_WEIGHT_TAIL_PERCENT} % of this file): the quality checker doubts this row; check its label and text.`;
  if (tail === 'highest') {
    return `⚠ **Extreme weight** (top ${EXTREME_WEIGHT_TAIL_PERCENT} % of this file): as suspicious as the lowest. The diversity checker finds the label unlikely (d small) while the quality checker believes it, which is often a wrong label; check it before trusting the weight.`;
  }
  return undefined;
}

/** d at or above this: the diversity checker is certain of the row's label, so the IMP weight is about q. */
const CERTAIN_DIVERSITY = 0.99;

/**
 * The hover of a scored row, in Markdown: label, quality q, diversity-checker probability d, IMP weight,
 * the last DIMP weight when a DIMP run is known, the weight's percentile in the file, the quality
 * checker's preferred label, and the models behind the numbers.
 */
export function rowHoverMarkdown(table: ScoreTable, index: number, provenance: ScoreProvenance, mislabelThreshold: number): string {
  const row = table.row(index);
  const percentile = Math.round(row.percentile);
  const certain = row.diversity >= CERTAIN_DIVERSITY;
  const mislabelled = table.isLikelyMislabelled(index, mislabelThreshold);
  const extreme = extremeWeightNote(table, index);
  const lines = [
    `**DIMP** · IMP weight **${formatScore(row.impWeight)}** · ${describePercentile(row.percentile)}`,
    '',
    '| | |',
    '|---|---|',
    `| label | ${escapeMarkdown(row.label)} |`,
    `| quality q = P̂′(y\\|x) | ${formatScore(row.quality)} |`,
    `| diversity d = Q̂(y\\|x) | ${formatScore(row.diversity)}${certain ? ' (≈ 1: the diversity checker is sure of this label, so w ≈ q)' : ''} |`,
    `| IMP weight q / d | ${formatScore(row.impWeight)} |`,
    `| last DIMP weight | ${row.dimpWeight === undefined ? 'no DIMP run yet' : formatScore(row.dimpWeight)} |`,
    `| percentile (IMP weight) | ${percentile} |`,
    `| quality checker prefers | ${escapeMarkdown(row.qualityLabel)} (p ${formatScore(row.qualityLabelProbability)})${mislabelled ? ' ⚠ likely mislabelled' : ''} |`,
    '',
    ...(extreme ? [extreme, ''] : []),
    `Quality checker: ${escapeMarkdown(provenance.qualityChecker)}  `,
    ...(provenance.qualityCheckerReport ? [`${provenance.qualityCheckerNearChance ? '⚠ near chance, so no row is flagged as likely mislabelled: ' : ''}${escapeMarkdown(provenance.qualityCheckerReport)}  `] : []),
    `Diversity checker: ${escapeMarkdown(provenance.diversityChecker)}  `,
    `Execution provider: ${escapeMarkdown(provenance.provider)}${provenance.dimpRun ? `  \nDIMP weights: run ${escapeMarkdown(provenance.dimpRun)}` : ''}`,
  ];
  return lines.join('\n');
}

/** The hover of a row that has no score yet. */
export function unscoredHoverMarkdown(): string {
  return '**DIMP** · this row has no score: it changed after scoring. Save the file to rescore changed rows, or run **DIMP: Score Synthetic Data**.';
}
