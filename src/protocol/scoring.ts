/**
 * Messages between the extension host and the scoring worker (a worker thread running the core, bundled as
 * `dist/scoringWorker.js`), run with the worker-job primitive (core/runtime/workerJob.ts): the job goes in as
 * `workerData`, `ScoringEvent`s come back, then one `ScoringResult` or a failure.
 */
import type { CurationRule, CurationSummary } from '../core/curate';
import type { FieldMapping } from '../core/data/fields';
import type { DatasetSource } from '../core/pipeline';
import type { DeviceChoice } from '../core/runtime/onnxRuntime';
import type { EncoderHeadSettings } from '../core/train/encoderHeadTraining';
import type { NgramSettings } from '../core/train/ngramTraining';
import type { ScoreTableColumns } from '../core/weighting/scoreTable';
import type { WeightGuards } from '../core/weighting/weights';
import type { LogEvent, ScoreProgressEvent } from './events';

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
  /** Plain warnings about the checkers or the weights (near chance, a few rows dominate). */
  warnings?: string[];
}

/** What a scoring job's worker reports while it runs. */
export type ScoringEvent = ScoreProgressEvent | LogEvent;

/** What a job produces: `scored` for score, rescore and load jobs, `curation` for an export. */
export interface ScoringResult {
  scored?: ScoredFile;
  curation?: CurationSummary;
}
