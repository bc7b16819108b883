// `npm run bench`: every figure is a ratio to a baseline measured in the same run. Writes BENCHMARKS.md.
// Usage: node out/scripts/bench.js [--data DIR] [--out FILE] [--quick] [--curve 10000,100000,1000000] [--only trainer,pairs,onnx,jsonl,memory,external,finetune]
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, createReadStream, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { indexJsonlLines, readJsonlLineBatches, readJsonlLines } from '../src/core/data/jsonl';
import { loadDataset } from '../src/core/data/dataset';
import { LabelMap } from '../src/core/data/labels';
import { writeFileAtomic } from '../src/core/io/atomic';
import { Featurizer, tokenize } from '../src/core/model/featurizer';
import { loadClassifier, NGRAM_BATCH_SIZE, ngramChunkSize, saveNgramModel, type LoadedClassifier } from '../src/core/model/modelFolder';
import { scoreRows } from '../src/core/jobs/checkers';
import { DEFAULT_WEIGHT_GUARDS } from '../src/core/weighting/weights';
import { onnxRuntime } from '../src/core/runtime/onnxRuntime';
import { evaluateProbabilities } from '../src/core/train/metrics';
import { DEFAULT_CLASSIFIER_SETTINGS, LARGE_SET_RECIPE, toEvaluationSet, trainNgram, type NgramSettings } from '../src/core/train/ngramTraining';
import { predictProbabilities } from '../src/core/train/trainer';
import { SAMPLE_LABELS } from './sample';

const root = path.resolve(__dirname, '..', '..');
const HAND_WRITTEN_MARKER = '<!-- hand-written below: npm run bench keeps it -->';
const sections: string[] = [];
const fmt = (x: number, digits = 0): string => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const ratio = (x: number): string => `**${x.toFixed(2)}×**`;
const log = (message: string): void => void process.stderr.write(`${message}\n`);

function machine(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model ?? 'unknown CPU'} × ${cpus.length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}, Node ${process.version}, onnxruntime-node ${(onnxRuntime().env as { versions?: { common?: string } }).versions?.common ?? '?'}`;
}

/** Built-in trainer vs fastText C++ on the same rows, epochs, dimension, n-grams and learning-rate schedule. */
async function trainerVsFastText(dataDir: string, scratch: string): Promise<void> {
  const testFile = path.join(dataDir, 'sst2', 'real_test.jsonl');
  const blocks: string[] = [];
  // A synthetic set of the size the product meets most, then a set large enough that starting threads is a small part of the run.
  // The large clean set trains with the recipe the product has for it (`--recipe large-set`), the synthetic one with the defaults.
  const recipes = [
    ['sst2/synthetic_fewgen_s13.jsonl', true, DEFAULT_CLASSIFIER_SETTINGS, 'the defaults'],
    ['sst2/real_train.jsonl', false, { ...DEFAULT_CLASSIFIER_SETTINGS, ...LARGE_SET_RECIPE }, '`--recipe large-set`'],
  ] as const;
  for (const [relative, dimpRow, recipe, recipeName] of recipes) {
    const file = path.join(dataDir, relative);
    if (!existsSync(file) || !existsSync(testFile)) {
      blocks.push(`Skipped \`${relative}\`: ${file} or ${testFile} is missing (the project's shared evaluation data).`);
      continue;
    }
    blocks.push(await trainerVsFastTextOn(file, relative, testFile, scratch, dimpRow, recipe, recipeName));
  }
  const settings = DEFAULT_CLASSIFIER_SETTINGS;
  sections.push(
    `## Built-in trainer vs fastText C++\n\n10 epochs, dim 64, word uni+bigrams, ${settings.featurizer.buckets.toLocaleString('en-US')} buckets, one thread each, then every core (ours: Hogwild threads, \`--train-threads\`; fastText: \`-thread\`); ` +
      `ours with the product's recipe for each set (Adam at ${settings.learningRate}, lazy on embedding rows, batches of ${settings.batchSize}; the defaults: ε 1e-8, constant learning rate, n-gram dropout ${settings.featureDropout}; the large-set recipe: ε ${LARGE_SET_RECIPE.adamEpsilon}, linear decay, no dropout), fastText with its own (SGD at 0.1, linearly decayed, one row at a time); test on \`sst2/real_test.jsonl\`. ` +
      `fastText's rows/s come from its own words/sec/thread (times its threads) over the training loop; ours from the training loop (features computed once before, threads started before).\n\n${blocks.join('\n\n')}\n`,
  );
}

