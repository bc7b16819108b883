import { parseJsonObject, rowFromObject } from '../data/dataset';
import type { FieldMapping } from '../data/fields';
import { RowIdScanner } from '../data/rowScan';
import { describeLabelNames, describeRawLabel, type LabelMap } from '../data/labels';
import { parseRowId, type ScoreTable } from '../weighting/scoreTable';

/** What one line of an open JSON Lines document is. */
export type LineState = { kind: 'row'; rowId: string } | { kind: 'blank' } | { kind: 'unusable'; reason: string };

/** The text of a 0-based line of the document. */
export type LineText = (line: number) => string;

/** `scoreIndexAt` of a row that has no score (new, or changed since scoring). */
export const UNSCORED = -1;
/** `scoreIndexAt` of a blank or unusable line. */
export const NOT_A_ROW = -2;

const UNPARSED = 0;
const ROW = 1;
const BLANK = 2;
const UNUSABLE = 3;

/** Parses one line the way the core reads a file: the same row id, the same reasons for unusable lines. */
export function parseLineState(text: string, fields: FieldMapping, labelMap: LabelMap | undefined): LineState {
  if (text.trim() === '') return { kind: 'blank' };
  const object = parseJsonObject(text);
  if ('reason' in object) return { kind: 'unusable', reason: object.reason };
  const row = rowFromObject(object.value, fields);
  if ('reason' in row) return { kind: 'unusable', reason: row.reason };
  if (labelMap && labelMap.indexOf(row.rawLabel) === undefined) {
    return { kind: 'unusable', reason: `unknown label ${describeRawLabel(row.rawLabel)} (known: ${describeLabelNames(labelMap.names)})` };
  }
  return { kind: 'row', rowId: row.rowId };
}

/**
 * The row identity of every line of an open document, parsed lazily and kept in step with edits: an edit
 * forgets only the lines it touched, so the cost of a keystroke does not grow with the file beyond a
 * memmove. A changed line gets a new row id, which is how changed rows show as unscored until rescored.
 * Lines are stored in typed arrays (9 bytes a line, no object per line), so a million parsed lines add
 * no garbage-collection work to the extension host; only unusable lines keep a string (their reason).
 */
export class LineRows {
  private count: number;
  private kinds: Uint8Array;
  private high: Uint32Array;
  private low: Uint32Array;
  private reasons = new Map<number, string>();
  private parsedCount = 0;
  private readonly halves = new Uint32Array(2);
  private readonly scanner: RowIdScanner;

  constructor(
    readonly fields: FieldMapping,
    readonly labelMap: LabelMap | undefined,
    lineCount: number,
  ) {
    this.scanner = new RowIdScanner(fields, labelMap);
    this.count = lineCount;
    const capacity = lineCount + 1024;
    this.kinds = new Uint8Array(capacity);
    this.high = new Uint32Array(capacity);
    this.low = new Uint32Array(capacity);
  }

  /** Number of lines tracked (the document's line count). */
  get lineCount(): number {
    return this.count;
  }

  /** True when every line has been parsed since the last edit. */
  get complete(): boolean {
    return this.parsedCount === this.count;
  }

  private parse(line: number, textAt: LineText): number {
    let kind = this.kinds[line]!;
    if (kind !== UNPARSED) return kind;
    const text = textAt(line);
    // Most lines are simple rows: their id without JSON.parse's garbage. The rest take the reader's path.
    if (this.scanner.scan(text, this.halves)) {
      kind = ROW;
    } else {
      const state = parseLineState(text, this.fields, this.labelMap);
      if (state.kind === 'row' && parseRowId(state.rowId, this.halves)) {
        kind = ROW;
      } else if (state.kind === 'unusable') {
        kind = UNUSABLE;
        this.reasons.set(line, state.reason);
      } else {
        kind = BLANK;
      }
    }
    if (kind === ROW) {
      this.high[line] = this.halves[0]!;
      this.low[line] = this.halves[1]!;
    }
    this.kinds[line] = kind;
    this.parsedCount += 1;
    return kind;
  }

