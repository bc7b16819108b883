/**
 * The transformer models' text front end: a Hugging Face `tokenizer.json` run by `@huggingface/tokenizers`
 * (pure JavaScript, no network), plus what that library leaves out: truncation to a maximum length (with
 * the Rust `tokenizers` crate's `longest_first` rule for pairs), padding of a batch, the attention mask and
 * `token_type_ids`.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { DimpError } from '../../errors';

/** One row's tokens: ids with special tokens, and their segment (token type) ids. */
export interface EncodedRow {
  ids: Int32Array;
  typeIds: Int32Array;
}

/** How sequences longer than the maximum are cut (the names of Hugging Face's `tokenizers`). */
export type TruncationStrategy = 'longest_first' | 'only_first' | 'only_second';

/** What the tokenizer needs besides its files. */
export interface TokenizerOptions {
  /** Longest sequence in tokens, special tokens included. */
  maxLength: number;
  /** Defaults to `tokenizer.json`'s truncation strategy, else `longest_first`. */
  truncation?: TruncationStrategy;
}

interface TokenizerJsonSettings {
  truncation?: { max_length?: number; strategy?: string; direction?: string } | null;
  padding?: { pad_id?: number; pad_type_id?: number; pad_token?: string; direction?: string } | null;
  model?: { unk_token?: string };
  pre_tokenizer?: { type?: string; pretokenizers?: { type?: string }[] } | null;
}

/** Pre-tokenizers that split on whitespace first, so words are tokenized independently of what follows. */
const WORD_LOCAL_PRE_TOKENIZERS = new Set(['BertPreTokenizer', 'Whitespace', 'WhitespaceSplit', 'Metaspace', 'ByteLevel']);

/** Words past the budget kept when tokenizing a prefix: slack for words that normalise to nothing. */
const PREFIX_SLACK_WORDS = 8;

/** The end of the `words`-th whitespace-separated word of `text`, or undefined when it has fewer words. */
function endOfWords(text: string, words: number): number | undefined {
  const pattern = /\S+/g;
  for (let i = 0; i < words; i++) if (pattern.exec(text) === null) return undefined;
  return pattern.lastIndex;
}

/** The limits and padding a `tokenizer.json` + `tokenizer_config.json` pair declares. */
export interface TokenizerLimits {
  /** `truncation.max_length` of tokenizer.json, or `model_max_length` of tokenizer_config.json (absent when "unlimited"). */
  maxLength: number | undefined;
}

const STRATEGIES: Record<string, TruncationStrategy> = {
  LongestFirst: 'longest_first',
  OnlyFirst: 'only_first',
  OnlySecond: 'only_second',
  longest_first: 'longest_first',
  only_first: 'only_first',
  only_second: 'only_second',
};

/**
 * Lengths of the two texts of a pair after truncating them to `budget` tokens together, as the Rust
 * `tokenizers` crate does for `longest_first`: the shorter text is kept whole when the longer one can give up
 * enough; otherwise both get half, the longer one (or, when equal, the second) taking the odd token.
 */
export function longestFirstLengths(first: number, second: number, budget: number): [number, number] {
  if (first + second <= budget) return [first, second];
  const swap = first > second;
  let n1 = swap ? second : first;
  let n2: number;
  n2 = n1 > budget ? n1 : Math.max(n1, budget - n1);
  if (n1 + n2 > budget) {
    n1 = Math.floor(budget / 2);
    n2 = n1 + (budget % 2);
  }
  return swap ? [n2, n1] : [n1, n2];
}

/** Reads the maximum length and padding a tokenizer's files declare, without building the tokenizer. */
export function tokenizerLimits(tokenizerJson: unknown, tokenizerConfig: Record<string, unknown>): TokenizerLimits {
  const settings = (tokenizerJson ?? {}) as TokenizerJsonSettings;
  const fromJson = settings.truncation?.max_length;
  const fromConfig = tokenizerConfig.model_max_length;
  // Hugging Face writes 1e30 (VERY_LARGE_INTEGER) for "no limit".
  const configLimit = typeof fromConfig === 'number' && fromConfig > 0 && fromConfig < 1e6 ? fromConfig : undefined;
  const candidates = [typeof fromJson === 'number' && fromJson > 0 ? fromJson : undefined, configLimit].filter((x): x is number => x !== undefined);
  return { maxLength: candidates.length > 0 ? Math.min(...candidates) : undefined };
}

/** A tokenizer for single texts and pairs, with truncation and the ids padding needs. */
export class TextTokenizer {
  readonly maxLength: number;
  readonly truncation: TruncationStrategy;
  /** Id of the padding token. */
  readonly padId: number;
  readonly padTypeId: number;
  /** True when padding goes before the tokens (`padding_side: "left"`). */
  readonly padLeft: boolean;
  /** Largest token id the tokenizer can produce, for checking against the model's vocabulary. */
  readonly maxTokenId: number;
  private readonly truncateLeft: boolean;
  /** Whether long texts may be tokenized from a prefix only (see `tokenizeBounded`). */
  private readonly prefixSafe: boolean;
  private readonly unkId: number;
  private readonly specialTokens: { single: number; pair: number };

