import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, promises as fs, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { referenceBertForward } from '../../scripts/test-models';
import { loadDataset, type Dataset } from '../../src/core/data/dataset';
import { LabelMap } from '../../src/core/data/labels';
import { DimpError } from '../../src/core/errors';
import { loadClassifier } from '../../src/core/model/modelFolder';
import { ElementType, encodeModel, intAttribute, node, valueInfo } from '../../src/core/model/onnxGraph';
import { onnxRuntime, openModelSession } from '../../src/core/runtime/onnxRuntime';
import { readConfigJson, readTransformerFolder } from '../../src/core/model/transformer/folder';
import { TextTokenizer } from '../../src/core/model/transformer/tokenizer';
import { TransformerWorkerHost } from '../../src/core/model/transformer/workerHost';
import { DEFAULT_CHECKER_SETTINGS } from '../../src/core/train/ngramTraining';
import { scoreSynthetic } from '../../src/core/jobs/checkers';
import { DEFAULT_WEIGHT_GUARDS, impWeight } from '../../src/core/weighting/weights';
import { REPO_ROOT, SAMPLE_DIR, temporaryFolder } from './helpers';
import { bertWordPiece, NEEDS_BERT_TOKENIZER, SAMPLE_LABELS, sampleWordPiece, tinyModelFolder, type TestFolder } from './transformerFixtures';

const folder = temporaryFolder();
after(() => folder.cleanup());
const labelMap = new LabelMap(SAMPLE_LABELS);

