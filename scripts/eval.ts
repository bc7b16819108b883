// `npm run eval`: every loss (CE, IMP, DIMP and the quality and filter baselines) on the shared evaluation
// data (../shared/data), paired seeds, through the job functions the CLI runs (runScoreJob, runTrainingJob:
// real files on disk, ONNX export, test scores from onnxruntime). Writes EVALUATION.md.
// Options: USAGE below (`npm run eval -- --help`).
import { execSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { writeFileAtomic } from '../src/core/io/atomic';
import { runScoreJob } from '../src/core/jobs/scoreJob';
import { resolveJobSettings, type JobSettings } from '../src/core/jobs/settings';
import { deriveSeed, SeededRandom } from '../src/core/random';
import { DEFAULT_ENCODER_HEAD_SETTINGS, type EncoderHeadSettings } from '../src/core/train/encoderHeadTraining';
import { runEvaluationJob } from '../src/core/jobs/evaluateJob';
import { runTrainingJob } from '../src/core/jobs/trainJob';
import type { FineTuneSettings } from '../src/core/train/fineTuneTraining';
import { EVAL_FINETUNE_ROWS, EVAL_FINETUNE_SETTINGS, finetuneSection, subsampleLines, type FinetuneCellView, type FinetuneLossRecord } from './evalFinetune';
import type { NgramSettings } from '../src/core/train/ngramTraining';
import type { WeightDiagnostics } from '../src/core/weighting/weights';
import type { LossKind } from '../src/protocol/events';

/** EVALUATION.md keeps everything from this line on when `npm run eval` regenerates the rest. */
const HAND_NOTES_MARKER = '<!-- Hand-written notes below: kept as they are when npm run eval regenerates the sections above. -->';

const ALL_LOSSES: LossKind[] = ['ce', 'imp', 'dimp', 'quality', 'filter'];
const ABLATION_LOSSES: LossKind[] = ['ce', 'imp', 'dimp'];
const LABELS = ['0', '1'];

interface Task {
  name: string;
  /** Pool of real rows the quality checker and validation rows are drawn from. */
  realPool: string;
  /** Fixed real test set; when absent the rest of the pool is the test set. */
  realTest?: string;
  synthetic: string;
  checkerRows: number;
  validationRows: number;
}

/** A recipe: the defaults, or one change to them (an ablation row). */
type VariantName = 'default' | 'no-feature-dropout' | 'checker-dropout' | 'weight-decay' | 'adam-eps' | 'linear-decay' | 'quality-ensemble' | 'sgd' | 'no-ptb' | 'calibration' | 'fasttext-init' | 'checkers-sgd' | 'checker-unigrams' | 'warm-start' | 'dimp-full-pass' | 'minilm' | 'minilm-checkers' | 'minilm-finetune';

const VARIANTS: Record<Exclude<VariantName, 'default' | 'minilm' | 'minilm-checkers' | 'minilm-finetune'>, string> = {
  'no-feature-dropout': 'classifier without n-gram dropout (the previous default)',
  'checker-dropout': 'n-gram dropout 0.5 in the checkers too',
  'weight-decay': "decoupled weight decay λ 0.1 for the classifier (AdamW's, rows a batch does not touch brought up to date lazily)",
  'adam-eps': "Adam's ε 0.003 for the classifier and the checkers",
  'quality-ensemble': 'quality checker: 5 models differing only in their seed, logits averaged into one',
  'linear-decay': 'learning rate decayed linearly to 0 over the run (as fastText and the HF Trainer), for the classifier and the checkers',
  sgd: 'classifier trained with plain SGD (lr 0.5, batch 8, linear decay, gradient norm clipped at 1, no n-gram dropout: an earlier default)',
  'no-ptb': 'no treebank normalisation of the text (HTML entities and contractions left as written: the previous tokeniser)',
  calibration: 'quality checker temperature-scaled on the validation rows (the previous default)',
  'fasttext-init': "fastText's initialisation (embeddings ±1/dim, output layer zero) for the classifier and the checkers",
  'warm-start': 'quality checker started from the diversity checker, then fine-tuned on the real rows',
  'checker-unigrams': 'checkers on word unigrams only (the classifier keeps uni+bigrams)',
  'checkers-sgd': 'checkers trained with plain SGD (lr 2, batch 4, 25 epochs: the previous checker recipe; epoch still chosen on validation)',
  'dimp-full-pass': "DIMP's p(y|x;θ) from a pass with every n-gram, not the training pass's (which drops half of them)",
};

interface CellJob {
  task: Task;
  seed: number;
  variant: VariantName;
  losses: LossKind[];
  scratch: string;
  minilm?: string;
  /** `minilm-finetune`: synthetic rows per cell (a seeded subsample) and the fine-tuning settings. */
  finetune?: { rows: number; settings: Omit<FineTuneSettings, 'model'> };
  /** An embedding cache shared by every cell of the run (pooled MiniLM embeddings, keyed by text). */
  embeddingCache?: string;
  /** Hand runs: merged into the classifier's and the checkers' settings (`--set`, `--checker-set`). */
  set?: Partial<NgramSettings>;
  checkerSet?: Partial<NgramSettings>;
  /** CE on the small real set alone as well (the main table's column). */
  smallReal: boolean;
}

/** The seeds that cells cover, e.g. "1–10", for a table's caption. */
function seedRange(cells: readonly { seed: number }[]): string {
  const seeds = [...new Set(cells.map((c) => c.seed))].sort((a, b) => a - b);
  if (seeds.length === 0) return 'none';
  const contiguous = seeds.every((seed, i) => i === 0 || seed === seeds[i - 1]! + 1);
  return contiguous ? (seeds.length === 1 ? `${seeds[0]}` : `${seeds[0]}–${seeds.at(-1)}`) : seeds.join(', ');
}

/** One line per reference setting: the mean over its seeds, then each seed's accuracy. */
function referenceLines(runs: readonly FullRealRun[]): string {
  const byWhat = new Map<string, FullRealRun[]>();
  for (const run of runs) byWhat.set(run.what, [...(byWhat.get(run.what) ?? []), run]);
  return [...byWhat].map(([what, group]) => {
    const mean = group.reduce((sum, r) => sum + r.accuracy, 0) / group.length;
    return `- ${what}: **${pct(mean)} %** (${group.map((r) => `seed ${r.seed}: ${pct(r.accuracy)}`).join(', ')})`;
  }).join('\n');
}

/** CE on SST-2's real training rows (the reference runs). */
interface FullRealRun {
  what: string;
  accuracy: number;
  seed: number;
  testByEpoch: number[];
}

interface LossResult {
  accuracy: number;
  macroF1: number;
  diagnostics?: WeightDiagnostics;
}

interface Cell {
  task: string;
  seed: number;
  variant: VariantName;
  results: Partial<Record<LossKind, LossResult>>;
  smallRealOnly?: number;
  /** Always predicting the test rows' most frequent label: the floor every model must clear. */
  testMajority: number;
  qualityChecker?: { accuracy?: number; majority?: number; temperature?: number };
  diversityChecker?: { accuracy?: number };
  impDiagnostics?: WeightDiagnostics;
  /** `minilm-finetune`: the subsample's size and each loss's epoch, speed and time. */
  finetune?: { rows: number; losses: Partial<Record<'ce' | 'imp' | 'dimp', FinetuneLossRecord>> };
  seconds: number;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]): number => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const se = (xs: number[]): number => sd(xs) / Math.sqrt(xs.length);
