import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const repoRoot = path.resolve(__dirname, '../../..');
const bin = path.join(repoRoot, 'bin', 'dimp-curator');

let dir: string;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dimp-test-'));
});

after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in the test folder. */
function cli(...args: string[]): CliResult {
  const result = spawnSync(process.execPath, [bin, ...args], {
    cwd: dir,
    env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function assertExit(result: CliResult, code: number): void {
  assert.equal(result.status, code, `expected exit ${code}, got ${result.status}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
}

/** Every stdout line of a --json run, parsed; fails when a line is not JSON. */
function jsonLines(stdout: string): { type: string; [key: string]: unknown }[] {
  const lines = stdout.split('\n').filter((l) => l !== '');
  assert.ok(lines.length > 0, 'no output on stdout');
  return lines.map((line) => {
    try {
      return JSON.parse(line) as { type: string };
    } catch {
      assert.fail(`stdout line is not JSON: ${line}`);
    }
  });
}

function readJsonl<T>(file: string): T[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

// A tiny two-label dataset: texts drawn from topic word lists with a deterministic generator.
const WORDS = {
  sports: ['goal', 'match', 'team', 'coach', 'score', 'league', 'player', 'stadium', 'referee', 'season'],
  food: ['pasta', 'sauce', 'recipe', 'oven', 'flavor', 'dinner', 'garlic', 'bread', 'chef', 'spice'],
} as const;
const FILLER = ['the', 'a', 'really', 'today', 'very', 'great', 'new', 'my', 'our', 'this'];
type Topic = keyof typeof WORDS;

function makeRows(count: number, seed: number, mislabelEvery = 0): string[] {
  let state = seed;
  const next = (n: number): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 8) % n;
  };
  const rows: string[] = [];
  for (let i = 0; i < count; i++) {
    const topic: Topic = i % 2 === 0 ? 'food' : 'sports';
    const words = Array.from({ length: 6 }, (_, k) => (k % 2 === 1 ? WORDS[topic][next(10)] : FILLER[next(10)]));
    const label: Topic = mislabelEvery > 0 && i % mislabelEvery === 0 ? (topic === 'food' ? 'sports' : 'food') : topic;
    rows.push(JSON.stringify({ text: `${words.join(' ')} ${i}`, label }));
  }
  return rows;
}

describe('CLI usage', () => {
  test('--help lists the five commands and exits 0', () => {
    const result = cli('--help');
    assertExit(result, 0);
    for (const command of ['score', 'train', 'curate', 'eval', 'demo']) assert.match(result.stdout, new RegExp(`^\\s+${command}\\s`, 'm'), command);
  });

  test('no arguments prints help and exits 2', () => {
    const result = cli();
    assertExit(result, 2);
    assert.match(result.stdout, /Usage/);
  });

  test('an unknown command exits 2 and names it', () => {
    const result = cli('frobnicate');
    assertExit(result, 2);
    assert.match(result.stderr, /frobnicate/);
  });

  const keyFlags: Record<string, string[]> = {
    score: ['--synthetic', '--real', '--out', '--quality-model', '--json'],
    train: ['--loss', '--scores', '--synthetic', '--name', '--epochs', '--validation'],
    curate: ['--synthetic', '--scores', '--keep-fraction', '--min-weight', '--min-quality', '--out', '--force'],
    eval: ['--model', '--data'],
    demo: ['--out', '--sample'],
  };
  for (const [command, flags] of Object.entries(keyFlags)) {
    test(`${command} --help exits 0 and lists its key flags`, () => {
      const result = cli(command, '--help');
      assertExit(result, 0);
      for (const flag of flags) assert.ok(result.stdout.includes(flag), `${command} --help should mention ${flag}`);
    });
  }

  test('an unknown flag exits 2 and names the flag', () => {
    const result = cli('score', '--bogus-flag');
    assertExit(result, 2);
    assert.match(result.stderr, /--bogus-flag/);
  });

  test('a bad number exits 2 and names the flag', () => {
    fs.writeFileSync(path.join(dir, 'tiny.jsonl'), makeRows(10, 3).join('\n') + '\n');
    const result = cli('train', '--loss', 'ce', '--synthetic', 'tiny.jsonl', '--epochs', 'zero', '--out', 'bad-number-runs');
    assertExit(result, 2);
    assert.match(result.stderr, /--epochs/);
    assert.equal(fs.existsSync(path.join(dir, 'bad-number-runs')), false);
  });

  test('score with a missing file exits 3 and names the path', () => {
    const missing = path.join(dir, 'no-such-file.jsonl');
    fs.writeFileSync(path.join(dir, 'real-for-missing.jsonl'), makeRows(10, 5).join('\n') + '\n');
    const result = cli('score', '--synthetic', missing, '--real', 'real-for-missing.jsonl');
    assertExit(result, 3);
    assert.ok(result.stderr.includes(missing), result.stderr);
  });

  test('eval with a model folder without config.json exits 4', () => {
    const model = path.join(dir, 'empty-model');
    fs.mkdirSync(model);
    fs.writeFileSync(path.join(dir, 'eval-data.jsonl'), makeRows(10, 9).join('\n') + '\n');
    const result = cli('eval', '--model', model, '--data', 'eval-data.jsonl');
    assertExit(result, 4);
    assert.match(result.stderr, /config\.json/);
  });

  test('--json errors are a JSON line on stdout with the exit code', () => {
    const result = cli('score', '--json', '--synthetic', 'no-such-file.jsonl', '--real', 'no-such-real.jsonl');
    assertExit(result, 3);
    const events = jsonLines(result.stdout);
    const last = events[events.length - 1]!;
    assert.equal(last.type, 'error');
    assert.equal(last.exitCode, 3);
    assert.match(String(last.message), /no-such-file\.jsonl/);
  });
});

describe('CLI end to end', () => {
  const usableSyntheticLines: number[] = [];
  let workDir: string;

  before(() => {
    workDir = path.join(dir, 'e2e');
    fs.mkdirSync(workDir);
    fs.writeFileSync(path.join(workDir, 'real.jsonl'), makeRows(60, 11).join('\n') + '\n');
    fs.writeFileSync(path.join(workDir, 'test.jsonl'), makeRows(40, 13).join('\n') + '\n');
    // 200 synthetic rows, every 10th mislabelled, with a bad JSON line, a blank line and a row without a label.
    const lines: string[] = makeRows(200, 17, 10);
    lines.splice(10, 0, '{"text": "cut off');
    lines.splice(50, 0, '');
    lines.splice(100, 0, '{"text":"no label at all"}');
    lines.forEach((line, i) => {
      if (line !== '' && line.includes('"label"')) usableSyntheticLines.push(i + 1);
    });
    assert.equal(usableSyntheticLines.length, 200);
    fs.writeFileSync(path.join(workDir, 'synthetic.jsonl'), lines.join('\n') + '\n');
  });

  const inWork = (...parts: string[]): string => path.join(workDir, ...parts);

  test('score writes a scores file with one row per usable synthetic line', () => {
    const result = cli('score', '--synthetic', inWork('synthetic.jsonl'), '--real', inWork('real.jsonl'), '--out', inWork('synthetic.scores.jsonl'));
    assertExit(result, 0);
    const [header, ...rows] = readJsonl<Record<string, unknown>>(inWork('synthetic.scores.jsonl'));
    assert.equal(header!.kind, 'dimp-scores');
    assert.deepEqual(header!.labels, ['food', 'sports']);
    assert.equal(header!.rows, 200);
    assert.deepEqual(
      rows.map((r) => r.line),
      usableSyntheticLines,
    );
    for (const row of rows) {
      const quality = row.quality as number;
      const diversity = row.diversity as number;
      const weight = row.impWeight as number;
      assert.ok(quality >= 0 && quality <= 1, `quality ${quality}`);
      assert.ok(diversity >= 0 && diversity <= 1, `diversity ${diversity}`);
      const expected = quality / Math.max(diversity, 1e-6);
      assert.ok(Math.abs(weight - expected) <= 1e-5 * expected, `weight ${weight} vs q/d ${expected}`);
    }
  });

  test('--json prints only JSON lines, ending with the result', () => {
    const result = cli('score', '--json', '--synthetic', inWork('synthetic.jsonl'), '--real', inWork('real.jsonl'), '--out', inWork('json.scores.jsonl'));
    assertExit(result, 0);
    const events = jsonLines(result.stdout);
    const last = events[events.length - 1]!;
    assert.equal(last.type, 'result');
    assert.equal(last.rows, 200);
    assert.ok(events.slice(0, -1).every((e) => e.type !== 'result' && e.type !== 'error'));
  });

  test('train --loss dimp writes a complete run folder', () => {
    const result = cli(
      'train',
      '--loss',
      'dimp',
      '--scores',
      inWork('synthetic.scores.jsonl'),
      '--synthetic',
      inWork('synthetic.jsonl'),
      '--validation',
      inWork('test.jsonl'),
      '--out',
      inWork('runs'),
      '--name',
      'first',
      '--epochs',
      '2',
    );
    assertExit(result, 0);
    const run = inWork('runs', 'first');
    for (const file of ['model/config.json', 'model/model.onnx', 'metrics.json', 'weights.jsonl', 'train-log.jsonl', 'config.json']) {
      assert.ok(fs.existsSync(path.join(run, file)), `missing ${file}`);
    }
    const weights = readJsonl<{ line: number; weight: number }>(path.join(run, 'weights.jsonl'));
    assert.deepEqual(
      weights.map((w) => w.line),
      usableSyntheticLines,
    );
    const metrics = JSON.parse(fs.readFileSync(path.join(run, 'metrics.json'), 'utf8')) as { loss: string; trainingRows: number; epochs: unknown[] };
    assert.equal(metrics.loss, 'dimp');
    assert.equal(metrics.trainingRows, 200);
    assert.equal(metrics.epochs.length, 2);
    const config = JSON.parse(fs.readFileSync(path.join(run, 'model', 'config.json'), 'utf8')) as { id2label: Record<string, string> };
    assert.deepEqual(config.id2label, { 0: 'food', 1: 'sports' });
    assert.ok(readJsonl<{ type: string }>(path.join(run, 'train-log.jsonl')).some((e) => e.type === 'train-epoch'));
  });

  test('eval prints the accuracy of the trained model', () => {
    const result = cli('eval', '--model', inWork('runs', 'first', 'model'), '--data', inWork('test.jsonl'));
    assertExit(result, 0);
    assert.match(result.stdout, /40 rows/);
    assert.match(result.stdout, /accuracy \d+(\.\d+)?%/);
    const json = cli('eval', '--json', '--model', inWork('runs', 'first', 'model'), '--data', inWork('test.jsonl'));
    assertExit(json, 0);
    const last = jsonLines(json.stdout).pop()!;
    assert.equal(last.type, 'result');
    assert.equal(last.rows, 40);
    assert.ok((last.accuracy as number) >= 0 && (last.accuracy as number) <= 1);
  });

  test('curate writes curated and rejected files that split the input', () => {
    const result = cli('curate', '--synthetic', inWork('synthetic.jsonl'), '--scores', inWork('synthetic.scores.jsonl'), '--keep-fraction', '0.25', '--out', inWork('curated.jsonl'));
    assertExit(result, 0);
    const lines = (file: string): string[] => fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
    const curated = lines(inWork('curated.jsonl'));
    const rejected = lines(inWork('curated.rejected.jsonl'));
    assert.equal(curated.length, 50);
    const input = lines(inWork('synthetic.jsonl'));
    assert.deepEqual([...curated, ...rejected].sort(), input.sort());
  });

  test('curate --drop-highest rejects the highest weights too, so both tails go', () => {
    const result = cli('curate', '--json', '--synthetic', inWork('synthetic.jsonl'), '--scores', inWork('synthetic.scores.jsonl'), '--keep-fraction', '0.9', '--drop-highest', '0.05', '--out', inWork('tails.jsonl'));
    assertExit(result, 0);
    const summary = jsonLines(result.stdout).pop()!;
    assert.equal(summary.kept, 180, 'round(200 · 0.9) kept after the top round(200 · 0.05) are dropped');
    const scores = fs.readFileSync(inWork('synthetic.scores.jsonl'), 'utf8').split('\n').slice(1).filter(Boolean).map((l) => JSON.parse(l) as { line: number; impWeight: number });
    const top = [...scores].sort((a, b) => b.impWeight - a.impWeight || a.line - b.line)[0]!;
    const topLine = fs.readFileSync(inWork('synthetic.jsonl'), 'utf8').split('\n')[top.line - 1]!;
    assert.ok(fs.readFileSync(inWork('tails.rejected.jsonl'), 'utf8').split('\n').includes(topLine), 'the highest weight is rejected');
    assertExit(cli('curate', '--synthetic', inWork('synthetic.jsonl'), '--scores', inWork('synthetic.scores.jsonl'), '--keep-fraction', '0.5', '--drop-highest', '1', '--out', inWork('bad.jsonl')), 2);
  });

  test('a second train with the same --name exits 2 and leaves the first run untouched', () => {
    const run = inWork('runs', 'first');
    const snapshot = (): Record<string, string> =>
      Object.fromEntries(
        (fs.readdirSync(run, { recursive: true }) as string[])
          .filter((f) => fs.statSync(path.join(run, f)).isFile())
          .sort()
          .map((f) => [f, fs.readFileSync(path.join(run, f)).toString('base64')]),
      );
    const before = snapshot();
    const result = cli('train', '--loss', 'ce', '--synthetic', inWork('synthetic.jsonl'), '--out', inWork('runs'), '--name', 'first', '--epochs', '1');
    assertExit(result, 2);
    assert.match(result.stderr, /exists/);
    assert.deepEqual(snapshot(), before);
    assert.deepEqual(fs.readdirSync(inWork('runs')), ['first']);
  });

  test('demo runs the bundled sample and prints ce, imp and dimp', () => {
    const out = path.join(dir, 'demo');
    const result = cli('demo', '--out', out);
    assertExit(result, 0);
    for (const loss of ['ce', 'imp', 'dimp']) assert.match(result.stdout, new RegExp(`^${loss}\\s+\\d+`, 'm'), loss);
    assert.ok(fs.existsSync(path.join(out, 'demo-summary.json')));
  });
});

describe('outputs never land on inputs', () => {
  const sample = (name: string): string => path.join(repoRoot, 'sample', name);
  let work: string;
  before(() => {
    work = fs.mkdtempSync(path.join(dir, 'safety-'));
    for (const name of ['synthetic.jsonl', 'real_train.jsonl']) fs.copyFileSync(sample(name), path.join(work, name));
    fs.symlinkSync(path.join(work, 'synthetic.jsonl'), path.join(work, 'link.jsonl'));
    fs.linkSync(path.join(work, 'real_train.jsonl'), path.join(work, 'hard.jsonl'));
    fs.writeFileSync(path.join(work, 'notes.txt'), 'my notes\n');
  });
  const labels = ['--labels', 'negative,neutral,positive'];
  const bytes = (name: string): Buffer => fs.readFileSync(path.join(work, name));

  test('score refuses --out equal to an input (same path, symlink, hard link) and changes nothing', () => {
    const before = { synthetic: bytes('synthetic.jsonl'), real: bytes('real_train.jsonl') };
    for (const out of ['synthetic.jsonl', 'link.jsonl', 'real_train.jsonl', 'hard.jsonl']) {
      const result = cli('score', '--synthetic', path.join(work, 'synthetic.jsonl'), '--real', path.join(work, 'real_train.jsonl'), '--out', path.join(work, out), ...labels);
      assertExit(result, 2);
      assert.match(result.stderr, /would be written over the (synthetic|real) data/);
    }
    assert.deepEqual(bytes('synthetic.jsonl'), before.synthetic);
    assert.deepEqual(bytes('real_train.jsonl'), before.real);
    assert.ok(fs.lstatSync(path.join(work, 'link.jsonl')).isSymbolicLink());
  });

  test('score replaces its own scores file but not an unrelated file unless --force', () => {
    const notes = path.join(work, 'notes.txt');
    const refused = cli('score', '--synthetic', path.join(work, 'synthetic.jsonl'), '--real', path.join(work, 'real_train.jsonl'), '--out', notes, ...labels);
    assertExit(refused, 2);
    assert.match(refused.stderr, /is not a scores file; refusing to replace it/);
    assert.equal(fs.readFileSync(notes, 'utf8'), 'my notes\n');
  });

  test('curate refuses to write over the synthetic or the scores file, even with --force', () => {
    const scores = path.join(work, 'synthetic.scores.jsonl');
    assertExit(cli('score', '--synthetic', path.join(work, 'synthetic.jsonl'), '--real', path.join(work, 'real_train.jsonl'), '--out', scores, ...labels), 0);
    const before = { synthetic: bytes('synthetic.jsonl'), scores: bytes('synthetic.scores.jsonl') };
    for (const out of ['synthetic.jsonl', 'link.jsonl', 'synthetic.scores.jsonl']) {
      const result = cli('curate', '--synthetic', path.join(work, 'synthetic.jsonl'), '--scores', scores, '--keep-fraction', '0.8', '--out', path.join(work, out), '--force');
      assertExit(result, 2);
    }
    const sameTwice = cli('curate', '--synthetic', path.join(work, 'synthetic.jsonl'), '--scores', scores, '--keep-fraction', '0.8', '--out', path.join(work, 'c.jsonl'), '--rejected', path.join(work, 'c.jsonl'));
    assertExit(sameTwice, 2);
    assert.deepEqual(bytes('synthetic.jsonl'), before.synthetic);
    assert.deepEqual(bytes('synthetic.scores.jsonl'), before.scores);
  });
});
