/**
 * Messages between the scoring pool (`ngramPool.ts`, the caller's thread) and its workers (`ngramWorker.ts`),
 * which run the built-in checkers' sessions off the caller's thread. Plain, structured-clonable objects; every
 * request carries an `id` that its replies repeat; tags follow the workers' convention, `<channel>/<what>`.
 * A worker is never terminated mid-run (ending a thread inside onnxruntime's native `run` aborts the
 * process): it is told to cancel, answers, and only then is ended.
 */
import type { DeviceChoice } from '../runtime/onnxRuntime';

export const NgramWorkerMessage = {
  open: 'ngram/open',
  run: 'ngram/run',
  cancel: 'ngram/cancel',
  close: 'ngram/close',
  opened: 'ngram/opened',
  progress: 'ngram/progress',
  result: 'ngram/result',
  failed: 'ngram/failed',
  closed: 'ngram/closed',
} as const;

export type NgramWorkerRequest =
  /** Opens these model folders (in this order), one intra-op thread per session. */
  | { type: typeof NgramWorkerMessage.open; id: number; folders: string[]; device: DeviceChoice }
  /** Scores one chunk of rows (their texts), `batchSize` rows per `session.run`. */
  | { type: typeof NgramWorkerMessage.run; id: number; texts: string[][]; batchSize: number }
  /** Stops run `id` before its next batch (it then answers `failed` with kind `cancelled`). */
  | { type: typeof NgramWorkerMessage.cancel; id: number }
  | { type: typeof NgramWorkerMessage.close; id: number };

export type NgramWorkerReply =
  | { type: typeof NgramWorkerMessage.opened; id: number }
  /** Rows × models done so far in run `id`. */
  | { type: typeof NgramWorkerMessage.progress; id: number; done: number }
  /** One probability array per model, `rows × labels`, in the rows' order. */
  | { type: typeof NgramWorkerMessage.result; id: number; probabilities: Float32Array[] }
  | { type: typeof NgramWorkerMessage.failed; id: number; kind: string; message: string; file?: string; line?: number }
  | { type: typeof NgramWorkerMessage.closed; id: number };
