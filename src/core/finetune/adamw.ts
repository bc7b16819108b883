/**
 * AdamW, the linear schedule with warm-up and gradient-norm clipping as users know them from the Hugging Face
 * Trainer (torch.optim.AdamW, get_linear_schedule_with_warmup, clip_grad_norm_), on float32 weights held in
 * Node. Deterministic: the same gradients give the same weights, bit for bit.
 */

/** Optimiser and schedule settings (the Trainer's names and defaults). */
export interface AdamWSettings {
  /** Peak learning rate. */
  learningRate: number;
  /** Decoupled weight decay, applied to matrices and embeddings only (the Trainer skips biases and LayerNorm). */
  weightDecay: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Largest global L2 norm of the gradient, or null for no clipping. */
  maxGradNorm: number | null;
  /** Optimiser steps of linear warm-up from 0. */
  warmupSteps: number;
  /** Steps of the whole run: the learning rate decays linearly to 0 at this step. */
  totalSteps: number;
}

/** The Trainer's defaults (learning rate 5e-5, no decay, clipping at 1). */
export const DEFAULT_ADAMW: Omit<AdamWSettings, 'totalSteps'> = {
  learningRate: 5e-5,
  weightDecay: 0,
  beta1: 0.9,
  beta2: 0.999,
  epsilon: 1e-8,
  maxGradNorm: 1,
  warmupSteps: 0,
};

/**
 * The learning rate of optimiser step `step` (0-based), as get_linear_schedule_with_warmup:
 *   lr·step/warmup during warm-up, then lr·max(0, (total − step)/(total − warmup)).
 */
export function linearScheduleRate(settings: Pick<AdamWSettings, 'learningRate' | 'warmupSteps' | 'totalSteps'>, step: number): number {
  const { learningRate, warmupSteps, totalSteps } = settings;
  if (step < warmupSteps) return (learningRate * step) / Math.max(1, warmupSteps);
  return learningRate * Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
}

/** One trainable tensor: its weights and, after `backward`, its gradient. */
export interface OptimizedTensor {
  name: string;
  dims: readonly number[];
  values: Float32Array;
}

/** What one optimiser step did. */
export interface AdamWStep {
  /** The learning rate used. */
  learningRate: number;
  /** Global L2 norm of the gradient before clipping. */
  gradNorm: number;
  /** Factor the gradient was scaled by (1 when not clipped). */
  clipScale: number;
}

/**
 * AdamW over a fixed list of tensors.
 *
 * Rows that never had a gradient (an embedding's rows for tokens no batch has held yet: most of a 30,522-row
 * vocabulary early in a run) are skipped, exactly: with m = v = 0 and g = 0 the dense update leaves m and v at 0
 * and θ at θ·(1 − lr·λ), so only the decay is applied to them (nothing without weight decay). A row joins the
 * dense update at its first non-zero gradient and stays there (its moments then decay every step, as
 * torch.optim.AdamW's do). The weights, moments and their bits are those of the dense update.
 */
export class AdamW {
  private readonly firstMoment: Float32Array[];
  private readonly secondMoment: Float32Array[];
  private readonly decays: boolean[];
  /** Values per row: the first dimension indexes rows; a 1-D tensor is one row. */
  private readonly rowLength: number[];
  /** 1 for each row that has had a non-zero gradient (its moments are no longer zero). */
  private readonly activeRows: Uint8Array[];
  /** Optimiser steps taken. */
  step = 0;

  constructor(
    readonly tensors: readonly OptimizedTensor[],
    readonly settings: AdamWSettings,
  ) {
    this.firstMoment = tensors.map((t) => new Float32Array(t.values.length));
    this.secondMoment = tensors.map((t) => new Float32Array(t.values.length));
    this.decays = tensors.map((t) => t.dims.length >= 2);
    const rows = tensors.map((t) => (t.dims.length >= 2 && t.dims[0]! > 0 ? t.dims[0]! : 1));
    this.rowLength = tensors.map((t, k) => t.values.length / rows[k]!);
    this.activeRows = rows.map((n) => new Uint8Array(n));
  }

