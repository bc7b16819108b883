// What package.json promises VS Code users beyond commands: the JSON schema of dimp.config.json
// (`jsonValidation`: completion, hover docs and checks for every key) and the Getting Started walkthrough.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RECIPES, type EncoderConfig, type FineTuneConfig, type ProjectConfig, type PytorchConfig, type TrainingConfig } from '../../src/core/config';
import { LOSS_KINDS } from '../../src/core/events';
import { CommandId } from '../../src/protocol/commands';
import { DEVICE_CHOICES } from '../../src/core/runtime/onnxRuntime';

const repoRoot = path.resolve(__dirname, '../../..');

/** The subset of JSON Schema (draft 7) the config schema uses. */
interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean;
  required?: string[];
  enum?: unknown[];
  items?: Schema;
  oneOf?: Schema[];
  $ref?: string;
  definitions?: Record<string, Schema>;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  minItems?: number;
  maxItems?: number;
  description?: string;
  markdownDescription?: string;
}

interface Manifest {
  contributes: {
    jsonValidation: { fileMatch: string; url: string }[];
    walkthroughs: {
      id: string;
      title: string;
      steps: { id: string; title: string; description: string; media: { image?: string; svg?: string; markdown?: string; altText?: string }; completionEvents?: string[] }[];
    }[];
  };
}

const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as Manifest;
const schemaEntry = manifest.contributes.jsonValidation.find((entry) => entry.fileMatch === 'dimp.config.json');
const schema = JSON.parse(fs.readFileSync(path.join(repoRoot, schemaEntry?.url ?? 'missing'), 'utf8')) as Schema;

