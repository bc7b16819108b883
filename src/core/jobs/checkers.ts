/**
 * Training (or loading) the checkers and scoring every synthetic row with them: the work of a score job.
 * The checkers keep their best epoch on real validation rows (else on a held-out third of the real rows),
 * the quality checker is temperature-scaled on them, and both run through onnxruntime on the synthetic rows.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { EventSink } from '../events';
import type { Dataset, Row } from '../data/dataset';
import type { LabelMap } from '../data/labels';
import { DimpError, throwIfCancelled } from '../errors';
import { pathExists, removeCreatedFolders, temporarySibling, trackCreatedFolders, trackTemporary, writeError, writeFolderAtomic } from '../io/atomic';
import { pausePoint } from '../io/pausePoint';
import { loadClassifier, NGRAM_BATCH_SIZE, ngramChunkSize, NgramOnnxClassifier, writeNgramModelFiles, type LoadedClassifier } from '../model/modelFolder';
import { autoScoringThreads, predictOnWorkers } from '../model/ngramPool';
import { NgramClassifier, type NgramParameters } from '../model/ngramClassifier';
import { averageLogits } from '../model/ngramEnsemble';
import { deriveSeed, SeededRandom } from '../random';
import { fallbackMessage, type DeviceChoice } from '../runtime/onnxRuntime';
import { trainEncoderHead, type EncoderHeadSettings } from '../train/encoderHeadTraining';
import { argmaxRow, evaluateProbabilities, expectedCalibrationError, fitTemperature, labelShares } from '../train/metrics';
import { toEvaluationSet, trainNgram, type NgramSettings, type TrainedNgram } from '../train/ngramTraining';
import { predictProbabilities, type TrainResult } from '../train/trainer';
import type { CheckerReport, CheckersReport, Scores, ScoresHeader } from '../weighting/score';
import { ColumnarScores, ScoreColumns } from '../weighting/scoreColumns';
import { impWeight, weightDiagnostics, type WeightGuards } from '../weighting/weights';
import { checkersProgress } from './scoreProgress';

/** How the checkers are trained, shared by score requests and training jobs that score first. */
export interface CheckerTrainingOptions {
  checkerSettings: NgramSettings;
  /** Train the checkers as heads on this frozen transformer encoder instead of the built-in model. */
  checkerEncoder?: EncoderHeadSettings;
  /** Cap on tokens per row for transformer checkers (their own limit applies anyway). */
  maxLength?: number;
  /** Embedding cache: checkers exported from an encoder + head score cached rows with their head alone. */
  embeddingCacheDir?: string;
}

/** What scoring needs. Checkers are trained here unless model folders are given. */
export interface ScoreRequest extends CheckerTrainingOptions {
  synthetic: Dataset;
  /** Real rows for training the quality checker (not needed when `qualityModel` is given). */
  real?: Dataset;
  /**
   * Real rows that choose each trained checker's epoch (the validation set). Without them a third of the
   * `real` rows is held out for that.
   */
  selection?: Dataset;
  labelMap: LabelMap;
  qualityModel?: string;
  diversityModel?: string;
  /**
   * Temperature-scale the trained quality checker on the selection rows (default false: the paper's q is the
   * checker's own probability; scaling measured no gain and flattens q, inflating q/d for mislabelled rows).
   */
  calibrateQuality?: boolean;
  /** Start the quality checker from the trained diversity checker (built-in model only). */
  qualityWarmStart?: boolean;
  /** Where trained checkers are saved (`quality/` and `diversity/` inside). */
  checkersDir: string;
  seed: number;
  guards: WeightGuards;
  device: DeviceChoice;
  /** Worker threads of the built-in checkers' scoring pass; absent or 1: the calling thread alone; 0: one per 40,000 rows, at most one per core (`autoScoringThreads`). */
  scoringThreads?: number;
  signal?: AbortSignal;
  onEvent?: EventSink;
}

/** Real rows below which no third is held out to choose the checkers' epochs. */
const MIN_ROWS_TO_HOLD_OUT = 30;

