import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Row } from '../../src/core/data/dataset';
import { Featurizer, type FeatureMatrix } from '../../src/core/model/featurizer';
import { dropFeatureOccurrences, embeddingBagMean, lazyAdamRows, NgramClassifier, type NgramParameters } from '../../src/core/model/ngramClassifier';
import { SeededRandom } from '../../src/core/random';
import { DEFAULT_CLASSIFIER_SETTINGS, trainNgram } from '../../src/core/train/ngramTraining';
import { batchLoss, trainClassifier, type BatchLossBuffers } from '../../src/core/train/trainer';

// The n-gram classifier's kernels (embedding-bag forward, sparse backward, lazy Adam) checked against a
// plain scalar reference written from the definitions: one row at a time, one coordinate at a time, with
// Float32 storage rounding (Math.fround) wherever the model stores into a Float32Array. In deterministic
// (single-thread) mode the two must agree bit for bit, step after step.

const ADAM_BETA1 = 0.9;
const ADAM_BETA2 = 0.999;
const f = Math.fround;

/** The reference: the same model, written without any of the kernels' tricks. */
class ReferenceNgram {
  readonly rowOf = new Map<number, Float32Array>();
  readonly order: number[] = [];
  readonly moments = new Map<number, { m: Float32Array; v: Float32Array }>();
  weight: Float32Array;
  bias: Float32Array;
  mWeight: Float32Array;
  vWeight: Float32Array;
  mBias: Float32Array;
  vBias: Float32Array;
  step = 0;
  hidden: Float32Array[] = [];

  constructor(
    readonly dim: number,
    readonly numClasses: number,
    initial: NgramParameters,
    readonly optimizer: 'sgd' | 'adam',
    readonly epsilon = 1e-8,
    /** Decoupled weight decay, dense: every step shrinks the output weights and every row by (1 − lr·λ). */
    readonly weightDecay = 0,
  ) {
    this.weight = initial.weight.slice();
    this.bias = initial.bias.slice();
    this.mWeight = new Float32Array(this.weight.length);
    this.vWeight = new Float32Array(this.weight.length);
    this.mBias = new Float32Array(this.bias.length);
    this.vBias = new Float32Array(this.bias.length);
  }

  forward(features: FeatureMatrix, examples: readonly number[]): Float32Array {
    const { dim, numClasses } = this;
    const logits = new Float32Array(examples.length * numClasses);
    this.hidden = examples.map((example, b) => {
      const h = new Float32Array(dim);
      const start = features.offsets[example]!;
      const end = features.offsets[example + 1]!;
      for (let k = start; k < end; k++) {
        const row = this.rowOf.get(features.ids[k]!);
        if (row) for (let d = 0; d < dim; d++) h[d] = f(h[d]! + row[d]!);
      }
      const scale = 1 / Math.max(1, end - start);
      for (let d = 0; d < dim; d++) h[d] = f(h[d]! * scale);
      for (let c = 0; c < numClasses; c++) {
        let z = this.bias[c]!;
        for (let d = 0; d < dim; d++) if (h[d] !== 0) z = f(z + h[d]! * this.weight[d * numClasses + c]!);
        logits[b * numClasses + c] = z;
      }
      return h;
    });
    return logits;
  }

