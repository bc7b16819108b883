import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FeatureMatrix } from '../../src/core/model/featurizer';
import { embeddingBagMean, lazyAdamRows, NgramClassifier, type NgramKernels } from '../../src/core/model/ngramClassifier';
import { KernelArena, kernelModule } from '../../src/core/model/wasmKernels';
import { SeededRandom } from '../../src/core/random';
import { trainClassifier, type TrainerOptions } from '../../src/core/train/trainer';
import { DEFAULT_WEIGHT_GUARDS } from '../../src/core/weighting/weights';

// The WebAssembly SIMD kernels of the n-gram classifier against the scalar TypeScript ones they replace:
// bit for bit (Object.is on every value, so −0 and +0 differ), kernel by kernel and over whole trainings.

function assertSameBits(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) assert.fail(`${what}[${i}]: ${actual[i]} (wasm) vs ${expected[i]} (scalar)`);
  }
}

/** Values of mixed magnitudes and signs, with some exact zeros and negative zeros. */
function randomValue(random: SeededRandom, scale: number): number {
  const u = random.next();
  if (u < 0.03) return 0;
  if (u < 0.06) return -0;
  return Math.fround((random.next() - 0.5) * scale * 10 ** (random.nextInt(7) - 3));
}

function randomFeatures(random: SeededRandom, rows: number, buckets: number): FeatureMatrix {
  const offsets = new Int32Array(rows + 1);
  const ids: number[] = [];
  for (let r = 0; r < rows; r++) {
    const n = r % 9 === 0 ? 0 : 1 + random.nextInt(30);
    // A third of the occurrences share a few buckets: rows repeated within an example and across a batch.
    for (let k = 0; k < n; k++) ids.push(random.next() < 0.3 ? random.nextInt(6) : random.nextInt(buckets));
    offsets[r + 1] = ids.length;
  }
  return { ids: Int32Array.from(ids), offsets, count: rows };
}

