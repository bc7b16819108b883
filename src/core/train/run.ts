import { createWriteStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { CoreEvent, EvalScores, EventSink, LossKind } from '../events';
import type { Dataset, Row } from '../data/dataset';
import type { LabelMap } from '../data/labels';
import { DimpError } from '../errors';
import { pathExists, writeFolderAtomic } from '../io/atomic';
import { pausePoint } from '../io/pausePoint';
import { loadClassifier, writeNgramModelFiles } from '../model/modelFolder';
import type { DeviceChoice } from '../runtime/onnxRuntime';
import { scoresByRowId, type Scores } from '../weighting/score';
import { weightDiagnostics, type WeightGuards } from '../weighting/weights';
import { trainEncoderHead, type EncoderHeadSettings, type EncoderSummary } from './encoderHeadTraining';
import { fineTuneClassifier, type FineTuneSettings, type FineTuneSummary } from './fineTuneTraining';
import { evaluateProbabilities } from './metrics';
import { trainNgram, type NgramSettings } from './ngramTraining';
import { runPaths, writeRunConfig, writeRunMetrics, writeRunWeights, type RunConfigFile, type RunMetrics } from './runFolder';
import type { TrainerContext, TrainResult } from './trainer';

export type { RunMetrics } from './runFolder';

/** Everything one training run needs; all of it is recorded in the run's `config.json`. */
export interface TrainRunRequest {
  synthetic: Dataset;
  labelMap: LabelMap;
  loss: LossKind;
  /** Scores of the synthetic rows (q for imp and dimp, d for imp). */
  scores?: Scores;
  /** Real rows for epoch selection. */
  validation?: Dataset;
  /** Real rows for the final report. */
  test?: Dataset;
  settings: NgramSettings;
  /** Train a head on this frozen transformer encoder instead of the built-in model (`settings` then unused). */
  encoder?: EncoderHeadSettings;
  /** Fine-tune this transformer classifier instead of the built-in model (`settings` then unused). */
  finetune?: FineTuneSettings;
  seed: number;
  guards: WeightGuards;
  device: DeviceChoice;
  /** Parent folder of run folders. */
  outDir: string;
  /** `filter`: the share of the rows, highest q first, trained on (default DEFAULT_FILTER_KEEP). */
  filterKeep?: number;
  /** Name of the run folder; default `<loss>-<timestamp>`. */
  runName?: string;
  signal?: AbortSignal;
  onEvent?: EventSink;
  /** A pause point after each epoch of the classifier (not of the checkers); see TrainerContext. */
  afterEpoch?: TrainerContext['afterEpoch'];
}

/** A finished run. */
export interface RunSummary extends RunMetrics {
  runDir: string;
}

/** The `filter` baseline keeps this share of the rows by default, highest q first (as Export Curated Dataset…). */
export const DEFAULT_FILTER_KEEP = 0.8;

/** The rows of the top `keep` share by q (ties kept in row order); the others are left out. */
export function keepTopByQuality<T extends { quality?: Float32Array; diversity?: Float32Array; rows: Row[] }>(aligned: T, keep: number): T {
  const quality = aligned.quality!;
  const count = Math.max(1, Math.round(aligned.rows.length * keep));
  const order = Array.from(quality.keys()).sort((a, b) => quality[b]! - quality[a]! || a - b).slice(0, count).sort((a, b) => a - b);
  return {
    ...aligned,
    rows: order.map((i) => aligned.rows[i]!),
    quality: Float32Array.from(order, (i) => quality[i]!),
    diversity: aligned.diversity && Float32Array.from(order, (i) => aligned.diversity![i]!),
  };
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
}

/** Aligns q and d with the synthetic rows by row id; rows without scores are counted and left out. */
function alignScores(rows: readonly Row[], scores: Scores | undefined): { rows: Row[]; quality?: Float32Array; diversity?: Float32Array; unscored: number } {
  if (!scores) return { rows: [...rows], unscored: 0 };
  const byId = scoresByRowId(scores);
  const kept: Row[] = [];
  const quality: number[] = [];
  const diversity: number[] = [];
  for (const row of rows) {
    const score = byId.get(row.rowId);
    if (!score) continue;
    kept.push(row);
    quality.push(score.quality);
    diversity.push(score.diversity);
  }
  return { rows: kept, quality: Float32Array.from(quality), diversity: Float32Array.from(diversity), unscored: rows.length - kept.length };
}

/**
 * Trains the built-in classifier on synthetic rows with ce, imp or dimp and writes the run folder:
 * `model/` (ONNX + config), `metrics.json`, `weights.jsonl`, `train-log.jsonl`, `config.json`.
 * The folder appears whole or not at all: it is built under a temporary name and renamed at the end;
 * cancellation (the signal) or any failure removes it.
 */
export async function runTraining(request: TrainRunRequest): Promise<RunSummary> {
  const { loss, labelMap, signal, onEvent } = request;
  if (loss !== 'ce' && !request.scores) throw new DimpError('usage', `${loss} training needs scores: pass --scores FILE or --real FILE to score first`);
  const runDir = path.resolve(request.outDir, request.runName ?? `${loss}-${timestamp()}`);
  if (await pathExists(runDir)) throw new DimpError('usage', 'run folder already exists; choose another --name or --out', { file: runDir });
  const filterKeep = request.filterKeep ?? DEFAULT_FILTER_KEEP;
  if (!(filterKeep > 0 && filterKeep <= 1)) throw new DimpError('usage', `the share of rows kept by the filter baseline must be in (0, 1], got ${filterKeep}`);
  const scored = alignScores(request.synthetic.rows, loss === 'ce' ? undefined : request.scores);
  const aligned = loss === 'filter' && scored.rows.length > 0 ? keepTopByQuality(scored, filterKeep) : scored;
  if (aligned.unscored > 0) {
    onEvent?.({ type: 'log', level: 'warning', message: `${aligned.unscored} synthetic rows have no scores (changed since scoring?) and are left out; rescore to include them` });
  }
  if (aligned.rows.length === 0) throw new DimpError('badInput', 'no synthetic rows to train on', { file: request.synthetic.file });

  return writeFolderAtomic(runDir, async (tmp) => {
    const log = createWriteStream(runPaths(tmp).log);
    const started = Date.now();
    const sink = (event: CoreEvent): void => {
      log.write(JSON.stringify({ time: Date.now() - started, ...event }) + '\n');
      onEvent?.(event);
    };
    try {
      const config: RunConfigFile = {
        kind: 'dimp-run',
        version: 1,
        loss,
        seed: request.seed,
        guards: request.guards,
        ...(loss === 'filter' ? { filterKeep } : {}),
        settings: request.finetune ?? request.encoder ?? request.settings,
        model: request.finetune ? 'finetune' : request.encoder ? 'encoder-head' : 'ngram',
        device: request.device,
        labels: [...labelMap.names],
        data: {
          synthetic: { file: request.synthetic.file, fields: request.synthetic.fields, rows: aligned.rows.length, problems: request.synthetic.problems.length },
          validation: request.validation && { file: request.validation.file, fields: request.validation.fields, rows: request.validation.rows.length },
          test: request.test && { file: request.test.file, fields: request.test.fields, rows: request.test.rows.length },
          scores: request.scores && loss !== 'ce' ? request.scores.header : undefined,
        },
        createdAt: new Date(started).toISOString(),
      };
      await writeRunConfig(tmp, config);
      const common = {
        rows: aligned.rows,
        numClasses: labelMap.size,
        loss,
        seed: request.seed,
        guards: request.guards,
        quality: aligned.quality,
        diversity: aligned.diversity,
        validation: request.validation?.rows,
        test: request.test?.rows,
      };
      const modelDir = runPaths(tmp).model;
      let result: TrainResult;
      let encoder: EncoderSummary | undefined;
      let finetune: FineTuneSummary | undefined;
      if (request.finetune) {
        const trained = await fineTuneClassifier(
          { ...common, settings: request.finetune, labelMap, device: request.device },
          modelDir,
          {
            signal,
            onEvent: sink,
            afterEpoch: async (epoch, epochSignal) => {
              await pausePoint('train:epoch', epochSignal);
              await request.afterEpoch?.(epoch, epochSignal);
            },
            extra: { dimp_run: { loss, seed: request.seed } },
          },
        );
        result = trained.result;
        finetune = trained.summary;
      } else if (request.encoder) {
        const trained = await trainEncoderHead({ ...common, settings: request.encoder, device: request.device }, { signal, onEvent: sink });
        await fs.mkdir(modelDir);
        await trained.writeFiles(modelDir, labelMap, { dimp_run: { loss, seed: request.seed } });
        result = trained.result;
        encoder = trained.encoder;
      } else {
        const trained = await trainNgram({ ...common, settings: request.settings }, {
          signal,
          onEvent: sink,
          afterEpoch: async (epoch, epochSignal) => {
            await pausePoint('train:epoch', epochSignal);
            await request.afterEpoch?.(epoch, epochSignal);
          },
        });
        await writeNgramModelFiles(modelDir, trained.model.parameters(), request.settings.featurizer, labelMap, { dimp_run: { loss, seed: request.seed } });
        result = trained.result;
        // The threads that did train (a recipe they cannot run falls back to one): what config.json records.
        if (result.threads !== (request.settings.threads ?? 1)) {
          const settings: NgramSettings = { ...request.settings, threads: result.threads };
          if (result.threads <= 1) delete settings.threads;
          await writeRunConfig(tmp, { ...config, settings });
        }
      }

      // The reported test score is that of the exported model, run through onnxruntime.
      let test: EvalScores | undefined;
      let provider = finetune?.provider ?? encoder?.provider ?? 'cpu';
      if (request.test && request.test.rows.length > 0) {
        const exported = await loadClassifier(modelDir, request.device);
        try {
          provider = exported.provider;
          const probabilities = await exported.predict(request.test.rows, { signal });
          test = evaluateProbabilities(probabilities, Int32Array.from(request.test.rows, (r) => r.label), labelMap.size);
        } finally {
          await exported.dispose();
        }
      }
      const metrics: RunMetrics = {
        loss,
        bestEpoch: result.bestEpoch,
        validation: result.epochs[result.bestEpoch - 1]?.validation,
        test,
        epochs: result.epochs,
        trainingRows: aligned.rows.length,
        unscoredRows: aligned.unscored,
        rowsPerSecond: result.rowsPerSecond,
        seconds: result.seconds,
        provider,
        ...(loss !== 'ce' && loss !== 'filter' ? { weightDiagnostics: weightDiagnostics(result.lastWeights) } : {}),
        ...(encoder ? { encoder } : {}),
        ...(finetune ? { finetune } : {}),
      };
      await writeRunMetrics(tmp, metrics);
      await writeRunWeights(
        tmp,
        aligned.rows.map((row, i) => ({
          rowId: row.rowId,
          line: row.line,
          label: labelMap.nameOf(row.label),
          weight: Number(result.lastWeights[i]!.toPrecision(7)),
          ...(aligned.quality ? { quality: Number(aligned.quality[i]!.toPrecision(7)) } : {}),
          ...(aligned.diversity && loss === 'imp' ? { diversity: Number(aligned.diversity[i]!.toPrecision(7)) } : {}),
        })),
      );
      return { ...metrics, runDir };
    } finally {
      await new Promise<void>((resolve) => log.end(resolve));
    }
  });
}