/** The real rows that choose the checkers' epochs, and what the quality checker trains on first. */
function checkerSelection(request: ScoreRequest): { selection: CheckersReport['selection']; fit: readonly Row[]; choose: readonly Row[] } {
  const real = request.real?.rows ?? [];
  if (request.selection && request.selection.rows.length > 0) return { selection: 'validation', fit: real, choose: request.selection.rows };
  if (real.length < MIN_ROWS_TO_HOLD_OUT) return { selection: 'none', fit: real, choose: [] };
  const order = new SeededRandom(deriveSeed(request.seed, 'checker-selection')).shuffle(Int32Array.from({ length: real.length }, (_, i) => i));
  const heldOut = Math.round(real.length / 3);
  return {
    selection: 'held-out',
    fit: Array.from(order.subarray(heldOut), (i) => real[i]!),
    choose: Array.from(order.subarray(0, heldOut), (i) => real[i]!),
  };
}

function majorityShare(rows: readonly Row[], numClasses: number): number {
  const counts = new Array<number>(numClasses).fill(0);
  for (const row of rows) counts[row.label]! += 1;
  return rows.length === 0 ? 0 : Math.max(...counts) / rows.length;
}

/**
 * Trains one checker with cross-entropy and saves it. With `choose` rows the best epoch on them is kept;
 * with `refitOn` the checker is then trained again on those rows for that many epochs (the held-out
 * case: the rows that chose the epoch are not wasted).
 */
