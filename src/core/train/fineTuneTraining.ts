/**
 * Fine-tunes a whole transformer classifier (a Hugging Face `*ForSequenceClassification` exported to ONNX) on
 * synthetic rows with ce, imp, dimp or a baseline loss, on onnxruntime-node: the training graph built from the
 * user's own graph (../finetune/trainingGraph.ts) gives the weighted loss and every weight's gradient, AdamW
 * with the Hugging Face Trainer's linear schedule updates the weights, and the best epoch on the real
 * validation rows is written as an ordinary inference folder (model.onnx, config.json, tokenizer files).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import type { EvalScores, EventSink } from '../events';
import type { Row } from '../data/dataset';
import type { LabelMap } from '../data/labels';
import { DimpError, throwIfCancelled, yieldToEventLoop } from '../errors';
import { DEFAULT_ADAMW } from '../finetune/adamw';
import { FineTuner, type FineTuneBatch } from '../finetune/fineTuner';
import { describeFineTuneMemory, estimateFineTuneMemory, trainableParameterCount, type FineTuneMemoryEstimate } from '../finetune/memoryEstimate';
import { appendPoolingAndHead } from '../model/transformer/encoderHead';
import { readConfigJson, readTransformerFolder, modelMaxLength, type TransformerConfigJson, type TransformerFolder } from '../model/transformer/folder';
import { HEAD_PREFIX, type HeadParameters } from '../model/transformer/headClassifier';
import { FEEDABLE_INPUTS } from '../model/transformer/engine';
import { padBatch, TextTokenizer, tokenizerLimits, type EncodedRow } from '../model/transformer/tokenizer';
import { deriveSeed, SeededRandom } from '../random';
import { fallbackMessage, tensor, type DeviceChoice } from '../runtime/onnxRuntime';
import { impWeight, DEFAULT_WEIGHT_GUARDS } from '../weighting/weights';
import { evaluateProbabilities } from './metrics';
import type { WeightedTrainingRequest } from './ngramTraining';
import { weightHistogram, type EpochRecord, type TrainerContext, type TrainResult } from './trainer';

/** How to fine-tune; every field is recorded in the run's `config.json`. */
export interface FineTuneSettings {
  /** The model folder fine-tuned: config.json, tokenizer.json and model.onnx (or onnx/model.onnx) with a logits output. */
  model: string;
  epochs: number;
  /** Rows per forward and backward pass (the Trainer's per-device batch size). */
  batchSize: number;
  /** Passes accumulated into one optimiser step: each step sees batchSize × gradientAccumulation rows. */
  gradientAccumulation: number;
  /** Peak learning rate of AdamW. */
  learningRate: number;
  /** Share of the optimiser steps spent warming the learning rate up from 0, 0–1. */
  warmupRatio: number;
  /** Decoupled weight decay of AdamW (matrices and embeddings only, as the Trainer). */
  weightDecay: number;
  /** Clip each step's global gradient L2 norm at this value; null for none. */
  maxGradNorm: number | null;
  /** Tokens per row, special tokens included (the model's own limit applies anyway). */
  maxLength: number;
}

/**
 * Defaults of the common BERT fine-tuning recipe on the Hugging Face Trainer: AdamW at 2e-5 with linear decay
 * after 10 % warm-up, weight decay 0.01, clipping at 1, 3 epochs, batches of 16 rows of up to 128 tokens.
 */
export const DEFAULT_FINETUNE_SETTINGS: Omit<FineTuneSettings, 'model'> = {
  epochs: 3,
  batchSize: 16,
  gradientAccumulation: 1,
  learningRate: 2e-5,
  warmupRatio: 0.1,
  weightDecay: 0.01,
  maxGradNorm: 1,
  maxLength: 128,
};

/** What fine-tuning needs besides rows and settings. */
export interface FineTuneRequest extends WeightedTrainingRequest {
  settings: FineTuneSettings;
  labelMap: LabelMap;
  device: DeviceChoice;
  /** onnxruntime's intra-op threads; absent: its default. */
  intraOpThreads?: number;
}

