// `npm run eval`: CE vs IMP vs DIMP on the shared evaluation data (../shared/data), paired seeds.
// Writes EVALUATION.md. Usage: node out/scripts/eval.js [--seeds N] [--real-rows N] [--data DIR] [--out FILE]
import { execSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { loadDataset, type Dataset } from '../src/core/data/dataset';
import { LabelMap } from '../src/core/data/labels';
import { writeFileAtomic } from '../src/core/io/atomic';
import { deriveSeed, SeededRandom } from '../src/core/random';
import { evaluateProbabilities } from '../src/core/train/metrics';
import { DEFAULT_CHECKER_SETTINGS, DEFAULT_CLASSIFIER_SETTINGS, toEvaluationSet, trainNgram } from '../src/core/train/ngramTraining';
import { predictProbabilities } from '../src/core/train/trainer';
import { scoreSynthetic } from '../src/core/weighting/score';
import { DEFAULT_WEIGHT_GUARDS } from '../src/core/weighting/weights';
import type { LossKind } from '../src/protocol/events';

const LOSSES: LossKind[] = ['ce', 'imp', 'dimp'];

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

interface Cell {
  task: string;
  seed: number;
  accuracy: Record<LossKind, number>;
  macroF1: Record<LossKind, number>;
  smallRealOnly: number;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]): number => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const se = (xs: number[]): number => sd(xs) / Math.sqrt(xs.length);
const pct = (x: number): string => (x * 100).toFixed(1);
const pm = (xs: number[]): string => `${pct(mean(xs))} ± ${pct(sd(xs))}`;
const diff = (xs: number[]): string => `${xs.length ? (mean(xs) >= 0 ? '+' : '') + pct(mean(xs)) : '–'} ± ${pct(se(xs))}`;

function split(rows: Dataset['rows'], seed: number, sizes: number[]): Dataset['rows'][] {
  const order = new SeededRandom(deriveSeed(seed, 'eval-split')).shuffle(Int32Array.from({ length: rows.length }, (_, i) => i));
  const parts: Dataset['rows'][] = [];
  let start = 0;
  for (const size of sizes) {
    parts.push(Array.from(order.subarray(start, start + size), (i) => rows[i]!));
    start += size;
  }
  parts.push(Array.from(order.subarray(start), (i) => rows[i]!));
  return parts;
}

