/**
 * Fine-tuning as a product path: a tiny BERT-like classifier fine-tuned with DIMP through runTrainingJob (the
 * function the CLI, the editor's task and the worker call), on real onnxruntime sessions and the real tokenizer
 * code. Its run folder's model/ is an ordinary inference folder that loadClassifier, scoring and eval accept.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runEvaluationJob } from '../../src/core/jobs/evaluateJob';
import { runScoreJob } from '../../src/core/jobs/scoreJob';
import { resolveJobSettings } from '../../src/core/jobs/settings';
import { runTrainingJob } from '../../src/core/jobs/trainJob';
import type { TrainingJobSpec } from '../../src/core/jobs/trainJobSpec';
import { loadClassifier } from '../../src/core/model/modelFolder';
import { loadProjectData } from '../../src/core/pipeline';
import { argmaxRow } from '../../src/core/train/metrics';
import { DEFAULT_FINETUNE_SETTINGS, type FineTuneSettings } from '../../src/core/train/fineTuneTraining';
import { weightsAsInputs } from '../../src/core/finetune/fineTuner';
import { tensorFloats } from '../../src/core/finetune/graphIr';
import { openModelSession, tensor } from '../../src/core/runtime/onnxRuntime';
import { onnx } from 'onnx-proto';
import { BERT_TINY, buildBertOnnx, randomBertWeights } from '../../scripts/test-models';
import { readRunConfig, readRunMetrics, readRunWeights } from '../../src/core/train/runFolder';
import type { CoreEvent } from '../../src/core/events';
import { resolveTrainingJob, type EditorTrainingSettings } from '../../src/extension/training/jobRequest';
import { runCli, startCli } from './cliProcess';
import { temporaryFolder } from './helpers';
import { tinyModelFolder } from './transformerFixtures';

const ITEMS = ['headphones', 'speaker', 'microphone', 'battery', 'charger', 'keyboard', 'delivery', 'sound'];

/** An easy, separable two-label set: praise is positive, complaints negative. */
function rows(count: number, offset: number): { sentence: string; label: string }[] {
  return Array.from({ length: count }, (_, i) => {
    const item = ITEMS[(Math.floor(i / 2) + offset) % ITEMS.length]!;
    return i % 2 === 0
      ? { sentence: `The ${item} is excellent. Great value, I would highly recommend it.`, label: 'positive' }
      : { sentence: `The ${item} is terrible. Poor quality, I would not recommend it.`, label: 'negative' };
  });
}

const writeJsonl = (file: string, lines: readonly object[]): void => fs.writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');

describe('weightsAsInputs (the graph the fine-tuner evaluates epochs with)', () => {
  test('fed the initializers it took out, it gives the logits of the inference graph', async () => {
    const bytes = buildBertOnnx(randomBertWeights({ ...BERT_TINY, vocabSize: 40, maxPositions: 16 }, 8, 3), { output: 'sequence-classification', idType: 'int64', tokenTypeIds: true });
    const initializers = (onnx.ModelProto.decode(bytes).graph as onnx.GraphProto).initializer as onnx.TensorProto[];
    const trained = initializers.filter((t) => t.dataType === onnx.TensorProto.DataType.FLOAT && t.dims.length >= 2);
    const [rows, length] = [3, 7];
    const ids = BigInt64Array.from({ length: rows * length }, (_, i) => BigInt(1 + ((i * 11) % 39)));
    const feeds = {
      input_ids: tensor('int64', ids, [rows, length]),
      attention_mask: tensor('int64', new BigInt64Array(rows * length).fill(1n), [rows, length]),
      token_type_ids: tensor('int64', new BigInt64Array(rows * length), [rows, length]),
    };
    const plain = await openModelSession(bytes, 'cpu');
    const open = await openModelSession(weightsAsInputs(bytes, new Set(trained.map((t) => t.name))), 'cpu');
    try {
      assert.equal(open.inputNames.length, 3 + trained.length);
      const weightFeeds = Object.fromEntries(trained.map((t) => [t.name, tensor('float32', Float32Array.from(tensorFloats(t)!), t.dims.map(Number))]));
      const expected = (await plain.run(feeds)).logits!.data as Float32Array;
      const actual = (await open.run({ ...feeds, ...weightFeeds })).logits!.data as Float32Array;
      // Equal up to float32 rounding (the plain graph may fold constants the other cannot).
      assert.equal(actual.length, expected.length);
      expected.forEach((z, i) => assert.ok(Math.abs(actual[i]! - z) <= 1e-5 * Math.max(1, Math.abs(z)), `logit ${i}: ${actual[i]} vs ${z}`));
    } finally {
      await plain.release();
      await open.release();
    }
  });
});

