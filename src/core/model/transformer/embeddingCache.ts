/**
 * Pooled embeddings cached on disk, keyed by the encoder (a fingerprint of its graph, tokenizer, pooling
 * and maximum length) and by each row's texts, so a frozen encoder runs once per distinct text however many
 * times the checkers and classifiers are trained. One folder per encoder fingerprint; each batch of new
 * embeddings is one shard file written atomically, so concurrent runs and cancelled runs never leave a
 * half-written shard behind.
 *
 * Shard format (little-endian): "DIMPEMB1", u32 count, u32 dim, count × 16-byte keys, count × dim float32.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { sweepStaleTemporaries, writeFileAtomic } from '../../io/atomic';

const MAGIC = 'DIMPEMB1';
const KEY_BYTES = 16;
const HEADER_BYTES = MAGIC.length + 8;

/** The cache key of a row: a hash of its texts (not its label: relabelling keeps the embedding). */
export function textKey(texts: readonly string[]): string {
  const hash = createHash('sha256');
  hash.update(String(texts.length));
  for (const text of texts) hash.update('\u0000').update(text);
  return hash.digest('hex').slice(0, KEY_BYTES * 2);
}

/** SHA-256 of files' contents (streamed) and of a settings object: what identifies an encoder's embeddings. */
export async function fingerprint(files: readonly string[], settings: unknown): Promise<string> {
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(`${path.basename(file)}\u0000`);
    await new Promise<void>((resolve, reject) => {
      createReadStream(file)
        .on('data', (chunk) => hash.update(chunk))
        .on('end', resolve)
        .on('error', reject);
    });
  }
  hash.update(JSON.stringify(settings));
  return hash.digest('hex').slice(0, 32);
}

/** Embeddings of one encoder, in memory and on disk. */
export class EmbeddingCache {
  private readonly index = new Map<string, { values: Float32Array; offset: number }>();
  /** Shards that could not be read (truncated, other format): left alone and recomputed, and reported. */
  readonly skippedShards: string[] = [];

  private constructor(
    readonly dir: string,
    readonly dim: number,
  ) {}

  /** Number of cached rows. */
  get size(): number {
    return this.index.size;
  }

  /**
   * Opens (creating it when needed) the cache of one encoder under `root`, loading every shard. `about`
   * is written once as `encoder.json` so a person can tell what a cache folder holds.
   */
  static async open(root: string, encoderFingerprint: string, dim: number, about: Record<string, unknown>): Promise<EmbeddingCache> {
    const dir = path.join(root, encoderFingerprint);
    await fs.mkdir(dir, { recursive: true });
    await sweepStaleTemporaries(dir); // shards a killed process was writing
    const cache = new EmbeddingCache(dir, dim);
    const aboutFile = path.join(dir, 'encoder.json');
    if (!(await fs.stat(aboutFile).catch(() => undefined))) await writeFileAtomic(aboutFile, JSON.stringify({ ...about, dim }, null, 2) + '\n');
    for (const name of (await fs.readdir(dir)).filter((n) => n.endsWith('.emb')).sort()) await cache.load(path.join(dir, name));
    return cache;
  }

  /** Opens an encoder's cache for reading only; undefined when nothing was ever cached for it. */
  static async openExisting(root: string, encoderFingerprint: string, dim: number): Promise<EmbeddingCache | undefined> {
    const dir = path.join(root, encoderFingerprint);
    if (!(await fs.stat(dir).catch(() => undefined))?.isDirectory()) return undefined;
    const cache = new EmbeddingCache(dir, dim);
    for (const name of (await fs.readdir(dir)).filter((n) => n.endsWith('.emb')).sort()) await cache.load(path.join(dir, name));
    return cache;
  }

  /** The cached embedding of `key` (a view; do not modify), or undefined. */
  get(key: string): Float32Array | undefined {
    const entry = this.index.get(key);
    return entry && entry.values.subarray(entry.offset, entry.offset + this.dim);
  }

  /** Stores embeddings (`keys.length × dim`) as one new shard. */
  async add(keys: readonly string[], values: Float32Array): Promise<void> {
    if (keys.length === 0) return;
    if (values.length !== keys.length * this.dim) throw new Error(`${keys.length} keys but ${values.length / this.dim} embeddings`);
    const buffer = Buffer.alloc(HEADER_BYTES + keys.length * KEY_BYTES + values.byteLength);
    buffer.write(MAGIC, 0, 'latin1');
    buffer.writeUInt32LE(keys.length, MAGIC.length);
    buffer.writeUInt32LE(this.dim, MAGIC.length + 4);
    keys.forEach((key, i) => buffer.write(key, HEADER_BYTES + i * KEY_BYTES, 'hex'));
    const valuesOffset = HEADER_BYTES + keys.length * KEY_BYTES;
    Buffer.from(values.buffer, values.byteOffset, values.byteLength).copy(buffer, valuesOffset);
    const name = `${Date.now().toString(36)}-${process.pid}-${createHash('sha256').update(keys.join('')).digest('hex').slice(0, 8)}.emb`;
    await writeFileAtomic(path.join(this.dir, name), buffer);
    const copy = values.slice();
    keys.forEach((key, i) => this.index.set(key, { values: copy, offset: i * this.dim }));
  }

  private async load(file: string): Promise<void> {
    const bytes = await fs.readFile(file);
    const count = bytes.length >= HEADER_BYTES ? bytes.readUInt32LE(MAGIC.length) : 0;
    const dim = bytes.length >= HEADER_BYTES ? bytes.readUInt32LE(MAGIC.length + 4) : 0;
    const valuesOffset = HEADER_BYTES + count * KEY_BYTES;
    if (bytes.toString('latin1', 0, MAGIC.length) !== MAGIC || dim !== this.dim || bytes.length !== valuesOffset + count * dim * 4) {
      this.skippedShards.push(file);
      return;
    }
    // Copy into an aligned buffer: Float32Array views need a 4-byte-aligned offset.
    const values = new Float32Array(count * dim);
    new Uint8Array(values.buffer).set(bytes.subarray(valuesOffset));
    for (let i = 0; i < count; i++) this.index.set(bytes.toString('hex', HEADER_BYTES + i * KEY_BYTES, HEADER_BYTES + (i + 1) * KEY_BYTES), { values, offset: i * dim });
  }
}