/** How the fine-tuning ran, for `metrics.json`. */
export interface FineTuneSummary {
  folder: string;
  provider: string;
  fallbackReason: string | undefined;
  /** Numbers trained. */
  parameters: number;
  /** Tensors trained, and float tensors left as constants (the loss does not depend on them). */
  tensors: number;
  frozenTensors: number;
  maxLength: number;
  optimizerSteps: number;
  memory: FineTuneMemoryEstimate;
  /** Set when the model was an encoder and got a new linear head. */
  newHead?: { pooling: 'mean' | 'cls'; input: string };
}

/** The outcome: how training went, and the model folder of the best epoch already written. */
export interface FineTuneResult {
  result: TrainResult;
  summary: FineTuneSummary;
}

const TOKENIZER_FILES = ['tokenizer.json', 'special_tokens_map.json', 'vocab.txt', 'merges.txt', 'sentencepiece.bpe.model', 'spiece.model'];

/** Rows per evaluation pass; evaluation keeps no activations, so it may be larger than a training batch. */
const EVAL_BATCH = 64;

const asNumber = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined);

/** Checks settings a front end may have got wrong; each message names the setting. */
export function checkFineTuneSettings(settings: FineTuneSettings): void {
  const integer = (name: string, value: number, min: number): void => {
    if (!Number.isInteger(value) || value < min) throw new DimpError('usage', `fine-tuning: ${name} must be an integer ≥ ${min}, got ${value}`);
  };
  integer('epochs', settings.epochs, 1);
  integer('the batch size', settings.batchSize, 1);
  integer('gradient accumulation', settings.gradientAccumulation, 1);
  integer('the maximum length', settings.maxLength, 4);
  if (!(settings.learningRate > 0)) throw new DimpError('usage', `fine-tuning: the learning rate must be positive, got ${settings.learningRate}`);
  if (!(settings.warmupRatio >= 0 && settings.warmupRatio <= 1)) throw new DimpError('usage', `fine-tuning: the warm-up share must be in [0, 1], got ${settings.warmupRatio}`);
  if (!(settings.weightDecay >= 0)) throw new DimpError('usage', `fine-tuning: the weight decay must be ≥ 0, got ${settings.weightDecay}`);
  if (settings.maxGradNorm !== null && !(settings.maxGradNorm > 0)) throw new DimpError('usage', `fine-tuning: the gradient-norm limit must be positive or none, got ${settings.maxGradNorm}`);
}

/**
 * Checks that the folder to fine-tune has its files (config.json, tokenizer.json, the graph) and the settings
 * are in range: for a job to fail before it reads data or scores, not after.
 */
export async function checkFineTuneModel(settings: FineTuneSettings): Promise<void> {
  checkFineTuneSettings(settings);
  await readTransformerFolder(settings.model, await readConfigJson(settings.model));
}

/** The id inputs the graph takes, with their element types; anything else is refused by name. */
function idInputs(modelBytes: Uint8Array, graphFile: string): Map<string, 'int64' | 'int32'> {
  const graph = onnx.ModelProto.decode(modelBytes).graph as onnx.GraphProto;
  const initializers = new Set((graph.initializer as onnx.TensorProto[]).map((t) => t.name));
  const types = new Map<string, 'int64' | 'int32'>();
  for (const input of graph.input as onnx.ValueInfoProto[]) {
    if (initializers.has(input.name)) continue;
    if (!(FEEDABLE_INPUTS as readonly string[]).includes(input.name)) {
      throw new DimpError('badModel', `the graph needs input "${input.name}", which fine-tuning cannot feed (it feeds ${FEEDABLE_INPUTS.join(', ')})`, { file: graphFile });
    }
    const elemType = input.type?.tensorType?.elemType;
    if (elemType !== onnx.TensorProto.DataType.INT64 && elemType !== onnx.TensorProto.DataType.INT32) throw new DimpError('badModel', `graph input ${input.name} must be int64 or int32`, { file: graphFile });
    types.set(input.name, elemType === onnx.TensorProto.DataType.INT64 ? 'int64' : 'int32');
  }
  if (!types.has('input_ids')) throw new DimpError('badModel', 'the graph has no input_ids input', { file: graphFile });
  for (const tensorProto of graph.initializer as onnx.TensorProto[]) {
    if (tensorProto.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
      throw new DimpError('badModel', `weight ${tensorProto.name} is stored in an external data file; fine-tuning reads graphs with their weights inside model.onnx (models under 2 GB)`, { file: graphFile });
    }
  }
  return types;
}

