/**
 * Messages between the extension host and the training worker thread. The job itself goes in as the
 * worker's `workerData` (a `TrainingJobSpec`); everything after that is one of these messages.
 */
import type { TrainingJobSpec } from '../core/jobs/trainJobSpec';
import type { CoreEvent } from './events';
import type { TrainingResultInfo } from './trainingPanel';

/** Message type tags between the host and the training worker. */
export const WorkerMessageType = {
  /** Worker → host: a core event of the running job. */
  event: 'dimp.worker.event',
  /** Worker → host: the run folder was written. */
  finished: 'dimp.worker.finished',
  /** Worker → host: the job stopped with an error (or was cancelled); no partial outputs are left. */
  failed: 'dimp.worker.failed',
  /** Host → worker: cancel the job. */
  cancel: 'dimp.worker.cancel',
} as const;

/** What the worker is started with. */
export interface TrainingWorkerData {
  spec: TrainingJobSpec;
  /**
   * When set and the job scores first, the worker records the scores' field mapping and checkers here
   * (`ScoreMeta`), so that the editor's scoring feature loads the scores the job wrote.
   */
  scoreMetaFile?: string;
}

/** Worker → host: one core event. */
export interface WorkerEventMessage {
  type: typeof WorkerMessageType.event;
  event: CoreEvent;
}

/** Worker → host: the job finished. */
export interface WorkerFinishedMessage {
  type: typeof WorkerMessageType.finished;
  result: TrainingResultInfo;
}

/** Why a job stopped: a user-actionable kind, `cancelled`, or `internal` for a bug. */
export type WorkerFailureKind = 'usage' | 'badInput' | 'badModel' | 'diverged' | 'cancelled' | 'internal';

/** Worker → host: the job failed or was cancelled. */
export interface WorkerFailedMessage {
  type: typeof WorkerMessageType.failed;
  kind: WorkerFailureKind;
  message: string;
}

/** Every message the worker sends. */
export type WorkerToHostMessage = WorkerEventMessage | WorkerFinishedMessage | WorkerFailedMessage;

/** Host → worker: cancel. */
export interface WorkerCancelMessage {
  type: typeof WorkerMessageType.cancel;
}

/** Every message the host sends the worker. */
export type HostToWorkerMessage = WorkerCancelMessage;