  backward(features: FeatureMatrix, examples: readonly number[], gradLogits: Float32Array, learningRate: number): void {
    const { dim, numClasses } = this;
    const gradWeight = new Float32Array(dim * numClasses);
    const gradBias = new Float32Array(numClasses);
    const gradHidden = examples.map((_, b) => {
      const gh = new Float32Array(dim);
      for (let c = 0; c < numClasses; c++) gradBias[c] = f(gradBias[c]! + gradLogits[b * numClasses + c]!);
      for (let d = 0; d < dim; d++) {
        let sum = 0;
        for (let c = 0; c < numClasses; c++) {
          const g = gradLogits[b * numClasses + c]!;
          gradWeight[d * numClasses + c] = f(gradWeight[d * numClasses + c]! + this.hidden[b]![d]! * g);
          sum += this.weight[d * numClasses + c]! * g;
        }
        gh[d] = f(sum);
      }
      return gh;
    });
    // Rows are created the first time a batch touches their bucket, in the order of occurrence.
    const rowGradients = new Map<number, Float32Array>();
    const touched: number[] = [];
    examples.forEach((example, b) => {
      const start = features.offsets[example]!;
      const end = features.offsets[example + 1]!;
      const share = 1 / Math.max(1, end - start);
      for (let k = start; k < end; k++) {
        const bucket = features.ids[k]!;
        if (!this.rowOf.has(bucket)) {
          this.rowOf.set(bucket, new Float32Array(dim));
          this.order.push(bucket);
          this.moments.set(bucket, { m: new Float32Array(dim), v: new Float32Array(dim) });
        }
        let g = rowGradients.get(bucket);
        if (!g) {
          g = new Float32Array(dim);
          rowGradients.set(bucket, g);
          touched.push(bucket);
        }
        if (this.optimizer === 'adam') for (let d = 0; d < dim; d++) g[d] = f(g[d]! + share * gradHidden[b]![d]!);
      }
    });
    if (this.weightDecay > 0) {
      const factor = 1 - learningRate * this.weightDecay;
      for (let i = 0; i < this.weight.length; i++) this.weight[i] = f(this.weight[i]! * factor);
      for (const row of this.rowOf.values()) for (let d = 0; d < dim; d++) row[d] = f(row[d]! * factor);
    }
    if (this.optimizer === 'sgd') {
      for (let i = 0; i < this.weight.length; i++) this.weight[i] = f(this.weight[i]! - learningRate * gradWeight[i]!);
      for (let c = 0; c < numClasses; c++) this.bias[c] = f(this.bias[c]! - learningRate * gradBias[c]!);
      examples.forEach((example, b) => {
        const start = features.offsets[example]!;
        const end = features.offsets[example + 1]!;
        const scale = learningRate / Math.max(1, end - start);
        for (let k = start; k < end; k++) {
          const row = this.rowOf.get(features.ids[k]!)!;
          for (let d = 0; d < dim; d++) row[d] = f(row[d]! - scale * gradHidden[b]![d]!);
        }
      });
      return;
    }
    const t = ++this.step;
    const stepSize = (learningRate * Math.sqrt(1 - ADAM_BETA2 ** t)) / (1 - ADAM_BETA1 ** t);
    const epsilonHat = this.epsilon * Math.sqrt(1 - ADAM_BETA2 ** t);
    const apply = (param: Float32Array, m: Float32Array, v: Float32Array, i: number, g: number): void => {
      const mi = ADAM_BETA1 * m[i]! + (1 - ADAM_BETA1) * g;
      const vi = ADAM_BETA2 * v[i]! + (1 - ADAM_BETA2) * g * g;
      m[i] = mi;
      v[i] = vi;
      param[i] = f(param[i]! - (stepSize * mi) / (Math.sqrt(vi) + epsilonHat));
    };
    for (let i = 0; i < this.weight.length; i++) apply(this.weight, this.mWeight, this.vWeight, i, gradWeight[i]!);
    for (let c = 0; c < numClasses; c++) apply(this.bias, this.mBias, this.vBias, c, gradBias[c]!);
    for (const bucket of touched) {
      const { m, v } = this.moments.get(bucket)!;
      const g = rowGradients.get(bucket)!;
      for (let d = 0; d < dim; d++) apply(this.rowOf.get(bucket)!, m, v, d, g[d]!);
    }
  }
}

/** Random rows of feature ids, with repeats within rows and buckets shared across rows. */
function randomFeatures(random: SeededRandom, rows: number, buckets: number): FeatureMatrix {
  const offsets = new Int32Array(rows + 1);
  const ids: number[] = [];
  for (let r = 0; r < rows; r++) {
    const n = r % 11 === 0 ? 0 : 1 + random.nextInt(40);
    for (let k = 0; k < n; k++) ids.push(random.next() < 0.3 ? random.nextInt(8) : random.nextInt(buckets));
    offsets[r + 1] = ids.length;
  }
  return { ids: Int32Array.from(ids), offsets, count: rows };
}

function assertSameBits(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) assert.fail(`${what}[${i}]: ${actual[i]} vs reference ${expected[i]}`);
  }
}

function compare(model: NgramClassifier, reference: ReferenceNgram, dim: number, what: string): void {
  const p = model.parameters();
  assertSameBits(p.weight, reference.weight, `${what} weight`);
  assertSameBits(p.bias, reference.bias, `${what} bias`);
  assert.equal(p.rows - 1, reference.order.length, `${what}: embedding rows`);
  reference.order.forEach((bucket, i) => {
    const row = p.rowOf[bucket]!;
    assert.equal(row, i + 1, `${what}: bucket ${bucket} gets row ${i + 1}`);
    assertSameBits(p.embeddings.subarray(row * dim, (row + 1) * dim), reference.rowOf.get(bucket)!, `${what} row ${row}`);
  });
}

