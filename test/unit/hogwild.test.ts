// Hogwild training threads for the built-in classifier (`threads` > 1): the deterministic mode gives the single
// thread's bits (same shared table, moments, output layer, Adam step count and dropout stream, one batch at a
// time), free threads train as well as one, and every way a run ends leaves no thread behind.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { loadDataset } from '../../src/core/data/dataset';
import { LabelMap } from '../../src/core/data/labels';
import type { CoreEvent } from '../../src/core/events';
import { resolveJobSettings } from '../../src/core/jobs/settings';
import type { NgramParameters } from '../../src/core/model/ngramClassifier';
import { Featurizer } from '../../src/core/model/featurizer';
import { NgramClassifier } from '../../src/core/model/ngramClassifier';
import { HogwildTeam, liveTrainingThreads, startedTrainingThreads } from '../../src/core/train/hogwild';
import { DEFAULT_CLASSIFIER_SETTINGS, toEvaluationSet, trainNgram, type NgramSettings } from '../../src/core/train/ngramTraining';
import { evaluateProbabilities } from '../../src/core/train/metrics';
import { batchLoss, predictProbabilities } from '../../src/core/train/trainer';
import * as fs from 'node:fs';
import { jobSettings } from '../../src/cli/settings';
import { Reporter } from '../../src/cli/reporter';
import type { CommandContext } from '../../src/cli/command';
import { loadProjectConfig, type ProjectConfig } from '../../src/core/config';
import { runScoreJob } from '../../src/core/jobs/scoreJob';
import { runTrainingJob } from '../../src/core/jobs/trainJob';
import { SAMPLE_DIR, temporaryFolder } from './helpers';

const labels = new LabelMap(['negative', 'neutral', 'positive']);

async function sample() {
  const train = await loadDataset(path.join(SAMPLE_DIR, 'synthetic.jsonl'), labels);
  const validation = await loadDataset(path.join(SAMPLE_DIR, 'real_val.jsonl'), labels);
  const test = await loadDataset(path.join(SAMPLE_DIR, 'real_test.jsonl'), labels);
  return { train: train.rows, validation: validation.rows, test: test.rows };
}

/** Each trained bucket's embedding row, the output layer and the bias: the model's function, whatever the row numbering. */
function byBucket(p: NgramParameters): { buckets: Map<number, Float32Array>; weight: Float32Array; bias: Float32Array } {
  const buckets = new Map<number, Float32Array>();
  const dim = p.shape.dim;
  for (let bucket = 0; bucket < p.rowOf.length; bucket++) {
    const row = p.rowOf[bucket]!;
    if (row !== 0) buckets.set(bucket, p.embeddings.slice(row * dim, (row + 1) * dim));
  }
  return { buckets, weight: p.weight, bias: p.bias };
}

/** Bit-for-bit equality of two models' functions; a zero row counts as an absent one. */
function assertSameBits(a: NgramParameters, b: NgramParameters): void {
  const x = byBucket(a);
  const y = byBucket(b);
  assert.deepEqual(Buffer.from(x.weight.buffer, x.weight.byteOffset, x.weight.byteLength), Buffer.from(y.weight.buffer, y.weight.byteOffset, y.weight.byteLength), 'output weights');
  assert.deepEqual(Buffer.from(x.bias.buffer, x.bias.byteOffset, x.bias.byteLength), Buffer.from(y.bias.buffer, y.bias.byteOffset, y.bias.byteLength), 'bias');
  const zero = new Float32Array(a.shape.dim);
  const bits = (v: Float32Array | undefined) => Buffer.from((v ?? zero).buffer, (v ?? zero).byteOffset, (v ?? zero).byteLength);
  let compared = 0;
  for (const bucket of new Set([...x.buckets.keys(), ...y.buckets.keys()])) {
    assert.deepEqual(bits(x.buckets.get(bucket)), bits(y.buckets.get(bucket)), `bucket ${bucket}`);
    compared++;
  }
  assert.ok(compared > 1000, `only ${compared} buckets trained`);
}

const quality = (rows: number) => Float32Array.from({ length: rows }, (_, i) => 0.2 + 0.7 * ((i * 7919) % 100) / 100);

