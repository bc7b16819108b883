/**
 * The review queue: which scored rows a reviewer looks at, in which order, and which of them are near
 * duplicates of each other. Pure logic over a score table; the extension supplies where each row is now,
 * its text, and which rows were marked as reviewed.
 */
import type { FieldMapping } from '../data/fields';
import type { ScoreTable } from '../weighting/scoreTable';

/**
 * Rows in either tail of their file's IMP weights, this many percent on each side, are flagged as
 * extreme. Both tails are suspicious: a very low weight is a row the quality checker doubts, a very high
 * one a row only the quality checker believes (q / d with d small), which is often a wrong label.
 */
export const EXTREME_WEIGHT_TAIL_PERCENT = 5;

/** Why a row deserves a look: the quality checker prefers another label, or its weight is in a tail. */
export type ReviewFlag = 'mislabelled' | 'extremeWeight';

/** An inclusive range of a score; an open end is absent. */
export interface ScoreRange {
  min?: number;
  max?: number;
}

/** What the queue lists; every field narrows it, absent fields do not. */
export interface ReviewFilter {
  /** IMP weight range. */
  weight?: ScoreRange;
  /** Quality q range, 0–1. */
  quality?: ScoreRange;
  /** Gold label name. */
  label?: string;
  /** Only rows with this flag, or with any flag. */
  flag?: ReviewFlag | 'any';
  /** Case- and punctuation-insensitive search in the row's text(s). */
  text?: string;
  /** Hide the rows marked as reviewed, or show only them; absent: both. */
  reviewed?: 'hide' | 'only';
}

/** The order of the queue. */
export interface ReviewOrder {
  by: 'impWeight' | 'quality';
  direction: 'ascending' | 'descending';
}

/** The file-specific facts the queue needs about each scored row (by score-table index). */
export interface ReviewSource {
  table: ScoreTable;
  /** The row's 1-based line now, or undefined when it is no longer in the file. */
  lineOf: (index: number) => number | undefined;
  /** The row's text(s), or undefined when not known (then a text search does not match it). */
  textOf: (index: number) => string | undefined;
  /** True when the row was marked as reviewed. */
  isReviewed: (index: number) => boolean;
  /** Probability from which a contradicting quality checker flags a row (`dimpCurator.mislabelThreshold`). */
  mislabelThreshold: number;
  /** False when the quality checker is near chance: it then flags nothing as likely mislabelled. */
  mislabelFlagsEarned: boolean;
}

/** One row of the queue. */
export interface ReviewRow {
  /** Row index in the score table. */
  index: number;
  /** 1-based line now. */
  line: number;
  flags: ReviewFlag[];
  reviewed: boolean;
}

/** Which tail of its file's IMP weights a row is in, if any (`EXTREME_WEIGHT_TAIL_PERCENT` on each side). */
export function weightTail(table: ScoreTable, index: number): 'lowest' | 'highest' | undefined {
  if (table.size < 2) return undefined;
  const percentile = table.weightPercentile(index);
  if (percentile < EXTREME_WEIGHT_TAIL_PERCENT) return 'lowest';
  if (percentile > 100 - EXTREME_WEIGHT_TAIL_PERCENT) return 'highest';
  return undefined;
}

/** The flags of a row. */
export function rowFlags(table: ScoreTable, index: number, source: Pick<ReviewSource, 'mislabelThreshold' | 'mislabelFlagsEarned'>): ReviewFlag[] {
  const flags: ReviewFlag[] = [];
  if (source.mislabelFlagsEarned && table.isLikelyMislabelled(index, source.mislabelThreshold)) flags.push('mislabelled');
  if (weightTail(table, index) !== undefined) flags.push('extremeWeight');
  return flags;
}

/**
 * Text as compared for search and near duplicates: Unicode-normalised (NFKC), lower case, punctuation and
 * symbols dropped, runs of white space as one space. "Five stars!!" and "five  stars" are the same.
 */
