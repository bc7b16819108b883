/**
 * One way to run a job in a worker thread, for every job the editor hands to a worker (scoring, training):
 * the host starts the worker with the job as `workerData`; the worker posts events, then exactly one
 * `done` or `failed`; the host may send `cancel`, and terminates a worker that has not stopped within a
 * grace period (then `onKilled` cleans up what the killed thread could not).
 *
 * Message tags follow one convention everywhere: `<channel>/<what>` (`job/event`, `transformer/open`).
 */
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { DimpError, type DimpErrorKind } from '../errors';

/** Why a job stopped: a user-actionable kind (`DimpErrorKind`, `cancelled` included) or `internal` for a bug. */
export type FailureKind = DimpErrorKind | 'internal';

/** Message tags between a job's host and its worker. */
export const JobMessage = {
  /** Worker → host: an event of the running job. */
  event: 'job/event',
  /** Worker → host: the job finished with its result. */
  done: 'job/done',
  /** Worker → host: the job failed or was cancelled; it left no partial outputs. */
  failed: 'job/failed',
  /** Host → worker: stop (answered by `failed` of kind `cancelled`). */
  cancel: 'job/cancel',
} as const;

export interface JobEventMessage<E> {
  type: typeof JobMessage.event;
  event: E;
}

export interface JobDoneMessage<R> {
  type: typeof JobMessage.done;
  result: R;
}

export interface JobFailedMessage {
  type: typeof JobMessage.failed;
  kind: FailureKind;
  message: string;
}

export interface JobCancelMessage {
  type: typeof JobMessage.cancel;
}

/** Every message a job's worker sends. */
export type JobToHostMessage<E, R> = JobEventMessage<E> | JobDoneMessage<R> | JobFailedMessage;

/** A job that failed in its worker (or whose worker died). */
export class WorkerJobError extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
  ) {
    super(message);
    this.name = 'WorkerJobError';
  }
}

/** The failure kind of anything thrown: a `DimpError`'s kind, else `internal`. */
export function failureKindOf(error: unknown): FailureKind {
  return error instanceof DimpError ? error.kind : 'internal';
}

/** A failure as a message: a bug keeps its stack, a user-actionable error only its message. */
export function failedMessage(error: unknown, cancelled: boolean): JobFailedMessage {
  const kind: FailureKind = cancelled ? 'cancelled' : failureKindOf(error);
  const message = error instanceof Error ? (kind === 'internal' && error.stack ? error.stack : error.message) : String(error);
  return { type: JobMessage.failed, kind, message };
}

/** How the host treats one job. */
export interface WorkerJobOptions<E> {
  onEvent?: (event: E) => void;
  /** How long a cancelled worker gets to clean up before it is terminated (default 5 s). */
  graceMs?: number;
  /** After the worker was terminated or died: remove what it may have left half-written. */
  onKilled?: () => Promise<unknown>;
  /** A name for messages ("the scoring worker"). */
  name?: string;
}

/** A job running in a worker thread. */
export interface WorkerJob<R> {
  /** Resolves with the result; rejects with a `WorkerJobError` (kind `cancelled` after `cancel`). */
  readonly done: Promise<R>;
  /** Asks the worker to stop; it is terminated if it has not stopped within the grace period. */
  cancel(): void;
  /** True once `cancel` was called. */
  readonly cancelRequested: boolean;
  /** Ends the worker now (shutdown); `done` rejects as cancelled once `onKilled` has run. */
  terminate(): Promise<void>;
}

/** Starts `script` as a worker thread running one job. */
export function startWorkerJob<D, E, R>(script: string, data: D, options: WorkerJobOptions<E> = {}): WorkerJob<R> {
  const name = options.name ?? 'the worker';
  const worker = new Worker(script, { workerData: data });
  let settled = false;
  let cancelRequested = false;
  let killTimer: NodeJS.Timeout | undefined;
  let resolveDone!: (result: R) => void;
  let rejectDone!: (error: WorkerJobError) => void;
  const done = new Promise<R>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });

  const finish = async (outcome: { result: R } | { error: WorkerJobError }, killed: boolean): Promise<void> => {
    if (settled) return;
    settled = true;
    clearTimeout(killTimer);
    if (killed) {
      await worker.terminate();
      // A thread killed mid-write cannot clean up after itself.
      await options.onKilled?.().catch(() => undefined);
    } else {
      void worker.terminate();
    }
    if ('result' in outcome) resolveDone(outcome.result);
    else rejectDone(outcome.error);
  };

  worker.on('message', (message: JobToHostMessage<E, R>) => {
    if (settled || typeof message !== 'object' || message === null) return;
    switch (message.type) {
      case JobMessage.event:
        options.onEvent?.(message.event);
        break;
      case JobMessage.done:
        void finish({ result: message.result }, false);
        break;
      case JobMessage.failed:
        void finish({ error: new WorkerJobError(message.kind, message.message) }, false);
        break;
    }
  });
  worker.on('error', (error) => void finish({ error: new WorkerJobError('internal', `${name} crashed: ${error.stack ?? error.message}`) }, true));
  worker.on('exit', (code) => {
    const error = cancelRequested ? new WorkerJobError('cancelled', 'cancelled') : new WorkerJobError('internal', `${name} stopped unexpectedly (exit code ${code}) without a result`);
    void finish({ error }, true);
  });

  return {
    done,
    get cancelRequested() {
      return cancelRequested;
    },
    cancel() {
      if (settled || cancelRequested) return;
      cancelRequested = true;
      worker.postMessage({ type: JobMessage.cancel } satisfies JobCancelMessage);
      killTimer = setTimeout(() => void finish({ error: new WorkerJobError('cancelled', 'cancelled') }, true), options.graceMs ?? 5000);
    },
    async terminate() {
      cancelRequested = true;
      await finish({ error: new WorkerJobError('cancelled', 'cancelled') }, true);
    },
  };
}

/** What a job's worker function gets besides its data. */
export interface WorkerJobContext<E> {
  /** Fires when the host cancels; the job removes its partial outputs and throws the cancellation error. */
  signal: AbortSignal;
  emit(event: E): void;
}

/** A job's result, with the buffers to transfer rather than copy. */
export interface WorkerJobResult<R> {
  result: R;
  transfer?: ArrayBuffer[];
}

/**
 * The worker's side: runs `work` on this thread's `workerData`, posts its events, then exactly one `done`
 * or `failed`. A worker entry file is this call and nothing else.
 */
export function serveWorkerJob<D, E, R>(work: (data: D, context: WorkerJobContext<E>) => Promise<WorkerJobResult<R>>): void {
  const port = parentPort;
  if (!port) throw new Error('this script runs as a worker thread, started by startWorkerJob');
  const controller = new AbortController();
  const onMessage = (message: unknown): void => {
    if (typeof message === 'object' && message !== null && (message as { type?: unknown }).type === JobMessage.cancel) controller.abort();
  };
  port.on('message', onMessage);
  const post = (message: JobToHostMessage<E, R>, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);
  const emit = (event: E): void => post({ type: JobMessage.event, event });
  void (async () => {
    try {
      const { result, transfer } = await work(workerData as D, { signal: controller.signal, emit });
      post({ type: JobMessage.done, result }, transfer);
    } catch (error) {
      post(failedMessage(error, controller.signal.aborted));
    } finally {
      port.off('message', onMessage);
    }
  })();
}