async function trainAndSaveChecker(
  name: 'quality' | 'diversity',
  rows: readonly Row[],
  request: ScoreRequest,
  choose: readonly Row[],
  refitOn?: readonly Row[],
  warmStart?: NgramParameters,
): Promise<{ folder: string; report: CheckerReport; parameters?: NgramParameters }> {
  const { onEvent } = request;
  const total = (refitOn ?? rows).length;
  onEvent?.({ type: 'score-progress', stage: `${name}-checker`, done: 0, total, message: `training the ${name} checker on ${total} rows` });
  const target = path.join(request.checkersDir, name);
  const trainedOn = name === 'quality' ? request.real?.file : request.synthetic.file;
  const about = { role: name, trainedOn, rows: total, seed: request.seed };
  const selection = choose.length > 0 ? choose : undefined;
  // The training's own progress, as this stage's: the bar moves within a checker's training too (a pair
  // checker on 10,000 rows takes tens of seconds). Training `phase` of `phases` (ensemble members, refits)
  // reports at every epoch's end and at the throttled steps in between.
  const trainingProgress = (phase: number, phases: number, what: 'training' | 'refitting' = 'training'): EventSink | undefined => {
    if (!onEvent) return undefined;
    let epochs = 0;
    const report = (within: number, epoch: number): void => {
      const fraction = (phase + Math.min(1, within)) / phases;
      onEvent({ type: 'score-progress', stage: `${name}-checker`, done: Math.floor(fraction * total), total, message: `${what} the ${name} checker: epoch ${epoch}${epochs > 0 ? ` of ${epochs}` : ''}` });
    };
    return (event) => {
      if (event.type === 'log') onEvent(event);
      else if (event.type === 'train-start') epochs = event.epochs;
      else if (event.type === 'train-progress' && event.totalSteps > 0) report(event.step / event.totalSteps, event.epoch);
      else if (event.type === 'train-epoch' && epochs > 0) report(event.epoch / epochs, event.epoch);
    };
  };
  if (request.checkerEncoder) {
    const trained = await trainEncoderHead(
      { rows, numClasses: request.labelMap.size, settings: request.checkerEncoder, loss: 'ce', seed: request.seed, device: request.device, validation: selection },
      { signal: request.signal, onEvent: trainingProgress(0, 1) },
    );
    await trained.save(target, request.labelMap, { dimp_checker: { ...about, settings: request.checkerEncoder } });
    onEvent?.({ type: 'score-progress', stage: `${name}-checker`, done: total, total, message: `${name} checker trained` });
    return { folder: target, report: checkerReport(trainedOn, rows.length, trained.result, selection, request.labelMap.size) };
  }
  let settings = request.checkerSettings;
  const numClasses = request.labelMap.size;
  // The quality checker may be an ensemble: members differ only in their seed (initialisation and row
  // order), each keeps its own best epoch, and the exported model averages their logits (averageLogits).
  const members = name === 'quality' ? Math.max(1, Math.floor(settings.qualityEnsemble ?? 1)) : 1;
  const refits = refitOn && selection ? 2 : 1;
  const phases = members * refits;
  const fits: TrainedNgram[] = [];
  const finals: TrainedNgram[] = [];
  for (let k = 0; k < members; k++) {
    const seed = k === 0 ? request.seed : deriveSeed(request.seed, `quality-ensemble-${k}`);
    const fit = await trainNgram({ rows, numClasses, settings, loss: 'ce', seed, validation: selection, initialParameters: warmStart }, { signal: request.signal, onEvent: trainingProgress(k * refits, phases) });
    fits.push(fit);
    if (refitOn && selection) {
      const refit = { ...settings, epochs: fit.result.bestEpoch, rowUpdateBudget: null };
      finals.push(await trainNgram({ rows: refitOn, numClasses, settings: refit, loss: 'ce', seed, initialParameters: warmStart }, { signal: request.signal, onEvent: trainingProgress(k * refits + 1, phases, 'refitting') }));
      if (k === 0) settings = refit;
    } else finals.push(fit);
  }
  const trained = fits[0]!;
  const report = checkerReport(trainedOn, rows.length, trained.result, selection, numClasses);
  if (members > 1) report.members = members;
  if (name === 'quality' && selection) {
    // How well calibrated q is on the rows that chose the epoch; temperature scaling on them is optional
    // (the `calibration` ablation of EVALUATION.md). An ensemble is measured as the averaged model.
    const measured = members > 1 ? NgramClassifier.fromParameters(averageLogits(fits.map((f) => f.model.parameters()))) : trained.model;
    const held = toEvaluationSet(trained.featurizer, selection);
    const probabilities = predictProbabilities(measured, held.features, held.count);
    if (members > 1) {
      const scores = evaluateProbabilities(probabilities, held.labels, numClasses);
      report.selectionAccuracy = scores.accuracy;
      report.selectionMacroF1 = scores.macroF1;
    }
    report.selectionCalibrationError = expectedCalibrationError(probabilities, held.labels, numClasses);
    if (request.calibrateQuality === true) report.temperature = fitTemperature(probabilities, held.labels, numClasses);
  }
  if (refitOn && selection) report.rows = refitOn.length;
  const exported = (): NgramParameters => (members > 1 ? averageLogits(finals.map((f) => f.model.parameters())) : finals[0]!.model.parameters());
  const parameters = exported();
  const untempered = report.temperature !== undefined ? exported() : parameters;
  if (report.temperature !== undefined) {
    // Dividing the logits by T is dividing the output layer by T: the exported model is calibrated itself.
    for (let i = 0; i < parameters.weight.length; i++) parameters.weight[i]! /= report.temperature;
    for (let i = 0; i < parameters.bias.length; i++) parameters.bias[i]! /= report.temperature;
  }
  await fs.rm(target, { recursive: true, force: true });
  await writeFolderAtomic(target, (tmp) =>
    writeNgramModelFiles(tmp, parameters, settings.featurizer, request.labelMap, {
      dimp_checker: { ...about, settings, report },
    }),
  );
  await pausePoint(`score:${name}-checker-saved`, request.signal);
  onEvent?.({
    type: 'score-progress',
    stage: `${name}-checker`,
    done: total,
    total,
    message: `${name} checker trained: epoch ${report.bestEpoch} of ${report.epochs}` + (report.selectionAccuracy !== undefined ? `, accuracy ${(report.selectionAccuracy * 100).toFixed(1)} % on ${choose.length} real rows (majority class ${((report.selectionMajority ?? 0) * 100).toFixed(1)} %)` : ''),
  });
  return { folder: target, report, parameters: untempered };
}