export function normaliseText(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The text(s) of a JSON Lines row (a pair joined by " ‖ "), or undefined when the line is not a JSON object. */
export function rowText(lineText: string, fields: FieldMapping): string | undefined {
  try {
    const object = JSON.parse(lineText) as unknown;
    if (typeof object !== 'object' || object === null || Array.isArray(object)) return undefined;
    const record = object as Record<string, unknown>;
    return fields.text.map((field) => (typeof record[field] === 'string' ? record[field] : JSON.stringify(record[field] ?? ''))).join(' ‖ ');
  } catch {
    return undefined;
  }
}

/**
 * A range as a reviewer types it: "0.5-2", "0.5..2", "0.1 to 0.3", "0.5-" (at least) or "-2" (at most);
 * "" is 'clear' (any value); undefined when the text is not a range.
 */
export function parseScoreRange(text: string): ScoreRange | 'clear' | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return 'clear';
  const match = /^([\d.e+]*)\s*(?:-|–|\.\.|to)\s*([\d.e+]*)$/.exec(trimmed);
  if (!match) return undefined;
  const [min, max] = [match[1], match[2]].map((part) => (part === undefined || part === '' ? undefined : Number(part)));
  if ([min, max].some((x) => x !== undefined && !Number.isFinite(x))) return undefined;
  return { ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) };
}

const inRange = (value: number, range: ScoreRange | undefined): boolean =>
  range === undefined || ((range.min === undefined || value >= range.min) && (range.max === undefined || value <= range.max));

/**
 * The queue: rows still in the file that pass the filter, in the given order (ties by line), at most
 * `limit` of them, and how many rows pass in all.
 */
export function reviewQueue(source: ReviewSource, filter: ReviewFilter, order: ReviewOrder, limit: number): { rows: ReviewRow[]; matching: number } {
  const { table } = source;
  const c = table.columns;
  const ascending = table.orderBy(order.by);
  const label = filter.label === undefined ? undefined : table.labels.indexOf(filter.label);
  const search = filter.text === undefined ? '' : normaliseText(filter.text);
  const rows: ReviewRow[] = [];
  let matching = 0;
  const n = ascending.length;
  // Descending walks the ascending order backwards, but keeps ties in line order.
  const positions = order.direction === 'ascending' ? ascendingPositions(n) : descendingPositions(ascending, order.by === 'impWeight' ? c.impWeight : c.quality);
  for (const position of positions) {
    const index = ascending[position]!;
    if (label !== undefined && c.label[index] !== label) continue;
    if (!inRange(c.impWeight[index]!, filter.weight) || !inRange(c.quality[index]!, filter.quality)) continue;
    const reviewed = source.isReviewed(index);
    if ((filter.reviewed === 'hide' && reviewed) || (filter.reviewed === 'only' && !reviewed)) continue;
    const flags = rowFlags(table, index, source);
    if (filter.flag === 'any' ? flags.length === 0 : filter.flag !== undefined && !flags.includes(filter.flag)) continue;
    if (search) {
      const text = source.textOf(index);
      if (text === undefined || !normaliseText(text).includes(search)) continue;
    }
    const line = source.lineOf(index);
    if (line === undefined) continue;
    matching += 1;
    if (rows.length < limit) rows.push({ index, line, flags, reviewed });
  }
  return { rows, matching };
}

function* ascendingPositions(n: number): Generator<number> {
  for (let position = 0; position < n; position++) yield position;
}

/** Positions of an ascending order from the highest value down, each run of equal values in line order. */
function* descendingPositions(ascending: Uint32Array, values: Float32Array): Generator<number> {
  let end = ascending.length;
  while (end > 0) {
    let start = end - 1;
    while (start > 0 && values[ascending[start - 1]!] === values[ascending[end - 1]!]) start -= 1;
    for (let position = start; position < end; position++) yield position;
    end = start;
  }
}

