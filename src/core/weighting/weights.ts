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