async function trainerVsFastTextOn(file: string, relative: string, testFile: string, scratch: string, dimpRow: boolean, recipe: NgramSettings, recipeName: string): Promise<string> {
  const labels = new LabelMap(['0', '1']);
  const train = await loadDataset(file, labels);
  const test = await loadDataset(testFile, labels);
  const epochs = 10;
  const settings = { ...recipe, epochs };
  const start = performance.now();
  const trained = await trainNgram({ rows: train.rows, numClasses: 2, settings, loss: 'ce', seed: 1 });
  const endToEnd = (performance.now() - start) / 1000;
  const set = toEvaluationSet(trained.featurizer, test.rows);
  const ours = { rowsPerSecond: trained.result.rowsPerSecond, accuracy: evaluateProbabilities(predictProbabilities(trained.model, set.features, set.count), set.labels, 2).accuracy, endToEnd };
  // The same training loop with DIMP weights (quality fixed at 0.8 for the cost: the loss's extra work is per row).
  const dimp = dimpRow ? await trainNgram({ rows: train.rows, numClasses: 2, settings, loss: 'dimp', seed: 1, quality: new Float32Array(train.rows.length).fill(0.8) }) : undefined;

  // Every core: Hogwild threads against fastText's own -thread, on the same rows.
  const cores = os.availableParallelism();
  const parallel = cores > 1 ? await trainNgram({ rows: train.rows, numClasses: 2, settings: { ...settings, threads: cores }, loss: 'ce', seed: 1 }) : undefined;
  const parallelAccuracy = parallel && evaluateProbabilities(predictProbabilities(parallel.model, set.features, set.count), set.labels, 2).accuracy;

  const fasttext = spawnSync('fasttext', [], { encoding: 'utf8' });
  let table: string;
  if (fasttext.error) {
    table = `fastText C++ is **missing** (baseline not installed): install it with \`npm run setup -- --baselines\` (Debian/Ubuntu: \`apt-get install fasttext\`).\n\nBuilt-in trainer alone: ${fmt(ours.rowsPerSecond)} rows/s, test accuracy ${(ours.accuracy * 100).toFixed(1)} %.`;
  } else {
    // fastText reads whitespace-separated tokens; give it the featurizer's own tokens so both see the same words.
    const toLine = (row: { texts: readonly string[]; label: number }): string => `__label__${row.label} ${row.texts.map((t) => tokenize(t, true).join(' ')).join(' ')}`;
    writeFileSync(path.join(scratch, 'train.txt'), train.rows.map(toLine).join('\n') + '\n');
    writeFileSync(path.join(scratch, 'test.txt'), test.rows.map(toLine).join('\n') + '\n');
    // fastText counts an end-of-line token per row in its words.
    const tokens = train.rows.reduce((a, r) => a + r.texts.reduce((b, t) => b + tokenize(t, true).length, 0) + 1, 0);
    const runFastText = (threads: number) => {
      const args = ['supervised', '-input', path.join(scratch, 'train.txt'), '-output', path.join(scratch, 'ft'), '-dim', '64', '-wordNgrams', '2', '-epoch', String(epochs), '-lr', '0.1', '-bucket', String(settings.featurizer.buckets), '-minCount', '1', '-thread', String(threads), '-verbose', '2'];
      const ftStart = performance.now();
      const run = spawnSync('fasttext', args, { encoding: 'utf8', maxBuffer: 64 << 20 });
      const wall = (performance.now() - ftStart) / 1000;
      const output = `${run.stdout}\n${run.stderr}`;
      const wordsPerSecond = Number([...output.matchAll(/words\/sec\/thread:\s*(\d+)/g)].pop()?.[1] ?? NaN);
      const testOut = execFileSync('fasttext', ['test', path.join(scratch, 'ft.bin'), path.join(scratch, 'test.txt')], { encoding: 'utf8' });
      return {
        // words/sec/thread × threads: the whole run's rate.
        rowsPerSecond: (wordsPerSecond * threads * train.rows.length) / tokens,
        accuracy: Number(/P@1\s+([\d.]+)/.exec(testOut)?.[1] ?? NaN),
        wall,
        modelMB: statSync(path.join(scratch, 'ft.bin')).size / 2 ** 20,
      };
    };
    const ft = runFastText(1);
    const ftParallel = parallel ? runFastText(cores) : undefined;
    table = [
      '| trainer | training rows/s | test accuracy | whole run (s) |',
      '|---|---|---|---|',
      `| built-in, ce (TypeScript + WebAssembly SIMD, 1 thread) | ${fmt(ours.rowsPerSecond)} | ${(ours.accuracy * 100).toFixed(1)} % | ${ours.endToEnd.toFixed(1)} (read, featurize, train) |`,
      ...(dimp ? [`| built-in, dimp | ${fmt(dimp.result.rowsPerSecond)} | | |`] : []),
      `| fastText C++ (\`-thread 1\`) | ${fmt(ft.rowsPerSecond)} | ${(ft.accuracy * 100).toFixed(1)} % | ${ft.wall.toFixed(1)} (read, train, save a ${fmt(ft.modelMB)} MB model) |`,
      ...(parallel && ftParallel
        ? [
            `| built-in, ce, ${cores} threads (Hogwild, \`--train-threads ${cores}\`) | ${fmt(parallel.result.rowsPerSecond)} | ${(parallelAccuracy! * 100).toFixed(1)} % | |`,
            `| fastText C++ (\`-thread ${cores}\`) | ${fmt(ftParallel.rowsPerSecond)} | ${(ftParallel.accuracy * 100).toFixed(1)} % | ${ftParallel.wall.toFixed(1)} |`,
          ]
        : []),
      '',
      `Built-in trainer ÷ fastText C++, training rows/s, one thread: ${ratio(ours.rowsPerSecond / ft.rowsPerSecond)}`,
      ...(parallel && ftParallel
        ? [
            '',
            `Every core (${cores}): built-in ÷ fastText C++ ${ratio(parallel.result.rowsPerSecond / ftParallel.rowsPerSecond)}; built-in ${cores} threads ÷ its one thread ${ratio(parallel.result.rowsPerSecond / ours.rowsPerSecond)}, fastText ${ratio(ftParallel.rowsPerSecond / ft.rowsPerSecond)}`,
          ]
        : ['', 'One core: the threads were not compared.']),
    ].join('\n');
  }
  return `### ${train.rows.length.toLocaleString('en-US')} rows of \`${relative}\` (ours: ${recipeName})\n\n${table}`;
}

