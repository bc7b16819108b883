/**
 * Typed messages between a transformer model's host (the caller's thread) and the worker thread that
 * tokenizes and runs the model, so that neither tokenization nor `session.run` (synchronous in
 * onnxruntime-node) blocks the caller. Every message is a plain, structured-clonable object with a `type`;
 * every request carries an `id` that its replies repeat. Tags follow the workers' one convention,
 * `<channel>/<what>`, and failures carry the same kinds as every worker job (core/runtime/workerJob.ts). Unlike
 * a scoring or training job, a transformer worker is a session (open, many runs, close), and it is never
 * terminated mid-run: ending a thread inside onnxruntime's native `run` aborts the whole process.
 */
import type { FailureKind } from '../../runtime/workerJob';

/** What the worker computes for each row. */
export type TransformerTask =
  /** Softmax of the graph's `logits` output, one probability per label. */
  | 'classify'
  /** A pooled sentence embedding of the encoder's output. */
  | 'embed';

/** How token vectors become one embedding (`embed` only). */
export type PoolingChoice = 'auto' | 'mean' | 'cls' | 'sentence_embedding';

/** The worker's message type tags, in one place for both sides. */
export const TransformerMessage = {
  open: 'transformer/open',
  run: 'transformer/run',
  cancel: 'transformer/cancel',
  close: 'transformer/close',
  opened: 'transformer/opened',
  progress: 'transformer/progress',
  result: 'transformer/result',
  failed: 'transformer/failed',
  closed: 'transformer/closed',
} as const;

/** Opens the tokenizer and the session; answered by `opened` or `failed`. */
export interface OpenRequest {
  type: typeof TransformerMessage.open;
  id: number;
  /** The model folder, for messages. */
  folder: string;
  graphFile: string;
  configFile: string;
  config: Record<string, unknown>;
  tokenizerFile: string;
  tokenizerJson: unknown;
  tokenizerConfig: Record<string, unknown>;
  task: TransformerTask;
  /** Labels the folder's `config.json` names (`classify`): the graph's logits must have as many. */
  numLabels?: number;
  pooling?: PoolingChoice;
  /** Requested maximum tokens per row; the model's own limit caps it. */
  maxLength?: number;
  /** `cpu | cuda | webgpu | auto`. */
  device: string;
  intraOpThreads?: number;
}

/** Runs rows (one text or a pair each); answered by `progress` messages and one `result` or `failed`. */
export interface RunRequest {
  type: typeof TransformerMessage.run;
  id: number;
  texts: string[][];
  /** Rows per `session.run`. */
  batchSize: number;
}

/**
 * Stops run `id` before its next batch; answered by that run's `failed` (kind `cancelled`). Handled as soon
 * as it arrives, not after the run. The worker is never terminated mid-batch: ending a thread inside
 * onnxruntime's native `run` aborts the whole process.
 */
export interface CancelRequest {
  type: typeof TransformerMessage.cancel;
  id: number;
}

/** Releases the session after any work in progress; answered by `closed`, after which the host ends the worker. */
export interface CloseRequest {
  type: typeof TransformerMessage.close;
  id: number;
}

/** What the opened model is. */
export interface TransformerInfo {
  provider: string;
  fallbackReason: string | undefined;
  task: TransformerTask;
  /** Values per row in results: labels (`classify`) or embedding dimension (`embed`); 0 until known. */
  width: number;
  /** Tokens per row after truncation, special tokens included. */
  maxLength: number;
  /** The pooling used (`embed`). */
  pooling: Exclude<PoolingChoice, 'auto'> | undefined;
  /** Graph inputs fed, e.g. ["input_ids", "attention_mask", "token_type_ids"]. */
  inputs: string[];
  /** The graph output read. */
  output: string;
  /** A static batch size the graph demands, if any. */
  fixedBatch: number | undefined;
}

/** The model is open. */
export interface OpenedMessage {
  type: typeof TransformerMessage.opened;
  id: number;
  info: TransformerInfo;
}

/** Rows of run `id` done so far. */
export interface ProgressMessage {
  type: typeof TransformerMessage.progress;
  id: number;
  done: number;
}

/** Run `id` finished: `values` holds `rows × width` numbers in the order the rows were sent. */
export interface ResultMessage {
  type: typeof TransformerMessage.result;
  id: number;
  values: Float32Array;
  width: number;
  /** Tokens fed (padding included) and real tokens, for throughput reports. */
  paddedTokens: number;
  tokens: number;
}

/** An error, as a value the host turns back into a `DimpError`. */
export interface FailedMessage {
  type: typeof TransformerMessage.failed;
  id: number;
  /** `internal` for a bug (the host rethrows a plain Error), else the `DimpError`'s kind. */
  kind: FailureKind;
  message: string;
  file: string | undefined;
}

/** The session is released. */
export interface ClosedMessage {
  type: typeof TransformerMessage.closed;
  id: number;
}

/** Messages to the worker. */
export type TransformerRequest = OpenRequest | RunRequest | CancelRequest | CloseRequest;

/** Messages from the worker. */
export type TransformerReply = OpenedMessage | ProgressMessage | ResultMessage | FailedMessage | ClosedMessage;
