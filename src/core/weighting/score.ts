import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { EventSink } from '../events';
import type { Dataset, Row } from '../data/dataset';
import type { LabelMap } from '../data/labels';
import { DimpError, throwIfCancelled } from '../errors';
import { pathExists, temporarySibling, writeFolderAtomic, writeLinesAtomic } from '../io/atomic';
import { loadClassifier, writeNgramModelFiles, type LoadedClassifier } from '../model/modelFolder';
import type { NgramParameters } from '../model/ngramClassifier';
import type { DeviceChoice } from '../runtime/onnxRuntime';
import { trainEncoderHead, type EncoderHeadSettings } from '../train/encoderHeadTraining';
import { argmaxRow } from '../train/metrics';
import { fitTemperature } from '../train/metrics';
import { toEvaluationSet, trainNgram, type NgramSettings } from '../train/ngramTraining';
import { predictProbabilities, type TrainResult } from '../train/trainer';
import { deriveSeed, SeededRandom } from '../random';
import { impWeight, weightDiagnostics, type WeightDiagnostics, type WeightGuards } from './weights';

/** One synthetic row's scores, as written to the scores file. */
export interface RowScore {
  rowId: string;
  /** 1-based line in the synthetic file when scored. */
  line: number;
  /** Gold label name. */
  label: string;
  /** q = P̂′(y|x) from the quality checker, 0–1. */
  quality: number;
  /** d = Q̂(y|x) from the diversity checker, 0–1. */
  diversity: number;
  /** q / max(d, ε), capped at the max weight when one is set. */
  impWeight: number;
  /** The label the quality checker prefers, and its probability. */
  qualityLabel: string;
  qualityLabelProbability: number;
}

/** Where scores came from; the first line of a scores file. */
export interface ScoresHeader {
  kind: 'dimp-scores';
  version: 1;
  synthetic: string;
  real: string | undefined;
  labels: string[];
  qualityChecker: string;
  diversityChecker: string;
  /** Execution provider of the quality checker (and of the diversity checker unless `diversityProvider` says otherwise). */
  provider: string;
  diversityProvider?: string;
  guards: WeightGuards;
  /** How the built-in checkers were trained and chosen (absent for checkers given as model folders). */
  checkers?: CheckersReport;
  /** Weight diagnostics of the IMP weights (absent in files written before they existed). */
  diagnostics?: WeightDiagnostics;
  createdAt: string;
  rows: number;
}

/** One trained checker: its passes, the epoch kept and how it did on the rows that chose it. */
export interface CheckerReport {
  trainedOn: string | undefined;
  rows: number;
  epochs: number;
  bestEpoch: number;
  /** Accuracy on the selection rows at the kept epoch (they chose it, so it is slightly optimistic). */
  selectionAccuracy?: number;
  /** Share of the selection rows in their most frequent class: the accuracy of always guessing it. */
  selectionMajority?: number;
  /** Temperature T the checker's logits are divided by (fitted on the selection rows); absent: 1. */
  temperature?: number;
  /** The checker started from the diversity checker's parameters. */
  warmStart?: 'diversity';
}

/** Settings and selection of the built-in checkers, recorded in the scores header. */
export interface CheckersReport {
  settings: NgramSettings | EncoderHeadSettings;
  /**
   * Which real rows chose each checker's epoch: `validation` (the validation set), `held-out` (a third of
   * the real rows, after which the quality checker is retrained on all of them for the chosen epochs) or
   * `none` (too few real rows: the last epoch is kept).
   */
  selection: 'validation' | 'held-out' | 'none';
  selectionRows: number;
  quality?: CheckerReport;
  diversity?: CheckerReport;
}

/** A scores file in memory. */
export interface Scores {
  header: ScoresHeader;
  rows: RowScore[];
}

