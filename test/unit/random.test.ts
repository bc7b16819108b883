import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deriveSeed, SeededRandom } from '../../src/core/random';

/** Mulberry32 as first written, with the state held as an unsigned 32-bit integer: the sequence runs must keep. */
function referenceSequence(seed: number, length: number): number[] {
  let state = seed >>> 0;
  return Array.from({ length }, () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  });
}

test('the seeded generator draws the same sequence as the unsigned-state reference, for seeds on both sides of 2³¹', () => {
  for (const seed of [0, 1, 5, 0x7fffffff, 0x80000000, 0x5bd1e995, 0xffffffff, deriveSeed(1, 'shuffle'), -3, 2 ** 40 + 7]) {
    const random = new SeededRandom(seed);
    const expected = referenceSequence(seed, 20_000);
    for (let i = 0; i < expected.length; i++) {
      const value = random.next();
      if (value !== expected[i]) assert.fail(`seed ${seed}, draw ${i}: ${value} vs ${expected[i]}`);
    }
  }
});

test('draws are uniform in [0, 1)', () => {
  const random = new SeededRandom(42);
  let sum = 0;
  for (let i = 0; i < 100_000; i++) {
    const x = random.next();
    assert.ok(x >= 0 && x < 1);
    sum += x;
  }
  assert.ok(Math.abs(sum / 100_000 - 0.5) < 0.01);
});
