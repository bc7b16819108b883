import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { EventSink } from '../../protocol/events';
import type { Dataset, Row } from '../data/dataset';
import type { LabelMap } from '../data/labels';
import { DimpError, throwIfCancelled } from '../errors';
import { pathExists, temporarySibling, writeFolderAtomic, writeLinesAtomic } from '../io/atomic';
import { loadClassifier, writeNgramModelFiles, type LoadedClassifier } from '../model/modelFolder';
import type { DeviceChoice } from '../runtime/onnxRuntime';
import { trainEncoderHead, type EncoderHeadSettings } from '../train/encoderHeadTraining';
import { argmaxRow } from '../train/metrics';
import { trainNgram, type NgramSettings } from '../train/ngramTraining';
import { impWeight, type WeightGuards } from './weights';

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
  createdAt: string;
  rows: number;
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
  labelMap: LabelMap;
  qualityModel?: string;
  diversityModel?: string;
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

async function trainAndSaveChecker(
  name: 'quality' | 'diversity',
  rows: readonly Row[],
  request: ScoreRequest,
): Promise<string> {
  const { onEvent } = request;
  onEvent?.({ type: 'score-progress', stage: `${name}-checker`, done: 0, total: rows.length, message: `training the ${name} checker on ${rows.length} rows` });
  const target = path.join(request.checkersDir, name);
  const about = { role: name, trainedOn: name === 'quality' ? request.real?.file : request.synthetic.file, rows: rows.length, seed: request.seed };
  if (request.checkerEncoder) {
    const trained = await trainEncoderHead(
      { rows, numClasses: request.labelMap.size, settings: request.checkerEncoder, loss: 'ce', seed: request.seed, device: request.device },
      { signal: request.signal, onEvent },
    );
    await trained.save(target, request.labelMap, { dimp_checker: { ...about, settings: request.checkerEncoder } });
    onEvent?.({ type: 'score-progress', stage: `${name}-checker`, done: rows.length, total: rows.length, message: `${name} checker trained` });
    return target;
  }
  const trained = await trainNgram(
    { rows, numClasses: request.labelMap.size, settings: request.checkerSettings, loss: 'ce', seed: request.seed },
    { signal: request.signal },
  );
  await fs.rm(target, { recursive: true, force: true });
  await writeFolderAtomic(target, (tmp) =>
    writeNgramModelFiles(tmp, trained.model.parameters(), request.checkerSettings.featurizer, request.labelMap, {
      dimp_checker: { ...about, settings: request.checkerSettings },
    }),
  );
  onEvent?.({ type: 'score-progress', stage: `${name}-checker`, done: rows.length, total: rows.length, message: `${name} checker trained` });
  return target;
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
  if (!qualityFolder) {
    if (!request.real || request.real.rows.length === 0) throw new DimpError('usage', 'scoring needs real rows (--real) or a quality checker model (--quality-model)');
    qualityFolder = await trainAndSaveChecker('quality', request.real.rows, request);
  }
  throwIfCancelled(signal);
  const diversityFolder = request.diversityModel ?? (await trainAndSaveChecker('diversity', synthetic.rows, request));
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
