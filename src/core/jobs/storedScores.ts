/**
 * The editor's use cases on stored scores, one function each: score a file into the extension's storage
 * (train or load the checkers, score, store scores, meta and checkers together), rescore the rows changed
 * since (core/jobs/rescore.ts), load stored scores with the last DIMP weights, and export curated copies.
 * The scoring worker (src/worker/scoringWorker.ts) only runs `runScoringJob` in a worker thread; the message
 * types (src/protocol/scoring.ts) are these.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { curateFile, type CurationRule, type CurationSummary } from '../curate';
import { parseJsonlFile, resolveLabels } from '../data/dataset';
import type { FieldMapping } from '../data/fields';
import { LabelMap } from '../data/labels';
import { DimpError } from '../errors';
import type { EventSink, LogEvent, ScoreProgressEvent } from '../events';
import { writeFileAtomic } from '../io/atomic';
import { loadProjectData, type DatasetSource } from '../pipeline';
import type { DeviceChoice } from '../runtime/onnxRuntime';
import type { EncoderHeadSettings } from '../train/encoderHeadTraining';
import { lastDimpWeights } from '../train/lastDimpWeights';
import type { NgramSettings } from '../train/ngramTraining';
import { checkerSummary, checkerWarning, describeChecker as describeCheckerReport, describeLabelBalance, readScores, writeScores, type Scores } from '../weighting/score';
import { ColumnarScores } from '../weighting/scoreColumns';
import { ScoreTable, type ScoreTableColumns } from '../weighting/scoreTable';
import { dominanceWarning, type WeightGuards } from '../weighting/weights';
import { scoreChangedRows, type CheckerFolders } from './rescore';
import { scoreLoadedData } from './scoreJob';

/** Where the extension keeps one synthetic file's scores (inside its storage folder). */
export interface ScoreStorage {
  /** The scores file, in the CLI's format (a header line, then one row per line keyed by row id). */
  scoresFile: string;
  /**
   * The trained checkers (one folder per scoring, holding the generation the core publishes with the scores;
   * the scores header's `checkerFolders` names the current one, as the meta file does), reused to rescore changed rows.
   */
  checkersDir: string;
  /** Field mapping and provenance of the scores (`ScoreMeta`). */
  metaFile: string;
}

/** What the extension records next to a scores file. */
export interface ScoreMeta {
  synthetic: string;
  fields: FieldMapping;
  /** Model folders of the checkers used (trained ones are inside the storage folder). */
  qualityModel: string;
  diversityModel: string;
}

/** Score a whole synthetic file: train (or load) the checkers, score every row, store the scores. */
export interface ScoreJob {
  kind: 'score';
  synthetic: DatasetSource;
  real: DatasetSource | undefined;
  /** Real rows that choose the checkers' epochs (the config's validation set); absent: a third of `real`. */
  validation?: DatasetSource;
  qualityModel: string | undefined;
  diversityModel: string | undefined;
  labels: string[] | undefined;
  checkerSettings: NgramSettings;
  /** Train the checkers as heads on this frozen transformer encoder (the config's `encoder`), as the CLI does. */
  checkerEncoder?: EncoderHeadSettings;
  seed: number;
  guards: WeightGuards;
  device: DeviceChoice;
  /** Worker threads of the built-in checkers' scoring pass (the config's `scoringThreads`); absent: the default. */
  scoringThreads?: number;
  storage: ScoreStorage;
  /** Where training runs are written, searched for the last DIMP weights. */
  runsDir: string | undefined;
}

/** Score only the rows of a saved file that have no score yet, with the stored checkers. */
export interface RescoreJob {
  kind: 'rescore';
  synthetic: string;
  guards: WeightGuards;
  device: DeviceChoice;
  storage: ScoreStorage;
  runsDir: string | undefined;
}

/** Load stored scores (and the last DIMP weights) into a table. */
export interface LoadJob {
  kind: 'load';
  synthetic: string;
  storage: ScoreStorage;
  runsDir: string | undefined;
}

/** Write curated and rejected copies of a synthetic file from its stored scores. */
export interface ExportJob {
  kind: 'export';
  synthetic: string;
  storage: ScoreStorage;
  rule: CurationRule;
  curated: string;
  rejected: string;
  /** Row ids marked as reviewed in the editor: always kept (see `curateFile`). */
  alwaysKeep?: string[];
}

/** Any job the worker runs. */
export type ScoringJob = ScoreJob | RescoreJob | LoadJob | ExportJob;

