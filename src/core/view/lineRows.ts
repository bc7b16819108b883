import { parseJsonObject, rowFromObject } from '../data/dataset';
import type { FieldMapping } from '../data/fields';
import { describeRawLabel, type LabelMap } from '../data/labels';

/** What one line of an open JSON Lines document is. */
export type LineState =
  | { kind: 'row'; rowId: string; rawLabel: string | number }
  | { kind: 'blank' }
  | { kind: 'unusable'; reason: string };

/** The text of a 0-based line of the document. */
export type LineText = (line: number) => string;

const BLANK: LineState = { kind: 'blank' };

/** Parses one line the way the core reads a file: the same row id, the same reasons for unusable lines. */
export function parseLineState(text: string, fields: FieldMapping, labelMap: LabelMap | undefined): LineState {
  if (text.trim() === '') return BLANK;
  const object = parseJsonObject(text);
  if ('reason' in object) return { kind: 'unusable', reason: object.reason };
  const row = rowFromObject(object.value, fields);
  if ('reason' in row) return { kind: 'unusable', reason: row.reason };
  const rawLabel = row.rawLabel as string | number;
  if (labelMap && labelMap.indexOf(rawLabel) === undefined) {
    return { kind: 'unusable', reason: `unknown label ${describeRawLabel(rawLabel)} (known: ${labelMap.names.join(', ')})` };
  }
  return { kind: 'row', rowId: row.rowId, rawLabel };
}

/**
 * The row identity of every line of an open document, parsed lazily and kept in step with edits: an edit
 * forgets only the lines it touched, so the cost of a keystroke does not grow with the file. A changed
 * line gets a new row id, which is how changed rows show as unscored until they are rescored.
 */
export class LineRows {
  private states: (LineState | undefined)[];
  private rowLines: Map<string, number> | undefined;
  private parsedCount = 0;

  constructor(
    readonly fields: FieldMapping,
    readonly labelMap: LabelMap | undefined,
    lineCount: number,
  ) {
    this.states = new Array<LineState | undefined>(lineCount).fill(undefined);
  }

  /** Number of lines tracked (the document's line count). */
  get lineCount(): number {
    return this.states.length;
  }

  /** True when every line has been parsed since the last edit. */
  get complete(): boolean {
    return this.parsedCount === this.states.length;
  }

  /** The state of a 0-based line, parsing it on first use. */
  stateAt(line: number, textAt: LineText): LineState {
    let state = this.states[line];
    if (state === undefined) {
      state = parseLineState(textAt(line), this.fields, this.labelMap);
      this.states[line] = state;
      this.parsedCount += 1;
    }
    return state;
  }

  /**
   * Records an edit that replaced lines `start..end` (0-based, inclusive) with `insertedLineCount` lines:
   * those lines are parsed again on next use, the lines after them shift.
   */
  replaceLines(start: number, end: number, insertedLineCount: number): void {
    const removed = this.states.splice(start, end - start + 1, ...new Array<undefined>(insertedLineCount).fill(undefined));
    for (const state of removed) if (state !== undefined) this.parsedCount -= 1;
    this.rowLines = undefined;
  }

  /** Parses lines `from..to` (0-based, exclusive end) that are not parsed yet; returns how many it parsed. */
  parseRange(from: number, to: number, textAt: LineText): number {
    let parsed = 0;
    for (let line = from; line < Math.min(to, this.states.length); line++) {
      if (this.states[line] === undefined) {
        this.stateAt(line, textAt);
        parsed += 1;
      }
    }
    return parsed;
  }

  /** The first 0-based line holding each row id; parses the whole document when needed. */
  linesByRowId(textAt: LineText): ReadonlyMap<string, number> {
    if (!this.rowLines) {
      const map = new Map<string, number>();
      for (let line = 0; line < this.states.length; line++) {
        const state = this.stateAt(line, textAt);
        if (state.kind === 'row' && !map.has(state.rowId)) map.set(state.rowId, line);
      }
      this.rowLines = map;
    }
    return this.rowLines;
  }
}
