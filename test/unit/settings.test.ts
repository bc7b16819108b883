import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CommandContext } from '../../src/cli/command';
import { Reporter } from '../../src/cli/reporter';
import { classifierSettings } from '../../src/cli/settings';
import type { ProjectConfig } from '../../src/core/config';
import { DimpError } from '../../src/core/errors';

function context(values: CommandContext['values'], config: ProjectConfig = {}): CommandContext {
  return { values, reporter: new Reporter(true), signal: new AbortController().signal, project: { file: undefined, config } };
}

test('--max-grad-norm: a number, "none" for no clipping, the config’s value, else 1', () => {
  assert.equal(classifierSettings(context({ 'max-grad-norm': '0.5' })).maxGradNorm, 0.5);
  assert.equal(classifierSettings(context({ 'max-grad-norm': 'none' })).maxGradNorm, null);
  assert.equal(classifierSettings(context({}, { training: { maxGradNorm: null } })).maxGradNorm, null);
  assert.equal(classifierSettings(context({}, { training: { maxGradNorm: 3 } })).maxGradNorm, 3);
  assert.equal(classifierSettings(context({})).maxGradNorm, 1);
  assert.throws(() => classifierSettings(context({ 'max-grad-norm': 'zero' })), DimpError);
});

test('--char-ngrams and --word-ngrams shape the featurizer', () => {
  const settings = classifierSettings(context({ 'char-ngrams': '3-5', 'word-ngrams': '3' }));
  assert.deepEqual(settings.featurizer.charNgrams, [3, 5]);
  assert.equal(settings.featurizer.wordNgrams, 3);
  assert.throws(() => classifierSettings(context({ 'char-ngrams': '5-3' })), /MIN-MAX/);
});