describe('Hogwild training threads', () => {
  test('deterministic mode, 2 and 3 threads: the single thread’s bits (DIMP, n-gram dropout, linear decay, epoch selection)', async () => {
    const { train, validation } = await sample();
    const settings: NgramSettings = { ...DEFAULT_CLASSIFIER_SETTINGS, epochs: 3, schedule: 'linear' };
    assert.ok((settings.featureDropout ?? 0) > 0, 'the default recipe drops n-grams');
    const request = { rows: train, numClasses: 3, settings, loss: 'dimp' as const, seed: 7, quality: quality(train.length), validation };
    const one = await trainNgram(request);
    assert.equal(one.result.threads, 1);
    for (const threads of [2, 3]) {
      const many = await trainNgram({ ...request, threads }, { deterministicThreads: true });
      assert.equal(many.result.threads, threads);
      assert.equal(many.result.bestEpoch, one.result.bestEpoch);
      assertSameBits(one.model.parameters(), many.model.parameters());
      assert.deepEqual(many.result.lastWeights, one.result.lastWeights, 'each row’s last DIMP weight');
      assert.deepEqual(many.result.epochs.map((e) => e.validation?.accuracy), one.result.epochs.map((e) => e.validation?.accuracy));
    }
    assert.equal(liveTrainingThreads(), 0);
  });

  test('a shared model whose scratch is too small for a batch steps it with the scalar kernels on the shared memory: the same bits', async () => {
    const { train } = await sample();
    const featurizer = new Featurizer(DEFAULT_CLASSIFIER_SETTINGS.featurizer);
    const set = toEvaluationSet(featurizer, train);
    const shape = { buckets: DEFAULT_CLASSIFIER_SETTINGS.featurizer.buckets, dim: 64, numClasses: 3 };
    const own = new NgramClassifier(shape, 5);
    const shared = new NgramClassifier(shape, 5);
    for (const model of [own, shared]) model.useOptimizer('adam', { featureDropout: 0.5 });
    own.reserveRowsFor(set.features.ids);
    // 4 KiB of scratch: most batches of 32 need more, some fewer (both paths run).
    const sharing = shared.share(set.features.ids, [4096, 4096]);
    assert.ok('state' in sharing, 'reason' in sharing ? sharing.reason : '');
    const logits = new Float32Array(32 * 3);
    const buffers = { probabilities: new Float32Array(32 * 3), gradLogits: new Float32Array(32 * 3), weights: new Float32Array(32) };
    for (let start = 0; start + 32 <= 2048; start += 32) {
      const batch = Int32Array.from({ length: 32 }, (_, b) => (start * 7 + b * 13) % set.count);
      const labels = Int32Array.from(batch, (row) => set.labels[row]!);
      for (const model of [own, shared]) {
        model.forward(set.features, batch, logits, true);
        batchLoss(logits, labels, 3, 'ce', { epsilon: 1e-6, maxWeight: null }, undefined, undefined, buffers);
        model.backward(buffers.gradLogits, 0.01, null, false);
      }
    }
    shared.unshare();
    assertSameBits(own.parameters(), shared.parameters());
    assert.equal(shared.kernels, 'wasm', 'back on its own WebAssembly memory');
  });

  test('the same seed gives the same model in deterministic mode', async () => {
    const { train } = await sample();
    const request = { rows: train.slice(0, 1500), numClasses: 3, settings: { ...DEFAULT_CLASSIFIER_SETTINGS, epochs: 2 }, loss: 'ce' as const, seed: 3, threads: 2 };
    const a = await trainNgram(request, { deterministicThreads: true });
    const b = await trainNgram(request, { deterministicThreads: true });
    assertSameBits(a.model.parameters(), b.model.parameters());
  });

  test('free threads train as well as one (mean test accuracy over 2 seeds within 4 points) and every parameter stays finite', async () => {
    const { train, validation, test: testRows } = await sample();
    const settings: NgramSettings = { ...DEFAULT_CLASSIFIER_SETTINGS, epochs: 4 };
    const accuracy = async (threads: number) => (await accuracyOf(threads, 1)) / 2 + (await accuracyOf(threads, 2)) / 2;
    const accuracyOf = async (threads: number, seed: number) => {
      const trained = await trainNgram({ rows: train, numClasses: 3, settings, loss: 'ce', seed, validation, threads });
      assert.equal(trained.result.threads, threads);
      const p = trained.model.parameters();
      assert.ok(p.embeddings.every(Number.isFinite) && p.weight.every(Number.isFinite), 'finite parameters');
      const set = toEvaluationSet(trained.featurizer, testRows);
      return evaluateProbabilities(predictProbabilities(trained.model, set.features, set.count), set.labels, 3).accuracy;
    };
    const one = await accuracy(1);
    const two = await accuracy(2);
    assert.ok(one > 0.7, `one thread: ${one}`);
    assert.ok(Math.abs(two - one) <= 0.04, `one thread ${one}, two threads ${two}`);
    assert.equal(liveTrainingThreads(), 0);
  });

  test('threaded runs report progress within short epochs, as one thread does', async () => {
    const { train } = await sample();
    for (const threads of [1, 2]) {
      const progress: number[] = [];
      await trainNgram({ rows: train, numClasses: 3, settings: { ...DEFAULT_CLASSIFIER_SETTINGS, epochs: 30 }, loss: 'ce', seed: 1, threads }, {
        onEvent: (e) => {
          if (e.type === 'train-progress') {
            assert.ok(Number.isFinite(e.loss) && e.step > 0 && e.step <= e.totalSteps, JSON.stringify(e));
            progress.push(e.step);
          }
        },
        // A pause point: each epoch ends only after the run-wide throttle (250 ms) has passed once more, so the
        // count of progress events does not depend on the machine's speed.
        afterEpoch: async (epoch) => {
          if (epoch % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 260));
        },
      });
      assert.ok(progress.length >= 2, `${threads} thread(s): ${progress.length} progress events`);
      assert.deepEqual([...progress].sort((a, b) => a - b), progress, 'steps only grow');
    }
  });

  test('a recipe the threads cannot run trains on one thread and says why', async () => {
    const { train } = await sample();
    const events: CoreEvent[] = [];
    const sgd = await trainNgram(
      { rows: train.slice(0, 500), numClasses: 3, settings: { ...DEFAULT_CLASSIFIER_SETTINGS, epochs: 1, optimizer: 'sgd', maxGradNorm: 1 }, loss: 'ce', seed: 1, threads: 4 },
      { onEvent: (e) => events.push(e) },
    );
    assert.equal(sgd.result.threads, 1);
    assert.equal(sgd.model.kernels, 'wasm', 'the model was never shared');
    const warning = events.find((e) => e.type === 'log' && e.level === 'warning');
    assert.match(warning && warning.type === 'log' ? warning.message : '', /training on one thread, not 4: several training threads need the Adam optimizer/);
    assert.equal(events.find((e) => e.type === 'train-start')?.type === 'train-start' && (events.find((e) => e.type === 'train-start') as { threads?: number }).threads, 1);
  });

  test('cancelled before the threads start: no epoch runs', async () => {
    const { train } = await sample();
    const controller = new AbortController();
    controller.abort();
    let epochs = 0;
    await assert.rejects(
      trainNgram({ rows: train, numClasses: 3, settings: { ...DEFAULT_CLASSIFIER_SETTINGS, epochs: 3 }, loss: 'ce', seed: 1, threads: 2 }, { signal: controller.signal, onEvent: (e) => void (e.type === 'train-epoch' && epochs++) }),
      (error: Error & { kind?: string }) => error.kind === 'cancelled',
    );
    assert.equal(epochs, 0);
    assert.equal(liveTrainingThreads(), 0);
  });

  test('a training thread that ends between epochs fails the next epoch at once (no hang) and leaves none behind', async () => {
    const { train } = await sample();
    const featurizer = new Featurizer(DEFAULT_CLASSIFIER_SETTINGS.featurizer);
    const set = toEvaluationSet(featurizer, train);
    const model = new NgramClassifier({ buckets: DEFAULT_CLASSIFIER_SETTINGS.featurizer.buckets, dim: 64, numClasses: 3 }, 1);
    model.useOptimizer('adam', { featureDropout: 0.5 });
    const stepsPerEpoch = Math.ceil(set.count / 32);
    const run = { loss: 'ce' as const, guards: { epsilon: 1e-6, maxWeight: null }, batchSize: 32, learningRate: 0.01, schedule: 'constant' as const, stepsPerEpoch, totalSteps: 3 * stepsPerEpoch, count: set.count, numClasses: 3 };
    const started = await HogwildTeam.start(model, set, [], run, { threads: 2 }, 1);
    assert.ok('team' in started, 'reason' in started ? started.reason : '');
    const team = started.team;
    const order = Int32Array.from({ length: set.count }, (_, i) => i);
    const first = await team.runEpoch(1, order);
    assert.ok(first.objective > 0);
    await (team as unknown as { workers: { terminate(): Promise<number> }[] }).workers[0]!.terminate();
    await assert.rejects(team.runEpoch(2, order), /training thread: a training thread has ended/);
    await team.close();
    assert.equal(liveTrainingThreads(), 0);
    assert.ok(model.parameters().weight.every(Number.isFinite), 'the model is back in its own memory');
  });

  test('cancelled between epochs, or diverging inside one, the run stops and leaves no thread', async () => {
    const { train } = await sample();
    const controller = new AbortController();
    await assert.rejects(
      trainNgram({ rows: train, numClasses: 3, settings: { ...DEFAULT_CLASSIFIER_SETTINGS, epochs: 5 }, loss: 'ce', seed: 1, threads: 2 }, {
        signal: controller.signal,
        // The pause point after epoch 1: the run cannot finish before the cancellation lands.
        afterEpoch: async (epoch) => {
          if (epoch === 1) controller.abort();
        },
      }),
      (error: Error & { kind?: string }) => error.kind === 'cancelled',
    );
    assert.equal(liveTrainingThreads(), 0);
    // A quality of +∞ makes the first DIMP step's loss infinite, in whichever thread runs it.
    const q = quality(train.length);
    q[0] = Infinity;
    await assert.rejects(
      trainNgram({ rows: train, numClasses: 3, settings: { ...DEFAULT_CLASSIFIER_SETTINGS, epochs: 2 }, loss: 'imp', seed: 1, threads: 2, quality: q, diversity: new Float32Array(train.length).fill(0.5) }),
      (error: Error & { kind?: string }) => error.kind === 'diverged' && /training diverged at epoch 1, step \d+: the imp loss is/.test(error.message),
    );
    assert.equal(liveTrainingThreads(), 0);
  });

  test('a training job on 2 threads: recorded in config.json, the model folder exported and scored through onnxruntime', async () => {
    const { dir, cleanup } = temporaryFolder();
    try {
      const base = resolveJobSettings({ training: { threads: 2, epochs: 2 } });
      const events: CoreEvent[] = [];
      const run = await runTrainingJob(
        {
          loss: 'ce',
          synthetic: { path: path.join(SAMPLE_DIR, 'synthetic.jsonl') },
          validation: { path: path.join(SAMPLE_DIR, 'real_val.jsonl') },
          test: { path: path.join(SAMPLE_DIR, 'real_test.jsonl') },
          labels: ['negative', 'neutral', 'positive'],
          settings: base.settings,
          checkerSettings: base.checkerSettings,
          seed: 1,
          guards: base.guards,
          device: 'cpu',
          outDir: dir,
          runName: 'run',
        },
        { onEvent: (e) => events.push(e) },
      );
      const config = JSON.parse(fs.readFileSync(path.join(dir, 'run', 'config.json'), 'utf8')) as { settings: { threads?: number } };
      assert.equal(config.settings.threads, 2);
      // A recipe the threads cannot run: the run's config.json says it trained on one.
      await runTrainingJob({
        loss: 'ce',
        synthetic: { path: path.join(SAMPLE_DIR, 'synthetic.jsonl') },
        labels: ['negative', 'neutral', 'positive'],
        settings: { ...base.settings, optimizer: 'sgd', maxGradNorm: 1 },
        checkerSettings: base.checkerSettings,
        seed: 1,
        guards: base.guards,
        device: 'cpu',
        outDir: dir,
        runName: 'sgd',
      });
      const sgdConfig = JSON.parse(fs.readFileSync(path.join(dir, 'sgd', 'config.json'), 'utf8')) as { settings: { threads?: number; optimizer: string } };
      assert.deepEqual([sgdConfig.settings.optimizer, sgdConfig.settings.threads], ['sgd', undefined]);
      const start = events.find((e) => e.type === 'train-start');
      assert.equal(start && start.type === 'train-start' ? start.threads : undefined, 2);
      assert.ok((run.test?.accuracy ?? 0) > 0.6, `test accuracy ${run.test?.accuracy} (from the exported model)`);
      assert.equal(liveTrainingThreads(), 0);
    } finally {
      cleanup();
    }
  });

  test('a score job whose checkers train on 2 threads: the header records it, the scores are complete and finite', async () => {
    const { dir, cleanup } = temporaryFolder();
    try {
      const settings = resolveJobSettings({ checkers: { threads: 2, epochs: 3 } });
      assert.equal(settings.checkerSettings.threads, 2);
      assert.equal(settings.settings.threads, undefined, 'the classifier keeps its own count');
      const events: CoreEvent[] = [];
      const startedBefore = startedTrainingThreads();
      const result = await runScoreJob(
        {
          synthetic: { path: path.join(SAMPLE_DIR, 'synthetic.jsonl') },
          real: { path: path.join(SAMPLE_DIR, 'real_train.jsonl') },
          labels: ['negative', 'neutral', 'positive'],
          scoresFile: path.join(dir, 'sample.scores.jsonl'),
          checkersDir: path.join(dir, 'sample.checkers'),
          checkerSettings: settings.checkerSettings,
          seed: 1,
          guards: settings.guards,
          device: 'cpu',
        },
        { onEvent: (e) => events.push(e) },
      );
      const header = JSON.parse(fs.readFileSync(result.scoresFile, 'utf8').split('\n')[0]!) as { rows: number; checkers?: { settings?: { threads?: number } } };
      assert.equal(header.rows, 4000);
      assert.equal(header.checkers?.settings?.threads, 2);
      // Two checkers (the quality checker may be fitted twice: chosen on held-out rows, then refitted), 2 threads each.
      const threadsStarted = startedTrainingThreads() - startedBefore;
      assert.ok(threadsStarted >= 4 && threadsStarted % 2 === 0, `${threadsStarted} training threads started`);
      assert.ok(!events.some((e) => e.type === 'log' && /training on one thread/.test(e.message)), 'no fallback to one thread');
      assert.equal(result.scores.rows.length, 4000);
      for (const row of result.scores.rows) assert.ok(Number.isFinite(row.quality) && Number.isFinite(row.diversity), row.rowId);
      assert.equal(liveTrainingThreads(), 0);
    } finally {
      cleanup();
    }
  });

  test('--train-threads and training.threads are checked: a whole number from 1, or auto', async () => {
    const context = (values: CommandContext['values'], config: ProjectConfig = {}): CommandContext => ({ values, reporter: new Reporter(true), signal: new AbortController().signal, project: { file: undefined, config } });
    assert.equal(jobSettings(context({ 'train-threads': '3' })).settings.threads, 3);
    assert.equal(jobSettings(context({ 'train-threads': '2' }, { training: { threads: 4 } })).settings.threads, 2, 'the flag over the config');
    assert.throws(() => jobSettings(context({ 'train-threads': '0' })), /--train-threads/);
    assert.throws(() => jobSettings(context({ 'train-threads': 'many' })), /--train-threads/);
    assert.equal(jobSettings(context({ 'checker-threads': '2' }, { checkers: { threads: 4 } })).checkerSettings.threads, 2);
    assert.throws(() => jobSettings(context({ 'checker-threads': '0' })), /--checker-threads/);
    const { dir, cleanup } = temporaryFolder();
    try {
      for (const bad of [0, 1.5, '2', 'all']) {
        fs.writeFileSync(path.join(dir, 'dimp.config.json'), JSON.stringify({ training: { threads: bad } }));
        await assert.rejects(loadProjectConfig(undefined, dir), /"training.threads" must be a whole number from 1 to 1024, or "auto"/);
        fs.writeFileSync(path.join(dir, 'dimp.config.json'), JSON.stringify({ checkers: { threads: bad } }));
        await assert.rejects(loadProjectConfig(undefined, dir), /"checkers.threads" must be a whole number from 1 to 1024, or "auto"/);
      }
      fs.writeFileSync(path.join(dir, 'dimp.config.json'), JSON.stringify({ training: { threads: 'auto' } }));
      assert.equal((await loadProjectConfig(undefined, dir)).config.training?.threads, 'auto');
    } finally {
      cleanup();
    }
  });

  test('training.threads and --train-threads: a count, or auto; recorded only above one', () => {
    assert.equal(resolveJobSettings({}).settings.threads, undefined);
    assert.equal(resolveJobSettings({ training: { threads: 1 } }).settings.threads, undefined);
    assert.equal(resolveJobSettings({ training: { threads: 3 } }).settings.threads, 3);
    assert.equal(resolveJobSettings({ training: { threads: 3 } }, { threads: 2 }).settings.threads, 2);
    const auto = resolveJobSettings({}, { threads: 'auto' }).settings.threads;
    assert.ok(auto === undefined || auto >= 2, String(auto));
  });
});