  private constructor(
    private readonly tokenizer: Tokenizer,
    settings: TokenizerJsonSettings,
    config: Record<string, unknown>,
    options: TokenizerOptions,
  ) {
    this.maxLength = options.maxLength;
    this.truncation = options.truncation ?? STRATEGIES[settings.truncation?.strategy ?? ''] ?? 'longest_first';
    this.truncateLeft = settings.truncation?.direction === 'Left' || config.truncation_side === 'left';
    const preTokenizer = settings.pre_tokenizer;
    const preTokenizerTypes = preTokenizer?.type === 'Sequence' ? (preTokenizer.pretokenizers ?? []).map((p) => p.type ?? '') : [preTokenizer?.type ?? ''];
    this.prefixSafe = !this.truncateLeft && preTokenizerTypes.some((t) => WORD_LOCAL_PRE_TOKENIZERS.has(t));
    const padToken = settings.padding?.pad_token ?? (typeof config.pad_token === 'string' ? config.pad_token : undefined);
    this.padId = settings.padding?.pad_id ?? (padToken !== undefined ? tokenizer.token_to_id(padToken) : undefined) ?? tokenizer.token_to_id('[PAD]') ?? tokenizer.token_to_id('<pad>') ?? 0;
    this.padTypeId = settings.padding?.pad_type_id ?? 0;
    this.padLeft = settings.padding?.direction === 'Left' || config.padding_side === 'left';
    const unkToken = settings.model?.unk_token ?? (typeof config.unk_token === 'string' ? config.unk_token : undefined);
    this.unkId = (unkToken !== undefined ? tokenizer.token_to_id(unkToken) : undefined) ?? 0;
    let maxId = 0;
    for (const id of tokenizer.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.maxTokenId = maxId;
    this.specialTokens = { single: this.postProcess([], null).tokens.length, pair: this.postProcess([], []).tokens.length };
    if (this.maxLength <= this.specialTokens.pair) throw new RangeError(`max length ${this.maxLength} leaves no room for text besides ${this.specialTokens.pair} special tokens`);
  }

  /**
   * Builds the tokenizer from the parsed `tokenizer.json` and `tokenizer_config.json`. Components the library
   * does not know (or a malformed file) become a `badModel` error naming `tokenizerFile`.
   */
  static create(tokenizerJson: unknown, tokenizerConfig: Record<string, unknown>, options: TokenizerOptions, tokenizerFile: string): TextTokenizer {
    if (!tokenizerJson || typeof tokenizerJson !== 'object' || !('model' in tokenizerJson)) {
      throw new DimpError('badModel', 'tokenizer.json has no "model" section: is it a Hugging Face tokenizers file?', { file: tokenizerFile });
    }
    // The library requires these keys to exist (null is fine); older files omit some of them.
    const complete = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [], ...(tokenizerJson as object) };
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(complete, tokenizerConfig);
    } catch (error) {
      throw new DimpError('badModel', `@huggingface/tokenizers cannot build this tokenizer: ${(error as Error).message}`, { file: tokenizerFile });
    }
    try {
      return new TextTokenizer(tokenizer, tokenizerJson as TokenizerJsonSettings, tokenizerConfig, options);
    } catch (error) {
      throw new DimpError('badModel', (error as Error).message, { file: tokenizerFile });
    }
  }

  /** Tokens of one text, without special tokens. */
  tokenize(text: string): string[] {
    return this.tokenizer.tokenize(text, { add_special_tokens: false });
  }

  /**
   * Tokens of a text of which at most `budget` will be kept, and whether they come from a prefix only. A
   * long text is tokenized from a prefix that ends a few words past `budget` words: with a
   * whitespace-splitting pre-tokenizer each word becomes at least one token on its own, so the prefix's
   * tokens begin exactly as the whole text's do. A prefix that falls short of the budget is redone whole.
   */
  private tokenizeBounded(text: string, budget: number): { tokens: string[]; prefix: boolean } {
    const end = this.prefixSafe ? endOfWords(text, budget + PREFIX_SLACK_WORDS) : undefined;
    if (end !== undefined && end < text.length) {
      const tokens = this.tokenize(text.slice(0, end));
      if (tokens.length >= budget) return { tokens, prefix: true };
    }
    return { tokens: this.tokenize(text), prefix: false };
  }

  /** Token ids of a single text or a pair, truncated to `maxLength` and with the model's special tokens. */
  encode(texts: readonly string[], options: { wholeTexts?: boolean } = {}): EncodedRow {
    if (texts.length < 1 || texts.length > 2) throw new RangeError(`a row has one text or a pair, got ${texts.length} texts`);
    const pair = texts.length === 2;
    const budget = this.maxLength - (pair ? this.specialTokens.pair : this.specialTokens.single);
    let first: string[];
    let second: string[] | null = null;
    if (options.wholeTexts || (pair && this.truncation !== 'longest_first')) {
      first = this.tokenize(texts[0]!);
      if (pair) second = this.tokenize(texts[1]!);
    } else {
      const a = this.tokenizeBounded(texts[0]!, budget);
      first = a.tokens;
      if (pair) {
        const b = this.tokenizeBounded(texts[1]!, budget);
        second = b.tokens;
        // longest_first needs only each length compared with the budget, and which text is longer (the longer
        // takes the odd token; on a tie, the second): a prefix keeps that order only if it is still the
        // longer one (strictly, for the first text). Otherwise the texts are tokenized whole.
        if (a.prefix && (b.prefix || first.length <= second.length)) first = this.tokenize(texts[0]!);
        if (b.prefix && (a.prefix || second.length < first.length)) second = this.tokenize(texts[1]!);
      }
    }
    if (first.length + (second?.length ?? 0) > budget) {
      let keepFirst: number;
      let keepSecond: number;
      if (second === null) [keepFirst, keepSecond] = [budget, 0];
      else if (this.truncation === 'longest_first') [keepFirst, keepSecond] = longestFirstLengths(first.length, second.length, budget);
      else if (this.truncation === 'only_first') [keepFirst, keepSecond] = [Math.max(0, budget - second.length), second.length];
      else [keepFirst, keepSecond] = [first.length, Math.max(0, budget - first.length)];
      first = this.cut(first, keepFirst);
      if (second !== null) second = this.cut(second, keepSecond);
    }
    const processed = this.postProcess(first, second);
    const ids = new Int32Array(processed.tokens.length);
    for (let i = 0; i < ids.length; i++) ids[i] = this.tokenizer.token_to_id(processed.tokens[i]!) ?? this.unkId;
    return { ids, typeIds: Int32Array.from(processed.typeIds) };
  }

  private cut(tokens: string[], keep: number): string[] {
    return this.truncateLeft ? tokens.slice(tokens.length - keep) : tokens.slice(0, keep);
  }

  /** Adds special tokens as the tokenizer's post-processor does; without one, the pair's tokens get segment 1. */
  private postProcess(first: string[], second: string[] | null): { tokens: string[]; typeIds: number[] } {
    const processor = this.tokenizer.post_processor;
    if (!processor) {
      return { tokens: [...first, ...(second ?? [])], typeIds: [...first.map(() => 0), ...(second ?? []).map(() => 1)] };
    }
    const out = processor.post_process(first, second, true);
    // Some processors (ByteLevel) hand the pair back separately instead of merging it.
    const tokens = out.tokens_pair ? [...out.tokens, ...out.tokens_pair] : out.tokens;
    const typeIds = out.token_type_ids ?? [...out.tokens.map(() => 0), ...(out.tokens_pair ?? []).map(() => 1)];
    return { tokens, typeIds };
  }
}