async function runCell(task: Task, seed: number, labelMap: LabelMap, scratch: string): Promise<Cell> {
  const pool = await loadDataset(task.realPool, labelMap);
  const [checkerRows, validationRows, rest] = split(pool.rows, seed, [task.checkerRows, task.validationRows]);
  const testRows = task.realTest ? (await loadDataset(task.realTest, labelMap)).rows : rest!;
  const synthetic = await loadDataset(task.synthetic, labelMap);
  const scores = await scoreSynthetic({
    synthetic,
    real: { ...pool, rows: checkerRows! },
    labelMap,
    checkersDir: path.join(scratch, `${task.name}-${seed}`),
    checkerSettings: DEFAULT_CHECKER_SETTINGS,
    seed,
    guards: DEFAULT_WEIGHT_GUARDS,
    device: 'cpu',
  });
  const quality = Float32Array.from(scores.rows, (r) => r.quality);
  const diversity = Float32Array.from(scores.rows, (r) => r.diversity);
  const accuracy = {} as Record<LossKind, number>;
  const macroF1 = {} as Record<LossKind, number>;
  for (const loss of LOSSES) {
    const trained = await trainNgram({ rows: synthetic.rows, numClasses: labelMap.size, settings: DEFAULT_CLASSIFIER_SETTINGS, loss, seed, quality, diversity, validation: validationRows });
    const test = toEvaluationSet(trained.featurizer, testRows);
    const result = evaluateProbabilities(predictProbabilities(trained.model, test.features, test.count), test.labels, labelMap.size);
    accuracy[loss] = result.accuracy;
    macroF1[loss] = result.macroF1;
  }
  const small = await trainNgram({ rows: checkerRows!, numClasses: labelMap.size, settings: DEFAULT_CHECKER_SETTINGS, loss: 'ce', seed, validation: validationRows });
  const smallTest = toEvaluationSet(small.featurizer, testRows);
  const smallRealOnly = evaluateProbabilities(predictProbabilities(small.model, smallTest.features, smallTest.count), smallTest.labels, labelMap.size).accuracy;
  return { task: task.name, seed, accuracy, macroF1, smallRealOnly };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seeds: { type: 'string' }, 'real-rows': { type: 'string' }, data: { type: 'string' }, out: { type: 'string' } } });
  const root = path.resolve(__dirname, '..', '..');
  const dataDir = path.resolve(values.data ?? path.join(root, '..', 'shared', 'data'));
  const seeds = Number(values.seeds ?? 3);
  const realRows = Number(values['real-rows'] ?? 400);
  const out = path.resolve(values.out ?? path.join(root, 'EVALUATION.md'));
  const sst2 = path.join(dataDir, 'sst2');
  const mrpc = path.join(dataDir, 'mrpc');
  const tasks: Task[] = [];
  const skipped: string[] = [];
  for (const source of ['supergen', 'fewgen_s13', 'fewgen_s42']) {
    const synthetic = path.join(sst2, `synthetic_${source}.jsonl`);
    if (existsSync(synthetic) && existsSync(path.join(sst2, 'real_train.jsonl')) && existsSync(path.join(sst2, 'real_test.jsonl'))) {
      tasks.push({ name: `sst2/${source}`, realPool: path.join(sst2, 'real_train.jsonl'), realTest: path.join(sst2, 'real_test.jsonl'), synthetic, checkerRows: realRows, validationRows: 200 });
    } else skipped.push(`sst2/${source}: ${synthetic} or the SST-2 real files are missing`);
  }
  if (existsSync(path.join(mrpc, 'real_dev.jsonl')) && existsSync(path.join(mrpc, 'synthetic_fewgen_s13.jsonl'))) {
    // MRPC has 408 real rows in all: 150 for the quality checker, 100 for validation, the rest (158) for test.
    tasks.push({ name: 'mrpc/fewgen_s13', realPool: path.join(mrpc, 'real_dev.jsonl'), synthetic: path.join(mrpc, 'synthetic_fewgen_s13.jsonl'), checkerRows: 150, validationRows: 100 });
  } else skipped.push(`mrpc/fewgen_s13: ${mrpc}/real_dev.jsonl or synthetic_fewgen_s13.jsonl is missing`);
  for (const s of skipped) process.stderr.write(`skipped ${s}\n`);
  if (tasks.length === 0) {
    process.stderr.write(`no evaluation data under ${dataDir}; nothing to evaluate (EVALUATION.md left as it is)\n`);
    return;
  }

  const labelMap = new LabelMap(['0', '1']);
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'dimp-eval-'));
  const cells: Cell[] = [];
  const started = Date.now();
  try {
    for (const task of tasks) {
      for (let seed = 1; seed <= seeds; seed++) {
        const cell = await runCell(task, seed, labelMap, scratch);
        cells.push(cell);
        process.stderr.write(`${task.name} seed ${seed}: ce ${pct(cell.accuracy.ce)} imp ${pct(cell.accuracy.imp)} dimp ${pct(cell.accuracy.dimp)} (small real only ${pct(cell.smallRealOnly)})\n`);
      }
    }
    let fullReal: number | undefined;
    if (tasks.some((t) => t.name.startsWith('sst2/'))) {
      const train = await loadDataset(path.join(sst2, 'real_train.jsonl'), labelMap);
      const test = await loadDataset(path.join(sst2, 'real_test.jsonl'), labelMap);
      const trained = await trainNgram({ rows: train.rows, numClasses: 2, settings: DEFAULT_CLASSIFIER_SETTINGS, loss: 'ce', seed: 1 });
      const set = toEvaluationSet(trained.featurizer, test.rows);
      fullReal = evaluateProbabilities(predictProbabilities(trained.model, set.features, set.count), set.labels, 2).accuracy;
      process.stderr.write(`sst2 ce on all ${train.rows.length} real rows: ${pct(fullReal)}\n`);
    }

    const rows = tasks.map((task) => {
      const c = cells.filter((x) => x.task === task.name);
      const acc = (loss: LossKind): number[] => c.map((x) => x.accuracy[loss]);
      const paired = (loss: LossKind): number[] => c.map((x) => x.accuracy[loss] - x.accuracy.ce);
      return `| ${task.name} | ${pm(c.map((x) => x.smallRealOnly))} | ${pm(acc('ce'))} | ${pm(acc('imp'))} | ${pm(acc('dimp'))} | ${diff(paired('imp'))} | ${diff(paired('dimp'))} |`;
    });
    const sstCells = cells.filter((c) => c.task.startsWith('sst2/'));
    const pooled = (loss: LossKind): number[] => sstCells.map((x) => x.accuracy[loss] - x.accuracy.ce);
    let commit = 'unknown';
    try {
      commit = execSync('git rev-parse --short HEAD', { cwd: root }).toString().trim();
    } catch {
      // not a git checkout
    }
    const s = DEFAULT_CLASSIFIER_SETTINGS;
    const c = DEFAULT_CHECKER_SETTINGS;
    const report = `# Evaluation

Test accuracy (%) of the built-in n-gram classifier trained on LLM-generated data with each loss.
Generated by \`npm run eval\` on ${new Date().toISOString().slice(0, 10)}, commit \`${commit}\`, ${seeds} seed(s), ${((Date.now() - started) / 1000).toFixed(0)} s.

| task / synthetic source | CE on the small real set alone | CE | IMP | DIMP | IMP − CE (paired) | DIMP − CE (paired) |
|---|---|---|---|---|---|---|
${rows.join('\n')}
${sstCells.length ? `| **SST-2, pooled over sources** | | | | | ${diff(pooled('imp'))} | ${diff(pooled('dimp'))} |\n` : ''}
Accuracy columns: mean ± standard deviation over seeds. Paired columns: mean of the per-seed difference to CE
± its standard error; within a seed the runs share the real split, the checkers, the initialisation and
the row order, and differ only in the loss.
${fullReal !== undefined ? `\nReference: CE on all of SST-2 \`real_train.jsonl\` (67,349 rows), tested on \`real_test.jsonl\`: **${pct(fullReal)} %** (fastText C++ reaches 81.5 % there).\n` : ''}
## Settings
- SST-2: per seed, ${realRows} rows of \`real_train.jsonl\` train the quality checker and 200 others select the epoch; test on \`real_test.jsonl\` (872 rows).
- MRPC: per seed, 150 rows of \`real_dev.jsonl\` train the quality checker, 100 select the epoch, the other 158 are the test set.
- Diversity checker: trained on the whole synthetic set and scored in-sample (PRODUCT §2).
- Checkers: dim ${c.dim}, ${c.epochs} epochs (fewer above ${c.rowUpdateBudget} row updates), batch ${c.batchSize}, learning rate ${c.learningRate} (linear decay), gradient norm clipped at ${c.maxGradNorm}, word uni+bigrams, ${c.featurizer.buckets} buckets.
- Classifier: dim ${s.dim}, ${s.epochs} epochs, batch ${s.batchSize}, learning rate ${s.learningRate} (linear decay), gradient norm clipped at ${s.maxGradNorm}, best epoch by validation accuracy.
- Weights: ε = ${DEFAULT_WEIGHT_GUARDS.epsilon}, no maximum weight.
${skipped.length ? `\n## Skipped\n${skipped.map((x) => `- ${x}`).join('\n')}\n` : ''}`;
    await writeFileAtomic(out, report);
    process.stdout.write(report);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

void main();
