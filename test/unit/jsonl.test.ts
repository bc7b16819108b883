import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { indexJsonlLines, readJsonlLineBatches, readJsonlLines, type JsonlLine } from '../../src/core/data/jsonl';
import { computeRowId, loadDataset, parseJsonlFile, resolveLabels, type ParsedFile } from '../../src/core/data/dataset';
import { inferLabelNames, LabelMap } from '../../src/core/data/labels';
import { fieldChoices } from '../../src/core/data/fields';
import { DimpError } from '../../src/core/errors';

let dir: string;
let fileCounter = 0;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dimp-test-'));
});

after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Writes `content` to a fresh file in the test folder and returns its path. */
function writeFile(content: string | Buffer): string {
  fileCounter += 1;
  const file = path.join(dir, `data-${fileCounter}.jsonl`);
  fs.writeFileSync(file, content);
  return file;
}

/** Writes one JSON object per line (LF, final newline). */
function writeRows(rows: readonly unknown[]): string {
  return writeFile(rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

async function readAll(file: string): Promise<JsonlLine[]> {
  const lines: JsonlLine[] = [];
  for await (const line of readJsonlLines(file)) lines.push(line);
  return lines;
}

/** Reads `length` bytes at `offset` straight from disk. */
function readBytes(file: string, offset: number, length: number): string {
  const fd = fs.openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const read = fs.readSync(fd, buffer, 0, length, offset);
    assert.equal(read, length);
    return buffer.toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}

async function rejectsWithDimpError(promise: Promise<unknown>, kind: DimpError['kind'], check: (message: string) => void = () => {}): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof DimpError, `expected a DimpError, got ${String(error)}`);
    assert.equal(error.kind, kind);
    check(error.message);
    return true;
  });
}

function reasonsByLine(parsed: { problems: { line: number; reason: string }[] }): Map<number, string> {
  return new Map(parsed.problems.map((p) => [p.line, p.reason]));
}

