/**
 * A rough memory estimate for fine-tuning, printed before training starts: every float32 parameter is held
 * four times (weights, gradients, two AdamW moments), and the activations kept for the backward pass are
 * bounded by batch × sequence × hidden × layers floats times a factor for the intermediate tensors of one
 * transformer layer, plus the attention scores (batch × heads × sequence² per layer).
 */

/** The model's shape and the run's settings that the estimate needs. */
export interface FineTuneMemoryInput {
  parameterCount: number;
  batchSize: number;
  maxLength: number;
  hiddenSize: number;
  layers: number;
  heads: number;
  /** Rows accumulated into one optimiser step do not add memory: only one batch is live at a time. */
  gradientAccumulation?: number;
}

/** Bytes, split the way the printed line reports them. */
export interface FineTuneMemoryEstimate {
  parameterBytes: number;
  activationBytes: number;
  totalBytes: number;
}

const FLOAT_BYTES = 4;
/** Weights, gradients, AdamW first and second moments. */
const COPIES_PER_PARAMETER = 4;
/** Tensors of hidden width one layer keeps for the backward pass (q, k, v, context, norms, the 4× FFN…). */
const HIDDEN_TENSORS_PER_LAYER = 16;

/** Estimates the memory one fine-tuning step needs; an upper-bound style rough figure, not a measurement. */
export function estimateFineTuneMemory(input: FineTuneMemoryInput): FineTuneMemoryEstimate {
  for (const [key, value] of Object.entries(input)) {
    if (value !== undefined && (!Number.isFinite(value) || value < 0)) throw new RangeError(`memory estimate: ${key} must be a non-negative number, got ${value}`);
  }
  const parameterBytes = input.parameterCount * COPIES_PER_PARAMETER * FLOAT_BYTES;
  const tokens = input.batchSize * input.maxLength;
  const hiddenFloats = tokens * input.hiddenSize * HIDDEN_TENSORS_PER_LAYER;
  const attentionFloats = 2 * input.batchSize * input.heads * input.maxLength * input.maxLength;
  const activationBytes = input.layers * (hiddenFloats + attentionFloats) * FLOAT_BYTES;
  return { parameterBytes, activationBytes, totalBytes: parameterBytes + activationBytes };
}

/** One line for the log: "about 1.2 GiB (parameters × 4 copies 0.4 GiB + activations 0.8 GiB)". */
export function describeFineTuneMemory(estimate: FineTuneMemoryEstimate): string {
  return `about ${formatBytes(estimate.totalBytes)} (weights, gradients and 2 AdamW moments ${formatBytes(estimate.parameterBytes)} + activations at most ${formatBytes(estimate.activationBytes)})`;
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** How many numbers a training graph trains: the parameter count the estimate starts from. */
export function trainableParameterCount(parameters: readonly { dims: readonly number[] }[]): number {
  return parameters.reduce((sum, p) => sum + p.dims.reduce((n, d) => n * d, 1), 0);
}
