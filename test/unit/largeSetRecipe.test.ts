// The large-set recipe (`--recipe large-set`): which settings resolve to it, and that a run trains with it
// and records it.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { jobSettings } from '../../src/cli/settings';
import { Reporter } from '../../src/cli/reporter';
import type { CommandContext } from '../../src/cli/command';
import type { ProjectConfig } from '../../src/core/config';
import { resolveJobSettings } from '../../src/core/jobs/settings';
import { runTrainingJob } from '../../src/core/jobs/trainJob';
import { DEFAULT_CLASSIFIER_SETTINGS, LARGE_SET_RECIPE, type NgramSettings } from '../../src/core/train/ngramTraining';
import { SAMPLE_DIR, temporaryFolder } from './helpers';

function context(values: CommandContext['values'], config: ProjectConfig = {}): CommandContext {
  return { values, reporter: new Reporter(true), signal: new AbortController().signal, project: { file: undefined, config } };
}

describe('resolving the recipe', () => {
  test('the defaults are the small-set recipe, unmarked; small-set by name is the same settings', () => {
    const settings = resolveJobSettings({}).settings;
    assert.equal(settings.recipe, undefined);
    assert.equal(settings.featureDropout, DEFAULT_CLASSIFIER_SETTINGS.featureDropout);
    assert.equal(settings.schedule, 'constant');
    assert.equal(settings.adamEpsilon, undefined);
    assert.deepEqual(jobSettings(context({ recipe: 'small-set' })), jobSettings(context({})));
  });

  test('large-set: Adam’s ε, the schedule and the dropout of LARGE_SET_RECIPE, marked; nothing else changes', () => {
    const large = jobSettings(context({ recipe: 'large-set' })).settings;
    const defaults = jobSettings(context({})).settings;
    assert.deepEqual([large.adamEpsilon, large.schedule, large.featureDropout, large.recipe], [LARGE_SET_RECIPE.adamEpsilon, 'linear', 0, 'large-set']);
    const rest: Partial<NgramSettings> = { ...large, schedule: defaults.schedule, featureDropout: defaults.featureDropout };
    delete rest.adamEpsilon;
    delete rest.recipe;
    assert.deepEqual(rest, defaults);
    assert.deepEqual(jobSettings(context({ recipe: 'large-set' })).checkerSettings, jobSettings(context({})).checkerSettings, 'the checkers keep theirs');
  });

  test("dimp.config.json's training.recipe, under the flag; a dropout the user chose is kept", () => {
    assert.equal(jobSettings(context({}, { training: { recipe: 'large-set' } })).settings.recipe, 'large-set');
    assert.equal(jobSettings(context({ recipe: 'small-set' }, { training: { recipe: 'large-set' } })).settings.recipe, undefined);
    assert.equal(jobSettings(context({ recipe: 'large-set', 'feature-dropout': '0.3' })).settings.featureDropout, 0.3);
    assert.equal(jobSettings(context({ recipe: 'large-set' }, { training: { featureDropout: 0.2 } })).settings.featureDropout, 0.2);
  });

  test('a bad recipe, or --recipe large-set with --optimizer sgd, is a usage error', () => {
    assert.throws(() => jobSettings(context({ recipe: 'huge' })), /--recipe must be one of small-set, large-set; got "huge"/);
    assert.throws(() => resolveJobSettings({ training: { recipe: 'huge' as 'large-set' } }), /recipe must be one of/);
    assert.throws(() => jobSettings(context({ recipe: 'large-set', optimizer: 'sgd' })), /--recipe large-set is an Adam recipe/);
  });

  test('against plain SGD in the config, the front end wins either way, and nothing throws', () => {
    const fromFlag = jobSettings(context({ recipe: 'large-set' }, { training: { optimizer: 'sgd' } })).settings;
    assert.deepEqual([fromFlag.optimizer, fromFlag.recipe, fromFlag.schedule], ['adam', 'large-set', 'linear'], 'a recipe named on the command line brings Adam back');
    const sgdFlag = jobSettings(context({ optimizer: 'sgd' }, { training: { recipe: 'large-set' } })).settings;
    assert.deepEqual([sgdFlag.optimizer, sgdFlag.recipe, sgdFlag.schedule, sgdFlag.adamEpsilon], ['sgd', undefined, 'constant', undefined], 'an optimizer named on the command line drops the config’s recipe');
    // A config holding both (loadProjectConfig refuses it; the editor's scoring may still resolve guards from it).
    const both = resolveJobSettings({ training: { recipe: 'large-set', optimizer: 'sgd' } });
    assert.deepEqual([both.settings.optimizer, both.settings.recipe], ['sgd', undefined]);
    assert.deepEqual(both.guards, resolveJobSettings({}).guards);
  });
});

describe('a run with the large-set recipe', () => {
  const sample = path.join(SAMPLE_DIR, 'synthetic.jsonl');
  async function run(settings: NgramSettings): Promise<{ config: { settings: NgramSettings }; model: Buffer }> {
    const { dir, cleanup } = temporaryFolder();
    try {
      const base = resolveJobSettings({});
      await runTrainingJob({ loss: 'ce', synthetic: { path: sample }, settings, checkerSettings: base.checkerSettings, seed: 1, guards: base.guards, device: 'cpu', outDir: dir, runName: 'run' });
      return {
        config: JSON.parse(fs.readFileSync(path.join(dir, 'run', 'config.json'), 'utf8')) as { settings: NgramSettings },
        model: fs.readFileSync(path.join(dir, 'run', 'model', 'model.onnx')),
      };
    } finally {
      cleanup();
    }
  }

  test('trains the model of its values set by hand, not the defaults’, and records the recipe', async () => {
    const large = await run(jobSettings(context({ recipe: 'large-set', epochs: '2' })).settings);
    const byHand = await run({ ...jobSettings(context({ epochs: '2' })).settings, adamEpsilon: 0.01, schedule: 'linear', featureDropout: 0 });
    const defaults = await run(jobSettings(context({ epochs: '2' })).settings);
    assert.ok(large.model.equals(byHand.model), 'the same bits as ε 0.01, linear decay and no dropout');
    assert.ok(!large.model.equals(defaults.model), 'not the defaults’ model');
    assert.equal(large.config.settings.recipe, 'large-set');
    assert.equal(defaults.config.settings.recipe, undefined);
  });
});