/** Rows whose normalised texts coincide: one group, its members in line order. */
export interface DuplicateGroup {
  /** The normalised text they share. */
  key: string;
  members: { index: number; line: number }[];
}

/** One line of the file that holds a scored row, with the row's text(s). */
export interface RowLine {
  /** Row index in the score table (exact duplicate lines share one). */
  index: number;
  /** 1-based line. */
  line: number;
  text: string;
}

/**
 * Each scored row at its line now, from the table (one line per distinct row; rows without a known text
 * or line are left out). A file with exact duplicate lines should be read line by line instead, so every
 * copy is in its group.
 */
export function* tableRowLines(source: Pick<ReviewSource, 'table' | 'lineOf' | 'textOf'>): Generator<RowLine> {
  for (let index = 0; index < source.table.size; index++) {
    const line = source.lineOf(index);
    const text = line === undefined ? undefined : source.textOf(index);
    if (line !== undefined && text !== undefined) yield { index, line, text };
  }
}

/**
 * Near-duplicate groups: lines (any label) whose normalised texts coincide, two or more per group, largest
 * groups first (ties by first line). Exact duplicate lines are members too, each at its own line.
 */
export function nearDuplicateGroups(rowLines: Iterable<RowLine>): DuplicateGroup[] {
  const byKey = new Map<string, DuplicateGroup>();
  for (const { index, line, text } of rowLines) {
    const key = normaliseText(text);
    let group = byKey.get(key);
    if (!group) byKey.set(key, (group = { key, members: [] }));
    group.members.push({ index, line });
  }
  const groups = [...byKey.values()].filter((g) => g.members.length > 1);
  for (const group of groups) group.members.sort((a, b) => a.line - b.line);
  return groups.sort((a, b) => b.members.length - a.members.length || a.members[0]!.line - b.members[0]!.line);
}

/**
 * The member a group action keeps: the first one marked as reviewed, else the first in the file. The
 * others are the lines to delete (1-based, ascending).
 */
export function duplicatesToDelete(group: DuplicateGroup, isReviewed: (index: number) => boolean): { keep: number; deleteLines: number[] } {
  const kept = group.members.find((m) => isReviewed(m.index)) ?? group.members[0]!;
  return { keep: kept.line, deleteLines: group.members.filter((m) => m !== kept).map((m) => m.line) };
}

/** What the queue's rows say about a flag, in words. */
export function describeFlags(table: ScoreTable, index: number, flags: readonly ReviewFlag[]): string[] {
  return flags.map((flag) => {
    if (flag === 'mislabelled') return `likely mislabelled (checker prefers ${table.labels[table.columns.qualityLabel[index]!]})`;
    return weightTail(table, index) === 'highest' ? `extreme weight (top ${EXTREME_WEIGHT_TAIL_PERCENT} %)` : `extreme weight (lowest ${EXTREME_WEIGHT_TAIL_PERCENT} %)`;
  });
}

/** The marks of one file: the row ids marked as reviewed, as stored next to its scores. */
export interface ReviewMarksFile {
  version: 1;
  /** Row ids (16 hex digits), sorted. */
  reviewed: string[];
}

/** Reads a marks file's text; anything unreadable is no marks (the file is rewritten on the next mark). */
export function parseReviewMarks(text: string): Set<string> {
  try {
    const parsed = JSON.parse(text) as Partial<ReviewMarksFile>;
    return new Set(Array.isArray(parsed.reviewed) ? parsed.reviewed.filter((id): id is string => typeof id === 'string' && /^[0-9a-f]{16}$/.test(id)) : []);
  } catch {
    return new Set();
  }
}

/** A marks file's text. */
export function serialiseReviewMarks(reviewed: Iterable<string>): string {
  const file: ReviewMarksFile = { version: 1, reviewed: [...reviewed].sort() };
  return JSON.stringify(file) + '\n';
}
