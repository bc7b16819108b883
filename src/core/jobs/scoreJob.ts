/**
 * The score job: the one way a synthetic file gets scored, whoever asks (the CLI's `score`, Score
 * Synthetic Data in the editor's scoring worker, a training job that scores first, `npm run eval`).
 * It reads the files through one label map, trains or loads the checkers (their epochs chosen on the
 * validation rows, else on a held-out third of the real rows), scores every row and writes the scores file.
 */
import type { EventSink } from '../events';
import type { Dataset } from '../data/dataset';
import type { LabelMap } from '../data/labels';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DimpError, throwIfCancelled } from '../errors';
import { outputTarget, sweepStaleTemporaries, syncDirectory, syncTree, trackTemporary, writeError } from '../io/atomic';
import { checkOutputPath } from '../io/outputPaths';
import { pausePoint } from '../io/pausePoint';
import { refuseToOverwriteInputs, refuseToReplaceForeignFile } from '../io/inputSafety';
import { loadProjectData, type DatasetSource } from '../pipeline';
import type { DeviceChoice } from '../runtime/onnxRuntime';
import type { EncoderHeadSettings } from '../train/encoderHeadTraining';
import type { NgramSettings } from '../train/ngramTraining';
import { readScoresHeader, writeScores, type Scores, type ScoresHeader } from '../weighting/score';
import { stageCheckersAndScore } from './checkers';
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
  /** Worker threads of the built-in checkers' scoring pass (1: the job's own thread); absent or 0: one per 40,000 rows, at most one per core. */
  scoringThreads?: number;
}

/** What a score job produced. */
export interface ScoreJobResult {
  scores: Scores;
  synthetic: Dataset;
  /** Where the label map came from, for the user. */
  labelSource: string;
  scoresFile: string;
}

/**
 * Refuses outputs that would land on an input, or replace a file that is not a scores file, and outputs
 * that cannot be written (a `cannotWrite` error naming the path): all before any work.
 */
export async function checkScoreOutputs(spec: Pick<ScoreJobSpec, 'scoresFile' | 'checkersDir' | 'synthetic' | 'real' | 'validation' | 'force'>): Promise<void> {
  const inputs = [
    { path: spec.synthetic.path, role: 'synthetic data' },
    spec.real && { path: spec.real.path, role: 'real data' },
    spec.validation && { path: spec.validation.path, role: 'validation data' },
  ];
  await refuseToOverwriteInputs([{ path: spec.scoresFile, role: 'scores file' }, { path: spec.checkersDir, role: 'checkers folder' }], inputs);
  await checkOutputPath(spec.scoresFile, 'scores file', 'file');
  await checkOutputPath(spec.checkersDir, 'checkers folder', 'folder');
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

/** A generation folder's name: `gen-<time in base 36>-<pid>` (the pid says whether its writer may still be running). */
const GENERATION_NAME = /^gen-[0-9a-z]+-(\d+)$/;

function newGenerationName(): string {
  return `gen-${Date.now().toString(36)}-${process.pid}`;
}

/** The generation folders inside a checkers folder that the scores header refers to. */
function referencedEntries(checkersDir: string, header: ScoresHeader): Set<string> {
  const entries = new Set<string>();
  for (const folder of Object.values(header.checkerFolders ?? {})) {
    const relative = path.relative(path.resolve(checkersDir), path.resolve(folder));
    if (relative && !relative.startsWith('..') && !path.isAbsolute(relative)) entries.add(relative.split(path.sep)[0]!);
  }
  return entries;
}

/** Whether another process that may still publish a generation is alive (this process's own earlier ones are superseded). */
function otherProcessAlive(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the checkers no scores file uses: generation folders other than those in `keep` (except those
 * of another process still running, which may be about to publish its own) and, with `legacy`, the
 * `quality/` and `diversity/` folders of the layout before generations.
 */
async function removeUnusedGenerations(checkersDir: string, keep: Set<string>, legacy: boolean): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(checkersDir);
  } catch {
    return;
  }
  for (const name of names) {
    if (keep.has(name)) continue;
    const generation = GENERATION_NAME.exec(name);
    const old = legacy && (name === 'quality' || name === 'diversity');
    if ((generation && !otherProcessAlive(Number(generation[1]))) || old) await fs.rm(path.join(checkersDir, name), { recursive: true, force: true });
  }
}