describe('fine-tuning a transformer classifier through runTrainingJob', () => {
  let dir: string;
  let cleanup: () => void;
  let modelDir: string;
  let spec: (name: string, settings?: Partial<FineTuneSettings>) => TrainingJobSpec;

  before(async () => {
    ({ dir, cleanup } = temporaryFolder());
    writeJsonl(path.join(dir, 'synthetic.jsonl'), rows(32, 0));
    writeJsonl(path.join(dir, 'real.jsonl'), rows(16, 3));
    writeJsonl(path.join(dir, 'validation.jsonl'), rows(12, 5));
    writeJsonl(path.join(dir, 'test.jsonl'), rows(12, 6));
    modelDir = (await tinyModelFolder(path.join(dir, 'tiny-bert'), { seed: 5, labels: ['negative', 'positive'] })).dir;
    const job = resolveJobSettings({}, {});
    spec = (name, settings = {}) => ({
      loss: 'dimp',
      synthetic: { path: path.join(dir, 'synthetic.jsonl') },
      real: { path: path.join(dir, 'real.jsonl') },
      validation: { path: path.join(dir, 'validation.jsonl') },
      test: { path: path.join(dir, 'test.jsonl') },
      labels: ['negative', 'positive'],
      scoresFile: path.join(dir, 'synthetic.scores.jsonl'),
      settings: job.settings,
      checkerSettings: job.checkerSettings,
      finetune: { ...DEFAULT_FINETUNE_SETTINGS, model: modelDir, epochs: 4, batchSize: 8, learningRate: 1e-3, maxLength: 32, ...settings },
      seed: 3,
      guards: job.guards,
      device: 'cpu',
      outDir: path.join(dir, 'runs'),
      runName: name,
    });
  });
  after(() => cleanup());

  test('DIMP fine-tuning learns the set, and model/ is an inference folder with the best epoch weights', async () => {
    const events: CoreEvent[] = [];
    const run = await runTrainingJob(spec('dimp-run'), { onEvent: (e) => events.push(e) });
    assert.equal(run.scored, true, 'scored the synthetic rows first with checkers trained on the real rows');

    // The memory estimate is reported before the first step.
    const memoryLine = events.findIndex((e) => e.type === 'log' && /memory about .* AdamW moments/.test(e.message));
    assert.ok(memoryLine >= 0 && memoryLine < events.findIndex((e) => e.type === 'train-progress'), 'memory estimate before training');

    const metrics = (await readRunMetrics(run.runDir))!;
    assert.equal(metrics.epochs.length, 4);
    assert.ok(metrics.epochs[3]!.trainCrossEntropy < 0.5 * metrics.epochs[0]!.trainCrossEntropy, `cross-entropy per epoch: ${metrics.epochs.map((e) => e.trainCrossEntropy.toFixed(3)).join(' → ')}`);
    assert.equal(metrics.validation?.accuracy, 1, 'the separable set is learned');
    assert.equal(metrics.finetune?.optimizerSteps, 16);
    assert.ok(metrics.finetune!.parameters > 100_000 && metrics.finetune!.memory.totalBytes > metrics.finetune!.parameters * 16);
    assert.equal(metrics.provider, 'cpu');
    // DIMP weights q/p(gold) are recorded per row, and differ across rows.
    const weights = (await readRunWeights(run.runDir))!;
    assert.equal(weights.size, 16, "one weight per distinct row (duplicate lines share a row id)");
    assert.ok(new Set([...weights.values()].map((w) => w.toFixed(4))).size > 1);
    const config = (await readRunConfig(run.runDir))!;
    assert.equal(config.model, 'finetune');

    // The reported test score comes from model/ loaded afresh; it equals the trainer's own score of the best epoch.
    assert.deepEqual(metrics.test, metrics.epochs[metrics.bestEpoch - 1]!.test);
    const folder = path.join(run.runDir, 'model');
    assert.deepEqual(fs.readdirSync(folder).sort(), ['config.json', 'model.onnx', 'tokenizer.json', 'tokenizer_config.json']);
    const modelConfig = JSON.parse(fs.readFileSync(path.join(folder, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(modelConfig.id2label, { 0: 'negative', 1: 'positive' });
    assert.equal((modelConfig.dimp_finetune as { epoch: number }).epoch, metrics.bestEpoch);
    // The weights changed: the fine-tuned model predicts the validation rows, the original does not all of them.
    const data = await loadProjectData({ validation: { path: path.join(dir, 'validation.jsonl') } }, { labels: ['negative', 'positive'] });
    const accuracyOf = async (model: string): Promise<number> => {
      const classifier = await loadClassifier(model, 'cpu');
      try {
        const p = await classifier.predict(data.validation!.rows);
        return data.validation!.rows.filter((r, i) => argmaxRow(p, i, 2) === r.label).length / data.validation!.rows.length;
      } finally {
        await classifier.dispose();
      }
    };
    assert.equal(await accuracyOf(folder), metrics.validation!.accuracy);
    assert.ok((await accuracyOf(modelDir)) < 1, 'the random model does not already separate the set');

    // `eval` and `score --quality-model` accept the folder.
    const evaluation = await runEvaluationJob({ modelDir: folder, data: { path: path.join(dir, 'test.jsonl') }, device: 'cpu' });
    assert.equal(evaluation.accuracy, metrics.test!.accuracy);
    const scored = await runScoreJob({
      synthetic: { path: path.join(dir, 'synthetic.jsonl') },
      qualityModel: folder,
      scoresFile: path.join(dir, 'rescored.scores.jsonl'),
      checkersDir: path.join(dir, 'rescored.checkers'),
      checkerSettings: resolveJobSettings({}, {}).checkerSettings,
      seed: 1,
      guards: resolveJobSettings({}, {}).guards,
      device: 'cpu',
    });
    assert.equal(scored.scores.rows.length, 32);
    const q = scored.scores.rows.map((r) => r.quality);
    assert.ok(q.every((x) => x > 0 && x < 1));
    assert.ok(q.reduce((a, b) => a + b, 0) / q.length > 0.5, `the fine-tuned checker favours the gold labels: ${q.map((x) => x.toFixed(2)).join(' ')}`);
  });

  test('an encoder folder (token vectors, no logits) is fine-tuned with a new linear head into a classifier folder', async () => {
    const encoder = (await tinyModelFolder(path.join(dir, 'tiny-encoder'), { seed: 5 })).dir;
    const run = await runTrainingJob({ ...spec('encoder-run'), finetune: { ...spec('encoder-run').finetune!, model: encoder } });
    const metrics = (await readRunMetrics(run.runDir))!;
    assert.deepEqual(metrics.finetune?.newHead, { pooling: 'mean', input: 'last_hidden_state' });
    // A new head starts near chance: cross-entropy ≈ ln 2, then falls.
    assert.ok(Math.abs(metrics.epochs[0]!.trainCrossEntropy - Math.LN2) < 0.1, `first epoch CE ${metrics.epochs[0]!.trainCrossEntropy}`);
    assert.ok(metrics.epochs[3]!.trainCrossEntropy < metrics.epochs[0]!.trainCrossEntropy - 0.05);
    assert.equal(metrics.validation?.accuracy, 1);
    const folder = path.join(run.runDir, 'model');
    const modelConfig = JSON.parse(fs.readFileSync(path.join(folder, 'config.json'), 'utf8')) as { architectures: string[]; id2label: Record<string, string> };
    assert.deepEqual(modelConfig.architectures, ['DimpEncoderWithHead']);
    assert.deepEqual(modelConfig.id2label, { 0: 'negative', 1: 'positive' });
    const evaluation = await runEvaluationJob({ modelDir: folder, data: { path: path.join(dir, 'validation.jsonl') }, device: 'cpu' });
    assert.equal(evaluation.accuracy, metrics.validation!.accuracy, 'model/ gives the predictions the trainer selected the epoch on');
    assert.deepEqual(fs.readdirSync(encoder).sort(), ['config.json', 'model.onnx', 'tokenizer.json', 'tokenizer_config.json'], 'the encoder folder is left as it was');
  });

  test('gradient accumulation: two passes of 4 rows make the step one pass of 8 makes', async () => {
    const whole = await runTrainingJob(spec('whole', { epochs: 1 }), {});
    const accumulated = await runTrainingJob(spec('accumulated', { epochs: 1, batchSize: 4, gradientAccumulation: 2 }), {});
    const [a, b] = [(await readRunMetrics(whole.runDir))!, (await readRunMetrics(accumulated.runDir))!];
    assert.equal(a.finetune?.optimizerSteps, 4);
    assert.equal(b.finetune?.optimizerSteps, 4);
    // Same rows per step, same order: the same losses up to float32 summation order.
    assert.ok(Math.abs(a.epochs[0]!.trainLoss - b.epochs[0]!.trainLoss) < 1e-4 * Math.abs(a.epochs[0]!.trainLoss), `${a.epochs[0]!.trainLoss} vs ${b.epochs[0]!.trainLoss}`);
  });

  test('cancellation stops fine-tuning and leaves no run folder, whole or partial', async () => {
    const controller = new AbortController();
    const runs = path.join(dir, 'runs');
    const before = fs.existsSync(runs) ? fs.readdirSync(runs).sort() : [];
    await assert.rejects(
      runTrainingJob(spec('cancelled', { epochs: 50 }), {
        signal: controller.signal,
        onEvent: (e) => {
          if (e.type === 'train-progress') controller.abort();
        },
      }),
      /cancel/i,
    );
    assert.deepEqual(fs.readdirSync(runs).sort(), before);
  });

  test('a model folder without tokenizer.json is refused by name before scoring or training', async () => {
    const broken = path.join(dir, 'no-tokenizer');
    fs.cpSync(modelDir, broken, { recursive: true });
    fs.rmSync(path.join(broken, 'tokenizer.json'));
    const scoresFile = path.join(dir, 'broken.scores.jsonl');
    await assert.rejects(runTrainingJob({ ...spec('broken'), scoresFile, finetune: { ...spec('broken').finetune!, model: broken } }), (error: Error) => {
      assert.match(error.message, /no tokenizer\.json/);
      return true;
    });
    assert.equal(fs.existsSync(path.join(dir, 'runs', 'broken')), false);
    assert.equal(fs.existsSync(scoresFile), false, 'refused before scoring first');
  });
});

describe('dimp-curator train --finetune', () => {
  let dir: string;
  let cleanup: () => void;
  let args: string[];

  before(async () => {
    ({ dir, cleanup } = temporaryFolder());
    writeJsonl(path.join(dir, 'synthetic.jsonl'), rows(16, 0));
    writeJsonl(path.join(dir, 'validation.jsonl'), rows(8, 5));
    await tinyModelFolder(path.join(dir, 'tiny-bert'), { seed: 5, labels: ['negative', 'positive'] });
    args = ['train', '--finetune', 'tiny-bert', '--loss', 'ce', '--synthetic', 'synthetic.jsonl', '--validation', 'validation.jsonl', '--max-length', '32', '--out', 'runs', '--device', 'cpu'];
  });
  after(() => cleanup());

  test('--help documents the flags and their defaults', () => {
    const help = runCli(dir, ['train', '--help']);
    assert.equal(help.code, 0);
    for (const flag of ['--finetune DIR', '--warmup X', '--weight-decay X', '--grad-accum N', '--max-length N', '--lr X', '--batch-size N']) assert.ok(help.stdout.includes(flag), flag);
    assert.match(help.stdout, /--epochs 3 --batch-size 16 --lr 2e-5 --warmup 0\.1 --weight-decay 0\.01/);
  });

  test('the flags reach the run: recorded settings, optimiser steps from --batch-size and --grad-accum', () => {
    const run = runCli(dir, [...args, '--name', 'flags', '--epochs', '2', '--batch-size', '4', '--grad-accum', '2', '--lr', '1e-3', '--warmup', '0.25', '--weight-decay', '0', '--max-grad-norm', 'none']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /memory about/);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'runs', 'flags', 'config.json'), 'utf8')) as { model: string; settings: FineTuneSettings };
    assert.equal(config.model, 'finetune');
    assert.deepEqual(config.settings, { model: path.join(dir, 'tiny-bert'), epochs: 2, batchSize: 4, gradientAccumulation: 2, learningRate: 1e-3, warmupRatio: 0.25, weightDecay: 0, maxGradNorm: null, maxLength: 32 });
    const metrics = JSON.parse(fs.readFileSync(path.join(dir, 'runs', 'flags', 'metrics.json'), 'utf8')) as { finetune: { optimizerSteps: number } };
    assert.equal(metrics.finetune.optimizerSteps, 4, '16 rows in steps of 4 × 2, two epochs');
  });

  test('--device cuda: runs on CUDA where its provider is installed, else on the CPU with the reported fallback', () => {
    const run = runCli(dir, [...args, '--name', 'cuda', '--epochs', '1', '--device', 'cuda']);
    assert.equal(run.code, 0, run.stderr);
    const metrics = JSON.parse(fs.readFileSync(path.join(dir, 'runs', 'cuda', 'metrics.json'), 'utf8')) as { provider: string; finetune: { provider: string; fallbackReason?: string } };
    if (metrics.finetune.provider === 'cuda') return;
    assert.equal(metrics.finetune.provider, 'cpu');
    assert.match(metrics.finetune.fallbackReason ?? '', /cuda/i);
    assert.match(run.stderr, /warning: fine-tuning: using cpu \(cuda: /);
  });

  test('labels in another order than the model\'s: trained as the data\'s, with a warning that says how to keep the model\'s', () => {
    const run = runCli(dir, [...args, '--name', 'reordered', '--epochs', '1', '--labels', 'positive,negative']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /warning: the model's labels \(negative, positive\) are not the data's \(positive, negative\).*--labels negative,positive/);
    const modelConfig = JSON.parse(fs.readFileSync(path.join(dir, 'runs', 'reordered', 'model', 'config.json'), 'utf8')) as { id2label: Record<string, string> };
    assert.deepEqual(modelConfig.id2label, { 0: 'positive', 1: 'negative' });
  });

  test('clear errors: a setting out of range, a folder that is not there, two trainers at once', () => {
    const warmup = runCli(dir, [...args, '--name', 'bad', '--warmup', '2']);
    assert.equal(warmup.code, 2);
    assert.match(warmup.stderr, /--warmup/);
    const missing = runCli(dir, [...args, '--name', 'bad', '--finetune', 'no-such-model']);
    assert.equal(missing.code, 4);
    assert.match(missing.stderr, /no-such-model/);
    const both = runCli(dir, [...args, '--name', 'bad', '--encoder', 'tiny-bert']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /choose one/);
    assert.equal(fs.existsSync(path.join(dir, 'runs', 'bad')), false);
  });

  test('Ctrl-C during fine-tuning cancels it and leaves no run folder', async () => {
    const running = startCli(dir, [...args, '--name', 'interrupted', '--epochs', '3'], 'train:epoch');
    await running.waitFor('DIMP_CURATOR_PAUSED train:epoch');
    running.child.kill('SIGINT');
    const exit = await running.exited;
    assert.equal(exit.code, 130, exit.stderr);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'runs')).filter((name) => name.includes('interrupted')), []);
  });
});

