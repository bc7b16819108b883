import { existsSync } from 'node:fs';
import * as path from 'node:path';
import {
  BERT_TINY,
  buildWordPieceTokenizer,
  randomBertWeights,
  readTokenizerJson,
  sampleTexts,
  SHARED_BERT_TOKENIZER,
  writeTestModelFolder,
  type BertGraphOptions,
  type BertWeights,
  type TokenizerJson,
} from '../../scripts/test-models';
import { REPO_ROOT } from './helpers';

/** The real BERT uncased tokenizer in the project's shared data (absent on a user's clone). */
export const BERT_TOKENIZER_FILE = path.join(REPO_ROOT, SHARED_BERT_TOKENIZER);

/** `skip` value for tests that need the real tokenizer: false when present, else why they are skipped. */
export const NEEDS_BERT_TOKENIZER: false | string = existsSync(BERT_TOKENIZER_FILE)
  ? false
  : `the BERT uncased tokenizer is not at ${BERT_TOKENIZER_FILE} (it lives in the project's shared data, not in the repository)`;

/** The sample's three labels. */
export const SAMPLE_LABELS = ['negative', 'neutral', 'positive'] as const;

let sampleTokenizer: { tokenizer: TokenizerJson; vocabSize: number } | undefined;

/** A small WordPiece tokenizer built from the bundled sample: always available. */
export function sampleWordPiece(): { tokenizer: TokenizerJson; vocabSize: number } {
  if (!sampleTokenizer) {
    const tokenizer = buildWordPieceTokenizer(sampleTexts(REPO_ROOT), 1500);
    sampleTokenizer = { tokenizer, vocabSize: Object.keys(tokenizer.model.vocab).length };
  }
  return sampleTokenizer;
}

/** The real tokenizer (callers skip with NEEDS_BERT_TOKENIZER when it is absent). */
export function bertWordPiece(): { tokenizer: TokenizerJson; vocabSize: number } {
  return readTokenizerJson(BERT_TOKENIZER_FILE);
}

/** A tiny BERT-like model folder and the weights it was built from. */
export interface TestFolder {
  dir: string;
  weights: BertWeights;
  graph: BertGraphOptions;
}

/** Writes a tiny (2 layers, hidden 64) model folder with seeded weights. */
export async function tinyModelFolder(
  dir: string,
  options: { seed: number; tokenizer?: { tokenizer: TokenizerJson; vocabSize: number }; labels?: readonly string[]; graph?: Partial<BertGraphOptions>; layout?: 'root' | 'onnx-subfolder'; typeVocabSize?: number },
): Promise<TestFolder> {
  const { tokenizer, vocabSize } = options.tokenizer ?? sampleWordPiece();
  const labels = options.labels;
  const graph: BertGraphOptions = {
    output: labels ? 'sequence-classification' : 'last-hidden-state',
    idType: 'int64',
    tokenTypeIds: true,
    ...options.graph,
  };
  const weights = randomBertWeights({ ...BERT_TINY, vocabSize, typeVocabSize: options.typeVocabSize ?? BERT_TINY.typeVocabSize }, options.seed, labels?.length ?? 0);
  await writeTestModelFolder(dir, { weights, graph, tokenizer, labels, layout: options.layout });
  return { dir, weights, graph };
}