describe('readJsonlLines', () => {
  test('strips a UTF-8 BOM: line 1 parses and starts at byte 3', async () => {
    const file = writeFile(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"text":"hi","label":"a"}\n{"text":"yo","label":"b"}\n')]));
    const lines = await readAll(file);
    assert.equal(lines.length, 2);
    assert.deepEqual(JSON.parse(lines[0]!.text), { text: 'hi', label: 'a' });
    assert.equal(lines[0]!.byteOffset, 3);
    assert.equal(lines[0]!.byteLength, '{"text":"hi","label":"a"}'.length);
    // 3 (BOM) + 25 (line 1) + 1 (\n)
    assert.equal(lines[1]!.byteOffset, 29);
  });

  test('CRLF endings: no \\r in the text, byte lengths exclude it', async () => {
    const file = writeFile('ab\r\ncde\r\nf');
    const lines = await readAll(file);
    assert.deepEqual(
      lines.map((l) => [l.line, l.text, l.byteOffset, l.byteLength]),
      [
        [1, 'ab', 0, 2],
        [2, 'cde', 4, 3],
        [3, 'f', 9, 1],
      ],
    );
  });

  test('yields a final line without a newline, and empty lines in between', async () => {
    const file = writeFile('one\n\n  \nlast');
    const lines = await readAll(file);
    assert.deepEqual(
      lines.map((l) => [l.line, l.text, l.byteOffset]),
      [
        [1, 'one', 0],
        [2, '', 4],
        [3, '  ', 5],
        [4, 'last', 8],
      ],
    );
  });

  test('a trailing newline does not make an extra empty line', async () => {
    const lines = await readAll(writeFile('a\nb\n'));
    assert.deepEqual(
      lines.map((l) => l.text),
      ['a', 'b'],
    );
    assert.deepEqual(await readAll(writeFile('')), []);
  });

  test('offsets and lengths re-read each line exactly, multi-byte characters included', async () => {
    const texts = ['{"text":"café ☕","label":"a"}', '{"text":"日本語のテキスト","label":"b"}', '', '{"text":"emoji 😀👍","label":"a"}', '{"text":"plain","label":"b"}'];
    const file = writeFile(texts.join('\r\n'));
    const lines = await readAll(file);
    assert.equal(lines.length, texts.length);
    let expectedOffset = 0;
    lines.forEach((line, i) => {
      assert.equal(line.line, i + 1);
      assert.equal(line.text, texts[i]);
      assert.equal(line.byteOffset, expectedOffset);
      assert.equal(line.byteLength, Buffer.byteLength(texts[i]!));
      assert.equal(readBytes(file, line.byteOffset, line.byteLength), texts[i]);
      expectedOffset += Buffer.byteLength(texts[i]!) + 2;
    });
  });

  test('lines that span the 1 MiB read chunks come out whole (30k lines)', async () => {
    const texts: string[] = [];
    for (let i = 0; i < 30_000; i++) texts.push(JSON.stringify({ text: `row ${i} ${'é'.repeat(i % 7)} ${'ü'.repeat(i % 13)} ${'x'.repeat(i % 17)}`, label: i % 2 }));
    const content = Buffer.from(texts.join('\n') + '\n');
    assert.ok(content.length > 1 << 20, 'the file must be larger than one read chunk');
    const file = writeFile(content);
    const lines = await readAll(file);
    assert.equal(lines.length, texts.length);
    let offset = 0;
    for (let i = 0; i < texts.length; i++) {
      const line = lines[i]!;
      const bytes = Buffer.byteLength(texts[i]!);
      assert.equal(line.text, texts[i]);
      assert.equal(line.byteOffset, offset);
      assert.equal(line.byteLength, bytes);
      assert.equal(content.toString('utf8', line.byteOffset, line.byteOffset + line.byteLength), texts[i]);
      offset += bytes + 1;
    }
  });

  test('a CRLF and a multi-byte character split exactly at the 1 MiB chunk boundary', async () => {
    const chunk = 1 << 20;
    // Line 1 ends with "\r" as the chunk's last byte; the "\n" opens the next chunk.
    const line1 = 'a'.repeat(chunk - 1);
    // Line 3 puts the 3-byte "€" across the second boundary.
    const line2 = 'b'.repeat(10);
    const line3Start = chunk + 1 + line2.length + 2;
    const line3 = 'c'.repeat(2 * chunk - 1 - line3Start) + '€tail';
    const content = Buffer.from(`${line1}\r\n${line2}\r\n${line3}\r\n`);
    assert.equal(content[chunk - 1], 0x0d);
    assert.equal(content[chunk], 0x0a);
    const file = writeFile(content);
    const lines = await readAll(file);
    assert.deepEqual(
      lines.map((l) => [l.byteOffset, l.byteLength, l.text === [line1, line2, line3][l.line - 1]]),
      [
        [0, chunk - 1, true],
        [chunk + 1, 10, true],
        [line3Start, Buffer.byteLength(line3), true],
      ],
    );
  });
});

describe('indexJsonlLines', () => {
  test('returns the start offset of every line, blank ones included', async () => {
    const index = await indexJsonlLines(writeFile('ab\n\ncde\r\nf'));
    assert.deepEqual([...index], [0, 3, 4, 9]);
    assert.deepEqual([...(await indexJsonlLines(writeFile('x\n')))], [0]);
    assert.deepEqual([...(await indexJsonlLines(writeFile('')))], []);
  });

  test('agrees with readJsonlLines on a file larger than one read chunk', async () => {
    const chunk = 1 << 20;
    // A newline as the very last byte of the first chunk, then many short lines.
    const texts = ['a'.repeat(chunk - 1)];
    for (let i = 0; i < 20_000; i++) texts.push(`{"text":"ligne ${i} ${'ö'.repeat(i % 5)}","label":${i % 3}}`);
    const file = writeFile(texts.join('\n') + '\n');
    const index = await indexJsonlLines(file);
    const lines = await readAll(file);
    assert.equal(index.length, texts.length);
    assert.equal(index[1], chunk);
    assert.deepEqual([...index], lines.map((l) => l.byteOffset));
  });

  test('line 1 of a file with a BOM starts where readJsonlLines says (after the BOM)', async () => {
    // The index is for serving lines from disk: offset 0 would hand back the BOM, which JSON.parse rejects.
    const file = writeFile(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"text":"a","label":0}\n{"text":"b","label":1}\n')]));
    const index = await indexJsonlLines(file);
    const lines = await readAll(file);
    assert.deepEqual([...index], lines.map((l) => l.byteOffset));
  });
});

