import type { EventSink, EvalScores, LossKind, TrainEpochEvent, WeightHistogram } from '../events';
import { DimpError, throwIfCancelled, yieldToEventLoop } from '../errors';
import { softmaxInto, type TrainableClassifier } from '../model/classifier';
import type { FeatureMatrix } from '../model/featurizer';
import type { NgramClassifier } from '../model/ngramClassifier';
import { deriveSeed, SeededRandom } from '../random';
import { dimpWeight, impWeight, WEIGHT_HISTOGRAM_EDGES, weightDiagnostics, type WeightGuards } from '../weighting/weights';
import { HogwildTeam, hogwildBlocker } from './hogwild';
import { evaluateProbabilities } from './metrics';

/** How to train; every field is recorded in the run's `config.json`. */
export interface TrainerOptions {
  loss: LossKind;
  epochs: number;
  batchSize: number;
  /** `adam` (lazy on embedding rows) or plain `sgd`; models that have no choice use SGD. */
  optimizer: 'sgd' | 'adam';
  /** Adam's ε (the denominator's floor); absent: 1e-8. */
  adamEpsilon?: number;
  /** Decoupled weight decay λ (AdamW's: each step shrinks the weights by lr·λ); absent: 0. */
  weightDecay?: number;
  /** Share of a row's features dropped at random in each training step (models that support it); absent: 0. */
  featureDropout?: number;
  /** Initial learning rate. */
  learningRate: number;
  /** `linear`: decays to 0 over the run (as fastText); `constant`: stays. */
  schedule: 'linear' | 'constant';
  /** Clip the global gradient L2 norm of each step at this value (null: no clipping). */
  maxGradNorm: number | null;
  seed: number;
  guards: WeightGuards;
  /**
   * Threads that train (absent: 1). More than one trains the built-in model Hogwild-style (lock-free, as
   * fastText's `-thread`): faster on several cores, and no longer the same bits for the same seed.
   */
  threads?: number;
  /**
   * DIMP's p(y|x;θ) from a pass with every n-gram (`full-pass`), rather than from the training pass that drops
   * some (absent: the training pass). Only differs with n-gram dropout.
   */
  dimpFullPass?: boolean;
}

/** Rows to train on, with the per-row checker probabilities the weighted losses need. */
export interface TrainingSet<Features> {
  features: Features;
  labels: Int32Array;
  count: number;
  /** q: quality checker's probability of the gold label, 0–1 (imp, dimp). */
  quality?: Float32Array;
  /** d: diversity checker's probability of the gold label, 0–1 (imp). */
  diversity?: Float32Array;
}

/** Labelled rows to evaluate on. */
export interface EvaluationSet<Features> {
  features: Features;
  labels: Int32Array;
  count: number;
}

/** What one epoch did: the epoch event without its tag. */
export type EpochRecord = Omit<TrainEpochEvent, 'type'>;

/** The outcome of training; the model holds the best epoch's parameters. */
export interface TrainResult {
  epochs: EpochRecord[];
  /** 1-based epoch whose parameters were kept. */
  bestEpoch: number;
  /** Each training row's weight at its last step (IMP: fixed; DIMP: the final epoch's; CE: 1). */
  lastWeights: Float32Array;
  rowsPerSecond: number;
  seconds: number;
  /** Threads that trained (1 when several were asked for and the model or recipe cannot: a `log` event says why). */
  threads: number;
}

/** What the trainer reports to and asks of its caller. */
export interface TrainerContext {
  signal?: AbortSignal;
  onEvent?: EventSink;
  /**
   * Awaited after each epoch's event, before the next epoch starts: a pause point (the training worker
   * holds a run here for the browser test, so that a Cancel click always lands mid-run).
   */
  afterEpoch?: (epoch: number, signal: AbortSignal | undefined) => Promise<void>;
  /** With several threads: run their batches one at a time in order (the single thread's model, bit for bit; for tests). */
  deterministicThreads?: boolean;
}

