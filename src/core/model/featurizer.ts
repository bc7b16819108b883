/**
 * The built-in model's text front end: hashed word n-grams and character n-grams (the fastText
 * recipe), pair-aware. It is stateless apart from its configuration, which is saved as the model
 * folder's `featurizer.json`; the bucket ids it produces are the ONNX graph's input.
 */

/** Configuration of the hashed n-gram featurizer, stored as `featurizer.json`. */
export interface FeaturizerConfig {
  type: 'dimp-hashed-ngrams';
  version: 1;
  /** Number of hash buckets, a power of two. */
  buckets: number;
  /** Longest word n-gram (1 = unigrams, 2 = also bigrams, 3 = also trigrams). */
  wordNgrams: number;
  /** Character n-gram lengths [min, max] of `<word>`, or null for none. */
  charNgrams: [number, number] | null;
  lowercase: boolean;
  /**
   * Text normalisation before tokenising. `ptb`: HTML entities decoded, curly quotes straightened,
   * English contractions split as the Penn Treebank (and so SST-2 and MRPC) writes them — "don't" →
   * "do n't", "it's" → "it 's" — so that raw LLM text and treebank-tokenised real text share features.
   * Absent (folders written before it existed): none.
   */
  normalize?: 'ptb' | 'none';
  /** Features kept per row; longer texts are cut here. */
  maxFeatures: number;
}

/** The defaults (see EVALUATION.md for how they were chosen, once for every source). */
export const DEFAULT_FEATURIZER: FeaturizerConfig = {
  type: 'dimp-hashed-ngrams',
  version: 1,
  buckets: 1 << 21,
  wordNgrams: 2,
  charNgrams: null,
  lowercase: true,
  normalize: 'ptb',
  maxFeatures: 2048,
};

/** Feature ids of many rows in one flat array: row i owns `ids[offsets[i] .. offsets[i+1])`. */
export interface FeatureMatrix {
  ids: Int32Array;
  offsets: Int32Array;
  /** Number of rows. */
  count: number;
}

// Distinct hash seeds keep the two texts of a pair, character n-grams and overlap features apart.
const SEGMENT_SEEDS = [0x811c9dc5, 0x1b873593] as const;
const CHAR_SEED = 0x2c1b3c6d;
const OVERLAP_SEED = 0x297a2d39;
const PAIR_STAT_SEED = 0x6c8e9cf5;
const TOKEN_PATTERN = /[\p{L}\p{N}]+(?:['’][\p{L}]+)*|[^\s\p{L}\p{N}]/gu;
// After `normalizeText`: clitics ("n't", "'s", "'ll", …) are tokens of their own.
const PTB_TOKEN_PATTERN = /n't\b|'(?:s|m|d|ll|re|ve)\b|[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu;
const NAMED_ENTITIES: Record<string, string> = { amp: '&', quot: '"', apos: "'", lt: '<', gt: '>', nbsp: ' ', '#39': "'" };

function hashString(text: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function finalize(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Decodes HTML character references (`&#34;`, `&#x27;`, `&quot;`, …); unknown ones stay as written. */
export function decodeHtmlEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]+|#39);/g, (whole, name: string) => {
    if (name[0] === '#') {
      const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff) ? String.fromCodePoint(code) : whole;
    }
    return NAMED_ENTITIES[name.toLowerCase()] ?? whole;
  });
}

/**
 * Treebank-style normalisation: HTML entities decoded, curly apostrophes straightened, and English
 * contractions split off their word ("can't" → "ca n't", "it's" → "it 's", "we'll" → "we 'll").
 */
