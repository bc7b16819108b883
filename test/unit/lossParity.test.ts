// Loss parity between the built-in trainer (batchLoss) and the PyTorch engine's WeightedTrainer
// (python/dimp_curator/loss.py): the same logits, labels, q and d give the same objective, cross-entropy,
// weights and gradient, for ce, imp, dimp and quality, at the edges too (ε clamps, the max weight, an empty
// batch). The TypeScript side is checked against a float64 reference written here from the paper's formula;
// the Python side runs when a Python with torch is found ($DIMP_CURATOR_PYTHON, else .cache/py/bin/python).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import type { LossKind } from '../../src/core/events';
import { computeRowId } from '../../src/core/data/dataset';
import { LabelMap } from '../../src/core/data/labels';
import { SeededRandom } from '../../src/core/random';
import { batchLoss } from '../../src/core/train/trainer';
import type { WeightGuards } from '../../src/core/weighting/weights';
import { REPO_ROOT } from './helpers';

interface ParityCase {
  name: string;
  loss: LossKind;
  logits: number[];
  labels: number[];
  classes: number;
  quality?: number[];
  diversity?: number[];
  epsilon: number;
  maxWeight: number | null;
}

interface LossResult {
  objective: number;
  crossEntropy: number;
  weights: number[];
  gradient: number[];
}

