/**
 * Kind 3 of PRODUCT §4, first half: a frozen ONNX encoder (e.g. a sentence-transformers or feature-extraction
 * export) turns rows into pooled embeddings — the mean of the token vectors over the attention mask, the
 * [CLS] vector, or the graph's own `sentence_embedding` — computed in a worker thread, in length-sorted
 * batches, and cached on disk by encoder and row content.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { PoolingChoice, TransformerInfo } from './messages';
import { throwIfCancelled } from '../../errors';
import type { DeviceChoice } from '../../runtime/onnxRuntime';
import { EmbeddingCache, fingerprint, textKey } from './embeddingCache';
import { readConfigJson, readTransformerFolder, type TransformerFolder } from './folder';
import { TransformerWorkerHost } from './workerHost';

/** Rows' embeddings, `count × dim`, row-major: the head's features. */
export interface EmbeddingMatrix {
  values: Float32Array;
  dim: number;
  count: number;
}

/** How to run the encoder. */
export interface EncoderOptions {
  folder: string;
  pooling: PoolingChoice;
  /** Cap on tokens per row; the model's own limit applies anyway. */
  maxLength?: number;
  device: DeviceChoice;
  /** Rows per `session.run`. */
  batchSize: number;
  /** Root of the embedding cache; undefined: no cache. */
  cacheDir?: string;
  intraOpThreads?: number;
}

/** Rows embedded by one call, and where they came from. */
export interface EmbedResult {
  embeddings: EmbeddingMatrix;
  /** Rows found in the cache, and distinct texts the encoder ran on. */
  cached: number;
  computed: number;
}

/** Rows per round trip to the worker and per cache shard: progress survives a cancelled run in these steps. */
const EMBED_CHUNK = 4096;

/** A frozen encoder running in a worker thread, with its embedding cache. */
export class FrozenEncoder {
  private constructor(
    readonly files: TransformerFolder,
    private readonly host: TransformerWorkerHost,
    /** Identifies this encoder's embeddings: graph, tokenizer, pooling and maximum length. */
    readonly fingerprint: string,
    private readonly cache: EmbeddingCache | undefined,
    private readonly batchSize: number,
  ) {}

  /** What the worker opened: provider, pooling, width (the embedding dimension), maximum length. */
  get info(): TransformerInfo {
    return this.host.info;
  }

  get dim(): number {
    return this.host.info.width;
  }

  /** Shard files of the cache that could not be read and are recomputed instead. */
  get skippedCacheShards(): readonly string[] {
    return this.cache?.skippedShards ?? [];
  }

  /** A short description for logs and model configs. */
  get description(): string {
    const config = this.files.config;
    return `${config.model_type ?? 'transformer'} encoder at ${this.files.folder} (${this.info.pooling} pooling, dim ${this.dim}, max ${this.info.maxLength} tokens)`;
  }

  /** Opens the encoder folder in a worker and its cache; errors name the file that is wrong. */
  static async open(options: EncoderOptions, signal?: AbortSignal): Promise<FrozenEncoder> {
    const files = await readTransformerFolder(options.folder, await readConfigJson(options.folder));
    const host = await TransformerWorkerHost.start(
      {
        ...files,
        task: 'embed',
        pooling: options.pooling,
        maxLength: options.maxLength,
        device: options.device,
        intraOpThreads: options.intraOpThreads,
      },
      signal,
    );
    try {
      // A graph that does not declare its hidden size reveals it on one row.
      if (host.info.width === 0) await host.run([{ texts: ['a'] }], { batchSize: 1, signal });
      const info = host.info;
      const hashed = [files.graphFile, ...(await externalDataFiles(files.graphFile)), files.tokenizerFile, ...(files.tokenizerConfigFile ? [files.tokenizerConfigFile] : [])];
      const key = await fingerprint(hashed, { pooling: info.pooling, maxLength: info.maxLength, output: info.output });
      const cache = options.cacheDir
        ? await EmbeddingCache.open(options.cacheDir, key, info.width, { folder: path.resolve(options.folder), pooling: info.pooling, maxLength: info.maxLength, output: info.output })
        : undefined;
      return new FrozenEncoder(files, host, key, cache, options.batchSize);
    } catch (error) {
      await host.dispose();
      throw error;
    }
  }

  /**
   * Embeds rows: cached rows are read back, each distinct uncached text runs once, and new embeddings are
   * added to the cache chunk by chunk (so a cancelled run keeps what it finished).
   */
  async embed(rows: readonly { texts: readonly string[] }[], options: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {}): Promise<EmbedResult> {
    const dim = this.dim;
    const values = new Float32Array(rows.length * dim);
    const keys = rows.map((r) => textKey(r.texts));
    const missing = new Map<string, number[]>();
    let cached = 0;
    keys.forEach((key, i) => {
      const hit = this.cache?.get(key);
      if (hit) {
        values.set(hit, i * dim);
        cached += 1;
      } else {
        const same = missing.get(key);
        if (same) same.push(i);
        else missing.set(key, [i]);
      }
    });
    const todo = [...missing.entries()];
    options.onProgress?.(cached, rows.length);
    let done = cached;
    for (let start = 0; start < todo.length; start += EMBED_CHUNK) {
      throwIfCancelled(options.signal);
      const chunk = todo.slice(start, start + EMBED_CHUNK);
      const chunkRows = chunk.map(([, indices]) => rows[indices[0]!]!);
      const before = done;
      const result = await this.host.run(chunkRows, {
        batchSize: this.batchSize,
        signal: options.signal,
        onProgress: (n) => options.onProgress?.(before + n, rows.length),
      });
      chunk.forEach(([, indices], j) => {
        const vector = result.values.subarray(j * dim, (j + 1) * dim);
        for (const i of indices) values.set(vector, i * dim);
        done += indices.length;
      });
      await this.cache?.add(
        chunk.map(([key]) => key),
        result.values,
      );
      options.onProgress?.(done, rows.length);
    }
    return { embeddings: { values, dim, count: rows.length }, cached, computed: todo.length };
  }

  /** Ends the worker and releases the session. */
  async dispose(): Promise<void> {
    await this.host.dispose();
  }
}

/** Files holding a graph's external tensor data (large models), relative to the graph; part of its identity. */
export async function externalDataFiles(graphFile: string): Promise<string[]> {
  const dir = path.dirname(graphFile);
  const base = path.basename(graphFile);
  // The converters name them after the graph (model.onnx_data, model.onnx.data); reading the protobuf to
  // find them would mean decoding the whole graph here.
  const names = (await fs.readdir(dir)).filter((n) => n !== base && n.startsWith(base) && /(_data|\.data)$/.test(n));
  return names.sort().map((n) => path.join(dir, n));
}
