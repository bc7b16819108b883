/**
 * Evaluate a model folder on labelled rows: the one function `dimp-curator eval` calls. Loads the model
 * (its labels name the classes), reads the data through them, predicts with onnxruntime and scores.
 */
import { DimpError } from '../errors';
import type { EvalScores, EventSink } from '../events';
import { loadClassifier } from '../model/modelFolder';
import { loadProjectData, type DatasetSource } from '../pipeline';
import { fallbackMessage, type DeviceChoice } from '../runtime/onnxRuntime';
import { argmaxRow, confusionMatrix, evaluatePredictions } from '../train/metrics';

export interface EvaluationResult extends EvalScores {
  labels: readonly string[];
  /** `[gold][predicted]` counts. */
  confusion: number[][];
  provider: string;
  skippedLines: number;
}

export async function runEvaluationJob(
  spec: { modelDir: string; data: DatasetSource; device: DeviceChoice },
  context: { signal?: AbortSignal; onEvent?: EventSink } = {},
): Promise<EvaluationResult> {
  const model = await loadClassifier(spec.modelDir, spec.device);
  try {
    if (model.fallbackReason) context.onEvent?.({ type: 'log', level: 'warning', message: fallbackMessage('the model', model.provider, model.fallbackReason) });
    const data = await loadProjectData({ test: spec.data }, { labels: model.labelMap.names, signal: context.signal, onEvent: context.onEvent });
    const rows = data.test!.rows;
    if (rows.length === 0) throw new DimpError('badInput', 'no usable rows to evaluate', { file: spec.data.path });
    const probabilities = await model.predict(rows, { signal: context.signal });
    const n = model.labelMap.size;
    const predicted = Int32Array.from(rows, (_, i) => argmaxRow(probabilities, i, n));
    const gold = Int32Array.from(rows, (r) => r.label);
    return {
      ...evaluatePredictions(predicted, gold, n),
      labels: model.labelMap.names,
      confusion: confusionMatrix(predicted, gold, n),
      provider: model.provider,
      skippedLines: data.test!.problems.length,
    };
  } finally {
    await model.dispose();
  }
}