function checkerReport(trainedOn: string | undefined, rows: number, result: TrainResult, selection: readonly Row[] | undefined, numClasses: number): CheckerReport {
  const kept = result.epochs[result.bestEpoch - 1];
  return {
    trainedOn,
    rows,
    epochs: result.epochs.length,
    bestEpoch: result.bestEpoch,
    ...(selection && kept?.validation
      ? { selectionAccuracy: kept.validation.accuracy, selectionMacroF1: kept.validation.macroF1, selectionMajority: majorityShare(selection, numClasses) }
      : {}),
  };
}

function checkLabels(model: LoadedClassifier, labelMap: LabelMap): void {
  const same = model.labelMap.names.length === labelMap.names.length && model.labelMap.names.every((n, i) => n === labelMap.names[i]);
  if (!same) {
    throw new DimpError('badModel', `the model's labels (${model.labelMap.names.join(', ')}) differ from the data's (${labelMap.names.join(', ')})`, { file: path.join(model.folder, 'config.json') });
  }
}

/**
 * Scores every synthetic row: trains (or loads) the quality checker on real data and the diversity
 * checker on the synthetic data itself, runs both through onnxruntime on the synthetic rows, and
 * returns q, d and the IMP weight. The diversity checker scores the rows it was trained on
 * (in-sample), as the reference code does: out-of-fold scoring makes d tiny for hard rows.
 */
export async function scoreSynthetic(request: ScoreRequest): Promise<Scores> {
  // Checkers are trained into a staging folder and replace the previous ones only once every row is
  // scored, so a cancelled or failed run leaves the old checkers beside the old scores. (Score jobs
  // publish checkers and scores as one unit instead: see `stageCheckersAndScore` and scoreJob.ts.)
  const staged = await stageCheckersAndScore(request, request.checkersDir);
  try {
    for (const name of ['quality', 'diversity']) {
      const from = staged.folder && path.join(staged.folder, name);
      if (!from || !(await pathExists(from))) continue;
      const final = path.join(request.checkersDir, name);
      await fs.mkdir(request.checkersDir, { recursive: true });
      await fs.rm(final, { recursive: true, force: true });
      await fs.rename(from, final);
    }
    return staged.scores;
  } finally {
    await staged.discard();
  }
}

/** Scores whose trained checkers wait in a staging folder for their publication. */
export interface StagedScores {
  scores: Scores;
  /** The staging folder holding the trained checkers (`quality/`, `diversity/`); undefined when none was trained. */
  folder: string | undefined;
  /** Removes the staging folder (when it was not renamed) and the parent folders created for it while empty. */
  discard(): Promise<void>;
}

/**
 * Trains the checkers that need training into a temporary sibling of `finalDir` and scores every row with
 * them; the scores header names the checkers at `finalDir` (`<finalDir>/quality`, `<finalDir>/diversity`),
 * where the caller then moves them. On failure or cancellation nothing is left: no staging folder and no
 * empty parent folders.
 */
export async function stageCheckersAndScore(request: ScoreRequest, finalDir: string): Promise<StagedScores> {
  const trains = !request.qualityModel || !request.diversityModel;
  const staging = temporarySibling(finalDir);
  let created: string | undefined;
  if (trains) {
    try {
      created = await fs.mkdir(staging, { recursive: true });
    } catch (error) {
      throw writeError(error, request.checkersDir, 'checkers folder');
    }
  }
  const forget = trains ? trackTemporary(staging) : () => undefined;
  const forgetFolders = trackCreatedFolders(path.dirname(staging), created === staging ? undefined : created);
  const discard = async (): Promise<void> => {
    if (!trains) return;
    await fs.rm(staging, { recursive: true, force: true });
    forget();
    if (created !== staging) await removeCreatedFolders(path.dirname(staging), created);
    forgetFolders();
  };
  try {
    const scores = await scoreWithCheckersIn({ ...request, checkersDir: staging }, (folder) =>
      folder.startsWith(staging) ? path.join(finalDir, path.relative(staging, folder)) : path.resolve(folder),
    );
    return { scores, folder: trains ? staging : undefined, discard };
  } catch (error) {
    await discard();
    throw error;
  }
}