describe('readJsonlLineBatches (chunks decoded in bulk)', () => {
  /** What every line must be, worked out from the whole file's bytes one line at a time. */
  function expectedLines(content: Buffer, cap: number): { line: number; byteOffset: number; byteLength: number; text: string; bareCr: boolean; problem: 'utf8' | 'long' | undefined }[] {
    const out = [];
    let start = content[0] === 0xef && content[1] === 0xbb && content[2] === 0xbf ? 3 : 0;
    let line = 0;
    while (start < content.length) {
      let end = content.indexOf(0x0a, start);
      if (end < 0) end = content.length;
      let bytes = content.subarray(start, end);
      if (bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
      const bareCr = bytes.includes(0x0d);
      const valid = Buffer.from(bytes.toString('utf8'), 'utf8').equals(bytes);
      const problem = bytes.length > cap ? ('long' as const) : valid ? undefined : ('utf8' as const);
      out.push({ line: ++line, byteOffset: start, byteLength: bytes.length, text: problem ? '' : bytes.toString('utf8'), bareCr, problem });
      start = end + 1;
    }
    return out;
  }

  for (const [name, cap] of [['default limit', undefined], ['a 300-byte limit', 300]] as const) {
    test(`agrees line for line with a reference over several chunks: BOM, CRLF, bare CR, non-ASCII, invalid UTF-8, long lines (${name})`, async () => {
      const parts: Buffer[] = [Buffer.from([0xef, 0xbb, 0xbf])];
      for (let i = 0; i < 60_000; i++) {
        const kind = i % 997;
        let line: Buffer;
        if (i === 30_000) line = Buffer.from([...Buffer.from('{"text":"caf'), 0xe9, ...Buffer.from('","label":1}')]);
        else if (kind === 7 && i > 40_000 && i < 45_000) line = Buffer.from(`{"text":"${'x'.repeat(400 + (i % 50))}","label":0}`);
        else if (kind === 11) line = Buffer.from('{"text":"a\rb","label":0}\r');
        else if (kind === 13) line = Buffer.from('');
        else line = Buffer.from(`{"text":"row ${i} ${i % 3 === 0 ? 'naïve café ✓ 😀' : 'plain'}","label":${i % 2}}${i % 4 === 0 ? '\r' : ''}`);
        parts.push(line, Buffer.from('\n'));
      }
      // A final line without a newline, split over the last chunk boundary with the rest.
      parts.push(Buffer.from('{"text":"last","label":0}'));
      const content = Buffer.concat(parts);
      assert.ok(content.length > 2 << 20, 'the file spans several read chunks');
      const file = writeFile(content);
      const limit = cap ?? 1 << 20;
      const expected = expectedLines(content, limit);
      const actual: JsonlLine[] = [];
      let batches = 0;
      for await (const batch of readJsonlLineBatches(file, undefined, { maxLineBytes: limit })) {
        batches += 1;
        actual.push(...batch);
      }
      assert.ok(batches >= 3 && batches < 10, `one batch per read chunk (${batches})`);
      // Most chunks hold only valid lines within the limit: their lines come from the bulk path (not plain objects).
      const bulk = actual.filter((l) => Object.getPrototypeOf(l) !== Object.prototype).length;
      assert.ok(bulk > actual.length / 2, `lines decoded in bulk: ${bulk} of ${actual.length}`);
      assert.equal(actual.length, expected.length);
      expected.forEach((e, i) => {
        const a = actual[i]!;
        const where = `line ${e.line}`;
        assert.deepEqual([a.line, a.byteOffset, a.byteLength, a.text, a.bareCr], [e.line, e.byteOffset, e.byteLength, e.text, e.bareCr], where);
        if (e.problem === 'utf8') assert.match(a.problem ?? '', /^not valid UTF-8 \(byte 0xe9 at byte 13 of the line\)/, where);
        else if (e.problem === 'long') assert.match(a.problem ?? '', /over the limit of 300 bytes/, where);
        else assert.equal(a.problem, undefined, where);
        if (e.problem !== 'long') assert.ok(Buffer.from(a.bytes!).equals(content.subarray(e.byteOffset, e.byteOffset + e.byteLength)), `${where}: bytes`);
        else assert.equal(a.bytes, undefined, where);
      });
      // The one-line-at-a-time reader gives the same lines.
      const single: JsonlLine[] = [];
      for await (const line of readJsonlLines(file, undefined, { maxLineBytes: limit })) single.push(line);
      assert.deepEqual(single.map((l) => [l.line, l.byteOffset, l.text, l.problem]), actual.map((l) => [l.line, l.byteOffset, l.text, l.problem]));
    });
  }

  /** Every line of `file` read in batches, checked field for field (and bytes) against the reference. */
  async function assertMatchesReference(file: string, content: Buffer): Promise<JsonlLine[]> {
    const expected = expectedLines(content, 1 << 20);
    const actual: JsonlLine[] = [];
    for await (const batch of readJsonlLineBatches(file)) actual.push(...batch);
    assert.equal(actual.length, expected.length);
    expected.forEach((e, i) => {
      const a = actual[i]!;
      const where = `line ${e.line}`;
      assert.deepEqual([a.line, a.byteOffset, a.byteLength, a.text, a.bareCr], [e.line, e.byteOffset, e.byteLength, e.text, e.bareCr], where);
      assert.ok(Buffer.from(a.bytes!).equals(content.subarray(e.byteOffset, e.byteOffset + e.byteLength)), `${where}: bytes`);
    });
    return actual;
  }

  test('a multi-byte character split across read chunks, lines longer than a decoding piece, ASCII and non-ASCII pieces', async () => {
    const parts: Buffer[] = [];
    let size = 0;
    const push = (line: string | Buffer): void => {
      const bytes = Buffer.concat([Buffer.from(line), Buffer.from('\n')]);
      parts.push(bytes);
      size += bytes.length;
    };
    // A line whose character `c` starts `before` bytes ahead of `boundary`, so that it is split there.
    const splitAt = (boundary: number, c: string, before: number): void => {
      const prefix = '{"text":"';
      push(`${prefix}${'a'.repeat(boundary - before - size - prefix.length)}${c} after","label":1}`);
    };
    for (let i = 0; size < (1 << 20) - 300; i++) push(`{"text":"row ${i}${i % 50 === 0 ? ' naïve café' : ''}","label":${i % 2}}`);
    splitAt(1 << 20, '😀', 2); // 4 bytes: 2 in the first chunk, 2 in the second
    push(`{"text":"${'x'.repeat(100_000)}","label":0}`); // ASCII, longer than a piece
    push(`{"text":"${'é'.repeat(75_000)}","label":1}`); // non-ASCII, 150 KB
    for (let i = 0; size < (2 << 20) - 300; i++) push(`{"text":"ligne ${i} ✓","label":${i % 2}}`);
    splitAt(2 << 20, '✓', 1); // 3 bytes: 1 in the second chunk, 2 in the third
    for (let i = 0; i < 100; i++) push(`{"text":"tail ${i}","label":0}`);
    const content = Buffer.concat(parts);
    const actual = await assertMatchesReference(writeFile(content), content);
    assert.ok(actual.some((l) => l.text.includes('aa😀 after')) && actual.some((l) => l.text.includes('a✓ after')), 'the split characters decode whole');
    assert.ok(actual.every((l) => l.problem === undefined));
  });

  test('invalid UTF-8 inside a run of valid lines keeps its exact message; the lines around it decode', async () => {
    const lines: Buffer[] = [];
    for (let i = 0; i < 3000; i++) lines.push(Buffer.from(`{"text":"row ${i} ${i % 3 === 0 ? 'naïve ✓' : 'plain'}","label":${i % 2}}`));
    lines[100] = Buffer.concat([Buffer.from('{"text":"ab'), Buffer.from([0xff]), Buffer.from('","label":0}')]);
    lines[101] = Buffer.concat([Buffer.from('{"text":"'), Buffer.from([0xe2, 0x9c])]); // a character cut short by the line end
    lines[2000] = Buffer.concat([Buffer.from('{"text":"caf'), Buffer.from([0xc3, 0x28]), Buffer.from('","label":1}')]);
    const content = Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')]));
    assert.ok(content.length > 64 << 10 && content.length < 1 << 20, 'one read chunk, several decoding pieces');
    const actual: JsonlLine[] = [];
    for await (const batch of readJsonlLineBatches(writeFile(content))) actual.push(...batch);
    assert.equal(actual.length, 3000);
    const problems = actual.filter((l) => l.problem !== undefined).map((l) => [l.line, l.problem, l.text]);
    assert.deepEqual(problems, [
      [101, 'not valid UTF-8 (byte 0xff at byte 12 of the line); the line is left as it is', ''],
      [102, 'not valid UTF-8 (byte 0xe2 at byte 10 of the line); the line is left as it is', ''],
      [2001, 'not valid UTF-8 (byte 0xc3 at byte 13 of the line); the line is left as it is', ''],
    ]);
    let offset = 0;
    lines.forEach((bytes, i) => {
      const a = actual[i]!;
      assert.deepEqual([a.line, a.byteOffset, a.byteLength], [i + 1, offset, bytes.length], `line ${i + 1}`);
      assert.ok(Buffer.from(a.bytes!).equals(bytes), `line ${i + 1}: bytes`);
      if (a.problem === undefined) assert.equal(a.text, bytes.toString('utf8'), `line ${i + 1}`);
      offset += bytes.length + 1;
    });
  });
});

describe('parseJsonlFile', () => {
  test('reads a BOM and CRLF file with a final line without newline', async () => {
    const [first, second, third] = ['{"text":"first","label":"a"}', '{"text":"second","label":"b"}', '{"text":"third","label":"a"}'];
    const file = writeFile(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${first}\r\n${second}\r\n${third}`)]));
    const parsed = await parseJsonlFile(file);
    assert.deepEqual(parsed.problems, []);
    assert.equal(parsed.totalLines, 3);
    assert.deepEqual(
      parsed.lines.map((l) => [l.line, l.texts[0], l.rawLabel, l.byteOffset]),
      [
        [1, 'first', 'a', 3],
        [2, 'second', 'b', 3 + first!.length + 2],
        [3, 'third', 'a', 3 + first!.length + 2 + second!.length + 2],
      ],
    );
    for (const line of parsed.lines) assert.deepEqual(JSON.parse(readBytes(file, line.byteOffset, line.byteLength)).text, line.texts[0]);
  });

  test('skips blank and whitespace-only lines without calling them problems', async () => {
    const file = writeFile('{"text":"a","label":0}\n\n   \n\t\n{"text":"b","label":1}\n\r\n');
    const parsed = await parseJsonlFile(file);
    assert.equal(parsed.blankLines, 4);
    assert.equal(parsed.totalLines, 6);
    assert.deepEqual(parsed.problems, []);
    assert.deepEqual(
      parsed.lines.map((l) => l.line),
      [1, 5],
    );
  });

  test('reports each unusable line with its line number and still reads the others', async () => {
    const lines = [
      '{"text":"good one","label":"a"}', // 1
      '{"text": "broken", "label": ', // 2 bad JSON
      '[1, 2, 3]', // 3 array
      '42', // 4 number
      '{"label":"a"}', // 5 missing text
      '{"text":17,"label":"a"}', // 6 non-string text
      '{"text":"   ","label":"a"}', // 7 empty text
      '{"text":"no label"}', // 8 missing label
      '{"text":"null label","label":null}', // 9
      '{"text":"array label","label":["a","b"]}', // 10
      '{"text":"good two","label":"b"}', // 11
      'null', // 12
    ];
    const file = writeFile(lines.join('\n') + '\n');
    const parsed = await parseJsonlFile(file);
    assert.deepEqual(
      parsed.lines.map((l) => l.line),
      [1, 11],
    );
    const reasons = reasonsByLine(parsed);
    assert.deepEqual([...reasons.keys()].sort((a, b) => a - b), [2, 3, 4, 5, 6, 7, 8, 9, 10, 12]);
    assert.match(reasons.get(2)!, /invalid JSON/);
    assert.match(reasons.get(3)!, /expected a JSON object/);
    assert.match(reasons.get(3)!, /array/);
    assert.match(reasons.get(4)!, /expected a JSON object.*42/);
    assert.match(reasons.get(5)!, /missing text field "text"/);
    assert.match(reasons.get(6)!, /text field "text" is number/);
    assert.match(reasons.get(7)!, /empty text/);
    assert.match(reasons.get(8)!, /missing label field "label"/);
    assert.match(reasons.get(9)!, /missing label field "label"/);
    assert.match(reasons.get(10)!, /not a single label/);
    assert.match(reasons.get(12)!, /expected a JSON object/);
    for (const problem of parsed.problems) assert.equal(problem.file, file);
  });

  for (const [name, row, texts] of [
    ['text', { text: 'T', label: 0 }, ['T']],
    ['sentence', { sentence: 'S', label: 0 }, ['S']],
    ['content', { content: 'C', label: 0 }, ['C']],
    ['sentence1/sentence2', { sentence1: 'A', sentence2: 'B', label: 0 }, ['A', 'B']],
    ['text1/text2', { text1: 'A', text2: 'B', label: 0 }, ['A', 'B']],
    ['premise/hypothesis', { premise: 'P', hypothesis: 'H', label: 0 }, ['P', 'H']],
    ['question/passage', { question: 'Q', passage: 'P', label: 0 }, ['Q', 'P']],
  ] as const) {
    test(`detects the text field(s) ${name}`, async () => {
      const parsed = await parseJsonlFile(writeRows([row, row]));
      assert.deepEqual(parsed.fields.text, name.split('/'));
      assert.equal(parsed.fields.label, 'label');
      assert.deepEqual(parsed.lines[0]!.texts, texts);
    });
  }

  test('a pair wins over a single text field present in the same rows', async () => {
    const parsed = await parseJsonlFile(writeRows([{ text: 'single', premise: 'P', hypothesis: 'H', label: 'x' }]));
    assert.deepEqual(parsed.fields.text, ['premise', 'hypothesis']);
  });

  test('detects other label field names', async () => {
    const parsed = await parseJsonlFile(writeRows([{ text: 'a', target: 'yes' }]));
    assert.equal(parsed.fields.label, 'target');
    assert.equal(parsed.lines[0]!.rawLabel, 'yes');
  });

  test('explicit field overrides win over detection', async () => {
    const file = writeRows([{ text: 'ignored', body: 'the body', extra: 'second', label: 'no', y: 'yes' }]);
    const single = await parseJsonlFile(file, { fields: { text: 'body', label: 'y' } });
    assert.deepEqual(single.fields, { text: ['body'], label: 'y' });
    assert.deepEqual(single.lines[0]!.texts, ['the body']);
    assert.equal(single.lines[0]!.rawLabel, 'yes');
    const pair = await parseJsonlFile(file, { fields: { text: ['body', 'extra'] } });
    assert.deepEqual(pair.fields, { text: ['body', 'extra'], label: 'label' });
    assert.deepEqual(pair.lines[0]!.texts, ['the body', 'second']);
  });

  test('no detectable text field is a badInput error naming the fields present', async () => {
    const file = writeRows([{ body: 'hello', headline: 'x', label: 0 }]);
    await rejectsWithDimpError(parseJsonlFile(file), 'badInput', (message) => {
      assert.match(message, /text/);
      assert.match(message, /body/);
      assert.match(message, /headline/);
      assert.ok(message.includes(file));
    });
  });

  test('no detectable label field is a badInput error that says so', async () => {
    const file = writeRows([{ text: 'hello', sentiment: 'pos' }]);
    await rejectsWithDimpError(parseJsonlFile(file), 'badInput', (message) => {
      assert.match(message, /label/);
      assert.match(message, /sentiment/);
    });
    const withOverride = await parseJsonlFile(file, { fields: { label: 'sentiment' } });
    assert.equal(withOverride.lines[0]!.rawLabel, 'pos');
  });

  test('a missing file is a badInput error with its path', async () => {
    const missing = path.join(dir, 'does-not-exist.jsonl');
    await rejectsWithDimpError(parseJsonlFile(missing), 'badInput', (message) => assert.ok(message.includes(missing)));
  });

  test('a folder is a badInput error', async () => {
    await rejectsWithDimpError(parseJsonlFile(dir), 'badInput');
  });
});

describe('labels', () => {
  const namesMap = new LabelMap(['negative', 'positive']);

  test('0, "0", the name and its other case all map to index 0; a padded label matches nothing', () => {
    for (const raw of [0, '0', 'negative', 'Negative']) assert.equal(namesMap.indexOf(raw), 0, `raw ${JSON.stringify(raw)}`);
    for (const raw of [1, '1', 'positive', 'POSITIVE']) assert.equal(namesMap.indexOf(raw), 1, `raw ${JSON.stringify(raw)}`);
    for (const raw of [2, -1, '2', 0.5, 'neutral', true, null, ['negative'], ' negative ', ' 1 ']) assert.equal(namesMap.indexOf(raw), undefined, `raw ${JSON.stringify(raw)}`);
    assert.equal(new LabelMap(['0', '1']).indexOf(' 1 '), undefined);
  });

  test('numeric label names match by name, not by index', () => {
    const zeroOne = new LabelMap(['0', '1']);
    assert.equal(zeroOne.indexOf(0), 0);
    assert.equal(zeroOne.indexOf('1'), 1);
    assert.equal(zeroOne.indexOf(2), undefined);
    const sparse = new LabelMap(['1', '2', '5']);
    assert.equal(sparse.indexOf(1), 0);
    assert.equal(sparse.indexOf('2'), 1);
    assert.equal(sparse.indexOf(5), 2);
    assert.equal(sparse.indexOf(0), undefined);
  });

  test('resolveLabels lines up 0, "0" and names; unknown labels become problems listing the known ones', async () => {
    const file = writeRows([
      { text: 'a', label: 0 },
      { text: 'b', label: '0' },
      { text: 'c', label: 'negative' },
      { text: 'd', label: 'Positive' },
      { text: 'e', label: 'neutral' },
      { text: 'f', label: 7 },
    ]);
    const parsed = await parseJsonlFile(file);
    const dataset = resolveLabels(parsed, namesMap);
    assert.deepEqual(
      dataset.rows.map((r) => [r.line, r.label]),
      [
        [1, 0],
        [2, 0],
        [3, 0],
        [4, 1],
      ],
    );
    const reasons = reasonsByLine(dataset);
    assert.deepEqual([...reasons.keys()], [5, 6]);
    for (const reason of reasons.values()) {
      assert.match(reason, /unknown label/);
      assert.match(reason, /negative, positive/);
    }
    assert.match(reasons.get(5)!, /neutral/);
  });

  test('loadDataset with numeric names ["1","2","5"]: raw 1 is index 0, raw 0 is unknown', async () => {
    const file = writeRows([
      { text: 'one', label: 1 },
      { text: 'five', label: '5' },
      { text: 'zero', label: 0 },
    ]);
    const dataset = await loadDataset(file, ['1', '2', '5']);
    assert.deepEqual(
      dataset.rows.map((r) => [r.texts[0], r.label]),
      [
        ['one', 0],
        ['five', 2],
      ],
    );
    assert.deepEqual(
      dataset.problems.map((p) => p.line),
      [3],
    );
  });

  test('loadDataset infers labels when none are given, and keeps parse problems', async () => {
    const file = writeFile('{"text":"x","label":"spam"}\n{oops\n{"text":"y","label":"ham"}\n');
    const dataset = await loadDataset(file, undefined);
    assert.deepEqual(dataset.labelMap.names, ['ham', 'spam']);
    assert.deepEqual(
      dataset.rows.map((r) => r.label),
      [1, 0],
    );
    assert.deepEqual(
      dataset.problems.map((p) => p.line),
      [2],
    );
  });

  test('inferLabelNames sorts numbers numerically and names alphabetically', () => {
    assert.deepEqual(inferLabelNames([10, 2, '1', 2, '10']), ['1', '2', '10']);
    assert.deepEqual(inferLabelNames(['positive', 'negative', 'neutral', 'negative']), ['negative', 'neutral', 'positive']);
  });

  test('inferLabelNames refuses a mix of numbers and names and says how to set labels', () => {
    assert.throws(
      () => inferLabelNames([0, 'positive']),
      (error: unknown) => {
        assert.ok(error instanceof DimpError);
        assert.equal(error.kind, 'badInput');
        assert.match(error.message, /labels/);
        assert.match(error.message, /--labels|dimp\.config\.json/);
        return true;
      },
    );
  });
});

describe('computeRowId', () => {
  test('0 and "0" give the same id; other labels and texts do not', () => {
    assert.equal(computeRowId(['hello'], 0), computeRowId(['hello'], '0'));
    assert.notEqual(computeRowId(['hello'], 0), computeRowId(['hello'], 1));
    assert.notEqual(computeRowId(['hello'], 0), computeRowId(['hello!'], 0));
    // Pair texts are not simply concatenated.
    assert.notEqual(computeRowId(['ab', 'c'], 0), computeRowId(['a', 'bc'], 0));
  });

  test('row ids survive moving lines and change when the text changes', async () => {
    const rows = [
      { text: 'alpha', label: 0 },
      { text: 'beta', label: 1 },
    ];
    const before = await parseJsonlFile(writeRows(rows));
    const moved = await parseJsonlFile(writeFile(`\n{"text":"other","label":0}\n${JSON.stringify({ text: 'beta', label: '1' })}\n${JSON.stringify(rows[0])}\n`));
    const edited = await parseJsonlFile(writeRows([{ text: 'alpha!', label: 0 }]));
    const idOf = (parsed: ParsedFile, text: string): string | undefined => parsed.lines.find((l) => l.texts[0] === text)?.rowId;
    assert.equal(idOf(moved, 'alpha'), idOf(before, 'alpha'));
    assert.equal(idOf(moved, 'beta'), idOf(before, 'beta'));
    assert.notEqual(idOf(edited, 'alpha!'), idOf(before, 'alpha'));
    assert.equal(before.lines[0]!.rowId, computeRowId(['alpha'], 0));
  });
});

describe('the field picker', () => {
  test('preselects the detected text field, leaves the label out of the text choices, and offers it first as the label', () => {
    const samples = [{ id: 1, sentence: 'a', label: 0, source: 'gpt' }];
    const choices = fieldChoices(samples);
    assert.deepEqual(choices.text, [
      { key: 'id', inUse: false },
      { key: 'sentence', inUse: true },
      { key: 'source', inUse: false },
    ]);
    assert.deepEqual(choices.label(['sentence']).map((c) => [c.key, c.inUse]), [['label', true], ['id', false], ['source', false]]);
  });

  test('the settings in use win over detection', () => {
    const choices = fieldChoices([{ body: 'x', y: 'pos', sentence: 's' }], { text: ['body'], label: 'y' });
    assert.deepEqual(choices.text.filter((c) => c.inUse).map((c) => c.key), ['body']);
    assert.ok(!choices.text.some((c) => c.key === 'y'));
    assert.equal(choices.label(['body'])[0]!.key, 'y');
  });
});
