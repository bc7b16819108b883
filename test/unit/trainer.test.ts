import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadDataset, type Dataset } from '../../src/core/data/dataset';
import { LabelMap } from '../../src/core/data/labels';
import { DimpError } from '../../src/core/errors';
import type { FeatureMatrix } from '../../src/core/model/featurizer';
import { NgramClassifier, type NgramParameters } from '../../src/core/model/ngramClassifier';
import { SeededRandom } from '../../src/core/random';
import { runTraining, type TrainRunRequest } from '../../src/core/train/run';
import { DEFAULT_CLASSIFIER_SETTINGS } from '../../src/core/train/ngramTraining';
import { batchLoss } from '../../src/core/train/trainer';
import type { Scores } from '../../src/core/weighting/score';
import type { LossKind } from '../../src/protocol/events';
import { SAMPLE_DIR, temporaryFolder } from './helpers';

/** A small model whose every bucket already has a random embedding row. */
function randomModel(seed: number): NgramClassifier {
  const buckets = 16;
  const dim = 4;
  const numClasses = 3;
  const random = new SeededRandom(seed);
  const uniform = (n: number): Float32Array => Float32Array.from({ length: n }, () => random.next() * 2 - 1);
  const embeddings = uniform((buckets + 1) * dim);
  embeddings.fill(0, 0, dim);
  const parameters: NgramParameters = {
    shape: { buckets, dim, numClasses },
    rowOf: Int32Array.from({ length: buckets }, (_, i) => i + 1),
    embeddings,
    rows: buckets + 1,
    weight: uniform(dim * numClasses),
    bias: uniform(numClasses),
  };
  return NgramClassifier.fromParameters(parameters);
}

// Three rows of feature ids (with a repeated id) and their gold labels.
const features: FeatureMatrix = { ids: Int32Array.from([0, 3, 3, 7, 1, 2, 15, 4, 9, 9, 9, 12]), offsets: Int32Array.from([0, 4, 7, 12]), count: 3 };
const labels = [2, 0, 1];
const quality = [0.7, 0.2, 0.9];
const diversity = [0.5, 0.9, 0.05];
const examples = [0, 1, 2];

function objective(model: NgramClassifier, weights: ArrayLike<number>): number {
  const logits = new Float32Array(3 * 3);
  model.forward(features, examples, logits);
  const buffers = { probabilities: new Float32Array(9), gradLogits: new Float32Array(9), weights: new Float32Array(3) };
  return batchLoss(logits, labels, 3, 'ce', { epsilon: 1e-6, maxWeight: null }, undefined, undefined, buffers, weights).objective;
}