/** What a score, rescore or load job produces: the table (transferred, not copied) and its provenance. */
export interface ScoredFile {
  table: ScoreTableColumns;
  fields: FieldMapping;
  qualityChecker: string;
  diversityChecker: string;
  provider: string;
  /** The run folder the DIMP weights come from, if any. */
  dimpRun: string | undefined;
  /** Rows scored by this job (all of them for `score` and `load`, the new ones for `rescore`). */
  scoredRows: number;
  /** Lines of the file that could not be used. */
  unusableLines: number;
  /** Where the label names came from (settings, a model's id2label, inferred from the data); score jobs only. */
  labelSource?: string;
  /** How the quality checker did on the rows that chose its epoch, for people (absent for given models). */
  qualityCheckerReport?: string;
  /** The same in a few words (accuracy beside the majority-class rate), for headers and notifications. */
  qualityCheckerSummary?: string;
  /** Plain warnings about the checkers or the weights (near chance, a few rows dominate). */
  warnings?: string[];
  /** The quality checker is near chance on the rows that chose it: its "likely mislabelled" flags are off. */
  qualityCheckerNearChance?: boolean;
}

/** What a scoring job's worker reports while it runs. */
export type ScoringEvent = ScoreProgressEvent | LogEvent;

/** What a job produces: `scored` for score, rescore and load jobs, `curation` for an export. */
export interface ScoringResult {
  scored?: ScoredFile;
  curation?: CurationSummary;
}

/** A job's cancellation signal and event sink. */
export interface StoredScoresContext {
  signal: AbortSignal;
  onEvent: EventSink;
}

async function readMeta(file: string): Promise<ScoreMeta> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as ScoreMeta;
  } catch {
    throw new DimpError('badInput', 'no stored scores for this file; run DIMP: Score Synthetic Data first', { file });
  }
}

/**
 * A checker's description for hovers: a checker trained into the extension's storage is described by what
 * it was trained on rather than by its (long, internal) folder.
 */
function describeChecker(description: string, storage: ScoreStorage, trainedOn: string | undefined): string {
  const marker = ` at ${storage.checkersDir}`;
  const at = description.indexOf(marker);
  return at >= 0 && trainedOn ? `${description.slice(0, at)}, trained on ${path.basename(trainedOn)}` : description;
}

/** Builds the table of `scores` with the last DIMP run's weights, ready to transfer. */
async function scoredFile(scores: Scores, meta: ScoreMeta, storage: ScoreStorage, runsDir: string | undefined, scoredRows: number, unusableLines: number): Promise<ScoredFile> {
  const dimp = runsDir ? await lastDimpWeights(runsDir, meta.synthetic) : undefined;
  // A score job's scores are columns: the table is built from them without an object per row.
  const table = scores instanceof ColumnarScores ? ScoreTable.fromScoreColumns(scores.columns, dimp?.weights) : ScoreTable.fromScores(scores.rows, scores.header.labels, dimp?.weights);
  return {
    table: table.columns,
    fields: meta.fields,
    qualityChecker: describeChecker(scores.header.qualityChecker, storage, scores.header.real),
    ...(scores.header.checkers?.quality
      ? {
          qualityCheckerReport: [
            describeCheckerReport(scores.header.checkers.quality, scores.header.checkers),
            scores.header.checkers.labelBalance && describeLabelBalance(scores.header.checkers.labelBalance, scores.header.labels),
          ]
            .filter(Boolean)
            .join(' · '),
          qualityCheckerSummary: checkerSummary(scores.header.checkers.quality),
        }
      : {}),
    warnings: [checkerWarning(scores.header.checkers?.quality, scores.header.checkers?.settings), scores.header.diagnostics && dominanceWarning(scores.header.diagnostics)].filter((w): w is string => w !== undefined),
    qualityCheckerNearChance: checkerWarning(scores.header.checkers?.quality, scores.header.checkers?.settings) !== undefined,
    diversityChecker: describeChecker(scores.header.diversityChecker, storage, scores.header.synthetic),
    provider: scores.header.provider,
    dimpRun: dimp && path.basename(dimp.runDir),
    scoredRows,
    unusableLines,
  };
}

