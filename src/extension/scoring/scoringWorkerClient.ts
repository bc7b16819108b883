import type { LogEvent, ScoreProgressEvent } from '../../protocol/events';
import { startWorkerJob, type WorkerJob } from '../../core/runtime/workerJob';
import type { ScoringEvent, ScoringJob, ScoringResult } from '../../protocol/scoring';

/** A running scoring job: `done` rejects with a `WorkerJobError` (kind `cancelled` after `cancel`). */
export type RunningJob = WorkerJob<ScoringResult>;

/** Where a job's events go. */
export interface JobListener {
  onProgress?: (event: ScoreProgressEvent) => void;
  onLog?: (event: LogEvent) => void;
}

/** Starts one worker thread for one job. The extension host's thread only receives messages. */
export function startScoringJob(workerFile: string, job: ScoringJob, listener: JobListener = {}): RunningJob {
  return startWorkerJob<ScoringJob, ScoringEvent, ScoringResult>(workerFile, job, {
    name: 'the scoring worker',
    onEvent: (event) => (event.type === 'log' ? listener.onLog?.(event) : listener.onProgress?.(event)),
  });
}
