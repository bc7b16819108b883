import { labelProblem, rowIdLabel } from './dataset';
import type { FieldMapping } from './fields';
import type { LabelMap } from './labels';

/**
 * A line's row id without `JSON.parse`: the editor computes the row id of every line it shows for the first
 * time, and the object, strings and hash input that parsing builds for each were most of the garbage behind
 * a cold viewport's slowest frames. This scanner validates the line as JSON in place, finds the text and
 * label fields of the top-level object, writes their UTF-8 (escapes decoded) into one reused buffer and
 * hashes it with SHA-1 in JavaScript, so a simple line allocates nothing.
 *
 * It answers only when it is certain to agree with `parseJsonObject` + `rowFromObject` + `computeRowId` (and
 * the label map's check): any line it is not sure of — not a JSON object, invalid JSON, a field missing or
 * not a string, a key written with escapes, a text that may be blank, a lone surrogate, a label that is not
 * usable, nesting deeper than it tracks, a very long line — is left to that path, which also gives the reason
 * an unusable line is shown with.
 */
export class RowIdScanner {
  /** Field names looked for: the text fields, then the label. */
  private readonly names: readonly string[];
  private readonly textCount: number;
  private readonly enabled: boolean;
  /** Per field: where its value starts and ends (exclusive) in the line; -1 when not seen. */
  private readonly valueStart: Int32Array;
  private readonly valueEnd: Int32Array;
  /** The hash input (texts' UTF-8, separators, label), with room for SHA-1's padding. */
  private bytes = new Uint8Array(4096);
  /** Label values already judged, by their JSON text as written: most files have a handful. */
  private readonly labels: { token: string; usable: boolean; utf8: Uint8Array }[] = [];
  private readonly containers = new Uint8Array(MAX_DEPTH);
  private readonly words = new Int32Array(80);
  private readonly label: string;

  constructor(
    fields: FieldMapping,
    private readonly labelMap: LabelMap | undefined,
  ) {
    this.names = [...fields.text, fields.label];
    this.textCount = fields.text.length;
    this.label = fields.label;
    // `__proto__` means something to every object: a mapping that names it is left to JSON.parse, to be safe.
    this.enabled = !this.names.includes('__proto__');
    this.valueStart = new Int32Array(this.names.length);
    this.valueEnd = new Int32Array(this.names.length);
  }

  /**
   * Writes the row id of `text` (one line) into `out` as its high and low 32 bits (as `parseRowId` reads the
   * hex id) and returns true when the line is certainly a usable row; returns false, `out` untouched, when
   * the line must go through `JSON.parse` (it may still be a row).
   */
  scan(text: string, out: Uint32Array): boolean {
    if (!this.enabled || text.length > MAX_LINE_CHARS) return false;
    this.valueStart.fill(-1);
    if (!this.findFields(text)) return false;
    let length = 0;
    for (let field = 0; field < this.textCount; field++) {
      length = this.appendText(text, field, length);
      if (length < 0) return false;
      this.bytes[length++] = 0;
    }
    const label = this.labelBytes(text);
    if (label === undefined) return false;
    this.reserve(length + label.length);
    this.bytes.set(label, length);
    length += label.length;
    this.sha1Prefix(length, out);
    return true;
  }

  /** Validates the line as one JSON object and records where each field's value is (the last one wins, as in JSON.parse). */
  private findFields(s: string): boolean {
    const n = s.length;
    let i = skipSpace(s, 0);
    if (s.charCodeAt(i) !== OPEN_BRACE) return false;
    i = skipSpace(s, i + 1);
    if (s.charCodeAt(i) === CLOSE_BRACE) return false; // {}: no fields
    for (;;) {
      if (s.charCodeAt(i) !== QUOTE) return false;
      const keyStart = i + 1;
      let keyEnd = keyStart;
      for (;;) {
        if (keyEnd >= n) return false;
        const c = s.charCodeAt(keyEnd);
        if (c === QUOTE) break;
        // A key with escapes could spell a field's name: left to JSON.parse. Control characters are invalid JSON.
        if (c === BACKSLASH || c < 0x20) return false;
        keyEnd++;
      }
      i = skipSpace(s, keyEnd + 1);
      if (s.charCodeAt(i) !== COLON) return false;
      const start = skipSpace(s, i + 1);
      const end = this.skipValue(s, start);
      if (end < 0) return false;
      const keyLength = keyEnd - keyStart;
      for (let field = 0; field < this.names.length; field++) {
        const name = this.names[field]!;
        if (name.length === keyLength && s.startsWith(name, keyStart)) {
          this.valueStart[field] = start;
          this.valueEnd[field] = end;
        }
      }
      i = skipSpace(s, end);
      const c = s.charCodeAt(i);
      if (c === COMMA) {
        i = skipSpace(s, i + 1);
        continue;
      }
      if (c !== CLOSE_BRACE) return false;
      if (skipSpace(s, i + 1) !== n) return false;
      break;
    }
    for (let field = 0; field < this.names.length; field++) if (this.valueStart[field]! < 0) return false;
    return true;
  }