/**
 * Sentence pairs vs single texts: the default recipe on 10,000 MRPC pairs and on 10,000 SST-2 sentences,
 * alternated (best of `rounds` each) so that a busy machine slows both alike. Pairs carry about five times
 * the features of a sentence, so the ratio is also given per feature occurrence.
 */
async function pairsVsSingle(dataDir: string, rounds: number): Promise<void> {
  const singleFile = path.join(dataDir, 'sst2', 'synthetic_fewgen_s13.jsonl');
  const pairFile = path.join(dataDir, 'mrpc', 'synthetic_fewgen_s13.jsonl');
  if (!existsSync(singleFile) || !existsSync(pairFile)) {
    sections.push(`## Sentence pairs vs single texts\n\nSkipped: ${singleFile} or ${pairFile} is missing (the project's shared evaluation data).\n`);
    return;
  }
  const labels = new LabelMap(['0', '1']);
  const sets = { single: await loadDataset(singleFile, labels), pairs: await loadDataset(pairFile, labels) };
  const epochs = 3;
  const settings = { ...DEFAULT_CLASSIFIER_SETTINGS, epochs };
  const featurizer = new Featurizer(settings.featurizer);
  const best = { single: 0, pairs: 0 };
  const featuresPerRow = { single: 0, pairs: 0 };
  for (const name of ['single', 'pairs'] as const) {
    const m = featurizer.featurizeAll(sets[name].rows);
    featuresPerRow[name] = m.ids.length / m.count;
  }
  for (let round = 0; round < rounds; round++) {
    for (const name of ['single', 'pairs'] as const) {
      const trained = await trainNgram({ rows: sets[name].rows, numClasses: 2, settings, loss: 'dimp', seed: 1, quality: new Float32Array(sets[name].rows.length).fill(0.8) });
      best[name] = Math.max(best[name], trained.result.rowsPerSecond);
    }
  }
  const rowsRatio = best.pairs / best.single;
  const featureRatio = (best.pairs * featuresPerRow.pairs) / (best.single * featuresPerRow.single);
  sections.push(
    `## Sentence pairs vs single texts\n\n${sets.pairs.rows.length.toLocaleString('en-US')} pairs of \`mrpc/synthetic_fewgen_s13.jsonl\` vs ${sets.single.rows.length.toLocaleString('en-US')} sentences of \`sst2/synthetic_fewgen_s13.jsonl\`, ` +
      `the default recipe (Adam, lazy on embedding rows, batches of ${settings.batchSize}), DIMP loss, ${epochs} epochs, one thread; training loop only, best of ${rounds} alternated rounds.\n\n` +
      `| rows | features per row | training rows/s | feature occurrences/s |\n|---|---:|---:|---:|\n` +
      `| single texts | ${featuresPerRow.single.toFixed(1)} | ${fmt(best.single)} | ${fmt(best.single * featuresPerRow.single)} |\n` +
      `| sentence pairs | ${featuresPerRow.pairs.toFixed(1)} | ${fmt(best.pairs)} | ${fmt(best.pairs * featuresPerRow.pairs)} |\n\n` +
      `Pairs ÷ single, training rows/s: ${ratio(rowsRatio)}; per feature occurrence: ${ratio(featureRatio)}\n`,
  );
}