describe('gradient of the weighted loss', () => {
  for (const loss of ['ce', 'imp', 'dimp'] as LossKind[]) {
    test(`${loss}: backward matches central finite differences with the weights held fixed`, () => {
      const model = randomModel(7);
      const before = model.parameters();
      const logits = new Float32Array(9);
      model.forward(features, examples, logits);
      const buffers = { probabilities: new Float32Array(9), gradLogits: new Float32Array(9), weights: new Float32Array(3) };
      batchLoss(logits, labels, 3, loss, { epsilon: 1e-6, maxWeight: null }, quality, diversity, buffers);
      const weights = Array.from(buffers.weights);
      // One SGD step with learning rate 1 moves every parameter by minus its gradient.
      model.backward(buffers.gradLogits, 1, null);
      const stepped = model.parameters();
      const analytic = (pick: (p: NgramParameters) => Float32Array, i: number): number => pick(before)[i]! - pick(stepped)[i]!;

      const h = 1e-2;
      const numeric = (pick: (p: NgramParameters) => Float32Array, i: number): number => {
        const plus = structuredClone(before);
        pick(plus)[i]! += h;
        const minus = structuredClone(before);
        pick(minus)[i]! -= h;
        return (objective(NgramClassifier.fromParameters(plus), weights) - objective(NgramClassifier.fromParameters(minus), weights)) / (2 * h);
      };
      const checks: [string, (p: NgramParameters) => Float32Array, number][] = [];
      for (let i = 0; i < before.weight.length; i++) checks.push(['weight', (p) => p.weight, i]);
      for (let i = 0; i < before.bias.length; i++) checks.push(['bias', (p) => p.bias, i]);
      // Embedding rows of buckets 3 (used twice by row 0), 9 (three times by row 2) and 15, and of an unused bucket (5).
      for (const bucket of [3, 9, 15, 5]) for (let d = 0; d < 4; d++) checks.push([`embedding[${bucket}]`, (p) => p.embeddings, (bucket + 1) * 4 + d]);
      let nonZero = 0;
      for (const [name, pick, i] of checks) {
        const a = analytic(pick, i);
        const n = numeric(pick, i);
        if (Math.abs(a) > 1e-4) nonZero += 1;
        assert.ok(Math.abs(a - n) <= 2e-3 * Math.max(1, Math.abs(n)), `${name}[${i}]: backward ${a}, finite difference ${n}`);
      }
      assert.ok(nonZero > 20, 'the check covers non-trivial gradients');
    });
  }

  test('the gradient norm backward reports is the exact L2 norm of the step, and clipping caps it', () => {
    const squaredDistance = (a: NgramParameters, b: NgramParameters): number => {
      let sum = 0;
      for (const pick of [(p: NgramParameters) => p.weight, (p: NgramParameters) => p.bias, (p: NgramParameters) => p.embeddings]) {
        const x = pick(a);
        const y = pick(b);
        for (let i = 0; i < x.length; i++) sum += (x[i]! - y[i]!) ** 2;
      }
      return sum;
    };
    // Bucket 3 repeats within row 0 and appears in row 2; bucket 9 is in all three rows; 12 repeats in row 2.
    const shared: FeatureMatrix = { ids: Int32Array.from([3, 3, 9, 7, 9, 2, 9, 3, 12, 12]), offsets: Int32Array.from([0, 4, 7, 10]), count: 3 };
    const gradLogits = Float32Array.from([0.3, -0.1, -0.2, -0.25, 0.05, 0.2, 0.1, 0.1, -0.2]);
    const model = randomModel(11);
    const before = model.parameters();
    model.forward(shared, examples, new Float32Array(9));
    const norm = model.backward(gradLogits, 1, null);
    assert.ok(Math.abs(norm - Math.sqrt(squaredDistance(before, model.parameters()))) < 1e-5 * Math.max(1, norm));

    const clipped = randomModel(11);
    clipped.forward(shared, examples, new Float32Array(9));
    clipped.backward(gradLogits, 1, norm / 4);
    assert.ok(Math.abs(Math.sqrt(squaredDistance(before, clipped.parameters())) - norm / 4) < 1e-5 * Math.max(1, norm), 'a clipped step has length maxGradNorm');
  });

  test('dimp differs from ce: the same batch gives a different step', () => {
    const steps = (['ce', 'dimp'] as LossKind[]).map((loss) => {
      const model = randomModel(7);
      const logits = new Float32Array(9);
      model.forward(features, examples, logits);
      const buffers = { probabilities: new Float32Array(9), gradLogits: new Float32Array(9), weights: new Float32Array(3) };
      batchLoss(logits, labels, 3, loss, { epsilon: 1e-6, maxWeight: null }, quality, diversity, buffers);
      model.backward(buffers.gradLogits, 1, null);
      return model.parameters().weight;
    });
    assert.notDeepEqual(Array.from(steps[0]!), Array.from(steps[1]!));
  });
});

