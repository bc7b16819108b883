/**
 * Trains a head on a frozen transformer encoder with ce, imp or dimp: embeds the training, validation and
 * test rows (cached), fits the standardisation on the training embeddings, and hands the head to the core
 * trainer exactly as the built-in model is handed to it.
 */
import type { EventSink } from '../events';
import type { PoolingChoice } from '../model/transformer/messages';
import type { Row } from '../data/dataset';
import type { LabelMap } from '../data/labels';
import { FrozenEncoder, type EmbeddingMatrix } from '../model/transformer/encoder';
import { saveEncoderHeadModel, writeEncoderHeadFiles, type EncoderHeadExport } from '../model/transformer/encoderHead';
import type { TransformerFolder } from '../model/transformer/folder';
import { fitStandardization, HeadClassifier, type HeadKind } from '../model/transformer/headClassifier';
import { deriveSeed } from '../random';
import { fallbackMessage, type DeviceChoice } from '../runtime/onnxRuntime';
import { DEFAULT_WEIGHT_GUARDS } from '../weighting/weights';
import type { WeightedTrainingRequest } from './ngramTraining';
import { trainClassifier, type EvaluationSet, type TrainResult } from './trainer';

/** The encoder, pooling, head and optimisation of one encoder + head model; recorded with every run. */
export interface EncoderHeadSettings {
  /** The encoder's model folder. */
  encoder: string;
  pooling: PoolingChoice;
  head: HeadKind;
  /** Hidden units of the mlp head. */
  hiddenUnits: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  schedule: 'linear' | 'constant';
  maxGradNorm: number | null;
  /** Cap on tokens per row; undefined: the model's limit. */
  maxLength: number | undefined;
  /** Rows per encoder `session.run`. */
  encoderBatchSize: number;
  /** Root of the embedding cache; undefined: no cache. */
  cacheDir: string | undefined;
}

/**
 * Defaults for the head. Inputs are standardised, so one learning rate suits encoders of any scale; an mlp
 * of 256 units learns more than a linear layer from embeddings that were not trained for the task.
 */
export const DEFAULT_ENCODER_HEAD_SETTINGS: Omit<EncoderHeadSettings, 'encoder'> = {
  pooling: 'auto',
  head: 'mlp',
  hiddenUnits: 256,
  epochs: 20,
  batchSize: 32,
  learningRate: 0.1,
  schedule: 'linear',
  maxGradNorm: 1,
  maxLength: undefined,
  encoderBatchSize: 32,
  cacheDir: undefined,
};

/** What training a head needs besides rows and settings. */
export interface EncoderHeadTrainingRequest extends WeightedTrainingRequest {
  settings: EncoderHeadSettings;
  device: DeviceChoice;
}

/** The encoder as it ran, for run records and the exported config. */
export interface EncoderSummary {
  folder: string;
  fingerprint: string;
  description: string;
  provider: string;
  fallbackReason: string | undefined;
  pooling: 'mean' | 'cls' | 'sentence_embedding';
  /** The graph output pooled (last_hidden_state, token_embeddings or sentence_embedding). */
  output: string;
  dim: number;
  maxLength: number;
  /** Rows read from the cache and distinct texts the encoder ran on, over all sets. */
  cachedRows: number;
  computedRows: number;
}

/** A trained head, how training went, and how to save it as a model folder. */
export interface TrainedEncoderHead {
  head: HeadClassifier;
  result: TrainResult;
  encoder: EncoderSummary;
  /** The training rows' embeddings (for scoring with the head without running the encoder again). */
  trainEmbeddings: EmbeddingMatrix;
  /** Writes the model folder into an existing folder (e.g. a run's temporary folder). */
  writeFiles(dir: string, labelMap: LabelMap, extra?: Record<string, unknown>): Promise<void>;
  /** Saves the model folder atomically as `target`. */
  save(target: string, labelMap: LabelMap, extra?: Record<string, unknown>): Promise<void>;
}

/** Embeds rows for the trainer. */
function evaluationSet(embeddings: EmbeddingMatrix, rows: readonly Row[]): EvaluationSet<EmbeddingMatrix> {
  return { features: embeddings, labels: Int32Array.from(rows, (r) => r.label), count: rows.length };
}