export async function scoreIntoStorage(job: ScoreJob, { signal, onEvent }: StoredScoresContext): Promise<ScoredFile> {
  const data = await loadProjectData(
    { synthetic: job.synthetic, real: job.real, validation: job.validation },
    { labels: job.labels, qualityModel: job.qualityModel, signal, onEvent },
  );
  onEvent({ type: 'log', level: 'info', message: `labels (${data.labelSource}): ${data.labelMap.names.join(', ')}` });
  const synthetic = data.synthetic!;
  // Checkers go to a folder of their own, so the stored scores keep theirs until this scoring is stored
  // (the core replaces a checker folder as soon as that checker is trained).
  const checkersDir = path.join(job.storage.checkersDir, Date.now().toString(36));
  let scores: Scores;
  try {
    scores = await scoreLoadedData(
      { qualityModel: job.qualityModel, diversityModel: job.diversityModel, scoresFile: job.storage.scoresFile, checkersDir, checkerSettings: job.checkerSettings, checkerEncoder: job.checkerEncoder, seed: job.seed, guards: job.guards, device: job.device, scoringThreads: job.scoringThreads },
      { synthetic, real: data.real, validation: data.validation, labelMap: data.labelMap },
      { signal, onEvent },
    );
  } catch (error) {
    await fs.rm(checkersDir, { recursive: true, force: true });
    throw error;
  }
  onEvent({ type: 'score-progress', stage: 'write', done: 0, total: scores.rows.length, message: 'storing scores' });
  const meta: ScoreMeta = {
    synthetic: path.resolve(job.synthetic.path),
    fields: synthetic.fields,
    // The scores header names the checkers published with them (a generation folder inside checkersDir).
    qualityModel: scores.header.checkerFolders?.quality ?? job.qualityModel ?? path.join(checkersDir, 'quality'),
    diversityModel: scores.header.checkerFolders?.diversity ?? job.diversityModel ?? path.join(checkersDir, 'diversity'),
  };
  await writeFileAtomic(job.storage.metaFile, JSON.stringify(meta, null, 2) + '\n');
  // The meta file now names the new checkers; earlier ones are no longer used.
  for (const entry of await fs.readdir(job.storage.checkersDir).catch(() => [])) {
    if (entry !== path.basename(checkersDir)) await fs.rm(path.join(job.storage.checkersDir, entry), { recursive: true, force: true });
  }
  return { ...(await scoredFile(scores, meta, job.storage, job.runsDir, scores.rows.length, synthetic.problems.length)), labelSource: data.labelSource };
}

/**
 * The checkers the stored scores were published with: the scores file is the commit point, and the meta
 * file, written after it, may still name the previous ones after a crash.
 */
function checkersOfStoredScores(stored: Scores, meta: ScoreMeta): CheckerFolders {
  return { quality: stored.header.checkerFolders?.quality ?? meta.qualityModel, diversity: stored.header.checkerFolders?.diversity ?? meta.diversityModel };
}

/** Scores the rows of the saved file that have no score, with the stored checkers (core/jobs/rescore.ts). */
export async function rescoreStorage(job: RescoreJob, { signal, onEvent }: StoredScoresContext): Promise<ScoredFile> {
  const meta = await readMeta(job.storage.metaFile);
  const stored = await readScores(job.storage.scoresFile);
  const labelMap = new LabelMap(stored.header.labels);
  const dataset = resolveLabels(await parseJsonlFile(job.synthetic, { fields: meta.fields, signal }), labelMap);
  const { scores, scored } = await scoreChangedRows(stored, dataset, labelMap, checkersOfStoredScores(stored, meta), { guards: job.guards, device: job.device, signal, onEvent });
  await writeScores(job.storage.scoresFile, scores);
  return scoredFile(scores, meta, job.storage, job.runsDir, scored, dataset.problems.length);
}

export async function loadFromStorage(job: LoadJob): Promise<ScoredFile> {
  const meta = await readMeta(job.storage.metaFile);
  const scores = await readScores(job.storage.scoresFile);
  return scoredFile(scores, meta, job.storage, job.runsDir, scores.rows.length, 0);
}

export async function exportFromStorage(job: ExportJob, { signal }: StoredScoresContext): Promise<ScoringResult> {
  const meta = await readMeta(job.storage.metaFile);
  const scores = await readScores(job.storage.scoresFile);
  const curation = await curateFile(job.synthetic, scores, job.rule, { curated: job.curated, rejected: job.rejected, overwrite: true }, { fields: meta.fields, signal, alwaysKeep: new Set(job.alwaysKeep ?? []) });
  return { curation };
}

/** Runs one job of the scoring worker. */
export async function runScoringJob(job: ScoringJob, context: StoredScoresContext): Promise<ScoringResult> {
  switch (job.kind) {
    case 'export':
      return exportFromStorage(job, context);
    case 'score':
      return { scored: await scoreIntoStorage(job, context) };
    case 'rescore':
      return { scored: await rescoreStorage(job, context) };
    case 'load':
      return { scored: await loadFromStorage(job) };
  }
}