const pct = (x: number): string => (x * 100).toFixed(1);
const pm = (values: number[]): string => {
  const xs = values.filter(Number.isFinite); // a column a cell did not measure (e.g. CE on the small real set) is left out
  return xs.length ? `${pct(mean(xs))} ± ${pct(sd(xs))}` : '–';
};
const diff = (xs: number[]): string => (xs.length ? `${mean(xs) >= 0 ? '+' : ''}${pct(mean(xs))} ± ${pct(se(xs))}` : '–');

/** Splits the non-empty lines of a real file by a seeded shuffle into the given sizes and the rest. */
function splitLines(file: string, seed: number, sizes: number[]): string[][] {
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const order = new SeededRandom(deriveSeed(seed, 'eval-split')).shuffle(Int32Array.from({ length: lines.length }, (_, i) => i));
  const parts: string[][] = [];
  let start = 0;
  for (const size of sizes) {
    parts.push(Array.from(order.subarray(start, start + size), (i) => lines[i]!));
    start += size;
  }
  parts.push(Array.from(order.subarray(start), (i) => lines[i]!));
  return parts;
}

/** The settings of one variant: the defaults with one change. */
function variantSettings(variant: VariantName): JobSettings & { calibrateQuality: boolean; qualityWarmStart?: boolean } {
  const base = resolveJobSettings({});
  const withFeaturizer = (s: NgramSettings): NgramSettings => ({ ...s, featurizer: { ...s.featurizer, normalize: 'none' } });
  switch (variant) {
    case 'no-feature-dropout':
      return { ...base, settings: { ...base.settings, featureDropout: 0 }, calibrateQuality: false };
    case 'checker-dropout':
      return { ...base, checkerSettings: { ...base.checkerSettings, featureDropout: 0.5 }, calibrateQuality: false };
    case 'weight-decay':
      return { ...base, settings: { ...base.settings, weightDecay: 0.1 }, calibrateQuality: false };
    case 'adam-eps':
      return { ...base, settings: { ...base.settings, adamEpsilon: 3e-3 }, checkerSettings: { ...base.checkerSettings, adamEpsilon: 3e-3 }, calibrateQuality: false };
    case 'quality-ensemble':
      return { ...base, checkerSettings: { ...base.checkerSettings, qualityEnsemble: 5 }, calibrateQuality: false };
    case 'linear-decay':
      return { ...base, settings: { ...base.settings, schedule: 'linear' }, checkerSettings: { ...base.checkerSettings, schedule: 'linear' }, calibrateQuality: false };
    case 'sgd':
      return { ...base, settings: { ...base.settings, optimizer: 'sgd', learningRate: 0.5, batchSize: 8, schedule: 'linear', maxGradNorm: 1, featureDropout: 0 }, calibrateQuality: false };
    case 'no-ptb':
      return { ...base, settings: withFeaturizer(base.settings), checkerSettings: withFeaturizer(base.checkerSettings), calibrateQuality: false };
    case 'calibration':
      return { ...base, calibrateQuality: true };
    case 'fasttext-init':
      return { ...base, settings: { ...base.settings, init: 'fasttext' }, checkerSettings: { ...base.checkerSettings, init: 'fasttext' }, calibrateQuality: false };
    case 'checkers-sgd':
      return {
        ...base,
        checkerSettings: { ...base.checkerSettings, optimizer: 'sgd', learningRate: 2, batchSize: 4, epochs: 25, rowUpdateBudget: null, schedule: 'linear', maxGradNorm: 1 },
        calibrateQuality: false,
      };
    case 'warm-start':
      return { ...base, calibrateQuality: false, qualityWarmStart: true };
    case 'dimp-full-pass':
      return { ...base, settings: { ...base.settings, dimpFullPass: true }, calibrateQuality: false };
    case 'checker-unigrams':
      return { ...base, checkerSettings: { ...base.checkerSettings, featurizer: { ...base.checkerSettings.featurizer, wordNgrams: 1 } }, calibrateQuality: false };
    default:
      return { ...base, calibrateQuality: false };
  }
}

