// The `minilm-finetune` cells of `npm run eval` (scripts/eval.ts): the paper's own setting, the pretrained
// all-MiniLM-L6-v2 fine-tuned whole with CE, IMP and DIMP. On a CPU the synthetic source is subsampled; this
// module holds the subsample, the settings (chosen once for every source) and the EVALUATION.md section.
import { readFileSync } from 'node:fs';
import { deriveSeed, SeededRandom } from '../src/core/random';
import { DEFAULT_ENCODER_HEAD_SETTINGS } from '../src/core/train/encoderHeadTraining';
import { DEFAULT_FINETUNE_SETTINGS, type FineTuneSettings } from '../src/core/train/fineTuneTraining';

/**
 * Hugging Face Trainer-like settings, the same for every source: AdamW at 5e-5 (the top of BERT's usual
 * 2e-5…5e-5: a few hundred rows make few steps), linear decay after 10 % warm-up, weight decay 0.01, clipping
 * at 1, batches of 16 rows cut at 128 tokens (the fine-tuner pads each batch to its longest row only).
 */
export const EVAL_FINETUNE_SETTINGS: Omit<FineTuneSettings, 'model'> = {
  ...DEFAULT_FINETUNE_SETTINGS,
  epochs: 3,
  batchSize: 16,
  gradientAccumulation: 1,
  learningRate: 5e-5,
  warmupRatio: 0.1,
  weightDecay: 0.01,
  maxGradNorm: 1,
  maxLength: 128,
};

/** Synthetic rows per cell by default: what the shared 2-core machine fine-tunes in minutes per loss. */
export const EVAL_FINETUNE_ROWS = 200;

/**
 * A seeded subsample of a synthetic file's non-empty lines, `size` of them (all when the file has fewer), in
 * the file's order. It depends only on the file and the seed: every loss of a seed trains on the same rows.
 * The lines are the file's own, so a subsample of the synthetic file never holds a real (test) row.
 */
export function subsampleLines(file: string, seed: number, size: number): string[] {
  if (!Number.isInteger(size) || size < 1) throw new Error(`the subsample size must be a positive integer, got ${size}`);
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const order = new SeededRandom(deriveSeed(seed, 'eval-finetune-subsample')).shuffle(Int32Array.from({ length: lines.length }, (_, i) => i));
  return Array.from(order.subarray(0, Math.min(size, lines.length)))
    .sort((a, b) => a - b)
    .map((i) => lines[i]!);
}

/** What a cell of this variant records per loss besides its accuracy. */
export interface FinetuneLossRecord {
  accuracy: number;
  bestEpoch: number;
  /** Training rows per second over the run's epochs (evaluation passes excluded). */
  rowsPerSecond: number;
  /** Wall-clock seconds of the training job and of testing its model folder. */
  seconds: number;
}

/** The fields of an eval cell the section reads. */
export interface FinetuneCellView {
  task: string;
  seed: number;
  rows: number;
  qualityChecker?: number;
  diversityChecker?: number;
  losses: Partial<Record<'ce' | 'imp' | 'dimp', FinetuneLossRecord>>;
  /** Seconds of the whole cell: subsample, scoring, three fine-tunes, three tests. */
  seconds: number;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]): number => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const pct = (x: number): string => (x * 100).toFixed(1);
const pm = (xs: number[]): string => (xs.length ? `${pct(mean(xs))} ± ${pct(sd(xs))}` : '–');
const diff = (xs: number[]): string => (xs.length ? `${mean(xs) >= 0 ? '+' : ''}${pct(mean(xs))} ± ${xs.length < 2 ? '–' : pct(sd(xs) / Math.sqrt(xs.length))}` : '–');

/** Per-seed differences loss − CE, from the cells that ran both. */
function paired(cells: readonly FinetuneCellView[], loss: 'imp' | 'dimp'): number[] {
  return cells.filter((c) => c.losses[loss] && c.losses.ce).map((c) => c.losses[loss]!.accuracy - c.losses.ce!.accuracy);
}