/** Trains a linear or mlp head on a frozen encoder's pooled embeddings with one of the three losses. */
export async function trainEncoderHead(request: EncoderHeadTrainingRequest, context: { signal?: AbortSignal; onEvent?: EventSink } = {}): Promise<TrainedEncoderHead> {
  const { settings, signal, onEvent } = { ...request, ...context };
  const encoder = await FrozenEncoder.open(
    { folder: settings.encoder, pooling: settings.pooling, maxLength: settings.maxLength, device: request.device, batchSize: settings.encoderBatchSize, cacheDir: settings.cacheDir },
    signal,
  );
  let files: TransformerFolder;
  let summary: EncoderSummary;
  let train: EmbeddingMatrix;
  let validation: EmbeddingMatrix | undefined;
  let test: EmbeddingMatrix | undefined;
  try {
    if (encoder.info.fallbackReason) onEvent?.({ type: 'log', level: 'warning', message: fallbackMessage('the encoder', encoder.info.provider, encoder.info.fallbackReason) });
    for (const shard of encoder.skippedCacheShards) onEvent?.({ type: 'log', level: 'warning', message: `embedding cache shard ${shard} is unreadable; its rows are computed again` });
    onEvent?.({ type: 'log', level: 'info', message: `embedding with ${encoder.description} on ${encoder.info.provider}` });
    let cachedRows = 0;
    let computedRows = 0;
    const embed = async (rows: readonly Row[], what: string): Promise<EmbeddingMatrix> => {
      const result = await encoder.embed(rows, {
        signal,
        onProgress: (done, total) => onEvent?.({ type: 'score-progress', stage: 'embed', done, total, message: `embedding ${what} rows: ${done}/${total}` }),
      });
      cachedRows += result.cached;
      computedRows += result.computed;
      onEvent?.({ type: 'log', level: 'info', message: `embedded ${rows.length} ${what} rows (${result.cached} from the cache, ${result.computed} texts encoded)` });
      return result.embeddings;
    };
    train = await embed(request.rows, 'training');
    validation = request.validation && request.validation.length > 0 ? await embed(request.validation, 'validation') : undefined;
    test = request.test && request.test.length > 0 ? await embed(request.test, 'test') : undefined;
    files = encoder.files;
    summary = {
      folder: settings.encoder,
      fingerprint: encoder.fingerprint,
      description: encoder.description,
      provider: encoder.info.provider,
      fallbackReason: encoder.info.fallbackReason,
      pooling: encoder.info.pooling ?? 'mean',
      output: encoder.info.output,
      dim: encoder.dim,
      maxLength: encoder.info.maxLength,
      cachedRows,
      computedRows,
    };
  } finally {
    await encoder.dispose();
  }

  const head = new HeadClassifier(
    { kind: settings.head, inputDim: train.dim, hiddenUnits: settings.hiddenUnits, numClasses: request.numClasses },
    fitStandardization(train),
    deriveSeed(request.seed, 'init'),
  );
  const result = await trainClassifier(
    head,
    { ...evaluationSet(train, request.rows), quality: request.quality, diversity: request.diversity },
    { validation: validation && evaluationSet(validation, request.validation!), test: test && evaluationSet(test, request.test!) },
    {
      loss: request.loss,
      epochs: settings.epochs,
      batchSize: settings.batchSize,
      optimizer: 'sgd',
      learningRate: settings.learningRate,
      schedule: settings.schedule,
      maxGradNorm: settings.maxGradNorm,
      seed: request.seed,
      guards: request.guards ?? DEFAULT_WEIGHT_GUARDS,
    },
    context,
  );
  const spec = (labelMap: LabelMap, extra?: Record<string, unknown>): EncoderHeadExport => ({
    encoder: files,
    encoderFingerprint: summary.fingerprint,
    pooling: summary.pooling,
    embeddingOutput: summary.output,
    maxLength: summary.maxLength,
    head: head.parameters(),
    labelMap,
    extra,
  });
  return {
    head,
    result,
    encoder: summary,
    trainEmbeddings: train,
    writeFiles: (dir, labelMap, extra) => writeEncoderHeadFiles(dir, spec(labelMap, extra)),
    save: (target, labelMap, extra) => saveEncoderHeadModel(target, spec(labelMap, extra)),
  };
}