/** One task × seed × variant: score once, then train every loss on the same scores. */
async function runCell(job: CellJob): Promise<Cell> {
  const started = Date.now();
  const { task, seed, variant } = job;
  const dir = path.join(job.scratch, `${task.name.replace('/', '-')}-${variant}-${seed}`);
  rmSync(dir, { recursive: true, force: true });
  execSync(`mkdir -p ${JSON.stringify(dir)}`);
  const [checkerLines, validationLines, rest] = splitLines(task.realPool, seed, [task.checkerRows, task.validationRows]);
  const file = (name: string, lines: string[]): string => {
    const target = path.join(dir, name);
    writeFileSync(target, lines.join('\n') + '\n');
    return target;
  };
  const real = file('real.jsonl', checkerLines!);
  const validation = file('validation.jsonl', validationLines!);
  const test = task.realTest ?? file('test.jsonl', rest!);
  if (variant === 'minilm-finetune') return runFinetuneCell(job, dir, { real, validation, test }, started);
  const variantDefaults = variantSettings(variant);
  const settings = {
    ...variantDefaults,
    settings: { ...variantDefaults.settings, ...job.set },
    checkerSettings: { ...variantDefaults.checkerSettings, ...job.checkerSet },
  };
  // `minilm`: heads on the frozen MiniLM for the checkers and the classifier; `minilm-checkers`: MiniLM checkers
  // (a BERT-level q, as in the paper) weighting the built-in n-gram classifier.
  const checkerEncoder: EncoderHeadSettings | undefined =
    (variant === 'minilm' || variant === 'minilm-checkers') && job.minilm ? { ...DEFAULT_ENCODER_HEAD_SETTINGS, encoder: job.minilm, cacheDir: job.embeddingCache ?? path.join(dir, 'embeddings') } : undefined;
  const encoder = variant === 'minilm' ? checkerEncoder : undefined;
  const scoresFile = path.join(dir, 'synthetic.scores.jsonl');
  const common = { labels: LABELS, seed, guards: settings.guards, device: 'cpu' as const };
  const needsScores = job.losses.some((loss) => loss !== 'ce');
  const scored = needsScores ? await runScoreJob({
    ...common,
    synthetic: { path: task.synthetic },
    real: { path: real },
    validation: { path: validation },
    scoresFile,
    checkersDir: path.join(dir, 'checkers'),
    checkerSettings: settings.checkerSettings,
    checkerEncoder,
    embeddingCacheDir: checkerEncoder?.cacheDir,
    calibrateQuality: settings.calibrateQuality,
    qualityWarmStart: settings.qualityWarmStart,
  }) : undefined;
  const results: Partial<Record<LossKind, LossResult>> = {};
  const train = async (loss: LossKind, synthetic: string): Promise<LossResult> => {
    const run = await runTrainingJob({
      ...common,
      loss,
      synthetic: { path: synthetic },
      validation: { path: validation },
      test: { path: test },
      scoresFile,
      scoreFirst: 'when-needed',
      settings: settings.settings,
      encoder,
      checkerSettings: settings.checkerSettings,
      filterKeep: settings.filterKeep,
      outDir: path.join(dir, 'runs'),
      runName: `${loss}-${path.basename(synthetic, '.jsonl')}`,
    });
    return { accuracy: run.test!.accuracy, macroF1: run.test!.macroF1, diagnostics: run.weightDiagnostics };
  };
  for (const loss of job.losses) results[loss] = await train(loss, task.synthetic);
  // CE on the quality checker's real rows alone: what the small real set gives without synthetic data.
  const smallRealOnly = job.smallReal ? (await train('ce', real)).accuracy : undefined;
  const checkers = scored?.scores.header.checkers;
  const testLabels = readFileSync(test, 'utf8').split('\n').filter((line) => line.trim()).map((line) => String((JSON.parse(line) as { label: unknown }).label));
  const counts = new Map<string, number>();
  for (const label of testLabels) counts.set(label, (counts.get(label) ?? 0) + 1);
  const testMajority = Math.max(...counts.values()) / testLabels.length;
  rmSync(dir, { recursive: true, force: true });
  return {
    task: task.name,
    seed,
    variant,
    results,
    smallRealOnly,
    testMajority,
    qualityChecker: checkers?.quality && { accuracy: checkers.quality.selectionAccuracy, majority: checkers.quality.selectionMajority, temperature: checkers.quality.temperature },
    diversityChecker: checkers?.diversity && { accuracy: checkers.diversity.selectionAccuracy },
    impDiagnostics: scored?.scores.header.diagnostics,
    seconds: (Date.now() - started) / 1000,
  };
}

/** Majority-class share of a labelled JSON Lines file's rows. */
function majorityShare(file: string): number {
  const labels = readFileSync(file, 'utf8').split('\n').filter((line) => line.trim()).map((line) => String((JSON.parse(line) as { label: unknown }).label));
  const counts = new Map<string, number>();
  for (const label of labels) counts.set(label, (counts.get(label) ?? 0) + 1);
  return Math.max(...counts.values()) / labels.length;
}

/**
 * A `minilm-finetune` cell: a seeded subsample of the synthetic source, scored once by the MiniLM checkers
 * (heads on the frozen encoder), then MiniLM fine-tuned whole with CE, IMP and DIMP (the same subsample, seed,
 * head initialisation and row order), best epoch on the validation rows, its model folder tested on the test rows.
 */
async function runFinetuneCell(job: CellJob, dir: string, split: { real: string; validation: string; test: string }, started: number): Promise<Cell> {
  const { task, seed } = job;
  if (!job.minilm || !job.finetune) throw new Error('minilm-finetune cells need the MiniLM folder and the fine-tuning settings');
  const syntheticLines = subsampleLines(task.synthetic, seed, job.finetune.rows);
  const synthetic = path.join(dir, 'synthetic.jsonl');
  writeFileSync(synthetic, syntheticLines.join('\n') + '\n');
  const settings = variantSettings('default');
  const checkerEncoder: EncoderHeadSettings = { ...DEFAULT_ENCODER_HEAD_SETTINGS, encoder: job.minilm, cacheDir: job.embeddingCache ?? path.join(dir, 'embeddings') };
  const scoresFile = path.join(dir, 'synthetic.scores.jsonl');
  const common = { labels: LABELS, seed, guards: settings.guards, device: 'cpu' as const };
  const losses = job.losses.filter((loss): loss is 'ce' | 'imp' | 'dimp' => loss === 'ce' || loss === 'imp' || loss === 'dimp');
  const scored = losses.some((loss) => loss !== 'ce')
    ? await runScoreJob({
        ...common,
        synthetic: { path: synthetic },
        real: { path: split.real },
        validation: { path: split.validation },
        scoresFile,
        checkersDir: path.join(dir, 'checkers'),
        checkerSettings: settings.checkerSettings,
        checkerEncoder,
        embeddingCacheDir: checkerEncoder.cacheDir,
        calibrateQuality: false,
      })
    : undefined;
  const results: Partial<Record<LossKind, LossResult>> = {};
  const records: Partial<Record<'ce' | 'imp' | 'dimp', FinetuneLossRecord>> = {};
  for (const loss of losses) {
    const lossStarted = Date.now();
    const run = await runTrainingJob({
      ...common,
      loss,
      synthetic: { path: synthetic },
      validation: { path: split.validation },
      scoresFile,
      scoreFirst: 'when-needed',
      settings: settings.settings,
      finetune: { ...job.finetune.settings, model: job.minilm },
      checkerSettings: settings.checkerSettings,
      outDir: path.join(dir, 'runs'),
      runName: loss,
    });
    // Tested once, at the best epoch, through the path `eval --model RUN/model` takes.
    const tested = await runEvaluationJob({ modelDir: path.join(run.runDir, 'model'), data: { path: split.test }, device: 'cpu' });
    results[loss] = { accuracy: tested.accuracy, macroF1: tested.macroF1, diagnostics: run.weightDiagnostics };
    records[loss] = { accuracy: tested.accuracy, bestEpoch: run.bestEpoch, rowsPerSecond: run.rowsPerSecond, seconds: (Date.now() - lossStarted) / 1000 };
    process.stderr.write(`  ${task.name} seed ${seed} [minilm-finetune] ${loss}: ${pct(tested.accuracy)} (best epoch ${run.bestEpoch}, ${run.rowsPerSecond.toFixed(1)} rows/s, ${records[loss]!.seconds.toFixed(0)} s)\n`);
    rmSync(run.runDir, { recursive: true, force: true });
  }
  const checkers = scored?.scores.header.checkers;
  const testMajority = majorityShare(split.test);
  rmSync(dir, { recursive: true, force: true });
  return {
    task: task.name,
    seed,
    variant: 'minilm-finetune',
    results,
    testMajority,
    qualityChecker: checkers?.quality && { accuracy: checkers.quality.selectionAccuracy, majority: checkers.quality.selectionMajority, temperature: checkers.quality.temperature },
    diversityChecker: checkers?.diversity && { accuracy: checkers.diversity.selectionAccuracy },
    impDiagnostics: scored?.scores.header.diagnostics,
    finetune: { rows: syntheticLines.length, losses: records },
    seconds: (Date.now() - started) / 1000,
  };
}