/** Scoring through onnxruntime vs the TypeScript forward pass of the same model. */
async function onnxVsTypeScript(scratch: string): Promise<void> {
  const labels = new LabelMap([...SAMPLE_LABELS]);
  const synthetic = await loadDataset(path.join(root, 'sample', 'synthetic.jsonl'), labels);
  const rows = Array.from({ length: 5 }, (_, copy) => synthetic.rows.map((r) => ({ ...r, texts: [`${r.texts[0]} (${copy})`] as [string] }))).flat();
  const trained = await trainNgram({ rows: synthetic.rows, numClasses: 3, settings: { ...DEFAULT_CLASSIFIER_SETTINGS, epochs: 3 }, loss: 'ce', seed: 1 });
  const folder = path.join(scratch, 'model');
  await saveNgramModel(folder, trained.model.parameters(), DEFAULT_CLASSIFIER_SETTINGS.featurizer, labels);
  const model = await loadClassifier(folder, 'cpu');
  const featurizer = new Featurizer(DEFAULT_CLASSIFIER_SETTINGS.featurizer);
  const best = async (f: () => Promise<unknown> | unknown): Promise<number> => {
    let fastest = Infinity;
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await f();
      fastest = Math.min(fastest, performance.now() - t);
    }
    return rows.length / (fastest / 1000);
  };
  const ort = await best(() => model.predict(rows));
  const ts = await best(() => predictProbabilities(trained.model, featurizer.featurizeAll(rows), rows.length));
  await model.dispose();
  sections.push(
    `## Built-in model: scoring through onnxruntime vs the TypeScript forward pass\n\n${rows.length.toLocaleString('en-US')} rows (the sample's synthetic set, 5 copies), featurization included in both, best of 5.\n\n` +
      `| path | rows/s |\n|---|---|\n| onnxruntime-node (CPU, batches of 512) | ${fmt(ort)} |\n| TypeScript forward pass | ${fmt(ts)} |\n\nonnxruntime ÷ TypeScript: ${ratio(ort / ts)}\n`,
  );
}

