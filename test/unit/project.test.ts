import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadProjectConfig, PROJECT_CONFIG_FILE } from '../../src/core/config';
import { DimpError } from '../../src/core/errors';
import { generateSample, SAMPLE_LABELS, type SampleFiles } from '../../scripts/sample';
import { CommandId } from '../../src/protocol/commands';

const repoRoot = path.resolve(__dirname, '../../..');

let dir: string;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dimp-test-'));
});

after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function isUsageErrorAbout(file: string): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof DimpError, `expected a DimpError, got ${String(error)}`);
    assert.equal(error.kind, 'usage');
    assert.equal(error.file, file);
    assert.ok(error.message.includes(file), error.message);
    return true;
  };
}

describe('loadProjectConfig', () => {
  test('resolves relative paths against the config file’s folder', async () => {
    const project = path.join(dir, 'project');
    fs.mkdirSync(project);
    const config = {
      labels: ['neg', 'pos'],
      datasets: {
        synthetic: 'data/syn.jsonl',
        real: { path: '../shared/real.jsonl', fields: { text: 'body', label: 'y' } },
        test: path.join(dir, 'absolute.jsonl'),
      },
      models: { quality: 'models/quality' },
      output: 'runs',
      training: { epochs: 3 },
    };
    fs.writeFileSync(path.join(project, PROJECT_CONFIG_FILE), JSON.stringify(config));
    // Loaded from another folder, with an explicit path.
    const loaded = await loadProjectConfig(path.join(project, PROJECT_CONFIG_FILE), dir);
    assert.equal(loaded.file, path.join(project, PROJECT_CONFIG_FILE));
    assert.deepEqual(loaded.config.labels, ['neg', 'pos']);
    assert.equal(loaded.config.datasets?.synthetic, path.join(project, 'data', 'syn.jsonl'));
    assert.deepEqual(loaded.config.datasets?.real, { path: path.join(dir, 'shared', 'real.jsonl'), fields: { text: 'body', label: 'y' } });
    assert.equal(loaded.config.datasets?.test, path.join(dir, 'absolute.jsonl'));
    assert.equal(loaded.config.datasets?.validation, undefined);
    assert.equal(loaded.config.models?.quality, path.join(project, 'models', 'quality'));
    assert.equal(loaded.config.output, path.join(project, 'runs'));
    assert.equal(loaded.config.training?.epochs, 3);

    // Found in the folder when no path is given.
    const found = await loadProjectConfig(undefined, project);
    assert.deepEqual(found, loaded);
  });

  test('no config file in the folder gives an empty config', async () => {
    const empty = path.join(dir, 'empty');
    fs.mkdirSync(empty);
    assert.deepEqual(await loadProjectConfig(undefined, empty), { file: undefined, config: {} });
  });

  test('invalid JSON is an error naming the file', async () => {
    const file = path.join(dir, 'broken.json');
    fs.writeFileSync(file, '{"labels": ["a", "b"');
    await assert.rejects(loadProjectConfig(file, dir), isUsageErrorAbout(file));
  });

  test('a config that is not an object, or has bad labels, is an error naming the file', async () => {
    const list = path.join(dir, 'list.json');
    fs.writeFileSync(list, '["a"]');
    await assert.rejects(loadProjectConfig(list, dir), isUsageErrorAbout(list));
    const labels = path.join(dir, 'labels.json');
    fs.writeFileSync(labels, '{"labels": "neg,pos"}');
    await assert.rejects(loadProjectConfig(labels, dir), isUsageErrorAbout(labels));
  });

  test('a dataset entry that is neither a path nor {"path": …} is an error naming the file', async () => {
    const file = path.join(dir, 'bad-entry.json');
    fs.writeFileSync(file, JSON.stringify({ datasets: { synthetic: { file: 'syn.jsonl' } } }));
    await assert.rejects(loadProjectConfig(file, dir), isUsageErrorAbout(file));
  });

  test('training.featureDropout outside [0, 1) is an error naming the file and the setting', async () => {
    for (const value of [1, -0.1, '0.5']) {
      const file = path.join(dir, `dropout-${String(value)}.json`);
      fs.writeFileSync(file, JSON.stringify({ training: { featureDropout: value } }));
      await assert.rejects(loadProjectConfig(file, dir), (error: Error) => isUsageErrorAbout(file)(error) && /training\.featureDropout/.test(error.message));
    }
    const ok = path.join(dir, 'dropout-ok.json');
    fs.writeFileSync(ok, JSON.stringify({ training: { featureDropout: 0 } }));
    assert.equal((await loadProjectConfig(ok, dir)).config.training?.featureDropout, 0);
  });

  test('training.recipe: one of the recipes, and not large-set with plain SGD; errors name the file', async () => {
    const bad = path.join(dir, 'recipe-bad.json');
    fs.writeFileSync(bad, JSON.stringify({ training: { recipe: 'huge' } }));
    await assert.rejects(loadProjectConfig(bad, dir), (error: Error) => isUsageErrorAbout(bad)(error) && /"training\.recipe" must be one of "small-set", "large-set"/.test(error.message));
    const sgd = path.join(dir, 'recipe-sgd.json');
    fs.writeFileSync(sgd, JSON.stringify({ training: { recipe: 'large-set', optimizer: 'sgd' } }));
    await assert.rejects(loadProjectConfig(sgd, dir), (error: Error) => isUsageErrorAbout(sgd)(error) && /Adam recipe/.test(error.message));
    const ok = path.join(dir, 'recipe-ok.json');
    fs.writeFileSync(ok, JSON.stringify({ training: { recipe: 'large-set' } }));
    assert.equal((await loadProjectConfig(ok, dir)).config.training?.recipe, 'large-set');
  });

  test('an explicit path that does not exist is an error', async () => {
    const missing = path.join(dir, 'nowhere', 'dimp.config.json');
    await assert.rejects(loadProjectConfig(missing, dir), isUsageErrorAbout(missing));
  });
});