/** Scratch arrays for one batch's loss. */
export interface BatchLossBuffers {
  probabilities: Float32Array;
  gradLogits: Float32Array;
  weights: Float32Array;
}

/** The arrays one training step needs, reused from batch to batch: the logits, the loss's buffers and the batch's labels and checker scores. */
export interface BatchScratch {
  logits: Float32Array;
  buffers: BatchLossBuffers;
  labels: Int32Array;
  quality: Float32Array;
  diversity: Float32Array;
}

export function newBatchScratch(batchSize: number, numClasses: number): BatchScratch {
  return {
    logits: new Float32Array(batchSize * numClasses),
    buffers: { probabilities: new Float32Array(batchSize * numClasses), gradLogits: new Float32Array(batchSize * numClasses), weights: new Float32Array(batchSize) },
    labels: new Int32Array(batchSize),
    quality: new Float32Array(batchSize),
    diversity: new Float32Array(batchSize),
  };
}

/** Copies the labels and checker scores of `batch`'s rows into `scratch`. */
export function gatherBatch(scratch: BatchScratch, rows: { labels: ArrayLike<number>; quality?: ArrayLike<number>; diversity?: ArrayLike<number> }, batch: ArrayLike<number>): void {
  for (let b = 0; b < batch.length; b++) {
    const row = batch[b]!;
    scratch.labels[b] = rows.labels[row]!;
    if (rows.quality) scratch.quality[b] = rows.quality[row]!;
    if (rows.diversity) scratch.diversity[b] = rows.diversity[row]!;
  }
}

/**
 * The weighted loss of one batch and its gradient with respect to the logits:
 *   objective = (1/B) Σᵢ wᵢ · CEᵢ,  CEᵢ = −log softmax(zᵢ)[yᵢ],  ∂objective/∂zᵢ = (wᵢ/B)(pᵢ − onehot(yᵢ)).
 * wᵢ = 1 (ce, filter), q/max(d,ε) (imp), q/max(p(yᵢ|xᵢ;θₜ),ε) (dimp, p from this same forward pass), q (quality); weights
 * are constants for the gradient (detached) and the mean is the plain batch mean, not divided by Σw.
 * `fixedWeights` replaces the rule (for gradient checks).
 */
export function batchLoss(
  logits: Float32Array,
  labels: ArrayLike<number>,
  numClasses: number,
  loss: LossKind,
  guards: WeightGuards,
  quality: ArrayLike<number> | undefined,
  diversity: ArrayLike<number> | undefined,
  buffers: BatchLossBuffers,
  fixedWeights?: ArrayLike<number>,
): { objective: number; crossEntropy: number } {
  const count = labels.length;
  const { probabilities, gradLogits, weights } = buffers;
  let objective = 0;
  let crossEntropy = 0;
  for (let b = 0; b < count; b++) {
    const offset = b * numClasses;
    const gold = labels[b]!;
    const logSumExp = softmaxInto(logits, offset, numClasses, probabilities);
    const ce = logSumExp - logits[offset + gold]!;
    let w: number;
    if (fixedWeights) w = fixedWeights[b]!;
    else if (loss === 'ce' || loss === 'filter') w = 1;
    else if (loss === 'imp') w = impWeight(quality![b]!, diversity![b]!, guards);
    else if (loss === 'quality') w = guards.maxWeight === null ? quality![b]! : Math.min(quality![b]!, guards.maxWeight);
    else w = dimpWeight(quality![b]!, probabilities[offset + gold]!, guards);
    weights[b] = w;
    objective += w * ce;
    crossEntropy += ce;
    const scale = w / count;
    for (let c = 0; c < numClasses; c++) gradLogits[offset + c] = scale * (probabilities[offset + c]! - (c === gold ? 1 : 0));
  }
  return { objective: count === 0 ? 0 : objective / count, crossEntropy: count === 0 ? 0 : crossEntropy / count };
}

