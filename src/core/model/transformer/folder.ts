/**
 * Transformer model folders in Hugging Face's layout: `config.json`, `tokenizer.json` (+ `tokenizer_config.json`)
 * and the ONNX graph at `model.onnx` or `onnx/model.onnx`. Reading a folder checks every file it needs and
 * says which one is missing or wrong; the graph itself is checked once a session has opened it.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DimpError } from '../../errors';

/** Where the graph may be, in the order looked for (Optimum writes the first, Transformers.js the second). */
export const GRAPH_LOCATIONS: readonly string[] = ['model.onnx', path.join('onnx', 'model.onnx')];

/** The `config.json` fields the transformer loader reads; the rest is kept as is. */
export interface TransformerConfigJson {
  model_type?: string;
  architectures?: string[];
  id2label?: Record<string, string>;
  label2id?: Record<string, number>;
  num_labels?: number;
  problem_type?: string;
  hidden_size?: number;
  dim?: number;
  max_position_embeddings?: number;
  vocab_size?: number;
  /** Written by DIMP Curator on an exported encoder + head. */
  dimp_head?: Record<string, unknown>;
  [key: string]: unknown;
}

/** The files of a transformer folder, read and checked. */
export interface TransformerFolder {
  folder: string;
  configFile: string;
  config: TransformerConfigJson;
  graphFile: string;
  tokenizerFile: string;
  /** Parsed `tokenizer.json`. */
  tokenizerJson: unknown;
  /** Present when the folder has one. */
  tokenizerConfigFile: string | undefined;
  tokenizerConfig: Record<string, unknown>;
}

async function readJsonFile(file: string, what: string, hint: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new DimpError('badModel', code === 'ENOENT' ? `missing ${what} ${hint}` : `cannot read ${what}: ${(error as Error).message}`, { file });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new DimpError('badModel', `${what} is not valid JSON: ${(error as Error).message}`, { file });
  }
}

const isFile = async (file: string): Promise<boolean> => (await fs.stat(file).catch(() => undefined))?.isFile() ?? false;

/** The graph file of a folder: `model.onnx`, else `onnx/model.onnx`. */
export async function findGraphFile(folder: string): Promise<string> {
  for (const location of GRAPH_LOCATIONS) {
    const file = path.join(folder, location);
    if (await isFile(file)) return file;
  }
  throw new DimpError('badModel', `missing the ONNX graph: looked for ${GRAPH_LOCATIONS.join(' and ')} (export one with Optimum: optimum-cli export onnx --model NAME DIR)`, { file: folder });
}

/**
 * Reads a transformer folder's files; `config` is its already parsed `config.json`. Each missing or
 * malformed file is a `badModel` error with the file's path.
 */
export async function readTransformerFolder(folder: string, config: TransformerConfigJson): Promise<TransformerFolder> {
  const configFile = path.join(folder, 'config.json');
  const tokenizerFile = path.join(folder, 'tokenizer.json');
  if (!(await isFile(tokenizerFile))) {
    const what = config.model_type ? `model_type "${config.model_type}" is not the built-in model, so this must be a transformer folder, but it` : 'this folder';
    throw new DimpError(
      'badModel',
      `${what} has no tokenizer.json (a transformer model folder needs config.json, tokenizer.json and model.onnx or onnx/model.onnx; ` +
        'save the tokenizer with tokenizer.save_pretrained(DIR))',
      { file: tokenizerFile },
    );
  }
  const tokenizerJson = await readJsonFile(tokenizerFile, 'tokenizer.json', '');
  const tokenizerConfigPath = path.join(folder, 'tokenizer_config.json');
  // tokenizer_config.json adds limits and special-token names; without it the tokenizer.json alone decides.
  let tokenizerConfigFile: string | undefined;
  let tokenizerConfig: Record<string, unknown> = {};
  if (await isFile(tokenizerConfigPath)) {
    const parsed = await readJsonFile(tokenizerConfigPath, 'tokenizer_config.json', '');
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new DimpError('badModel', 'tokenizer_config.json must be a JSON object', { file: tokenizerConfigPath });
    tokenizerConfigFile = tokenizerConfigPath;
    tokenizerConfig = parsed as Record<string, unknown>;
  }
  if (config.problem_type === 'multi_label_classification' || config.problem_type === 'regression') {
    throw new DimpError('badModel', `problem_type "${config.problem_type}" is not single-label classification: the weights need one gold label per row`, { file: configFile });
  }
  if (config.id2label) {
    const size = Object.keys(config.id2label).length;
    if (config.num_labels !== undefined && config.num_labels !== size) {
      throw new DimpError('badModel', `num_labels is ${config.num_labels} but id2label names ${size} labels`, { file: configFile });
    }
    if (config.label2id) {
      for (const [id, name] of Object.entries(config.id2label)) {
        if (config.label2id[name] !== Number(id)) {
          throw new DimpError('badModel', `label2id does not mirror id2label: id2label["${id}"] is "${name}" but label2id["${name}"] is ${JSON.stringify(config.label2id[name])}`, { file: configFile });
        }
      }
    }
  }
  return { folder, configFile, config, graphFile: await findGraphFile(folder), tokenizerFile, tokenizerJson, tokenizerConfigFile, tokenizerConfig };
}

/** Reads `config.json` of any model folder (for the encoder, which needs no id2label). */
export async function readConfigJson(folder: string): Promise<TransformerConfigJson> {
  const stat = await fs.stat(folder).catch(() => undefined);
  if (!stat?.isDirectory()) throw new DimpError('badModel', 'model folder not found (expected a folder with config.json, tokenizer.json and an ONNX graph)', { file: folder });
  const configFile = path.join(folder, 'config.json');
  const config = await readJsonFile(configFile, 'config.json', '');
  if (!config || typeof config !== 'object' || Array.isArray(config)) throw new DimpError('badModel', 'config.json must be a JSON object', { file: configFile });
  return config as TransformerConfigJson;
}

/**
 * The longest input the model takes, from the most specific source: the tokenizer's own limit, else the
 * position embeddings (RoBERTa-style models reserve two positions for the padding offset), else 512.
 */
export function modelMaxLength(config: TransformerConfigJson, tokenizerLimit: number | undefined): number {
  const positions = config.max_position_embeddings;
  const offset = ['roberta', 'xlm-roberta', 'camembert', 'longformer'].includes(config.model_type ?? '') ? 2 : 0;
  const positionLimit = typeof positions === 'number' && positions > offset ? positions - offset : undefined;
  const limits = [tokenizerLimit, positionLimit].filter((x): x is number => x !== undefined);
  return limits.length > 0 ? Math.min(...limits) : 512;
}
