/**
 * Hogwild training of the built-in model on several threads (Recht et al. 2011; fastText's `-thread`): the
 * embedding table, its Adam moments and the output layer live in shared memory, and each worker thread claims
 * the epoch's next batch and steps them without locks. Updates from different threads may interleave, so a
 * run is not reproducible bit for bit; the deterministic mode runs the same threads one batch at a time in
 * order (the single thread's model bit for bit, with the default initialisation; the epochs' loss sums are added
 * in another order): what the tests check the plumbing with. The trainer's thread shuffles,
 * evaluates between epochs and reports progress; the workers never allocate (every row the training rows need
 * is allocated before they start).
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { DimpError, throwIfCancelled, type DimpErrorKind } from '../errors';
import type { FeatureMatrix } from '../model/featurizer';
import { NgramClassifier } from '../model/ngramClassifier';
import { kernelModule } from '../model/wasmKernels';
import { deriveSeed } from '../random';
import { HogwildControl, HogwildMessage, PROGRESS_FIELDS, type HogwildReply, type HogwildRun, type HogwildWorkerData } from './hogwildMessages';

/** The worker script sits next to this module (out/src/core/train/) and next to the bundles (dist/). */
export const HOGWILD_WORKER_SCRIPT = path.join(__dirname, 'hogwildWorker.js');

/** The most scratch memory a thread's region gets (a batch that needs more takes the scalar kernels for that step). */
const SCRATCH_CAP = 64 * 2 ** 20;

/** Workers started and not yet ended (tests check that every run, however it ends, leaves none behind). */
const live = new Set<Worker>();
let started = 0;
export function liveTrainingThreads(): number {
  return live.size;
}
/** Workers started in this process so far (tests check that a run did use them). */
export function startedTrainingThreads(): number {
  return started;
}

/** What a Hogwild run is asked for. */
export interface HogwildRequest {
  /** Worker threads that train (2 or more to be worth it). */
  threads: number;
  /** One batch at a time in order: the single thread's model, bit for bit (slower than one thread; for tests). */
  deterministic?: boolean;
}

/** Training threads for `threads` as a user gives it: 'auto' is one per core. */
export function resolveTrainingThreads(threads: number | 'auto' | undefined): number {
  if (threads === 'auto') return Math.max(1, os.availableParallelism());
  return Math.max(1, Math.floor(threads ?? 1));
}

/** Why this model and recipe cannot train on Hogwild threads (null: they can). */
export function hogwildBlocker(model: unknown, recipe: { optimizer: string; weightDecay?: number; maxGradNorm: number | null }): string | null {
  if (!(model instanceof NgramClassifier)) return 'only the built-in n-gram model trains on several threads';
  if (recipe.optimizer !== 'adam') return 'several training threads need the Adam optimizer (lazy on the embedding rows)';
  if ((recipe.weightDecay ?? 0) !== 0) return 'several training threads do not support weight decay';
  if (recipe.maxGradNorm !== null) return 'several training threads do not support gradient clipping (it needs the whole batch\'s norm)';
  if (model.kernels !== 'wasm') return 'several training threads need the WebAssembly kernels (this runtime or this model has none)';
  return null;
}

/** The most occurrences `count` rows of `features` can hold: the sum of the `count` longest. */
function mostOccurrences(features: FeatureMatrix, count: number): number {
  const lengths = new Int32Array(features.count);
  for (let i = 0; i < features.count; i++) lengths[i] = features.offsets[i + 1]! - features.offsets[i]!;
  lengths.sort();
  let total = 0;
  for (let i = lengths.length - 1; i >= Math.max(0, lengths.length - count); i--) total += lengths[i]!;
  return total;
}

/** The most occurrences any evaluation batch of `batchSize` consecutive rows holds. */
function mostEvaluationOccurrences(features: FeatureMatrix, batchSize: number): number {
  let most = 0;
  for (let start = 0; start < features.count; start += batchSize) {
    const end = Math.min(features.count, start + batchSize);
    most = Math.max(most, features.offsets[end]! - features.offsets[start]!);
  }
  return most;
}

function sharedCopy<T extends Int32Array | Float32Array>(array: T): T {
  const copy = new (array.constructor as new (buffer: SharedArrayBuffer) => T)(new SharedArrayBuffer(array.length * array.BYTES_PER_ELEMENT));
  copy.set(array as never);
  return copy;
}