/** Softmax probabilities of every row of an evaluation set, `count × numClasses`. */
export function predictProbabilities<Features>(model: TrainableClassifier<Features>, features: Features, count: number, batchSize = 512): Float32Array {
  const numClasses = model.numClasses;
  const out = new Float32Array(count * numClasses);
  const logits = new Float32Array(batchSize * numClasses);
  const examples = new Int32Array(batchSize);
  for (let start = 0; start < count; start += batchSize) {
    const n = Math.min(batchSize, count - start);
    for (let i = 0; i < n; i++) examples[i] = start + i;
    const batch = examples.subarray(0, n);
    model.forward(features, batch, logits);
    for (let i = 0; i < n; i++) softmaxInto(logits, i * numClasses, numClasses, out.subarray(start * numClasses));
  }
  return out;
}

/** Counts weights into the fixed log-spaced bins. */
export function weightHistogram(weights: Float32Array): WeightHistogram {
  const edges = WEIGHT_HISTOGRAM_EDGES;
  const counts = new Array<number>(edges.length - 1).fill(0);
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const w of weights) {
    sum += w;
    min = Math.min(min, w);
    max = Math.max(max, w);
    let bin = 0;
    while (bin < counts.length - 1 && w >= edges[bin + 1]!) bin++;
    counts[bin]! += 1;
  }
  const diagnostics = weightDiagnostics(weights);
  return {
    edges: edges.map((e) => (Number.isFinite(e) ? e : null)),
    counts,
    mean: weights.length ? sum / weights.length : 0,
    min: weights.length ? min : 0,
    max: weights.length ? max : 0,
    effectiveShare: diagnostics.effectiveShare,
    top1PercentShare: diagnostics.top1PercentShare,
  };
}

/**
 * Trains `model` with minibatch SGD on the chosen loss; evaluates on `validation` after every epoch
 * and keeps the best epoch by validation accuracy (the last epoch when there is no validation set).
 * The row order and the model's initialisation depend only on the seed, so runs that differ only in
 * the loss are paired. Checks `signal` between batches and yields to the event loop regularly.
 */
