/**
 * Kind 2 of PRODUCT §4: any Hugging Face `*ForSequenceClassification` exported to ONNX, used as a checker or
 * evaluated, with its own tokenizer. Also serves the folders exported from an encoder + trained head, which
 * have the same inputs and a `logits` output.
 */
import * as path from 'node:path';
import type { LabelMap } from '../../data/labels';
import { throwIfCancelled, yieldToEventLoop } from '../../errors';
import { openModelSession, tensor, type DeviceChoice, type ModelSession } from '../../runtime/onnxRuntime';
import type { LoadedClassifier, PredictOptions } from '../classifier';
import { EmbeddingCache, textKey } from './embeddingCache';
import { readTransformerFolder, type TransformerConfigJson } from './folder';
import { HEAD_GRAPH } from './headClassifier';
import { TransformerWorkerHost } from './workerHost';

/** Rows per `session.run` when the caller does not say. */
export const DEFAULT_TRANSFORMER_BATCH = 32;

/** Options of a transformer checker. */
export interface TransformerLoadOptions {
  /** Cap on tokens per row (the model's own limit applies anyway). */
  maxLength?: number;
  intraOpThreads?: number;
  /**
   * Root of the embedding cache. A folder exported from an encoder + head then scores rows whose embeddings
   * are cached with its `head.onnx` alone, and only the other rows with the whole model.
   */
  embeddingCache?: string;
}

/** The head of an exported encoder + head folder, run on cached embeddings. */
interface CachedHead {
  cache: EmbeddingCache;
  session: ModelSession;
  dim: number;
}

/** Rows per head `session.run` on the caller's thread: a few milliseconds each. */
const HEAD_BATCH = 1024;

interface DimpHeadConfig {
  head_graph?: string;
  input_dim?: number;
  max_length?: number;
  encoder?: { fingerprint?: string };
}

/** The cached-embedding path of a folder, when it has one and the cache holds anything for its encoder. */
async function openCachedHead(folder: string, config: TransformerConfigJson, device: DeviceChoice, options: TransformerLoadOptions): Promise<CachedHead | undefined> {
  const head = config.dimp_head as DimpHeadConfig | undefined;
  const fingerprint = head?.encoder?.fingerprint;
  if (!options.embeddingCache || !head?.head_graph || !fingerprint || typeof head.input_dim !== 'number') return undefined;
  // Embeddings cut at another length are other embeddings.
  if (options.maxLength !== undefined && head.max_length !== undefined && options.maxLength < head.max_length) return undefined;
  const cache = await EmbeddingCache.openExisting(options.embeddingCache, fingerprint, head.input_dim);
  if (!cache || cache.size === 0) return undefined;
  const session = await openModelSession(path.join(folder, head.head_graph), device);
  return { cache, session, dim: head.input_dim };
}

/** A transformer sequence classifier served by onnxruntime in a worker thread. */
export class TransformerClassifier implements LoadedClassifier {
  private constructor(
    readonly folder: string,
    readonly description: string,
    readonly labelMap: LabelMap,
    private readonly host: TransformerWorkerHost,
    private readonly cachedHead: CachedHead | undefined,
  ) {}

  get provider(): string {
    return this.host.info.provider;
  }

  get fallbackReason(): string | undefined {
    return this.host.info.fallbackReason;
  }

  /** Tokens per row after truncation. */
  get maxLength(): number {
    return this.host.info.maxLength;
  }

  /** Opens a folder whose `config.json` was already read and whose `id2label` gave `labelMap`. */
  static async open(folder: string, config: TransformerConfigJson, labelMap: LabelMap, device: DeviceChoice, options: TransformerLoadOptions = {}): Promise<TransformerClassifier> {
    const files = await readTransformerFolder(folder, config);
    const host = await TransformerWorkerHost.start({
      ...files,
      task: 'classify',
      numLabels: labelMap.size,
      maxLength: options.maxLength,
      device,
      intraOpThreads: options.intraOpThreads,
    });
    const head = config.dimp_head ? `encoder + ${String(config.dimp_head.head ?? 'trained')} head` : 'sequence classifier';
    const architecture = config.model_type ?? config.architectures?.[0] ?? 'transformer';
    const shape = [config.num_hidden_layers !== undefined && `${String(config.num_hidden_layers)} layers`, config.hidden_size !== undefined && `hidden ${config.hidden_size}`]
      .filter(Boolean)
      .join(', ');
    const description = `${architecture} ${head} (${shape ? `${shape}, ` : ''}${labelMap.size} labels, max ${host.info.maxLength} tokens)`;
    let cachedHead: CachedHead | undefined;
    try {
      cachedHead = await openCachedHead(folder, config, device, options);
    } catch (error) {
      await host.dispose();
      throw error;
    }
    return new TransformerClassifier(folder, description, labelMap, host, cachedHead);
  }

  async predict(rows: readonly { texts: readonly string[] }[], options: PredictOptions = {}): Promise<Float32Array> {
    const { signal } = options;
    const batchSize = options.batchSize ?? DEFAULT_TRANSFORMER_BATCH;
    if (!this.cachedHead) return (await this.host.run(rows, { batchSize, signal, onProgress: options.onProgress })).values;
    const { cache, session, dim } = this.cachedHead;
    const width = this.labelMap.size;
    const out = new Float32Array(rows.length * width);
    const hits: { row: number; embedding: Float32Array }[] = [];
    const misses: number[] = [];
    rows.forEach((row, i) => {
      const embedding = cache.get(textKey(row.texts));
      if (embedding) hits.push({ row: i, embedding });
      else misses.push(i);
    });
    for (let start = 0; start < hits.length; start += HEAD_BATCH) {
      throwIfCancelled(signal);
      const batch = hits.slice(start, start + HEAD_BATCH);
      const embeddings = new Float32Array(batch.length * dim);
      batch.forEach((hit, b) => embeddings.set(hit.embedding, b * dim));
      const result = await session.run({ [HEAD_GRAPH.embedding]: tensor('float32', embeddings, [batch.length, dim]) });
      const probabilities = result[HEAD_GRAPH.probabilities]!.data as Float32Array;
      batch.forEach((hit, b) => out.set(probabilities.subarray(b * width, (b + 1) * width), hit.row * width));
      options.onProgress?.(start + batch.length, rows.length);
      await yieldToEventLoop();
    }
    if (misses.length > 0) {
      const onProgress = (done: number): void => options.onProgress?.(hits.length + done, rows.length);
      const { values } = await this.host.run(
        misses.map((i) => rows[i]!),
        { batchSize, signal, onProgress },
      );
      misses.forEach((row, j) => out.set(values.subarray(j * width, (j + 1) * width), row * width));
    }
    return out;
  }

  async dispose(): Promise<void> {
    await this.cachedHead?.session.release();
    await this.host.dispose();
  }
}