/**
 * Scores the synthetic rows of data already read (the training job reads its files once for both), and
 * publishes the checkers and the scores file as one unit:
 *
 * 1. the trained checkers are built in a temporary folder inside the checkers folder, flushed, and renamed
 *    to a new generation folder (`<checkers>/gen-…/quality`, `…/diversity`) that nothing refers to yet;
 * 2. the scores file, whose header names that generation (`checkerFolders`), is written to a temporary
 *    file, flushed, and renamed over the old one: this rename is the single commit point;
 * 3. only then are the generations the old scores used removed.
 *
 * A crash at any point leaves the old scores with their old checkers, or the new scores with the new ones;
 * what it leaves besides (a temporary, an unreferenced generation) is removed by the next run.
 */
export async function scoreLoadedData(
  spec: Omit<ScoreJobSpec, 'synthetic' | 'real' | 'validation' | 'labels'>,
  data: { synthetic: Dataset; real?: Dataset; validation?: Dataset; labelMap: LabelMap },
  context: { signal?: AbortSignal; onEvent?: EventSink } = {},
): Promise<Scores> {
  await checkOutputPath(spec.scoresFile, 'scores file', 'file');
  await checkOutputPath(spec.checkersDir, 'checkers folder', 'folder');
  const checkersDir = await outputTarget(spec.checkersDir);
  await sweepStaleOutputs([spec.scoresFile], [checkersDir]);
  // Generations a killed run renamed into place but never committed: unused by the current scores file.
  const current = await readScoresHeader(spec.scoresFile);
  if (current) await removeUnusedGenerations(checkersDir, referencedEntries(checkersDir, current), false);
  const generation = path.join(checkersDir, newGenerationName());
  const staged = await stageCheckersAndScore(
    {
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
      scoringThreads: spec.scoringThreads,
      signal: context.signal,
      onEvent: context.onEvent,
    },
    generation,
  );
  const { scores } = staged;
  // Until the scores file names it, the generation folder is a temporary (a second Ctrl-C removes it).
  const forgetGeneration = trackTemporary(generation);
  try {
    throwIfCancelled(context.signal);
    if (staged.folder) {
      try {
        await syncTree(staged.folder);
        await pausePoint('score:checkers-staged');
        await fs.rename(staged.folder, generation);
        await syncDirectory(checkersDir);
      } catch (error) {
        throw writeError(error, spec.checkersDir, 'checkers folder');
      }
      await pausePoint('score:generation-renamed');
    }
    await writeScores(spec.scoresFile, scores);
  } catch (error) {
    await fs.rm(generation, { recursive: true, force: true });
    await staged.discard();
    throw error;
  } finally {
    forgetGeneration();
  }
  await staged.discard(); // the staging folder is gone (renamed); parent folders stay, they hold outputs
  await pausePoint('score:committed');
  await removeUnusedGenerations(checkersDir, referencedEntries(checkersDir, scores.header), true);
  return scores;
}

/**
 * Removes what killed processes left where a job is about to write: their temporaries in the outputs'
 * folders and in checkers folders (`.<name>.tmp-<pid>-…`, only when that process is not alive).
 */
export async function sweepStaleOutputs(files: readonly string[], folders: readonly string[]): Promise<void> {
  const dirs = new Set<string>();
  for (const file of files) dirs.add(path.dirname(await outputTarget(file)));
  for (const folder of folders) {
    const target = await outputTarget(folder);
    dirs.add(target);
    dirs.add(path.dirname(target));
  }
  for (const dir of dirs) await sweepStaleTemporaries(dir);
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
