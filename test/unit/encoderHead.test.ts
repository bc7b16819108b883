import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { referenceBertForward } from '../../scripts/test-models';
import { loadDataset, type Dataset } from '../../src/core/data/dataset';
import { LabelMap } from '../../src/core/data/labels';
import { DimpError } from '../../src/core/errors';
import { loadClassifier } from '../../src/core/model/modelFolder';
import { EmbeddingCache, textKey } from '../../src/core/model/transformer/embeddingCache';
import { FrozenEncoder, type EmbeddingMatrix } from '../../src/core/model/transformer/encoder';
import { saveEncoderHeadModel } from '../../src/core/model/transformer/encoderHead';
import { readConfigJson, readTransformerFolder } from '../../src/core/model/transformer/folder';
import { buildHeadOnnx, fitStandardization, HEAD_GRAPH, HeadClassifier, type HeadKind, type HeadParameters } from '../../src/core/model/transformer/headClassifier';
import { TextTokenizer } from '../../src/core/model/transformer/tokenizer';
import { SeededRandom } from '../../src/core/random';
import { openModelSession, tensor } from '../../src/core/runtime/onnxRuntime';
import { DEFAULT_ENCODER_HEAD_SETTINGS, trainEncoderHead, type EncoderHeadSettings } from '../../src/core/train/encoderHeadTraining';
import { evaluateProbabilities } from '../../src/core/train/metrics';
import { DEFAULT_CHECKER_SETTINGS } from '../../src/core/train/ngramTraining';
import { runTraining } from '../../src/core/train/run';
import { batchLoss, predictProbabilities } from '../../src/core/train/trainer';
import { scoreSynthetic } from '../../src/core/jobs/checkers';
import { DEFAULT_WEIGHT_GUARDS } from '../../src/core/weighting/weights';
import type { LossKind } from '../../src/protocol/events';
import { REPO_ROOT, SAMPLE_DIR, temporaryFolder } from './helpers';
import { SAMPLE_LABELS, tinyModelFolder, type TestFolder } from './transformerFixtures';

const folder = temporaryFolder();
after(() => folder.cleanup());
const labelMap = new LabelMap(SAMPLE_LABELS);