describe('WebAssembly SIMD kernels against the scalar ones', () => {
  test('this runtime has WebAssembly SIMD (the trainer would otherwise run the scalar kernels)', () => {
    assert.ok(kernelModule(), 'the kernel module compiles');
  });

  for (const dim of [4, 12, 64]) {
    test(`bagMean equals embeddingBagMean, dim ${dim}`, () => {
      const random = new SeededRandom(dim);
      const rows = 50;
      const arena = KernelArena.create(rows * dim, false)!;
      for (let i = 0; i < rows * dim; i++) arena.embeddings[i] = randomValue(random, 1);
      const count = 40;
      const bags: number[][] = Array.from({ length: count }, (_, b) => (b % 7 === 0 ? [] : Array.from({ length: 1 + random.nextInt(25) }, () => random.nextInt(rows))));
      const scales = bags.map((bag) => 1 / Math.max(1, bag.length + random.nextInt(3)));
      const expected = new Float32Array(count * dim);
      bags.forEach((bag, b) => embeddingBagMean(arena.embeddings, Int32Array.from(bag, (r) => r * dim), bag.length, dim, scales[b]!, expected, b * dim));
      const occurrences = bags.reduce((n, bag) => n + bag.length, 0);
      const startsAt = occurrences * 4;
      const scalesAt = (startsAt + (count + 1) * 4 + 7) & ~7;
      const outAt = scalesAt + count * 8;
      const base = arena.scratch(outAt + count * dim * 4);
      let n = 0;
      arena.i32[(base + startsAt) >> 2] = 0;
      bags.forEach((bag, b) => {
        for (const r of bag) arena.i32[(base >> 2) + n++] = r * dim * 4;
        arena.i32[((base + startsAt) >> 2) + b + 1] = n;
        arena.f64[((base + scalesAt) >> 3) + b] = scales[b]!;
      });
      arena.kernels.bagMean(0, base, base + startsAt, base + scalesAt, base + outAt, count, dim);
      assertSameBits(arena.f32.subarray((base + outAt) >> 2, ((base + outAt) >> 2) + count * dim), expected, 'hidden');
    });

    test(`lazyAdam equals lazyAdamRows over several steps, dim ${dim}`, () => {
      const random = new SeededRandom(100 + dim);
      const rows = 60;
      const arena = KernelArena.create(rows * dim, false)!;
      assert.ok(arena.resetMoments());
      const emb = new Float32Array(rows * dim);
      for (let i = 0; i < emb.length; i++) emb[i] = randomValue(random, 1);
      arena.embeddings.set(emb);
      const m = new Float32Array(rows * dim);
      const v = new Float32Array(rows * dim);
      const count = 16;
      for (let step = 1; step <= 6; step++) {
        // Slots: distinct rows, each with one or more occurrences (examples, in order).
        const slots = 1 + random.nextInt(rows - 1);
        const slotRow = Int32Array.from(Array.from({ length: rows }, (_, r) => r).sort(() => random.next() - 0.5).slice(0, slots));
        const lists = Array.from({ length: slots }, () => Array.from({ length: random.next() < 0.6 ? 1 : 1 + random.nextInt(5) }, () => random.nextInt(count)).sort((a, b) => a - b));
        const slotStart = new Int32Array(slots + 1);
        lists.forEach((list, s) => (slotStart[s + 1] = slotStart[s]! + list.length));
        const slotOccurrence = Int32Array.from(lists.flat());
        const share = Float64Array.from({ length: count }, () => 1 / (1 + random.nextInt(30)));
        const gradHidden = Float32Array.from({ length: count * dim }, () => randomValue(random, 0.1));
        const clip = step % 2 === 0 ? 1 : 0.7;
        const stepSize = (0.01 * Math.sqrt(1 - 0.999 ** step)) / (1 - 0.9 ** step);
        const epsilonHat = 1e-8 * Math.sqrt(1 - 0.999 ** step);
        lazyAdamRows(emb, m, v, dim, slotRow, slots, slotStart, slotOccurrence, share, gradHidden, clip, stepSize, epsilonHat);

        const startsAt = slots * 4;
        const occurrencesAt = startsAt + (slots + 1) * 4;
        const sharesAt = (occurrencesAt + slotOccurrence.length * 4 + 7) & ~7;
        const gradAt = sharesAt + count * 8;
        const base = arena.scratch(gradAt + count * dim * 4);
        arena.i32.set(slotRow, base >> 2);
        arena.i32.set(slotStart, (base + startsAt) >> 2);
        arena.i32.set(slotOccurrence, (base + occurrencesAt) >> 2);
        arena.f64.set(share, (base + sharesAt) >> 3);
        arena.f32.set(gradHidden, (base + gradAt) >> 2);
        arena.kernels.lazyAdam(0, arena.mBase, arena.vBase, base, base + startsAt, base + occurrencesAt, base + sharesAt, base + gradAt, slots, dim, clip, stepSize, epsilonHat);
        assertSameBits(arena.embeddings, emb, `embeddings after step ${step}`);
        assertSameBits(arena.m, m, `m after step ${step}`);
        assertSameBits(arena.v, v, `v after step ${step}`);
      }
    });
  }

  test('gatherSlots numbers rows in order of first occurrence and lists the examples of each row in order', () => {
    const random = new SeededRandom(77);
    const arena = KernelArena.create(64, false)!;
    for (const [count, rows] of [[32, 40], [5, 3], [64, 5000]] as const) {
      const lengths = Array.from({ length: count }, (_, b) => (b % 6 === 0 ? 0 : 1 + random.nextInt(30)));
      const occurrenceRow = lengths.flatMap((n) => Array.from({ length: n }, () => 1 + (random.next() < 0.3 ? random.nextInt(4) : random.nextInt(rows))));
      const occurrences = occurrenceRow.length;
      // The reference: gatherRows' numbering and adamUpdate's stable counting sort, written plainly.
      const slotOf = new Map<number, number>();
      const lists: number[][] = [];
      let o = 0;
      lengths.forEach((n, b) => {
        for (let k = 0; k < n; k++, o++) {
          const row = occurrenceRow[o]!;
          if (!slotOf.has(row)) {
            slotOf.set(row, lists.length);
            lists.push([]);
          }
          lists[slotOf.get(row)!]!.push(b);
        }
      });
      const tableBits = Math.max(4, Math.ceil(Math.log2(2 * occurrences + 1)));
      const words = [occurrences, count, 1 << tableBits, 1 << tableBits, occurrences, occurrences, occurrences + 1, occurrences + 1, occurrences];
      const at: number[] = [];
      let next = arena.scratch(words.reduce((a, w) => a + w * 4, 0));
      for (const w of words) {
        at.push(next);
        next += w * 4;
      }
      arena.i32.set(occurrenceRow, at[0]! >> 2);
      let end = 0;
      lengths.forEach((n, b) => (arena.i32[(at[1]! >> 2) + b] = end += n));
      arena.i32.fill(-1, at[2]! >> 2, (at[2]! >> 2) + (1 << tableBits));
      const slots = arena.kernels.gatherSlots(at[0]!, at[1]!, count, at[2]!, at[3]!, 32 - tableBits, at[4]!, at[5]!, at[6]!, at[7]!, at[8]!);
      assert.equal(slots, lists.length);
      assert.deepEqual(Array.from(arena.i32.subarray(at[5]! >> 2, (at[5]! >> 2) + slots)), [...slotOf.keys()]);
      const starts = Array.from(arena.i32.subarray(at[6]! >> 2, (at[6]! >> 2) + slots + 1));
      assert.deepEqual(starts, lists.reduce((a, list) => [...a, a[a.length - 1]! + list.length], [0]));
      assert.deepEqual(Array.from(arena.i32.subarray(at[8]! >> 2, (at[8]! >> 2) + occurrences)), lists.flat());
    }
  });

  test('the arena keeps the table and moments when it grows, zeroes the new parts, and places scratch after them', () => {
    const arena = KernelArena.create(8, false)!;
    arena.embeddings.set([1, 2, 3, 4, 5, 6, 7, 8]);
    assert.ok(arena.resetMoments());
    arena.m.set([-1, -2, -3, -4, -5, -6, -7, -8]);
    arena.v.set([9, 10, 11, 12, 13, 14, 15, 16]);
    // Fill the scratch with junk: growing must not leak it into the table.
    const junk = arena.scratch(1 << 20);
    arena.f32.fill(42, junk >> 2, (junk >> 2) + (1 << 18));
    assert.ok(arena.resize(300_000));
    assert.equal(arena.tableCapacity, 300_000);
    assert.deepEqual(Array.from(arena.embeddings.subarray(0, 8)), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(Array.from(arena.m.subarray(0, 8)), [-1, -2, -3, -4, -5, -6, -7, -8]);
    assert.deepEqual(Array.from(arena.v.subarray(0, 8)), [9, 10, 11, 12, 13, 14, 15, 16]);
    for (const region of [arena.embeddings, arena.m, arena.v]) assert.ok(region.subarray(8).every((x) => x === 0), 'new parts are zero');
    assert.equal(arena.scratch(16), 300_000 * 12);
    assert.equal(arena.mBase, 300_000 * 4);
    assert.equal(arena.vBase, 300_000 * 8);
  });
});

describe('the classifier with the wasm kernels trains the model of the scalar kernels', () => {
  const cases: { name: string; numClasses: number; dim: number; options: Partial<TrainerOptions>; reserve: boolean }[] = [
    { name: 'adam, dropout 0.5, 2 classes (the default recipe)', numClasses: 2, dim: 64, options: { optimizer: 'adam', featureDropout: 0.5 }, reserve: true },
    { name: 'adam, 5 classes, a growing table', numClasses: 5, dim: 12, options: { optimizer: 'adam' }, reserve: false },
    { name: 'adam, gradient-norm clipping, weight decay', numClasses: 3, dim: 8, options: { optimizer: 'adam', maxGradNorm: 0.05, weightDecay: 0.5, loss: 'dimp' }, reserve: true },
    { name: 'sgd, linear schedule', numClasses: 2, dim: 16, options: { optimizer: 'sgd', learningRate: 0.5, schedule: 'linear' }, reserve: false },
  ];
  for (const { name, numClasses, dim, options, reserve } of cases) {
    test(name, async () => {
      const random = new SeededRandom(dim * numClasses);
      const buckets = 3000;
      const features = randomFeatures(random, 400, buckets);
      const labels = Int32Array.from({ length: features.count }, () => random.nextInt(numClasses));
      const quality = Float32Array.from({ length: features.count }, () => random.next());
      const validationFeatures = randomFeatures(random, 60, buckets);
      const validation = { features: validationFeatures, labels: Int32Array.from({ length: 60 }, () => random.nextInt(numClasses)), count: 60 };
      const trainerOptions: TrainerOptions = {
        loss: 'ce',
        epochs: 4,
        batchSize: 16,
        optimizer: 'adam',
        learningRate: 0.01,
        schedule: 'constant',
        maxGradNorm: null,
        seed: 7,
        guards: DEFAULT_WEIGHT_GUARDS,
        ...options,
      };
      const train = async (kernels: NgramKernels) => {
        const model = new NgramClassifier({ buckets, dim, numClasses }, 3, 'zero-embeddings', kernels);
        if (reserve) model.reserveRowsFor(features.ids);
        const result = await trainClassifier(model, { features, labels, count: features.count, quality }, { validation }, trainerOptions);
        assert.equal(model.kernels, kernels, `the ${kernels} kernels ran`);
        return { parameters: model.parameters(), result };
      };
      const wasm = await train('wasm');
      const scalar = await train('scalar');
      assert.equal(wasm.result.bestEpoch, scalar.result.bestEpoch);
      assertSameBits(wasm.parameters.embeddings, scalar.parameters.embeddings, 'embeddings');
      assertSameBits(wasm.parameters.rowOf, scalar.parameters.rowOf, 'rowOf');
      assertSameBits(wasm.parameters.weight, scalar.parameters.weight, 'weight');
      assertSameBits(wasm.parameters.bias, scalar.parameters.bias, 'bias');
      assertSameBits(wasm.result.lastWeights, scalar.result.lastWeights, 'last weights');
      // The same seed, again: the same model.
      const again = await train('wasm');
      assertSameBits(again.parameters.embeddings, wasm.parameters.embeddings, 'embeddings, second run');
      assertSameBits(again.parameters.weight, wasm.parameters.weight, 'weight, second run');
    });
  }

  test('dimensions that are not a multiple of 4 run the scalar kernels', () => {
    assert.equal(new NgramClassifier({ buckets: 16, dim: 7, numClasses: 2 }, 1).kernels, 'scalar');
    assert.equal(new NgramClassifier({ buckets: 16, dim: 8, numClasses: 2 }, 1).kernels, 'wasm');
  });
});