export async function trainClassifier<Features>(
  model: TrainableClassifier<Features>,
  train: TrainingSet<Features>,
  evaluation: { validation?: EvaluationSet<Features>; test?: EvaluationSet<Features> },
  options: TrainerOptions,
  context: TrainerContext = {},
): Promise<TrainResult> {
  const { validation, test } = evaluation;
  const { loss, epochs, batchSize, guards } = options;
  if ((loss === 'imp' || loss === 'dimp' || loss === 'quality') && !train.quality) throw new Error(`${loss} training needs quality scores`);
  if (loss === 'imp' && !train.diversity) throw new Error('imp training needs diversity scores');
  if (train.count === 0) throw new Error('no training rows');
  const numClasses = model.numClasses;
  const emit = context.onEvent ?? (() => undefined);
  const shuffler = new SeededRandom(deriveSeed(options.seed, 'shuffle'));
  const order = Int32Array.from({ length: train.count }, (_, i) => i);
  const stepsPerEpoch = Math.ceil(train.count / batchSize);
  const totalSteps = stepsPerEpoch * epochs;
  const scratch = newBatchScratch(batchSize, numClasses);
  const { logits, buffers, labels: batchLabels, quality: batchQuality, diversity: batchDiversity } = scratch;
  let lastWeights: Float32Array = new Float32Array(train.count).fill(1);
  const records: EpochRecord[] = [];
  let best: { epoch: number; accuracy: number; snapshot: ReturnType<typeof model.snapshot> } | undefined;
  let step = 0;
  let trainingSeconds = 0;
  const runStart = performance.now();
  // Progress is throttled over the whole run, not per epoch: epochs shorter than the interval would
  // otherwise never report progress (no loss curve within epochs, no ETA).
  let lastProgress = runStart;
  let windowLoss = 0;
  let windowSteps = 0;
  /** Reports progress at `runStep` of the run, `now` being `seconds` of training in, at most every 250 ms. */
  const reportProgress = (epoch: number, runStep: number, now: number, seconds: number, learningRate: number): void => {
    if (now - lastProgress <= 250 || windowSteps === 0) return;
    const rowsPerSecond = (runStep * batchSize) / Math.max(seconds, 1e-9);
    const etaSeconds = ((totalSteps - runStep) * batchSize) / Math.max(rowsPerSecond, 1e-9);
    emit({ type: 'train-progress', epoch, step: runStep, totalSteps, loss: windowLoss / windowSteps, learningRate, rowsPerSecond, etaSeconds });
    windowLoss = 0;
    windowSteps = 0;
    lastProgress = now;
  };
  const learningRateAt = (runStep: number): number => (options.schedule === 'linear' ? options.learningRate * (1 - runStep / totalSteps) : options.learningRate);

  model.useOptimizer?.(options.optimizer, { adamEpsilon: options.adamEpsilon, weightDecay: options.weightDecay, featureDropout: options.featureDropout });
  const fullPassWeights = loss === 'dimp' && options.dimpFullPass === true && (options.featureDropout ?? 0) > 0;
  const fullPass = { probabilities: new Float32Array(batchSize * numClasses), weights: new Float32Array(batchSize) };
  let team: HogwildTeam | null = null;
  try {
    if ((options.threads ?? 1) > 1) {
      const blocker = fullPassWeights ? 'DIMP weights from a pass with every n-gram run on one thread' : hogwildBlocker(model, options);
      const started = blocker
        ? { reason: blocker }
        : await HogwildTeam.start(
            model as unknown as NgramClassifier,
            train as unknown as TrainingSet<FeatureMatrix>,
            [validation, test].filter((s): s is EvaluationSet<Features> => !!s && s.count > 0).map((s) => s.features as FeatureMatrix),
            { loss, guards, batchSize, learningRate: options.learningRate, schedule: options.schedule, stepsPerEpoch, totalSteps, count: train.count, numClasses },
            { threads: options.threads!, deterministic: context.deterministicThreads },
            options.seed,
          ).catch((error: Error) => ({ reason: error.message }));
      if ('team' in started) {
        team = started.team;
        lastWeights = team.lastWeights;
      } else emit({ type: 'log', level: 'warning', message: `training on one thread, not ${Math.floor(options.threads!)}: ${started.reason}` });
    }
    throwIfCancelled(context.signal);
    emit({ type: 'train-start', loss, epochs, rows: train.count, stepsPerEpoch, threads: team?.threads ?? 1 });
    for (let epoch = 1; epoch <= epochs; epoch++) {
      shuffler.shuffle(order);
      const epochStart = performance.now();
      let lastYield = epochStart;
      let epochObjective = 0;
      let epochCrossEntropy = 0;
      if (team) {
        const stepsBefore = step;
        const result = await team.runEpoch(epoch, order, {
          signal: context.signal,
          // The same run-wide throttle as one thread's: short epochs still report progress.
          onProgress: (done, objectiveSum, batches) => {
            windowLoss += objectiveSum;
            windowSteps += batches;
            const now = performance.now();
            reportProgress(epoch, stepsBefore + done, now, trainingSeconds + (now - epochStart) / 1000, learningRateAt(stepsBefore + done));
          },
        });
        epochObjective = result.objective;
        epochCrossEntropy = result.crossEntropy;
        step += stepsPerEpoch;
      }
      for (let start = 0; !team && start < train.count; start += batchSize) {
        const n = Math.min(batchSize, train.count - start);
        const batch = order.subarray(start, start + n);
        gatherBatch(scratch, train, batch);
        let fixed: Float32Array | undefined;
        if (fullPassWeights) {
          // DIMP's weights from the model's prediction with every n-gram; the gradient from the pass below.
          model.forward(train.features, batch, logits, false);
          for (let b = 0; b < n; b++) {
            softmaxInto(logits, b * numClasses, numClasses, fullPass.probabilities);
            fullPass.weights[b] = dimpWeight(batchQuality[b]!, fullPass.probabilities[b * numClasses + batchLabels[b]!]!, guards);
          }
          fixed = fullPass.weights.subarray(0, n);
        }
        model.forward(train.features, batch, logits, true);
        const { objective, crossEntropy } = batchLoss(logits, batchLabels.subarray(0, n), numClasses, loss, guards, batchQuality, batchDiversity, buffers, fixed);
        const learningRate = learningRateAt(step);
        if (!Number.isFinite(objective)) {
          throw new DimpError(
            'diverged',
            `training diverged at epoch ${epoch}, step ${step + 1}: the ${loss} loss is ${objective}. ` +
              'Set a maximum weight (--max-weight), a gradient-norm limit, or a lower learning rate.',
          );
        }
        // The norm is not reported: the model may skip it when it does not clip.
        model.backward(buffers.gradLogits.subarray(0, n * numClasses), learningRate, options.maxGradNorm, false);
        for (let b = 0; b < n; b++) lastWeights[batch[b]!] = buffers.weights[b]!;
        epochObjective += objective * n;
        epochCrossEntropy += crossEntropy * n;
        windowLoss += objective;
        windowSteps += 1;
        step += 1;

        const now = performance.now();
        if (now - lastYield > 50) {
          await yieldToEventLoop();
          throwIfCancelled(context.signal);
          lastYield = performance.now();
        }
        reportProgress(epoch, step, now, trainingSeconds + (now - epochStart) / 1000, learningRate);
      }
      throwIfCancelled(context.signal);
      const epochSeconds = (performance.now() - epochStart) / 1000;
      trainingSeconds += epochSeconds;
      let validationScores: EvalScores | undefined;
      if (validation && validation.count > 0) {
        const probabilities = predictProbabilities(model, validation.features, validation.count);
        validationScores = evaluateProbabilities(probabilities, validation.labels, numClasses);
        if (!best || validationScores.accuracy > best.accuracy) best = { epoch, accuracy: validationScores.accuracy, snapshot: model.snapshot() };
      }
      const testScores =
        test && test.count > 0 ? evaluateProbabilities(predictProbabilities(model, test.features, test.count), test.labels, numClasses) : undefined;
      const record: EpochRecord = {
        epoch,
        test: testScores,
        trainLoss: epochObjective / train.count,
        trainCrossEntropy: epochCrossEntropy / train.count,
        validation: validationScores,
        weights: weightHistogram(lastWeights),
        seconds: epochSeconds,
        rowsPerSecond: train.count / Math.max(epochSeconds, 1e-9),
      };
      records.push(record);
      emit({ type: 'train-epoch', ...record });
      await yieldToEventLoop();
      throwIfCancelled(context.signal);
      await context.afterEpoch?.(epoch, context.signal);
      throwIfCancelled(context.signal);
    }
  } finally {
    // The workers end and the model moves back into its own memory, whether the run ended, failed or was cancelled.
    if (team) {
      await team.close();
      lastWeights = lastWeights.slice();
    }
  }
  let bestEpoch = epochs;
  if (best) {
    model.restore(best.snapshot);
    bestEpoch = best.epoch;
  }
  const seconds = (performance.now() - runStart) / 1000;
  emit({ type: 'train-done', bestEpoch, validation: records[bestEpoch - 1]?.validation, seconds });
  return { epochs: records, bestEpoch, lastWeights, rowsPerSecond: (train.count * epochs) / Math.max(trainingSeconds, 1e-9), seconds, threads: team?.threads ?? 1 };
}
