import { ElementType, encodeModel, initializer, intAttribute, node, valueInfo } from './onnxGraph';
import type { NgramParameters } from './ngramClassifier';

/** Input and output names of the built-in model's graph. */
export const NGRAM_GRAPH = {
  featureIds: 'feature_ids',
  featureMask: 'feature_mask',
  logits: 'logits',
  probabilities: 'probabilities',
} as const;

/**
 * The n-gram classifier as an ONNX graph (opset 13):
 *   rows   = Gather(row_of, feature_ids)             bucket → embedding row (0 = zero row)
 *   hidden = Σ_l E[rows] · mask / max(Σ_l mask, 1)   mean of the row's feature embeddings
 *   logits = hidden · W + b;  probabilities = softmax(logits)
 * Inputs: `feature_ids` int32 [batch, length] (padding ids are masked), `feature_mask` float [batch, length].
 */
export function buildNgramOnnx(parameters: NgramParameters): Uint8Array {
  const { dim, numClasses, buckets } = parameters.shape;
  const { featureIds, featureMask, logits, probabilities } = NGRAM_GRAPH;
  const graph = {
    name: 'dimp_ngram_classifier',
    input: [valueInfo(featureIds, ElementType.int32, ['batch', 'length']), valueInfo(featureMask, ElementType.float, ['batch', 'length'])],
    output: [valueInfo(logits, ElementType.float, ['batch', numClasses]), valueInfo(probabilities, ElementType.float, ['batch', numClasses])],
    initializer: [
      initializer('row_of', [buckets], parameters.rowOf),
      initializer('embeddings', [parameters.rows, dim], parameters.embeddings),
      initializer('weight', [dim, numClasses], parameters.weight),
      initializer('bias', [numClasses], parameters.bias),
      initializer('axis_1', [1], new BigInt64Array([1n])),
      initializer('axis_2', [1], new BigInt64Array([2n])),
      initializer('one', [], new Float32Array([1])),
    ],
    node: [
      node('Gather', ['row_of', featureIds], ['rows'], [intAttribute('axis', 0)]),
      node('Gather', ['embeddings', 'rows'], ['feature_embeddings'], [intAttribute('axis', 0)]),
      node('Unsqueeze', [featureMask, 'axis_2'], ['mask_3d']),
      node('Mul', ['feature_embeddings', 'mask_3d'], ['masked_embeddings']),
      node('ReduceSum', ['masked_embeddings', 'axis_1'], ['summed'], [intAttribute('keepdims', 0)]),
      node('ReduceSum', [featureMask, 'axis_1'], ['feature_count'], [intAttribute('keepdims', 1)]),
      node('Max', ['feature_count', 'one'], ['divisor']),
      node('Div', ['summed', 'divisor'], ['hidden']),
      node('MatMul', ['hidden', 'weight'], ['projected']),
      node('Add', ['projected', 'bias'], [logits]),
      node('Softmax', [logits], [probabilities], [intAttribute('axis', -1)]),
    ],
  };
  return encodeModel(graph, 13, 'DIMP Curator built-in hashed n-gram classifier (fastText architecture)');
}
