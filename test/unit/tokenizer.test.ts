import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { Tokenizer } from '@huggingface/tokenizers';
import { longestFirstLengths, padBatch, TextTokenizer } from '../../src/core/model/transformer/tokenizer';
import { DimpError } from '../../src/core/errors';
import { SAMPLE_DIR } from './helpers';
import { BERT_TOKENIZER_FILE, NEEDS_BERT_TOKENIZER, sampleWordPiece } from './transformerFixtures';

/**
 * Token ids of BERT uncased, worked out independently of @huggingface/tokenizers: BERT's basic tokenizer
 * (lowercase, strip accents, split punctuation) and greedy longest-match WordPiece over the vocabulary in
 * tokenizer.json, each piece looked up by hand (e.g. "hello" 7592, "world" 2088, "[CLS]" 101, "[SEP]" 102).
 */
const BERT_TABLE: { texts: string[]; tokens: string[]; ids: number[] }[] = [
  { texts: ['Hello, world!'], tokens: ['[CLS]', 'hello', ',', 'world', '!', '[SEP]'], ids: [101, 7592, 1010, 2088, 999, 102] },
  {
    texts: ['The movie was UNBELIEVABLY good.'],
    tokens: ['[CLS]', 'the', 'movie', 'was', 'un', '##bel', '##ie', '##va', '##bly', 'good', '.', '[SEP]'],
    ids: [101, 1996, 3185, 2001, 4895, 8671, 2666, 3567, 6321, 2204, 1012, 102],
  },
  {
    texts: ['Café crème brûlée costs $3.50 — really?'],
    tokens: ['[CLS]', 'cafe', 'cr', '##eme', 'br', '##ule', '##e', 'costs', '$', '3', '.', '50', '—', 'really', '?', '[SEP]'],
    ids: [101, 7668, 13675, 21382, 7987, 9307, 2063, 5366, 1002, 1017, 1012, 2753, 1517, 2428, 1029, 102],
  },
  {
    texts: ["It's a well-known fact that naïve embeddings underperform."],
    tokens: ['[CLS]', 'it', "'", 's', 'a', 'well', '-', 'known', 'fact', 'that', 'naive', 'em', '##bed', '##ding', '##s', 'under', '##per', '##form', '.', '[SEP]'],
    ids: [101, 2009, 1005, 1055, 1037, 2092, 1011, 2124, 2755, 2008, 15743, 7861, 8270, 4667, 2015, 2104, 4842, 14192, 1012, 102],
  },
  {
    texts: ["unaffable tokenizers don't tokenize 🙂 emoji"],
    tokens: ['[CLS]', 'una', '##ffa', '##ble', 'token', '##izer', '##s', 'don', "'", 't', 'token', '##ize', '[UNK]', 'em', '##oj', '##i', '[SEP]'],
    ids: [101, 14477, 20961, 3468, 19204, 17629, 2015, 2123, 1005, 1056, 19204, 4697, 100, 7861, 29147, 2072, 102],
  },
  {
    texts: ['Is this a paraphrase?', 'This is surely a paraphrase.'],
    tokens: ['[CLS]', 'is', 'this', 'a', 'para', '##ph', '##rase', '?', '[SEP]', 'this', 'is', 'surely', 'a', 'para', '##ph', '##rase', '.', '[SEP]'],
    ids: [101, 2003, 2023, 1037, 11498, 8458, 23797, 1029, 102, 2023, 2003, 7543, 1037, 11498, 8458, 23797, 1012, 102],
  },
  {
    texts: ['The company said profits rose 12% in 2003.', 'Profits increased by twelve percent, the firm said.'],
    tokens: [
      '[CLS]', 'the', 'company', 'said', 'profits', 'rose', '12', '%', 'in', '2003', '.', '[SEP]',
      'profits', 'increased', 'by', 'twelve', 'percent', ',', 'the', 'firm', 'said', '.', '[SEP]',
    ],
    ids: [101, 1996, 2194, 2056, 11372, 3123, 2260, 1003, 1999, 2494, 1012, 102, 11372, 3445, 2011, 4376, 3867, 1010, 1996, 3813, 2056, 1012, 102],
  },
];

