// Issue 12, input side: each test here fails on the code before the fix (bytes repaired with U+FFFD,
// labels trimmed or taken from every file, label errors without file or line, train refusals without
// the reason, no row limit, hints naming flags that did not exist).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { curateFile } from '../../src/core/curate';
import { computeRowId, parseJsonlFile } from '../../src/core/data/dataset';
import { readJsonlLines, type JsonlLine } from '../../src/core/data/jsonl';
import { DimpError } from '../../src/core/errors';
import type { CoreEvent as ProjectEvent } from '../../src/core/events';
import { loadProjectData } from '../../src/core/pipeline';
import type { RowScore, Scores } from '../../src/core/weighting/score';
import { DEFAULT_WEIGHT_GUARDS } from '../../src/core/weighting/weights';

const repoRoot = path.resolve(__dirname, '../../..');
const bin = path.join(repoRoot, 'bin', 'dimp-curator');

let dir: string;
let counter = 0;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dimp-badinput-'));
});

after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function writeFile(content: string | Buffer, name = `data-${++counter}.jsonl`): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}

const row = (text: string, label: unknown): string => JSON.stringify({ text, label });

/** `n` rows alternating labels `a` and `b` (names or numbers). */
function rows(n: number, labels: readonly unknown[] = [0, 1], prefix = 'row'): string[] {
  return Array.from({ length: n }, (_, i) => row(`${prefix} ${i} words here`, labels[i % labels.length]));
}

async function readAll(file: string, maxLineBytes?: number): Promise<JsonlLine[]> {
  const lines: JsonlLine[] = [];
  for await (const line of readJsonlLines(file, undefined, { maxLineBytes })) lines.push({ ...line, bytes: line.bytes && Buffer.from(line.bytes) });
  return lines;
}

async function rejects(promise: Promise<unknown>, check: (error: DimpError) => void): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof DimpError, `expected a DimpError, got ${String(error)}`);
    check(error);
    return true;
  });
}

interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): CliResult {
  const result = spawnSync(process.execPath, [bin, ...args], { cwd: dir, env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' }, encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function assertExit(result: CliResult, code: number): void {
  assert.equal(result.status, code, `expected exit ${code}, got ${result.status}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
}

/** Scores for the given lines of a synthetic file (rows `{text, label}`), all with the same weight. */
function scoresFor(file: string, entries: { line: number; text: string; label: string | number; weight: number }[]): Scores {
  const scoreRows: RowScore[] = entries.map((e) => ({
    rowId: computeRowId([e.text], e.label),
    line: e.line,
    label: String(e.label),
    quality: 0.5,
    diversity: 0.5 / e.weight,
    impWeight: e.weight,
    qualityLabel: String(e.label),
    qualityLabelProbability: 0.5,
  }));
  return {
    header: {
      kind: 'dimp-scores',
      version: 1,
      synthetic: file,
      real: undefined,
      labels: ['0', '1'],
      qualityChecker: 'hand-made',
      diversityChecker: 'hand-made',
      provider: 'cpu',
      guards: DEFAULT_WEIGHT_GUARDS,
      createdAt: new Date(0).toISOString(),
      rows: scoreRows.length,
    },
    rows: scoreRows,
  };
}

describe('item 6: bytes are never changed silently', () => {
  // "caf\xe9" is Latin-1, not UTF-8; the old reader turned it into "caf\uFFFD".
  const latin1 = Buffer.concat([Buffer.from('{"text":"caf'), Buffer.from([0xe9]), Buffer.from(' au lait","label":1}')]);

  test('a line with invalid UTF-8 is reported with its line number, its bytes kept as they are', async () => {
    const file = writeFile(Buffer.concat([Buffer.from(row('fine', 0) + '\n'), latin1, Buffer.from('\n' + row('also fine', 1) + '\n')]));
    const lines = await readAll(file);
    assert.equal(lines.length, 3);
    assert.equal(lines[1]!.text, '', 'no decoded (U+FFFD) text for a line that is not UTF-8');
    assert.match(lines[1]!.problem ?? '', /not valid UTF-8 \(byte 0xe9 at byte 13 of the line\)/);
    assert.deepEqual(lines[1]!.bytes, latin1);
    assert.equal(lines[2]!.problem, undefined);
    const parsed = await parseJsonlFile(file);
    assert.deepEqual(
      parsed.lines.map((l) => l.line),
      [1, 3],
    );
    assert.deepEqual(
      parsed.problems.map((p) => [p.file, p.line]),
      [[file, 2]],
    );
    assert.ok(parsed.lines.every((l) => !l.texts[0].includes('\uFFFD')));
  });

  test('curate copies every line byte for byte: an undecodable line lands in the rejected file unchanged', async () => {
    // Line 3 is Latin-1, line 4 has a CRLF ending and a multi-byte character, no final newline.
    const good1 = row('alpha', 0);
    const good2 = '{"text":"beta ☕ \\u00e9","label":1}';
    const good4 = row('gamma é', 0);
    const content = Buffer.concat([Buffer.from(`${good1}\n${good2}\n`), latin1, Buffer.from(`\n${good4}\r\n`)]);
    const file = writeFile(content);
    const scores = scoresFor(file, [
      { line: 1, text: 'alpha', label: 0, weight: 2 },
      { line: 2, text: 'beta ☕ é', label: 1, weight: 1 },
      { line: 4, text: 'gamma é', label: 0, weight: 3 },
    ]);
    const curated = path.join(dir, `curated-${counter}.jsonl`);
    const rejected = path.join(dir, `rejected-${counter}.jsonl`);
    const summary = await curateFile(file, scores, { by: 'weight', minimum: 1.5 }, { curated, rejected });
    assert.deepEqual([summary.kept, summary.rejected, summary.unusable], [2, 1, 1]);
    assert.deepEqual(fs.readFileSync(curated), Buffer.from(`${good1}\n${good4}\n`));
    // The \u00e9 escape stays an escape: the line is copied, not re-serialised.
    assert.deepEqual(fs.readFileSync(rejected), Buffer.concat([Buffer.from(`${good2}\n`), latin1, Buffer.from('\n')]));
  });
});

describe('item 7: label rules', () => {
  test('a label outside the real set\'s label space skips that line with file:line (not a third class)', async () => {
    const real = writeFile(rows(20).join('\n') + '\n');
    const synthetic = writeFile([...rows(9), row('odd one', 2), row('and another', '7')].join('\n') + '\n');
    const events: ProjectEvent[] = [];
    const data = await loadProjectData({ real: { path: real }, synthetic: { path: synthetic } }, { onEvent: (e) => events.push(e) });
    assert.deepEqual(data.labelMap.names, ['0', '1']);
    assert.equal(data.synthetic!.rows.length, 9);
    assert.deepEqual(
      data.synthetic!.problems.map((p) => p.line),
      [10, 11],
    );
    const warning = events.find((e) => e.type === 'log' && e.level === 'warning') as { message: string } | undefined;
    assert.ok(warning, 'a warning is reported');
    assert.match(warning.message, new RegExp(`${synthetic.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:10: unknown label 2 \\(known: 0, 1\\)`));
  });

  test('labels are matched exactly: " 1 " is a skipped line with its reason, not silently "1"', async () => {
    const file = writeFile([row('a', '0'), row('b', ' 1 '), row('c', '1'), row('d', '')].join('\n'));
    const parsed = await parseJsonlFile(file);
    assert.deepEqual(
      parsed.lines.map((l) => l.line),
      [1, 3],
    );
    const reasons = new Map(parsed.problems.map((p) => [p.line, p.reason]));
    assert.match(reasons.get(2)!, /label " 1 " has spaces around it; labels are matched exactly \(write "1"\)/);
    assert.match(reasons.get(4)!, /empty label/);
  });

  test('a text field taken for the label: one short error naming the file, not 20 one-row classes', async () => {
    const file = writeFile(Array.from({ length: 20 }, (_, i) => JSON.stringify({ text: `row ${i}`, label: `this is sentence number ${i}, clearly not a class name at all ${'x'.repeat(200)}` })).join('\n'));
    await rejects(loadProjectData({ synthetic: { path: file } }), (error) => {
      assert.equal(error.kind, 'badInput');
      assert.equal(error.file, file);
      assert.match(error.message, /20 rows hold 20 distinct labels \(fewer than 2 rows per label; first: "this is sentence number 0/);
      assert.match(error.message, /--label-field NAME/);
      assert.ok(error.message.length < 1000, `message is ${error.message.length} characters`);
    });
  });

  test('a huge label space is refused with a summary, never a multi-megabyte message', async () => {
    const lines = Array.from({ length: 30_000 }, (_, i) => row(`t${i}`, `label-${i}`));
    // Every label twice, so only the count (not rows per label) makes it implausible.
    const file = writeFile([...lines, ...lines].join('\n'));
    await rejects(loadProjectData({ real: { path: file }, synthetic: { path: file } }), (error) => {
      assert.equal(error.kind, 'badInput');
      assert.match(error.message, /60,000 rows hold 30,000 distinct labels \(more than the 1000 a label space may have/);
      assert.ok(error.message.length < 1000, `message is ${error.message.length} characters`);
    });
  });

  test('an unknown label among many names: the warning lists a few names and the count', async () => {
    const names = Array.from({ length: 500 }, (_, i) => `class${i}`);
    const file = writeFile([row('a', 'class1'), row('b', 'nope')].join('\n'));
    const events: ProjectEvent[] = [];
    const data = await loadProjectData({ test: { path: file } }, { labels: names, onEvent: (e) => events.push(e) });
    const reason = data.test!.problems[0]!.reason;
    assert.match(reason, /unknown label "nope" \(known: class0, class1, .*class9, … \(500 labels\)\)/);
    assert.ok(reason.length < 300);
  });

  test('a single label is refused naming the file', async () => {
    const file = writeFile(rows(6, ['spam']).join('\n'));
    await rejects(loadProjectData({ real: { path: file }, synthetic: { path: file } }), (error) => {
      assert.equal(error.file, file);
      assert.match(error.message, /needs at least 2 labels; every labelled row \(6\) has "spam"/);
    });
  });

  test('one odd label ("pos" among 0/1) names the file and the line', async () => {
    const lines = rows(30);
    lines.splice(16, 0, row('odd', 'pos'));
    const file = writeFile(lines.join('\n'));
    await rejects(loadProjectData({ real: { path: file }, synthetic: { path: file } }), (error) => {
      assert.equal(error.kind, 'badInput');
      assert.equal(error.file, file);
      assert.ok(error.message.includes(`"pos" (1 row, first at ${file}:17)`), error.message);
      assert.match(error.message, /--labels name0,name1/);
    });
  });
});

describe('item 8: files without a usable row say why and where', () => {
  const expectRefusal = async (content: string | Buffer, pattern: RegExp): Promise<string> => {
    const file = writeFile(content);
    await rejects(loadProjectData({ synthetic: { path: file } }), (error) => {
      assert.equal(error.kind, 'badInput');
      assert.equal(error.file, file);
      assert.match(error.message, pattern);
    });
    return file;
  };

  test('empty, blank, JSON array, CR-only and gzip files each get their own message', async () => {
    await expectRefusal('', /no usable synthetic rows: the file is empty/);
    await expectRefusal('\n  \n\n', /the file has only blank lines/);
    await expectRefusal(JSON.stringify([{ text: 'a', label: 0 }, { text: 'b', label: 1 }]) + '\n', /the file is a JSON array, not JSON Lines.*jq -c '\.\[\]'/s);
    await expectRefusal('[\n  {\n    "text": "a",\n    "label": 0\n  },\n  {\n    "text": "b",\n    "label": 1\n  }\n]\n', /the file is a JSON array/);
    await expectRefusal(rows(5).join('\r') + '\r', /CR-only line endings.*tr '\\r' '\\n'/s);
    await expectRefusal(gzipSync(rows(5).join('\n')), /is a gzip file, not JSON Lines.*gunzip -c/);
  });

  test('the refusal shows the first unusable lines with file:line', async () => {
    const file = await expectRefusal(['{"text": "cut', '{"text":"x","label":[1,2]}', 'nope'].join('\n'), /none of its 3 non-blank line\(s\) is usable/);
    await rejects(loadProjectData({ synthetic: { path: file } }), (error) => {
      assert.ok(error.message.includes(`${file}:1: invalid JSON`), error.message);
      assert.ok(error.message.includes(`${file}:2: label [1,2] is not a single label`), error.message);
      assert.ok(error.message.includes(`${file}:3: invalid JSON`), error.message);
    });
  });

  test('the real CLI: train names the file and the reason, as score does (exit 3)', () => {
    const empty = writeFile('', 'empty.jsonl');
    const gz = writeFile(gzipSync(rows(10).join('\n')), 'data.jsonl.gz');
    const crOnly = writeFile(rows(10).join('\r'), 'cr-only.jsonl');
    const array = writeFile(JSON.stringify([{ text: 'a', label: 0 }, { text: 'b', label: 1 }]), 'array.jsonl');
    const real = writeFile(rows(20).join('\n'), 'real-ok.jsonl');
    for (const [file, pattern] of [
      [empty, /empty\.jsonl: no usable synthetic rows: the file is empty/],
      [gz, /data\.jsonl\.gz: is a gzip file/],
      // The reason, then the per-line problems with file:line.
      [crOnly, /cr-only\.jsonl: no usable synthetic rows: the file uses CR-only line endings.*\n {2}\S*cr-only\.jsonl:1: invalid JSON.*CR-only/s],
      [array, /array\.jsonl: no usable synthetic rows: the file is a JSON array.*\n {2}\S*array\.jsonl:1: expected a JSON object, found an array/s],
    ] as const) {
      const trained = cli('train', '--synthetic', file, '--loss', 'ce', '--out', path.join(dir, 'runs'));
      assertExit(trained, 3);
      assert.match(trained.stderr, pattern);
      assert.doesNotMatch(trained.stderr, /needs at least 2 labels, got 0/);
      const scored = cli('score', '--synthetic', file, '--real', real, '--out', path.join(dir, 'x.scores.jsonl'));
      assertExit(scored, 3);
      assert.match(scored.stderr, pattern);
    }
  });
});

describe('item 10: one row has a size limit', () => {
  test('a line over the limit is reported with file:line and not held; the lines after it are read', async () => {
    const long = row('x'.repeat(5000), 0);
    const file = writeFile([row('a', 0), long, row('b', 1)].join('\n') + '\n');
    const lines = await readAll(file, 1000);
    assert.deepEqual(
      lines.map((l) => [l.line, l.byteLength, l.bytes === undefined]),
      [
        [1, row('a', 0).length, false],
        [2, long.length, true],
        [3, row('b', 1).length, false],
      ],
    );
    assert.equal(lines[2]!.byteOffset, row('a', 0).length + 1 + long.length + 1);
    const parsed = await parseJsonlFile(file, { maxRowBytes: 1000 });
    assert.deepEqual(
      parsed.problems.map((p) => p.line),
      [2],
    );
    assert.ok(parsed.problems[0]!.reason.startsWith(`line is ${long.length.toLocaleString('en-US')} bytes, over the limit of 1,000 bytes for one row; on the command line, raise the limit with --max-row-bytes N`), parsed.problems[0]!.reason);
  });

  test('the limit is exact: 10 bytes pass a 10-byte limit (with or without CRLF), 11 do not', async () => {
    const file = writeFile('0123456789\r\n0123456789\n0123456789A\n0123456789A\r\nend');
    const lines = await readAll(file, 10);
    assert.deepEqual(
      lines.map((l) => [l.text, l.byteLength, l.problem !== undefined, l.bareCr]),
      [
        ['0123456789', 10, false, false],
        ['0123456789', 10, false, false],
        ['', 11, true, false],
        ['', 11, true, false],
        ['end', 3, false, false],
      ],
    );
  });

  test('the default limit is 1 MiB: a 2 MiB line is skipped', async () => {
    const file = writeFile([row('a', 0), row('y'.repeat(2 << 20), 1), row('b', 1)].join('\n'));
    const parsed = await parseJsonlFile(file);
    assert.deepEqual(
      parsed.lines.map((l) => l.line),
      [1, 3],
    );
    assert.match(parsed.problems[0]!.reason, /over the limit of 1\.0 MiB/);
  });

  test('curate rejects a line over the limit and still copies it byte for byte', async () => {
    const long = row('z'.repeat(3000), 1);
    const file = writeFile([row('alpha', 0), long].join('\n'));
    const scores = scoresFor(file, [{ line: 1, text: 'alpha', label: 0, weight: 1 }]);
    const curated = path.join(dir, `curated-${counter}.jsonl`);
    const rejected = path.join(dir, `rejected-${counter}.jsonl`);
    const summary = await curateFile(file, scores, { by: 'weight', keepFraction: 1 }, { curated, rejected }, { maxRowBytes: 1000 });
    assert.deepEqual([summary.kept, summary.unusable], [1, 1]);
    assert.equal(fs.readFileSync(rejected, 'utf8'), `${long}\n`);
  });
});

describe('item 11: every hint works', () => {
  test('--text-field and --label-field exist on the commands that read data, and map the fields', () => {
    for (const command of ['score', 'train', 'curate', 'eval']) {
      const help = cli(command, '--help');
      assertExit(help, 0);
      assert.match(help.stdout, /--text-field NAME/, command);
      assert.match(help.stdout, /--label-field NAME/, command);
      assert.match(help.stdout, /--max-row-bytes N/, command);
    }
    const odd = (n: number, seed: string): string =>
      Array.from({ length: n }, (_, i) => JSON.stringify({ body: `${i % 2 ? 'goal match team' : 'pasta sauce oven'} ${seed} ${i}`, y: i % 2 ? 'sports' : 'food' })).join('\n');
    const synthetic = writeFile(odd(40, 's'), 'odd-fields.jsonl');
    const missing = cli('train', '--synthetic', synthetic, '--loss', 'ce', '--out', path.join(dir, 'runs'));
    assertExit(missing, 3);
    assert.match(missing.stderr, /cannot find the text and label field.*--text-field NAME.*--label-field NAME/s);
    const trained = cli('train', '--synthetic', synthetic, '--loss', 'ce', '--epochs', '1', '--text-field', 'body', '--label-field', 'y', '--out', path.join(dir, 'runs'), '--name', 'fields');
    assertExit(trained, 0);
    const bad = cli('train', '--synthetic', synthetic, '--loss', 'ce', '--text-field', 'a,b,c');
    assertExit(bad, 2);
  });

  test('train scoring first: the --force its refusal suggests exists', () => {
    const work = path.join(dir, 'force');
    fs.mkdirSync(work);
    const synthetic = path.join(work, 'syn.jsonl');
    fs.writeFileSync(synthetic, rows(40, ['food', 'sports'], 's').join('\n'));
    fs.writeFileSync(path.join(work, 'real.jsonl'), rows(40, ['food', 'sports'], 'r').join('\n'));
    fs.writeFileSync(path.join(work, 'syn.scores.jsonl'), 'my notes, not scores\n');
    const args = ['train', '--synthetic', synthetic, '--real', path.join(work, 'real.jsonl'), '--loss', 'imp', '--epochs', '1', '--out', path.join(work, 'runs')];
    const refused = cli(...args);
    assertExit(refused, 2);
    assert.match(refused.stderr, /pass --force/);
    assertExit(cli(...args, '--force'), 0);
    assert.match(fs.readFileSync(path.join(work, 'syn.scores.jsonl'), 'utf8'), /dimp-scores/);
  });

  test('the row-limit hint works: --max-row-bytes lets a long row through', async () => {
    const lines = rows(20, ['food', 'sports']);
    lines.push(row('w '.repeat(1500), 'food'));
    const file = writeFile(lines.join('\n'), 'long-row.jsonl');
    const limited = cli('train', '--json', '--synthetic', file, '--loss', 'ce', '--epochs', '1', '--max-row-bytes', '1000', '--out', path.join(dir, 'runs'), '--name', 'limited');
    assertExit(limited, 0);
    assert.match(limited.stdout, /long-row\.jsonl:21: line is 3,0\d\d bytes, over the limit of 1,000 bytes/);
    const raised = cli('train', '--json', '--synthetic', file, '--loss', 'ce', '--epochs', '1', '--max-row-bytes', '4000', '--out', path.join(dir, 'runs'), '--name', 'raised');
    assertExit(raised, 0);
    assert.doesNotMatch(raised.stdout, /unusable line/);
    const config = writeFile(JSON.stringify({ maxRowBytes: 4000 }), 'limit.config.json');
    const configured = cli('train', '--json', '--config', config, '--synthetic', file, '--loss', 'ce', '--epochs', '1', '--out', path.join(dir, 'runs'), '--name', 'configured');
    assertExit(configured, 0);
    assert.doesNotMatch(configured.stdout, /unusable line/);
    const badConfig = writeFile(JSON.stringify({ maxRowBytes: 'big' }), 'bad-limit.config.json');
    assertExit(cli('train', '--config', badConfig, '--synthetic', file, '--loss', 'ce'), 2);
    assertExit(cli('train', '--synthetic', file, '--loss', 'ce', '--max-row-bytes', '0'), 2);
  });
});