  /** The end of the JSON value starting at `i` (nested values included), or -1 when it is not valid JSON. */
  private skipValue(s: string, i: number): number {
    let depth = 0;
    for (;;) {
      // A value.
      let c = s.charCodeAt(i);
      if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        i = skipSpace(s, i + 1);
        const close = c === OPEN_BRACE ? CLOSE_BRACE : CLOSE_BRACKET;
        if (s.charCodeAt(i) === close) {
          i += 1;
        } else {
          if (depth === MAX_DEPTH) return -1;
          this.containers[depth++] = c;
          if (c === OPEN_BRACE) {
            i = this.skipMemberName(s, i);
            if (i < 0) return -1;
          }
          continue;
        }
      } else if (c === QUOTE) {
        i = skipString(s, i);
      } else if (c === MINUS || (c >= DIGIT_0 && c <= DIGIT_9)) {
        i = skipNumber(s, i);
      } else if (c === 0x74 /* t */) {
        i = s.startsWith('true', i) ? i + 4 : -1;
      } else if (c === 0x66 /* f */) {
        i = s.startsWith('false', i) ? i + 5 : -1;
      } else if (c === 0x6e /* n */) {
        i = s.startsWith('null', i) ? i + 4 : -1;
      } else {
        return -1;
      }
      if (i < 0) return -1;
      // After a value: close containers until one continues with another element.
      for (;;) {
        if (depth === 0) return i;
        i = skipSpace(s, i);
        c = s.charCodeAt(i);
        const container = this.containers[depth - 1]!;
        if (c === COMMA) {
          i = skipSpace(s, i + 1);
          if (container === OPEN_BRACE) {
            i = this.skipMemberName(s, i);
            if (i < 0) return -1;
          }
          break;
        }
        if (c !== (container === OPEN_BRACE ? CLOSE_BRACE : CLOSE_BRACKET)) return -1;
        depth -= 1;
        i += 1;
      }
    }
  }

  /** Skips `"name" :` and the space after it; -1 when that is not what is at `i`. */
  private skipMemberName(s: string, i: number): number {
    if (s.charCodeAt(i) !== QUOTE) return -1;
    i = skipString(s, i);
    if (i < 0) return -1;
    i = skipSpace(s, i);
    if (s.charCodeAt(i) !== COLON) return -1;
    return skipSpace(s, i + 1);
  }

  /**
   * Appends the UTF-8 of text field `field` (a JSON string, escapes decoded) at `at`; returns the new length,
   * or -1 when the field is not a string, may be blank, or holds a lone surrogate.
   */
  private appendText(s: string, field: number, at: number): number {
    const start = this.valueStart[field]!;
    const end = this.valueEnd[field]! - 1; // the closing quote
    if (s.charCodeAt(start) !== QUOTE) return -1;
    // Each UTF-16 unit is at most 3 bytes of UTF-8, and an escape is shorter than what it stands for.
    this.reserve(at + 3 * (end - start) + 1);
    const bytes = this.bytes;
    let blank = true;
    let high = 0; // a high surrogate waiting for its low half
    for (let i = start + 1; i < end; i++) {
      let unit = s.charCodeAt(i);
      if (unit === BACKSLASH) {
        const e = s.charCodeAt(++i);
        if (e === 0x75 /* u */) {
          unit = hexValue(s, i + 1); // validated by skipString
          i += 4;
        } else {
          unit = ESCAPED[e]!;
        }
      }
      if (high !== 0) {
        if (unit < 0xdc00 || unit > 0xdfff) return -1;
        const point = 0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00);
        bytes[at++] = 0xf0 | (point >> 18);
        bytes[at++] = 0x80 | ((point >> 12) & 0x3f);
        bytes[at++] = 0x80 | ((point >> 6) & 0x3f);
        bytes[at++] = 0x80 | (point & 0x3f);
        high = 0;
        blank = false;
        continue;
      }
      if (unit < 0x80) {
        bytes[at++] = unit;
        if (blank && !(unit === 0x20 || (unit >= 0x09 && unit <= 0x0d))) blank = false;
      } else if (unit < 0x800) {
        bytes[at++] = 0xc0 | (unit >> 6);
        bytes[at++] = 0x80 | (unit & 0x3f);
        if (blank && unit !== 0x85 && unit !== 0xa0) blank = false;
      } else if (unit >= 0xd800 && unit <= 0xdfff) {
        if (unit >= 0xdc00) return -1;
        high = unit;
      } else {
        bytes[at++] = 0xe0 | (unit >> 12);
        bytes[at++] = 0x80 | ((unit >> 6) & 0x3f);
        bytes[at++] = 0x80 | (unit & 0x3f);
        if (blank && !mayBeSpace(unit)) blank = false;
      }
    }
    return high !== 0 || blank ? -1 : at;
  }

  /** The UTF-8 of the label as the row id hashes it, or undefined when the label is not certainly usable. */
  private labelBytes(s: string): Uint8Array | undefined {
    const field = this.names.length - 1;
    const start = this.valueStart[field]!;
    const end = this.valueEnd[field]!;
    for (const known of this.labels) {
      if (known.token.length === end - start && s.startsWith(known.token, start)) return known.usable ? known.utf8 : undefined;
    }
    // First sight of this label: judged by the same functions as the JSON.parse path.
    const token = s.slice(start, end);
    const rawLabel: unknown = JSON.parse(token);
    const usable = labelProblem(rawLabel, this.label) === undefined && (this.labelMap === undefined || this.labelMap.indexOf(rawLabel) !== undefined);
    const utf8 = usable ? Buffer.from(rowIdLabel(rawLabel), 'utf8') : EMPTY;
    if (this.labels.length < MAX_LABELS) this.labels.push({ token, usable, utf8 });
    return usable ? utf8 : undefined;
  }

  private reserve(length: number): void {
    // SHA-1 pads the message in place: up to 72 bytes after it.
    if (length + 72 <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(length + 72, 2 * this.bytes.length));
    grown.set(this.bytes);
    this.bytes = grown;
  }

  /**
   * SHA-1 (FIPS 180-4) of the first `length` bytes; writes the digest's first 8 bytes as two big-endian
   * 32-bit words (h0, h1), which is what `computeRowId`'s 16 hex digits spell.
   */
  private sha1Prefix(length: number, out: Uint32Array): void {
    const b = this.bytes;
    const w = this.words;
    const total = (((length + 8) >> 6) + 1) << 6;
    b[length] = 0x80;
    b.fill(0, length + 1, total - 4);
    const bits = length * 8; // < 2^32: lines are at most MAX_LINE_CHARS
    b[total - 4] = bits >>> 24;
    b[total - 3] = (bits >>> 16) & 0xff;
    b[total - 2] = (bits >>> 8) & 0xff;
    b[total - 1] = bits & 0xff;
    let h0 = 0x67452301;
    let h1 = 0xefcdab89 | 0;
    let h2 = 0x98badcfe | 0;
    let h3 = 0x10325476;
    let h4 = 0xc3d2e1f0 | 0;
    for (let block = 0; block < total; block += 64) {
      for (let t = 0; t < 16; t++) {
        const j = block + 4 * t;
        w[t] = (b[j]! << 24) | (b[j + 1]! << 16) | (b[j + 2]! << 8) | b[j + 3]!;
      }
      for (let t = 16; t < 80; t++) {
        const x = w[t - 3]! ^ w[t - 8]! ^ w[t - 14]! ^ w[t - 16]!;
        w[t] = (x << 1) | (x >>> 31);
      }
      let a = h0;
      let b1 = h1;
      let c = h2;
      let d = h3;
      let e = h4;
      // The four rounds of 20 steps, each with its own f and k (no branch per step).
      for (let t = 0; t < 20; t++) {
        const temp = (((a << 5) | (a >>> 27)) + ((b1 & c) | (~b1 & d)) + e + 0x5a827999 + w[t]!) | 0;
        e = d;
        d = c;
        c = (b1 << 30) | (b1 >>> 2);
        b1 = a;
        a = temp;
      }
      for (let t = 20; t < 40; t++) {
        const temp = (((a << 5) | (a >>> 27)) + (b1 ^ c ^ d) + e + 0x6ed9eba1 + w[t]!) | 0;
        e = d;
        d = c;
        c = (b1 << 30) | (b1 >>> 2);
        b1 = a;
        a = temp;
      }
      for (let t = 40; t < 60; t++) {
        const temp = (((a << 5) | (a >>> 27)) + ((b1 & c) | (b1 & d) | (c & d)) + e - 0x70e44324 + w[t]!) | 0; // k = 0x8f1bbcdc
        e = d;
        d = c;
        c = (b1 << 30) | (b1 >>> 2);
        b1 = a;
        a = temp;
      }
      for (let t = 60; t < 80; t++) {
        const temp = (((a << 5) | (a >>> 27)) + (b1 ^ c ^ d) + e - 0x359d3e2a + w[t]!) | 0; // k = 0xca62c1d6
        e = d;
        d = c;
        c = (b1 << 30) | (b1 >>> 2);
        b1 = a;
        a = temp;
      }
      h0 = (h0 + a) | 0;
      h1 = (h1 + b1) | 0;
      h2 = (h2 + c) | 0;
      h3 = (h3 + d) | 0;
      h4 = (h4 + e) | 0;
    }
    out[0] = h0 >>> 0;
    out[1] = h1 >>> 0;
  }
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
/** Containers nested deeper than this inside the object are left to JSON.parse. */
const MAX_DEPTH = 64;
/** Longer lines are left to JSON.parse, so the hash buffer stays small. */
const MAX_LINE_CHARS = 1 << 16;
/** Distinct label values remembered; a file with more (a wrong label field) judges the rest line by line. */
const MAX_LABELS = 64;
const EMPTY = new Uint8Array(0);