/**
 * The scoring pass: both checkers' probabilities for every row (featurised and run through their sessions a
 * chunk at a time), then q, d, the IMP weight and the label the quality checker prefers, as columns (not an
 * object per row: what a score job keeps per row at its peak, see `ScoreColumns`).
 */
export async function scoreRows(
  quality: LoadedClassifier,
  diversity: LoadedClassifier,
  rows: readonly Row[],
  labelMap: LabelMap,
  guards: WeightGuards,
  options: {
    signal?: AbortSignal;
    onProgress?: { quality?: (done: number, total: number) => void; diversity?: (done: number, total: number) => void };
    /** Worker threads for built-in checkers on the CPU; absent or 1: this thread alone; 0: `autoScoringThreads`. */
    threads?: number;
    /** Rows per `session.run` of built-in checkers (default 512; tests use small ones to get several chunks). */
    batchSize?: number;
  } = {},
): Promise<ScoreColumns> {
  const { signal, onProgress, batchSize } = options;
  let qualityProbabilities: Float32Array;
  let diversityProbabilities: Float32Array;
  if (quality instanceof NgramOnnxClassifier && diversity instanceof NgramOnnxClassifier && quality.sharesFeaturesWith(diversity)) {
    // Built-in checkers featurise rows alike (a third of the pass): once for both, chunk by chunk. The
    // combined progress (rows × 2) moves the quality checker's bar, then the diversity checker's.
    const total = rows.length;
    const progress = (done: number): void => (done <= total ? onProgress?.quality?.(done, total) : onProgress?.diversity?.(done - total, total));
    // One thread unless asked: each worker costs ~100–140 MiB, and the pass is a small part of a score job
    // (training the checkers takes most of it), so workers are the user's choice (`--threads N|auto`).
    const threads = options.threads === 0 ? autoScoringThreads(rows.length) : (options.threads ?? 1);
    const chunks = Math.ceil(rows.length / ngramChunkSize(batchSize ?? NGRAM_BATCH_SIZE));
    if (threads > 1 && chunks > 1 && quality.provider === 'cpu' && diversity.provider === 'cpu') {
      // On several workers, whole chunks each: the same batches, so the same bits as on this thread.
      [qualityProbabilities, diversityProbabilities] = (await predictOnWorkers([quality.folder, diversity.folder], [quality.labelMap.size, diversity.labelMap.size], rows, {
        threads,
        device: 'cpu',
        batchSize,
        signal,
        onProgress: progress,
      })) as [Float32Array, Float32Array];
    } else {
      [qualityProbabilities, diversityProbabilities] = (await NgramOnnxClassifier.predictAll([quality, diversity], rows, { signal, batchSize, onProgress: progress })) as [Float32Array, Float32Array];
    }
  } else {
    qualityProbabilities = await quality.predict(rows, { signal, onProgress: onProgress?.quality });
    diversityProbabilities = await diversity.predict(rows, { signal, onProgress: onProgress?.diversity });
  }
  const n = labelMap.size;
  const count = rows.length;
  const columns = new ScoreColumns(labelMap.names, count);
  for (let i = 0; i < count; i++) {
    const row = rows[i]!;
    labelMap.nameOf(row.label); // a class index out of range throws
    const q = qualityProbabilities[i * n + row.label]!;
    const d = diversityProbabilities[i * n + row.label]!;
    const preferred = argmaxRow(qualityProbabilities, i, n);
    columns.set(i, row.rowId, row.line, row.label, q, d, impWeight(q, d, guards), preferred, qualityProbabilities[i * n + preferred]!);
  }
  return columns;
}