function randomEmbeddings(count: number, dim: number, seed: number): EmbeddingMatrix {
  const random = new SeededRandom(seed);
  return { values: Float32Array.from({ length: count * dim }, () => random.next() * 4 - 1), dim, count };
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe('the trainable head', () => {
  const embeddings = randomEmbeddings(5, 6, 3);
  const examples = [0, 1, 2, 3, 4];
  const labels = [2, 0, 1, 1, 0];
  const quality = [0.9, 0.2, 0.6, 0.5, 0.99];

  for (const kind of ['linear', 'mlp'] as HeadKind[]) {
    for (const loss of ['ce', 'dimp'] as LossKind[]) {
      test(`${kind}, ${loss}: backward matches central finite differences`, () => {
        const head = new HeadClassifier({ kind, inputDim: 6, hiddenUnits: 7, numClasses: 3 }, fitStandardization(embeddings), 5);
        const before = head.parameters();
        const logits = new Float32Array(15);
        const buffers = { probabilities: new Float32Array(15), gradLogits: new Float32Array(15), weights: new Float32Array(5) };
        head.forward(embeddings, examples, logits);
        batchLoss(logits, labels, 3, loss, DEFAULT_WEIGHT_GUARDS, quality, undefined, buffers);
        const weights = Array.from(buffers.weights);
        head.backward(buffers.gradLogits, 1, null);
        const stepped = head.parameters();
        const objective = (parameters: HeadParameters): number => {
          const model = HeadClassifier.fromParameters(parameters);
          const z = new Float32Array(15);
          model.forward(embeddings, examples, z);
          return batchLoss(z, labels, 3, loss, DEFAULT_WEIGHT_GUARDS, quality, undefined, { probabilities: new Float32Array(15), gradLogits: new Float32Array(15), weights: new Float32Array(5) }, weights).objective;
        };
        const h = 1e-3;
        let checked = 0;
        for (const name of ['outputWeight', 'outputBias', 'hiddenWeight', 'hiddenBias'] as const) {
          for (let i = 0; i < before[name].length; i++) {
            const plus = structuredClone(before);
            plus[name][i]! += h;
            const minus = structuredClone(before);
            minus[name][i]! -= h;
            const numeric = (objective(plus) - objective(minus)) / (2 * h);
            const analytic = before[name][i]! - stepped[name][i]!;
            assert.ok(Math.abs(analytic - numeric) <= 2e-3 * Math.max(1, Math.abs(numeric)), `${name}[${i}]: backward ${analytic}, finite difference ${numeric}`);
            checked += 1;
          }
        }
        assert.ok(checked >= (kind === 'mlp' ? 6 * 7 + 7 + 7 * 3 + 3 : 6 * 3 + 3));
        // The standardisation is fixed: training never moves it.
        assert.deepEqual(stepped.mean, before.mean);
      });
    }
  }

  test('the gradient norm is clipped to the limit', () => {
    const head = new HeadClassifier({ kind: 'mlp', inputDim: 6, hiddenUnits: 7, numClasses: 3 }, fitStandardization(embeddings), 5);
    const before = head.parameters();
    const logits = new Float32Array(15);
    head.forward(embeddings, examples, logits);
    const grad = Float32Array.from({ length: 15 }, (_, i) => (i % 3 === 0 ? 5 : -2.5));
    const norm = head.backward(grad, 1, 0.01);
    assert.ok(norm > 0.01);
    let moved = 0;
    const after_ = head.parameters();
    for (const name of ['outputWeight', 'outputBias', 'hiddenWeight', 'hiddenBias'] as const) for (let i = 0; i < before[name].length; i++) moved += (before[name][i]! - after_[name][i]!) ** 2;
    assert.ok(Math.abs(Math.sqrt(moved) - 0.01) < 1e-5, `step length ${Math.sqrt(moved)}`);
  });

  test('head.onnx computes what the TypeScript head computes (within 1e-5)', async () => {
    const data = randomEmbeddings(40, 6, 9);
    for (const kind of ['linear', 'mlp'] as HeadKind[]) {
      const head = new HeadClassifier({ kind, inputDim: 6, hiddenUnits: 7, numClasses: 3 }, fitStandardization(data), 11);
      const expected = predictProbabilities(head, data, 40);
      const session = await openModelSession(buildHeadOnnx(head.parameters()), 'cpu');
      try {
        const out = await session.run({ [HEAD_GRAPH.embedding]: tensor('float32', data.values, [40, 6]) });
        const difference = maxDifference(out[HEAD_GRAPH.probabilities]!.data as Float32Array, expected);
        assert.ok(difference < 1e-5, `${kind}: max |Δp| = ${difference}`);
      } finally {
        await session.release();
      }
    }
  });
});

describe('frozen encoder + head', () => {
  let encoder: TestFolder;
  let sentenceEncoder: TestFolder;
  let rows: { texts: [string] | [string, string] }[];

  before(async () => {
    encoder = await tinyModelFolder(path.join(folder.dir, 'encoder'), { seed: 31 });
    sentenceEncoder = await tinyModelFolder(path.join(folder.dir, 'sentence-encoder'), { seed: 32, graph: { output: 'sentence-embedding' }, layout: 'onnx-subfolder' });
    const real = await loadDataset(path.join(SAMPLE_DIR, 'real_val.jsonl'), labelMap);
    rows = [...real.rows.slice(0, 30).map((r) => ({ texts: r.texts })), { texts: ['It works.', 'It does not work at all.'] }, { texts: [real.rows.slice(30, 60).map((r) => r.texts[0]).join(' ')] }];
  });

  /** The reference embedding of a row: pooling of the float64 reference pass. */
  const reference = (model: TestFolder, pooling: 'mean' | 'cls' | 'sentence_embedding', maxLength: number): Float64Array => {
    const tokenizer = TextTokenizer.create(JSON.parse(readFileSync(path.join(model.dir, 'tokenizer.json'), 'utf8')), {}, { maxLength }, 'tokenizer.json');
    const h = model.weights.shape.hidden;
    const out = new Float64Array(rows.length * h);
    rows.forEach((row, i) => {
      const encoded = tokenizer.encode(row.texts);
      const result = referenceBertForward(model.weights, { ids: Array.from(encoded.ids), tokenTypeIds: Array.from(encoded.typeIds) });
      const n = encoded.ids.length;
      for (let d = 0; d < h; d++) {
        if (pooling === 'cls') out[i * h + d] = result.hidden[d]!;
        else if (pooling === 'sentence_embedding') out[i * h + d] = result.sentenceEmbedding[d]!;
        else for (let t = 0; t < n; t++) out[i * h + d]! += result.hidden[t * h + d]! / n;
      }
    });
    return out;
  };

  for (const pooling of ['mean', 'cls'] as const) {
    test(`${pooling} pooling equals the reference pass within 1e-4`, async () => {
      const frozen = await FrozenEncoder.open({ folder: encoder.dir, pooling, device: 'cpu', batchSize: 7 });
      try {
        assert.equal(frozen.info.pooling, pooling);
        assert.equal(frozen.dim, 64);
        const { embeddings } = await frozen.embed(rows);
        const difference = maxDifference(embeddings.values, reference(encoder, pooling, 128));
        assert.ok(difference < 1e-4, `max |Δ| = ${difference}`);
      } finally {
        await frozen.dispose();
      }
    });
  }

  test('auto pooling uses a sentence_embedding output when the graph has one', async () => {
    const frozen = await FrozenEncoder.open({ folder: sentenceEncoder.dir, pooling: 'auto', device: 'cpu', batchSize: 8 });
    try {
      assert.equal(frozen.info.pooling, 'sentence_embedding');
      const difference = maxDifference((await frozen.embed(rows)).embeddings.values, reference(sentenceEncoder, 'sentence_embedding', 128));
      assert.ok(difference < 1e-4, `max |Δ| = ${difference}`);
    } finally {
      await frozen.dispose();
    }
  });

  test('embeddings are cached by encoder and text: the second run reads them back, a new max length does not', async () => {
    const cacheDir = path.join(folder.dir, 'cache');
    const duplicated = [...rows, rows[0]!, rows[1]!];
    const first = await FrozenEncoder.open({ folder: encoder.dir, pooling: 'mean', device: 'cpu', batchSize: 8, cacheDir });
    const computed = await first.embed(duplicated);
    await first.dispose();
    assert.equal(computed.cached, 0);
    assert.equal(computed.computed, rows.length, 'each distinct text runs once');
    const second = await FrozenEncoder.open({ folder: encoder.dir, pooling: 'mean', device: 'cpu', batchSize: 8, cacheDir });
    const cached = await second.embed(duplicated);
    await second.dispose();
    assert.equal(cached.computed, 0);
    assert.equal(cached.cached, duplicated.length);
    assert.deepEqual(cached.embeddings.values, computed.embeddings.values);
    assert.equal(second.fingerprint, first.fingerprint);
    const shorter = await FrozenEncoder.open({ folder: encoder.dir, pooling: 'mean', device: 'cpu', batchSize: 8, cacheDir, maxLength: 16 });
    const other = await shorter.embed(rows.slice(0, 3));
    await shorter.dispose();
    assert.notEqual(shorter.fingerprint, first.fingerprint);
    assert.equal(other.computed, 3);
  });

  test('an unreadable cache shard is reported and recomputed, not trusted', async () => {
    const cacheDir = path.join(folder.dir, 'cache-corrupt');
    const cache = await EmbeddingCache.open(cacheDir, 'abc', 4, {});
    await cache.add([textKey(['x']), textKey(['y'])], Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]));
    const [shard] = (await fs.readdir(path.join(cacheDir, 'abc'))).filter((n) => n.endsWith('.emb'));
    const bytes = await fs.readFile(path.join(cacheDir, 'abc', shard!));
    await fs.writeFile(path.join(cacheDir, 'abc', shard!), bytes.subarray(0, bytes.length - 3));
    const reopened = await EmbeddingCache.open(cacheDir, 'abc', 4, {});
    assert.equal(reopened.size, 0);
    assert.deepEqual(reopened.skippedShards, [path.join(cacheDir, 'abc', shard!)]);
    const intact = await EmbeddingCache.open(path.join(folder.dir, 'cache-ok'), 'abc', 4, {});
    await intact.add([textKey(['x'])], Float32Array.from([1, 2, 3, 4]));
    assert.deepEqual(Array.from((await EmbeddingCache.open(path.join(folder.dir, 'cache-ok'), 'abc', 4, {})).get(textKey(['x']))!), [1, 2, 3, 4]);
  });

  for (const [pooling, which] of [
    ['mean', 'encoder'],
    ['cls', 'encoder'],
    ['sentence_embedding', 'sentenceEncoder'],
  ] as const) {
    test(`the exported folder (${pooling} pooling + mlp head) reloads and predicts as the trained head within 1e-4`, async () => {
      const source = which === 'encoder' ? encoder : sentenceEncoder;
      const frozen = await FrozenEncoder.open({ folder: source.dir, pooling, device: 'cpu', batchSize: 8 });
      let embeddings: EmbeddingMatrix;
      try {
        embeddings = (await frozen.embed(rows)).embeddings;
      } finally {
        await frozen.dispose();
      }
      const head = new HeadClassifier({ kind: 'mlp', inputDim: 64, hiddenUnits: 16, numClasses: 3 }, fitStandardization(embeddings), 4);
      const expected = predictProbabilities(head, embeddings, rows.length);
      const target = path.join(folder.dir, `exported-${pooling}`);
      await saveEncoderHeadModel(target, {
        encoder: await readTransformerFolder(source.dir, await readConfigJson(source.dir)),
        encoderFingerprint: frozen.fingerprint,
        pooling,
        embeddingOutput: frozen.info.output,
        maxLength: frozen.info.maxLength,
        head: head.parameters(),
        labelMap,
      });
      const exported = await loadClassifier(target, 'cpu');
      try {
        assert.match(exported.description, /bert encoder \+ mlp head/);
        const difference = maxDifference(await exported.predict(rows), expected);
        assert.ok(difference < 1e-4, `max |Δp| = ${difference}`);
      } finally {
        await exported.dispose();
      }
    });
  }

  test('an exported folder scores cached rows with head.onnx alone, the rest with the whole model', async () => {
    const cacheDir = path.join(folder.dir, 'cache-scoring');
    const frozen = await FrozenEncoder.open({ folder: encoder.dir, pooling: 'mean', device: 'cpu', batchSize: 8, cacheDir });
    let embeddings: EmbeddingMatrix;
    try {
      await frozen.embed(rows.slice(0, 20));
      embeddings = (await FrozenEncoder.open({ folder: encoder.dir, pooling: 'mean', device: 'cpu', batchSize: 8 }).then(async (plain) => {
        try {
          return await plain.embed(rows);
        } finally {
          await plain.dispose();
        }
      })).embeddings;
    } finally {
      await frozen.dispose();
    }
    const head = new HeadClassifier({ kind: 'linear', inputDim: 64, hiddenUnits: 0, numClasses: 3 }, fitStandardization(embeddings), 6);
    const target = path.join(folder.dir, 'exported-cached');
    await saveEncoderHeadModel(target, {
      encoder: await readTransformerFolder(encoder.dir, await readConfigJson(encoder.dir)),
      encoderFingerprint: frozen.fingerprint,
      pooling: 'mean',
      embeddingOutput: frozen.info.output,
      maxLength: frozen.info.maxLength,
      head: head.parameters(),
      labelMap,
    });
    const expected = predictProbabilities(head, embeddings, rows.length);
    const progress: number[] = [];
    const cached = await loadClassifier(target, 'cpu', { embeddingCache: cacheDir });
    try {
      const difference = maxDifference(await cached.predict(rows, { onProgress: (done) => progress.push(done) }), expected);
      assert.ok(difference < 1e-4, `max |Δp| = ${difference}`);
      assert.equal(progress[0], 20, 'the 20 cached rows are done in one step, before the model runs');
      assert.equal(progress.at(-1), rows.length);
    } finally {
      await cached.dispose();
    }
  });

  test('an encoder folder that cannot be pooled as asked is a badModel error', async () => {
    const classifier = await tinyModelFolder(path.join(folder.dir, 'classifier-as-encoder'), { seed: 33, labels: SAMPLE_LABELS });
    await assert.rejects(FrozenEncoder.open({ folder: classifier.dir, pooling: 'mean', device: 'cpu', batchSize: 8 }), (error: unknown) => {
      assert.ok(error instanceof DimpError && error.kind === 'badModel');
      assert.match(error.message, /pooling "mean" needs token vectors \(an output named last_hidden_state or token_embeddings/);
      return true;
    });
    await assert.rejects(FrozenEncoder.open({ folder: encoder.dir, pooling: 'sentence_embedding', device: 'cpu', batchSize: 8 }), /pooling "sentence_embedding" needs a sentence_embedding output/);
    const config = JSON.parse(readFileSync(path.join(encoder.dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    const wrongHidden = path.join(folder.dir, 'wrong-hidden');
    await fs.cp(encoder.dir, wrongHidden, { recursive: true });
    writeFileSync(path.join(wrongHidden, 'config.json'), JSON.stringify({ ...config, hidden_size: 768 }));
    await assert.rejects(FrozenEncoder.open({ folder: wrongHidden, pooling: 'mean', device: 'cpu', batchSize: 8 }), /last_hidden_state has 64 values per token but config\.json says hidden_size 768/);
  });

  describe('trained with dimp on the sample', () => {
    let synthetic: Dataset;
    let validation: Dataset;
    let test_: Dataset;
    let settings: EncoderHeadSettings;

    before(async () => {
      const full = await loadDataset(path.join(SAMPLE_DIR, 'synthetic.jsonl'), labelMap);
      synthetic = { ...full, rows: full.rows.slice(0, 1500) };
      validation = await loadDataset(path.join(SAMPLE_DIR, 'real_val.jsonl'), labelMap);
      const fullTest = await loadDataset(path.join(SAMPLE_DIR, 'real_test.jsonl'), labelMap);
      test_ = { ...fullTest, rows: fullTest.rows.slice(0, 400) };
      settings = { ...DEFAULT_ENCODER_HEAD_SETTINGS, encoder: encoder.dir, epochs: 8, cacheDir: path.join(folder.dir, 'run-cache') };
    });

    test('checkers as heads on the encoder, then a dimp head: beats chance clearly, exports and reloads', async (t) => {
      const real = await loadDataset(path.join(SAMPLE_DIR, 'real_train.jsonl'), labelMap);
      const scores = await scoreSynthetic({
        synthetic,
        real,
        labelMap,
        checkersDir: path.join(folder.dir, 'checkers'),
        checkerSettings: DEFAULT_CHECKER_SETTINGS,
        checkerEncoder: settings,
        seed: 1,
        guards: DEFAULT_WEIGHT_GUARDS,
        device: 'cpu',
      });
      assert.match(scores.header.qualityChecker, /bert encoder \+ mlp head/);
      // Scores came from head.onnx on cached embeddings; the whole exported model agrees.
      const whole = await loadClassifier(path.join(folder.dir, 'checkers', 'quality'), 'cpu');
      try {
        const probabilities = await whole.predict(synthetic.rows.slice(0, 50));
        const difference = maxDifference(
          scores.rows.slice(0, 50).map((r) => r.quality),
          synthetic.rows.slice(0, 50).map((r, i) => probabilities[i * 3 + r.label]!),
        );
        assert.ok(difference < 1e-4, `max |Δq| = ${difference}`);
      } finally {
        await whole.dispose();
      }
      const run = await runTraining({
        synthetic,
        labelMap,
        loss: 'dimp',
        scores,
        validation,
        test: test_,
        settings: DEFAULT_CHECKER_SETTINGS,
        encoder: settings,
        seed: 1,
        guards: DEFAULT_WEIGHT_GUARDS,
        device: 'cpu',
        outDir: path.join(folder.dir, 'runs'),
        runName: 'dimp',
      });
      t.diagnostic(`dimp head on a random tiny encoder: validation ${run.validation!.accuracy.toFixed(3)}, test (exported ONNX) ${run.test!.accuracy.toFixed(3)}; chance 0.333`);
      assert.ok(run.test!.accuracy > 0.45, `test accuracy ${run.test!.accuracy}`);
      assert.equal(run.provider, 'cpu');
      assert.equal(run.encoder?.pooling, 'mean');
      // The diversity checker embedded every synthetic row already: training reads them from the cache.
      assert.ok(run.encoder!.cachedRows >= synthetic.rows.length, `${run.encoder!.cachedRows} rows from the cache`);
      assert.ok(run.encoder!.computedRows <= validation.rows.length + test_.rows.length);
      // The reported test score is the exported model's through onnxruntime; the TypeScript head agrees.
      const lastTest = run.epochs[run.bestEpoch - 1]!.test!;
      assert.ok(Math.abs(lastTest.accuracy - run.test!.accuracy) <= 2 / test_.rows.length, `TypeScript ${lastTest.accuracy} vs ONNX ${run.test!.accuracy}`);
      const reloaded = await loadClassifier(path.join(run.runDir, 'model'), 'cpu');
      try {
        const probabilities = await reloaded.predict(test_.rows);
        const scored = evaluateProbabilities(probabilities, Int32Array.from(test_.rows, (r) => r.label), 3);
        assert.equal(scored.accuracy, run.test!.accuracy);
      } finally {
        await reloaded.dispose();
      }
      const config = JSON.parse(readFileSync(path.join(run.runDir, 'config.json'), 'utf8')) as { model: string; settings: { encoder: string } };
      assert.equal(config.model, 'encoder-head');
      assert.equal(config.settings.encoder, encoder.dir);
    });

    test('the same seed gives the same head', async () => {
      const train = (): ReturnType<typeof trainEncoderHead> => trainEncoderHead({ rows: synthetic.rows.slice(0, 300), numClasses: 3, settings: { ...settings, epochs: 2 }, loss: 'ce', seed: 7, device: 'cpu' });
      const [a, b] = [await train(), await train()];
      assert.deepEqual(a.head.parameters().outputWeight, b.head.parameters().outputWeight);
    });
  });

  test('the CLI trains with --encoder and writes a deployable model folder', async () => {
    const work = path.join(folder.dir, 'cli');
    await fs.mkdir(work);
    const lines = readFileSync(path.join(SAMPLE_DIR, 'synthetic.jsonl'), 'utf8').split('\n').slice(0, 300).join('\n') + '\n';
    writeFileSync(path.join(work, 'syn.jsonl'), lines);
    const result = spawnSync(
      process.execPath,
      [
        path.join(REPO_ROOT, 'bin', 'dimp-curator'),
        'train', '--synthetic', 'syn.jsonl', '--real', path.join(SAMPLE_DIR, 'real_train.jsonl'), '--test', path.join(SAMPLE_DIR, 'real_val.jsonl'),
        '--labels', SAMPLE_LABELS.join(','), '--encoder', encoder.dir, '--head', 'linear', '--epochs', '3', '--loss', 'imp', '--name', 'run', '--json',
      ],
      { cwd: work, encoding: 'utf8', timeout: 120_000, env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } },
    );
    assert.equal(result.status, 0, result.stderr + result.stdout);
    const final = JSON.parse(result.stdout.trim().split('\n').pop()!) as { type: string; loss: string; provider: string; encoder: { pooling: string; provider: string } };
    assert.equal(final.type, 'result');
    assert.equal(final.loss, 'imp');
    assert.equal(final.encoder.provider, 'cpu');
    const model = path.join(work, 'runs', 'run', 'model');
    assert.deepEqual((await fs.readdir(model)).sort(), ['config.json', 'head.onnx', 'model.onnx', 'tokenizer.json', 'tokenizer_config.json']);
    const config = JSON.parse(readFileSync(path.join(model, 'config.json'), 'utf8')) as { dimp_head: { head: string; pooling: string }; id2label: Record<string, string> };
    assert.equal(config.dimp_head.head, 'linear');
    assert.deepEqual(config.id2label, { 0: 'negative', 1: 'neutral', 2: 'positive' });
    // The embedding cache sits in the working folder by default.
    assert.ok((await fs.readdir(path.join(work, '.dimp', 'embeddings'))).length === 1);
  });
});
