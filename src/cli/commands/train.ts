import * as path from 'node:path';
import { DimpError, ExitCode } from '../../core/errors';
import { loadProjectData } from '../../core/pipeline';
import { runTraining, type RunSummary } from '../../core/train/run';
import { readScores } from '../../core/weighting/score';
import type { LossKind } from '../../protocol/events';
import { DATA_OPTIONS, deviceFlag, labelsFlag, stringFlag, type Command } from '../command';
import { classifierSettings, datasetSource, ENCODER_OPTIONS, encoderHeadSettings, guardsFlags, seedFlag, TRAINING_OPTIONS } from '../settings';
import { runScoring } from './score';

const LOSSES: readonly LossKind[] = ['ce', 'imp', 'dimp'];

const percent = (x: number | undefined): string => (x === undefined ? '–' : `${(x * 100).toFixed(1)}%`);

/** One line describing a finished run. */
export function describeRun(run: RunSummary): string {
  return (
    `${run.loss}: best epoch ${run.bestEpoch} · validation acc ${percent(run.validation?.accuracy)} · ` +
    `test acc ${percent(run.test?.accuracy)} macro-F1 ${percent(run.test?.macroF1)} · ${Math.round(run.rowsPerSecond).toLocaleString('en-US')} rows/s\n` +
    (run.encoder ? `encoder: ${run.encoder.description} on ${run.encoder.provider} · ${run.encoder.cachedRows} rows from the embedding cache, ${run.encoder.computedRows} texts encoded\n` : '') +
    `run folder: ${run.runDir}`
  );
}

/** `dimp-curator train`. */
export const trainCommand: Command = {
  name: 'train',
  summary: 'Train the built-in classifier, or a head on a frozen transformer encoder, on synthetic data with CE, IMP or DIMP loss.',
  details:
    'imp and dimp need quality scores: --scores FILE from `dimp-curator score`, or --real FILE to score first.\n' +
    'With --encoder DIR, a linear or mlp head is trained on the encoder\'s pooled embeddings (cached in --cache) and\n' +
    'model/ is the encoder with the head appended: a sequence-classifier folder any ONNX runtime can serve.\n' +
    'Writes one run folder: model/ (ONNX + config.json), metrics.json, weights.jsonl, train-log.jsonl, config.json.\n\n' +
    'Example:\n  dimp-curator train --synthetic syn.jsonl --scores syn.scores.jsonl --loss dimp --validation val.jsonl --test test.jsonl',
  options: {
    synthetic: { type: 'string', value: 'FILE', description: 'synthetic JSONL to train on' },
    loss: { type: 'string', value: 'LOSS', description: 'ce | imp | dimp (default: config, else dimp)' },
    scores: { type: 'string', value: 'FILE', description: 'scores file for imp/dimp' },
    real: { type: 'string', value: 'FILE', description: 'real JSONL: score first when --scores is not given' },
    validation: { type: 'string', value: 'FILE', description: 'real JSONL for epoch selection' },
    test: { type: 'string', value: 'FILE', description: 'real JSONL for the final report' },
    out: { type: 'string', value: 'DIR', description: 'parent folder of run folders (default: runs)' },
    name: { type: 'string', value: 'NAME', description: 'run folder name (default: <loss>-<time>)' },
    ...TRAINING_OPTIONS,
    ...ENCODER_OPTIONS,
    ...DATA_OPTIONS,
  },
  async run(context) {
    const loss = (stringFlag(context.values, 'loss') ?? context.project.config.training?.loss ?? 'dimp') as LossKind;
    if (!LOSSES.includes(loss)) throw new DimpError('usage', `--loss must be one of ${LOSSES.join(', ')}, got "${loss}"`);
    let scoresFile = stringFlag(context.values, 'scores');
    let scores = scoresFile ? await readScores(scoresFile) : undefined;
    if (loss !== 'ce' && !scores) {
      const hasReal = stringFlag(context.values, 'real') ?? context.project.config.datasets?.real ?? context.project.config.models?.quality;
      if (!hasReal) throw new DimpError('usage', `${loss} needs quality scores: pass --scores FILE, or --real FILE to score first`);
      context.reporter.info('no --scores given: scoring first');
      const scored = await runScoring({ ...context, values: { ...context.values, out: undefined } });
      scores = scored.scores;
      scoresFile = scored.file;
      context.reporter.info(`scores written to ${scoresFile}`);
    }
    const labels = labelsFlag(context) ?? scores?.header.labels;
    const data = await loadProjectData(
      {
        synthetic: datasetSource(context, 'synthetic', 'synthetic', true),
        validation: datasetSource(context, 'validation', 'validation', false),
        test: datasetSource(context, 'test', 'test', false),
      },
      { labels, signal: context.signal, onEvent: context.reporter.onEvent },
    );
    const run = await runTraining({
      synthetic: data.synthetic!,
      labelMap: data.labelMap,
      loss,
      scores,
      validation: data.validation,
      test: data.test,
      settings: classifierSettings(context),
      encoder: encoderHeadSettings(context),
      seed: seedFlag(context),
      guards: guardsFlags(context),
      device: deviceFlag(context),
      outDir: path.resolve(stringFlag(context.values, 'out') ?? context.project.config.output ?? 'runs'),
      runName: stringFlag(context.values, 'name'),
      signal: context.signal,
      onEvent: context.reporter.onEvent,
    });
    context.reporter.result(describeRun(run), {
      runDir: run.runDir,
      loss: run.loss,
      bestEpoch: run.bestEpoch,
      validation: run.validation,
      test: run.test,
      rowsPerSecond: run.rowsPerSecond,
      provider: run.provider,
      ...(run.encoder ? { encoder: run.encoder } : {}),
    });
    return ExitCode.ok;
  },
};
