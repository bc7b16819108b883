import type { EvalScores } from '../events';

/** Index of the largest probability of row `row` in a row-major `n × numClasses` matrix. */
export function argmaxRow(probabilities: Float32Array, row: number, numClasses: number): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let c = 0; c < numClasses; c++) {
    const v = probabilities[row * numClasses + c]!;
    if (v > bestValue) {
      bestValue = v;
      best = c;
    }
  }
  return best;
}

/** Confusion matrix `[gold][predicted]`. */
export function confusionMatrix(predicted: ArrayLike<number>, gold: ArrayLike<number>, numClasses: number): number[][] {
  const matrix = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < gold.length; i++) matrix[gold[i]!]![predicted[i]!]! += 1;
  return matrix;
}

/**
 * Accuracy and macro-F1 (unweighted mean over classes of per-class F1; a class with no gold and no
 * predicted rows is left out of the mean, one with either counts F1 = 0).
 */
export function evaluatePredictions(predicted: ArrayLike<number>, gold: ArrayLike<number>, numClasses: number): EvalScores {
  if (predicted.length !== gold.length) throw new Error(`predictions (${predicted.length}) and gold labels (${gold.length}) differ in length`);
  const matrix = confusionMatrix(predicted, gold, numClasses);
  let correct = 0;
  let largestClass = 0;
  const f1s: number[] = [];
  for (let c = 0; c < numClasses; c++) {
    correct += matrix[c]![c]!;
    const truePositive = matrix[c]![c]!;
    const goldCount = matrix[c]!.reduce((a, b) => a + b, 0);
    largestClass = Math.max(largestClass, goldCount);
    const predictedCount = matrix.reduce((a, row) => a + row[c]!, 0);
    if (goldCount === 0 && predictedCount === 0) continue;
    f1s.push((2 * truePositive) / (goldCount + predictedCount));
  }
  return {
    accuracy: gold.length === 0 ? 0 : correct / gold.length,
    macroF1: f1s.length === 0 ? 0 : f1s.reduce((a, b) => a + b, 0) / f1s.length,
    rows: gold.length,
    majority: gold.length === 0 ? 0 : largestClass / gold.length,
  };
}

/** Evaluates a probability matrix against gold labels. */
export function evaluateProbabilities(probabilities: Float32Array, gold: ArrayLike<number>, numClasses: number): EvalScores {
  const predicted = new Int32Array(gold.length);
  for (let i = 0; i < gold.length; i++) predicted[i] = argmaxRow(probabilities, i, numClasses);
  return evaluatePredictions(predicted, gold, numClasses);
}

/** Mean negative log-likelihood of the gold labels after scaling log-probabilities by 1/T. */
export function temperedNll(probabilities: Float32Array, gold: ArrayLike<number>, numClasses: number, temperature: number): number {
  let total = 0;
  for (let i = 0; i < gold.length; i++) {
    const offset = i * numClasses;
    let max = -Infinity;
    for (let c = 0; c < numClasses; c++) max = Math.max(max, Math.log(Math.max(probabilities[offset + c]!, 1e-30)) / temperature);
    let sum = 0;
    for (let c = 0; c < numClasses; c++) sum += Math.exp(Math.log(Math.max(probabilities[offset + c]!, 1e-30)) / temperature - max);
    total -= Math.log(Math.max(probabilities[offset + gold[i]!]!, 1e-30)) / temperature - max - Math.log(sum);
  }
  return gold.length === 0 ? 0 : total / gold.length;
}

/**
 * Temperature scaling (Guo et al., 2017): the T in [0.05, 20] that minimises the NLL of the gold labels
 * when the log-probabilities are divided by T (golden-section search on log T). T > 1 softens
 * over-confident probabilities; the ranking of the classes never changes. 1 when there are no rows.
 */
export function fitTemperature(probabilities: Float32Array, gold: ArrayLike<number>, numClasses: number): number {
  if (gold.length === 0) return 1;
  const f = (logT: number): number => temperedNll(probabilities, gold, numClasses, Math.exp(logT));
  let lo = Math.log(0.05);
  let hi = Math.log(20);
  const ratio = (Math.sqrt(5) - 1) / 2;
  let a = hi - ratio * (hi - lo);
  let b = lo + ratio * (hi - lo);
  let fa = f(a);
  let fb = f(b);
  for (let i = 0; i < 60; i++) {
    if (fa < fb) {
      hi = b;
      b = a;
      fb = fa;
      a = hi - ratio * (hi - lo);
      fa = f(a);
    } else {
      lo = a;
      a = b;
      fa = fb;
      b = lo + ratio * (hi - lo);
      fb = f(b);
    }
  }
  return Math.exp((lo + hi) / 2);
}

/**
 * Expected calibration error: rows binned by the confidence of their predicted class into `bins` equal-width
 * bins; the row-weighted mean over bins of |accuracy − mean confidence|. 0 for perfectly calibrated
 * probabilities; 0 when there are no rows.
 */
export function expectedCalibrationError(probabilities: Float32Array, gold: ArrayLike<number>, numClasses: number, bins = 10): number {
  const count = new Array<number>(bins).fill(0);
  const correct = new Array<number>(bins).fill(0);
  const confidence = new Array<number>(bins).fill(0);
  for (let i = 0; i < gold.length; i++) {
    const predicted = argmaxRow(probabilities, i, numClasses);
    const p = probabilities[i * numClasses + predicted]!;
    const bin = Math.min(bins - 1, Math.floor(p * bins));
    count[bin]! += 1;
    confidence[bin]! += p;
    if (predicted === gold[i]) correct[bin]! += 1;
  }
  let error = 0;
  for (let b = 0; b < bins; b++) if (count[b]! > 0) error += Math.abs(correct[b]! - confidence[b]!);
  return gold.length === 0 ? 0 : error / gold.length;
}

/** Share of each class among `labels` (class-index order). */
export function labelShares(labels: ArrayLike<number>, numClasses: number): number[] {
  const counts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i]!]! += 1;
  return counts.map((c) => (labels.length === 0 ? 0 : c / labels.length));
}