/** The UTF-16 unit a one-character escape stands for, by the character after the backslash. */
const ESCAPED = new Uint16Array(128);
ESCAPED[QUOTE] = QUOTE;
ESCAPED[BACKSLASH] = BACKSLASH;
ESCAPED[0x2f] = 0x2f; // /
ESCAPED[0x62] = 0x08; // b
ESCAPED[0x66] = 0x0c; // f
ESCAPED[0x6e] = 0x0a; // n
ESCAPED[0x72] = 0x0d; // r
ESCAPED[0x74] = 0x09; // t

/** JSON's white space (space, tab, LF, CR) from `i` on. */
function skipSpace(s: string, i: number): number {
  const n = s.length;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return i;
  }
  return n;
}

/** The end of the JSON string starting (at its quote) at `i`, or -1 when it is not a valid one. */
function skipString(s: string, i: number): number {
  const n = s.length;
  for (i++; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === QUOTE) return i + 1;
    if (c < 0x20) return -1;
    if (c === BACKSLASH) {
      const e = s.charCodeAt(++i);
      if (e === 0x75 /* u */) {
        if (hexValue(s, i + 1) < 0) return -1;
        i += 4;
      } else if (!(e < 128 && ESCAPED[e] !== 0)) {
        return -1;
      }
    }
  }
  return -1;
}