describe('n-gram kernels against the scalar reference', () => {
  for (const optimizer of ['adam', 'sgd'] as const) {
    for (const [dim, reportNorm] of [[64, false], [7, false], [64, true]] as const) {
      test(`${optimizer}, dim ${dim}${reportNorm ? ', norm reported' : ''}: bit-identical parameters after every step`, () => {
        const numClasses = 3;
        const buckets = 4096; // more distinct buckets than the initial 1,024 rows: the table grows (or is reserved)
        const random = new SeededRandom(11 + dim);
        const features = randomFeatures(random, 300, buckets);
        const labels = Int32Array.from({ length: features.count }, () => random.nextInt(numClasses));
        const model = new NgramClassifier({ buckets, dim, numClasses }, 5);
        // Reserving the rows up front (before or after the optimiser's moments exist) must change no value.
        if (dim === 7) model.reserveRowsFor(features.ids);
        model.useOptimizer(optimizer);
        if (reportNorm) model.reserveRowsFor(features.ids);
        const reference = new ReferenceNgram(dim, numClasses, model.parameters(), optimizer);
        const batchSize = 16;
        const buffers: BatchLossBuffers = { probabilities: new Float32Array(batchSize * numClasses), gradLogits: new Float32Array(batchSize * numClasses), weights: new Float32Array(batchSize) };
        const order = Int32Array.from({ length: features.count }, (_, i) => i);
        for (let epoch = 0; epoch < 3; epoch++) {
          random.shuffle(order);
          for (let start = 0; start < features.count; start += batchSize) {
            const examples = Array.from(order.subarray(start, Math.min(start + batchSize, features.count)));
            const n = examples.length;
            const logits = new Float32Array(n * numClasses);
            model.forward(features, examples, logits);
            const expected = reference.forward(features, examples);
            assertSameBits(logits, expected, `logits at epoch ${epoch}, row ${start}`);
            const batchLabels = examples.map((e) => labels[e]!);
            batchLoss(logits, batchLabels, numClasses, 'ce', { epsilon: 1e-6, maxWeight: null }, undefined, undefined, buffers);
            const gradLogits = buffers.gradLogits.slice(0, n * numClasses);
            const learningRate = optimizer === 'adam' ? 0.01 : 0.5;
            model.backward(gradLogits, learningRate, null, reportNorm);
            reference.backward(features, examples, gradLogits, learningRate);
          }
          compare(model, reference, dim, `epoch ${epoch + 1}`);
        }
      });
    }
  }

  test('the same seed trains the same model, single texts and pairs, in every optimiser', async () => {
    const random = new SeededRandom(3);
    const words = Array.from({ length: 300 }, (_, i) => `w${i.toString(36)}`);
    const sentence = (): string => Array.from({ length: 5 + random.nextInt(20) }, () => words[random.nextInt(words.length)]).join(' ');
    const row = (i: number, texts: string[]): Row => ({ line: i + 1, byteOffset: 0, byteLength: 0, rawLabel: String(i % 2), rowId: `r${i}`, texts, label: i % 2 }) as unknown as Row;
    const single = Array.from({ length: 200 }, (_, i) => row(i, [sentence()]));
    const pairs = Array.from({ length: 200 }, (_, i) => row(i, [sentence(), sentence()]));
    for (const rows of [single, pairs]) {
      for (const settings of [DEFAULT_CLASSIFIER_SETTINGS, { ...DEFAULT_CLASSIFIER_SETTINGS, optimizer: 'sgd' as const, maxGradNorm: 1, init: 'fasttext' as const }]) {
        const train = (): Promise<NgramParameters> =>
          trainNgram({ rows, numClasses: 2, settings: { ...settings, epochs: 3 }, loss: 'dimp', seed: 9, quality: new Float32Array(rows.length).fill(0.7) }).then((t) => t.model.parameters());
        const [a, b] = [await train(), await train()];
        assertSameBits(a.embeddings, b.embeddings, 'embeddings');
        assertSameBits(a.weight, b.weight, 'weight');
        assertSameBits(a.rowOf, b.rowOf, 'rowOf');
      }
    }
  });

  test('pairs are featurised the same way one row at a time and all at once', () => {
    const featurizer = new Featurizer(DEFAULT_CLASSIFIER_SETTINGS.featurizer);
    const rows = [{ texts: ["It's a test, isn't it?", 'A test it is.'] }, { texts: ['', 'only the second'] }, { texts: ['one text'] }];
    const all = featurizer.featurizeAll(rows);
    rows.forEach((row, i) => assertSameBits(all.ids.subarray(all.offsets[i]!, all.offsets[i + 1]!), featurizer.featurize(row.texts), `row ${i}`));
  });

  for (const optimizer of ['adam', 'sgd'] as const) {
    test(`${optimizer} with weight decay: rows brought up to date lazily equal a dense decay of every row at every step`, () => {
      const numClasses = 2;
      const dim = 8;
      const buckets = 2048;
      const random = new SeededRandom(21);
      // Many rare buckets: most rows go untouched for many steps, then come back.
      const features = randomFeatures(random, 200, buckets);
      const labels = Int32Array.from({ length: features.count }, () => random.nextInt(numClasses));
      const weightDecay = 5;
      const learningRate = optimizer === 'adam' ? 0.01 : 0.1;
      const model = new NgramClassifier({ buckets, dim, numClasses }, 4);
      model.useOptimizer(optimizer, { weightDecay });
      const reference = new ReferenceNgram(dim, numClasses, model.parameters(), optimizer, 1e-8, weightDecay);
      const batchSize = 8;
      const buffers: BatchLossBuffers = { probabilities: new Float32Array(batchSize * numClasses), gradLogits: new Float32Array(batchSize * numClasses), weights: new Float32Array(batchSize) };
      const close = (actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void => {
        for (let i = 0; i < expected.length; i++) {
          const tolerance = 1e-5 * Math.max(1e-3, Math.abs(expected[i]!));
          if (!(Math.abs(actual[i]! - expected[i]!) <= tolerance)) assert.fail(`${what}[${i}]: ${actual[i]} vs dense reference ${expected[i]}`);
        }
      };
      let decayed = 0;
      for (let epoch = 0; epoch < 2; epoch++) {
        for (let start = 0; start < features.count; start += batchSize) {
          const examples = Array.from({ length: Math.min(batchSize, features.count - start) }, (_, i) => start + i);
          const n = examples.length;
          const logits = new Float32Array(n * numClasses);
          model.forward(features, examples, logits, true);
          close(logits, reference.forward(features, examples), `logits at epoch ${epoch}, row ${start}`);
          batchLoss(logits, examples.map((e) => labels[e]!), numClasses, 'ce', { epsilon: 1e-6, maxWeight: null }, undefined, undefined, buffers);
          const gradLogits = buffers.gradLogits.slice(0, n * numClasses);
          model.backward(gradLogits, learningRate, null, false);
          reference.backward(features, examples, gradLogits, learningRate);
        }
        const p = model.parameters();
        close(p.weight, reference.weight, `epoch ${epoch + 1} weight`);
        reference.order.forEach((bucket) => {
          const row = p.rowOf[bucket]!;
          const expected = reference.rowOf.get(bucket)!;
          close(p.embeddings.subarray(row * dim, (row + 1) * dim), expected, `epoch ${epoch + 1} bucket ${bucket}`);
          if (expected.some((x) => x !== 0)) decayed += 1;
        });
      }
      assert.ok(decayed > 100, `the check covered many trained rows (${decayed})`);
    });
  }

  test('feature dropout keeps each occurrence with probability 1 − p, in order, never empties a row, and is seeded', () => {
    const random = new SeededRandom(5);
    const features = randomFeatures(random, 400, 1000);
    const examples = Array.from({ length: 400 }, (_, i) => 399 - i);
    const dropped = dropFeatureOccurrences(features, examples, 0.5, new SeededRandom(9));
    assert.equal(dropped.count, 400);
    let kept = 0;
    let total = 0;
    examples.forEach((example, b) => {
      const source = Array.from(features.ids.subarray(features.offsets[example]!, features.offsets[example + 1]!));
      const row = Array.from(dropped.ids.subarray(dropped.offsets[b]!, dropped.offsets[b + 1]!));
      total += source.length;
      kept += row.length;
      if (source.length === 0) assert.equal(row.length, 0, `row ${b} stays empty`);
      else assert.ok(row.length >= 1, `row ${b} keeps at least one feature`);
      // A subsequence of the row's features.
      let i = 0;
      for (const id of row) {
        while (i < source.length && source[i] !== id) i++;
        assert.ok(i < source.length, `row ${b}: ${id} is one of the row's features, in order`);
        i++;
      }
    });
    assert.ok(Math.abs(kept / total - 0.5) < 0.05, `kept ${kept} of ${total}`);
    assert.deepEqual(dropFeatureOccurrences(features, examples, 0.5, new SeededRandom(9)), dropped);
    assert.deepEqual(Array.from(dropFeatureOccurrences(features, examples, 0, new SeededRandom(9)).ids), examples.flatMap((e) => Array.from(features.ids.subarray(features.offsets[e]!, features.offsets[e + 1]!))));
  });

  test('feature dropout changes training steps only: evaluation passes see every feature', () => {
    const numClasses = 2;
    const buckets = 512;
    const random = new SeededRandom(8);
    const features = randomFeatures(random, 64, buckets);
    const labels = Array.from({ length: features.count }, () => random.nextInt(numClasses));
    const withDropout = new NgramClassifier({ buckets, dim: 8, numClasses }, 3);
    const without = new NgramClassifier({ buckets, dim: 8, numClasses }, 3);
    withDropout.useOptimizer('adam', { featureDropout: 0.5 });
    without.useOptimizer('adam');
    const examples = Array.from({ length: 32 }, (_, i) => i);
    const buffers: BatchLossBuffers = { probabilities: new Float32Array(32 * numClasses), gradLogits: new Float32Array(32 * numClasses), weights: new Float32Array(32) };
    // One training step each: the dropout model steps on the kept features (the same draws as dropFeatureOccurrences).
    const kept = dropFeatureOccurrences(features, examples, 0.5, new SeededRandom(3 ^ 0x27d4eb2f));
    const keptExamples = examples.map((_, b) => b);
    for (const [model, input, rows] of [[withDropout, features, examples], [without, kept, keptExamples]] as const) {
      const logits = new Float32Array(32 * numClasses);
      model.forward(input, rows, logits, true);
      batchLoss(logits, examples.map((e) => labels[e]!), numClasses, 'ce', { epsilon: 1e-6, maxWeight: null }, undefined, undefined, buffers);
      model.backward(buffers.gradLogits.slice(0, 32 * numClasses), 0.01, null, false);
    }
    assertSameBits(withDropout.parameters().embeddings, without.parameters().embeddings, 'embeddings after one step');
    assertSameBits(withDropout.parameters().weight, without.parameters().weight, 'weight after one step');
    // Evaluation passes (training absent) use every feature, whatever the dropout.
    const a = new Float32Array(64 * numClasses);
    const b = new Float32Array(64 * numClasses);
    const all = Array.from({ length: 64 }, (_, i) => i);
    withDropout.forward(features, all, a);
    without.forward(features, all, b);
    assertSameBits(a, b, 'evaluation logits');
  });
});

// The two kernels on their own, against the code they replaced (sums through a Float32Array buffer, then
// adamStep on the buffer): random rows, repeated rows, -0 entries, dims with and without a remainder of 8.
describe('embeddingBagMean and lazyAdamRows against the buffered loops they replaced', () => {
  const dims = [64, 7, 8, 13, 1];
  const randomTable = (random: SeededRandom, rows: number, dim: number): Float32Array =>
    Float32Array.from({ length: rows * dim }, (_, i) => (i % 97 === 0 ? -0 : (random.next() * 2 - 1) * (i % 5 === 0 ? 1e-3 : 1)));

  for (const dim of dims) {
    test(`embeddingBagMean, dim ${dim}`, () => {
      const random = new SeededRandom(100 + dim);
      const emb = randomTable(random, 50, dim);
      for (let trial = 0; trial < 200; trial++) {
        const n = trial % 17 === 0 ? 0 : 1 + random.nextInt(60);
        const bag = Int32Array.from({ length: n }, () => random.nextInt(50) * dim);
        const total = n + random.nextInt(3); // features whose buckets were never trained count in the mean
        const scale = 1 / Math.max(1, total);
        // The replaced loop: accumulate into a zeroed Float32Array, then scale it in place.
        const expected = new Float32Array(dim + 3);
        for (const e of bag) for (let d = 0; d < dim; d++) expected[2 + d]! += emb[e + d]!;
        for (let d = 0; d < dim; d++) expected[2 + d]! *= scale;
        const actual = new Float32Array(dim + 3);
        embeddingBagMean(emb, bag, n, dim, scale, actual, 2);
        assertSameBits(actual, expected, `trial ${trial}`);
      }
    });

    test(`lazyAdamRows, dim ${dim}`, () => {
      const random = new SeededRandom(200 + dim);
      const rows = 40;
      const [emb, m, v] = [randomTable(random, rows, dim), randomTable(random, rows, dim).map(Math.abs), randomTable(random, rows, dim).map((x) => x * x)];
      const [emb2, m2, v2] = [emb.slice(), m.slice(), v.slice()];
      for (let step = 1; step <= 30; step++) {
        const count = 1 + random.nextInt(16);
        const gradHidden = randomTable(random, count, dim);
        const share = Float64Array.from({ length: count }, () => 1 / (1 + random.nextInt(30)));
        // Occurrences in order: (example, row); rows repeat within and across examples.
        const occurrences: [number, number][] = [];
        for (let b = 0; b < count; b++) for (let k = random.nextInt(12); k > 0; k--) occurrences.push([b, 1 + random.nextInt(rows - 1)]);
        const slotOf = new Map<number, number>();
        for (const [, row] of occurrences) if (!slotOf.has(row)) slotOf.set(row, slotOf.size);
        const slots = slotOf.size;
        const slotRow = Int32Array.from(slotOf.keys());
        const clip = step % 3 === 0 ? 0.37 : 1;
        const stepSize = 0.01 * Math.sqrt(1 - ADAM_BETA2 ** step) / (1 - ADAM_BETA1 ** step);
        const epsilonHat = 1e-8 * Math.sqrt(1 - ADAM_BETA2 ** step);
        // The replaced loops: every occurrence's share of dL/dh added into a per-slot Float32Array buffer, then
        // Adam on each slot's buffer (moments in double, stored as Float32; the step from the unrounded moments).
        const gradient = new Float32Array(slots * dim);
        for (const [b, row] of occurrences) for (let d = 0; d < dim; d++) gradient[slotOf.get(row)! * dim + d]! += share[b]! * gradHidden[b * dim + d]!;
        for (let slot = 0; slot < slots; slot++) {
          for (let d = 0; d < dim; d++) {
            const index = slotRow[slot]! * dim + d;
            const g = gradient[slot * dim + d]! * clip;
            const mi = ADAM_BETA1 * m2[index]! + (1 - ADAM_BETA1) * g;
            const vi = ADAM_BETA2 * v2[index]! + (1 - ADAM_BETA2) * g * g;
            m2[index] = mi;
            v2[index] = vi;
            emb2[index]! -= (stepSize * mi) / (Math.sqrt(vi) + epsilonHat);
          }
        }
        // The kernel's input: each slot's examples, in order of occurrence.
        const slotStart = new Int32Array(slots + 1);
        const lists = Array.from({ length: slots }, () => [] as number[]);
        for (const [b, row] of occurrences) lists[slotOf.get(row)!]!.push(b);
        lists.forEach((list, slot) => (slotStart[slot + 1] = slotStart[slot]! + list.length));
        lazyAdamRows(emb, m, v, dim, slotRow, slots, slotStart, Int32Array.from(lists.flat()), share, gradHidden, clip, stepSize, epsilonHat);
        assertSameBits(emb, emb2, `embeddings after step ${step}`);
        assertSameBits(m, m2, `first moments after step ${step}`);
        assertSameBits(v, v2, `second moments after step ${step}`);
      }
    });
  }
});

// The training set handed over with takeTrainingIds: its ids become the rows they map to (~row) as training
// passes find them, in place of a second array of one row per occurrence. The model must be the same, bit
// for bit, as one trained on a matrix it does not own (which it never writes), on either kernel.
describe('training ids mapped to rows in place', () => {
  const numClasses = 3;
  const buckets = 4096;
  const copyOf = (features: FeatureMatrix): FeatureMatrix => ({ ids: features.ids.slice(), offsets: features.offsets.slice(), count: features.count });
  const buffers: BatchLossBuffers = { probabilities: new Float32Array(16 * numClasses), gradLogits: new Float32Array(16 * numClasses), weights: new Float32Array(16) };

  /** Epochs of shuffled batches of 16, the same draws for every model given the same seed. */
  function trainEpochs(model: NgramClassifier, features: FeatureMatrix, labels: Int32Array, epochs: number, seed: number, maxGradNorm: number | null = null): void {
    const shuffler = new SeededRandom(seed);
    const order = Int32Array.from({ length: features.count }, (_, i) => i);
    const logits = new Float32Array(16 * numClasses);
    for (let epoch = 0; epoch < epochs; epoch++) {
      shuffler.shuffle(order);
      for (let start = 0; start < features.count; start += 16) {
        const batch = order.subarray(start, Math.min(features.count, start + 16));
        const n = batch.length;
        model.forward(features, batch, logits, true);
        batchLoss(logits, Int32Array.from(batch, (e) => labels[e]!), numClasses, 'ce', { epsilon: 1e-6, maxWeight: null }, undefined, undefined, buffers);
        model.backward(buffers.gradLogits.slice(0, n * numClasses), 0.05, maxGradNorm, false);
      }
    }
  }

  function assertSameModel(actual: NgramClassifier, expected: NgramClassifier, what: string): void {
    const a = actual.parameters();
    const b = expected.parameters();
    assertSameBits(a.rowOf, b.rowOf, `${what}: rowOf`);
    assertSameBits(a.embeddings, b.embeddings, `${what}: embeddings`);
    assertSameBits(a.weight, b.weight, `${what}: weight`);
    assertSameBits(a.bias, b.bias, `${what}: bias`);
  }

  for (const kernels of ['wasm', 'scalar'] as const) {
    for (const [optimizer, featureDropout] of [['adam', 0], ['adam', 0.5], ['sgd', 0], ['sgd', 0.3]] as const) {
      test(`${kernels} kernels, ${optimizer}, dropout ${featureDropout}: the same model as on a matrix the model does not own; only the owned matrix is written`, () => {
        const random = new SeededRandom(31);
        const features = randomFeatures(random, 300, buckets);
        const labels = Int32Array.from({ length: features.count }, () => random.nextInt(numClasses));
        const owned = copyOf(features);
        const other = copyOf(features);
        const shape = { buckets, dim: 8, numClasses };
        const mapped = new NgramClassifier(shape, 5, 'zero-embeddings', kernels);
        const plain = new NgramClassifier(shape, 5, 'zero-embeddings', kernels);
        assert.equal(mapped.kernels, kernels);
        for (const model of [mapped, plain]) model.useOptimizer(optimizer, { featureDropout });
        mapped.takeTrainingIds(owned);
        trainEpochs(mapped, owned, labels, 3, 9);
        trainEpochs(plain, other, labels, 3, 9);
        assertSameModel(mapped, plain, 'after 3 epochs');
        assert.deepEqual(other.ids, features.ids, 'a matrix the model does not own is never written');
        const rowOf = mapped.parameters().rowOf;
        let rows = 0;
        let trained = 0;
        for (let k = 0; k < owned.ids.length; k++) {
          const v = owned.ids[k]!;
          if (rowOf[features.ids[k]!] !== 0) trained += 1;
          // Each occurrence is its bucket or that bucket's row.
          if (v < 0) {
            rows += 1;
            assert.equal(~v, rowOf[features.ids[k]!], `occurrence ${k}`);
          } else assert.equal(v, features.ids[k], `occurrence ${k}`);
        }
        // The wasm kernels map every occurrence whose bucket has a row by the last epoch; with dropout, a bucket
        // may first be kept (and given a row) after some of its occurrences were read. The scalar ones read the buckets.
        assert.ok(trained > owned.ids.length / 2);
        if (kernels === 'scalar') assert.equal(rows, 0);
        else if (featureDropout === 0) assert.equal(rows, trained);
        else assert.ok(rows > 0.9 * trained, `${rows} of ${trained} mapped`);
        // Evaluation of the mapped matrix reads the same rows as of the buckets.
        const all = Int32Array.from({ length: features.count }, (_, i) => i);
        const a = new Float32Array(features.count * numClasses);
        const b = new Float32Array(features.count * numClasses);
        mapped.forward(owned, all, a);
        plain.forward(features, all, b);
        assertSameBits(a, b, 'evaluation logits');
      });
    }
  }

  for (const maxGradNorm of [null, 0.05]) {
    test(`the scalar kernels read mapped ids as their rows, in training and evaluation (clipping ${maxGradNorm ?? 'off'})`, () => {
      const random = new SeededRandom(47);
      const features = randomFeatures(random, 240, buckets);
      const labels = Int32Array.from({ length: features.count }, () => random.nextInt(numClasses));
      const shape = { buckets, dim: 8, numClasses };
      // Map a matrix on the wasm kernels over the first half of the rows only: the rest keep buckets never trained.
      const half: FeatureMatrix = { ids: features.ids.slice(0, features.offsets[120]), offsets: features.offsets.slice(0, 121), count: 120 };
      const first = new NgramClassifier(shape, 2);
      first.useOptimizer('adam');
      first.takeTrainingIds(half);
      trainEpochs(first, half, labels, 2, 4);
      const mapped = copyOf(features);
      mapped.ids.set(half.ids);
      assert.ok(mapped.ids.some((v) => v < 0) && mapped.ids.some((v) => v >= 0), 'a mix of rows and buckets');
      // Two scalar models with the same rows (restore keeps the row numbers): one reads the mix, one the buckets.
      const scalar = (): NgramClassifier => {
        const model = new NgramClassifier(shape, 2, 'zero-embeddings', 'scalar');
        model.restore(first.snapshot());
        model.useOptimizer('adam');
        return model;
      };
      const onMapped = scalar();
      const onBuckets = scalar();
      trainEpochs(onMapped, mapped, labels, 2, 6, maxGradNorm);
      trainEpochs(onBuckets, features, labels, 2, 6, maxGradNorm);
      assertSameModel(onMapped, onBuckets, 'scalar training');
      assert.ok(onMapped.allocatedRows > first.allocatedRows, 'rows were allocated for the buckets the mix still held');
    });
  }

  test('restore maps the owned ids back to buckets; training then continues as on a matrix the model does not own', () => {
    const random = new SeededRandom(53);
    const features = randomFeatures(random, 200, buckets);
    const labels = Int32Array.from({ length: features.count }, () => random.nextInt(numClasses));
    const owned = copyOf(features);
    const shape = { buckets, dim: 8, numClasses };
    const mapped = new NgramClassifier(shape, 8);
    const plain = new NgramClassifier(shape, 8);
    for (const model of [mapped, plain]) model.useOptimizer('adam');
    mapped.takeTrainingIds(owned);
    // A snapshot with fewer rows than the table will have: rows allocated after it are numbered anew.
    trainEpochs(mapped, owned, labels.subarray(0, 50), 1, 1);
    const half: FeatureMatrix = { ids: features.ids.slice(0, features.offsets[50]), offsets: features.offsets.slice(0, 51), count: 50 };
    trainEpochs(plain, half, labels.subarray(0, 50), 1, 1);
    // (the owned matrix's first 50 rows only; its first epoch over 50 rows draws the same order)
    const snapshot = mapped.snapshot();
    trainEpochs(mapped, owned, labels, 2, 2);
    assert.ok(owned.ids.some((v) => v < 0));
    mapped.restore(snapshot);
    assert.deepEqual(owned.ids, features.ids, 'restore leaves the buckets');
    plain.restore(snapshot);
    trainEpochs(mapped, owned, labels, 2, 3);
    trainEpochs(plain, features, labels, 2, 3);
    assertSameModel(mapped, plain, 'after restore and 2 epochs');
    mapped.releaseTrainingIds();
    // Released: a later restore no longer touches the matrix.
    const before = owned.ids.slice();
    mapped.restore(snapshot);
    assert.deepEqual(owned.ids, before);
  });

  test('trainClassifier with the training ids handed over: validation and test matrices are never written, the model is the same', async () => {
    const random = new SeededRandom(61);
    const make = (rows: number): { features: FeatureMatrix; labels: Int32Array; count: number } => {
      const features = randomFeatures(random, rows, buckets);
      return { features, labels: Int32Array.from({ length: rows }, () => random.nextInt(numClasses)), count: rows };
    };
    const train = make(400);
    const validation = make(120);
    const test = make(120);
    const copies = { validation: validation.features.ids.slice(), test: test.features.ids.slice() };
    const options = { loss: 'ce' as const, epochs: 4, batchSize: 16, optimizer: 'adam' as const, featureDropout: 0.25, learningRate: 0.05, schedule: 'constant' as const, maxGradNorm: null, seed: 3, guards: { epsilon: 1e-6, maxWeight: null } };
    const shape = { buckets, dim: 8, numClasses };
    for (const withValidation of [false, true]) {
      const owned = { ...train, features: copyOf(train.features) };
      const mapped = new NgramClassifier(shape, 12);
      mapped.takeTrainingIds(owned.features);
      const evaluation = withValidation ? { validation, test } : { test };
      const a = await trainClassifier(mapped, owned, evaluation, options);
      mapped.releaseTrainingIds();
      const plain = new NgramClassifier(shape, 12);
      const b = await trainClassifier(plain, train, evaluation, options);
      assertSameModel(mapped, plain, `with${withValidation ? '' : 'out'} validation`);
      assert.deepEqual(a.epochs.map((e) => [e.trainLoss, e.test?.accuracy]), b.epochs.map((e) => [e.trainLoss, e.test?.accuracy]));
      assert.deepEqual(validation.features.ids, copies.validation, 'validation ids untouched');
      assert.deepEqual(test.features.ids, copies.test, 'test ids untouched');
      if (withValidation) assert.deepEqual(owned.features.ids, train.features.ids, 'restoring the best epoch maps the training ids back');
      else {
        const rowOf = mapped.parameters().rowOf;
        assert.ok(owned.features.ids.every((v, k) => (v < 0 ? ~v === rowOf[train.features.ids[k]!] : v === train.features.ids[k])), 'each occurrence its bucket or its row');
        assert.ok(owned.features.ids.some((v) => v < 0));
      }
    }
  });
});
