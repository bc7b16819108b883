/**
 * The training graph of a real `torch.onnx.export` of a (tiny, random) BertForSequenceClassification against
 * torch.autograd on the same weights and batch. Needs Python with torch, transformers and onnx
 * (scripts/export-minilm.sh sets up .cache/py; or set DIMP_TORCH_PYTHON); skipped, saying so, without it.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compareTrainingCurve, compareWithTorch, runTorchReference, torchPython } from '../../scripts/finetuneParity';
import { REPO_ROOT, temporaryFolder } from './helpers';

const python = torchPython(REPO_ROOT);
const skip = python ? false : `no Python with torch at ${path.join(REPO_ROOT, '.cache', 'py')} (run scripts/export-minilm.sh, or set DIMP_TORCH_PYTHON)`;

describe('parity with torch.autograd on a torch.onnx.export of BertForSequenceClassification', { skip }, () => {
  const folder = temporaryFolder();
  after(() => folder.cleanup());
  before(() => runTorchReference(python!, REPO_ROOT, folder.dir, [
      ...['--model', 'tiny', '--batch', '4', '--length', '12', '--labels', '3', '--seed', '3'],
      ...['--steps', '20', '--lr', '1e-3', '--warmup', '4', '--weight-decay', '0.01', '--max-grad-norm', '1'],
    ]));

  test('float64 training graph: loss, p(gold) and every gradient within 1e-6', async (t) => {
    const report = await compareWithTorch(folder.dir, 'float64', 1);
    t.diagnostic(JSON.stringify(report));
    assert.deepEqual(report.unmatched, []);
    assert.ok(report.weights >= 40);
    assert.ok(report.lossRelative < 1e-6, `loss differs by ${report.lossRelative.toExponential(2)}`);
    assert.ok(report.goldProbabilityAbs < 1e-6);
    assert.ok(report.gradientRelative < 1e-6, `${report.worstWeight}: ${report.gradientRelative.toExponential(2)}`);
  });

  test('float32 training graph (what users run): within 1e-4', async (t) => {
    const report = await compareWithTorch(folder.dir, 'float32', 1);
    t.diagnostic(JSON.stringify(report));
    assert.ok(report.lossRelative < 1e-4, `loss differs by ${report.lossRelative.toExponential(2)}`);
    assert.ok(report.gradientRelative < 1e-4, `${report.worstWeight}: ${report.gradientRelative.toExponential(2)}`);
  });

  test('20 AdamW steps (warm-up, linear decay, weight decay, clipping) follow the Trainer-style torch loop within 1e-5', async (t) => {
    const report = await compareTrainingCurve(folder.dir, 1);
    t.diagnostic(JSON.stringify(report));
    assert.equal(report.steps, 20);
    assert.ok(report.lossAbs < 1e-5, `loss differs by up to ${report.lossAbs.toExponential(2)}`);
    assert.ok(report.gradNormRelative < 1e-4, `gradient norm differs by ${report.gradNormRelative.toExponential(2)}`);
  });
});

for (const family of ['tiny-distilbert', 'tiny-roberta'] as const) {
  describe(`parity with torch.autograd on a torch.onnx.export of ${family.replace('tiny-', '')} for sequence classification`, { skip }, () => {
    const folder = temporaryFolder();
    after(() => folder.cleanup());
    before(() => runTorchReference(python!, REPO_ROOT, folder.dir, ['--model', family, '--batch', '3', '--length', '10', '--labels', '2', '--seed', '4']));

    test('float64 training graph: loss and every gradient within 1e-6; float32 within 1e-4', async (t) => {
      const double = await compareWithTorch(folder.dir, 'float64', 1);
      const single = await compareWithTorch(folder.dir, 'float32', 1);
      t.diagnostic(JSON.stringify({ double, single }));
      assert.deepEqual(double.unmatched, []);
      assert.ok(double.lossRelative < 1e-6 && single.lossRelative < 1e-4);
      assert.ok(double.gradientRelative < 1e-6, `${double.worstWeight}: ${double.gradientRelative.toExponential(2)}`);
      assert.ok(single.gradientRelative < 1e-4, `${single.worstWeight}: ${single.gradientRelative.toExponential(2)}`);
    });
  });
}