async function scoreWithCheckersIn(request: ScoreRequest, finalFolder: (folder: string) => string): Promise<Scores> {
  const { synthetic, labelMap, signal, onEvent } = request;
  if (synthetic.rows.length === 0) throw new DimpError('badInput', 'no usable rows to score', { file: synthetic.file });
  let qualityFolder = request.qualityModel;
  const { selection, fit, choose } = checkerSelection(request);
  const checkers: CheckersReport = { settings: request.checkerEncoder ?? request.checkerSettings, selection, selectionRows: choose.length };
  if (request.real && request.real.rows.length > 0) {
    const numClasses = labelMap.size;
    checkers.labelBalance = { real: labelShares(Int32Array.from(fit, (r) => r.label), numClasses), synthetic: labelShares(Int32Array.from(synthetic.rows, (r) => r.label), numClasses) };
  }
  if (!qualityFolder && (!request.real || request.real.rows.length === 0)) throw new DimpError('usage', 'scoring needs real rows (--real) or a quality checker model (--quality-model)');
  let diversityFolder = request.diversityModel;
  let diversityParameters: NgramParameters | undefined;
  if (!diversityFolder) {
    const trained = await trainAndSaveChecker('diversity', synthetic.rows, request, choose);
    diversityFolder = trained.folder;
    diversityParameters = trained.parameters;
    checkers.diversity = trained.report;
  }
  throwIfCancelled(signal);
  if (!qualityFolder) {
    // Warm start: the quality checker starts from the diversity checker (what the synthetic rows teach) and
    // is fine-tuned on the real rows, as the paper's checkers start from a pretrained language model.
    const warm = request.qualityWarmStart ? diversityParameters : undefined;
    const trained = await trainAndSaveChecker('quality', fit, request, choose, selection === 'held-out' ? request.real!.rows : undefined, warm);
    qualityFolder = trained.folder;
    checkers.quality = { ...trained.report, ...(warm ? { warmStart: 'diversity' as const } : {}) };
  }
  throwIfCancelled(signal);

  // Both checkers open at once: a transformer spends a good part of a second starting its worker and session.
  const options = { maxLength: request.maxLength, embeddingCache: request.embeddingCacheDir ?? request.checkerEncoder?.cacheDir };
  const opened = await Promise.allSettled([loadClassifier(qualityFolder, request.device, options), loadClassifier(diversityFolder, request.device, options)]);
  const failed = opened.find((o) => o.status === 'rejected');
  if (failed) {
    for (const o of opened) if (o.status === 'fulfilled') await o.value.dispose();
    throw failed.reason;
  }
  const [quality, diversity] = opened.map((o) => (o as PromiseFulfilledResult<LoadedClassifier>).value) as [LoadedClassifier, LoadedClassifier];
  try {
    for (const model of [quality, diversity]) {
      checkLabels(model, labelMap);
      if (model.fallbackReason) onEvent?.({ type: 'log', level: 'warning', message: fallbackMessage(`the ${model === quality ? 'quality' : 'diversity'} checker`, model.provider, model.fallbackReason) });
    }
    const columns = await scoreRows(quality, diversity, synthetic.rows, labelMap, request.guards, {
      signal,
      onProgress: checkersProgress(synthetic.rows.length, onEvent),
      threads: request.scoringThreads,
    });
    const count = columns.length;
    const header: ScoresHeader = {
      kind: 'dimp-scores',
      version: 1,
      synthetic: path.resolve(synthetic.file),
      real: request.real && path.resolve(request.real.file),
      labels: [...labelMap.names],
      qualityChecker: `${quality.description} at ${finalFolder(quality.folder)}`,
      diversityChecker: `${diversity.description} at ${finalFolder(diversity.folder)}`,
      checkerFolders: { quality: finalFolder(quality.folder), diversity: finalFolder(diversity.folder) },
      provider: quality.provider,
      ...(diversity.provider !== quality.provider ? { diversityProvider: diversity.provider } : {}),
      guards: request.guards,
      ...(checkers.quality || checkers.diversity ? { checkers } : {}),
      diagnostics: weightDiagnostics(columns.impWeight),
      createdAt: new Date().toISOString(),
      rows: count,
    };
    return new ColumnarScores(header, columns);
  } finally {
    await quality.dispose();
    await diversity.dispose();
  }
}

