/**
 * The score job: the one way a synthetic file gets scored, whoever asks (the CLI's `score`, Score
 * Synthetic Data in the editor's scoring worker, a training job that scores first, `npm run eval`).
 * It reads the files through one label map, trains or loads the checkers (their epochs chosen on the
 * validation rows, else on a held-out third of the real rows), scores every row and writes the scores file.
 */
import type { EventSink } from '../events';
import type { Dataset } from '../data/dataset';
import type { LabelMap } from '../data/labels';
import { DimpError } from '../errors';
import { refuseToOverwriteInputs, refuseToReplaceForeignFile } from '../io/inputSafety';
import { loadProjectData, type DatasetSource } from '../pipeline';
import type { DeviceChoice } from '../runtime/onnxRuntime';
import type { EncoderHeadSettings } from '../train/encoderHeadTraining';
import type { NgramSettings } from '../train/ngramTraining';
import { writeScores, type Scores } from '../weighting/score';
import { scoreSynthetic } from './checkers';
import type { WeightGuards } from '../weighting/weights';

/** A score job, resolved: every path absolute, every setting chosen. Plain JSON (it crosses to workers). */
export interface ScoreJobSpec {
  synthetic: DatasetSource;
  /** Real rows for the quality checker (not needed with `qualityModel`). */
  real?: DatasetSource;
  /** Real rows that choose each checker's epoch; without them a third of `real` is held out for that. */
  validation?: DatasetSource;
  qualityModel?: string;
  diversityModel?: string;
  /** Label names in class-index order; absent: the quality model's, else inferred from the files. */
  labels?: readonly string[];
  /** The scores file written. */
  scoresFile: string;
  /** Where trained checkers are saved (`quality/`, `diversity/`). */
  checkersDir: string;
  checkerSettings: NgramSettings;
  /** Train the checkers as heads on this frozen transformer encoder instead of the built-in model. */
  checkerEncoder?: EncoderHeadSettings;
  maxLength?: number;
  embeddingCacheDir?: string;
  /** Replace an existing `scoresFile` that is not a scores file (never an input: that is always refused). */
  force?: boolean;
  /** Temperature-scale a trained quality checker on the validation rows (default true). */
  calibrateQuality?: boolean;
  /** Start the quality checker from the trained diversity checker. */
  qualityWarmStart?: boolean;
  seed: number;
  guards: WeightGuards;
  device: DeviceChoice;
}

/** What a score job produced. */
export interface ScoreJobResult {
  scores: Scores;
  synthetic: Dataset;
  /** Where the label map came from, for the user. */
  labelSource: string;
  scoresFile: string;
}

/** Refuses outputs that would land on an input, or replace a file that is not a scores file. */
export async function checkScoreOutputs(spec: Pick<ScoreJobSpec, 'scoresFile' | 'checkersDir' | 'synthetic' | 'real' | 'validation' | 'force'>): Promise<void> {
  const inputs = [
    { path: spec.synthetic.path, role: 'synthetic data' },
    spec.real && { path: spec.real.path, role: 'real data' },
    spec.validation && { path: spec.validation.path, role: 'validation data' },
  ];
  await refuseToOverwriteInputs([{ path: spec.scoresFile, role: 'scores file' }, { path: spec.checkersDir, role: 'checkers folder' }], inputs);
  await refuseToReplaceForeignFile(spec.scoresFile, 'scores file', isScoresHeader, spec.force === true);
}

/** Whether a first line is a scores file's header. */
export function isScoresHeader(line: string): boolean {
  try {
    return (JSON.parse(line) as { kind?: unknown }).kind === 'dimp-scores';
  } catch {
    return false;
  }
}

/** Scores the synthetic rows of data already read (the training job reads its files once for both). */
export async function scoreLoadedData(
  spec: Omit<ScoreJobSpec, 'synthetic' | 'real' | 'validation' | 'labels'>,
  data: { synthetic: Dataset; real?: Dataset; validation?: Dataset; labelMap: LabelMap },
  context: { signal?: AbortSignal; onEvent?: EventSink } = {},
): Promise<Scores> {
  const scores = await scoreSynthetic({
    synthetic: data.synthetic,
    real: data.real,
    selection: data.validation,
    labelMap: data.labelMap,
    qualityModel: spec.qualityModel,
    diversityModel: spec.diversityModel,
    checkersDir: spec.checkersDir,
    checkerSettings: spec.checkerSettings,
    checkerEncoder: spec.checkerEncoder,
    maxLength: spec.maxLength,
    embeddingCacheDir: spec.embeddingCacheDir,
    calibrateQuality: spec.calibrateQuality,
    qualityWarmStart: spec.qualityWarmStart,
    seed: spec.seed,
    guards: spec.guards,
    device: spec.device,
    signal: context.signal,
    onEvent: context.onEvent,
  });
  await writeScores(spec.scoresFile, scores);
  return scores;
}

/** Runs a score job end to end. */
export async function runScoreJob(spec: ScoreJobSpec, context: { signal?: AbortSignal; onEvent?: EventSink } = {}): Promise<ScoreJobResult> {
  const { signal, onEvent } = context;
  if (!spec.real && !spec.qualityModel) throw new DimpError('usage', 'scoring needs real rows (--real) or a quality checker model (--quality-model)');
  await checkScoreOutputs(spec);
  const data = await loadProjectData(
    { synthetic: spec.synthetic, real: spec.real, validation: spec.validation },
    { labels: spec.labels, qualityModel: spec.qualityModel, signal, onEvent },
  );
  onEvent?.({ type: 'log', level: 'info', message: `labels (${data.labelSource}): ${data.labelMap.names.join(', ')}` });
  const synthetic = data.synthetic;
  if (!synthetic || synthetic.rows.length === 0) throw new DimpError('badInput', 'no usable synthetic rows', { file: spec.synthetic.path });
  const scores = await scoreLoadedData(spec, { synthetic, real: data.real, validation: data.validation, labelMap: data.labelMap }, context);
  return { scores, synthetic, labelSource: data.labelSource, scoresFile: spec.scoresFile };
}
