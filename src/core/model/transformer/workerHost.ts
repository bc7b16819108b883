/**
 * The caller's side of a transformer worker: starts the worker thread, opens the model there, sends rows
 * in bounded chunks (two in flight, so the worker never waits for the next one) and reassembles the
 * results. Cancellation ends the worker at once; nothing is left running.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  TransformerMessage,
  type FailedMessage,
  type OpenRequest,
  type TransformerInfo,
  type TransformerReply,
  type TransformerRequest,
} from './messages';
import { cancelledError, DimpError } from '../../errors';

/** The worker script sits next to this module (out/…/transformer/) and next to the bundles (dist/). */
export const WORKER_SCRIPT = path.join(__dirname, 'transformerWorker.js');

/** Options for one run of rows. */
export interface HostRunOptions {
  /** Rows per `session.run`. */
  batchSize: number;
  /** Rows per message to the worker; bounds the memory of texts and token ids in flight. */
  chunkSize?: number;
  signal?: AbortSignal;
  /** Rows done so far, after every batch. */
  onProgress?: (done: number, total: number) => void;
}

/** All rows' outputs, `rows × width`, in the order given. */
export interface HostRunResult {
  values: Float32Array;
  width: number;
  /** Tokens fed including padding, and real tokens: their ratio is the padding overhead. */
  paddedTokens: number;
  tokens: number;
}

interface Pending {
  resolve: (reply: TransformerReply) => void;
  reject: (error: Error) => void;
  onProgress?: (done: number) => void;
  /** Run requests can be cancelled. */
  cancellable: boolean;
}

function toError(reply: FailedMessage): Error {
  return reply.kind === 'internal' ? new Error(reply.message) : new DimpError(reply.kind, reply.message, { file: reply.file });
}

/**
 * A transformer model running in its own worker thread. The worker is only ever terminated when it is
 * idle (after `closed`) or already dead: ending a thread inside onnxruntime's native `run` aborts the
 * process, so cancelling stops the work between batches instead and answers the caller at once.
 */
