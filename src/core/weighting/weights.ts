/**
 * The weights of Kuo et al. (ICLR 2025), PRODUCT §2. Every probability is the softmax probability
 * of the gold label. Denominators are clamped at ε (the reference code has no guard); an optional
 * maximum caps the weight. Both are recorded with every run.
 */

/** ε and the optional cap applied to every weight. */
export interface WeightGuards {
  /** Smallest denominator, default 1e-6. */
  epsilon: number;
  /** Largest weight, or null for no cap. */
  maxWeight: number | null;
}

/** The guards used when none are given. */
export const DEFAULT_WEIGHT_GUARDS: WeightGuards = { epsilon: 1e-6, maxWeight: null };

/** IMP weight wᵢ = P̂′(yᵢ|xᵢ) / Q̂(yᵢ|xᵢ) = q / max(d, ε), capped at `maxWeight`. */
export function impWeight(quality: number, diversity: number, guards: WeightGuards = DEFAULT_WEIGHT_GUARDS): number {
  const w = quality / Math.max(diversity, guards.epsilon);
  return guards.maxWeight === null ? w : Math.min(w, guards.maxWeight);
}

/** DIMP weight wᵢ(t) = P̂′(yᵢ|xᵢ) / P(yᵢ|xᵢ; θₜ) = q / max(p, ε), capped; p from the same forward pass. */
export function dimpWeight(quality: number, modelProbability: number, guards: WeightGuards = DEFAULT_WEIGHT_GUARDS): number {
  const w = quality / Math.max(modelProbability, guards.epsilon);
  return guards.maxWeight === null ? w : Math.min(w, guards.maxWeight);
}

/** Fixed log-spaced bin edges for weight histograms (the panel plots these). */
export const WEIGHT_HISTOGRAM_EDGES: readonly number[] = [0, 0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100, Infinity];

/** How concentrated a set of weights is: what a user needs to know before trusting them. */
export interface WeightDiagnostics {
  rows: number;
  /** Kish's effective sample size (Σw)² / Σw²: the number of equally weighted rows worth as much. */
  effectiveSampleSize: number;
  /** Effective sample size ÷ rows, 0–1. */
  effectiveShare: number;
  maxWeight: number;
  meanWeight: number;
  /** Share of the total weight held by the heaviest 1 % of rows (at least one row). */
  top1PercentShare: number;
}

/**
 * Below this effective share, or above this top-1 % share, a few rows dominate the loss (the top-1 % share
 * only counts from `minRowsForTopShare` rows on: in 4 rows the top one always holds a quarter).
 */
export const DOMINANCE_THRESHOLDS = { effectiveShare: 0.1, top1PercentShare: 0.2, minRowsForTopShare: 100 } as const;

/** Diagnostics of non-negative weights. */
export function weightDiagnostics(weights: ArrayLike<number>): WeightDiagnostics {
  const n = weights.length;
  let sum = 0;
  let squares = 0;
  let max = 0;
  for (let i = 0; i < n; i++) {
    const w = weights[i]!;
    sum += w;
    squares += w * w;
    if (w > max) max = w;
  }
  const sorted = Float64Array.from(weights).sort();
  const top = Math.max(1, Math.floor(n / 100));
  let topSum = 0;
  for (let i = n - top; i < n; i++) topSum += sorted[i]!;
  const effectiveSampleSize = squares > 0 ? (sum * sum) / squares : 0;
  return {
    rows: n,
    effectiveSampleSize,
    effectiveShare: n > 0 ? effectiveSampleSize / n : 0,
    maxWeight: max,
    meanWeight: n > 0 ? sum / n : 0,
    top1PercentShare: sum > 0 ? topSum / sum : 0,
  };
}

/** A plain warning when a few rows dominate, else undefined. */
export function dominanceWarning(d: WeightDiagnostics): string | undefined {
  if (d.rows === 0) return undefined;
  const topDominates = d.rows >= DOMINANCE_THRESHOLDS.minRowsForTopShare && d.top1PercentShare > DOMINANCE_THRESHOLDS.top1PercentShare;
  if (d.effectiveShare >= DOMINANCE_THRESHOLDS.effectiveShare && !topDominates) return undefined;
  return (
    `a few rows dominate the weights: the top 1 % hold ${(d.top1PercentShare * 100).toFixed(0)} % of the total weight and the ` +
    `${d.rows} rows count as ${Math.round(d.effectiveSampleSize)} (effective sample size); the largest weight is ${formatWeight(d.maxWeight)}. ` +
    'Consider a maximum weight (--max-weight) or better checkers.'
  );
}

/** One line for people. */
export function describeDiagnostics(d: WeightDiagnostics): string {
  return `effective sample size ${Math.round(d.effectiveSampleSize)} of ${d.rows} (${(d.effectiveShare * 100).toFixed(1)} %) · max weight ${formatWeight(d.maxWeight)} · top 1 % hold ${(d.top1PercentShare * 100).toFixed(1)} % of the weight`;
}

function formatWeight(w: number): string {
  return w >= 1000 ? w.toExponential(2) : w.toPrecision(3);
}
