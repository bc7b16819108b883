import * as path from 'node:path';
import { DimpError, ExitCode } from '../../core/errors';
import { loadProjectData } from '../../core/pipeline';
import { scoreSynthetic, writeScores, type Scores } from '../../core/weighting/score';
import { DATA_OPTIONS, deviceFlag, labelsFlag, numberFlag, stringFlag, type Command, type CommandContext } from '../command';
import { checkerSettings, datasetSource, embeddingCacheFlag, ENCODER_OPTIONS, encoderHeadSettings, guardsFlags, seedFlag, TRAINING_OPTIONS } from '../settings';

/** Default scores path next to the synthetic file: `x.jsonl` → `x.scores.jsonl`. */
export function defaultScoresPath(syntheticFile: string): string {
  return path.join(path.dirname(syntheticFile), `${path.basename(syntheticFile).replace(/\.(jsonl|ndjson|json)$/i, '')}.scores.jsonl`);
}

/** Default checkers folder next to a scores file: `x.scores.jsonl` → `x.checkers/`. */
export function defaultCheckersDir(scoresFile: string): string {
  return path.join(path.dirname(scoresFile), `${path.basename(scoresFile).replace(/(\.scores)?\.jsonl$/i, '')}.checkers`);
}

/** Percentile `p` (0–1) of sorted values. */
function quantile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(p * (sorted.length - 1))))]!;
}

/** Summary lines of a scores file for people. */
export function describeScores(scores: Scores, mislabelThreshold = 0.8): { text: string; summary: Record<string, number> } {
  const weights = scores.rows.map((r) => r.impWeight).sort((a, b) => a - b);
  const likelyMislabelled = scores.rows.filter((r) => r.qualityLabel !== r.label && r.qualityLabelProbability >= mislabelThreshold).length;
  const summary = {
    rows: scores.rows.length,
    weightP10: quantile(weights, 0.1),
    weightMedian: quantile(weights, 0.5),
    weightP90: quantile(weights, 0.9),
    weightMax: weights[weights.length - 1] ?? NaN,
    meanQuality: scores.rows.reduce((a, r) => a + r.quality, 0) / Math.max(1, scores.rows.length),
    likelyMislabelled,
  };
  const text =
    `scored ${summary.rows} rows · IMP weight p10 ${summary.weightP10.toFixed(3)} · median ${summary.weightMedian.toFixed(3)} · p90 ${summary.weightP90.toFixed(3)} · max ${summary.weightMax.toFixed(3)}\n` +
    `mean quality ${summary.meanQuality.toFixed(3)} · ${likelyMislabelled} rows where the quality checker prefers another label with p ≥ ${mislabelThreshold}`;
  return { text, summary };
}

/** Scores a synthetic set and writes the scores file; shared with `train --real` and `demo`. */
export async function runScoring(context: CommandContext, out?: string): Promise<{ scores: Scores; file: string }> {
  const synthetic = datasetSource(context, 'synthetic', 'synthetic', true)!;
  const qualityModel = stringFlag(context.values, 'quality-model') ?? context.project.config.models?.quality;
  const diversityModel = stringFlag(context.values, 'diversity-model') ?? context.project.config.models?.diversity;
  const real = datasetSource(context, 'real', 'real', !qualityModel);
  const file = path.resolve(out ?? stringFlag(context.values, 'out') ?? defaultScoresPath(synthetic.path));
  const checkersDir = path.resolve(stringFlag(context.values, 'checkers') ?? defaultCheckersDir(file));
  const onEvent = context.reporter.onEvent;
  const data = await loadProjectData({ synthetic, real }, { labels: labelsFlag(context), qualityModel, signal: context.signal, onEvent });
  context.reporter.info(`labels (${data.labelSource}): ${data.labelMap.names.join(', ')}`);
  if (!data.synthetic || data.synthetic.rows.length === 0) throw new DimpError('badInput', 'no usable synthetic rows', { file: synthetic.path });
  const scores = await scoreSynthetic({
    synthetic: data.synthetic,
    real: data.real,
    labelMap: data.labelMap,
    qualityModel,
    diversityModel,
    checkersDir,
    checkerSettings: checkerSettings(context),
    checkerEncoder: encoderHeadSettings(context, { trainingFlags: false }),
    maxLength: numberFlag(context.values, 'max-length', { min: 4, max: 1 << 20, integer: true }),
    embeddingCacheDir: embeddingCacheFlag(context),
    seed: seedFlag(context),
    guards: guardsFlags(context),
    device: deviceFlag(context),
    signal: context.signal,
    onEvent,
  });
  await writeScores(file, scores);
  return { scores, file };
}

/** `dimp-curator score`. */
export const scoreCommand: Command = {
  name: 'score',
  summary: 'Score every synthetic row: quality q, diversity-checker probability d, IMP weight q/d.',
  details:
    'Trains a quality checker on the real rows and a diversity checker on the synthetic rows (built-in model,\n' +
    'or heads on a frozen transformer with --encoder DIR), or uses the model folders you give (the built-in\n' +
    'model\'s, or any Hugging Face sequence classifier exported to ONNX), and writes a scores file keyed by row id.\n\n' +
    'Example:\n  dimp-curator score --real real.jsonl --synthetic synthetic.jsonl --out synthetic.scores.jsonl',
  options: {
    synthetic: { type: 'string', value: 'FILE', description: 'synthetic JSONL to score' },
    real: { type: 'string', value: 'FILE', description: 'real labelled JSONL for the quality checker' },
    'quality-model': { type: 'string', value: 'DIR', description: 'use this model folder as the quality checker' },
    'diversity-model': { type: 'string', value: 'DIR', description: 'use this model folder as the diversity checker' },
    out: { type: 'string', value: 'FILE', description: 'scores file (default: <synthetic>.scores.jsonl)' },
    checkers: { type: 'string', value: 'DIR', description: 'where trained checkers are saved (default: <synthetic>.checkers/)' },
    seed: TRAINING_OPTIONS.seed!,
    epsilon: TRAINING_OPTIONS.epsilon!,
    'max-weight': TRAINING_OPTIONS['max-weight']!,
    ...ENCODER_OPTIONS,
    ...DATA_OPTIONS,
  },
  async run(context) {
    const { scores, file } = await runScoring(context);
    const { text, summary } = describeScores(scores);
    const providers = scores.header.diversityProvider ? `${scores.header.provider} (quality), ${scores.header.diversityProvider} (diversity)` : scores.header.provider;
    context.reporter.result(`${text}\nscores written to ${file} · execution provider ${providers}`, { scoresFile: file, provider: scores.header.provider, ...summary });
    return ExitCode.ok;
  },
};
