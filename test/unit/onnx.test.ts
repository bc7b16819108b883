import assert from 'node:assert/strict';
import { cpSync, promises as fs, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadDataset } from '../../src/core/data/dataset';
import { LabelMap } from '../../src/core/data/labels';
import { DimpError } from '../../src/core/errors';
import { DEFAULT_FEATURIZER, Featurizer, type FeaturizerConfig } from '../../src/core/model/featurizer';
import { loadClassifier, saveNgramModel } from '../../src/core/model/modelFolder';
import { ElementType, encodeModel, node, valueInfo } from '../../src/core/model/onnxGraph';
import { cudaProviderInstalled, fallbackMessage, openModelSession } from '../../src/core/runtime/onnxRuntime';
import { DEFAULT_CHECKER_SETTINGS, trainNgram } from '../../src/core/train/ngramTraining';
import { predictProbabilities } from '../../src/core/train/trainer';
import { SAMPLE_DIR, temporaryFolder } from './helpers';

const folder = temporaryFolder();
after(() => folder.cleanup());

const labelMap = new LabelMap(['negative', 'neutral', 'positive']);
const featurizerConfig: FeaturizerConfig = { ...DEFAULT_FEATURIZER, buckets: 1 << 16, charNgrams: [3, 4] };

describe('the exported model in onnxruntime', () => {
  let modelDir: string;
  let tsProbabilities: Float32Array;
  let rows: { texts: [string] | [string, string] }[];

  before(async () => {
    const train = await loadDataset(path.join(SAMPLE_DIR, 'real_train.jsonl'), labelMap);
    const trained = await trainNgram({ rows: train.rows, numClasses: 3, settings: { ...DEFAULT_CHECKER_SETTINGS, featurizer: featurizerConfig, epochs: 10 }, loss: 'ce', seed: 3 });
    const test_ = await loadDataset(path.join(SAMPLE_DIR, 'real_test.jsonl'), labelMap);
    // Real rows, plus rows whose features were never trained and an all-punctuation row.
    rows = [...test_.rows.slice(0, 300), { texts: ['zzqx wvvk unseen tokens'] }, { texts: ['!!!'] }, { texts: ['The battery is great.', 'A great battery.'] }];
    const featurizer = new Featurizer(featurizerConfig);
    const features = featurizer.featurizeAll(rows);
    tsProbabilities = predictProbabilities(trained.model, features, rows.length);
    modelDir = path.join(folder.dir, 'model');
    await saveNgramModel(modelDir, trained.model.parameters(), featurizerConfig, labelMap);
  });

  test('TypeScript forward pass and onnxruntime agree within 1e-4', async () => {
    const model = await loadClassifier(modelDir, 'cpu');
    try {
      assert.equal(model.provider, 'cpu');
      const ortProbabilities = await model.predict(rows, { batchSize: 64 });
      assert.equal(ortProbabilities.length, tsProbabilities.length);
      let maxDifference = 0;
      for (let i = 0; i < ortProbabilities.length; i++) maxDifference = Math.max(maxDifference, Math.abs(ortProbabilities[i]! - tsProbabilities[i]!));
      assert.ok(maxDifference < 1e-4, `max |Δp| = ${maxDifference}`);
      // The model learned something: not every row gets the same distribution.
      const distinct = new Set(Array.from({ length: rows.length }, (_, i) => ortProbabilities[i * 3]!.toFixed(3)));
      assert.ok(distinct.size > 50);
    } finally {
      await model.dispose();
    }
  });

  test('a graph whose width disagrees with config.json\'s labels is refused, not read off by rows', async () => {
    for (const id2label of [{ '0': 'negative', '1': 'positive' }, { '0': 'a', '1': 'b', '2': 'c', '3': 'd' }]) {
      const broken = path.join(folder.dir, `broken-${Object.keys(id2label).length}`);
      cpSync(modelDir, broken, { recursive: true });
      const configFile = path.join(broken, 'config.json');
      const config = JSON.parse(await fs.readFile(configFile, 'utf8')) as Record<string, unknown>;
      writeFileSync(configFile, JSON.stringify({ ...config, id2label, label2id: Object.fromEntries(Object.entries(id2label).map(([i, n]) => [n, Number(i)])) }));
      await assert.rejects(
        async () => {
          const model = await loadClassifier(broken, 'cpu');
          try {
            await model.predict(rows.slice(0, 10));
          } finally {
            await model.dispose();
          }
        },
        (error: unknown) => error instanceof DimpError && error.kind === 'badModel' && /3 values per row|3 probabilities|× 3/.test(error.message),
      );
    }
  });

  test('the model folder has config.json with id2label and label2id', async () => {
    const config = JSON.parse(await fs.readFile(path.join(modelDir, 'config.json'), 'utf8')) as { id2label: Record<string, string>; label2id: Record<string, number> };
    assert.deepEqual(config.id2label, { '0': 'negative', '1': 'neutral', '2': 'positive' });
    assert.deepEqual(config.label2id, { negative: 0, neutral: 1, positive: 2 });
  });

  test('a provider that cannot start falls back to CPU and says why', async () => {
    const session = await openModelSession(path.join(modelDir, 'model.onnx'), 'cuda');
    try {
      // No CUDA provider is installed on these machines (ONNXRUNTIME_NODE_INSTALL=skip); where one is, CUDA is used.
      if (session.provider === 'cpu') assert.match(session.fallbackReason ?? '', /cuda/i);
      else assert.equal(session.provider, 'cuda');
    } finally {
      await session.release();
    }
  });

  test('auto uses CUDA only where its provider library is installed, and CPU without a warning otherwise', async () => {
    const session = await openModelSession(path.join(modelDir, 'model.onnx'), 'auto');
    try {
      assert.equal(session.provider, cudaProviderInstalled() ? 'cuda' : 'cpu');
      if (!cudaProviderInstalled()) assert.equal(session.fallbackReason, undefined);
    } finally {
      await session.release();
    }
  });

  describe('broken model folders get errors that say what is wrong and where', () => {
    const broken = (name: string, edit: (dir: string) => void): string => {
      const dir = path.join(folder.dir, name);
      cpSync(modelDir, dir, { recursive: true });
      edit(dir);
      return dir;
    };
    const expectModelError = async (dir: string, pattern: RegExp): Promise<void> => {
      await assert.rejects(loadClassifier(dir), (error: unknown) => {
        assert.ok(error instanceof DimpError, `expected a DimpError, got ${String(error)}`);
        assert.equal(error.kind, 'badModel');
        assert.match(error.message, pattern);
        return true;
      });
    };

    test('no folder', () => expectModelError(path.join(folder.dir, 'nowhere'), /model folder not found/));
    test('empty config.json', () => expectModelError(broken('empty-config', (d) => writeFileSync(path.join(d, 'config.json'), '')), /config\.json is not valid JSON/));
    test('no config.json', async () => {
      const dir = broken('no-config', () => undefined);
      await fs.rm(path.join(dir, 'config.json'));
      await expectModelError(dir, /missing config\.json/);
    });
    test('config.json without id2label', () =>
      expectModelError(broken('no-id2label', (d) => writeFileSync(path.join(d, 'config.json'), JSON.stringify({ model_type: 'dimp-ngram' }))), /no id2label/));
    test('id2label with a gap', () =>
      expectModelError(broken('gap', (d) => writeFileSync(path.join(d, 'config.json'), JSON.stringify({ model_type: 'dimp-ngram', id2label: { '0': 'a', '2': 'b' } }))), /without gaps/));
    test('unknown model_type', () =>
      expectModelError(broken('type', (d) => writeFileSync(path.join(d, 'config.json'), JSON.stringify({ model_type: 'bert', id2label: { '0': 'a', '1': 'b' } }))), /model_type "bert" is not the built-in model, so this must be a transformer folder, but it has no tokenizer\.json/));
    test('missing featurizer', async () => {
      const dir = broken('no-featurizer', () => undefined);
      await fs.rm(path.join(dir, 'featurizer.json'));
      await expectModelError(dir, /missing the featurizer file/);
    });
    test('missing graph file', async () => {
      const dir = broken('no-graph', () => undefined);
      await fs.rm(path.join(dir, 'model.onnx'));
      await expectModelError(dir, /missing the ONNX graph model\.onnx/);
    });
    test('corrupt graph bytes', () => expectModelError(broken('corrupt', (d) => writeFileSync(path.join(d, 'model.onnx'), 'not a protobuf')), /onnxruntime could not load the model/));
    test('a graph with other inputs', () =>
      expectModelError(
        broken('other-graph', (d) =>
          writeFileSync(
            path.join(d, 'model.onnx'),
            encodeModel({ name: 'g', input: [valueInfo('x', ElementType.float, ['n'])], output: [valueInfo('y', ElementType.float, ['n'])], node: [node('Identity', ['x'], ['y'])] }, 13, 'test'),
          ),
        ),
        /needs inputs feature_ids, feature_mask/,
      ));
  });
});

describe('the fallback message', () => {
  test('names the provider used and how to get CUDA, and shows no internal path', () => {
    const reason = 'cuda: Failed to load library /work/x/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so with error: libcudnn.so.9: cannot open shared object file';
    const message = fallbackMessage('the quality checker', 'cpu', reason);
    assert.match(message, /^the quality checker: using cpu \(cuda: Failed to load library \(a library file\) with error: libcudnn\.so\.9/);
    assert.ok(!message.includes('/work/x'), message);
    assert.match(message, /ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node/);
    assert.match(message, /choose "cpu"/);
    assert.equal(fallbackMessage('the model', 'cpu', 'webgpu: no adapter'), 'the model: using cpu (webgpu: no adapter).');
  });
});