/** A team of Hogwild workers over one model, started for one training run. */
export class HogwildTeam {
  /** Each training row's weight at its last step (shared with the workers). */
  readonly lastWeights: Float32Array;
  private finished = false;

  private constructor(
    private readonly model: NgramClassifier,
    private readonly workers: Worker[],
    private readonly control: Int32Array,
    private readonly progress: Float64Array,
    private readonly order: Int32Array,
    lastWeights: Float32Array,
    private readonly deterministic: boolean,
  ) {
    this.lastWeights = lastWeights;
  }

  /**
   * Allocates every row the training rows need, moves the model into shared memory and starts the workers,
   * resolving once each has built its replica (so that starting threads is not counted in the first epoch).
   * A reason, the model unchanged, where the memory cannot be shared; a thread that fails to start rejects
   * (the model back in its own memory, no thread left).
   */
  static async start(
    model: NgramClassifier,
    train: { features: FeatureMatrix; labels: Int32Array; count: number; quality?: Float32Array; diversity?: Float32Array },
    evaluation: FeatureMatrix[],
    run: HogwildRun,
    request: HogwildRequest,
    seed: number,
  ): Promise<{ team: HogwildTeam } | { reason: string }> {
    const threads = Math.max(1, Math.floor(request.threads));
    // Each worker's scratch holds a training step's layouts for the longest batch (the trainer's thread, region
    // 0, only evaluates: forward passes over 512 rows), at most SCRATCH_CAP: a rarer batch that needs more takes
    // the scalar kernels over the same shared views for that step (the same arithmetic).
    const training = Math.min(SCRATCH_CAP, model.scratchBytesFor(mostOccurrences(train.features, run.batchSize), run.batchSize));
    const evaluating = Math.min(SCRATCH_CAP, Math.max(4096, ...evaluation.map((f) => model.scratchBytesFor(mostEvaluationOccurrences(f, 512), 512, true))));
    const shared = model.share(train.features.ids, [evaluating, ...new Array<number>(threads).fill(training)]);
    if ('reason' in shared) return shared;
    const control = new Int32Array(new SharedArrayBuffer(HogwildControl.length * 4));
    control[HogwildControl.dropout] = model.dropoutState;
    const progress = new Float64Array(new SharedArrayBuffer(threads * PROGRESS_FIELDS * 8));
    const order = new Int32Array(new SharedArrayBuffer(train.count * 4));
    const lastWeights = new Float32Array(new SharedArrayBuffer(train.count * 4)).fill(1);
    // The workers share one matrix of ~rows (every row exists now): no row cache per thread.
    const ids = sharedCopy(train.features.ids);
    model.mapTrainingIds(ids);
    const rows = {
      ids,
      offsets: sharedCopy(train.features.offsets),
      labels: sharedCopy(train.labels),
      quality: train.quality && sharedCopy(train.quality),
      diversity: train.diversity && sharedCopy(train.diversity),
    };
    const workers: Worker[] = [];
    const team = new HogwildTeam(model, workers, control, progress, order, lastWeights, request.deterministic ?? false);
    try {
      for (let thread = 1; thread <= threads; thread++) {
        const workerData: HogwildWorkerData = {
          model: shared.state,
          kernels: kernelModule(true),
          thread,
          seed: deriveSeed(seed, `hogwild-dropout-${thread}`),
          deterministic: request.deterministic ?? false,
          run,
          ...rows,
          order,
          control,
          progress,
          lastWeights,
        };
        const worker = new Worker(HOGWILD_WORKER_SCRIPT, { workerData });
        live.add(worker);
        started++;
        worker.once('exit', () => live.delete(worker));
        workers.push(worker);
      }
      const replies = await Promise.all(workers.map((worker) => team.reply(worker)));
      const failed = replies.find((r) => r.type !== HogwildMessage.ready);
      if (failed) throw new Error(`a training thread did not start: ${failed.type === HogwildMessage.failed ? failed.message : failed.type}`);
    } catch (error) {
      await team.close();
      throw error;
    }
    return { team };
  }

  get threads(): number {
    return this.workers.length;
  }

