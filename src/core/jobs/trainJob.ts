import type { EventSink } from '../events';
import type { Dataset } from '../data/dataset';
import { DimpError } from '../errors';
import { outputTarget, pathExists, sweepStaleTemporaries } from '../io/atomic';
import { checkOutputPath } from '../io/outputPaths';
import { loadProjectData } from '../pipeline';
import { checkScoreOutputs, scoreLoadedData } from './scoreJob';
import { readScores, writeScores, type Scores } from '../weighting/score';
import { scoreChangedRows, storedCheckers, type CheckerFolders } from './rescore';
import { defaultCheckersDir, defaultScoresFile, type TrainingJobSpec } from './trainJobSpec';
import { runPytorchTraining } from '../train/pytorchEngine';
import { checkFineTuneModel } from '../train/fineTuneTraining';
import { runTraining, type RunSummary } from '../train/run';
import type { TrainerContext } from '../train/trainer';

/** What the job did besides training: whether it scored first, and where the scores are. */
export interface TrainingJobResult extends RunSummary {
  scoresFile: string | undefined;
  scored: boolean;
}

async function readStoredScores(file: string | undefined, onEvent: EventSink | undefined): Promise<Scores | undefined> {
  if (!file || !(await pathExists(file))) return undefined;
  try {
    return await readScores(file);
  } catch (error) {
    onEvent?.({ type: 'log', level: 'warning', message: `${(error as Error).message}; scoring again` });
    return undefined;
  }
}

/** The checkers that made the stored scores: the model folders the job names, else the stored ones. */
async function checkersOf(spec: TrainingJobSpec, scoresFile: string, scores: Scores): Promise<CheckerFolders | undefined> {
  // The generation published with the scores (named in their header), else the classic layout.
  const published = scores.header.checkerFolders;
  const stored = published ? await storedCheckers(published) : await storedCheckers(spec.checkersDir ?? defaultCheckersDir(scoresFile));
  const quality = spec.qualityModel ?? stored?.quality;
  const diversity = spec.diversityModel ?? stored?.diversity;
  return quality && diversity ? { quality, diversity } : undefined;
}

/**
 * Runs a training job: reads the data through one label map, scores the synthetic rows first when
 * imp/dimp need scores and the stored ones are missing or do not cover every row, then trains and
 * writes the run folder. Cancellation (the signal) leaves no partial outputs: the scores file, the
 * checkers and the run folder are each written atomically.
 */
