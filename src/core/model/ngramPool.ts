/**
 * The built-in checkers' scoring pass on several worker threads. onnxruntime-node's `session.run` is
 * synchronous on the calling thread, so one thread featurises and runs every row; here each worker opens
 * both checkers' model folders itself (sessions of one intra-op thread) and scores whole chunks of rows,
 * the same chunks `NgramOnnxClassifier.predictAll` featurises and sorts on one thread, so every row meets
 * the same batch and its probabilities are the same bits. Chunks go to whichever worker is free; results
 * are put back in row order.
 */
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { cancelledError, DimpError, type DimpErrorKind } from '../errors';
import type { DeviceChoice } from '../runtime/onnxRuntime';
import { NGRAM_BATCH_SIZE, ngramChunkSize } from './modelFolder';
import { NgramWorkerMessage, type NgramWorkerReply, type NgramWorkerRequest } from './ngramWorkerMessages';

/** The worker script sits next to this module (out/src/core/model/) and next to the bundles (dist/). */
export const NGRAM_WORKER_SCRIPT = path.join(__dirname, 'ngramWorker.js');

/**
 * Rows per worker below which another worker costs more than it gains: starting one (a thread, onnxruntime,
 * two sessions) takes a good part of a second on a loaded machine. Measured on 2 cores: 2 workers ran the pass
 * 0.77× as fast as one thread at 20,000 rows, 0.86× at 50,000, 1.54× at 100,000 and 1.83× at 300,000.
 */
export const ROWS_PER_SCORING_THREAD = 40_000;

/** The scoring threads for `rows` rows when none are asked for: one per 40,000 rows (at least one), at most one per core. */
export function autoScoringThreads(rows: number): number {
  return Math.max(1, Math.min(os.availableParallelism(), Math.floor(rows / ROWS_PER_SCORING_THREAD)));
}

/** Workers started and not yet ended (tests check that a pass leaves none behind). */
const live = new Set<Worker>();
let started = 0;
export function liveScoringWorkers(): number {
  return live.size;
}
/** Workers started in this process so far (tests check that a pass did use them). */
export function startedScoringWorkers(): number {
  return started;
}

/** Options of a pass on workers. */
export interface PoolPredictOptions {
  threads: number;
  device?: DeviceChoice;
  batchSize?: number;
  signal?: AbortSignal;
  /** Rows × models done so far (the models' counts summed: forward-only). */
  onProgress?: (done: number, total: number) => void;
}

function toError(reply: Extract<NgramWorkerReply, { type: typeof NgramWorkerMessage.failed }>): Error {
  if (reply.kind === 'internal') return new Error(`scoring worker: ${reply.message}`);
  // DimpError's message already starts with "file[:line]: ".
  const prefix = reply.file ? `${reply.file}${reply.line ? `:${reply.line}` : ''}: ` : '';
  const message = prefix && reply.message.startsWith(prefix) ? reply.message.slice(prefix.length) : reply.message;
  return new DimpError(reply.kind as DimpErrorKind, message, { file: reply.file, line: reply.line });
}

/** A request before it is given its id (`Omit` over each member of the union). */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

/** One worker and its one request at a time. */
class PoolWorker {
  private waiting: { id: number; resolve: (reply: NgramWorkerReply) => void; reject: (error: Error) => void; onProgress?: (done: number) => void } | undefined;
  private dead: Error | undefined;
  private nextId = 1;

  constructor(readonly worker: Worker) {
    live.add(worker);
    started++;
    worker.on('message', (reply: NgramWorkerReply) => {
      const waiting = this.waiting;
      if (!waiting || reply.id !== waiting.id) return;
      if (reply.type === NgramWorkerMessage.progress) {
        waiting.onProgress?.(reply.done);
        return;
      }
      this.waiting = undefined;
      if (reply.type === NgramWorkerMessage.failed) waiting.reject(toError(reply));
      else waiting.resolve(reply);
    });
    worker.on('error', (error: Error) => this.fail(new Error(`the scoring worker failed: ${error.message}`)));
    worker.on('exit', (code) => {
      live.delete(worker);
      this.fail(new Error(`the scoring worker stopped (exit code ${code})`));
    });
  }