/** The four hex digits at `i` as a number, or -1. */
function hexValue(s: string, i: number): number {
  let value = 0;
  for (let k = 0; k < 4; k++) {
    const c = s.charCodeAt(i + k);
    const digit = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

/** The end of the JSON number at `i` (`-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`), or -1. */
function skipNumber(s: string, i: number): number {
  if (s.charCodeAt(i) === MINUS) i++;
  if (s.charCodeAt(i) === DIGIT_0) i++;
  else if (isDigit(s.charCodeAt(i))) while (isDigit(s.charCodeAt(i))) i++;
  else return -1;
  if (s.charCodeAt(i) === 0x2e /* . */) {
    i++;
    if (!isDigit(s.charCodeAt(i))) return -1;
    while (isDigit(s.charCodeAt(i))) i++;
  }
  const e = s.charCodeAt(i);
  if (e === 0x65 || e === 0x45) {
    i++;
    const sign = s.charCodeAt(i);
    if (sign === 0x2b || sign === MINUS) i++;
    if (!isDigit(s.charCodeAt(i))) return -1;
    while (isDigit(s.charCodeAt(i))) i++;
  }
  return i;
}

function isDigit(c: number): boolean {
  return c >= DIGIT_0 && c <= DIGIT_9;
}

/**
 * Whether a BMP unit of 0x800 and above may be white space to `String.prototype.trim` (Unicode's Zs, line and
 * paragraph separators, the BOM; U+180E, Zs in old Unicode versions, counted too, to be safe).
 */
function mayBeSpace(unit: number): boolean {
  return unit === 0x1680 || unit === 0x180e || (unit >= 0x2000 && unit <= 0x200a) || unit === 0x2028 || unit === 0x2029 || unit === 0x202f || unit === 0x205f || unit === 0x3000 || unit === 0xfeff;
}
