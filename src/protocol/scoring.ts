/**
 * Messages between the extension host and the scoring worker (a worker thread running the core, bundled as
 * `dist/scoringWorker.js`), run with the worker-job primitive (core/runtime/workerJob.ts): the job goes in as
 * `workerData`, `ScoringEvent`s come back, then one `ScoringResult` or a failure. The types are the core's
 * (core/jobs/storedScores.ts), where the jobs themselves live.
 */
export type {
  ExportJob,
  LoadJob,
  RescoreJob,
  ScoredFile,
  ScoreJob,
  ScoreMeta,
  ScoreStorage,
  ScoringEvent,
  ScoringJob,
  ScoringResult,
} from '../core/jobs/storedScores';