describe('tokenization', () => {
  describe('with the real BERT uncased WordPiece tokenizer', { skip: NEEDS_BERT_TOKENIZER }, () => {
    const load = (maxLength: number): TextTokenizer => TextTokenizer.create(JSON.parse(readFileSync(BERT_TOKENIZER_FILE, 'utf8')), {}, { maxLength }, BERT_TOKENIZER_FILE);

    test('ids of sentences and pairs equal the hand-checked table', () => {
      const tokenizer = load(512);
      for (const row of BERT_TABLE) {
        const encoded = tokenizer.encode(row.texts);
        assert.deepEqual(Array.from(encoded.ids), row.ids, `ids of ${JSON.stringify(row.texts)}`);
        const firstSep = row.tokens.indexOf('[SEP]');
        const expectedTypes = row.tokens.map((_, i) => (row.texts.length === 2 && i > firstSep ? 1 : 0));
        assert.deepEqual(Array.from(encoded.typeIds), expectedTypes, `token_type_ids of ${JSON.stringify(row.texts)}`);
      }
    });

    test('untruncated ids agree with the library’s own encode()', () => {
      const json = JSON.parse(readFileSync(BERT_TOKENIZER_FILE, 'utf8')) as object;
      const library = new Tokenizer(json, {});
      const tokenizer = load(512);
      for (const row of BERT_TABLE) {
        const reference = library.encode(row.texts[0]!, { text_pair: row.texts[1] ?? null, return_token_type_ids: true });
        assert.deepEqual(Array.from(tokenizer.encode(row.texts).ids), reference.ids);
        assert.deepEqual(Array.from(tokenizer.encode(row.texts).typeIds), reference.token_type_ids);
      }
    });

    test('a single text is cut at the maximum length, special tokens included', () => {
      // [CLS] the movie was un ##bel [SEP]
      assert.deepEqual(Array.from(load(7).encode(['The movie was UNBELIEVABLY good.']).ids), [101, 1996, 3185, 2001, 4895, 8671, 102]);
    });

    test('a pair is cut longest-first: equal lengths give the second text the odd token', () => {
      // 10 + 10 tokens into 10 − 3 special = 7: first keeps 3, second 4.
      const encoded = load(10).encode(BERT_TABLE[6]!.texts);
      assert.deepEqual(Array.from(encoded.ids), [101, 1996, 2194, 2056, 102, 11372, 3445, 2011, 4376, 102]);
      assert.deepEqual(Array.from(encoded.typeIds), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    });

    test('a pair keeps its shorter text whole when that fits in half the budget', () => {
      // "is this a para ##ph ##rase ?" (7) + "profits … ." (10) into 18 − 3 = 15: 7 and 8.
      const encoded = load(18).encode(['Is this a paraphrase?', BERT_TABLE[6]!.texts[1]!]);
      assert.deepEqual(Array.from(encoded.ids), [101, 2003, 2023, 1037, 11498, 8458, 23797, 1029, 102, 11372, 3445, 2011, 4376, 3867, 1010, 1996, 3813, 102]);
      // Into 15 − 3 = 12 both are over half: 6 and 6.
      const halved = load(15).encode(['Is this a paraphrase?', BERT_TABLE[6]!.texts[1]!]);
      assert.deepEqual(Array.from(halved.ids), [101, 2003, 2023, 1037, 11498, 8458, 23797, 102, 11372, 3445, 2011, 4376, 3867, 1010, 102]);
    });
  });

  test('longest_first lengths follow the Rust tokenizers crate (its own test table, budget 7)', () => {
    const lengths = { empty: 0, short: 2, medium: 4, long: 8 };
    const expected: [keyof typeof lengths, keyof typeof lengths, number, number][] = [
      ['empty', 'long', 0, 7],
      ['short', 'long', 2, 5],
      ['medium', 'medium', 3, 4],
      ['medium', 'long', 3, 4],
      ['long', 'short', 5, 2],
      ['long', 'medium', 4, 3],
      ['long', 'long', 3, 4],
      ['short', 'medium', 2, 4],
    ];
    for (const [a, b, n1, n2] of expected) assert.deepEqual(longestFirstLengths(lengths[a], lengths[b], 7), [n1, n2], `${a} + ${b}`);
  });

  test('padding: dynamic length, attention mask, token types, both sides and both id types', () => {
    const rows = [
      { ids: Int32Array.from([2, 10, 3]), typeIds: Int32Array.from([0, 0, 0]) },
      { ids: Int32Array.from([2, 11, 3, 12, 3]), typeIds: Int32Array.from([0, 0, 0, 1, 1]) },
    ];
    const right = padBatch(rows, { padId: 0, padTypeId: 0, padLeft: false }, 'int32');
    assert.equal(right.length, 5);
    assert.deepEqual(Array.from(right.inputIds as Int32Array), [2, 10, 3, 0, 0, 2, 11, 3, 12, 3]);
    assert.deepEqual(Array.from(right.attentionMask as Int32Array), [1, 1, 1, 0, 0, 1, 1, 1, 1, 1]);
    assert.deepEqual(Array.from(right.tokenTypeIds as Int32Array), [0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
    const left = padBatch(rows, { padId: 9, padTypeId: 0, padLeft: true, fixedLength: 6 }, 'int64');
    assert.equal(left.length, 6);
    assert.deepEqual(Array.from(left.inputIds as BigInt64Array, Number), [9, 9, 9, 2, 10, 3, 9, 2, 11, 3, 12, 3]);
    assert.deepEqual(Array.from(left.attentionMask as BigInt64Array, Number), [0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1]);
  });

  test('the project-built WordPiece tokenizer encodes pairs with BERT’s template', () => {
    const { tokenizer: json } = sampleWordPiece();
    const tokenizer = TextTokenizer.create(json, {}, { maxLength: 64 }, 'tokenizer.json');
    const vocab = json.model.vocab;
    const encoded = tokenizer.encode(['It does the job.', 'Great value!']);
    const expected = ['[CLS]', 'it', 'does', 'the', 'job', '.', '[SEP]', 'great', 'value', '!', '[SEP]'].map((t) => vocab[t]);
    assert.deepEqual(Array.from(encoded.ids), expected);
    assert.deepEqual(Array.from(encoded.typeIds), [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
  });

  test('long texts tokenized from a prefix give exactly the ids of the whole texts', () => {
    const { tokenizer: json } = sampleWordPiece();
    const texts = readFileSync(path.join(SAMPLE_DIR, 'synthetic.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .slice(0, 400)
      .map((line) => (JSON.parse(line) as { sentence: string }).sentence);
    const rows: string[][] = [];
    for (let i = 0; i + 3 < texts.length; i += 4) {
      rows.push([texts.slice(i, i + 4).join(' ')]);
      rows.push([texts[i]!, texts.slice(i + 1, i + 4).join(' ')]);
      rows.push([texts.slice(i, i + 3).join('  \n '), texts[i + 3]!]);
    }
    for (const maxLength of [8, 16, 33, 128]) {
      const tokenizer = TextTokenizer.create(json, {}, { maxLength }, 'tokenizer.json');
      for (const row of rows) assert.deepEqual(tokenizer.encode(row), tokenizer.encode(row, { wholeTexts: true }), `max ${maxLength}: ${JSON.stringify(row)}`);
    }
  });

  test('a tokenizer.json the library cannot read is a badModel error naming the file', () => {
    assert.throws(
      () => TextTokenizer.create({ version: '1.0' }, {}, { maxLength: 16 }, '/models/x/tokenizer.json'),
      (error: unknown) => error instanceof DimpError && error.kind === 'badModel' && /tokenizer\.json: tokenizer\.json has no "model" section/.test(error.message),
    );
    assert.throws(
      () => TextTokenizer.create({ model: { type: 'NoSuchModel' } }, {}, { maxLength: 16 }, '/models/x/tokenizer.json'),
      (error: unknown) => error instanceof DimpError && error.kind === 'badModel' && /cannot build this tokenizer/.test(error.message),
    );
  });
});
