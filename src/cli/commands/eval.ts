import { ExitCode, DimpError } from '../../core/errors';
import { loadProjectData } from '../../core/pipeline';
import { loadClassifier } from '../../core/model/modelFolder';
import { argmaxRow, confusionMatrix, evaluatePredictions } from '../../core/train/metrics';
import { DATA_OPTIONS, deviceFlag, FIELD_OPTIONS, stringFlag, type Command } from '../command';
import { fieldFlags, maxRowBytesFlag } from '../settings';

/** `dimp-curator eval`. */
export const evalCommand: Command = {
  name: 'eval',
  summary: 'Evaluate a model folder on a labelled JSONL file: accuracy, macro-F1, confusion matrix.',
  details: 'Example:\n  dimp-curator eval --model runs/dimp-20261121-120000/model --data real_test.jsonl',
  options: {
    model: { type: 'string', value: 'DIR', description: 'model folder (config.json + ONNX graph)' },
    data: { type: 'string', value: 'FILE', description: 'labelled JSONL to evaluate on' },
    device: DATA_OPTIONS.device!,
    ...FIELD_OPTIONS,
  },
  async run(context) {
    const modelDir = stringFlag(context.values, 'model');
    const dataFile = stringFlag(context.values, 'data');
    if (!modelDir || !dataFile) throw new DimpError('usage', 'eval needs --model DIR and --data FILE');
    const model = await loadClassifier(modelDir, deviceFlag(context));
    try {
      if (model.fallbackReason) context.reporter.onEvent({ type: 'log', level: 'warning', message: `using ${model.provider}: ${model.fallbackReason}` });
      const data = await loadProjectData({ test: { path: dataFile, fields: fieldFlags(context), maxRowBytes: maxRowBytesFlag(context) } }, { labels: model.labelMap.names, signal: context.signal, onEvent: context.reporter.onEvent });
      const rows = data.test!.rows;
      if (rows.length === 0) throw new DimpError('badInput', 'no usable rows to evaluate', { file: dataFile });
      const probabilities = await model.predict(rows, { signal: context.signal });
      const n = model.labelMap.size;
      const predicted = Int32Array.from(rows, (_, i) => argmaxRow(probabilities, i, n));
      const gold = Int32Array.from(rows, (r) => r.label);
      const scores = evaluatePredictions(predicted, gold, n);
      const matrix = confusionMatrix(predicted, gold, n);
      const names = model.labelMap.names;
      const width = Math.max(8, ...names.map((s) => s.length)) + 2;
      const table = [
        `${'gold \\ predicted'.padEnd(width + 4)}${names.map((s) => s.padStart(width)).join('')}`,
        ...matrix.map((row, i) => `${names[i]!.padEnd(width + 4)}${row.map((v) => String(v).padStart(width)).join('')}`),
      ].join('\n');
      context.reporter.result(
        `${rows.length} rows · accuracy ${(scores.accuracy * 100).toFixed(2)}% · macro-F1 ${(scores.macroF1 * 100).toFixed(2)}% · provider ${model.provider}\n${table}`,
        { ...scores, labels: names, confusion: matrix, provider: model.provider, skippedLines: data.test!.problems.length },
      );
    } finally {
      await model.dispose();
    }
    return ExitCode.ok;
  },
};