if (!isMainThread) {
  parentPort!.on('message', (job: CellJob) => {
    runCell(job).then(
      (cell) => parentPort!.postMessage({ cell }),
      (error: Error) => parentPort!.postMessage({ error: `${job.task.name} seed ${job.seed} ${job.variant}: ${error.stack ?? error.message}` }),
    );
  });
}

/** Runs the jobs on `workers` threads, in order of submission, reporting each cell as it ends. */
async function runAll(jobs: CellJob[], workers: number, onCell: (cell: Cell) => void): Promise<Cell[]> {
  const cells: Cell[] = [];
  let next = 0;
  const pool = Array.from({ length: Math.min(workers, jobs.length) }, () => new Worker(__filename));
  try {
    await Promise.all(
      pool.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            const take = (): void => {
              if (next >= jobs.length) return resolve();
              worker.postMessage(jobs[next++]);
            };
            worker.on('message', (message: { cell?: Cell; error?: string }) => {
              if (message.error) return reject(new Error(message.error));
              cells.push(message.cell!);
              onCell(message.cell!);
              take();
            });
            worker.on('error', reject);
            take();
          }),
      ),
    );
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
  return cells;
}

function describeCell(cell: Cell): string {
  const losses = Object.entries(cell.results)
    .map(([loss, r]) => `${loss} ${pct(r.accuracy)}`)
    .join(' ');
  const checker = cell.qualityChecker?.accuracy !== undefined ? ` · quality checker ${pct(cell.qualityChecker.accuracy)} (T ${cell.qualityChecker.temperature?.toFixed(2) ?? '1'})` : '';
  return `${cell.task} seed ${cell.seed} [${cell.variant}]: ${losses}${cell.smallRealOnly !== undefined ? ` · small real only ${pct(cell.smallRealOnly)}` : ''}${checker} · ${cell.seconds.toFixed(0)} s`;
}

const paired = (cells: Cell[], loss: LossKind): number[] => cells.filter((c) => c.results[loss] && c.results.ce).map((c) => c.results[loss]!.accuracy - c.results.ce!.accuracy);
const accuracies = (cells: Cell[], loss: LossKind): number[] => cells.filter((c) => c.results[loss]).map((c) => c.results[loss]!.accuracy);
const f1s = (cells: Cell[], loss: LossKind): number[] => cells.filter((c) => c.results[loss]).map((c) => c.results[loss]!.macroF1);