/** JSONL indexing and parsing vs raw read speed of the same file. */
async function jsonlVsRawRead(scratch: string, rowsCount: number): Promise<void> {
  const file = path.join(scratch, 'big.jsonl');
  const lines: string[] = [];
  for (let i = 0; i < rowsCount; i++) lines.push(JSON.stringify({ text: `synthetic review number ${i} says the battery life is ${i % 7 === 0 ? 'poor' : 'great'} and the price is fair`, label: i % 3 }));
  writeFileSync(file, lines.join('\n') + '\n');
  const megabytes = statSync(file).size / 2 ** 20;
  // The passes alternate, best of 5 each, so that a busy machine slows them alike.
  const passes: Record<'raw' | 'index' | 'batches' | 'lines', () => Promise<unknown>> = {
    raw: async () => {
      for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) void chunk;
    },
    index: () => indexJsonlLines(file),
    batches: async () => {
      for await (const batch of readJsonlLineBatches(file)) for (const line of batch) void line.text;
    },
    lines: async () => {
      for await (const line of readJsonlLines(file)) void line.text;
    },
  };
  const fastest = { raw: Infinity, index: Infinity, batches: Infinity, lines: Infinity };
  for (let round = 0; round < 5; round++) {
    for (const name of Object.keys(passes) as (keyof typeof passes)[]) {
      if (name === 'lines' && round >= 2) continue; // the slow per-line generator: 2 rounds
      const t = performance.now();
      await passes[name]();
      fastest[name] = Math.min(fastest[name], performance.now() - t);
    }
  }
  const rate = (name: keyof typeof fastest): number => megabytes / (fastest[name] / 1000);
  const [raw, index, batches, linesRate] = [rate('raw'), rate('index'), rate('batches'), rate('lines')];
  sections.push(
    `## JSONL decoding vs raw read\n\nA ${megabytes.toFixed(0)} MB file of ${rowsCount.toLocaleString('en-US')} rows, passes alternated, best of 5 (2 for the per-line generator), page cache warm.\n\n` +
      `| pass | MB/s |\n|---|---|\n| raw read (stream, no processing) | ${fmt(raw)} |\n| \`indexJsonlLines\` (byte offsets of every line) | ${fmt(index)} |\n` +
      `| \`readJsonlLineBatches\` (decoded lines with numbers and offsets, a chunk at a time: what \`parseJsonlFile\` (CLI, editor's scoring worker) and curation read with) | ${fmt(batches)} |\n` +
      `| \`readJsonlLines\` (the same lines, one await per line) | ${fmt(linesRate)} |\n\n` +
      `Indexing ÷ raw read: ${ratio(index / raw)}; decoded lines ÷ raw read: ${ratio(batches / raw)} (one line per await: ${ratio(linesRate / raw)})\n`,
  );
}