/** Softmax of the reference logits for each row, tokenized by the folder's own tokenizer files. */
function referenceProbabilities(model: TestFolder, rows: readonly { texts: readonly string[] }[], maxLength: number): Float64Array {
  const tokenizer = TextTokenizer.create(JSON.parse(readFileSync(path.join(model.dir, 'tokenizer.json'), 'utf8')), {}, { maxLength }, 'tokenizer.json');
  const n = model.weights.numLabels;
  const out = new Float64Array(rows.length * n);
  rows.forEach((row, i) => {
    const encoded = tokenizer.encode(row.texts);
    const { logits } = referenceBertForward(model.weights, { ids: Array.from(encoded.ids), tokenTypeIds: model.graph.tokenTypeIds ? Array.from(encoded.typeIds) : undefined });
    const max = Math.max(...logits);
    const exp = logits.map((z) => Math.exp(z - max));
    const sum = exp.reduce((a, b) => a + b, 0);
    exp.forEach((e, c) => (out[i * n + c] = e / sum));
  });
  return out;
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** Rows of every shape the loader meets: short, long (past the 128-token limit), pairs. */
async function mixedRows(): Promise<{ texts: [string] | [string, string] }[]> {
  const real = await loadDataset(path.join(SAMPLE_DIR, 'real_train.jsonl'), labelMap);
  const rows: { texts: [string] | [string, string] }[] = real.rows.slice(0, 40).map((r) => ({ texts: r.texts }));
  rows.push({ texts: [real.rows.slice(40, 60).map((r) => r.texts[0]).join(' ')] });
  rows.push({ texts: ['It does the job.', 'It is fine for the price.'] });
  rows.push({ texts: [real.rows[60]!.texts[0], real.rows.slice(61, 80).map((r) => r.texts[0]).join(' ')] });
  rows.push({ texts: ['ok'] });
  return rows;
}

describe('transformer sequence classifiers', () => {
  let classifier: TestFolder;
  let rows: { texts: [string] | [string, string] }[];

  before(async () => {
    classifier = await tinyModelFolder(path.join(folder.dir, 'classifier'), { seed: 11, labels: SAMPLE_LABELS });
    rows = await mixedRows();
  });

  test('probabilities equal a reference forward pass of the same weights within 1e-4', async (t) => {
    const model = await loadClassifier(classifier.dir, 'cpu');
    try {
      assert.equal(model.provider, 'cpu');
      assert.match(model.description, /bert sequence classifier \(2 layers, hidden 64, 3 labels, max 128 tokens\)/);
      const probabilities = await model.predict(rows, { batchSize: 8 });
      const difference = maxDifference(probabilities, referenceProbabilities(classifier, rows, 128));
      t.diagnostic(`max |Δp| against the reference: ${difference.toExponential(2)}`);
      assert.ok(difference < 1e-4, `max |Δp| = ${difference}`);
      // The random model is not constant: rows get different distributions.
      assert.ok(new Set(Array.from({ length: rows.length }, (_, i) => probabilities[i * 3]!.toFixed(4))).size > 20);
    } finally {
      await model.dispose();
    }
  });

  test('int32 ids, no token_type_ids, graph under onnx/: still within 1e-4', async () => {
    const variant = await tinyModelFolder(path.join(folder.dir, 'variant'), {
      seed: 12,
      labels: SAMPLE_LABELS,
      graph: { idType: 'int32', tokenTypeIds: false },
      typeVocabSize: 0,
      layout: 'onnx-subfolder',
    });
    const model = await loadClassifier(variant.dir, 'cpu');
    try {
      const difference = maxDifference(await model.predict(rows, { batchSize: 5 }), referenceProbabilities(variant, rows, 128));
      assert.ok(difference < 1e-4, `max |Δp| = ${difference}`);
    } finally {
      await model.dispose();
    }
  });

  test('with the real BERT uncased tokenizer: within 1e-4', { skip: NEEDS_BERT_TOKENIZER }, async (t) => {
    const bert = await tinyModelFolder(path.join(folder.dir, 'bert-vocab'), { seed: 13, labels: SAMPLE_LABELS, tokenizer: bertWordPiece() });
    const model = await loadClassifier(bert.dir, 'cpu');
    try {
      const difference = maxDifference(await model.predict(rows), referenceProbabilities(bert, rows, 128));
      t.diagnostic(`max |Δp| against the reference: ${difference.toExponential(2)}`);
      assert.ok(difference < 1e-4, `max |Δp| = ${difference}`);
    } finally {
      await model.dispose();
    }
  });

  test('a --max-length below the model’s limit truncates (and changes long rows only)', async () => {
    const model = await loadClassifier(classifier.dir, 'cpu', { maxLength: 16 });
    try {
      const difference = maxDifference(await model.predict(rows), referenceProbabilities(classifier, rows, 16));
      assert.ok(difference < 1e-4, `max |Δp| = ${difference}`);
    } finally {
      await model.dispose();
    }
  });

  test('CUDA that cannot start falls back to CPU and says why', async () => {
    const model = await loadClassifier(classifier.dir, 'cuda');
    try {
      // No CUDA provider is installed here (ONNXRUNTIME_NODE_INSTALL=skip); where one is, CUDA is used.
      if (model.provider === 'cpu') assert.match(model.fallbackReason ?? '', /cuda/i);
      else assert.equal(model.provider, 'cuda');
    } finally {
      await model.dispose();
    }
  });

  test('cancelling a prediction answers at once, stops the worker between batches, and never crashes the process', async () => {
    const many = Array.from({ length: 400 }, (_, i) => rows[i % rows.length]!);
    // Ending a thread inside onnxruntime's native run aborts the process; abort at several points to be sure it never does.
    for (const after of [1, 5, 17, 40]) {
      const model = await loadClassifier(classifier.dir, 'cpu');
      const controller = new AbortController();
      await assert.rejects(
        model.predict(many, { batchSize: 4, signal: controller.signal, onProgress: (done) => done >= after * 4 && controller.abort() }),
        (error: unknown) => error instanceof DimpError && error.kind === 'cancelled',
      );
      await model.dispose();
    }
  });

  test('disposing a model while it predicts stops the prediction after the current batch', async () => {
    const model = await loadClassifier(classifier.dir, 'cpu');
    const many = Array.from({ length: 400 }, (_, i) => rows[i % rows.length]!);
    let disposed: Promise<void> | undefined;
    const prediction = model.predict(many, { batchSize: 4, onProgress: (done) => (disposed ??= done >= 8 ? model.dispose() : undefined) });
    await assert.rejects(prediction, (error: unknown) => error instanceof DimpError && error.kind === 'cancelled');
    await disposed;
  });

  test('cancelling while the model opens rejects with "cancelled" and leaves nothing running', async () => {
    const files = await readTransformerFolder(classifier.dir, await readConfigJson(classifier.dir));
    for (const delay of [0, 5, 30]) {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), delay);
      const opening = TransformerWorkerHost.start(
        { folder: classifier.dir, graphFile: files.graphFile, configFile: files.configFile, config: files.config, tokenizerFile: files.tokenizerFile, tokenizerJson: files.tokenizerJson, tokenizerConfig: files.tokenizerConfig, task: 'classify', numLabels: 3, device: 'cpu' },
        controller.signal,
      );
      await opening.then(
        (host) => host.dispose(),
        (error: unknown) => assert.ok(error instanceof DimpError && error.kind === 'cancelled', String(error)),
      );
    }
  });

  describe('scoring with transformer checkers', () => {
    let synthetic: Dataset;

    before(async () => {
      const full = await loadDataset(path.join(SAMPLE_DIR, 'synthetic.jsonl'), labelMap);
      synthetic = { ...full, rows: full.rows.slice(0, 150) };
    });

    test('q, d and the IMP weight come from the two folders exactly as for the built-in model', async () => {
      const diversity = await tinyModelFolder(path.join(folder.dir, 'diversity'), { seed: 14, labels: SAMPLE_LABELS });
      const scores = await scoreSynthetic({
        synthetic,
        labelMap,
        qualityModel: classifier.dir,
        diversityModel: diversity.dir,
        checkersDir: path.join(folder.dir, 'checkers'),
        checkerSettings: DEFAULT_CHECKER_SETTINGS,
        seed: 1,
        guards: DEFAULT_WEIGHT_GUARDS,
        device: 'cpu',
      });
      assert.equal(scores.header.provider, 'cpu');
      assert.match(scores.header.qualityChecker, /bert sequence classifier/);
      const q = referenceProbabilities(classifier, synthetic.rows, 128);
      const d = referenceProbabilities(diversity, synthetic.rows, 128);
      scores.rows.forEach((score, i) => {
        const row = synthetic.rows[i]!;
        assert.equal(score.rowId, row.rowId);
        assert.ok(Math.abs(score.quality - q[i * 3 + row.label]!) < 1e-4, `row ${i}: q ${score.quality} vs reference ${q[i * 3 + row.label]}`);
        assert.ok(Math.abs(score.diversity - d[i * 3 + row.label]!) < 1e-4, `row ${i}: d`);
        assert.equal(score.impWeight, impWeight(score.quality, score.diversity, DEFAULT_WEIGHT_GUARDS));
      });
    });

    test('checker labels must match the data’s', async () => {
      const other = await tinyModelFolder(path.join(folder.dir, 'other-labels'), { seed: 15, labels: ['bad', 'good'] });
      await assert.rejects(
        scoreSynthetic({
          synthetic,
          labelMap,
          qualityModel: other.dir,
          diversityModel: classifier.dir,
          checkersDir: path.join(folder.dir, 'checkers2'),
          checkerSettings: DEFAULT_CHECKER_SETTINGS,
          seed: 1,
          guards: DEFAULT_WEIGHT_GUARDS,
          device: 'cpu',
        }),
        /the model's labels \(bad, good\) differ from the data's/,
      );
    });
  });

  test('the CLI scores with --quality-model and --diversity-model folders and evaluates one', async () => {
    const work = path.join(folder.dir, 'cli');
    await fs.mkdir(work);
    const lines = readFileSync(path.join(SAMPLE_DIR, 'synthetic.jsonl'), 'utf8').split('\n').slice(0, 60).join('\n') + '\n';
    writeFileSync(path.join(work, 'syn.jsonl'), lines);
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'dimp-curator'), ...args], { cwd: work, encoding: 'utf8', timeout: 60_000, env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } });
    const scored = run('score', '--synthetic', 'syn.jsonl', '--quality-model', classifier.dir, '--diversity-model', classifier.dir, '--device', 'cuda', '--json');
    assert.equal(scored.status, 0, scored.stderr + scored.stdout);
    const events = scored.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; message?: string; provider?: string; rows?: number });
    const result = events.find((e) => e.type === 'result')!;
    assert.equal(result.rows, 60);
    if (result.provider === 'cpu') assert.ok(events.some((e) => e.type === 'log' && /cuda/i.test(e.message ?? '')), 'the CUDA fallback is reported');
    const scores = readFileSync(path.join(work, 'syn.scores.jsonl'), 'utf8').trim().split('\n');
    assert.equal(scores.length, 61);
    // Same model as both checkers: q = d, so every IMP weight is 1.
    for (const line of scores.slice(1)) assert.equal((JSON.parse(line) as { impWeight: number }).impWeight, 1);
    const evaluated = run('eval', '--model', classifier.dir, '--data', path.join(SAMPLE_DIR, 'real_val.jsonl'), '--json');
    assert.equal(evaluated.status, 0, evaluated.stderr + evaluated.stdout);
    const evaluation = JSON.parse(evaluated.stdout.trim().split('\n').pop()!) as { rows: number; provider: string };
    assert.equal(evaluation.rows, 200);
    assert.equal(evaluation.provider, 'cpu');
  });
});