interface ContributedCommand {
  command: string;
  title: string;
  category?: string;
}

describe('package.json', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { contributes: { commands: ContributedCommand[] } };

  test('contributes exactly the command ids of src/protocol/commands.ts', () => {
    const contributed = manifest.contributes.commands.map((c) => c.command);
    assert.equal(new Set(contributed).size, contributed.length, 'a command is contributed twice');
    assert.deepEqual([...contributed].sort(), [...Object.values(CommandId)].sort());
  });

  test('every command title is in the DIMP category', () => {
    for (const command of manifest.contributes.commands) {
      assert.equal(command.category, 'DIMP', command.command);
      assert.ok(command.title.trim().length > 0, command.command);
    }
  });
});

describe('bundled sample', () => {
  const files: [keyof SampleFiles, string][] = [
    ['realTrain', 'real_train.jsonl'],
    ['realVal', 'real_val.jsonl'],
    ['realTest', 'real_test.jsonl'],
    ['synthetic', 'synthetic.jsonl'],
    ['truth', 'truth.jsonl'],
  ];
  let sample: SampleFiles;

  before(() => {
    sample = generateSample();
  });

  for (const [key, name] of files) {
    test(`sample/${name} is what generateSample() produces`, () => {
      const bundled = fs.readFileSync(path.join(repoRoot, 'sample', name));
      assert.ok(bundled.equals(Buffer.from(sample[key], 'utf8')), `sample/${name} differs from generateSample().${key}; run npm run sample`);
    });
  }

  test('generateSample is deterministic and depends on the seed', () => {
    assert.deepEqual(generateSample(), sample);
    assert.notEqual(generateSample(1).synthetic, sample.synthetic);
  });

  test('row counts and formats match the generator’s documentation', () => {
    const rows = (text: string): Record<string, unknown>[] =>
      text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const [key, count] of [
      ['realTrain', 300],
      ['realVal', 200],
      ['realTest', 1000],
    ] as const) {
      const real = rows(sample[key]);
      assert.equal(real.length, count, key);
      for (const row of real) {
        assert.equal(typeof row.text, 'string');
        assert.ok((SAMPLE_LABELS as readonly unknown[]).includes(row.label), `${key} label ${String(row.label)}`);
      }
    }
    const synthetic = rows(sample.synthetic);
    assert.equal(synthetic.length, 4000);
    for (const row of synthetic) {
      assert.equal(typeof row.sentence, 'string');
      assert.ok([0, 1, 2].includes(row.label as number));
    }
  });

  test('truth.jsonl has one row per synthetic line with 400 mislabelled, 600 near-duplicate and 200 off-distribution', () => {
    const truth = fs
      .readFileSync(path.join(repoRoot, 'sample', 'truth.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { line: number; flaw: string; trueLabel: string });
    assert.equal(truth.length, 4000);
    assert.deepEqual(
      truth.map((t) => t.line),
      Array.from({ length: 4000 }, (_, i) => i + 1),
    );
    const counts = new Map<string, number>();
    for (const t of truth) counts.set(t.flaw, (counts.get(t.flaw) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries([...counts].sort()), { mislabelled: 400, 'near-duplicate': 600, none: 2800, 'off-distribution': 200 });

    // A mislabelled row's given label differs from its true label; the others agree.
    const synthetic = fs
      .readFileSync(path.join(repoRoot, 'sample', 'synthetic.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { label: number });
    truth.forEach((t, i) => {
      const given = SAMPLE_LABELS[synthetic[i]!.label];
      if (t.flaw === 'mislabelled') assert.notEqual(given, t.trueLabel, `line ${t.line}`);
      else assert.equal(given, t.trueLabel, `line ${t.line}`);
    });
  });
});
