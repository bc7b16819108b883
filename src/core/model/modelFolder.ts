import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DimpError, throwIfCancelled, yieldToEventLoop } from '../errors';
import { writeFolderAtomic } from '../io/atomic';
import { LabelMap } from '../data/labels';
import type { LoadedClassifier, PredictOptions } from './classifier';

export type { LoadedClassifier, PredictOptions } from './classifier';
import { openModelSession, tensor, type DeviceChoice, type ModelSession } from '../runtime/onnxRuntime';
import { Featurizer, type FeatureMatrix, type FeaturizerConfig } from './featurizer';
import type { NgramParameters } from './ngramClassifier';
import { buildNgramOnnx, NGRAM_GRAPH } from './ngramOnnx';
import type { TransformerConfigJson } from './transformer/folder';
import { TransformerClassifier, type TransformerLoadOptions } from './transformer/sequenceClassifier';

/** `model_type` of the built-in model in `config.json`. */
export const NGRAM_MODEL_TYPE = 'dimp-ngram';

interface NgramConfigJson {
  model_type: string;
  architectures?: string[];
  id2label?: Record<string, string>;
  label2id?: Record<string, number>;
  num_labels?: number;
  dimp?: { onnx: string; featurizer: string; dim: number; buckets: number };
}

/** Writes the built-in model's files (`config.json`, `model.onnx`, `featurizer.json`) into `dir`. */
export async function writeNgramModelFiles(
  dir: string,
  parameters: NgramParameters,
  featurizer: FeaturizerConfig,
  labelMap: LabelMap,
  extra: Record<string, unknown> = {},
): Promise<void> {
  if (parameters.shape.numClasses !== labelMap.size) throw new Error(`model has ${parameters.shape.numClasses} classes, label map ${labelMap.size}`);
  const config: NgramConfigJson & Record<string, unknown> = {
    model_type: NGRAM_MODEL_TYPE,
    architectures: ['DimpNgramClassifier'],
    id2label: labelMap.toId2Label(),
    label2id: labelMap.toLabel2Id(),
    num_labels: labelMap.size,
    dimp: { onnx: 'model.onnx', featurizer: 'featurizer.json', dim: parameters.shape.dim, buckets: parameters.shape.buckets },
    ...extra,
  };
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'model.onnx'), buildNgramOnnx(parameters));
  await fs.writeFile(path.join(dir, 'featurizer.json'), JSON.stringify(featurizer, null, 2) + '\n');
  await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
}

/** Saves the built-in model as a new folder, atomically. */
export async function saveNgramModel(target: string, parameters: NgramParameters, featurizer: FeaturizerConfig, labelMap: LabelMap, extra: Record<string, unknown> = {}): Promise<void> {
  await fs.rm(target, { recursive: true, force: true });
  await writeFolderAtomic(target, (tmp) => writeNgramModelFiles(tmp, parameters, featurizer, labelMap, extra));
}

async function readJson(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new DimpError('badModel', code === 'ENOENT' ? `missing ${what}` : `cannot read ${what}: ${(error as Error).message}`, { file });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new DimpError('badModel', `${what} is not valid JSON: ${(error as Error).message}`, { file });
  }
}

/**
 * Loads a model folder for inference; every missing or inconsistent part is named in the error. A
 * `model_type` other than the built-in one means a transformer folder in Hugging Face's layout.
 */
export async function loadClassifier(folder: string, device: DeviceChoice = 'cpu', options: TransformerLoadOptions = {}): Promise<LoadedClassifier> {
  const { config, labelMap } = await readModelConfig(folder);
  if (config.model_type === NGRAM_MODEL_TYPE) return NgramOnnxClassifier.open(folder, config, labelMap, device);
  return TransformerClassifier.open(folder, config as TransformerConfigJson, labelMap, device, options);
}

/** A model folder's `config.json` and its label map, read without opening the model. */
export async function readModelConfig(folder: string): Promise<{ config: NgramConfigJson; labelMap: LabelMap }> {
  const stat = await fs.stat(folder).catch(() => undefined);
  if (!stat?.isDirectory()) throw new DimpError('badModel', 'model folder not found (expected a folder with config.json and an ONNX graph)', { file: folder });
  const configFile = path.join(folder, 'config.json');
  const config = (await readJson(configFile, 'config.json')) as NgramConfigJson;
  if (!config || typeof config !== 'object') throw new DimpError('badModel', 'config.json must be a JSON object', { file: configFile });
  if (!config.id2label || typeof config.id2label !== 'object') throw new DimpError('badModel', 'config.json has no id2label', { file: configFile });
  return { config, labelMap: LabelMap.fromId2Label(config.id2label, configFile) };
}