export class TransformerWorkerHost {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** Why the worker can take no more requests: it died, or it was closed. */
  private stopped: Error | undefined;
  private info_: TransformerInfo | undefined;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: TransformerReply) => this.receive(reply));
    worker.on('error', (error: Error) => this.fail(error));
    worker.on('exit', (code) => this.fail(new Error(`the transformer worker stopped (exit code ${code})`)));
  }

  /** What the worker opened: provider, task, output width, maximum length. */
  get info(): TransformerInfo {
    if (!this.info_) throw new Error('the model is not open yet');
    return this.info_;
  }

  /** Starts a worker and opens the model in it; a model that cannot open rejects with the worker's error. */
  static async start(request: Omit<OpenRequest, 'type' | 'id'>, signal?: AbortSignal): Promise<TransformerWorkerHost> {
    if (!existsSync(WORKER_SCRIPT)) throw new Error(`the transformer worker script is missing at ${WORKER_SCRIPT} (run npm run build / npm run compile)`);
    const host = new TransformerWorkerHost(new Worker(WORKER_SCRIPT));
    try {
      if (signal?.aborted) throw cancelledError();
      const id = host.nextId++;
      const reply = await host.withCancellation(signal, () => host.request({ ...request, type: TransformerMessage.open, id }, id, false));
      if (reply.type !== TransformerMessage.opened) throw new Error(`unexpected reply ${reply.type} to open`);
      host.info_ = reply.info;
      return host;
    } catch (error) {
      await host.dispose();
      throw error;
    }
  }

  /** Runs rows through the model; rows are sent in chunks and results come back in the rows' order. */
  async run(rows: readonly { texts: readonly string[] }[], options: HostRunOptions): Promise<HostRunResult> {
    const chunkSize = Math.max(1, options.chunkSize ?? 4096);
    const total = rows.length;
    if (options.signal?.aborted) throw cancelledError();
    return this.withCancellation(options.signal, async () => {
      let values: Float32Array | undefined;
      let width = this.info.width;
      let paddedTokens = 0;
      let tokens = 0;
      let finished = 0;
      const inFlight: { start: number; reply: Promise<TransformerReply> }[] = [];
      const send = (start: number): void => {
        const texts = rows.slice(start, start + chunkSize).map((r) => [...r.texts]);
        const id = this.nextId++;
        const reply = this.request({ type: TransformerMessage.run, id, texts, batchSize: options.batchSize }, id, true, (done) => options.onProgress?.(start + done, total));
        // A chunk sent ahead may fail after an earlier one already did; its rejection is not news.
        reply.catch(() => undefined);
        inFlight.push({ start, reply });
      };
      let next = 0;
      while (finished < total) {
        while (inFlight.length < 2 && next < total) {
          send(next);
          next += chunkSize;
        }
        const chunk = inFlight.shift()!;
        const reply = await chunk.reply;
        if (reply.type !== TransformerMessage.result) throw new Error(`unexpected reply ${reply.type} to run`);
        width = reply.width;
        // Graphs that do not declare their output width reveal it with the first result.
        if (this.info_ && this.info_.width === 0) this.info_ = { ...this.info_, width };
        values ??= new Float32Array(total * width);
        values.set(reply.values, chunk.start * width);
        paddedTokens += reply.paddedTokens;
        tokens += reply.tokens;
        finished = Math.min(total, chunk.start + chunkSize);
      }
      return { values: values ?? new Float32Array(0), width, paddedTokens, tokens };
    });
  }

  /** Stops any run in progress (after its current batch), releases the session and ends the worker. */
  async dispose(): Promise<void> {
    if (!this.stopped) {
      this.cancelPending();
      const id = this.nextId++;
      try {
        await this.request({ type: TransformerMessage.close, id }, id, false);
      } catch {
        // The worker died on its own; terminating below is all that is left to do.
      }
      this.stopped ??= new Error('the transformer model was disposed');
    }
    await this.worker.terminate();
  }

  /**
   * Runs `work` so that `signal` rejects it at once with the cancellation error, while the worker is told to
   * stop the runs in flight before their next batch.
   */
  private async withCancellation<T>(signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
    if (!signal) return work();
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => {
        this.cancelPending();
        reject(cancelledError());
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => undefined);
    try {
      return await Promise.race([work(), aborted]);
    } finally {
      signal.removeEventListener('abort', onAbort!);
    }
  }

  /** Tells the worker to stop every run in flight and rejects everything awaited with the cancellation error. */
  private cancelPending(): void {
    for (const [id, waiting] of this.pending) {
      if (waiting.cancellable && !this.stopped) this.worker.postMessage({ type: TransformerMessage.cancel, id });
      waiting.reject(cancelledError());
    }
    this.pending.clear();
    this.worker.unref();
  }

  private request(message: TransformerRequest, id: number, cancellable: boolean, onProgress?: (done: number) => void): Promise<TransformerReply> {
    if (this.stopped) return Promise.reject(this.stopped);
    return new Promise<TransformerReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress, cancellable });
      // Keep the process alive only while an answer is awaited, so an idle model never holds it open.
      this.worker.ref();
      this.worker.postMessage(message);
    });
  }

  private receive(reply: TransformerReply): void {
    const waiting = this.pending.get(reply.id);
    if (!waiting) return;
    if (reply.type === TransformerMessage.progress) {
      waiting.onProgress?.(reply.done);
      return;
    }
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker.unref();
    if (reply.type === TransformerMessage.failed) waiting.reject(toError(reply));
    else waiting.resolve(reply);
  }

  /** The worker died: nothing more will be answered. */
  private fail(error: Error): void {
    this.stopped ??= error;
    for (const waiting of this.pending.values()) waiting.reject(this.stopped);
    this.pending.clear();
  }
}