  /** The id the next request will carry (a cancel names it). */
  get currentId(): number | undefined {
    return this.waiting?.id;
  }

  request(message: WithoutId<NgramWorkerRequest>, onProgress?: (done: number) => void): Promise<NgramWorkerReply> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting = { id, resolve, reject, onProgress };
      this.worker.postMessage({ ...message, id } as NgramWorkerRequest);
    });
  }

  cancel(): void {
    if (this.waiting && !this.dead) this.worker.postMessage({ type: NgramWorkerMessage.cancel, id: this.waiting.id } satisfies NgramWorkerRequest);
  }

  /** Ends the thread: only once it is idle (answered) or dead, never inside `session.run`. */
  async end(): Promise<void> {
    if (!this.dead) {
      try {
        await this.request({ type: NgramWorkerMessage.close });
      } catch {
        // It died; terminating is all that is left.
      }
    }
    await this.worker.terminate();
    live.delete(this.worker);
  }

  private fail(error: Error): void {
    this.dead ??= error;
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(this.dead);
  }
}

/**
 * Every row's probabilities under each model folder (built-in models that featurise rows alike), scored on
 * `threads` workers; `widths` are the models' label counts. Cancelling, or a worker failing, stops the other
 * workers before their next batch, ends every worker and then rejects (with the cancellation error, or the
 * first failure): nothing is left running.
 */
export async function predictOnWorkers(
  folders: readonly string[],
  widths: readonly number[],
  rows: readonly { texts: readonly string[] }[],
  options: PoolPredictOptions,
): Promise<Float32Array[]> {
  if (!existsSync(NGRAM_WORKER_SCRIPT)) throw new Error(`the scoring worker script is missing at ${NGRAM_WORKER_SCRIPT} (run npm run build / npm run compile)`);
  const { signal } = options;
  if (signal?.aborted) throw cancelledError();
  const batchSize = options.batchSize ?? NGRAM_BATCH_SIZE;
  const chunkSize = ngramChunkSize(batchSize);
  const chunks = Math.ceil(rows.length / chunkSize);
  const threads = Math.max(1, Math.min(options.threads, chunks));
  const outs = widths.map((width) => new Float32Array(rows.length * width));
  const total = rows.length * folders.length;
  const doneIn = new Float64Array(chunks);
  let done = 0;
  let next = 0;
  /** Why the pass stops early: the first failure, or cancellation. */
  let stop: Error | undefined;
  const workers: PoolWorker[] = [];
  const halt = (error: Error): void => {
    stop ??= error;
    for (const w of workers) w.cancel();
  };
  const onAbort = (): void => halt(cancelledError());
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (let t = 0; t < threads; t++) workers.push(new PoolWorker(new Worker(NGRAM_WORKER_SCRIPT)));
    const drive = async (worker: PoolWorker): Promise<void> => {
      try {
        const opened = await worker.request({ type: NgramWorkerMessage.open, folders: [...folders], device: options.device ?? 'cpu' });
        if (opened.type !== NgramWorkerMessage.opened) throw new Error(`unexpected reply ${opened.type} to open`);
        while (!stop && next < chunks) {
          const chunk = next++;
          const start = chunk * chunkSize;
          const texts = rows.slice(start, start + chunkSize).map((r) => [...r.texts]);
          const reply = await worker.request({ type: NgramWorkerMessage.run, texts, batchSize }, (d) => {
            if (stop) return; // stopping: batches the workers finished before they heard it are not news
            done += d - doneIn[chunk]!;
            doneIn[chunk] = d;
            options.onProgress?.(done, total);
          });
          if (reply.type !== NgramWorkerMessage.result) throw new Error(`unexpected reply ${reply.type} to run`);
          for (let k = 0; k < outs.length; k++) {
            const values = reply.probabilities[k]!;
            if (values.length !== texts.length * widths[k]!) throw new DimpError('badModel', `the scoring worker returned ${values.length} probabilities for ${texts.length} rows of ${widths[k]} labels`, { file: folders[k] });
            outs[k]!.set(values, start * widths[k]!);
          }
        }
      } catch (error) {
        halt(error as Error);
      }
    };
    await Promise.all(workers.map(drive));
    if (stop) throw stop;
    return outs;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await Promise.all(workers.map((w) => w.end()));
  }
}