  /**
   * Runs one epoch over `order` (the rows in this epoch's order) on every worker. `onProgress` is called about
   * every `intervalMs` and once at the end with the batches done so far and the objectives summed over the
   * batches since the last call (the caller throttles what it reports over the whole run); `signal` stops the
   * workers before their next batch (then this rejects with the cancellation, as it does when it was already
   * aborted). An error thrown by `onProgress` stops the epoch and is what this rejects with.
   */
  async runEpoch(
    epoch: number,
    order: Int32Array,
    options: { signal?: AbortSignal; intervalMs?: number; onProgress?: (batchesDone: number, objectiveSum: number, batches: number) => void } = {},
  ): Promise<{ objective: number; crossEntropy: number }> {
    const { control, progress } = this;
    throwIfCancelled(options.signal);
    this.order.set(order);
    Atomics.store(control, HogwildControl.cursor, 0);
    Atomics.store(control, HogwildControl.done, 0);
    Atomics.store(control, HogwildControl.turn, 0);
    progress.fill(0);
    let seenLoss = 0;
    let seenBatches = 0;
    let progressError: unknown;
    const cancel = (): void => {
      Atomics.store(control, HogwildControl.cancel, 1);
      Atomics.notify(control, HogwildControl.turn);
    };
    const poll = (): void => {
      if (progressError !== undefined) return;
      let loss = 0;
      let batches = 0;
      for (let t = 0; t < this.workers.length; t++) {
        loss += progress[t * PROGRESS_FIELDS + 2]!;
        batches += progress[t * PROGRESS_FIELDS + 3]!;
      }
      if (batches <= seenBatches) return;
      try {
        options.onProgress?.(Atomics.load(control, HogwildControl.done), loss - seenLoss, batches - seenBatches);
      } catch (error) {
        progressError = error;
        cancel();
      }
      seenLoss = loss;
      seenBatches = batches;
    };
    options.signal?.addEventListener('abort', cancel);
    const timer = setInterval(poll, options.intervalMs ?? 50);
    try {
      const replies = await Promise.all(this.workers.map((worker) => this.epochOn(worker, epoch)));
      poll();
      if (progressError !== undefined) throw progressError;
      const failed = replies.find((r) => r.type === HogwildMessage.failed);
      if (failed && failed.type === HogwildMessage.failed) {
        throw failed.kind === 'internal' ? new Error(`training thread: ${failed.message}`) : new DimpError(failed.kind as DimpErrorKind, failed.message);
      }
      throwIfCancelled(options.signal);
      let objective = 0;
      let crossEntropy = 0;
      for (const r of replies) {
        if (r.type !== HogwildMessage.epochDone) continue;
        objective += r.objective;
        crossEntropy += r.crossEntropy;
      }
      return { objective, crossEntropy };
    } finally {
      clearInterval(timer);
      options.signal?.removeEventListener('abort', cancel);
    }
  }

  /** One worker's answer to `epoch` (a worker that is gone, or goes, answers `failed`). */
  private epochOn(worker: Worker, epoch: number): Promise<HogwildReply> {
    const answer = this.reply(worker);
    if (live.has(worker)) worker.postMessage({ type: HogwildMessage.epoch, epoch });
    return answer;
  }

  /** The next message of `worker`; `failed` at once for a worker that has ended, or when it dies first. */
  private reply(worker: Worker): Promise<HogwildReply> {
    if (!live.has(worker)) {
      Atomics.store(this.control, HogwildControl.cancel, 1);
      Atomics.notify(this.control, HogwildControl.turn);
      return Promise.resolve({ type: HogwildMessage.failed, kind: 'internal', message: 'a training thread has ended' });
    }
    return new Promise((resolve) => {
      const done = (reply: HogwildReply): void => {
        worker.off('message', done);
        worker.off('error', died);
        worker.off('exit', exited);
        resolve(reply);
      };
      const died = (error: Error): void => {
        Atomics.store(this.control, HogwildControl.cancel, 1);
        Atomics.notify(this.control, HogwildControl.turn);
        done({ type: HogwildMessage.failed, kind: 'internal', message: error.message });
      };
      const exited = (code: number): void => died(new Error(`a training thread exited (code ${code})`));
      worker.on('message', done);
      worker.on('error', died);
      worker.on('exit', exited);
    });
  }

  /** Stops the workers and moves the model back into its own memory; idempotent. */
  async close(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    Atomics.store(this.control, HogwildControl.cancel, 1);
    Atomics.notify(this.control, HogwildControl.turn);
    await Promise.all(this.workers.map((w) => w.terminate()));
    if (this.deterministic) this.model.dropoutState = Atomics.load(this.control, HogwildControl.dropout);
    this.model.unshare();
  }
}
