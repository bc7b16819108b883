/**
 * An honest comparison of the runs on one file: per loss, the mean ± standard deviation over seeds of the
 * test accuracy and macro-F1, and each loss against CE paired by seed (the same split, initialisation and
 * row order; only the loss differs). The rule for calling a difference: at least two paired seeds and a
 * mean difference larger than twice its standard error; anything else is within the noise. Pure, for the
 * training panel and the tests.
 */
import type { EvalScores, LossKind } from '../events';

/** What a run contributes to the comparison. */
export interface ComparableRun {
  loss: LossKind;
  seed: number;
  test: EvalScores | undefined;
  /** Newer runs of the same loss and seed replace older ones. */
  createdAt: string;
}

export interface MeanSd {
  mean: number;
  /** Sample standard deviation; 0 for one value. */
  sd: number;
  n: number;
}

export interface PairedDifference {
  /** Seeds with a run of both this loss and CE. */
  pairs: number;
  mean: number;
  /** Standard error of the mean difference; undefined for one pair. */
  se: number | undefined;
  /** True when the rule calls it: ≥ 2 pairs and |mean| > 2·SE. */
  clear: boolean;
}

export interface LossComparison {
  loss: LossKind;
  seeds: number[];
  accuracy: MeanSd | undefined;
  macroF1: MeanSd | undefined;
  /** Test accuracy minus CE's, paired by seed (absent for CE itself or without a common seed). */
  versusCe: PairedDifference | undefined;
}

export interface RunComparison {
  losses: LossComparison[];
  /** Accuracy of always guessing the test rows' most frequent class (when the runs recorded it). */
  majority: number | undefined;
}

export function meanSd(values: readonly number[]): MeanSd | undefined {
  if (values.length === 0) return undefined;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = values.length < 2 ? 0 : Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1));
  return { mean, sd, n: values.length };
}

export function pairedDifference(differences: readonly number[]): PairedDifference | undefined {
  const stats = meanSd(differences);
  if (!stats) return undefined;
  const se = stats.n < 2 ? undefined : stats.sd / Math.sqrt(stats.n);
  return { pairs: stats.n, mean: stats.mean, se, clear: se !== undefined && Math.abs(stats.mean) > 2 * se };
}

const LOSS_ORDER: readonly LossKind[] = ['ce', 'imp', 'dimp', 'quality', 'filter'];

/** Compares the runs with test scores, one (the newest) per loss and seed. */
export function compareRuns(runs: readonly ComparableRun[]): RunComparison {
  const newest = new Map<string, ComparableRun>();
  for (const run of runs) {
    if (!run.test) continue;
    const key = `${run.loss}\u0000${run.seed}`;
    const seen = newest.get(key);
    if (!seen || seen.createdAt < run.createdAt) newest.set(key, run);
  }
  const byLoss = new Map<LossKind, Map<number, EvalScores>>();
  for (const run of newest.values()) {
    if (!byLoss.has(run.loss)) byLoss.set(run.loss, new Map());
    byLoss.get(run.loss)!.set(run.seed, run.test!);
  }
  const ce = byLoss.get('ce');
  const losses = [...byLoss.keys()]
    .sort((a, b) => LOSS_ORDER.indexOf(a) - LOSS_ORDER.indexOf(b))
    .map((loss): LossComparison => {
      const bySeed = byLoss.get(loss)!;
      const seeds = [...bySeed.keys()].sort((a, b) => a - b);
      const scores = seeds.map((seed) => bySeed.get(seed)!);
      const common = loss === 'ce' || !ce ? [] : seeds.filter((seed) => ce.has(seed));
      return {
        loss,
        seeds,
        accuracy: meanSd(scores.map((s) => s.accuracy)),
        macroF1: meanSd(scores.map((s) => s.macroF1)),
        versusCe: pairedDifference(common.map((seed) => bySeed.get(seed)!.accuracy - ce!.get(seed)!.accuracy)),
      };
    });
  const majorities = [...newest.values()].map((r) => r.test!.majority).filter((m): m is number => m !== undefined);
  return { losses, majority: majorities.length > 0 ? Math.max(...majorities) : undefined };
}