/** Peak RSS and time of scoring N rows in a fresh process, for each size of the curve: the slope between the two largest is the cost per 100,000 rows. */
async function peakMemory(scratch: string, sizes: readonly number[]): Promise<void> {
  const bundle = path.join(root, 'dist', 'cli.js');
  if (!existsSync(bundle)) {
    sections.push('## Peak memory of scoring\n\nSkipped: `dist/cli.js` is missing; run `npm run build`.\n');
    return;
  }
  const base = path.join(root, 'sample', 'synthetic.jsonl');
  const sampleLines = readFileSync(base, 'utf8').trim().split('\n');
  const results: { rows: number; rssMiB: number; seconds: number }[] = [];
  for (const size of sizes) {
    const file = path.join(scratch, `score-${size}.jsonl`);
    // Written 100,000 rows at a time: millions of rows are more than one string can hold.
    const fd = openSync(file, 'w');
    try {
      for (let start = 0; start < size; start += 100_000) {
        const out: string[] = [];
        for (let i = start; i < Math.min(size, start + 100_000); i++) {
          const row = JSON.parse(sampleLines[i % sampleLines.length]!) as { sentence: string; label: number };
          out.push(JSON.stringify({ sentence: `${row.sentence} #${Math.floor(i / sampleLines.length)}`, label: row.label }));
        }
        writeSync(fd, out.join('\n') + '\n');
      }
    } finally {
      closeSync(fd);
    }
    const t = performance.now();
    // The child reports its own peak RSS (kilobytes) when the CLI's main() resolves.
    const args = ['score', '--synthetic', file, '--real', path.join(root, 'sample', 'real_train.jsonl'), '--labels', SAMPLE_LABELS.join(','), '--out', path.join(scratch, `scores-${size}.jsonl`)];
    const program = `require(${JSON.stringify(bundle)}).main(${JSON.stringify(args)}).then((code) => { process.stdout.write('maxrss ' + process.resourceUsage().maxRSS + '\\n'); process.exitCode = code; })`;
    const run = spawnSync(process.execPath, ['-e', program], { encoding: 'utf8', env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } });
    const seconds = (performance.now() - t) / 1000;
    const kib = Number(/maxrss (\d+)/.exec(run.stdout)?.[1]);
    if (run.status !== 0 || !Number.isFinite(kib)) {
      sections.push(`## Peak memory of scoring\n\nFailed to measure (exit ${run.status}): ${run.stderr.slice(-300)}\n`);
      return;
    }
    results.push({ rows: size, rssMiB: kib / 1024, seconds });
    log(`scored ${size} rows: peak RSS ${(kib / 1024).toFixed(0)} MiB in ${seconds.toFixed(1)} s`);
  }
  // A curve of one size has no slope (its point is still reported).
  const [a, b] = results.length > 1 ? (results.slice(-2) as [(typeof results)[0], (typeof results)[0]]) : [undefined, undefined];
  const perHundredThousand = a && b ? ((b.rssMiB - a.rssMiB) / (b.rows - a.rows)) * 100_000 : NaN;
  log('the scoring pass alone…');
  const pass = await scoringPass(
    scratch,
    sizes.map((size) => path.join(scratch, `score-${size}.jsonl`)),
  );
  sections.push(
    `## Peak memory of scoring\n\n\`dimp-curator score\` in a fresh process (reads the file, trains both checkers, scores every row through onnxruntime, writes the scores), peak RSS as the process reports it (\`process.resourceUsage().maxRSS\`).\n\n` +
      `| rows | peak RSS | time | rows/s (whole run) |\n|---|---|---|---|\n${results.map((r) => `| ${r.rows.toLocaleString('en-US')} | ${fmt(r.rssMiB)} MiB | ${r.seconds.toFixed(1)} s | ${fmt(r.rows / r.seconds)} |`).join('\n')}\n\n` +
      (Number.isFinite(perHundredThousand) ? `Peak RSS per 100,000 rows scored (slope between the two largest sizes): **${fmt(perHundredThousand)} MiB**\n\n` : 'One size: no slope (give --curve two sizes or more).\n\n') +
      pass,
  );
}

/**
 * The scoring pass alone on the curve's files (no reading, no training): both built-in checkers (trained
 * beforehand on the sample, 3 epochs: their size, not their epochs, sets the cost) featurise every row and run
 * through onnxruntime, then q, d and the IMP weights are computed (\`scoreRows\`, what the score job runs).
 * Baseline in the same process, alternated with it: the TypeScript forward pass of the same two models on
 * the same rows, featurisation included (the same arithmetic without onnxruntime's batching, padding and
 * threads, so the ratio is what the runtime path gains or loses, and it moves with the machine's load).
 */