describe('the editor\'s model kind "fine-tune a transformer" (a dimp task with "model": "finetune")', () => {
  const editor: EditorTrainingSettings = {
    labels: [],
    epsilon: undefined,
    maxWeight: undefined,
    device: 'cpu',
    realData: undefined,
    qualityModel: undefined,
    diversityModel: undefined,
    textFields: [],
    labelField: undefined,
    trusted: true,
  };

  test('resolves the config\'s finetune section and the task\'s epochs, and runs to an inference folder', async () => {
    const { dir, cleanup } = temporaryFolder();
    try {
      writeJsonl(path.join(dir, 'synthetic.jsonl'), rows(16, 0));
      writeJsonl(path.join(dir, 'validation.jsonl'), rows(8, 5));
      await tinyModelFolder(path.join(dir, 'models', 'tiny-bert'), { seed: 5, labels: ['negative', 'positive'] });
      const config = { datasets: { synthetic: 'synthetic.jsonl', validation: 'validation.jsonl' }, finetune: { model: 'models/tiny-bert', batchSize: 8, learningRate: 1e-3, maxLength: 32, maxGradNorm: null } };
      fs.writeFileSync(path.join(dir, 'dimp.config.json'), JSON.stringify(config));
      const resolve = (extra: Partial<EditorTrainingSettings>) =>
        resolveTrainingJob({ type: 'dimp', loss: 'ce', model: 'finetune', epochs: 2 }, { workspaceFolder: dir, settingsFor: () => ({ ...editor, ...extra }) });
      const { spec, info } = await resolve({});
      assert.deepEqual(spec.finetune, { ...DEFAULT_FINETUNE_SETTINGS, model: path.join(dir, 'models', 'tiny-bert'), epochs: 2, batchSize: 8, learningRate: 1e-3, maxLength: 32, maxGradNorm: null });
      assert.equal(info.epochs, 2);
      await assert.rejects(resolve({ trusted: false }), /trust the workspace/);

      const run = await runTrainingJob(spec);
      assert.equal((await readRunConfig(run.runDir))?.model, 'finetune');
      const classifier = await loadClassifier(path.join(run.runDir, 'model'), 'cpu');
      await classifier.dispose();

      fs.writeFileSync(path.join(dir, 'dimp.config.json'), JSON.stringify({ datasets: config.datasets }));
      await assert.rejects(resolve({}), /"finetune": \{"model": "DIR"\}/);
    } finally {
      cleanup();
    }
  });
});
