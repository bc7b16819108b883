import { ExitCode, DimpError } from '../../core/errors';
import { runEvaluationJob } from '../../core/jobs/evaluateJob';
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
    const result = await runEvaluationJob(
      { modelDir, data: { path: dataFile, fields: fieldFlags(context), maxRowBytes: maxRowBytesFlag(context) }, device: deviceFlag(context) },
      { signal: context.signal, onEvent: context.reporter.onEvent },
    );
    const names = result.labels;
    const width = Math.max(8, ...names.map((s) => s.length)) + 2;
    const table = [
      `${'gold \\ predicted'.padEnd(width + 4)}${names.map((s) => s.padStart(width)).join('')}`,
      ...result.confusion.map((row, i) => `${names[i]!.padEnd(width + 4)}${row.map((v) => String(v).padStart(width)).join('')}`),
    ].join('\n');
    context.reporter.result(
      `${result.rows} rows · accuracy ${(result.accuracy * 100).toFixed(2)}% · macro-F1 ${(result.macroF1 * 100).toFixed(2)}% · provider ${result.provider}\n${table}`,
      result,
    );
    return ExitCode.ok;
  },
};
