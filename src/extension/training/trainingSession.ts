import * as path from 'node:path';
import * as vscode from 'vscode';
import { removeTemporarySiblings, sweepStaleTemporaries } from '../../core/io/atomic';
import { sweepJobTemporaries, type TrainingJobSpec } from '../../core/jobs/trainJobSpec';
import { listRuns } from '../../core/train/runHistory';
import { startWorkerJob, WorkerJobError, type FailureKind, type WorkerJob } from '../../core/runtime/workerJob';
import type { CoreEvent } from '../../protocol/events';
import type { TrainingWorkerData } from '../../protocol/trainingJob';
import { JobUpdateType, type RunRow, type TrainingJobInfo, type TrainingPanelState, type TrainingResultInfo, type TrainingUpdate } from '../../protocol/trainingPanel';
import { applyTrainingUpdate, emptyTrainingState, isActivePhase } from '../../protocol/trainingState';
import { replayFinishedRun } from './runReplay';

/** How a job ended. */
export type TrainingOutcome =
  | { kind: 'finished'; result: TrainingResultInfo }
  | { kind: 'cancelled' }
  | { kind: 'failed'; failure: FailureKind; message: string };

/** How long a cancelled worker gets to clean up before it is terminated and its temporaries swept. */
const CANCEL_GRACE_MS = 10_000;

/** Earlier runs shown in the comparison table. */
const HISTORY_LIMIT = 30;

interface ActiveJob {
  info: TrainingJobInfo;
  spec: TrainingJobSpec;
  worker: WorkerJob<TrainingResultInfo>;
  done: Promise<TrainingOutcome>;
}

/**
 * Runs one training job at a time in a worker thread and keeps the panel's state. Every update (core
 * events from the worker, job start and end) is applied to that state and fired, so the panel, the task
 * terminal and the status bar all see the same sequence.
 */
export class TrainingSession implements vscode.Disposable {
  private state: TrainingPanelState = emptyTrainingState();
  private active: ActiveJob | undefined;
  private readonly updates = new vscode.EventEmitter<{ jobId: string | undefined; update: TrainingUpdate }>();

  /** Fires on every update, with the id of the job it belongs to. */
  readonly onDidUpdate = this.updates.event;

  constructor(private readonly workerScript: string) {}

  /** The panel's state now (the live object: read it, do not keep it). */
  get currentState(): TrainingPanelState {
    return this.state;
  }

  /** The running job, if any. */
  get runningJob(): TrainingJobInfo | undefined {
    return this.active?.info;
  }

  /**
   * Takes the state a revived panel saved before a window reload. A job it shows as running either
   * finished before the reload (its run folder is whole: the state is rebuilt from it, since the page may
   * have saved its state before the end) or died with the old extension host: then it is marked
   * interrupted and the temporaries it may have left are swept.
   */
  async adoptSavedState(saved: TrainingPanelState): Promise<void> {
    if (this.active || this.state.job || saved.version !== 1) return;
    this.state = saved;
    if (isActivePhase(saved.phase) && saved.job) {
      const replayed = await replayFinishedRun(saved.job, saved.history);
      if (replayed) {
        this.state = replayed;
      } else {
        this.state.phase = 'interrupted';
        this.state.message = 'The window was reloaded during this run, which stopped it; it left no outputs. Run it again to train.';
        for (const output of saved.job.outputs) {
          await removeTemporarySiblings(output);
          // Inside an output folder too (the checkers folder stages each new generation there).
          await sweepStaleTemporaries(output);
        }
      }
    }
    await this.refreshHistory();
  }

  /**
   * Starts a job; rejects when one is already running. Resolves when the job has ended. With
   * `scoreMetaFile`, scores the job computes first are recorded for the editor's scoring feature.
   */
  run(spec: TrainingJobSpec, info: TrainingJobInfo, scoreMetaFile?: string): Promise<TrainingOutcome> {
    if (this.active) return Promise.reject(new Error(`a training run is in progress (${this.active.info.loss} on ${this.active.info.syntheticFile}): cancel it first`));
    this.emit(info.jobId, { type: JobUpdateType.started, job: info });
    void this.refreshHistory();
    const worker = startWorkerJob<TrainingWorkerData, CoreEvent, TrainingResultInfo>(
      this.workerScript,
      { spec, scoreMetaFile },
      {
        name: 'the training worker',
        graceMs: CANCEL_GRACE_MS,
        onEvent: (event) => this.emit(info.jobId, event),
        onKilled: () => sweepJobTemporaries(spec),
      },
    );
    const done = worker.done.then(
      (result): TrainingOutcome => ({ kind: 'finished', result }),
      (error: unknown): TrainingOutcome => {
        const failure = error instanceof WorkerJobError ? error.kind : 'internal';
        return failure === 'cancelled' ? { kind: 'cancelled' } : { kind: 'failed', failure, message: error instanceof Error ? error.message : String(error) };
      },
    );
    const job: ActiveJob = { info, spec, worker, done };
    this.active = job;
    const ended = done.then(async (outcome) => {
      if (outcome.kind === 'finished') this.emit(info.jobId, { type: JobUpdateType.finished, result: outcome.result });
      else if (outcome.kind === 'cancelled') this.emit(info.jobId, { type: JobUpdateType.cancelled });
      else this.emit(info.jobId, { type: JobUpdateType.failed, message: outcome.message });
      this.active = undefined;
      await this.refreshHistory();
      return outcome;
    });
    return ended;
  }

  /**
   * Cancels the running job (or only the one with `jobId`): the worker aborts the core's signal, which
   * removes partial outputs; a worker that does not stop in time is terminated and its temporaries swept.
   * Returns false when nothing was running.
   */
  cancel(jobId?: string): boolean {
    const job = this.active;
    if (!job || (jobId !== undefined && job.info.jobId !== jobId)) return false;
    job.worker.cancel();
    return true;
  }

  /** Cancels a running job and waits (a bounded time) for it to end; for deactivation. */
  async shutdown(timeoutMs = 4000): Promise<void> {
    const job = this.active;
    if (!job) return;
    this.cancel();
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs));
    await Promise.race([job.done.then(() => undefined), timeout]);
    if (this.active === job) await job.worker.terminate();
  }

  /** Re-reads the earlier runs on the current job's synthetic file. */
  async refreshHistory(): Promise<void> {
    const job = this.state.job;
    if (!job) return;
    const runs = await listRuns(path.dirname(job.runDir), { synthetic: job.syntheticFile, limit: HISTORY_LIMIT });
    if (this.state.job?.jobId !== job.jobId) return;
    const history: RunRow[] = runs.map((run) => ({
      runName: run.runName,
      runDir: run.runDir,
      loss: run.loss,
      seed: run.seed,
      epochs: run.epochs,
      bestEpoch: run.bestEpoch,
      validation: run.validation,
      test: run.test,
      createdAt: run.createdAt,
    }));
    this.emit(job.jobId, { type: JobUpdateType.history, history });
  }

  /** True when `runDir` is one the panel was shown (so a link from the webview is one we sent). */
  knowsRunFolder(runDir: string): boolean {
    return this.state.result?.runDir === runDir || this.state.history.some((run) => run.runDir === runDir);
  }

  private emit(jobId: string | undefined, update: TrainingUpdate): void {
    applyTrainingUpdate(this.state, update);
    this.updates.fire({ jobId, update });
  }

  dispose(): void {
    const job = this.active;
    if (job) void job.worker.terminate();
    this.updates.dispose();
  }
}