const EVAL_OPTIONS = {
  seeds: { type: 'string' },
  'ablation-seeds': { type: 'string' },
  jobs: { type: 'string' },
  data: { type: 'string' },
  minilm: { type: 'string' },
  'minilm-seeds': { type: 'string' },
  out: { type: 'string' },
  sources: { type: 'string' },
  variants: { type: 'string' },
  'no-reference': { type: 'boolean' },
  losses: { type: 'string' },
  set: { type: 'string' },
  'checker-set': { type: 'string' },
  'reference-only': { type: 'boolean' },
  'reference-seeds': { type: 'string' },
  'cells-json': { type: 'string' },
  'seed-from': { type: 'string' },
  'from-cells': { type: 'string' },
  'minilm-finetune-seeds': { type: 'string' },
  'minilm-finetune-rows': { type: 'string' },
  'finetune-set': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const USAGE = `Usage: npm run eval -- [options]        (or: node out/scripts/eval.js [options])

Trains every loss (ce, imp, dimp, quality, filter) on the shared evaluation data through the CLI's job
functions, paired by seed, and writes EVALUATION.md (the hand-written notes below its marker are kept).

  --seeds N                    paired seeds of the main cells (default 10)
  --ablation-seeds N           seeds of each ablation variant (default 3)
  --minilm-seeds N             seeds of the minilm and minilm-checkers cells (default 3)
  --minilm-finetune-seeds N    seeds of the minilm-finetune cells (default 3)
  --minilm-finetune-rows N     synthetic rows per minilm-finetune cell (default ${EVAL_FINETUNE_ROWS})
  --minilm DIR                 the exported MiniLM folder (default .cache/models/all-minilm-l6-v2: scripts/export-minilm.sh)
  --jobs N                     worker threads (default: the CPU count, at most 2)
  --data DIR                   the shared data folder (default ../shared/data)
  --sources a,b                only these sources (e.g. sst2/fewgen_s13,mrpc/fewgen_s13)
  --variants a,b               only these variants (default, an ablation's name, minilm, minilm-checkers, minilm-finetune)
  --no-reference               skip CE on all of SST-2's real training rows
  --reference-seeds N          seeds of each of those full-set references (default 3)
  --out FILE                   where to write the report (default EVALUATION.md)
  --cells-json FILE            every cell and reference as JSON, rewritten after each cell (for --from-cells)
  --from-cells a.json,b.json   train nothing: render the report from saved --cells-json runs

Hand runs (not the report's defaults; each needs --out FILE):
  --losses ce,dimp             only these losses (with ce alone nothing is scored)
  --set JSON                   merged into the classifier's settings of every cell and the full-set reference
  --checker-set JSON           merged into the checkers' settings
  --finetune-set JSON          merged into the minilm-finetune cells' settings (smoke runs)
  --reference-only             only the full-set references
  --seed-from N                the default and minilm-finetune cells start at seed N
  -h, --help                   this text`;

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ options: EVAL_OPTIONS });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  // A hand run's report is not EVALUATION.md: it must say where it goes.
  const handFlags = (['set', 'checker-set', 'finetune-set', 'losses', 'reference-only', 'seed-from'] as const).filter((flag) => values[flag] !== undefined);
  if (handFlags.length > 0 && values.out === undefined) {
    process.stderr.write(`--${handFlags[0]} is a hand run: give --out FILE (it would otherwise replace EVALUATION.md's tables)\n`);
    process.exitCode = 2;
    return;
  }
  const root = path.resolve(__dirname, '..', '..');
  const dataDir = path.resolve(values.data ?? path.join(root, '..', 'shared', 'data'));
  const seeds = Number(values.seeds ?? 10);
  const ablationSeeds = Number(values['ablation-seeds'] ?? 3);
  const minilmSeeds = Number(values['minilm-seeds'] ?? 3);
  const finetuneSeeds = Number(values['minilm-finetune-seeds'] ?? 3);
  const finetuneRows = Number(values['minilm-finetune-rows'] ?? EVAL_FINETUNE_ROWS);
  const finetuneSettings = { ...EVAL_FINETUNE_SETTINGS, ...(values['finetune-set'] ? (JSON.parse(values['finetune-set']) as Partial<FineTuneSettings>) : {}) };
  const workers = Number(values.jobs ?? Math.max(1, Math.min(2, os.availableParallelism())));
  const minilm = path.resolve(values.minilm ?? path.join(root, '.cache', 'models', 'all-minilm-l6-v2'));
  const hasMinilm = existsSync(path.join(minilm, 'export_info.json'));
  const out = path.resolve(values.out ?? path.join(root, 'EVALUATION.md'));
  const sst2 = path.join(dataDir, 'sst2');
  const mrpc = path.join(dataDir, 'mrpc');
  const tasks: Task[] = [];
  const skipped: string[] = [];
  for (const source of ['supergen', 'fewgen_s13', 'fewgen_s42']) {
    const synthetic = path.join(sst2, `synthetic_${source}.jsonl`);
    if (existsSync(synthetic) && existsSync(path.join(sst2, 'real_train.jsonl')) && existsSync(path.join(sst2, 'real_test.jsonl'))) {
      tasks.push({ name: `sst2/${source}`, realPool: path.join(sst2, 'real_train.jsonl'), realTest: path.join(sst2, 'real_test.jsonl'), synthetic, checkerRows: 400, validationRows: 200 });
    } else skipped.push(`sst2/${source}: ${synthetic} or the SST-2 real files are missing`);
  }
  if (existsSync(path.join(mrpc, 'real_dev.jsonl')) && existsSync(path.join(mrpc, 'synthetic_fewgen_s13.jsonl'))) {
    // MRPC has 408 real rows in all: 150 for the quality checker, 100 for validation, the rest (158) for test.
    tasks.push({ name: 'mrpc/fewgen_s13', realPool: path.join(mrpc, 'real_dev.jsonl'), synthetic: path.join(mrpc, 'synthetic_fewgen_s13.jsonl'), checkerRows: 150, validationRows: 100 });
  } else skipped.push(`mrpc/fewgen_s13: ${mrpc}/real_dev.jsonl or synthetic_fewgen_s13.jsonl is missing`);
  if (values.sources) {
    const wanted = values.sources.split(',');
    tasks.splice(0, tasks.length, ...tasks.filter((t) => wanted.includes(t.name)));
  }
  if (!hasMinilm) skipped.push(`MiniLM rows: no exported encoder at ${minilm} (run \`bash scripts/export-minilm.sh\` first)`);
  for (const s of skipped) process.stderr.write(`skipped ${s}\n`);
  if (tasks.length === 0) {
    process.stderr.write(`no evaluation data under ${dataDir}; nothing to evaluate (EVALUATION.md left as it is)\n`);
    return;
  }

  const scratch = mkdtempSync(path.join(os.tmpdir(), 'dimp-eval-'));
  const started = Date.now();
  const sstTasks = tasks.filter((t) => t.name.startsWith('sst2/'));
  const jobs: CellJob[] = [];
  const variants = values.variants ? (values.variants.split(',') as VariantName[]) : undefined;
  const lossesWanted = values.losses ? (values.losses.split(',') as LossKind[]) : undefined;
  const set = values.set ? (JSON.parse(values.set) as Partial<NgramSettings>) : undefined;
  const checkerSet = values['checker-set'] ? (JSON.parse(values['checker-set']) as Partial<NgramSettings>) : undefined;
  const hand = { set, checkerSet, scratch, embeddingCache: path.join(scratch, 'embeddings') };
  const firstSeed = Number(values['seed-from'] ?? 1);
  // `--from-cells a.json,b.json`: no training at all; the report is rendered from cells and references that
  // earlier runs saved with --cells-json (e.g. the n-gram cells of one run and the fine-tuning cells of another).
  const saved = values['from-cells']?.split(',').map((file) => JSON.parse(readFileSync(file, 'utf8')) as { cells: Cell[]; fullReal?: FullRealRun[]; commit?: string; minutes?: number });
  if (values['reference-only'] || saved) {
    // no cells
  } else {
    if (!variants || variants.includes('default')) for (const task of tasks) for (let seed = firstSeed; seed <= seeds; seed++) jobs.push({ ...hand, task, seed, variant: 'default', losses: lossesWanted ?? ALL_LOSSES, smallReal: !lossesWanted });
    for (const variant of (Object.keys(VARIANTS) as VariantName[]).filter((v) => !variants || variants.includes(v))) {
      for (const task of sstTasks) for (let seed = 1; seed <= Math.min(ablationSeeds, seeds); seed++) jobs.push({ ...hand, task, seed, variant, losses: lossesWanted ?? ABLATION_LOSSES, smallReal: false });
    }
    for (const variant of ['minilm', 'minilm-checkers'] as const) {
      if (hasMinilm && (!variants || variants.includes(variant))) for (const task of sstTasks) for (let seed = 1; seed <= minilmSeeds; seed++) jobs.push({ ...hand, task, seed, variant, losses: lossesWanted ?? ABLATION_LOSSES, minilm, smallReal: false });
    }
    // Seed by seed, so that a run stopped early still has every source's first seeds.
    if (hasMinilm && (!variants || variants.includes('minilm-finetune'))) {
      for (let seed = firstSeed; seed <= finetuneSeeds; seed++) {
        for (const task of tasks) jobs.push({ ...hand, task, seed, variant: 'minilm-finetune', losses: lossesWanted ?? ABLATION_LOSSES, minilm, finetune: { rows: finetuneRows, settings: finetuneSettings }, smallReal: false });
      }
    }
  }
  process.stderr.write(`${jobs.length} cells on ${workers} worker thread(s)\n`);
  let done = 0;
  let cells: Cell[];
  try {
    const partial: Cell[] = [];
    let saving = Promise.resolve();
    cells = saved ? saved.flatMap((run) => run.cells) : await runAll(jobs, workers, (cell) => {
      process.stderr.write(`[${++done}/${jobs.length}] ${describeCell(cell)}\n`);
      partial.push(cell);
      // Long runs (the fine-tuning cells) keep what they have so far, one atomic write after another.
      const snapshot = JSON.stringify({ set, checkerSet, variants, cells: partial, fullReal: [] }, null, 1);
      if (values['cells-json']) saving = saving.then(() => writeFileAtomic(path.resolve(values['cells-json']!), snapshot));
    });
    await saving;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }

  // Reference: CE on SST-2's real training rows, three ways (the default recipe over-fits a large clean set).
  const fullReal: FullRealRun[] = saved ? saved.flatMap((run) => run.fullReal ?? []) : [];
  if (sstTasks.length > 0 && !values['no-reference'] && !saved) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dimp-eval-full-'));
    try {
      const [heldOut, rest] = splitLines(path.join(sst2, 'real_train.jsonl'), 1, [2000]);
      const validationFile = path.join(dir, 'validation.jsonl');
      const trainFile = path.join(dir, 'train.jsonl');
      writeFileSync(validationFile, heldOut!.join('\n') + '\n');
      writeFileSync(trainFile, rest!.join('\n') + '\n');
      const defaults = resolveJobSettings({});
      const large = resolveJobSettings({}, { recipe: 'large-set' });
      const sgd = resolveJobSettings({}, { optimizer: 'sgd', learningRate: 0.5, batchSize: 8, maxGradNorm: 1 });
      const referenceSeeds = Number(values['reference-seeds'] ?? 3);
      const all = path.join(sst2, 'real_train.jsonl');
      const standard: { what: string; settings: JobSettings; synthetic: string; validation?: string }[] = [
        { what: 'the defaults, all 67,349 rows, last epoch', settings: defaults, synthetic: all },
        { what: 'the defaults, best epoch on 2,000 held-out rows', settings: defaults, synthetic: trainFile, validation: validationFile },
        // Adam with ε 0.01 is SGD-like on rare n-grams' rows: it does not over-fit this set, but costs noisy
        // synthetic sets (under-trained; see LARGE_SET_RECIPE and the notes in EVALUATION.md).
        { what: '`--recipe large-set` (Adam\'s ε 0.01, linear decay, no n-gram dropout), all rows, last epoch', settings: large, synthetic: all },
        { what: '`--optimizer sgd --lr 0.5 --batch-size 8 --max-grad-norm 1` with linear decay and no n-gram dropout (an earlier default), all rows, last epoch', settings: { ...sgd, settings: { ...sgd.settings, schedule: 'linear', featureDropout: 0 } }, synthetic: all },
        { what: 'the defaults without n-gram dropout (an earlier default), all rows, last epoch', settings: { ...defaults, settings: { ...defaults.settings, featureDropout: 0 } }, synthetic: all },
      ];
      // Hand runs (`--set`): the defaults with the change, all rows, last epoch (with --reference-only: nothing else).
      const handRun = set !== undefined;
      const chosen = handRun
        ? [{ what: `the defaults${set ? ` with ${JSON.stringify(set)}` : ''}, all rows, last epoch`, settings: { ...defaults, settings: { ...defaults.settings, ...set } }, synthetic: all, validation: undefined as string | undefined }]
        : standard;
      const references = chosen.flatMap((reference) => Array.from({ length: referenceSeeds }, (_, i) => ({ ...reference, seed: i + 1 })));
      for (const [i, reference] of references.entries()) {
        const testByEpoch: number[] = [];
        const run = await runTrainingJob({
          loss: 'ce',
          synthetic: { path: reference.synthetic },
          validation: reference.validation ? { path: reference.validation } : undefined,
          test: { path: path.join(sst2, 'real_test.jsonl') },
          labels: LABELS,
          settings: reference.settings.settings,
          checkerSettings: reference.settings.checkerSettings,
          seed: reference.seed,
          guards: reference.settings.guards,
          device: 'cpu',
          outDir: dir,
          runName: `full-${i}`,
        }, { onEvent: (event) => void (event.type === 'train-epoch' && event.test && testByEpoch.push(event.test.accuracy)) });
        fullReal.push({ what: reference.what, accuracy: run.test!.accuracy, seed: reference.seed, testByEpoch });
        process.stderr.write(`sst2 ce on real training rows, ${reference.what}, seed ${reference.seed}: ${pct(run.test!.accuracy)} (by epoch ${testByEpoch.map(pct).join(' ')})\n`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  let commit = 'unknown';
  try {
    commit = execSync('git rev-parse --short HEAD', { cwd: root }).toString().trim();
  } catch {
    // not a git checkout
  }
  const minutes = (Date.now() - started) / 60000;
  if (values['cells-json']) await writeFileAtomic(path.resolve(values['cells-json']), JSON.stringify({ set, checkerSet, variants, commit, minutes, cells, fullReal }, null, 1));
  const provenance = saved
    ? `Rendered by \`npm run eval -- --from-cells\` on ${new Date().toISOString().slice(0, 10)} from ${saved.length} saved run(s) (${saved.map((run) => `commit \`${run.commit ?? '?'}\`${run.minutes ? `, ${run.minutes.toFixed(0)} min` : ''}`).join('; ')}), ${seeds} paired seeds`
    : `Generated by \`npm run eval\` on ${new Date().toISOString().slice(0, 10)}, commit \`${commit}\`, ${seeds} paired seeds,
${workers} worker thread(s), ${minutes.toFixed(0)} min`;
  const main = cells.filter((c) => c.variant === 'default');
  const byTask = (list: Cell[], task: string): Cell[] => list.filter((c) => c.task === task).sort((a, b) => a.seed - b.seed);
  const sstMain = main.filter((c) => c.task.startsWith('sst2/'));
  const accuracyRows = tasks.map((task) => {
    const c = byTask(main, task.name);
    return `| ${task.name} | ${pm(c.map((x) => x.testMajority))} | ${pm(c.map((x) => x.smallRealOnly!))} | ${ALL_LOSSES.map((l) => pm(accuracies(c, l))).join(' | ')} |`;
  });
  const pairedRows = [
    ...tasks.map((task) => {
      const c = byTask(main, task.name);
      return `| ${task.name} | ${c.length} | ${(['imp', 'dimp', 'quality', 'filter'] as LossKind[]).map((l) => diff(paired(c, l))).join(' | ')} |`;
    }),
    ...(sstMain.length ? [`| **SST-2, pooled** | ${sstMain.length} | ${(['imp', 'dimp', 'quality', 'filter'] as LossKind[]).map((l) => `**${diff(paired(sstMain, l))}**`).join(' | ')} |`] : []),
  ];
  const f1Rows = tasks.map((task) => {
    const c = byTask(main, task.name);
    return `| ${task.name} | ${ALL_LOSSES.map((l) => pm(f1s(c, l))).join(' | ')} |`;
  });
  const checkerRows = tasks.map((task) => {
    const c = byTask(main, task.name);
    const q = c.map((x) => x.qualityChecker?.accuracy ?? NaN).filter(Number.isFinite);
    const maj = c.map((x) => x.qualityChecker?.majority ?? NaN).filter(Number.isFinite);
    const t = c.map((x) => x.qualityChecker?.temperature ?? 1);
    const d = c.map((x) => x.diversityChecker?.accuracy ?? NaN).filter(Number.isFinite);
    return `| ${task.name} | ${pm(q)} | ${pm(maj)} | ${t.length ? mean(t).toFixed(2) : '–'} | ${pm(d)} |`;
  });
  const diag = (list: (WeightDiagnostics | undefined)[]): string => {
    const ds = list.filter((x): x is WeightDiagnostics => x !== undefined);
    if (ds.length === 0) return '– | – | –';
    return `${(mean(ds.map((x) => x.effectiveShare)) * 100).toFixed(1)} % | ${mean(ds.map((x) => x.maxWeight)).toPrecision(3)} | ${(mean(ds.map((x) => x.top1PercentShare)) * 100).toFixed(1)} %`;
  };
  const diagnosticRows = tasks.flatMap((task) => {
    const c = byTask(main, task.name);
    return [
      `| ${task.name} | IMP (scores file) | ${diag(c.map((x) => x.impDiagnostics))} |`,
      `| ${task.name} | DIMP (last epoch) | ${diag(c.map((x) => x.results.dimp?.diagnostics))} |`,
      `| ${task.name} | quality | ${diag(c.map((x) => x.results.quality?.diagnostics))} |`,
    ];
  });
  const ablationRows = (['default', ...Object.keys(VARIANTS)] as VariantName[]).map((variant) => {
    const c = cells.filter((x) => x.variant === variant && x.task.startsWith('sst2/') && x.seed <= Math.min(ablationSeeds, seeds));
    const what = variant === 'default' ? 'the defaults' : VARIANTS[variant as keyof typeof VARIANTS];
    // Against the defaults' cells of the same task and seed: what the one change moved.
    const against = (loss: LossKind): number[] =>
      c.flatMap((x) => {
        const d = cells.find((y) => y.variant === 'default' && y.task === x.task && y.seed === x.seed);
        return d?.results[loss] && x.results[loss] ? [x.results[loss].accuracy - d.results[loss].accuracy] : [];
      });
    const moved = variant === 'default' ? '| – | – |' : `| ${diff(against('ce'))} | ${diff(against('dimp'))} |`;
    return `| ${variant} | ${what} | ${pm(accuracies(c, 'ce'))} | ${pm(accuracies(c, 'dimp'))} | ${diff(paired(c, 'imp'))} | ${diff(paired(c, 'dimp'))} ${moved}`;
  });
  const minilmCells = cells.filter((c) => c.variant === 'minilm');
  const encoderRows = (list: Cell[]): string[] => {
    const sst = list.filter((c) => c.task.startsWith('sst2/'));
    return [
      ...sstTasks.map((task) => {
        const c = byTask(list, task.name);
        const q = c.map((x) => x.qualityChecker?.accuracy ?? NaN).filter(Number.isFinite);
        return `| ${task.name} | ${c.length} | ${pm(q)} | ${pm(accuracies(c, 'ce'))} | ${pm(accuracies(c, 'imp'))} | ${pm(accuracies(c, 'dimp'))} | ${diff(paired(c, 'imp'))} | ${diff(paired(c, 'dimp'))} |`;
      }),
      ...(sst.length > 0 ? [`| **pooled** | ${sst.length} | | ${pm(accuracies(sst, 'ce'))} | ${pm(accuracies(sst, 'imp'))} | ${pm(accuracies(sst, 'dimp'))} | **${diff(paired(sst, 'imp'))}** | **${diff(paired(sst, 'dimp'))}** |`] : []),
    ];
  };
  const minilmRows = encoderRows(minilmCells);
  const minilmCheckerCells = cells.filter((c) => c.variant === 'minilm-checkers');
  // The same seeds' default cells: the n-gram checkers' DIMP beside the MiniLM checkers' (CE is the same run).
  const defaultBeside = (c: Cell): Cell | undefined => cells.find((d) => d.variant === 'default' && d.task === c.task && d.seed === c.seed);
  const checkerGain = minilmCheckerCells.flatMap((c) => {
    const d = defaultBeside(c);
    return d?.results.dimp && c.results.dimp ? [c.results.dimp.accuracy - d.results.dimp.accuracy] : [];
  });
  const finetuneCells: FinetuneCellView[] = cells
    .filter((c) => c.variant === 'minilm-finetune' && c.finetune)
    .sort((a, b) => a.task.localeCompare(b.task) || a.seed - b.seed)
    .map((c) => ({ task: c.task, seed: c.seed, rows: c.finetune!.rows, qualityChecker: c.qualityChecker?.accuracy, diversityChecker: c.diversityChecker?.accuracy, losses: c.finetune!.losses, seconds: c.seconds }));
  const finetuneSeedRange = [...new Set(finetuneCells.map((c) => c.seed))].sort((a, b) => a - b);
  const s = resolveJobSettings({});
  const cs = s.checkerSettings;
  const report = `# Evaluation

Test accuracy (%) of the built-in n-gram classifier trained on LLM-generated data with each loss, through the
job functions the CLI runs (\`runScoreJob\`, \`runTrainingJob\`: files on disk, ONNX export, test scores from
onnxruntime). ${provenance}.

Losses: **CE** plain cross-entropy; **IMP** w = q/d; **DIMP** w = q/p(y|x;θ); two baselines: **quality** w = q, and
**filter**: CE on the ${(s.filterKeep * 100).toFixed(0)} % of rows with the highest q.

## Paired differences to CE (test accuracy, percentage points)

Mean of the per-seed difference ± its standard error. Within a seed every run shares the real split, the
checkers (one scoring), the initialisation and the row order; only the loss differs.

| task / synthetic source | seeds | IMP − CE | DIMP − CE | quality − CE | filter − CE |
|---|---|---|---|---|---|
${pairedRows.join('\n')}

## Test accuracy (%)

Mean ± standard deviation over seeds.

| task / synthetic source | majority class of the test rows | CE on the small real set alone | CE | IMP | DIMP | quality | filter |
|---|---|---|---|---|---|---|---|
${accuracyRows.join('\n')}

Macro-F1 (%):

| task / synthetic source | CE | IMP | DIMP | quality | filter |
|---|---|---|---|---|---|
${f1Rows.join('\n')}
${fullReal.length ? `\nReference: CE on SST-2's real training rows, tested on \`real_test.jsonl\` (the mean over seeds, then each seed's):\n\n${referenceLines(fullReal)}\n` : ''}
## Checkers

Accuracy of each checker on the real validation rows that chose its epoch (so slightly optimistic), beside
always guessing the majority class of those rows; T is the quality checker's fitted temperature.

| task / synthetic source | quality checker | majority class | mean T | diversity checker |
|---|---|---|---|---|
${checkerRows.join('\n')}

## Weight diagnostics

Means over seeds: effective share (Σw)²/(n·Σw²), the largest weight, and the share of the total weight held by
the top 1 % of rows.

| task / synthetic source | weights | effective share | max weight | top 1 % share |
|---|---|---|---|---|
${diagnosticRows.join('\n')}

## Ablation: which recipe change moved what

SST-2 sources pooled, seeds 1–${Math.min(ablationSeeds, seeds)}: each row paired within itself (same seeds, one change to the defaults), and
its last two columns paired with the defaults' cells of the same source and seed (± SE); a change is taken only when it
moves more than twice its SE.

| variant | change | CE | DIMP | IMP − CE | DIMP − CE | Δ CE vs defaults | Δ DIMP vs defaults |
|---|---|---|---|---|---|---|---|
${ablationRows.join('\n')}

## A BERT-level encoder: all-MiniLM-L6-v2

${
  minilmCells.length
    ? `Checkers and classifier are ${DEFAULT_ENCODER_HEAD_SETTINGS.head} heads on the frozen pretrained MiniLM encoder (exported by
\`scripts/export-minilm.sh\`; pooled sentence embeddings, cached), seeds ${seedRange(minilmCells)}.

| source | seeds | quality checker (validation acc.) | CE | IMP | DIMP | IMP − CE | DIMP − CE |
|---|---|---|---|---|---|---|---|
${minilmRows.join('\n')}`
    : hasMinilm
      ? 'Not in this report: its cells were not run (`--variants` without `minilm`), or not among the `--from-cells` runs.'
      : 'Not run: no exported MiniLM encoder (`bash scripts/export-minilm.sh` writes one into `.cache/models/`).'
}