export function normalizeText(text: string): string {
  return decodeHtmlEntities(text)
    .replace(/[’‘`´]/g, "'")
    .replace(/(\p{L})(n't)\b/giu, '$1 $2')
    .replace(/(\p{L})('(?:s|m|d|ll|re|ve))\b/giu, '$1 $2');
}

/** Splits text into word and punctuation tokens (after normalising it when `normalize` is `ptb`). */
export function tokenize(text: string, lowercase: boolean, normalize: FeaturizerConfig['normalize'] = 'none'): string[] {
  if (normalize === 'ptb') return normalizeText(lowercase ? text.toLowerCase() : text).match(PTB_TOKEN_PATTERN) ?? [];
  return (lowercase ? text.toLowerCase() : text).match(TOKEN_PATTERN) ?? [];
}

/** Feature ids gathered per block by `featurizeAll` (256 KiB). */
const FEATURE_BLOCK = 1 << 16;
/**
 * When `featurizeAll` writes into one array sized from a sample of the rows: from `ids` ids (64 MiB of them,
 * well above the size from which allocators map memory rather than carve it from their heap) and `rows` rows
 * (a scoring chunk, 16,384 rows, never).
 */
export const DIRECT_FEATURES = { ids: 1 << 24, rows: 1 << 16 };
/** Rows of the sample that sizes that array. */
const SIZING_SAMPLE = 1024;

/** Turns texts into hashed feature ids. */
export class Featurizer {
  readonly config: FeaturizerConfig;
  private readonly mask: number;
  private buffer = new Int32Array(1024);
  private length = 0;

  constructor(config: FeaturizerConfig) {
    if (!Number.isInteger(Math.log2(config.buckets)) || config.buckets < 2 || config.buckets > 1 << 30) {
      throw new RangeError(`featurizer buckets must be a power of two between 2 and 2^30, got ${config.buckets}`);
    }
    if (config.wordNgrams < 1 || config.wordNgrams > 3) throw new RangeError(`wordNgrams must be 1, 2 or 3, got ${config.wordNgrams}`);
    this.config = config;
    this.mask = config.buckets - 1;
  }

  /** Feature ids of one row (a single text or a pair), in a new array. */
  featurize(texts: readonly string[]): Int32Array {
    this.length = 0;
    this.collect(texts);
    return this.buffer.slice(0, this.length);
  }

  /**
   * Feature ids of many rows in one flat matrix. The ids are gathered in blocks of `FEATURE_BLOCK` and copied
   * once into an array of their exact length: at the peak that is twice the ids, where an array grown by
   * doubling held up to three and a half times them (a million rows carry about 40 million ids). Where the
   * rows should carry more than `direct.ids` ids (judged from a sample of `SIZING_SAMPLE` rows), they are
   * written straight into one array half as large again as that estimate, and the matrix views its start:
   * an array that large is mapped by the allocator and its pages are only made resident as ids are written,
   * so the room to spare costs address space, not memory, and there is no copy (the blocks and their copy
   * are the job's peak at a million rows otherwise). Rows longer than the sample foretold fall back to blocks
   * past the array's end. The same ids either way.
   */
  featurizeAll(rows: readonly { texts: readonly string[] }[], direct: { ids: number; rows: number } = DIRECT_FEATURES): FeatureMatrix {
    const offsets = new Int32Array(rows.length + 1);
    let capacity = this.directCapacity(rows, direct);
    const blocks: Int32Array[] = [];
    let block = new Int32Array(capacity > 0 ? capacity : FEATURE_BLOCK);
    let inBlock = 0;
    let used = 0;
    for (let i = 0; i < rows.length; i++) {
      this.length = 0;
      this.collect(rows[i]!.texts);
      const n = this.length;
      if (inBlock + n > block.length) {
        blocks.push(block.subarray(0, inBlock));
        block = new Int32Array(Math.max(FEATURE_BLOCK, n));
        inBlock = 0;
        capacity = 0;
      }
      for (let k = 0; k < n; k++) block[inBlock + k] = this.buffer[k]!;
      inBlock += n;
      used += n;
      offsets[i + 1] = used;
    }
    if (capacity > 0) return { ids: block.subarray(0, used), offsets, count: rows.length };
    blocks.push(block.subarray(0, inBlock));
    const ids = new Int32Array(used);
    let at = 0;
    for (const part of blocks) {
      ids.set(part, at);
      at += part.length;
    }
    return { ids, offsets, count: rows.length };
  }

  /** The ids `featurizeAll` should write straight into one array for these rows, with room to spare; 0: use blocks. */
  private directCapacity(rows: readonly { texts: readonly string[] }[], direct: { ids: number; rows: number }): number {
    if (rows.length < direct.rows || rows.length * this.config.maxFeatures < direct.ids) return 0;
    const sample = Math.min(rows.length, SIZING_SAMPLE);
    const stride = rows.length / sample;
    let total = 0;
    for (let j = 0; j < sample; j++) {
      this.length = 0;
      this.collect(rows[Math.floor(j * stride)]!.texts);
      total += this.length;
    }
    const estimate = (total / sample) * rows.length;
    return estimate < direct.ids ? 0 : Math.min(Math.ceil(estimate * 1.5) + FEATURE_BLOCK, 2 ** 31 - 1);
  }

  private push(hash: number): void {
    if (this.length >= this.config.maxFeatures) return;
    if (this.length === this.buffer.length) {
      const grown = new Int32Array(this.buffer.length * 2);
      grown.set(this.buffer);
      this.buffer = grown;
    }
    this.buffer[this.length++] = finalize(hash) & this.mask;
  }

  private collect(texts: readonly string[]): void {
    const tokenLists = texts.map((t) => tokenize(t, this.config.lowercase, this.config.normalize));
    tokenLists.forEach((tokens, segment) => this.collectSegment(tokens, SEGMENT_SEEDS[segment % 2]!));
    if (tokenLists.length === 2) this.collectPairFeatures(tokenLists[0]!, tokenLists[1]!);
  }

  private collectSegment(tokens: readonly string[], seed: number): void {
    const hashes = tokens.map((t) => hashString(t, seed));
    for (let i = 0; i < hashes.length; i++) {
      this.push(hashes[i]!);
      // Word n-grams combine the word hashes as fastText does: h = h * 116049371 + next.
      let h = hashes[i]!;
      for (let n = 2; n <= this.config.wordNgrams && i + n - 1 < hashes.length; n++) {
        h = (Math.imul(h, 116049371) + hashes[i + n - 1]!) >>> 0;
        this.push(h ^ n);
      }
    }
    const range = this.config.charNgrams;
    if (range) {
      for (const token of tokens) {
        const word = `<${token}>`;
        for (let n = range[0]; n <= range[1]; n++) {
          for (let start = 0; start + n <= word.length; start++) {
            if (n === word.length) continue;
            this.push(hashString(word.slice(start, start + n), seed ^ CHAR_SEED));
          }
        }
      }
    }
  }

  /** Pairs: words the two texts share, and bucketed overlap and length ratios. */
  private collectPairFeatures(a: readonly string[], b: readonly string[]): void {
    const inB = new Set(b);
    const shared = new Set<string>();
    for (const token of a) if (inB.has(token)) shared.add(token);
    for (const token of shared) this.push(hashString(token, OVERLAP_SEED));
    const union = new Set([...a, ...b]).size;
    const jaccard = union === 0 ? 0 : shared.size / union;
    const lengthRatio = Math.min(a.length, b.length) / Math.max(1, a.length, b.length);
    this.push(hashString(`jaccard:${Math.round(jaccard * 10)}`, PAIR_STAT_SEED));
    this.push(hashString(`length:${Math.round(lengthRatio * 5)}`, PAIR_STAT_SEED));
  }
}