describe('training runs', () => {
  const labelMap = new LabelMap(['negative', 'neutral', 'positive']);
  let synthetic: Dataset;
  let validation: Dataset;
  let test_: Dataset;
  let scores: Scores;
  const folder = temporaryFolder();

  before(async () => {
    synthetic = await loadDataset(path.join(SAMPLE_DIR, 'synthetic.jsonl'), labelMap);
    validation = await loadDataset(path.join(SAMPLE_DIR, 'real_val.jsonl'), labelMap);
    test_ = await loadDataset(path.join(SAMPLE_DIR, 'real_test.jsonl'), labelMap);
    // Stand-in scores with a known pattern: a training run only reads q and d by row id.
    scores = {
      header: { kind: 'dimp-scores', version: 1, synthetic: synthetic.file, real: undefined, labels: [...labelMap.names], qualityChecker: 'test', diversityChecker: 'test', provider: 'cpu', guards: { epsilon: 1e-6, maxWeight: null }, createdAt: '', rows: synthetic.rows.length },
      rows: synthetic.rows.map((row, i) => ({ rowId: row.rowId, line: row.line, label: labelMap.nameOf(row.label), quality: 0.2 + 0.7 * ((i * 7919) % 100) / 100, diversity: 0.5, impWeight: 0, qualityLabel: 'neutral', qualityLabelProbability: 0.5 })),
    };
  });
  after(() => folder.cleanup());

  const request = (loss: LossKind, outDir: string, runName: string): TrainRunRequest => ({
    synthetic,
    labelMap,
    loss,
    scores,
    validation,
    test: test_,
    settings: { ...DEFAULT_CLASSIFIER_SETTINGS, epochs: 3 },
    seed: 42,
    guards: { epsilon: 1e-6, maxWeight: null },
    device: 'cpu',
    outDir,
    runName,
  });

  test('the same seed and data give identical metrics, weights and model bytes', async () => {
    const outDir = path.join(folder.dir, 'determinism');
    const a = await runTraining(request('dimp', outDir, 'a'));
    const b = await runTraining(request('dimp', outDir, 'b'));
    const strip = (m: typeof a) => m.epochs.map((e) => ({ ...e, seconds: 0, rowsPerSecond: 0 }));
    assert.deepEqual(strip(a), strip(b));
    assert.deepEqual(a.test, b.test);
    for (const file of ['weights.jsonl', path.join('model', 'model.onnx')]) {
      assert.ok(readFileSync(path.join(a.runDir, file)).equals(readFileSync(path.join(b.runDir, file))), `${file} differs between seeds`);
    }
    const c = await runTraining({ ...request('dimp', outDir, 'c'), seed: 43 });
    assert.notDeepEqual(strip(c).map((e) => e.trainLoss), strip(a).map((e) => e.trainLoss), 'another seed changes the run');
  });

  test('a run folder has the model, metrics, weights, log and configuration', async () => {
    const run = await runTraining(request('imp', path.join(folder.dir, 'layout'), 'imp'));
    for (const file of ['config.json', 'metrics.json', 'weights.jsonl', 'train-log.jsonl', 'model/config.json', 'model/model.onnx', 'model/featurizer.json']) {
      assert.ok(existsSync(path.join(run.runDir, file)), `${file} missing`);
    }
    const weights = readFileSync(path.join(run.runDir, 'weights.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { weight: number; quality: number; diversity: number });
    assert.equal(weights.length, synthetic.rows.length);
    for (const w of weights.slice(0, 50)) assert.ok(Math.abs(w.weight - w.quality / w.diversity) < 1e-5, 'IMP weights are q/d');
    const metrics = JSON.parse(readFileSync(path.join(run.runDir, 'metrics.json'), 'utf8')) as { epochs: { validation: unknown; test: unknown }[]; bestEpoch: number };
    assert.equal(metrics.epochs.length, 3);
    assert.ok(metrics.epochs.every((e) => e.validation && e.test), 'validation and test scores for every epoch');
    const best = Math.max(...metrics.epochs.map((e) => (e.validation as { accuracy: number }).accuracy));
    assert.equal((metrics.epochs[metrics.bestEpoch - 1]!.validation as { accuracy: number }).accuracy, best, 'the best epoch is the one with the best validation accuracy');
  });

  test('cancelling a run midway leaves no output files', async () => {
    const outDir = path.join(folder.dir, 'cancelled');
    const controller = new AbortController();
    let epochs = 0;
    await assert.rejects(
      runTraining({
        ...request('dimp', outDir, 'cancelled'),
        settings: { ...DEFAULT_CLASSIFIER_SETTINGS, epochs: 50 },
        signal: controller.signal,
        onEvent: (event) => {
          if (event.type === 'train-epoch' && ++epochs === 2) controller.abort();
        },
      }),
      (error: unknown) => error instanceof DimpError && error.kind === 'cancelled',
    );
    assert.equal(epochs, 2, 'the run stopped right after the abort');
    // The runs folder did not exist before the run: not even it is left.
    assert.ok(!existsSync(outDir), 'neither the run folder, its temporary folder, nor the runs folder it created is left');
  });

  test('imp and dimp without scores are refused with a message that says what to pass', async () => {
    await assert.rejects(runTraining({ ...request('dimp', path.join(folder.dir, 'x'), 'x'), scores: undefined }), /--scores FILE or --real FILE/);
  });
});
