import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { computeRowId } from '../../src/core/data/dataset';
import type { FieldMapping } from '../../src/core/data/fields';
import { LabelMap } from '../../src/core/data/labels';
import { RowIdScanner } from '../../src/core/data/rowScan';
import { SeededRandom } from '../../src/core/random';
import { LineRows, parseLineState } from '../../src/core/view/lineRows';

const SINGLE: FieldMapping = { text: ['text'], label: 'label' };
const PAIR: FieldMapping = { text: ['premise', 'hypothesis'], label: 'label' };
const NAMES = new LabelMap(['negative', 'positive']);
const NUMBERS = new LabelMap(['0', '1', '2']);

const hex8 = (x: number): string => x.toString(16).padStart(8, '0');

/** The scanner's answer for a line: the row id, or undefined when it leaves the line to JSON.parse. */
function scanned(text: string, fields: FieldMapping, labelMap: LabelMap | undefined): string | undefined {
  const out = new Uint32Array(2);
  return new RowIdScanner(fields, labelMap).scan(text, out) ? hex8(out[0]!) + hex8(out[1]!) : undefined;
}

/** What the JSON.parse path gives: the row id, or undefined for a blank or unusable line. */
function parsed(text: string, fields: FieldMapping, labelMap: LabelMap | undefined): string | undefined {
  const state = parseLineState(text, fields, labelMap);
  return state.kind === 'row' ? state.rowId : undefined;
}

/** Asserts that the scanner answers (with the label map given, or none for null) for `text` with the JSON.parse path's row id. */
function assertScans(text: string, fields: FieldMapping = SINGLE, labels: LabelMap | null = NAMES): void {
  const labelMap = labels ?? undefined;
  const expected = parsed(text, fields, labelMap);
  assert.ok(expected !== undefined, `the JSON.parse path finds a row in ${text}`);
  assert.equal(scanned(text, fields, labelMap), expected, text);
}

/** Asserts that the scanner leaves `text` to the JSON.parse path. */
function assertFallsBack(text: string, fields: FieldMapping = SINGLE, labels: LabelMap | null = NAMES): void {
  assert.equal(scanned(text, fields, labels ?? undefined), undefined, text);
}