export async function runTrainingJob(
  spec: TrainingJobSpec,
  context: {
    signal?: AbortSignal;
    onEvent?: EventSink;
    /** Called after scoring first wrote the scores file (e.g. to record where they came from). */
    onScored?: (scores: Scores, synthetic: Dataset, scoresFile: string) => Promise<void>;
    /** A pause point after each epoch of the classifier; see TrainerContext. */
    afterEpoch?: TrainerContext['afterEpoch'];
  } = {},
): Promise<TrainingJobResult> {
  const { signal, onEvent } = context;
  const needsScores = spec.loss !== 'ce';
  // Output paths first: a run folder (or, when this job may score, a scores file or checkers folder) that
  // cannot be written is an error before any file is read or any model trained.
  await checkOutputPath(spec.outDir, 'runs folder', 'folder');
  await sweepStaleTemporaries(await outputTarget(spec.outDir));
  if (spec.finetune) await checkFineTuneModel(spec.finetune);
  if (needsScores && (spec.real !== undefined || spec.qualityModel !== undefined)) {
    const scoresFile = spec.scoresFile ?? defaultScoresFile(spec.synthetic.path);
    await checkScoreOutputs({ scoresFile, checkersDir: spec.checkersDir ?? defaultCheckersDir(scoresFile), synthetic: spec.synthetic, real: spec.real, validation: spec.validation, force: spec.force });
  }
  let scores = needsScores && spec.scoreFirst !== 'always' ? await readStoredScores(spec.scoresFile, onEvent) : undefined;
  const labels = spec.labels && spec.labels.length > 0 ? spec.labels : scores?.header.labels;
  const data = await loadProjectData(
    {
      synthetic: spec.synthetic,
      validation: spec.validation,
      test: spec.test,
      ...(needsScores && spec.real ? { real: spec.real } : {}),
    },
    { labels, signal, onEvent },
  );
  const synthetic = data.synthetic;
  if (!synthetic || synthetic.rows.length === 0) throw new DimpError('badInput', 'no usable synthetic rows', { file: spec.synthetic.path });
  onEvent?.({ type: 'log', level: 'info', message: `labels (${data.labelSource}): ${data.labelMap.names.join(', ')}` });

  let scored = false;
  if (needsScores) {
    const sameLabels = scores !== undefined && scores.header.labels.join('\n') === data.labelMap.names.join('\n');
    const scoredIds = new Set(scores?.rows.map((r) => r.rowId));
    const missing = synthetic.rows.filter((row) => !scoredIds.has(row.rowId)).length;
    const canScore = spec.real !== undefined || spec.qualityModel !== undefined;
    // Rows changed since scoring (core/jobs/rescore.ts): scored with the stored checkers when they are
    // there, else everything is scored again when the job can score; otherwise they are left out
    // (runTraining says how many).
    const scoresFile = spec.scoresFile ?? defaultScoresFile(spec.synthetic.path);
    const checkers = scores && sameLabels && missing > 0 ? await checkersOf(spec, scoresFile, scores) : undefined;
    if (scores && checkers) {
      onEvent?.({ type: 'log', level: 'info', message: `${missing} rows changed since scoring: scoring them with the stored checkers` });
      ({ scores } = await scoreChangedRows(scores, synthetic, data.labelMap, checkers, { guards: spec.guards, device: spec.device, signal, onEvent }));
      await writeScores(scoresFile, scores);
      await context.onScored?.(scores, synthetic, scoresFile);
      scored = true;
    } else if (!scores || !sameLabels || (missing > 0 && canScore)) {
      const why = !scores ? 'no stored scores' : !sameLabels ? 'the stored scores use other labels' : `${missing} rows changed since scoring`;
      if (!canScore) {
        throw new DimpError('usage', `${spec.loss} training needs quality scores (${why}): name a real dataset ("datasets.real" in dimp.config.json) or a quality model`);
      }
      onEvent?.({ type: 'log', level: 'info', message: `${why}: scoring the synthetic rows first` });
      const checkersDir = spec.checkersDir ?? defaultCheckersDir(scoresFile);
      await checkScoreOutputs({ scoresFile, checkersDir, synthetic: spec.synthetic, real: spec.real, validation: spec.validation, force: spec.force });
      // Checkers and scores are published as one unit (scoreLoadedData): a failure or a cancellation
      // before the commit leaves the old pair and no new folder; after it, the new pair stays.
      scores = await scoreLoadedData(
        {
          qualityModel: spec.qualityModel,
          diversityModel: spec.diversityModel,
          scoresFile,
          checkersDir,
          checkerSettings: spec.checkerSettings,
          checkerEncoder: spec.checkerEncoder,
          maxLength: spec.maxLength,
          embeddingCacheDir: spec.embeddingCacheDir,
          seed: spec.seed,
          guards: spec.guards,
          device: spec.device,
          scoringThreads: spec.scoringThreads,
        },
        { synthetic, real: data.real, validation: data.validation, labelMap: data.labelMap },
        { signal, onEvent },
      );
      await context.onScored?.(scores, synthetic, scoresFile);
      onEvent?.({ type: 'score-progress', stage: 'write', done: scores.rows.length, total: scores.rows.length, message: `scores written to ${scoresFile}` });
      scored = true;
    }
  }

  if (spec.pytorch) {
    const run = await runPytorchTraining({
      synthetic,
      validation: data.validation,
      test: data.test,
      labelMap: data.labelMap,
      loss: spec.loss,
      scoresFile: needsScores ? (spec.scoresFile ?? defaultScoresFile(spec.synthetic.path)) : undefined,
      seed: spec.seed,
      guards: spec.guards,
      filterKeep: spec.loss === 'filter' ? spec.filterKeep : undefined,
      settings: spec.pytorch.settings,
      packageDir: spec.pytorch.packageDir,
      outDir: spec.outDir,
      runName: spec.runName,
      signal,
      onEvent,
    });
    return { ...run, scoresFile: needsScores ? (spec.scoresFile ?? defaultScoresFile(spec.synthetic.path)) : undefined, scored };
  }

  const run = await runTraining({
    synthetic,
    labelMap: data.labelMap,
    loss: spec.loss,
    scores,
    validation: data.validation,
    test: data.test,
    settings: spec.settings,
    encoder: spec.finetune ? undefined : spec.encoder,
    finetune: spec.finetune,
    seed: spec.seed,
    guards: spec.guards,
    device: spec.device,
    outDir: spec.outDir,
    runName: spec.runName,
    filterKeep: spec.filterKeep,
    signal,
    onEvent,
    afterEpoch: context.afterEpoch,
  });
  return { ...run, scoresFile: needsScores ? (spec.scoresFile ?? defaultScoresFile(spec.synthetic.path)) : undefined, scored };
}