/** Within 1e-6, relative to the value where it exceeds 1 (weights of 1e6 carry float32 rounding of p). */
function close(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= 1e-6 * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected} (difference ${Math.abs(actual - expected)})`);
}

function allClose(actual: readonly number[], expected: readonly number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  actual.forEach((a, i) => close(a, expected[i]!, `${what}[${i}]`));
}

/** Logits as float32 values (what the trainer holds), so that both sides start from the same numbers. */
function float32(values: number[]): number[] {
  return Array.from(Float32Array.from(values));
}

function cases(): ParityCase[] {
  const random = new SeededRandom(7);
  const rows = 16;
  const classes = 3;
  const logits = float32(Array.from({ length: rows * classes }, () => (random.next() - 0.5) * 8));
  const labels = Array.from({ length: rows }, () => random.nextInt(classes));
  const quality = float32(Array.from({ length: rows }, () => random.next()));
  const diversity = float32(Array.from({ length: rows }, () => 0.05 + 0.95 * random.next()));
  const base = { logits, labels, classes, quality, diversity, epsilon: 1e-6, maxWeight: null };
  // Row 0 is confidently wrong (p of gold ≈ e⁻³⁰ < ε): DIMP's denominator is clamped. Row 1's d is 0: IMP's is.
  const edgeLogits = [...logits];
  edgeLogits.splice(0, classes, ...(labels[0] === 0 ? [-15, 15, 0] : [15, -15, 0]));
  const edgeDiversity = [...diversity];
  edgeDiversity[1] = 0;
  const edges = { ...base, logits: float32(edgeLogits), diversity: edgeDiversity };
  return [
    { name: 'ce', loss: 'ce', ...base },
    { name: 'imp', loss: 'imp', ...base },
    { name: 'dimp', loss: 'dimp', ...base },
    { name: 'quality', loss: 'quality', ...base },
    { name: 'imp, d = 0 (ε clamp)', loss: 'imp', ...edges },
    { name: 'dimp, p < ε (ε clamp)', loss: 'dimp', ...edges },
    { name: 'dimp, ε 1e-3 and max weight 5', loss: 'dimp', ...edges, epsilon: 1e-3, maxWeight: 5 },
    { name: 'imp, max weight 2', loss: 'imp', ...base, maxWeight: 2 },
    { name: 'empty batch', loss: 'dimp', logits: [], labels: [], classes, quality: [], diversity: [], epsilon: 1e-6, maxWeight: null },
  ];
}

/** The built-in trainer's loss of a case. */
function typescriptLoss(c: ParityCase): LossResult {
  const n = c.labels.length;
  const buffers = { probabilities: new Float32Array(n * c.classes), gradLogits: new Float32Array(n * c.classes), weights: new Float32Array(n) };
  const guards: WeightGuards = { epsilon: c.epsilon, maxWeight: c.maxWeight };
  const { objective, crossEntropy } = batchLoss(Float32Array.from(c.logits), c.labels, c.classes, c.loss, guards, c.quality, c.diversity, buffers);
  return { objective, crossEntropy, weights: Array.from(buffers.weights), gradient: Array.from(buffers.gradLogits) };
}

/**
 * The paper's formula in float64, written independently of both implementations:
 * objective = (1/B) Σ wᵢ CEᵢ, ∂/∂zᵢ = (wᵢ/B)(softmax(zᵢ) − onehot(yᵢ)), w detached.
 */
function referenceLoss(c: ParityCase): LossResult {
  const n = c.labels.length;
  let objective = 0;
  let crossEntropy = 0;
  const weights: number[] = [];
  const gradient: number[] = [];
  for (let i = 0; i < n; i++) {
    const z = c.logits.slice(i * c.classes, (i + 1) * c.classes);
    const max = Math.max(...z);
    const logSumExp = max + Math.log(z.reduce((s, v) => s + Math.exp(v - max), 0));
    const gold = c.labels[i]!;
    const ce = logSumExp - z[gold]!;
    const p = Math.exp(-ce);
    const q = c.quality?.[i] ?? 1;
    let w = c.loss === 'imp' ? q / Math.max(c.diversity![i]!, c.epsilon) : c.loss === 'dimp' ? q / Math.max(p, c.epsilon) : c.loss === 'quality' ? q : 1;
    if (c.maxWeight !== null && c.loss !== 'ce') w = Math.min(w, c.maxWeight);
    weights.push(w);
    objective += w * ce;
    crossEntropy += ce;
    for (let k = 0; k < c.classes; k++) gradient.push((w / n) * (Math.exp(z[k]! - logSumExp) - (k === gold ? 1 : 0)));
  }
  return { objective: n ? objective / n : 0, crossEntropy: n ? crossEntropy / n : 0, weights, gradient };
}

function compare(actual: LossResult, expected: LossResult, label: string): void {
  close(actual.objective, expected.objective, `${label} objective`);
  close(actual.crossEntropy, expected.crossEntropy, `${label} cross-entropy`);
  allClose(actual.weights, expected.weights, `${label} weights`);
  allClose(actual.gradient, expected.gradient, `${label} gradient`);
}

/** A Python with torch: $DIMP_CURATOR_PYTHON, else the repository's .cache/py; undefined (with why) otherwise. */
function findPython(): { python?: string; why?: string } {
  const candidates = [process.env.DIMP_CURATOR_PYTHON, path.join(REPO_ROOT, '.cache', 'py', 'bin', 'python')].filter((p): p is string => !!p);
  for (const python of candidates) {
    if (!existsSync(python) && python.includes(path.sep)) continue;
    const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
    if (probe.status === 0) return { python };
  }
  return { why: `no Python with torch found (tried ${candidates.join(', ') || 'nothing'}); set DIMP_CURATOR_PYTHON to one to run the TypeScript ↔ PyTorch loss parity` };
}

describe('loss parity: built-in trainer and the PyTorch engine', () => {
  test('the built-in batchLoss matches the formula in float64 (objective, cross-entropy, weights, gradient)', () => {
    for (const c of cases()) compare(typescriptLoss(c), referenceLoss(c), c.name);
    // The edge cases do reach the clamps and the cap, so the comparisons above test them.
    const [dimpEdge] = cases().filter((c) => c.name.startsWith('dimp, p < ε'));
    assert.equal(referenceLoss(dimpEdge!).weights[0], dimpEdge!.quality![0]! / 1e-6);
    const [capped] = cases().filter((c) => c.name.includes('max weight 5'));
    assert.ok(referenceLoss(capped!).weights.includes(5));
  });

  const { python, why } = findPython();
  test('python/dimp_curator batch_loss equals the built-in batchLoss within 1e-6 for ce, imp, dimp and quality', { skip: why }, () => {
    const all = cases();
    const run = spawnSync(python!, ['-m', 'dimp_curator.parity'], {
      input: JSON.stringify(all),
      encoding: 'utf8',
      env: { ...process.env, PYTHONPATH: path.join(REPO_ROOT, 'python') },
      maxBuffer: 1 << 24,
    });
    assert.equal(run.status, 0, `python -m dimp_curator.parity failed: ${run.stderr}`);
    const results = JSON.parse(run.stdout) as LossResult[];
    assert.equal(results.length, all.length);
    all.forEach((c, i) => compare(results[i]!, typescriptLoss(c), `${c.name} (Python vs TypeScript)`));
  });
});

describe('row ids and labels: src/core/data and python/dimp_curator/data.py', () => {
  // What the Python side must agree on to join the scores file by row id and to map labels to classes.
  const rows: { texts: string[]; label: string | number; labels: string[] }[] = [
    { texts: ['a gripping, beautifully acted film.'], label: '1', labels: ['0', '1'] },
    { texts: ['a gripping, beautifully acted film.'], label: 1, labels: ['0', '1'] },
    { texts: ['the plot is thin'], label: 0, labels: ['negative', 'positive'] },
    { texts: ['Ünïcödé — “quotes” and emoji 🎬'], label: 'Positive', labels: ['negative', 'positive'] },
    { texts: ['A man plays.', 'Someone is playing.'], label: 'entailment', labels: ['contradiction', 'entailment', 'neutral'] },
    { texts: ['x'], label: 7, labels: ['0', '1'] },
    { texts: ['tab\tand\nnewline'], label: 2, labels: ['a', 'b', 'c'] },
  ];
  const expected = rows.map((r) => ({ rowId: computeRowId(r.texts, r.label), index: new LabelMap(r.labels).indexOf(r.label) ?? null }));

  test('the TypeScript side: "1" and 1 are one row and one class; names match case-insensitively; 7 is no class of 0/1', () => {
    assert.equal(expected[0]!.rowId, expected[1]!.rowId);
    assert.deepEqual(expected.map((e) => e.index), [1, 1, 0, 1, 1, null, 2]);
  });

  const { python, why } = findPython();
  test('python/dimp_curator/data.py gives the same row ids and class indices', { skip: why }, () => {
    const run = spawnSync(python!, ['-m', 'dimp_curator.parity', 'rows'], {
      input: JSON.stringify(rows),
      encoding: 'utf8',
      env: { ...process.env, PYTHONPATH: path.join(REPO_ROOT, 'python') },
    });
    assert.equal(run.status, 0, `python -m dimp_curator.parity rows failed: ${run.stderr}`);
    assert.deepEqual(JSON.parse(run.stdout), expected);
  });
});
