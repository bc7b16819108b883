import * as path from 'node:path';
import { ExitCode } from '../../core/errors';
import { runScoreJob } from '../../core/jobs/scoreJob';
import { checkerWarning, describeChecker, type Scores } from '../../core/weighting/score';
import { scoreColumnsOf } from '../../core/weighting/scoreColumns';
import { describeDiagnostics, dominanceWarning, weightDiagnostics } from '../../core/weighting/weights';
import { DATA_OPTIONS, deviceFlag, labelsFlag, numberFlag, stringFlag, type Command, type CommandContext } from '../command';
import { CHECKER_OPTIONS, datasetSource, embeddingCacheFlag, ENCODER_OPTIONS, encoderHeadSettings, jobSettings, TRAINING_OPTIONS } from '../settings';

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
  // Read off the columns: a score job's scores never build an object per row.
  const c = scoreColumnsOf(scores);
  const weights = Array.from(c.impWeight).sort((a, b) => a - b);
  let likelyMislabelled = 0;
  let qualitySum = 0;
  for (let i = 0; i < c.length; i++) {
    if (c.qualityLabel[i] !== c.label[i] && c.qualityLabelProbability[i]! >= mislabelThreshold) likelyMislabelled++;
    qualitySum += c.quality[i]!;
  }
  const summary = {
    rows: c.length,
    weightP10: quantile(weights, 0.1),
    weightMedian: quantile(weights, 0.5),
    weightP90: quantile(weights, 0.9),
    weightMax: weights[weights.length - 1] ?? NaN,
    meanQuality: qualitySum / Math.max(1, c.length),
    likelyMislabelled,
  };
  const diagnostics = scores.header.diagnostics ?? weightDiagnostics(weights);
  const lines = [
    `scored ${summary.rows} rows · IMP weight p10 ${summary.weightP10.toFixed(3)} · median ${summary.weightMedian.toFixed(3)} · p90 ${summary.weightP90.toFixed(3)} · max ${summary.weightMax.toFixed(3)}`,
    `IMP weights: ${describeDiagnostics(diagnostics)}`,
    `mean quality ${summary.meanQuality.toFixed(3)} · ${likelyMislabelled} rows where the quality checker prefers another label with p ≥ ${mislabelThreshold}`,
  ];
  for (const [role, report] of Object.entries({ quality: scores.header.checkers?.quality, diversity: scores.header.checkers?.diversity })) {
    if (report) lines.push(`${role} checker: ${describeChecker(report, scores.header.checkers!)}`);
  }
  const warnings = [dominanceWarning(diagnostics), checkerWarning(scores.header.checkers?.quality, scores.header.checkers?.settings)].filter((w): w is string => w !== undefined);
  for (const warning of warnings) lines.push(`warning: ${warning}`);
  return {
    text: lines.join('\n'),
    summary: {
      ...summary,
      effectiveSampleSize: diagnostics.effectiveSampleSize,
      top1PercentShare: diagnostics.top1PercentShare,
      ...(scores.header.checkers?.quality?.selectionAccuracy !== undefined ? { qualityCheckerAccuracy: scores.header.checkers.quality.selectionAccuracy } : {}),
    },
  };
}

/** Scores a synthetic set and writes the scores file (the core's score job); shared with `train --real` and `demo`. */
export async function runScoring(context: CommandContext, out?: string): Promise<{ scores: Scores; file: string }> {
  const synthetic = datasetSource(context, 'synthetic', 'synthetic', true)!;
  const qualityModel = stringFlag(context.values, 'quality-model') ?? context.project.config.models?.quality;
  const diversityModel = stringFlag(context.values, 'diversity-model') ?? context.project.config.models?.diversity;
  const file = path.resolve(out ?? stringFlag(context.values, 'out') ?? defaultScoresPath(synthetic.path));
  const settings = jobSettings(context);
  const result = await runScoreJob(
    {
      synthetic,
      real: datasetSource(context, 'real', 'real', !qualityModel),
      validation: datasetSource(context, 'validation', 'validation', false),
      qualityModel,
      diversityModel,
      labels: labelsFlag(context),
      scoresFile: file,
      checkersDir: path.resolve(stringFlag(context.values, 'checkers') ?? defaultCheckersDir(file)),
      checkerSettings: settings.checkerSettings,
      checkerEncoder: encoderHeadSettings(context, { trainingFlags: false }),
      maxLength: numberFlag(context.values, 'max-length', { min: 4, max: 1 << 20, integer: true }),
      embeddingCacheDir: embeddingCacheFlag(context),
      seed: settings.seed,
      guards: settings.guards,
      device: deviceFlag(context),
      scoringThreads: stringFlag(context.values, 'threads') === 'auto' ? 0 : (numberFlag(context.values, 'threads', { min: 1, max: 1024, integer: true }) ?? context.project.config.scoringThreads),
      force: context.values.force === true,
    },
    { signal: context.signal, onEvent: context.reporter.onEvent },
  );
  return { scores: result.scores, file };
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
    validation: { type: 'string', value: 'FILE', description: "real JSONL that chooses each checker's epoch (default: a third of --real is held out for it)" },
    'quality-model': { type: 'string', value: 'DIR', description: 'use this model folder as the quality checker' },
    'diversity-model': { type: 'string', value: 'DIR', description: 'use this model folder as the diversity checker' },
    out: { type: 'string', value: 'FILE', description: 'scores file (default: <synthetic>.scores.jsonl)' },
    checkers: { type: 'string', value: 'DIR', description: 'where trained checkers are saved (default: <synthetic>.checkers/)' },
    force: { type: 'boolean', description: 'replace --out even when it is not a scores file (an input is never replaced)' },
    threads: { type: 'string', value: 'N', description: "worker threads scoring rows with the built-in checkers, or auto: one per 40,000 rows, at most one per core (default: scoringThreads in dimp.config.json, else 1: no workers; each worker costs ~100–140 MiB)" },
    seed: TRAINING_OPTIONS.seed!,
    epsilon: TRAINING_OPTIONS.epsilon!,
    'max-weight': TRAINING_OPTIONS['max-weight']!,
    ...CHECKER_OPTIONS,
    ...ENCODER_OPTIONS,
    ...DATA_OPTIONS,
  },
  async run(context) {
    const { scores, file } = await runScoring(context);
    const { text, summary } = describeScores(scores);
    const providers = scores.header.diversityProvider ? `${scores.header.provider} (quality), ${scores.header.diversityProvider} (diversity)` : scores.header.provider;
    const folders = scores.header.checkerFolders;
    const checkers = folders ? `\ncheckers: ${folders.quality} (quality), ${folders.diversity} (diversity)` : '';
    context.reporter.result(`${text}\nscores written to ${file} · execution provider ${providers}${checkers}`, {
      scoresFile: file,
      provider: scores.header.provider,
      ...(folders ? { checkerFolders: folders } : {}),
      ...summary,
    });
    return ExitCode.ok;
  },
};
