/**
 * What the extension host starts the training worker with. Events, the result and cancellation travel as
 * the worker-job primitive's messages (core/runtime/workerJob.ts): events are `CoreEvent`s, the result a
 * `TrainingResultInfo`.
 */
import type { TrainingJobSpec } from '../core/jobs/trainJobSpec';

/** What the worker is started with. */
export interface TrainingWorkerData {
  spec: TrainingJobSpec;
  /**
   * When set and the job scores first, the worker records the scores' field mapping and checkers here
   * (`ScoreMeta`), so that the editor's scoring feature loads the scores the job wrote.
   */
  scoreMetaFile?: string;
}