describe('broken transformer folders get errors that say what is wrong and where', () => {
  let good: string;
  before(async () => {
    good = (await tinyModelFolder(path.join(folder.dir, 'good'), { seed: 21, labels: SAMPLE_LABELS })).dir;
  });

  const broken = (name: string, edit: (dir: string) => void): string => {
    const dir = path.join(folder.dir, `broken-${name}`);
    cpSync(good, dir, { recursive: true });
    edit(dir);
    return dir;
  };
  const editConfig = (dir: string, change: (config: Record<string, unknown>) => void): void => {
    const file = path.join(dir, 'config.json');
    const config = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    change(config);
    writeFileSync(file, JSON.stringify(config));
  };
  const writeGraph = (dir: string, graph: Parameters<typeof encodeModel>[0]): void => writeFileSync(path.join(dir, 'model.onnx'), encodeModel(graph, 17, 'test'));
  const expectModelError = async (dir: string, pattern: RegExp, file?: string): Promise<void> => {
    await assert.rejects(loadClassifier(dir), (error: unknown) => {
      assert.ok(error instanceof DimpError, `expected a DimpError, got ${String(error)}`);
      assert.equal(error.kind, 'badModel');
      assert.match(error.message, pattern);
      if (file) assert.equal(error.file, path.join(dir, file));
      return true;
    });
  };

  test('tokenizer.json missing', async () => {
    const dir = broken('tokenizer-missing', () => undefined);
    await fs.rm(path.join(dir, 'tokenizer.json'));
    await expectModelError(dir, /model_type "bert" is not the built-in model, so this must be a transformer folder, but it has no tokenizer\.json/, 'tokenizer.json');
  });
  test('tokenizer.json is not JSON', () => expectModelError(broken('tokenizer-json', (d) => writeFileSync(path.join(d, 'tokenizer.json'), '{"model":')), /tokenizer\.json is not valid JSON/, 'tokenizer.json'));
  test('tokenizer.json has no model', () => expectModelError(broken('tokenizer-model', (d) => writeFileSync(path.join(d, 'tokenizer.json'), '{"version":"1.0"}')), /has no "model" section/, 'tokenizer.json'));
  test('tokenizer_config.json is not JSON', () =>
    expectModelError(broken('tokenizer-config', (d) => writeFileSync(path.join(d, 'tokenizer_config.json'), 'nope')), /tokenizer_config\.json is not valid JSON/, 'tokenizer_config.json'));
  test('no graph in either place', async () => {
    const dir = broken('no-graph', () => undefined);
    await fs.rm(path.join(dir, 'model.onnx'));
    await expectModelError(dir, /missing the ONNX graph: looked for model\.onnx and onnx\/model\.onnx/);
  });
  test('corrupt graph bytes', () => expectModelError(broken('corrupt', (d) => writeFileSync(path.join(d, 'model.onnx'), 'not a protobuf')), /onnxruntime could not load the model/, 'model.onnx'));
  test('a graph input the loader cannot feed', () =>
    expectModelError(
      broken('extra-input', (d) =>
        writeGraph(d, {
          name: 'g',
          input: [valueInfo('input_ids', ElementType.int64, ['b', 's']), valueInfo('past_key_values', ElementType.float, ['b', 's'])],
          output: [valueInfo('logits', ElementType.float, ['b', 's'])],
          node: [node('Cast', ['input_ids'], ['ids_float'], [intAttribute('to', ElementType.float)]), node('Add', ['ids_float', 'past_key_values'], ['logits'])],
        }),
      ),
      /needs input "past_key_values", which this loader cannot feed/,
      'model.onnx',
    ));
  test('a graph without input_ids', () =>
    expectModelError(
      broken('no-input-ids', (d) =>
        writeGraph(d, {
          name: 'g',
          input: [valueInfo('attention_mask', ElementType.int64, ['b', 's'])],
          output: [valueInfo('logits', ElementType.float, ['b', 's'])],
          node: [node('Cast', ['attention_mask'], ['logits'], [intAttribute('to', ElementType.float)])],
        }),
      ),
      /the graph has no input_ids input \(inputs: attention_mask \[b, s\]\)/,
    ));
  test('float token inputs', () =>
    expectModelError(
      broken('float-ids', (d) =>
        writeGraph(d, { name: 'g', input: [valueInfo('input_ids', ElementType.float, ['b', 3])], output: [valueInfo('logits', ElementType.float, ['b', 3])], node: [node('Identity', ['input_ids'], ['logits'])] }),
      ),
      /graph input input_ids is float32; token inputs must be int64 or int32/,
    ));
  test('logits for another number of labels than id2label', () =>
    expectModelError(
      broken('label-count', (d) =>
        editConfig(d, (c) => {
          c.id2label = { 0: 'negative', 1: 'positive' };
          c.label2id = { negative: 0, positive: 1 };
        }),
      ),
      /the graph's logits have 3 labels but config\.json id2label names 2/,
      'model.onnx',
    ));
  test('an encoder given where a classifier is needed', async () => {
    const encoder = await tinyModelFolder(path.join(folder.dir, 'encoder-as-classifier'), { seed: 22 });
    editConfig(encoder.dir, (c) => (c.id2label = { 0: 'negative', 1: 'neutral', 2: 'positive' }));
    await expectModelError(encoder.dir, /outputs last_hidden_state \[batch_size, sequence_length, 64\] but no logits: it is an encoder, not a sequence classifier; train a head on it with `dimp-curator train --encoder/);
  });
  test('num_labels that disagrees with id2label', () => expectModelError(broken('num-labels', (d) => editConfig(d, (c) => (c.num_labels = 5))), /num_labels is 5 but id2label names 3 labels/, 'config.json'));
  test('label2id that does not mirror id2label', () =>
    expectModelError(broken('label2id', (d) => editConfig(d, (c) => (c.label2id = { negative: 0, neutral: 2, positive: 1 }))), /label2id does not mirror id2label/, 'config.json'));
  test('a multi-label model', () =>
    expectModelError(broken('multi-label', (d) => editConfig(d, (c) => (c.problem_type = 'multi_label_classification'))), /not single-label classification/, 'config.json'));
  test('no id2label', () => expectModelError(broken('no-id2label', (d) => editConfig(d, (c) => delete c.id2label)), /config\.json has no id2label/));
  test('a tokenizer whose ids overflow the model’s vocabulary', () =>
    expectModelError(broken('vocab', (d) => editConfig(d, (c) => (c.vocab_size = 100))), /tokenizer\.json has token ids up to \d+ but config\.json says vocab_size 100: the tokenizer does not belong to this model/, 'tokenizer.json'));
});

describe('execution providers at the gateway', () => {
  const graph = encodeModel({ name: 'g', input: [valueInfo('x', ElementType.float, ['n'])], output: [valueInfo('y', ElementType.float, ['n'])], node: [node('Identity', ['x'], ['y'])] }, 13, 'test');
  /**
   * MOCK GPU, at the session-factory boundary only: "cuda" starts (the session really runs on the CPU) and
   * "webgpu" fails as it does on a machine without an adapter. No GPU is lent to this project's machines.
   */
  const mockGpuFactory = async (model: string | Uint8Array, options: { executionProviders?: readonly unknown[] }) => {
    if (options.executionProviders?.[0] === 'webgpu') throw new Error('Failed to get a WebGPU adapter: No supported adapters (mock)');
    return onnxRuntime().InferenceSession.create(model as Uint8Array, { ...options, executionProviders: ['cpu'] });
  };

  test('a provider that starts is recorded, with no fallback reason (mock GPU)', async () => {
    const session = await openModelSession(graph, 'cuda', { createSession: mockGpuFactory });
    assert.equal(session.provider, 'cuda');
    assert.equal(session.fallbackReason, undefined);
    await session.release();
  });

  test('a provider that fails falls back to CPU with its reason (mock GPU)', async () => {
    const session = await openModelSession(graph, 'webgpu', { createSession: mockGpuFactory });
    assert.equal(session.provider, 'cpu');
    assert.match(session.fallbackReason ?? '', /^webgpu: Failed to get a WebGPU adapter/);
    await session.release();
  });

  test('the real WebGPU provider without an adapter falls back to CPU too', async () => {
    const session = await openModelSession(graph, 'webgpu');
    if (session.provider === 'cpu') assert.match(session.fallbackReason ?? '', /webgpu/i);
    await session.release();
  });
});

describe('the project-built tokenizer fixture', () => {
  test('is small and deterministic', () => {
    const first = sampleWordPiece();
    assert.ok(first.vocabSize > 500 && first.vocabSize < 2000, `vocab ${first.vocabSize}`);
    assert.equal(first.tokenizer.model.vocab['[PAD]'], 0);
  });
});