/** A padded batch in the element type the graph asks for. */
export interface PaddedBatch {
  inputIds: BigInt64Array | Int32Array;
  attentionMask: BigInt64Array | Int32Array;
  tokenTypeIds: BigInt64Array | Int32Array;
  /** Rows in the batch. */
  count: number;
  /** Padded length of every row. */
  length: number;
}

/**
 * Pads `rows` to the longest of them (dynamic padding), or to `fixedLength` for graphs with a static
 * sequence dimension; the attention mask is 1 on tokens and 0 on padding.
 */
export function padBatch(
  rows: readonly EncodedRow[],
  padding: { padId: number; padTypeId: number; padLeft: boolean; fixedLength?: number },
  idType: 'int64' | 'int32',
): PaddedBatch {
  let length = padding.fixedLength ?? 1;
  if (padding.fixedLength === undefined) for (const row of rows) length = Math.max(length, row.ids.length);
  const size = rows.length * length;
  const ids = new Int32Array(size).fill(padding.padId);
  const mask = new Int32Array(size);
  const types = new Int32Array(size).fill(padding.padTypeId);
  rows.forEach((row, r) => {
    const n = Math.min(row.ids.length, length);
    const start = r * length + (padding.padLeft ? length - n : 0);
    ids.set(row.ids.subarray(0, n), start);
    types.set(row.typeIds.subarray(0, n), start);
    mask.fill(1, start, start + n);
  });
  if (idType === 'int32') return { inputIds: ids, attentionMask: mask, tokenTypeIds: types, count: rows.length, length };
  const widen = (a: Int32Array): BigInt64Array => {
    const out = new BigInt64Array(a.length);
    for (let i = 0; i < a.length; i++) out[i] = BigInt(a[i]!);
    return out;
  };
  return { inputIds: widen(ids), attentionMask: widen(mask), tokenTypeIds: widen(types), count: rows.length, length };
}