describe('RowIdScanner (a line\'s row id without JSON.parse)', () => {
  test('gives computeRowId\'s id for plain rows, labels as strings or numbers', () => {
    assertScans('{"text":"hello","label":"positive"}');
    assert.equal(scanned('{"text":"hello","label":"positive"}', SINGLE, NAMES), computeRowId(['hello'], 'positive'));
    assertScans('{"text":"hello","label":1}');
    assertScans('{"text":"hello","label":"1"}');
    // 0 and "0" are one row, as computeRowId has it.
    assert.equal(scanned('{"text":"a","label":0}', SINGLE, NUMBERS), scanned('{"text":"a","label":"0"}', SINGLE, NUMBERS));
    assertScans('{"text":"a","label":2}', SINGLE, NUMBERS);
    assertScans('{"text":"a","label":"Positive"}'); // matched case-insensitively by the label map
    assertScans('{"text":"a","label":"anything"}', SINGLE, null);
    assertScans('{"text":"a","label":1.5}', SINGLE, null);
    // A label with a lone surrogate hashes as computeRowId's UTF-8 has it (U+FFFD's bytes).
    assertScans('{"text":"a","label":"\\ud800"}', SINGLE, null);
    assertScans(`{"text":"a","label":"x${'\ud800'}y"}`, SINGLE, null);
  });

  test('numbers whose canonical form differs from what is written hash their canonical form', () => {
    for (const label of ['1.0', '1e0', '10E-1', '-0', '0.10', '1e21', '123456789012345678901']) {
      assertScans(`{"text":"a","label":${label}}`, SINGLE, null);
    }
    assertScans('{"text":"a","label":1.0}', SINGLE, NUMBERS);
    assert.equal(scanned('{"text":"a","label":1.0}', SINGLE, NUMBERS), computeRowId(['a'], 1));
  });

  test('decodes escapes, \\u escapes and surrogate pairs, escaped or written out, into the same UTF-8', () => {
    assertScans(String.raw`{"text":"a \"quoted\" \\ back\/slash \b\f\n\r\t","label":"negative"}`);
    assertScans(String.raw`{"text":"caf\u00e9 caf\u00E9 café","label":"negative"}`);
    assertScans(String.raw`{"text":"\u65e5\u672c \u2028 日本","label":"negative"}`);
    assertScans(String.raw`{"text":"\ud83d\ude00 😀 \uD83D\uDE00","label":"negative"}`);
    // A high half escaped, its low half written out: one code point, as JSON.parse joins them.
    assertScans(`{"text":"\\ud83d${'\ude00'}","label":"negative"}`);
    assertScans(`{"text":"${'\ud83d'}\\ude00","label":"negative"}`);
    assertScans('{"text":"NUL \\u0000 escaped","label":"negative"}');
    assertScans(JSON.stringify({ text: 'Ελληνικά, עברית, 中文, emoji 👩‍👩‍👧 and \u0007 bell', label: 'positive' }));
  });

  test('takes the last of duplicate keys, as JSON.parse does', () => {
    assertScans('{"text":"first","label":"negative","text":"second"}');
    assert.equal(scanned('{"text":"first","label":"negative","text":"second"}', SINGLE, NAMES), computeRowId(['second'], 'negative'));
    assertScans('{"label":"bogus","text":"x","label":"positive"}');
    // The last label is unusable: JSON.parse's path gives the reason.
    assertFallsBack('{"label":"positive","text":"x","label":"bogus"}');
  });

  test('reads fields in any order, around other fields and nested objects that hold the same names', () => {
    assertScans('{"id":7,"label":"negative","meta":{"text":"inner","label":"positive"},"text":"outer","tags":["text","label",{"text":1}]}');
    assert.equal(
      scanned('{"meta":{"text":"inner","label":"positive"},"text":"outer","label":"negative"}', SINGLE, NAMES),
      computeRowId(['outer'], 'negative'),
    );
    assertScans('{"a":[[[[{}]]],[],{},[1,-2.5e+3,true,false,null,"s"]],"text":"x","label":"negative","z":{"y":{"x":[{"w":null}]}}}');
    assertScans('{"text":"x","label":"negative","":"empty key","te":"prefix","textt":"longer"}');
  });

  test('pairs hash both texts in their order', () => {
    assertScans('{"premise":"A man eats.","hypothesis":"Someone eats.","label":0}', PAIR, NUMBERS);
    assertScans('{"label":"1","hypothesis":"b","premise":"a"}', PAIR, NUMBERS);
    assert.equal(scanned('{"premise":"ab","hypothesis":"c","label":0}', PAIR, NUMBERS), computeRowId(['ab', 'c'], 0));
    assert.notEqual(scanned('{"premise":"ab","hypothesis":"c","label":0}', PAIR, NUMBERS), scanned('{"premise":"a","hypothesis":"bc","label":0}', PAIR, NUMBERS));
    assertFallsBack('{"premise":"a","label":0}', PAIR, NUMBERS);
  });

  test('allows JSON\'s white space anywhere between tokens, and texts that are mostly space', () => {
    assertScans(' \t{ "text" :\t"x" ,\r "label"  :  "negative" }\t ');
    assertScans('{"text":"  padded text  ","label":"negative"}');
    assertScans('{"text":"\\u00a0x\\u3000","label":"negative"}');
  });

  test('leaves to JSON.parse what it cannot be sure of, and never calls an unusable line a row', () => {
    const cases = [
      '', // blank
      '   ',
      '\u00a0{"text":"x","label":"negative"}', // not JSON white space
      '{"text":"x","label":"negative"}x', // trailing garbage
      '{"text":"x","label":"negative"', // cut short
      '{"text":"x","label":"negative",}', // trailing comma
      '{"text":"x" "label":"negative"}',
      "{'text':'x','label':'negative'}",
      '[{"text":"x","label":"negative"}]',
      '{"te\\u0078t":"x","label":"negative"}', // an escaped key (JSON.parse reads it as "text")
      '{"text":"x","label":"negative","bad":"\\x"}', // invalid escape elsewhere
      '{"text":"x","label":"negative","bad":01}',
      '{"text":"x","label":"negative","bad":1.}',
      '{"text":"x","label":"negative","bad":-}',
      '{"text":"x","label":"negative","bad":tru}',
      '{"text":"x","label":"negative","bad":[1,]}',
      '{"text":"x","label":"negative","bad":{"a"}}',
      '{"text":"x","label":"negative","bad":{"a":1,}}',
      '{"text":"x","label":"negative","bad":"tab\there"}', // a raw control character
      '{"text":"x","label":"negative","ba\td":1}', // in a key
      '{"text":"x\\ud83d","label":"negative"}', // a lone high surrogate, escaped
      `{"text":"x${'\ud83d'}","label":"negative"}`, // written out
      `{"text":"x${'\ude00'}y","label":"negative"}`, // a lone low surrogate
      '{"text":"","label":"negative"}', // empty text
      '{"text":"  \\t\\n ","label":"negative"}', // blank text
      '{"text":"\\u3000\\u00a0\\u2028","label":"negative"}',
      '{"text":"\\ufeff","label":"negative"}',
      '{"text":1,"label":"negative"}', // not a string
      '{"text":null,"label":"negative"}',
      '{"text":["x"],"label":"negative"}',
      '{"label":"negative"}', // missing text
      '{"text":"x"}', // missing label
      '{"text":"x","label":null}',
      '{"text":"x","label":true}',
      '{"text":"x","label":false}',
      '{"text":"x","label":[1]}',
      '{"text":"x","label":{"name":"negative"}}',
      '{"text":"x","label":""}',
      '{"text":"x","label":" negative"}', // padded label
      '{"text":"x","label":"maybe"}', // not in the label map
      '{"text":"x","label":7}',
      '{}',
      `{"text":"x","label":"negative","deep":${'['.repeat(100)}${']'.repeat(100)}}`, // nested deeper than the scanner tracks
    ];
    for (const text of cases) {
      assertFallsBack(text);
    }
    // The deep line is valid JSON, a row for JSON.parse's path.
    assert.ok(parsed(cases.at(-1)!, SINGLE, NAMES) !== undefined);
  });

  test('a field named __proto__ is left to JSON.parse', () => {
    assertFallsBack('{"__proto__":"x","label":"negative"}', { text: ['__proto__'], label: 'label' }, NAMES);
  });

  test('texts and labels of every length hash like crypto (SHA-1 block boundaries)', () => {
    for (let n = 1; n <= 300; n++) {
      assertScans(JSON.stringify({ text: 'x'.repeat(n), label: 'negative' }));
      assertScans(JSON.stringify({ text: 'é'.repeat(n), label: 'positive' }));
    }
    assertScans(JSON.stringify({ text: 'long '.repeat(5000), label: 'positive' })); // grows the hash buffer
  });

  test('keeps its answers when a label seen before comes back, many labels or not', () => {
    const scanner = new RowIdScanner(SINGLE, undefined);
    const out = new Uint32Array(2);
    for (let round = 0; round < 3; round++) {
      for (let k = 0; k < 100; k++) {
        const text = JSON.stringify({ text: `row ${k}`, label: k % 3 === 0 ? k : `label ${k}` });
        assert.equal(scanner.scan(text, out), true);
        assert.equal(hex8(out[0]!) + hex8(out[1]!), parsed(text, SINGLE, undefined));
      }
    }
  });

  test('a text field that is also the label field', () => {
    assertScans('{"text":"positive"}', { text: ['text'], label: 'text' }, NAMES);
  });

  test('seeded fuzz: every generated line gets the JSON.parse path\'s row id or is left to it', () => {
    const random = new SeededRandom(14);
    const pick = <T>(items: readonly T[]): T => items[random.nextInt(items.length)]!;
    const units = ['a', 'b', 'Z', ' ', '"', '\\', '/', '\n', '\t', '\u0001', '\u007f', 'é', '\u00a0', '中', '\u2028', '\u3000', '\u180e', '\ufeff', '😀', 'text', 'label'];
    const loneSurrogates = ['\ud83d', '\ude00'];
    const space = (): string => (random.next() < 0.8 ? '' : pick([' ', '\t', '\r', '  ', ' \t ']));
    const writeString = (value: string): string => {
      let out = '"';
      for (const char of value) {
        for (let i = 0; i < char.length; i++) {
          const unit = char.charCodeAt(i);
          const roll = random.next();
          if (roll < 0.15) out += `\\u${unit.toString(16).padStart(4, '0')}`;
          else if (roll < 0.2) out += `\\u${unit.toString(16).padStart(4, '0').toUpperCase()}`;
          else if (char === '"' || char === '\\' || unit < 0x20) out += JSON.stringify(char[i]).slice(1, -1);
          else if (char === '/' && roll < 0.5) out += '\\/';
          else out += char[i];
        }
      }
      return out + '"';
    };
    const randomString = (): string => Array.from({ length: random.nextInt(12) }, () => pick(random.next() < 0.01 ? loneSurrogates : units)).join('');
    const writeValue = (depth: number): string => {
      const roll = random.next();
      if (roll < 0.3) return writeString(randomString());
      if (roll < 0.45) return pick(['0', '1', '2', '-0', '1.0', '2e0', '0.5', '-3', '1e400', '12345678901234567890']);
      if (roll < 0.55) return pick(['true', 'false', 'null']);
      if (depth > 3) return '0';
      if (roll < 0.75) return `[${space()}${Array.from({ length: random.nextInt(3) }, () => writeValue(depth + 1)).join(`${space()},${space()}`)}${space()}]`;
      return writeObject(depth + 1, false);
    };
    const writeObject = (depth: number, top: boolean): string => {
      const members: string[] = [];
      const count = random.nextInt(5) + (top ? 1 : 0);
      for (let k = 0; k < count; k++) {
        const key = pick(['text', 'label', 'premise', 'hypothesis', 'id', 'meta', '']);
        let value: string;
        if (top && (key === 'text' || key === 'premise' || key === 'hypothesis') && random.next() < 0.8) value = writeString(randomString() || 'x');
        else if (key === 'label' && random.next() < 0.7) value = random.next() < 0.5 ? pick(['0', '1', '2', '1.0', '"1"', '"negative"', '"Positive"', '" 1"']) : writeString(pick(['negative', 'positive', '0']));
        else value = writeValue(depth);
        members.push(`${space()}${random.next() < 0.03 ? '"te\\u0078t"' : JSON.stringify(key)}${space()}:${space()}${value}${space()}`);
      }
      if (top && random.next() < 0.7) members.push(`"text":${writeString(randomString() || 'x')}`, `"label":${pick(['0', '1', '"negative"', '"positive"'])}`);
      if (top && random.next() < 0.5) members.push(`"premise":${writeString(randomString() || 'p')}`, `"hypothesis":${writeString(randomString() || 'h')}`);
      for (let k = members.length - 1; k > 0; k--) {
        const j = random.nextInt(k + 1);
        [members[k], members[j]] = [members[j]!, members[k]!];
      }
      return `{${members.join(',')}}`;
    };
    const mutate = (text: string): string => {
      const at = random.nextInt(text.length + 1);
      const roll = random.next();
      if (roll < 0.4) return text.slice(0, at) + text.slice(at + 1);
      if (roll < 0.8) return text.slice(0, at) + pick(['"', ',', '}', '{', ']', '\\', ':', '0', ' ', 'x']) + text.slice(at);
      return text.slice(0, at);
    };
    const settings: [FieldMapping, LabelMap | undefined][] = [
      [SINGLE, NAMES],
      [SINGLE, NUMBERS],
      [SINGLE, undefined],
      [PAIR, NUMBERS],
      [PAIR, undefined],
    ];
    const scanners = settings.map(([fields, labelMap]) => new RowIdScanner(fields, labelMap));
    const out = new Uint32Array(2);
    let rows = 0;
    let answered = 0;
    for (let n = 0; n < 6000; n++) {
      let text = space() + writeObject(0, true) + space();
      if (random.next() < 0.2) text = mutate(text);
      for (const [s, [fields, labelMap]] of settings.entries()) {
        const expected = parsed(text, fields, labelMap);
        if (scanners[s]!.scan(text, out)) {
          answered += 1;
          assert.equal(hex8(out[0]!) + hex8(out[1]!), expected, `${JSON.stringify(text)} with text fields ${fields.text.join(', ')}`);
        }
        if (expected !== undefined) rows += 1;
      }
    }
    // The scanner answers for most rows (the rest hold escaped keys, lone surrogates or blank texts).
    assert.ok(rows > 5000, `${rows} rows generated`);
    assert.ok(answered > 0.7 * rows, `answered ${answered} of ${rows} rows`);
  });
});

describe('LineRows with the scanner', () => {
  test('gives every line the state the JSON.parse path gives it, rows scanned or not', () => {
    const text = [
      '{"text":"plain","label":"negative"}',
      '{"text":"esc\\u00e9\\"","label":1}',
      '{"te\\u0078t":"escaped key","label":"positive"}',
      '',
      '{"text":"x","label":"maybe"}',
      '{bad',
      '{"text":"dup","label":"negative","text":"dup2"}',
      '{"text":"lone \\ud800","label":"negative"}',
    ];
    const rows = new LineRows(SINGLE, NAMES, text.length);
    const textAt = (n: number): string => text[n]!;
    for (let n = 0; n < text.length; n++) {
      assert.deepEqual(rows.stateAt(n, textAt), parseLineState(text[n]!, SINGLE, NAMES), text[n]);
    }
  });
});