## MiniLM checkers weighting the built-in classifier

${
  minilmCheckerCells.length
    ? `The quality and diversity checkers are ${DEFAULT_ENCODER_HEAD_SETTINGS.head} heads on the frozen MiniLM encoder (a BERT-level q, as the
paper's checkers are); the classifier is the built-in n-gram model with its defaults, so its CE runs are the default
cells' own. Seeds ${seedRange(minilmCheckerCells)}.

| source | seeds | quality checker (validation acc.) | CE | IMP | DIMP | IMP − CE | DIMP − CE |
|---|---|---|---|---|---|---|---|
${encoderRows(minilmCheckerCells).join('\n')}
${checkerGain.length ? `\nDIMP with MiniLM checkers − DIMP with the built-in checkers, same seeds: ${diff(checkerGain)} (n = ${checkerGain.length}).\n` : ''}`
    : hasMinilm
      ? 'Not in this report: its cells were not run (`--variants` without `minilm-checkers`), or not among the `--from-cells` runs.'
      : 'Not run: no exported MiniLM encoder (`bash scripts/export-minilm.sh` writes one into `.cache/models/`).'
}

${finetuneSection(finetuneCells, {
  model: path.relative(root, minilm) || minilm,
  seeds: finetuneSeedRange.length > 1 ? `${finetuneSeedRange[0]}–${finetuneSeedRange[finetuneSeedRange.length - 1]}` : String(finetuneSeedRange[0] ?? '–'),
  settings: finetuneSettings,
  epsilon: s.guards.epsilon,
})}
## Settings (the defaults, chosen once for every source)

