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
import { liveTrainingThreads, startedTrainingThreads } from '../../src/core/train/hogwild';
import { DEFAULT_CLASSIFIER_SETTINGS, toEvaluationSet, trainNgram, type NgramSettings } from '../../src/core/train/ngramTraining';
import { evaluateProbabilities } from '../../src/core/train/metrics';
import { predictProbabilities } from '../../src/core/train/trainer';
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

  test('the same seed gives the same model in deterministic mode', async () => {
    const { train } = await sample();
    const request = { rows: train.slice(0, 1500), numClasses: 3, settings: { ...DEFAULT_CLASSIFIER_SETTINGS, epochs: 2 }, loss: 'ce' as const, seed: 3, threads: 2 };
    const a = await trainNgram(request, { deterministicThreads: true });
    const b = await trainNgram(request, { deterministicThreads: true });
    assertSameBits(a.model.parameters(), b.model.parameters());
  });

  test('free threads train as well as one (test accuracy within 3 points) and every parameter stays finite', async () => {
    const { train, validation, test: testRows } = await sample();
    const settings: NgramSettings = { ...DEFAULT_CLASSIFIER_SETTINGS, epochs: 4 };
    const accuracy = async (threads: number) => {
      const trained = await trainNgram({ rows: train, numClasses: 3, settings, loss: 'ce', seed: 1, validation, threads });
      assert.equal(trained.result.threads, threads);
      const p = trained.model.parameters();
      assert.ok(p.embeddings.every(Number.isFinite) && p.weight.every(Number.isFinite), 'finite parameters');
      const set = toEvaluationSet(trained.featurizer, testRows);
      return evaluateProbabilities(predictProbabilities(trained.model, set.features, set.count), set.labels, 3).accuracy;
    };
    const one = await accuracy(1);
    const two = await accuracy(2);
    assert.ok(one > 0.7, `one thread: ${one}`);
    assert.ok(Math.abs(two - one) <= 0.03, `one thread ${one}, two threads ${two}`);
    assert.equal(liveTrainingThreads(), 0);
  });

  test('a recipe the threads cannot run trains on one thread and says why', async () => {
    const { train } = await sample();
    const events: CoreEvent[] = [];
    const sgd = await trainNgram(
      { rows: train.slice(0, 500), numClasses: 3, settings: { ...DEFAULT_CLASSIFIER_SETTINGS, epochs: 1, optimizer: 'sgd', maxGradNorm: 1 }, loss: 'ce', seed: 1, threads: 4 },
      { onEvent: (e) => events.push(e) },
    );
    assert.equal(sgd.result.threads, 1);
    const warning = events.find((e) => e.type === 'log' && e.level === 'warning');
    assert.match(warning && warning.type === 'log' ? warning.message : '', /training on one thread, not 4: several training threads need the Adam optimizer/);
    assert.equal(events.find((e) => e.type === 'train-start')?.type === 'train-start' && (events.find((e) => e.type === 'train-start') as { threads?: number }).threads, 1);
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
