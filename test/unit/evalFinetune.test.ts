import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { EVAL_FINETUNE_SETTINGS, finetuneSection, subsampleLines, type FinetuneCellView } from '../../scripts/evalFinetune';
import { temporaryFolder } from './helpers';

function syntheticFile(dir: string, count: number): { file: string; lines: string[] } {
  const lines = Array.from({ length: count }, (_, i) => JSON.stringify({ text: `synthetic row ${i}`, label: String(i % 2) }));
  const file = path.join(dir, 'synthetic.jsonl');
  // Blank lines are not rows.
  writeFileSync(file, lines.slice(0, 50).join('\n') + '\n\n  \n' + lines.slice(50).join('\n') + '\n');
  return { file, lines };
}

test('the fine-tuning subsample depends only on the file and the seed, keeps file order and draws only synthetic rows', () => {
  const { dir, cleanup } = temporaryFolder();
  try {
    const { file, lines } = syntheticFile(dir, 500);
    const first = subsampleLines(file, 1, 120);
    // Every loss of a seed calls it again: the very same rows.
    assert.deepEqual(subsampleLines(file, 1, 120), first);
    assert.equal(first.length, 120);
    assert.equal(new Set(first).size, 120, 'no row twice');
    const position = new Map(lines.map((line, i) => [line, i]));
    const at = first.map((line) => position.get(line));
    assert.ok(at.every((i) => i !== undefined), 'only lines of the synthetic file (never a real or test row)');
    assert.deepEqual(at, [...at].sort((a, b) => a! - b!), 'in the file order');
    assert.ok(at[at.length - 1]! - at[0]! > 200, 'spread over the file, not its head');
    const other = subsampleLines(file, 2, 120);
    assert.notDeepEqual(other, first, 'another seed, other rows');
    // A larger subsample of the same seed extends the smaller one (one shuffled order, a longer prefix).
    const larger = new Set(subsampleLines(file, 1, 300));
    assert.ok(first.every((line) => larger.has(line)));
    assert.equal(subsampleLines(file, 1, 10_000).length, 500, 'all rows when the file has fewer');
    assert.throws(() => subsampleLines(file, 1, 0), /positive integer/);
  } finally {
    cleanup();
  }
});

test('the fine-tuning section pairs losses within a seed and pools the SST-2 sources', () => {
  const cell = (task: string, seed: number, ce: number, imp: number, dimp: number): FinetuneCellView => ({
    task,
    seed,
    rows: 200,
    qualityChecker: 0.8,
    diversityChecker: 0.9,
    losses: {
      ce: { accuracy: ce, bestEpoch: 3, rowsPerSecond: 8, seconds: 100 },
      imp: { accuracy: imp, bestEpoch: 2, rowsPerSecond: 8, seconds: 100 },
      dimp: { accuracy: dimp, bestEpoch: 3, rowsPerSecond: 8, seconds: 100 },
    },
    seconds: 330,
  });
  const cells = [cell('sst2/a', 1, 0.8, 0.82, 0.83), cell('sst2/a', 2, 0.7, 0.71, 0.74), cell('sst2/b', 1, 0.6, 0.6, 0.6), cell('mrpc/c', 1, 0.5, 0.4, 0.55)];
  const section = finetuneSection(cells, { model: 'm', seeds: '1–2', settings: EVAL_FINETUNE_SETTINGS, epsilon: 1e-6 });
  const row = (name: string): string => section.split('\n').find((line) => line.startsWith(`| ${name} |`))!;
  // sst2/a: CE 75.0 ± 7.1; DIMP − CE per seed +3, +4: mean +3.5, SE 0.5.
  assert.match(row('sst2/a'), /^\| sst2\/a \| 2 \| 200 \| 80\.0 ± 0\.0 \| 90\.0 ± 0\.0 \| 75\.0 ± 7\.1 \| 76\.5 ± 7\.8 \| 78\.5 ± 6\.4 \| \+1\.5 ± 0\.5 \| \+3\.5 ± 0\.5 \|$/);
  // One seed: no standard error.
  assert.match(row('mrpc/c'), /\| -10\.0 ± – \| \+5\.0 ± – \|$/);
  // Pooled over the SST-2 cells only (3 of them): DIMP − CE +3, +4, 0.
  assert.match(row('**SST-2, pooled**'), /^\| \*\*SST-2, pooled\*\* \| 3 \| 200 \|.*\| \+2\.3 ± 1\.2 \|$/);
  assert.match(section, /at\n5e-5, linear decay after 10 % warm-up/);
  assert.match(section, /CUDA was not measured/);
  assert.match(finetuneSection([], { model: 'm', seeds: '–', settings: EVAL_FINETUNE_SETTINGS, epsilon: 1e-6 }), /Not run/);
});