async function scoringPass(scratch: string, files: readonly string[]): Promise<string> {
  const labels = new LabelMap([...SAMPLE_LABELS]);
  const settings = { ...DEFAULT_CLASSIFIER_SETTINGS, epochs: 3 };
  const trained = {
    quality: await trainNgram({ rows: (await loadDataset(path.join(root, 'sample', 'real_train.jsonl'), labels)).rows, numClasses: labels.size, settings, loss: 'ce', seed: 1 }),
    diversity: await trainNgram({ rows: (await loadDataset(path.join(root, 'sample', 'synthetic.jsonl'), labels)).rows, numClasses: labels.size, settings, loss: 'ce', seed: 1 }),
  };
  const models: LoadedClassifier[] = [];
  for (const name of ['quality', 'diversity'] as const) {
    const folder = path.join(scratch, `pass-${name}`);
    await saveNgramModel(folder, trained[name].model.parameters(), settings.featurizer, labels);
    models.push(await loadClassifier(folder, 'cpu'));
  }
  const [quality, diversity] = models as [LoadedClassifier, LoadedClassifier];
  const featurizer = new Featurizer(settings.featurizer);
  const lines: string[] = [];
  const threads = os.availableParallelism();
  try {
    for (const file of files) {
      const rows = (await loadDataset(file, labels)).rows;
      const rounds = rows.length >= 1_000_000 ? 1 : 3;
      const best = { onnx: Infinity, parallel: Infinity, ts: Infinity };
      for (let round = 0; round < rounds; round++) {
        let t = performance.now();
        await scoreRows(quality, diversity, rows, labels, DEFAULT_WEIGHT_GUARDS, { threads: 1 });
        best.onnx = Math.min(best.onnx, performance.now() - t);
        t = performance.now();
        await scoreRows(quality, diversity, rows, labels, DEFAULT_WEIGHT_GUARDS, { threads });
        best.parallel = Math.min(best.parallel, performance.now() - t);
        t = performance.now();
        for (const name of ['quality', 'diversity'] as const) predictProbabilities(trained[name].model, featurizer.featurizeAll(rows), rows.length);
        best.ts = Math.min(best.ts, performance.now() - t);
      }
      const rate = (ms: number): number => rows.length / (ms / 1000);
      // Workers take whole chunks of 16,384 rows: fewer chunks than threads leave threads idle.
      const used = Math.min(threads, Math.ceil(rows.length / ngramChunkSize(NGRAM_BATCH_SIZE)));
      lines.push(
        `| ${rows.length.toLocaleString('en-US')} | ${(best.onnx / 1000).toFixed(2)} s | ${fmt(rate(best.onnx))} | ${used} | ${(best.parallel / 1000).toFixed(2)} s | ${fmt(rate(best.parallel))} | ${ratio(best.onnx / best.parallel)} | ${fmt(rate(best.ts))} | ${ratio(best.ts / best.onnx)} |`,
      );
      log(`scoring pass on ${rows.length} rows: ${fmt(rate(best.onnx))} rows/s through onnxruntime on 1 thread, ${fmt(rate(best.parallel))} on ${used} workers, ${fmt(rate(best.ts))} rows/s TypeScript`);
    }
  } finally {
    for (const model of models) await model.dispose();
  }
  return (
    `### The scoring pass alone\n\nBoth built-in checkers on the same files, rows already read and checkers already trained: featurise, run through onnxruntime (CPU, batches of 512), ` +
    `then q, d and the IMP weights (\`scoreRows\`, what the score job runs). On 1 thread (onnxruntime's default intra-op threads) and on worker threads (\`score --threads\`; here ${threads}, one per core, each worker's sessions on one intra-op thread, whole chunks of 16,384 rows each, so fewer chunks leave workers out), alternated in this process with a baseline: the TypeScript forward pass of the same two models on the same rows, featurisation included. Best of 3 alternated rounds (1 round from 1,000,000 rows). Load average at the start: ${os.loadavg().map((x) => x.toFixed(2)).join(', ')}.\n\n` +
    `| rows | 1 thread | rows/s (1 thread) | workers | on workers | rows/s (workers) | workers ÷ 1 thread | rows/s (TypeScript forward) | onnxruntime 1 thread ÷ TypeScript |\n|---|---|---|---|---|---|---|---|---|\n${lines.join('\n')}\n\n` +
    `Goal: ≥ 200,000 rows/s through onnxruntime with every core.\n`
  );
}