/** Turns encoded rows into the model's feeds. */
class BatchFeeder {
  constructor(
    private readonly tokenizer: TextTokenizer,
    private readonly types: Map<string, 'int64' | 'int32'>,
  ) {}

  feeds(rows: readonly EncodedRow[]): Record<string, Ort.Tensor> {
    const idType = this.types.get('input_ids')!;
    const batch = padBatch(rows, { padId: this.tokenizer.padId, padTypeId: this.tokenizer.padTypeId, padLeft: this.tokenizer.padLeft }, idType);
    const dims = [batch.count, batch.length];
    const feeds: Record<string, Ort.Tensor> = {};
    const put = (name: string, data: BigInt64Array | Int32Array): void => {
      if (!this.types.has(name)) return;
      feeds[name] = data instanceof BigInt64Array ? tensor('int64', data, dims) : tensor('int32', data, dims);
    };
    put('input_ids', batch.inputIds);
    put('attention_mask', batch.attentionMask);
    put('token_type_ids', batch.tokenTypeIds);
    if (this.types.has('position_ids')) {
      const positions = Int32Array.from({ length: batch.count * batch.length }, (_, i) => i % batch.length);
      put('position_ids', this.types.get('position_ids') === 'int64' ? BigInt64Array.from(positions, (p) => BigInt(p)) : positions);
    }
    return feeds;
  }
}

/** Softmax probabilities of rows under the tuner's current weights, `rows × classes`, in row order. */
async function predict(tuner: FineTuner, feeder: BatchFeeder, encoded: readonly EncodedRow[], numClasses: number, signal: AbortSignal | undefined): Promise<Float32Array> {
  const out = new Float32Array(encoded.length * numClasses);
  // Rows of similar length share a batch: less padding.
  const order = Array.from(encoded.keys()).sort((a, b) => encoded[a]!.ids.length - encoded[b]!.ids.length || a - b);
  for (let start = 0; start < order.length; start += EVAL_BATCH) {
    throwIfCancelled(signal);
    const members = order.slice(start, start + EVAL_BATCH);
    const logits = await tuner.logits(feeder.feeds(members.map((i) => encoded[i]!)));
    if (logits.length !== members.length * numClasses) throw new DimpError('badModel', `the model gives ${logits.length / members.length} logits per row; the data have ${numClasses} labels`);
    members.forEach((row, b) => {
      let max = -Infinity;
      for (let c = 0; c < numClasses; c++) max = Math.max(max, logits[b * numClasses + c]!);
      let sum = 0;
      for (let c = 0; c < numClasses; c++) sum += Math.exp(logits[b * numClasses + c]! - max);
      for (let c = 0; c < numClasses; c++) out[row * numClasses + c] = Math.exp(logits[b * numClasses + c]! - max) / sum;
    });
    await yieldToEventLoop();
  }
  return out;
}

/** Name and shape of every float initializer of a graph. */
function floatInitializers(modelBytes: Uint8Array): { name: string; dims: number[] }[] {
  const graph = onnx.ModelProto.decode(modelBytes).graph as onnx.GraphProto;
  return (graph.initializer as onnx.TensorProto[])
    .filter((t) => t.dataType === onnx.TensorProto.DataType.FLOAT || t.dataType === onnx.TensorProto.DataType.DOUBLE)
    .map((t) => ({ name: t.name, dims: (t.dims as (number | { toNumber(): number })[]).map((d) => (typeof d === 'number' ? d : d.toNumber())) }));
}

/** The logits' width the graph declares, when it does. */
function declaredClasses(modelBytes: Uint8Array): number | undefined {
  const graph = onnx.ModelProto.decode(modelBytes).graph as onnx.GraphProto;
  const outputs = graph.output as onnx.ValueInfoProto[];
  const logits = outputs.find((o) => o.name === 'logits') ?? (outputs.length === 1 ? outputs[0] : undefined);
  const dims = logits?.type?.tensorType?.shape?.dim;
  const last = dims && dims.length === 2 ? dims[1]!.dimValue : undefined;
  if (last === null || last === undefined) return undefined;
  const value = typeof last === 'number' ? last : last.toNumber();
  return value > 0 ? value : undefined;
}

/** Token-vector outputs an encoder export has, in order of preference (as the engine's). */
const TOKEN_OUTPUTS = ['last_hidden_state', 'token_embeddings'];