function resolveRef(node: Schema): Schema {
  if (!node.$ref) return node;
  const name = node.$ref.replace('#/definitions/', '');
  const target = schema.definitions?.[name];
  assert.ok(target, `unknown $ref ${node.$ref}`);
  return { ...resolveRef(target), ...node, $ref: undefined };
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/** The problems of `value` under `node` (empty when valid), each with its JSON path. */
function validate(value: unknown, node: Schema, at = '$'): string[] {
  const s = resolveRef(node);
  if (s.oneOf) {
    const passing = s.oneOf.filter((option) => validate(value, option, at).length === 0).length;
    return passing === 1 ? [] : [`${at}: matches ${passing} of the oneOf options`];
  }
  const problems: string[] = [];
  const actual = typeOf(value);
  if (s.type !== undefined) {
    const allowed = Array.isArray(s.type) ? s.type : [s.type];
    if (!allowed.includes(actual) && !(actual === 'integer' && allowed.includes('number'))) return [`${at}: ${actual}, expected ${allowed.join(' or ')}`];
  }
  if (s.enum && !s.enum.includes(value)) problems.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(s.enum)}`);
  if (typeof value === 'number') {
    if (s.minimum !== undefined && value < s.minimum) problems.push(`${at}: below ${s.minimum}`);
    if (s.maximum !== undefined && value > s.maximum) problems.push(`${at}: above ${s.maximum}`);
    if (s.exclusiveMinimum !== undefined && value <= s.exclusiveMinimum) problems.push(`${at}: not above ${s.exclusiveMinimum}`);
  }
  if (typeof value === 'string' && s.minLength !== undefined && value.length < s.minLength) problems.push(`${at}: shorter than ${s.minLength}`);
  if (Array.isArray(value)) {
    if (s.minItems !== undefined && value.length < s.minItems) problems.push(`${at}: fewer than ${s.minItems} items`);
    if (s.maxItems !== undefined && value.length > s.maxItems) problems.push(`${at}: more than ${s.maxItems} items`);
    if (s.items) value.forEach((item, i) => problems.push(...validate(item, s.items as Schema, `${at}[${i}]`)));
  }
  if (actual === 'object') {
    const object = value as Record<string, unknown>;
    for (const key of s.required ?? []) if (!(key in object)) problems.push(`${at}: "${key}" is required`);
    for (const [key, child] of Object.entries(object)) {
      const property = s.properties?.[key];
      if (property) problems.push(...validate(child, property, `${at}.${key}`));
      else if (s.additionalProperties === false) problems.push(`${at}: unknown key "${key}"`);
    }
  }
  return problems;
}

// Every key of the config types, so that a key added to ProjectConfig without the schema fails to compile here.
const PROJECT_KEYS: Record<keyof ProjectConfig, true> = { labels: true, datasets: true, models: true, training: true, checkers: true, encoder: true, pytorch: true, finetune: true, device: true, output: true, maxRowBytes: true, scoringThreads: true };
const TRAINING_KEYS: Record<keyof TrainingConfig, true> = {
  loss: true, filterKeep: true, epochs: true, batchSize: true, optimizer: true, learningRate: true, dim: true, seed: true, epsilon: true, maxWeight: true, maxGradNorm: true, featureDropout: true, recipe: true, threads: true,
};
const ENCODER_KEYS: Record<keyof EncoderConfig, true> = { path: true, pooling: true, head: true, hiddenUnits: true, maxLength: true, epochs: true, batchSize: true, learningRate: true, cacheDir: true };
const PYTORCH_KEYS: Record<keyof PytorchConfig, true> = {
  pythonPath: true, model: true, epochs: true, batchSize: true, learningRate: true, maxLength: true, weightDecay: true, warmupRatio: true, launcher: true, launchArgs: true,
};
const FINETUNE_KEYS: Record<keyof FineTuneConfig, true> = {
  model: true, epochs: true, batchSize: true, gradientAccumulation: true, learningRate: true, warmupRatio: true, weightDecay: true, maxGradNorm: true, maxLength: true,
};
const CHECKER_KEYS: Record<keyof NonNullable<ProjectConfig['checkers']>, true> = { epochs: true, batchSize: true, learningRate: true, dim: true, optimizer: true, threads: true };
const DATASET_KEYS: Record<keyof NonNullable<ProjectConfig['datasets']>, true> = { synthetic: true, real: true, validation: true, test: true };

describe('dimp.config.json schema', () => {
  test('is contributed for dimp.config.json and ships in the package', () => {
    assert.ok(schemaEntry, 'contributes.jsonValidation has no entry for dimp.config.json');
    assert.match(schemaEntry.url, /^\.\/schemas\//);
    const ignored = fs.readFileSync(path.join(repoRoot, '.vscodeignore'), 'utf8').split('\n');
    assert.ok(!ignored.some((line) => line.startsWith('schemas')), '.vscodeignore leaves the schema out');
  });

  test('knows every key of the config types, at every level', () => {
    const keysOf = (node: Schema | undefined): string[] => Object.keys(resolveRef(node ?? {}).properties ?? {}).sort();
    const top = schema.properties ?? {};
    assert.deepEqual(keysOf(schema).filter((key) => key !== '$schema'), Object.keys(PROJECT_KEYS).sort());
    assert.deepEqual(keysOf(top.training), Object.keys(TRAINING_KEYS).sort());
    assert.deepEqual(keysOf(top.encoder), Object.keys(ENCODER_KEYS).sort());
    assert.deepEqual(keysOf(top.checkers), Object.keys(CHECKER_KEYS).sort());
    assert.deepEqual(keysOf(top.pytorch), Object.keys(PYTORCH_KEYS).sort());
    assert.deepEqual(keysOf(top.finetune), Object.keys(FINETUNE_KEYS).sort());
    assert.deepEqual(keysOf(top.datasets), Object.keys(DATASET_KEYS).sort());
  });

  test('offers the losses, recipes and devices the code accepts', () => {
    assert.deepEqual(resolveRef(schema.properties?.training?.properties?.loss ?? {}).enum, [...LOSS_KINDS]);
    assert.deepEqual(resolveRef(schema.properties?.training?.properties?.recipe ?? {}).enum, [...RECIPES]);
    assert.deepEqual([...(schema.properties?.device?.enum ?? [])].sort(), [...DEVICE_CHOICES].sort());
  });

  test('documents every key (the hover text)', () => {
    const undocumented: string[] = [];
    const walk = (node: Schema, at: string): void => {
      for (const [key, child] of Object.entries(node.properties ?? {})) {
        const resolved = resolveRef(child);
        if (!resolved.description && !resolved.markdownDescription) undocumented.push(`${at}.${key}`);
        walk(resolved, `${at}.${key}`);
        for (const option of resolved.oneOf ?? []) walk(resolveRef(option), `${at}.${key}`);
      }
    };
    walk(schema, '$');
    assert.deepEqual(undocumented, []);
  });

  test('accepts the bundled sample and a config using every section', () => {
    const sample = JSON.parse(fs.readFileSync(path.join(repoRoot, 'sample', 'dimp.config.json'), 'utf8')) as unknown;
    assert.deepEqual(validate(sample, schema), []);
    const full: ProjectConfig = {
      labels: ['contradiction', 'entailment', 'neutral'],
      datasets: { synthetic: { path: 'gen.jsonl', fields: { text: ['premise', 'hypothesis'], label: 'gold' } }, real: 'real.jsonl', validation: 'val.jsonl', test: 'test.jsonl' },
      models: { quality: 'models/quality', diversity: 'models/diversity' },
      training: { loss: 'filter', filterKeep: 0.7, epochs: 5, batchSize: 16, optimizer: 'sgd', learningRate: 0.1, dim: 32, seed: 3, epsilon: 1e-6, maxWeight: null, maxGradNorm: 1 },
      checkers: { epochs: 20, batchSize: 64, learningRate: 0.02, dim: 64, optimizer: 'adam' },
      encoder: { path: 'minilm', pooling: 'mean', head: 'linear', hiddenUnits: 128, maxLength: 128, epochs: 10, batchSize: 32, learningRate: 0.05, cacheDir: '.dimp/emb' },
      pytorch: { pythonPath: '.venv/bin/python', model: 'models/bert-base', epochs: 3, batchSize: 16, learningRate: 2e-5, maxLength: 128, weightDecay: 0.01, warmupRatio: 0.1, launcher: 'accelerate', launchArgs: ['--config_file', 'accelerate.yaml'] },
      device: 'cpu',
      output: 'runs',
      maxRowBytes: 2048,
    };
    assert.deepEqual(validate(full, schema), []);
  });

  test("accepts the README's example", () => {
    const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    const example = /## Configuration[\s\S]*?```json\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(example, 'README has a json example under ## Configuration');
    assert.deepEqual(validate(JSON.parse(example) as unknown, schema), []);
  });

  test('flags misspelt keys, unknown losses and bad values', () => {
    assert.deepEqual(validate({ trainig: {} }, schema), ['$: unknown key "trainig"']);
    assert.equal(validate({ training: { loss: 'focal' } }, schema).length, 1);
    assert.equal(validate({ training: { epochs: 0 } }, schema).length, 1);
    assert.equal(validate({ datasets: { real: { fields: {} } } }, schema).length, 1, 'a dataset object needs its path');
    assert.equal(validate({ encoder: { pooling: 'mean' } }, schema).length, 1, 'the encoder needs its path');
    assert.equal(validate({ labels: 'negative,positive' }, schema).length, 1);
  });
});