/** What scoring needs. Checkers are trained here unless model folders are given. */
export interface ScoreRequest {
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
  /** Temperature-scale the trained quality checker on the selection rows (default true). */
  calibrateQuality?: boolean;
  /** Start the quality checker from the trained diversity checker (built-in model only). */
  qualityWarmStart?: boolean;
  /** Where trained checkers are saved (`quality/` and `diversity/` inside). */
  checkersDir: string;
  checkerSettings: NgramSettings;
  /** Train the checkers as heads on this frozen transformer encoder instead of the built-in model. */
  checkerEncoder?: EncoderHeadSettings;
  /** Cap on tokens per row for transformer checkers (their own limit applies anyway). */
  maxLength?: number;
  /** Embedding cache: checkers exported from an encoder + head score cached rows with their head alone. */
  embeddingCacheDir?: string;
  seed: number;
  guards: WeightGuards;
  device: DeviceChoice;
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
  if (request.checkerEncoder) {
    const trained = await trainEncoderHead(
      { rows, numClasses: request.labelMap.size, settings: request.checkerEncoder, loss: 'ce', seed: request.seed, device: request.device, validation: selection },
      { signal: request.signal, onEvent },
    );
    await trained.save(target, request.labelMap, { dimp_checker: { ...about, settings: request.checkerEncoder } });
    onEvent?.({ type: 'score-progress', stage: `${name}-checker`, done: total, total, message: `${name} checker trained` });
    return { folder: target, report: checkerReport(trainedOn, rows.length, trained.result, selection, request.labelMap.size) };
  }
  let settings = request.checkerSettings;
  const numClasses = request.labelMap.size;
  let trained = await trainNgram({ rows, numClasses, settings, loss: 'ce', seed: request.seed, validation: selection, initialParameters: warmStart }, { signal: request.signal });
  const report = checkerReport(trainedOn, rows.length, trained.result, selection, numClasses);
  // The quality checker's q are probabilities that weights divide and multiply: temperature scaling on
  // the rows that chose its epoch makes them calibrated (measured in EVALUATION.md).
  if (name === 'quality' && selection && request.calibrateQuality !== false) {
    const held = toEvaluationSet(trained.featurizer, selection);
    const probabilities = predictProbabilities(trained.model, held.features, held.count);
    report.temperature = fitTemperature(probabilities, held.labels, numClasses);
  }
  if (refitOn && selection) {
    settings = { ...settings, epochs: trained.result.bestEpoch, rowUpdateBudget: null };
    trained = await trainNgram({ rows: refitOn, numClasses, settings, loss: 'ce', seed: request.seed, initialParameters: warmStart }, { signal: request.signal });
    report.rows = refitOn.length;
  }
  const parameters = trained.model.parameters();
  const untempered = report.temperature !== undefined ? trained.model.parameters() : parameters;
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
    ...(selection && kept?.validation ? { selectionAccuracy: kept.validation.accuracy, selectionMajority: majorityShare(selection, numClasses) } : {}),
  };
}

const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;

/** One line about a trained checker, for people. */
export function describeChecker(report: CheckerReport, checkers: CheckersReport): string {
  const chosen =
    checkers.selection === 'none'
      ? `${report.epochs} epochs (too few real rows to choose the epoch)`
      : `epoch ${report.bestEpoch} of ${report.epochs}, chosen on ${checkers.selectionRows} ${checkers.selection === 'validation' ? 'validation' : 'held-out real'} rows`;
  const accuracy =
    report.selectionAccuracy !== undefined ? ` · accuracy there ${pct(report.selectionAccuracy)} (always guessing the majority class: ${pct(report.selectionMajority ?? 0)})` : '';
  return `trained on ${report.rows} rows · ${chosen}${accuracy}`;
}

/** How far above the majority-class rate the quality checker must be before its q are worth much. */
export const NEAR_CHANCE_MARGIN = 0.05;