/** Standard deviation of a new head's weights: BERT's initializer_range, as `from_pretrained(…, num_labels=K)`. */
const NEW_HEAD_STD = 0.02;

/** The encoder graph with a new head, and how it was added; undefined when the graph already has logits. */
interface NewHead {
  modelBytes: Uint8Array;
  pooling: 'mean' | 'cls';
  output: string;
}

/**
 * An encoder export (token vectors, no logits) becomes a classifier: mean pooling over the attention mask (or
 * the first token when the graph takes no mask) and a linear layer initialised as Hugging Face initialises a new
 * classification head (weights N(0, 0.02²) from the seed, biases 0). Both the encoder and the head are trained.
 */
function addNewHead(modelBytes: Uint8Array, graphFile: string, types: Map<string, 'int64' | 'int32'>, hidden: number | undefined, numClasses: number, seed: number): NewHead | undefined {
  const graph = onnx.ModelProto.decode(modelBytes).graph as onnx.GraphProto;
  const outputs = (graph.output as onnx.ValueInfoProto[]).map((o) => o.name);
  if (outputs.includes('logits')) return undefined;
  const output = TOKEN_OUTPUTS.find((name) => outputs.includes(name));
  if (!output) {
    throw new DimpError('badModel', `the graph has no logits output and no token vectors to put a new head on (outputs: ${outputs.join(', ')}); export a *ForSequenceClassification model or a feature-extraction encoder`, { file: graphFile });
  }
  const declared = (graph.output as onnx.ValueInfoProto[]).find((o) => o.name === output)?.type?.tensorType?.shape?.dim?.[2]?.dimValue;
  const width = hidden ?? (declared === null || declared === undefined ? undefined : typeof declared === 'number' ? declared : declared.toNumber());
  if (!width) throw new DimpError('badModel', `the width of ${output} is not known: config.json needs hidden_size`, { file: graphFile });
  const random = new SeededRandom(deriveSeed(seed, 'init'));
  const gaussian = (): number => Math.sqrt(-2 * Math.log(1 - random.next())) * Math.cos(2 * Math.PI * random.next());
  const head: HeadParameters = {
    shape: { kind: 'linear', inputDim: width, hiddenUnits: 0, numClasses },
    // No standardisation: a new head sees the encoder's vectors as they are (both are trained together).
    mean: new Float32Array(width),
    scale: new Float32Array(width).fill(1),
    hiddenWeight: new Float32Array(0),
    hiddenBias: new Float32Array(0),
    outputWeight: Float32Array.from({ length: width * numClasses }, () => NEW_HEAD_STD * gaussian()),
    outputBias: new Float32Array(numClasses),
  };
  const pooling = types.has('attention_mask') ? 'mean' : 'cls';
  return { modelBytes: appendPoolingAndHead(modelBytes, { pooling, embeddingOutput: output, head }, graphFile), pooling, output };
}

/** The head's standardisation stays fixed (identity for a new head): it is not a weight to train. */
const FIXED_HEAD_TENSORS = new Set([`${HEAD_PREFIX}mean`, `${HEAD_PREFIX}scale`]);

/** Writes the inference folder: the trained graph, config.json with the run's labels, the tokenizer files. */
async function writeModelFolder(dir: string, files: TransformerFolder, modelBytes: Uint8Array, labelMap: LabelMap, maxLength: number, extra: Record<string, unknown>, newHead: NewHead | undefined): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'model.onnx'), modelBytes);
  for (const name of TOKENIZER_FILES) {
    const source = path.join(files.folder, name);
    if (await fs.stat(source).catch(() => undefined)) await fs.copyFile(source, path.join(dir, name));
  }
  // The weights were trained and selected on rows cut at this length; the folder's tokenizer cuts the same way.
  await fs.writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ ...files.tokenizerConfig, model_max_length: maxLength }, null, 2) + '\n');
  const config: TransformerConfigJson = {
    ...files.config,
    ...(newHead ? { architectures: ['DimpEncoderWithHead'] } : {}),
    id2label: labelMap.toId2Label(),
    label2id: labelMap.toLabel2Id(),
    num_labels: labelMap.size,
    problem_type: 'single_label_classification',
    ...extra,
  };
  await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
}

