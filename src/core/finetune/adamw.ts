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

/** AdamW over a fixed list of tensors. */
export class AdamW {
  private readonly firstMoment: Float32Array[];
  private readonly secondMoment: Float32Array[];
  private readonly decays: boolean[];
  /** Optimiser steps taken. */
  step = 0;

  constructor(
    readonly tensors: readonly OptimizedTensor[],
    readonly settings: AdamWSettings,
  ) {
    this.firstMoment = tensors.map((t) => new Float32Array(t.values.length));
    this.secondMoment = tensors.map((t) => new Float32Array(t.values.length));
    this.decays = tensors.map((t) => t.dims.length >= 2);
  }

  /**
   * Applies one update from `gradients` (same order and sizes as the tensors; read, never written):
   * clip to maxGradNorm, then for each weight θ with gradient g at step t (1-based):
   *   θ ← θ·(1 − lr·λ);  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  θ ← θ − (lr/(1−β₁ᵗ)) · m / (√v/√(1−β₂ᵗ) + ε)
   */
  update(gradients: readonly ArrayLike<number>[]): AdamWStep {
    const { beta1, beta2, epsilon, weightDecay, maxGradNorm } = this.settings;
    if (gradients.length !== this.tensors.length) throw new Error(`AdamW: ${gradients.length} gradients for ${this.tensors.length} tensors`);
    let squares = 0;
    for (const g of gradients) for (let i = 0; i < g.length; i++) squares += g[i]! * g[i]!;
    const gradNorm = Math.sqrt(squares);
    if (!Number.isFinite(gradNorm)) throw new Error(`the gradient's norm is ${gradNorm}: training diverged`);
    // clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1.
    const clipScale = maxGradNorm === null ? 1 : Math.min(1, maxGradNorm / (gradNorm + 1e-6));
    const learningRate = linearScheduleRate(this.settings, this.step);
    this.step += 1;
    const correction1 = 1 - beta1 ** this.step;
    const correction2Root = Math.sqrt(1 - beta2 ** this.step);
    const stepSize = learningRate / correction1;
    const decay = 1 - learningRate * weightDecay;
    this.tensors.forEach((tensor, k) => {
      const g = gradients[k]!;
      const values = tensor.values;
      if (g.length !== values.length) throw new Error(`AdamW: gradient of ${tensor.name} has ${g.length} values, the weight ${values.length}`);
      const m = this.firstMoment[k]!;
      const v = this.secondMoment[k]!;
      const decays = this.decays[k]! && weightDecay !== 0;
      for (let i = 0; i < values.length; i++) {
        const gi = g[i]! * clipScale;
        m[i] = beta1 * m[i]! + (1 - beta1) * gi;
        v[i] = beta2 * v[i]! + (1 - beta2) * gi * gi;
        const theta = decays ? values[i]! * decay : values[i]!;
        values[i] = theta - (stepSize * m[i]!) / (Math.sqrt(v[i]!) / correction2Root + epsilon);
      }
    });
    return { learningRate, gradNorm, clipScale };
  }
}
