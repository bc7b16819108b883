import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CommandContext } from '../../src/cli/command';
import { Reporter } from '../../src/cli/reporter';
import { deviceFlag } from '../../src/cli/command';
import { classifierSettings, jobSettings } from '../../src/cli/settings';
import { DEFAULT_DEVICE, resolveDevice, resolveJobSettings } from '../../src/core/jobs/settings';
import type { ProjectConfig } from '../../src/core/config';
import { DimpError } from '../../src/core/errors';

function context(values: CommandContext['values'], config: ProjectConfig = {}): CommandContext {
  return { values, reporter: new Reporter(true), signal: new AbortController().signal, project: { file: undefined, config } };
}

test('--max-grad-norm: a number, "none" for no clipping, the config’s value, else none', () => {
  assert.equal(classifierSettings(context({ 'max-grad-norm': '0.5' })).maxGradNorm, 0.5);
  assert.equal(classifierSettings(context({ 'max-grad-norm': 'none' })).maxGradNorm, null);
  assert.equal(classifierSettings(context({}, { training: { maxGradNorm: null } })).maxGradNorm, null);
  assert.equal(classifierSettings(context({}, { training: { maxGradNorm: 3 } })).maxGradNorm, 3);
  assert.equal(classifierSettings(context({})).maxGradNorm, null);
  assert.throws(() => classifierSettings(context({ 'max-grad-norm': 'zero' })), DimpError);
});

test('--feature-dropout: the classifier drops half its n-grams by default, the checkers none; the flag sets it', () => {
  assert.equal(classifierSettings(context({})).featureDropout, 0.5);
  assert.equal(jobSettings(context({})).checkerSettings.featureDropout, 0);
  assert.equal(classifierSettings(context({ 'feature-dropout': '0' })).featureDropout, 0);
  assert.equal(classifierSettings(context({ 'feature-dropout': '0.2' })).featureDropout, 0.2);
  assert.equal(jobSettings(context({ 'feature-dropout': '0.2' })).checkerSettings.featureDropout, 0, 'the flag shapes the classifier only');
  assert.throws(() => classifierSettings(context({ 'feature-dropout': '1' })), /feature-dropout/);
  // dimp.config.json's training.featureDropout, under the flag.
  assert.equal(classifierSettings(context({}, { training: { featureDropout: 0 } })).featureDropout, 0);
  assert.equal(classifierSettings(context({ 'feature-dropout': '0.3' }, { training: { featureDropout: 0 } })).featureDropout, 0.3);
  assert.equal(jobSettings(context({}, { training: { featureDropout: 0.2 } })).checkerSettings.featureDropout, 0, 'the config shapes the classifier only');
});

test('--char-ngrams and --word-ngrams shape the featurizer', () => {
  const settings = classifierSettings(context({ 'char-ngrams': '3-5', 'word-ngrams': '3' }));
  assert.deepEqual(settings.featurizer.charNgrams, [3, 5]);
  assert.equal(settings.featurizer.wordNgrams, 3);
  assert.throws(() => classifierSettings(context({ 'char-ngrams': '5-3' })), /MIN-MAX/);
});

test('one resolver for every front end: front-end values, then dimp.config.json, then defaults', () => {
  const config: ProjectConfig = { training: { maxGradNorm: 2, epochs: 7, optimizer: 'sgd', filterKeep: 0.5, maxWeight: 100, seed: 9 }, device: 'cpu' };
  // What Train with DIMP resolves (the editor passes only epochs and its own settings) ...
  const editor = resolveJobSettings(config, { epochs: 3 });
  assert.equal(editor.settings.maxGradNorm, 2, 'the editor honours training.maxGradNorm');
  assert.equal(editor.settings.epochs, 3);
  assert.equal(editor.settings.optimizer, 'sgd');
  assert.equal(editor.filterKeep, 0.5);
  assert.deepEqual(editor.guards, { epsilon: 1e-6, maxWeight: 100 });
  assert.equal(editor.seed, 9);
  // ... equals what the CLI resolves from the same config without flags.
  assert.deepEqual(jobSettings(context({}, config)), resolveJobSettings(config, { epochs: undefined }));
  assert.equal(jobSettings(context({ epochs: '3' }, config)).settings.epochs, 3);
  assert.equal(jobSettings(context({ 'max-grad-norm': 'none' }, config)).settings.maxGradNorm, null);
  assert.throws(() => jobSettings(context({ optimizer: 'rmsprop' })), /--optimizer/);
});

test('the default device is the same for scoring and training, from the CLI and the editor', () => {
  assert.equal(DEFAULT_DEVICE, 'auto');
  assert.equal(resolveDevice({}), 'auto');
  assert.equal(resolveDevice({ device: 'cpu' }), 'cpu');
  assert.equal(resolveDevice({ device: 'cpu' }, 'cuda'), 'cuda');
  assert.equal(deviceFlag(context({})), 'auto');
});