/**
 * Fine-tunes the model folder of `settings.model` on the rows and writes the best epoch's model folder into
 * `modelDir` (best by validation accuracy; the last epoch without validation rows). The row order depends only
 * on the seed, so runs that differ only in the loss are paired. Checks `signal` between steps.
 */
export async function fineTuneClassifier(request: FineTuneRequest, modelDir: string, context: TrainerContext & { extra?: Record<string, unknown> } = {}): Promise<FineTuneResult> {
  const { settings, loss, labelMap } = request;
  const signal = context.signal;
  const emit: EventSink = context.onEvent ?? (() => undefined);
  const guards = request.guards ?? DEFAULT_WEIGHT_GUARDS;
  checkFineTuneSettings(settings);
  if ((loss === 'imp' || loss === 'dimp' || loss === 'quality') && !request.quality) throw new Error(`${loss} training needs quality scores`);
  if (loss === 'imp' && !request.diversity) throw new Error('imp training needs diversity scores');
  const count = request.rows.length;
  if (count === 0) throw new Error('no training rows');
  const numClasses = request.numClasses;

  const config = await readConfigJson(settings.model);
  const files = await readTransformerFolder(settings.model, config);
  const original = await fs.readFile(files.graphFile);
  const types = idInputs(original, files.graphFile);
  const hidden = asNumber(config.hidden_size) ?? asNumber(config.dim);
  const newHead = addNewHead(original, files.graphFile, types, hidden, numClasses, request.seed);
  const modelBytes = newHead?.modelBytes ?? original;
  if (newHead) emit({ type: 'log', level: 'info', message: `the model is an encoder (${newHead.output}, no logits): fine-tuning it with a new linear head on ${newHead.pooling}-pooled token vectors` });
  const classes = declaredClasses(modelBytes);
  if (classes !== undefined && classes !== numClasses) {
    throw new DimpError('badModel', `the model's logits have ${classes} labels but the data have ${numClasses} (${labelMap.names.join(', ')}); export the model with num_labels=${numClasses}`, { file: files.graphFile });
  }
  const modelLabels = config.id2label && !newHead ? Object.keys(config.id2label).sort((a, b) => Number(a) - Number(b)).map((k) => config.id2label![k]!) : [];
  if (modelLabels.length > 0 && modelLabels.join('\n') !== labelMap.names.join('\n')) {
    const sameSet = modelLabels.length === labelMap.size && modelLabels.every((name) => labelMap.names.includes(name));
    emit({
      type: 'log',
      level: 'warning',
      message:
        `the model's labels (${modelLabels.join(', ')}) are not the data's (${labelMap.names.join(', ')}): output i is trained as the data's label i, and model/config.json names the data's labels` +
        (sameSet ? `; to keep what the model's outputs already mean, give the labels in the model's order (--labels ${modelLabels.join(',')})` : ''),
    });
  }
  const limit = modelMaxLength(config, tokenizerLimits(files.tokenizerJson, files.tokenizerConfig).maxLength);
  const maxLength = Math.min(settings.maxLength, limit);
  const tokenizer = TextTokenizer.create(files.tokenizerJson, files.tokenizerConfig, { maxLength }, files.tokenizerFile);
  if (typeof config.vocab_size === 'number' && tokenizer.maxTokenId >= config.vocab_size) {
    throw new DimpError('badModel', `tokenizer.json has token ids up to ${tokenizer.maxTokenId} but config.json says vocab_size ${config.vocab_size}: the tokenizer does not belong to this model`, { file: files.tokenizerFile });
  }
  const feeder = new BatchFeeder(tokenizer, types);
  const encode = (rows: readonly Row[]): EncodedRow[] => rows.map((row) => tokenizer.encode(row.texts));
  const train = encode(request.rows);
  const validation = request.validation && request.validation.length > 0 ? { rows: request.validation, encoded: encode(request.validation) } : undefined;
  const test = request.test && request.test.length > 0 ? { rows: request.test, encoded: encode(request.test) } : undefined;

  const passesPerEpoch = Math.ceil(count / settings.batchSize);
  const stepsPerEpoch = Math.ceil(passesPerEpoch / settings.gradientAccumulation);
  const totalSteps = stepsPerEpoch * settings.epochs;
  const trainable = (name: string, dims: readonly number[]): boolean => !FIXED_HEAD_TENSORS.has(name) && dims.reduce((a, b) => a * b, 1) > 1;
  // The estimate comes before the training graph and its session exist: those are what may not fit. It counts
  // every trainable float initializer (the few the loss does not reach included: an upper bound).
  const layers = asNumber(config.num_hidden_layers) ?? asNumber(config.n_layers);
  const heads = asNumber(config.num_attention_heads) ?? asNumber(config.n_heads);
  const memory = estimateFineTuneMemory({
    parameterCount: trainableParameterCount(floatInitializers(modelBytes).filter((t) => trainable(t.name, t.dims))),
    batchSize: settings.batchSize,
    maxLength,
    hiddenSize: hidden ?? 0,
    layers: layers ?? 0,
    heads: heads ?? 0,
    gradientAccumulation: settings.gradientAccumulation,
  });
  emit({
    type: 'log',
    level: 'info',
    message:
      `fine-tuning needs memory ${describeFineTuneMemory(memory)} for batches of ${settings.batchSize} rows of up to ${maxLength} tokens` +
      `${hidden && layers && heads ? '' : ' (activations not estimated: config.json lacks hidden_size, num_hidden_layers or num_attention_heads)'}`,
  });
  const tuner = await FineTuner.open(modelBytes, files.graphFile, {
    device: request.device,
    intraOpThreads: request.intraOpThreads,
    graph: { epsilon: guards.epsilon, maxWeight: guards.maxWeight, trainable },
    optimizer: {
      ...DEFAULT_ADAMW,
      learningRate: settings.learningRate,
      weightDecay: settings.weightDecay,
      maxGradNorm: settings.maxGradNorm,
      warmupSteps: Math.ceil(settings.warmupRatio * totalSteps),
      totalSteps,
    },
  });
  try {
    const { provider, fallbackReason } = tuner.provider;
    if (fallbackReason) emit({ type: 'log', level: 'warning', message: fallbackMessage('fine-tuning', provider, fallbackReason) });
    const parameters = trainableParameterCount(tuner.graph.parameters);
    emit({
      type: 'log',
      level: 'info',
      message:
        `fine-tuning ${config.model_type ?? 'transformer'} (${parameters.toLocaleString('en-US')} parameters in ${tuner.graph.parameters.length} tensors) on ${provider}: ` +
        `${totalSteps} optimiser step${totalSteps === 1 ? '' : 's'} of ${settings.batchSize * settings.gradientAccumulation} rows`,
    });

    const quality = request.quality;
    const rowWeightOf = (row: number): number => {
      if (loss === 'imp') return impWeight(quality![row]!, request.diversity![row]!, guards);
      if (loss === 'quality') return guards.maxWeight === null ? quality![row]! : Math.min(quality![row]!, guards.maxWeight);
      return loss === 'dimp' ? 0 : 1;
    };
    const batchOf = (members: Int32Array): FineTuneBatch => ({
      modelFeeds: feeder.feeds(Array.from(members, (i) => train[i]!)),
      labels: Array.from(members, (i) => request.rows[i]!.label),
      quality: Array.from(members, (i) => (loss === 'dimp' ? quality![i]! : 0)),
      rowWeight: Array.from(members, rowWeightOf),
    });

    const finetuneRecord = (epoch: number): Record<string, unknown> => ({
      epoch,
      max_length: maxLength,
      source: path.resolve(settings.model),
      ...(newHead ? { new_head: { kind: 'linear', pooling: newHead.pooling, input: newHead.output } } : {}),
    });
    const shuffler = new SeededRandom(deriveSeed(request.seed, 'shuffle'));
    const order = Int32Array.from({ length: count }, (_, i) => i);
    const lastWeights = new Float32Array(count).fill(1);
    const records: EpochRecord[] = [];
    let best: { epoch: number; accuracy: number } | undefined;
    let step = 0;
    let trainingSeconds = 0;
    const runStart = performance.now();
    let lastProgress = runStart;
    let windowLoss = 0;
    let windowSteps = 0;
    emit({ type: 'train-start', loss, epochs: settings.epochs, rows: count, stepsPerEpoch });
    for (let epoch = 1; epoch <= settings.epochs; epoch++) {
      shuffler.shuffle(order);
      const epochStart = performance.now();
      let epochObjective = 0;
      let epochCrossEntropy = 0;
      const rowsPerStep = settings.batchSize * settings.gradientAccumulation;
      for (let start = 0; start < count; start += rowsPerStep) {
        throwIfCancelled(signal);
        const members = order.subarray(start, Math.min(count, start + rowsPerStep));
        const micro: FineTuneBatch[] = [];
        for (let m = 0; m < members.length; m += settings.batchSize) micro.push(batchOf(members.subarray(m, m + settings.batchSize)));
        const result = micro.length === 1 ? await tuner.step(micro[0]!) : await tuner.stepAccumulated(micro);
        if (!Number.isFinite(result.loss)) {
          throw new DimpError('diverged', `fine-tuning diverged at epoch ${epoch}, step ${step + 1}: the ${loss} loss is ${result.loss}. Set a maximum weight (--max-weight) or a lower learning rate.`);
        }
        members.forEach((row, b) => (lastWeights[row] = result.lossWeight[b]!));
        epochObjective += result.loss * members.length;
        epochCrossEntropy += result.crossEntropy * members.length;
        windowLoss += result.loss;
        windowSteps += 1;
        step += 1;
        const now = performance.now();
        if (now - lastProgress > 250 || step === totalSteps) {
          const seconds = trainingSeconds + (now - epochStart) / 1000;
          const rowsPerSecond = ((epoch - 1) * count + start + members.length) / Math.max(seconds, 1e-9);
          emit({
            type: 'train-progress',
            epoch,
            step,
            totalSteps,
            loss: windowLoss / windowSteps,
            learningRate: result.learningRate,
            rowsPerSecond,
            etaSeconds: ((totalSteps - step) * rowsPerStep) / Math.max(rowsPerSecond, 1e-9),
          });
          windowLoss = 0;
          windowSteps = 0;
          lastProgress = now;
        }
        await yieldToEventLoop();
      }
      throwIfCancelled(signal);
      const epochSeconds = (performance.now() - epochStart) / 1000;
      trainingSeconds += epochSeconds;
      let validationScores: EvalScores | undefined;
      const score = async (set: { rows: readonly Row[]; encoded: EncodedRow[] }): Promise<EvalScores> =>
        evaluateProbabilities(await predict(tuner, feeder, set.encoded, numClasses, signal), Int32Array.from(set.rows, (r) => r.label), numClasses);
      if (validation) {
        validationScores = await score(validation);
        if (!best || validationScores.accuracy > best.accuracy) {
          best = { epoch, accuracy: validationScores.accuracy };
          await writeModelFolder(modelDir, files, tuner.exportModel(), labelMap, maxLength, { ...context.extra, dimp_finetune: finetuneRecord(epoch) }, newHead);
        }
      }
      const record: EpochRecord = {
        epoch,
        test: test ? await score(test) : undefined,
        trainLoss: epochObjective / count,
        trainCrossEntropy: epochCrossEntropy / count,
        validation: validationScores,
        weights: weightHistogram(lastWeights),
        seconds: epochSeconds,
        rowsPerSecond: count / Math.max(epochSeconds, 1e-9),
      };
      records.push(record);
      emit({ type: 'train-epoch', ...record });
      await yieldToEventLoop();
      throwIfCancelled(signal);
      await context.afterEpoch?.(epoch, signal);
      throwIfCancelled(signal);
    }
    const bestEpoch = best?.epoch ?? settings.epochs;
    if (!best) await writeModelFolder(modelDir, files, tuner.exportModel(), labelMap, maxLength, { ...context.extra, dimp_finetune: finetuneRecord(bestEpoch) }, newHead);
    const seconds = (performance.now() - runStart) / 1000;
    emit({ type: 'train-done', bestEpoch, validation: records[bestEpoch - 1]?.validation, seconds });
    return {
      result: { epochs: records, bestEpoch, lastWeights, rowsPerSecond: (count * settings.epochs) / Math.max(trainingSeconds, 1e-9), seconds, threads: 1 },
      summary: {
        folder: path.resolve(settings.model),
        provider,
        fallbackReason,
        parameters,
        tensors: tuner.graph.parameters.length,
        frozenTensors: tuner.graph.unused.length,
        maxLength,
        optimizerSteps: step,
        memory,
        ...(newHead ? { newHead: { pooling: newHead.pooling, input: newHead.output } } : {}),
      },
    };
  } finally {
    await tuner.release();
  }
}
