import { Worker } from 'node:worker_threads';
import type { LogEvent, ScoreProgressEvent } from '../../protocol/events';
import { ScoringMessage, type HostToWorkerMessage, type ScoringDoneMessage, type ScoringJob, type WorkerToHostMessage } from '../../protocol/scoring';

/** A job that failed in the worker; `kind` is a `DimpErrorKind` (`cancelled`, `badInput`, …) or `internal`. */
export class ScoringJobError extends Error {
  constructor(
    readonly kind: string,
    message: string,
  ) {
    super(message);
    this.name = 'ScoringJobError';
  }
}

/** A running job. */
export interface RunningJob {
  /** Resolves with the worker's `done` message; rejects with a `ScoringJobError`. */
  readonly done: Promise<ScoringDoneMessage>;
  /** Asks the worker to stop; it is terminated if it has not stopped within a few seconds. */
  cancel(): void;
}

/** Where a job's events go. */
export interface JobListener {
  onProgress?: (event: ScoreProgressEvent) => void;
  onLog?: (event: LogEvent) => void;
}

const CANCEL_GRACE_MS = 5000;

/** Starts one worker thread for one job. The extension host's thread only receives messages. */
export function startScoringJob(workerFile: string, job: ScoringJob, listener: JobListener = {}): RunningJob {
  const worker = new Worker(workerFile, { workerData: job });
  let settled = false;
  let killTimer: NodeJS.Timeout | undefined;
  const done = new Promise<ScoringDoneMessage>((resolve, reject) => {
    const finish = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(killTimer);
      outcome();
      void worker.terminate();
    };
    worker.on('message', (message: WorkerToHostMessage) => {
      switch (message.type) {
        case ScoringMessage.progress:
          listener.onProgress?.(message.event);
          break;
        case ScoringMessage.log:
          listener.onLog?.(message.event);
          break;
        case ScoringMessage.done:
          finish(() => resolve(message));
          break;
        case ScoringMessage.failed:
          finish(() => reject(new ScoringJobError(message.kind, message.message)));
          break;
      }
    });
    worker.on('error', (error) => finish(() => reject(new ScoringJobError('internal', error.stack ?? error.message))));
    worker.on('exit', (code) => finish(() => reject(new ScoringJobError(killTimer ? 'cancelled' : 'internal', killTimer ? 'cancelled' : `the scoring worker exited (code ${code}) without a result`))));
  });
  return {
    done,
    cancel() {
      if (settled || killTimer) return;
      const message: HostToWorkerMessage = { type: ScoringMessage.cancel };
      worker.postMessage(message);
      killTimer = setTimeout(() => void worker.terminate(), CANCEL_GRACE_MS);
    },
  };
}