  /** The state of a 0-based line, parsing it on first use. */
  stateAt(line: number, textAt: LineText): LineState {
    switch (this.parse(line, textAt)) {
      case ROW:
        return { kind: 'row', rowId: hex8(this.high[line]!) + hex8(this.low[line]!) };
      case UNUSABLE:
        return { kind: 'unusable', reason: this.reasons.get(line)! };
      default:
        return { kind: 'blank' };
    }
  }

  /** The score-table index of a line's row; `UNSCORED` for a row without a score, `NOT_A_ROW` otherwise. */
  scoreIndexAt(line: number, textAt: LineText, table: ScoreTable): number {
    if (this.parse(line, textAt) !== ROW) return NOT_A_ROW;
    const index = table.indexOfHalves(this.high[line]!, this.low[line]!);
    return index >= 0 ? index : UNSCORED;
  }

  /**
   * Records an edit that replaced lines `start..end` (0-based, inclusive) with `insertedLineCount` lines:
   * those lines are parsed again on next use, the lines after them shift.
   */
  replaceLines(start: number, end: number, insertedLineCount: number): void {
    const removed = end - start + 1;
    const delta = insertedLineCount - removed;
    for (let line = start; line <= end; line++) if (this.kinds[line] !== UNPARSED) this.parsedCount -= 1;
    const newCount = this.count + delta;
    if (newCount > this.kinds.length) this.grow(newCount + (newCount >> 1));
    for (const array of [this.kinds, this.high, this.low]) array.copyWithin(start + insertedLineCount, end + 1, this.count);
    this.kinds.fill(UNPARSED, start, start + insertedLineCount);
    if (delta < 0) this.kinds.fill(UNPARSED, newCount, this.count);
    this.count = newCount;
    const reasons = new Map<number, string>();
    for (const [line, reason] of this.reasons) {
      if (line < start) reasons.set(line, reason);
      else if (line > end) reasons.set(line + delta, reason);
    }
    this.reasons = reasons;
  }

  /**
   * Records an edit that reordered the whole document: new line `i` is old line `order[i]`. What was parsed
   * moves with its line, so a sort needs no parsing again. `order` must be a permutation of the lines.
   */
  permute(order: readonly number[]): void {
    if (order.length !== this.count) throw new Error(`a reorder of ${order.length} lines for a document of ${this.count}`);
    const capacity = this.kinds.length;
    const kinds = new Uint8Array(capacity);
    const high = new Uint32Array(capacity);
    const low = new Uint32Array(capacity);
    const reasons = new Map<number, string>();
    let parsed = 0;
    for (let line = 0; line < order.length; line++) {
      const from = order[line]!;
      kinds[line] = this.kinds[from]!;
      high[line] = this.high[from]!;
      low[line] = this.low[from]!;
      if (kinds[line] !== UNPARSED) parsed += 1;
      const reason = this.reasons.get(from);
      if (reason !== undefined) reasons.set(line, reason);
    }
    this.kinds = kinds;
    this.high = high;
    this.low = low;
    this.reasons = reasons;
    this.parsedCount = parsed;
  }

  private grow(capacity: number): void {
    const kinds = new Uint8Array(capacity);
    const high = new Uint32Array(capacity);
    const low = new Uint32Array(capacity);
    kinds.set(this.kinds);
    high.set(this.high);
    low.set(this.low);
    this.kinds = kinds;
    this.high = high;
    this.low = low;
  }

  /** Parses lines `from..to` (0-based, exclusive end) that are not parsed yet; returns how many it parsed. */
  parseRange(from: number, to: number, textAt: LineText): number {
    let parsed = 0;
    for (let line = from; line < Math.min(to, this.count); line++) {
      if (this.kinds[line] === UNPARSED) {
        this.parse(line, textAt);
        parsed += 1;
      }
    }
    return parsed;
  }

  /**
   * Where each scored row is now: the 1-based line of its first occurrence per table index, 0 when the row
   * is no longer in the document. Parses the whole document when needed.
   */
  currentLines(table: ScoreTable, textAt: LineText): Int32Array {
    const lines = new Int32Array(table.size);
    for (let line = this.count - 1; line >= 0; line--) {
      const index = this.scoreIndexAt(line, textAt, table);
      if (index >= 0) lines[index] = line + 1;
    }
    return lines;
  }
}

function hex8(x: number): string {
  return x.toString(16).padStart(8, '0');
}