/** Pads rows of feature ids into `[batch, length]` id and mask tensors' data. */
export function padFeatureBatch(features: FeatureMatrix, examples: ArrayLike<number>): { ids: Int32Array; mask: Float32Array; length: number } {
  let length = 1;
  for (let i = 0; i < examples.length; i++) {
    const e = examples[i]!;
    length = Math.max(length, features.offsets[e + 1]! - features.offsets[e]!);
  }
  const ids = new Int32Array(examples.length * length);
  const mask = new Float32Array(examples.length * length);
  for (let i = 0; i < examples.length; i++) {
    const e = examples[i]!;
    const start = features.offsets[e]!;
    const n = features.offsets[e + 1]! - start;
    // Element by element: a subarray per row is an allocation per row (garbage the profile showed).
    const at = i * length;
    for (let k = 0; k < n; k++) {
      ids[at + k] = features.ids[start + k]!;
      mask[at + k] = 1;
    }
  }
  return { ids, mask, length };
}

/** The built-in model served by onnxruntime. */
/** Rows per `session.run` of the built-in model, unless a caller says otherwise. */
export const NGRAM_BATCH_SIZE = 512;

/**
 * Rows featurised and sorted by length together (32 batches): the batches, and so every row's bits, depend
 * on this grid, which the scoring workers keep (each scores whole chunks of it).
 */
export function ngramChunkSize(batchSize: number): number {
  return batchSize * 32;
}

export class NgramOnnxClassifier implements LoadedClassifier {
  readonly provider: string;
  readonly fallbackReason: string | undefined;

  private constructor(
    readonly folder: string,
    readonly description: string,
    readonly labelMap: LabelMap,
    private readonly featurizer: Featurizer,
    private readonly model: ModelSession,
    /** The featurizer's settings as JSON: models with the same key featurise rows alike. */
    private readonly featurizerKey: string,
  ) {
    this.provider = model.provider;
    this.fallbackReason = model.fallbackReason;
  }

  /** `intraOpThreads`: onnxruntime's threads per `run` (absent: its default, every core); the scoring workers ask for 1. */
  static async open(folder: string, config: NgramConfigJson, labelMap: LabelMap, device: DeviceChoice, options: { intraOpThreads?: number } = {}): Promise<NgramOnnxClassifier> {
    const configFile = path.join(folder, 'config.json');
    const dimp = config.dimp;
    if (!dimp?.onnx || !dimp.featurizer) throw new DimpError('badModel', 'config.json of a dimp-ngram model needs "dimp": {"onnx", "featurizer", …}', { file: configFile });
    const featurizerFile = path.join(folder, dimp.featurizer);
    const featurizerConfig = (await readJson(featurizerFile, 'the featurizer file')) as FeaturizerConfig;
    if (featurizerConfig?.type !== 'dimp-hashed-ngrams') throw new DimpError('badModel', `featurizer type "${featurizerConfig?.type}" is not "dimp-hashed-ngrams"`, { file: featurizerFile });
    let featurizer: Featurizer;
    try {
      featurizer = new Featurizer(featurizerConfig);
    } catch (error) {
      throw new DimpError('badModel', (error as Error).message, { file: featurizerFile });
    }
    const onnxFile = path.join(folder, dimp.onnx);
    if (!(await fs.stat(onnxFile).catch(() => undefined))) throw new DimpError('badModel', `missing the ONNX graph ${dimp.onnx}`, { file: onnxFile });
    const session = await openModelSession(onnxFile, device, options);
    const missing = [NGRAM_GRAPH.featureIds, NGRAM_GRAPH.featureMask].filter((n) => !session.inputNames.includes(n));
    if (missing.length > 0 || !session.outputNames.includes(NGRAM_GRAPH.probabilities)) {
      await session.release();
      throw new DimpError(
        'badModel',
        `graph inputs [${session.inputNames.join(', ')}] / outputs [${session.outputNames.join(', ')}] are not those of a dimp-ngram model ` +
          `(needs inputs ${NGRAM_GRAPH.featureIds}, ${NGRAM_GRAPH.featureMask} and output ${NGRAM_GRAPH.probabilities})`,
        { file: onnxFile },
      );
    }
    // The graph's width must be config.json's label count: otherwise every probability is read off by rows.
    const declared = session.outputs.find((o) => o.name === NGRAM_GRAPH.probabilities)?.shape?.at(-1);
    if (typeof declared === 'number' && declared !== labelMap.size) {
      await session.release();
      throw new DimpError('badModel', `the graph's ${NGRAM_GRAPH.probabilities} has ${declared} values per row but config.json's id2label names ${labelMap.size} labels`, { file: onnxFile });
    }
    return new NgramOnnxClassifier(folder, `built-in n-gram (dim ${dimp.dim}, ${labelMap.size} labels)`, labelMap, featurizer, session, JSON.stringify(featurizerConfig));
  }

