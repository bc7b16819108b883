// Benchmark of transformer checkers: rows/s of the whole scoring pipeline (read the JSONL, tokenize, run both
// checkers in their worker threads, compute q, d and the IMP weight) divided by rows/s of raw onnxruntime
// `session.run` on the same pre-tokenized batches, side by side in one process. Prints a Markdown section.
// Two pipeline figures: with the checkers already open (the stages above), and `scoreSynthetic` as the CLI
// runs it, which also starts both workers and sessions every time (a fixed cost that long files amortise).
//
//   node out/scripts/bench-transformer.js [--rows N] [--rounds N] [--device cpu|cuda|webgpu|auto]
//
// Many short rounds, each timing raw, pipeline and scoreSynthetic back to back, and the median of the
// per-round ratios: on a shared machine a burst of someone else's work then spoils a few rounds, not the figure.
//
// The model is BERT-mini-sized (4 layers, hidden 256, 4 heads, intermediate 1024) with seeded random weights
// (as fast as trained ones), built by scripts/test-models.ts with the real BERT uncased tokenizer from the
// project's shared data when present, else with a small vocabulary built from the sample. Every row is long
// enough to be cut at 128 tokens, so every batch is 32 × 128 on both sides.
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { loadClassifier } from '../src/core/model/modelFolder';
import { loadProjectData } from '../src/core/pipeline';
import { TransformerEngine } from '../src/core/model/transformer/engine';
import { readConfigJson, readTransformerFolder } from '../src/core/model/transformer/folder';
import { openModelSession, type DeviceChoice } from '../src/core/runtime/onnxRuntime';
import { DEFAULT_CHECKER_SETTINGS } from '../src/core/train/ngramTraining';
import { scoreSynthetic } from '../src/core/jobs/checkers';
import { DEFAULT_WEIGHT_GUARDS, impWeight } from '../src/core/weighting/weights';
import { BERT_MINI, buildWordPieceTokenizer, randomBertWeights, readTokenizerJson, sampleTexts, SHARED_BERT_TOKENIZER, writeTestModelFolder } from './test-models';

const BATCH = 32;
const SEQUENCE = 128;
const LABELS = ['negative', 'neutral', 'positive'];