/** A plain warning when the quality checker is near chance on the rows that chose it. */
export function checkerWarning(report: CheckerReport | undefined): string | undefined {
  if (report?.selectionAccuracy === undefined || report.selectionMajority === undefined) return undefined;
  if (report.selectionAccuracy >= report.selectionMajority + NEAR_CHANCE_MARGIN) return undefined;
  return (
    `the quality checker is near chance (${pct(report.selectionAccuracy)} where always guessing the majority class gives ${pct(report.selectionMajority)}): ` +
    'its q, the IMP/DIMP weights and the "likely mislabelled" flags say little. Give it more real rows or a stronger checker model.'
  );
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
  // scored, so a cancelled or failed run leaves the old checkers beside the old scores.
  const staging = temporarySibling(request.checkersDir);
  try {
    const scores = await scoreWithCheckersIn({ ...request, checkersDir: staging }, (folder) =>
      folder.startsWith(staging) ? path.join(request.checkersDir, path.relative(staging, folder)) : folder,
    );
    for (const name of ['quality', 'diversity']) {
      const staged = path.join(staging, name);
      if (!(await pathExists(staged))) continue;
      const final = path.join(request.checkersDir, name);
      await fs.mkdir(request.checkersDir, { recursive: true });
      await fs.rm(final, { recursive: true, force: true });
      await fs.rename(staged, final);
    }
    return scores;
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}

async function scoreWithCheckersIn(request: ScoreRequest, finalFolder: (folder: string) => string): Promise<Scores> {
  const { synthetic, labelMap, signal, onEvent } = request;
  if (synthetic.rows.length === 0) throw new DimpError('badInput', 'no usable rows to score', { file: synthetic.file });
  let qualityFolder = request.qualityModel;
  const { selection, fit, choose } = checkerSelection(request);
  const checkers: CheckersReport = { settings: request.checkerEncoder ?? request.checkerSettings, selection, selectionRows: choose.length };
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
      if (model.fallbackReason) onEvent?.({ type: 'log', level: 'warning', message: `${model.folder}: using ${model.provider} (${model.fallbackReason})` });
    }
    const total = synthetic.rows.length;
    const progress = (what: string) => (done: number) =>
      onEvent?.({ type: 'score-progress', stage: 'score', done, total, message: `${what} checker: ${done}/${total} rows` });
    const qualityProbabilities = await quality.predict(synthetic.rows, { signal, onProgress: progress('quality') });
    const diversityProbabilities = await diversity.predict(synthetic.rows, { signal, onProgress: progress('diversity') });
    const n = labelMap.size;
    const rows: RowScore[] = synthetic.rows.map((row, i) => {
      const q = qualityProbabilities[i * n + row.label]!;
      const d = diversityProbabilities[i * n + row.label]!;
      const preferred = argmaxRow(qualityProbabilities, i, n);
      return {
        rowId: row.rowId,
        line: row.line,
        label: labelMap.nameOf(row.label),
        quality: q,
        diversity: d,
        impWeight: impWeight(q, d, request.guards),
        qualityLabel: labelMap.nameOf(preferred),
        qualityLabelProbability: qualityProbabilities[i * n + preferred]!,
      };
    });
    return {
      header: {
        kind: 'dimp-scores',
        version: 1,
        synthetic: path.resolve(synthetic.file),
        real: request.real && path.resolve(request.real.file),
        labels: [...labelMap.names],
        qualityChecker: `${quality.description} at ${finalFolder(quality.folder)}`,
        diversityChecker: `${diversity.description} at ${finalFolder(diversity.folder)}`,
        provider: quality.provider,
        ...(diversity.provider !== quality.provider ? { diversityProvider: diversity.provider } : {}),
        guards: request.guards,
        ...(checkers.quality || checkers.diversity ? { checkers } : {}),
        diagnostics: weightDiagnostics(Float64Array.from(rows, (r) => r.impWeight)),
        createdAt: new Date().toISOString(),
        rows: rows.length,
      },
      rows,
    };
  } finally {
    await quality.dispose();
    await diversity.dispose();
  }
}

const round = (x: number): number => Number(x.toPrecision(7));

/** Writes a scores file atomically: the header line, then one line per row. */
export async function writeScores(file: string, scores: Scores): Promise<void> {
  function* lines(): Generator<string> {
    yield JSON.stringify(scores.header);
    for (const r of scores.rows) {
      yield JSON.stringify({ ...r, quality: round(r.quality), diversity: round(r.diversity), impWeight: round(r.impWeight), qualityLabelProbability: round(r.qualityLabelProbability) });
    }
  }
  await writeLinesAtomic(file, lines());
}

/** Reads a scores file written by `writeScores`. */
export async function readScores(file: string): Promise<Scores> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new DimpError('badInput', 'scores file not found (run `dimp-curator score` first)', { file });
  }
  const lines = text.split('\n');
  let header: ScoresHeader;
  try {
    header = JSON.parse(lines[0] ?? '') as ScoresHeader;
  } catch {
    throw new DimpError('badInput', 'not a scores file (the first line is not JSON)', { file, line: 1 });
  }
  if (header.kind !== 'dimp-scores') throw new DimpError('badInput', 'not a scores file (no "kind": "dimp-scores" header)', { file, line: 1 });
  const rows: RowScore[] = [];
  for (let i = 1; i < lines.length; i++) {
    if (lines[i]!.trim() === '') continue;
    try {
      rows.push(JSON.parse(lines[i]!) as RowScore);
    } catch (error) {
      throw new DimpError('badInput', `invalid JSON: ${(error as Error).message}`, { file, line: i + 1 });
    }
  }
  return { header, rows };
}

/** Scores looked up by row id. */
export function scoresByRowId(scores: Scores): Map<string, RowScore> {
  return new Map(scores.rows.map((r) => [r.rowId, r]));
}
