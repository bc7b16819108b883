import type { NgramParameters } from './ngramClassifier';

/**
 * One n-gram model whose logits are the mean of the members' logits: the members' embedding rows side by
 * side (dimension K·dim; a member that never trained a bucket contributes its zero row) and their output
 * layers stacked, each divided by K. The mean over a row's n-grams is linear, so the hidden vector is the
 * members' hidden vectors concatenated and the logits are (1/K) Σₖ (Wₖᵀhₖ + bₖ), exactly. The result is an
 * ordinary model: exported to ONNX, scored and loaded like any other.
 */
export function averageLogits(members: readonly NgramParameters[]): NgramParameters {
  if (members.length === 0) throw new Error('an ensemble needs at least one model');
  const first = members[0]!.shape;
  for (const m of members) {
    if (m.shape.buckets !== first.buckets || m.shape.dim !== first.dim || m.shape.numClasses !== first.numClasses) {
      throw new Error('ensemble members must share buckets, dimension and classes');
    }
  }
  if (members.length === 1) return members[0]!;
  const k = members.length;
  const { buckets, dim, numClasses } = first;
  const wide = k * dim;
  const rowOf = new Int32Array(buckets);
  let rows = 1;
  for (let b = 0; b < buckets; b++) if (members.some((m) => m.rowOf[b] !== 0)) rowOf[b] = rows++;
  const embeddings = new Float32Array(rows * wide);
  for (let b = 0; b < buckets; b++) {
    const row = rowOf[b]!;
    if (row === 0) continue;
    members.forEach((m, j) => {
      const source = m.rowOf[b]!;
      if (source !== 0) embeddings.set(m.embeddings.subarray(source * dim, (source + 1) * dim), row * wide + j * dim);
    });
  }
  const weight = new Float32Array(wide * numClasses);
  const bias = new Float32Array(numClasses);
  members.forEach((m, j) => {
    for (let i = 0; i < dim * numClasses; i++) weight[j * dim * numClasses + i] = m.weight[i]! / k;
    for (let c = 0; c < numClasses; c++) bias[c]! += m.bias[c]! / k;
  });
  return { shape: { buckets, dim: wide, numClasses }, rowOf, embeddings, rows, weight, bias };
}