- SST-2: per seed, 400 rows of \`real_train.jsonl\` train the quality checker and 200 others are the validation rows;
  test on \`real_test.jsonl\` (872 rows). MRPC: per seed, 150 rows of \`real_dev.jsonl\` train the quality checker,
  100 are the validation rows, the other 158 are the test set.
- Text: lower-cased, HTML entities decoded, contractions split as the Penn Treebank writes them; word uni+bigrams
  hashed into ${s.settings.featurizer.buckets.toLocaleString('en-US')} buckets; embedding dim ${s.settings.dim}.
- Classifier: ${s.settings.optimizer === 'adam' ? 'Adam (lazy on the embedding rows a batch touches)' : 'SGD'}, learning rate ${s.settings.learningRate} (${s.settings.schedule}), batch ${s.settings.batchSize},
  ${s.settings.featureDropout ? `n-gram dropout ${s.settings.featureDropout} (each training step leaves out that share of a row's n-grams), ` : ''}${s.settings.epochs} epochs, ${s.settings.maxGradNorm === null ? 'no gradient clipping' : `gradient norm clipped at ${s.settings.maxGradNorm}`}; the epoch with the best validation accuracy is kept.
- Checkers: the same recipe${cs.featureDropout ? '' : ' without n-gram dropout'}, ⌈${cs.rowUpdateBudget?.toLocaleString('en-US')} / rows⌉ epochs between ${cs.epochs} and ${cs.maxEpochs}; each keeps its best epoch on the
  validation rows; q is the quality checker's own probability, not temperature-scaled (as in the paper; scaling
  is the \`calibration\` ablation). The diversity checker is trained on the whole synthetic set and scores it
  in-sample (PRODUCT §2). Settings follow the paper unless a change gains more than twice its standard error
  pooled over every SST-2 source. One rule on top, for the classifier only: a change that lifts the CE baseline by
  more than twice its standard error where CE is below the independent implementation's figures, and costs no
  source or loss more than its standard error, is taken — a stronger CE makes every weighted loss's gain over it
  more honest. n-gram dropout is the one change taken by it (see the notes below the marker).
- Weights: ε = ${s.guards.epsilon}, no maximum weight.
${skipped.length ? `\n## Skipped\n${skipped.map((x) => `- ${x}`).join('\n')}\n` : ''}`;
  // Notes written by hand (hand-run experiments, the independent cross-check) live below the marker and survive
  // a regeneration: everything above it is this run's, everything below is kept as it was.
  const previous = existsSync(out) ? readFileSync(out, 'utf8') : '';
  const markerAt = previous.indexOf(HAND_NOTES_MARKER);
  const kept = markerAt >= 0 ? previous.slice(markerAt) : `${HAND_NOTES_MARKER}\n`;
  await writeFileAtomic(out, `${report}\n${kept}`);
  process.stdout.write(report);
}

if (isMainThread) {
  main().catch((error: Error) => {
    process.stderr.write(`${error.stack ?? error.message}\n`);
    process.exitCode = 1;
  });
}