  /**
   * Applies one update from `gradients` (same order and sizes as the tensors; read, never written):
   * clip to maxGradNorm, then for each weight θ with gradient g at step t (1-based):
   *   θ ← θ·(1 − lr·λ);  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  θ ← θ − (lr/(1−β₁ᵗ)) · m / (√v/√(1−β₂ᵗ) + ε)
   */
  update(gradients: readonly Float32Array[]): AdamWStep {
    const { beta1, beta2, epsilon, weightDecay, maxGradNorm } = this.settings;
    if (gradients.length !== this.tensors.length) throw new Error(`AdamW: ${gradients.length} gradients for ${this.tensors.length} tensors`);
    this.tensors.forEach((tensor, k) => {
      const length = gradients[k]!.length;
      if (length !== tensor.values.length) throw new Error(`AdamW: gradient of ${tensor.name} has ${length} values, the weight ${tensor.values.length}`);
    });
    let squares = 0;
    for (const g of gradients) squares += sumOfSquares(g);
    const gradNorm = Math.sqrt(squares);
    if (!Number.isFinite(gradNorm)) throw new Error(`the gradient's norm is ${gradNorm}: training diverged`);
    // clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1.
    const clipScale = maxGradNorm === null ? 1 : Math.min(1, maxGradNorm / (gradNorm + 1e-6));
    const learningRate = linearScheduleRate(this.settings, this.step);
    this.step += 1;
    const constants: StepConstants = {
      clipScale,
      beta1,
      beta2,
      // As the dense formula computes them, so that the bits are the same.
      oneMinusBeta1: 1 - beta1,
      oneMinusBeta2: 1 - beta2,
      stepSize: learningRate / (1 - beta1 ** this.step),
      correction2Root: Math.sqrt(1 - beta2 ** this.step),
      epsilon,
      decay: 1,
    };
    // A zero row's update is θ − 0/(0 + ε) only while ε > 0; with ε = 0 every row takes the dense update.
    const skipsZeroRows = epsilon > 0;
    for (let k = 0; k < this.tensors.length; k++) {
      const values = this.tensors[k]!.values;
      const g = gradients[k]!;
      const m = this.firstMoment[k]!;
      const v = this.secondMoment[k]!;
      const decay = this.decays[k]! && weightDecay !== 0 ? 1 - learningRate * weightDecay : 1;
      constants.decay = decay;
      const rowLength = this.rowLength[k]!;
      const active = this.activeRows[k]!;
      for (let row = 0, start = 0; row < active.length; row++, start += rowLength) {
        const end = start + rowLength;
        if (active[row] === 0) {
          if (skipsZeroRows && isZero(g, start, end)) {
            if (decay !== 1) decayRange(values, start, end, decay);
            continue;
          }
          active[row] = 1;
        }
        adamwRange(values, g, m, v, start, end, constants);
      }
    }
    return { learningRate, gradNorm, clipScale };
  }
}

/** The per-step numbers of the update. */
interface StepConstants {
  clipScale: number;
  beta1: number;
  beta2: number;
  oneMinusBeta1: number;
  oneMinusBeta2: number;
  /** lr / (1 − β₁ᵗ). */
  stepSize: number;
  /** √(1 − β₂ᵗ). */
  correction2Root: number;
  epsilon: number;
  /** 1 − lr·λ, or 1 for tensors without weight decay. */
  decay: number;
}

/** Σ g² in float64. */
function sumOfSquares(g: Float32Array): number {
  let squares = 0;
  for (let i = 0; i < g.length; i++) {
    const x = g[i]!;
    squares += x * x;
  }
  return squares;
}

/** Whether g[start..end) is all zeros (−0 included). */
function isZero(g: Float32Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (g[i] !== 0) return false;
  return true;
}

/** θ ← θ·decay on [start, end): the dense update of a row whose moments and gradient are zero. */
function decayRange(values: Float32Array, start: number, end: number, decay: number): void {
  for (let i = start; i < end; i++) values[i] = values[i]! * decay;
}

/** The dense AdamW update on [start, end), in the order of operations of the formula above. */
function adamwRange(values: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, start: number, end: number, c: StepConstants): void {
  const { clipScale, beta1, beta2, oneMinusBeta1, oneMinusBeta2, stepSize, correction2Root, epsilon, decay } = c;
  for (let i = start; i < end; i++) {
    const gi = g[i]! * clipScale;
    const mi = Math.fround(beta1 * m[i]! + oneMinusBeta1 * gi);
    const vi = Math.fround(beta2 * v[i]! + oneMinusBeta2 * gi * gi);
    m[i] = mi;
    v[i] = vi;
    values[i] = values[i]! * decay - (stepSize * mi) / (Math.sqrt(vi) / correction2Root + epsilon);
  }
}