describe('Getting Started walkthrough', () => {
  const [walkthrough] = manifest.contributes.walkthroughs;

  test('walks through open data → score → review → train → export', () => {
    assert.deepEqual(walkthrough.steps.map((step) => step.id), ['openData', 'score', 'review', 'train', 'export']);
  });

  test('gives each step a command link of this extension or the workbench, and a picture that ships', () => {
    const ours = new Set<string>(Object.values(CommandId));
    const ignored = fs.readFileSync(path.join(repoRoot, '.vscodeignore'), 'utf8').split('\n');
    assert.ok(!ignored.some((line) => line.startsWith('media')), '.vscodeignore leaves media/ out');
    for (const step of walkthrough.steps) {
      const links = [...step.description.matchAll(/\]\(command:([\w.]+)\)/g)].map((match) => match[1]);
      assert.ok(links.length >= 1, `${step.id}: a command link`);
      for (const link of links) assert.ok(ours.has(link) || link.startsWith('workbench.'), `${step.id}: unknown command ${link}`);
      for (const event of step.completionEvents ?? []) {
        if (event.startsWith('onCommand:')) assert.ok(ours.has(event.slice('onCommand:'.length)), `${step.id}: ${event}`);
      }
      const picture = step.media.image ?? step.media.svg;
      assert.ok(picture && step.media.altText, `${step.id}: a picture with alt text`);
      assert.ok(fs.statSync(path.join(repoRoot, picture)).size > 0, `${step.id}: ${picture} exists`);
    }
  });
});