/** Rows of review-like text, each well over 128 tokens, as a synthetic JSONL file. */
async function writeRows(file: string, count: number, root: string): Promise<void> {
  const sentences = sampleTexts(root);
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const parts: string[] = [];
    for (let k = 0; parts.join(' ').split(/\s+/).length < 160; k++) parts.push(sentences[(i * 7 + k * 13) % sentences.length]!);
    lines.push(JSON.stringify({ text: parts.join(' '), label: LABELS[i % LABELS.length] }));
  }
  await fs.writeFile(file, lines.join('\n') + '\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rows: { type: 'string' }, rounds: { type: 'string' }, device: { type: 'string' } } });
  const rows = Math.max(1, Math.ceil(Number(values.rows ?? 96) / BATCH)) * BATCH;
  const rounds = Math.max(1, Number(values.rounds ?? 15));
  const device = (values.device ?? 'cpu') as DeviceChoice;
  const root = path.resolve(__dirname, '..', '..');
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'dimp-bench-'));
  try {
    const sharedTokenizer = path.join(root, SHARED_BERT_TOKENIZER);
    const haveShared = await fs.stat(sharedTokenizer).then(() => true, () => false);
    const { tokenizer, vocabSize } = haveShared ? readTokenizerJson(sharedTokenizer) : (() => {
      const built = buildWordPieceTokenizer(sampleTexts(root));
      return { tokenizer: built, vocabSize: Object.keys(built.model.vocab).length };
    })();
    const shape = { ...BERT_MINI, vocabSize };
    const folders: string[] = [];
    for (const [name, seed] of [['quality', 1], ['diversity', 2]] as const) {
      folders.push(
        await writeTestModelFolder(path.join(work, name), {
          weights: randomBertWeights(shape, seed, LABELS.length),
          graph: { output: 'sequence-classification', idType: 'int64', tokenTypeIds: true },
          tokenizer,
          labels: LABELS,
          modelMaxLength: SEQUENCE,
        }),
      );
    }
    const synthetic = path.join(work, 'synthetic.jsonl');
    await writeRows(synthetic, rows, root);

    // The baseline's batches: the pipeline's own tokenization, done before the clock starts.
    const data = await loadProjectData({ synthetic: { path: synthetic } }, { labels: LABELS });
    const texts = data.synthetic!.rows.map((r) => r.texts);
    const baselines: { session: Awaited<ReturnType<typeof openModelSession>>; feeds: ReturnType<TransformerEngine['feeds']>[] }[] = [];
    for (const folder of folders) {
      const files = await readTransformerFolder(folder, await readConfigJson(folder));
      const engine = await TransformerEngine.open({
        ...files,
        task: 'classify',
        numLabels: LABELS.length,
        device,
      });
      const encoded = engine.encode(texts);
      const feeds = [];
      for (let start = 0; start < encoded.length; start += BATCH) feeds.push(engine.feeds(engine.pad(encoded.slice(start, start + BATCH))));
      await engine.dispose();
      const shapes = new Set(feeds.map((f) => f.input_ids!.dims.join('×')));
      if (shapes.size !== 1 || !shapes.has(`${BATCH}×${SEQUENCE}`)) throw new Error(`batches are ${[...shapes].join(', ')}, expected ${BATCH}×${SEQUENCE}`);
      baselines.push({ session: await openModelSession(files.graphFile, device), feeds });
    }

    const raw = async (): Promise<number> => {
      const start = performance.now();
      for (const { session, feeds } of baselines) for (const feed of feeds) await session.run(feed);
      return (performance.now() - start) / 1000;
    };
    let provider = '';
    const checkers = [await loadClassifier(folders[0]!, device), await loadClassifier(folders[1]!, device)] as const;
    const openPipeline = async (): Promise<number> => {
      const start = performance.now();
      const project = await loadProjectData({ synthetic: { path: synthetic } }, { labels: LABELS });
      const synth = project.synthetic!.rows;
      const q = await checkers[0].predict(synth);
      const d = await checkers[1].predict(synth);
      const weights = synth.map((row, i) => impWeight(q[i * LABELS.length + row.label]!, d[i * LABELS.length + row.label]!, DEFAULT_WEIGHT_GUARDS));
      if (weights.length !== rows || !weights.every(Number.isFinite)) throw new Error('weights are missing');
      return (performance.now() - start) / 1000;
    };
    const pipeline = async (): Promise<number> => {
      const start = performance.now();
      const project = await loadProjectData({ synthetic: { path: synthetic } }, { labels: LABELS });
      const scores = await scoreSynthetic({
        synthetic: project.synthetic!,
        labelMap: project.labelMap,
        qualityModel: folders[0],
        diversityModel: folders[1],
        checkersDir: path.join(work, 'checkers'),
        checkerSettings: DEFAULT_CHECKER_SETTINGS,
        seed: 1,
        guards: DEFAULT_WEIGHT_GUARDS,
        device,
      });
      if (scores.rows.length !== rows) throw new Error(`scored ${scores.rows.length} rows of ${rows}`);
      provider = scores.header.provider;
      return (performance.now() - start) / 1000;
    };

    // Warm-up (first runs allocate), then alternate so drift in machine load hits every side alike.
    for (const { session, feeds } of baselines) await session.run(feeds[0]!);
    for (const checker of checkers) await checker.predict([{ texts: ['warm up'] }]);
    // CPU seconds of the whole process (every thread: main, workers, onnxruntime's pools) alongside the wall
    // clock: on a machine shared with other work they vary far less, so they show the pipeline's own overhead.
    const rawCpu: number[] = [];
    const openCpu: number[] = [];
    const timedCpu = async (work: () => Promise<number>, into: number[]): Promise<number> => {
      const before = process.cpuUsage();
      const seconds = await work();
      const used = process.cpuUsage(before);
      into.push((used.user + used.system) / 1e6);
      return seconds;
    };
    const rawSeconds: number[] = [];
    const openSeconds: number[] = [];
    const pipelineSeconds: number[] = [];
    for (let round = 0; round < rounds; round++) {
      rawSeconds.push(await timedCpu(raw, rawCpu));
      openSeconds.push(await timedCpu(openPipeline, openCpu));
      pipelineSeconds.push(await pipeline());
    }
    for (const { session } of baselines) await session.release();
    for (const checker of checkers) await checker.dispose();

    const total = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
    const rate = (xs: number[]): number => (rows * rounds) / total(xs);
    const rawRate = rate(rawSeconds);
    // Each round's ratio compares runs seconds apart; the median of rounds resists a burst of load elsewhere.
    const ratios = (xs: number[]): number[] => rawSeconds.map((r, i) => r / xs[i]!);
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
    const ratio = median(ratios(openSeconds));
    const startup = median(pipelineSeconds.map((p, i) => p - openSeconds[i]!));
    // Ratio of a run of n rows that also starts the checkers: raw time ÷ (pipeline time + start-up).
    const withStartup = (n: number): number => n / rawRate / (n / (ratio * rawRate) + startup);
    const perRound = (xs: number[]): string => ratios(xs).map((r) => r.toFixed(2)).join(', ');
    const cpus = os.cpus();
    const lines = [
      '## Transformer checkers: pipeline vs raw `session.run`',
      '',
      `BERT-mini-sized classifiers (${shape.layers} layers, hidden ${shape.hidden}, ${shape.heads} heads, intermediate ${shape.intermediate}, vocabulary ${vocabSize}` +
        `${haveShared ? ', BERT uncased WordPiece' : ', sample WordPiece (shared tokenizer absent)'}; random seeded weights), quality and diversity checker.`,
      `${rows} rows × ${rounds} rounds, batch ${BATCH}, sequence ${SEQUENCE}; provider ${provider} (asked: ${device}); ${cpus.length} × ${cpus[0]?.model ?? 'CPU'}; Node ${process.version}.`,
      '',
      '| | seconds per round | rows/s |',
      '|---|---:|---:|',
      `| raw \`session.run\`, both checkers, pre-tokenized batches | ${(total(rawSeconds) / rounds).toFixed(2)} | ${rawRate.toFixed(1)} |`,
      `| whole pipeline, checkers open: read, tokenize, run (worker threads), weight | ${(total(openSeconds) / rounds).toFixed(2)} | ${rate(openSeconds).toFixed(1)} |`,
      `| the same through \`scoreSynthetic\`, which also starts both checkers' workers and sessions | ${(total(pipelineSeconds) / rounds).toFixed(2)} | ${rate(pipelineSeconds).toFixed(1)} |`,
      '',
      `**Ratio pipeline ÷ raw: ${ratio.toFixed(3)}** (median of ${rounds} rounds; target ≥ 0.85; per round: ${perRound(openSeconds)}).`,
      `CPU seconds per round (all threads): raw ${(total(rawCpu) / rounds).toFixed(2)}, pipeline ${(total(openCpu) / rounds).toFixed(2)}: ` +
        `ratio ${(total(rawCpu) / total(openCpu)).toFixed(3)}, what the pipeline adds in work whatever else the machine runs.`,
      `Starting both checkers (workers, tokenizers, sessions) adds ${startup.toFixed(2)} s per scoring run (median), once per file: ` +
        `${withStartup(rows).toFixed(2)} of raw at ${rows} rows, ${withStartup(10000).toFixed(2)} at 10,000.`,
      '',
    ];
    process.stdout.write(lines.join('\n'));
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