/** Sections that other benchmark scripts print, when they are built. */
function externalSections(scripts: readonly (readonly [script: string, title: string, args: readonly string[]])[]): void {
  for (const [script, title, args] of scripts) {
    const file = path.join(__dirname, script);
    if (!existsSync(file)) {
      sections.push(`## ${title}\n\nNot measured: \`scripts/${script.replace('.js', '.ts')}\` is not part of this build yet.\n`);
      continue;
    }
    const run = spawnSync(process.execPath, [file, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 << 20 });
    sections.push(run.status === 0 ? run.stdout.trim() + '\n' : `## ${title}\n\nFailed (exit ${run.status}).\n`);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { data: { type: 'string' }, out: { type: 'string' }, quick: { type: 'boolean' }, curve: { type: 'string' }, only: { type: 'string' } } });
  // --only trainer,pairs,onnx,jsonl,memory,external,finetune: a subset of the sections (the report then holds only those).
  // finetune (MiniLM against PyTorch) says it was skipped where the Python of scripts/export-minilm.sh is absent.
  const only = new Set((values.only ?? 'trainer,pairs,onnx,jsonl,memory,external,finetune').split(','));
  const curve = values.curve ? values.curve.split(',').map(Number) : values.quick ? [20_000, 60_000] : [10_000, 100_000, 300_000];
  const dataDir = path.resolve(values.data ?? path.join(root, '..', 'shared', 'data'));
  const out = path.resolve(values.out ?? path.join(root, 'BENCHMARKS.md'));
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'dimp-bench-'));
  const started = Date.now();
  try {
    if (only.has('trainer')) {
      log('trainer vs fastText…');
      await trainerVsFastText(dataDir, scratch);
    }
    if (only.has('pairs')) {
      log('sentence pairs vs single texts…');
      await pairsVsSingle(dataDir, values.quick ? 1 : 3);
    }
    if (only.has('onnx')) {
      log('onnxruntime vs TypeScript…');
      await onnxVsTypeScript(scratch);
    }
    if (only.has('jsonl')) {
      log('JSONL decoding vs raw read…');
      await jsonlVsRawRead(scratch, values.quick ? 200_000 : 1_000_000);
    }
    if (only.has('memory')) {
      log('peak memory of scoring…');
      await peakMemory(scratch, curve);
    }
    if (only.has('external')) {
      externalSections([
        ['bench-transformer.js', 'Transformer pipeline vs raw session.run', []],
        ['bench-editor.js', 'Editor: decorations and hovers', []],
      ]);
    }
    if (only.has('finetune')) {
      log('fine-tuning vs PyTorch CPU…');
      externalSections([['bench-finetune.js', 'Fine-tuning vs PyTorch CPU', values.quick ? ['--rounds', '3'] : []]]);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout
  }
  const report = `# Benchmarks

Generated by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}, commit \`${commit}\`, in ${((Date.now() - started) / 1000).toFixed(0)} s.
Machine: ${machine()}.
Every figure in bold is a ratio to a baseline measured in the same run, so it holds up better than raw
throughput when the machine is shared or busy.

${sections.join('\n')}`;
  // What follows the marker in the existing file is written by hand (profiles, what is left): kept as it is.
  const previous = existsSync(out) ? readFileSync(out, 'utf8') : '';
  const kept = previous.indexOf(HAND_WRITTEN_MARKER);
  await writeFileAtomic(out, kept >= 0 ? `${report.trimEnd()}\n\n${previous.slice(kept)}` : report);
  process.stdout.write(report);
}

void main();