/** The EVALUATION.md section of the `minilm-finetune` cells (a note when there are none). */
export function finetuneSection(cells: readonly FinetuneCellView[], about: { model: string; seeds: string; settings: Omit<FineTuneSettings, 'model'>; epsilon: number }): string {
  const heading = '## Fine-tuning all-MiniLM-L6-v2 (the paper\'s setting)\n\n';
  if (cells.length === 0) return `${heading}Not run: no exported MiniLM encoder (\`bash scripts/export-minilm.sh\` writes one into \`.cache/models/\`), or the variant was not asked for (nor among the \`--from-cells\` runs).\n`;
  const tasks = [...new Set(cells.map((c) => c.task))];
  const sst = cells.filter((c) => c.task.startsWith('sst2/'));
  const groups: [string, FinetuneCellView[]][] = [
    ...tasks.map((task) => [task, cells.filter((c) => c.task === task)] as [string, FinetuneCellView[]]),
    ...(sst.length && new Set(sst.map((c) => c.task)).size > 1 ? [['**SST-2, pooled**', sst] as [string, FinetuneCellView[]]] : []),
  ];
  const acc = (list: FinetuneCellView[], loss: 'ce' | 'imp' | 'dimp'): number[] => list.filter((c) => c.losses[loss]).map((c) => c.losses[loss]!.accuracy);
  const finite = (xs: (number | undefined)[]): number[] => xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
  const rows = groups.map(([name, list]) => {
    const sizes = [...new Set(list.map((c) => c.rows))].map((n) => n.toLocaleString('en-US')).join(', ');
    return `| ${name} | ${list.length} | ${sizes} | ${pm(finite(list.map((c) => c.qualityChecker)))} | ${pm(finite(list.map((c) => c.diversityChecker)))} | ${pm(acc(list, 'ce'))} | ${pm(acc(list, 'imp'))} | ${pm(acc(list, 'dimp'))} | ${diff(paired(list, 'imp'))} | ${diff(paired(list, 'dimp'))} |`;
  });
  const speedRows = tasks.map((task) => {
    const list = cells.filter((c) => c.task === task);
    const speeds = (['ce', 'imp', 'dimp'] as const).map((loss) => finite(list.map((c) => c.losses[loss]?.rowsPerSecond)));
    const epochs = (['ce', 'imp', 'dimp'] as const).map((loss) => finite(list.map((c) => c.losses[loss]?.bestEpoch)).join(','));
    return `| ${task} | ${speeds.map((s) => (s.length ? mean(s).toFixed(1) : '–')).join(' / ')} | ${epochs.join(' / ')} | ${mean(list.map((c) => c.seconds)).toFixed(0)} |`;
  });
  const s = about.settings;
  return `${heading}The pretrained all-MiniLM-L6-v2 encoder (\`${about.model}\`, exported by \`scripts/export-minilm.sh\`) with a new
linear head on its mean-pooled token vectors, **every weight fine-tuned** with CE, IMP and DIMP through
\`runTrainingJob\` (the path of \`train --finetune\`), on the CPU, seeds ${about.seeds}. Checkers: the ${DEFAULT_ENCODER_HEAD_SETTINGS.head} heads on
the frozen MiniLM embeddings of the MiniLM section (q not temperature-scaled), trained on the same real rows. **Subsampled:** each cell
fine-tunes on a seeded random subsample of the synthetic source (the size below; the same rows for every loss
of a seed, other rows for another seed), which the checkers score. Within a seed CE, IMP and DIMP share the
subsample, the checkers, the head's initialisation and the row order; the best epoch is chosen on the real
validation rows and its model folder is tested on the real test rows (\`eval\`'s path).

| source | seeds | synthetic rows | quality checker (validation acc.) | diversity checker | CE | IMP | DIMP | IMP − CE | DIMP − CE |
|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

Accuracy is mean ± sd over seeds; the differences are the mean of the per-seed difference ± its standard error.

Settings, the same for every source (the Hugging Face Trainer's recipe): AdamW (β 0.9/0.999, ε 1e-8) at
${s.learningRate < 1e-3 ? s.learningRate.toExponential() : s.learningRate}${s.gradientAccumulation > 1 ? ` (gradients of ${s.gradientAccumulation} batches accumulated per step)` : ''}, linear decay after ${s.warmupRatio * 100} % warm-up, weight decay ${s.weightDecay} (matrices and embeddings), gradient norm clipped at
${s.maxGradNorm}, batch ${s.batchSize}, ${s.epochs} epochs, rows cut at ${s.maxLength} tokens (each batch padded to its longest row), dropout off, DIMP's
ε ${about.epsilon < 1e-3 ? about.epsilon.toExponential() : about.epsilon} and no maximum weight. Real splits as in the main table (SST-2: 400 checker rows, 200 validation rows,
\`real_test.jsonl\`; MRPC: 150 / 100 / the other 158).

| source | training rows/s (CE / IMP / DIMP) | best epochs per seed (CE / IMP / DIMP) | seconds per cell |
|---|---|---|---|
${speedRows.join('\n')}

One worker thread; onnxruntime's default intra-op threads on the shared 2-core machine (other jobs ran beside
it). CUDA was not measured: no GPU machine was lent to this session.
`;
}