  async predict(rows: readonly { texts: readonly string[] }[], options: PredictOptions = {}): Promise<Float32Array> {
    return (await NgramOnnxClassifier.predictAll([this], rows, options))[0]!;
  }

  /** Whether two built-in models turn a row into the same feature ids (then one featurisation serves both). */
  sharesFeaturesWith(other: NgramOnnxClassifier): boolean {
    return this.featurizerKey === other.featurizerKey;
  }

  /**
   * The probabilities of every row under each model (which must share their featurizer): each chunk of rows
   * is featurised once and run through every model's session, in the same batches as `predict` would use
   * alone, so each model's probabilities are those of its own `predict`. Progress counts rows × models.
   */
  static async predictAll(models: readonly NgramOnnxClassifier[], rows: readonly { texts: readonly string[] }[], options: PredictOptions = {}): Promise<Float32Array[]> {
    const featurizer = models[0]!.featurizer;
    const outs = models.map((m) => new Float32Array(rows.length * m.labelMap.size));
    const batchSize = options.batchSize ?? NGRAM_BATCH_SIZE;
    // Featurize a chunk at a time (bounded memory) and sort each chunk by length (little padding).
    const chunkSize = ngramChunkSize(batchSize);
    let batches = 0;
    for (let chunkStart = 0; chunkStart < rows.length; chunkStart += chunkSize) {
      const chunk = rows.slice(chunkStart, chunkStart + chunkSize);
      const features = featurizer.featurizeAll(chunk);
      const length = (i: number): number => features.offsets[i + 1]! - features.offsets[i]!;
      const order = Int32Array.from({ length: chunk.length }, (_, i) => i).sort((a, b) => length(a) - length(b));
      for (let k = 0; k < models.length; k++) {
        const { model, folder } = models[k]!;
        const numClasses = models[k]!.labelMap.size;
        const out = outs[k]!;
        for (let start = 0; start < chunk.length; start += batchSize) {
          throwIfCancelled(options.signal);
          const examples = order.subarray(start, Math.min(chunk.length, start + batchSize));
          const { ids, mask, length: width } = padFeatureBatch(features, examples);
          const result = await model.run({
            [NGRAM_GRAPH.featureIds]: tensor('int32', ids, [examples.length, width]),
            [NGRAM_GRAPH.featureMask]: tensor('float32', mask, [examples.length, width]),
          });
          const output = result[NGRAM_GRAPH.probabilities]!;
          const outputWidth = Number(output.dims[output.dims.length - 1]);
          if (outputWidth !== numClasses || output.dims[0] !== examples.length) {
            throw new DimpError('badModel', `the graph returned ${output.dims.join(' × ')} probabilities for ${examples.length} rows of ${numClasses} labels (config.json's id2label)`, { file: folder });
          }
          const probabilities = output.data as Float32Array;
          for (let i = 0; i < examples.length; i++) {
            const to = (chunkStart + examples[i]!) * numClasses;
            for (let c = 0; c < numClasses; c++) out[to + c] = probabilities[i * numClasses + c]!;
          }
          options.onProgress?.(chunkStart * models.length + k * chunk.length + Math.min(chunk.length, start + batchSize), rows.length * models.length);
          if (++batches % 16 === 0) await yieldToEventLoop();
        }
      }
    }
    return outs;
  }

  async dispose(): Promise<void> {
    await this.model.release();
  }
}
