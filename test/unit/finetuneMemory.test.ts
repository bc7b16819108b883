/** The memory estimate printed before fine-tuning: its parts against the formula, and its log line. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeFineTuneMemory, estimateFineTuneMemory, trainableParameterCount } from '../../src/core/finetune/memoryEstimate';

describe('fine-tuning memory estimate', () => {
  test('parameters count 4 float32 copies; activations grow with batch, length, width and layers', () => {
    const base = { parameterCount: 22_700_000, batchSize: 16, maxLength: 128, hiddenSize: 384, layers: 6, heads: 12 };
    const estimate = estimateFineTuneMemory(base);
    assert.equal(estimate.parameterBytes, 22_700_000 * 16);
    assert.equal(estimate.activationBytes, 6 * (16 * 128 * 384 * 16 + 2 * 16 * 12 * 128 * 128) * 4);
    assert.equal(estimate.totalBytes, estimate.parameterBytes + estimate.activationBytes);
    const doubled = estimateFineTuneMemory({ ...base, batchSize: 32 });
    assert.equal(doubled.activationBytes, 2 * estimate.activationBytes);
    assert.equal(doubled.parameterBytes, estimate.parameterBytes);
    assert.equal(estimateFineTuneMemory({ ...base, gradientAccumulation: 8 }).totalBytes, estimate.totalBytes);
  });

  test('the log line names the parts in binary units; bad input is refused by name', () => {
    const line = describeFineTuneMemory({ parameterBytes: 1024 ** 3, activationBytes: 512 * 1024 ** 2, totalBytes: 1.5 * 1024 ** 3 });
    assert.equal(line, 'about 1.5 GiB (weights, gradients and 2 AdamW moments 1.0 GiB + activations at most 512.0 MiB)');
    assert.throws(() => estimateFineTuneMemory({ parameterCount: -1, batchSize: 1, maxLength: 1, hiddenSize: 1, layers: 1, heads: 1 }), /parameterCount/);
  });

  test('the parameter count multiplies each trained weight\'s dims', () => {
    assert.equal(trainableParameterCount([{ dims: [3, 4] }, { dims: [4] }, { dims: [] }]), 12 + 4 + 1);
    assert.equal(trainableParameterCount([]), 0);
  });
});
