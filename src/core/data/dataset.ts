import { createHash } from 'node:crypto';
import { DimpError, throwIfCancelled, yieldToEventLoop } from '../errors';
import { readJsonlLines } from './jsonl';
import { describeDetectableFields, detectFields, type FieldMapping, type FieldOverrides } from './fields';
import { describeRawLabel, inferLabelNames, LabelMap, type RawLabel } from './labels';

/** Why a line could not be used. The line is skipped and reported, never silently dropped. */
export interface LineProblem {
  file: string;
  /** 1-based line number. */
  line: number;
  reason: string;
}

/** A usable line before its label is resolved against the label map. */
export interface ParsedLine {
  line: number;
  byteOffset: number;
  byteLength: number;
  /** One text, or two for a sentence pair. */
  texts: [string] | [string, string];
  rawLabel: RawLabel;
  /** Content hash of texts and label: the row's identity across edits that move lines. */
  rowId: string;
}

/** A usable, labelled row. */
export interface Row extends ParsedLine {
  /** Class index in the dataset's label map. */
  label: number;
}

/** A file read line by line, labels not yet resolved. */
export interface ParsedFile {
  file: string;
  fields: FieldMapping;
  lines: ParsedLine[];
  problems: LineProblem[];
  blankLines: number;
  totalLines: number;
}

/** A file whose rows carry class indices of `labelMap`. */
export interface Dataset {
  file: string;
  fields: FieldMapping;
  labelMap: LabelMap;
  rows: Row[];
  problems: LineProblem[];
  blankLines: number;
  totalLines: number;
}

/** Options for reading a JSON Lines dataset. */
export interface ReadOptions {
  fields?: FieldOverrides;
  signal?: AbortSignal;
  /** Called every few thousand lines with the count read so far. */
  onProgress?: (linesRead: number) => void;
}

const DETECTION_SAMPLE = 200;

/** The identity of a row: a hash of its texts and its label as written (so `0` and `"0"` agree). */
export function computeRowId(texts: readonly string[], rawLabel: RawLabel): string {
  const hash = createHash('sha1');
  for (const text of texts) hash.update(text).update('\u0000');
  hash.update(typeof rawLabel === 'string' ? rawLabel.trim() : JSON.stringify(rawLabel) ?? '');
  return hash.digest('hex').slice(0, 16);
}

/** A line's JSON object, or why the line is not one. */
export function parseJsonObject(text: string): { value: Record<string, unknown> } | { reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { reason: `invalid JSON: ${(error as Error).message}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { reason: `expected a JSON object, found ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}` };
  }
  return { value: value as Record<string, unknown> };
}

/** A row's texts, raw label and row id from its JSON object, or why the object cannot be used. */
export function rowFromObject(value: Record<string, unknown>, fields: FieldMapping): Pick<ParsedLine, 'texts' | 'rawLabel' | 'rowId'> | { reason: string } {
  const texts: string[] = [];
  for (const field of fields.text) {
    const text = value[field];
    if (text === undefined || text === null) return { reason: `missing text field "${field}"` };
    if (typeof text !== 'string') return { reason: `text field "${field}" is ${typeof text}, expected a string` };
    if (text.trim() === '') return { reason: `empty text in field "${field}"` };
    texts.push(text);
  }
  const rawLabel = value[fields.label];
  if (rawLabel === undefined || rawLabel === null) return { reason: `missing label field "${fields.label}"` };
  if (typeof rawLabel !== 'string' && typeof rawLabel !== 'number') {
    return { reason: `label ${describeRawLabel(rawLabel)} is not a single label (expected a string or an integer)` };
  }
  const pair = texts as [string] | [string, string];
  return { texts: pair, rawLabel, rowId: computeRowId(pair, rawLabel) };
}

/**
 * Reads a JSON Lines file: detects (or takes) the field mapping, parses every line, and reports each
 * unusable line (bad JSON, not an object, missing or empty text, missing label) with its reason.
 */
export async function parseJsonlFile(file: string, options: ReadOptions = {}): Promise<ParsedFile> {
  const objects: { line: number; byteOffset: number; byteLength: number; value: Record<string, unknown> }[] = [];
  const problems: LineProblem[] = [];
  let blankLines = 0;
  let totalLines = 0;
  try {
    for await (const line of readJsonlLines(file, options.signal)) {
      totalLines = line.line;
      if (line.line % 8192 === 0) {
        options.onProgress?.(line.line);
        await yieldToEventLoop();
        throwIfCancelled(options.signal);
      }
      if (line.text.trim() === '') {
        blankLines += 1;
        continue;
      }
      const parsedObject = parseJsonObject(line.text);
      if ('reason' in parsedObject) {
        problems.push({ file, line: line.line, reason: parsedObject.reason });
        continue;
      }
      objects.push({ line: line.line, byteOffset: line.byteOffset, byteLength: line.byteLength, value: parsedObject.value });
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new DimpError('badInput', 'file not found', { file });
    if ((error as NodeJS.ErrnoException).code === 'EISDIR') throw new DimpError('badInput', 'is a folder, expected a .jsonl file', { file });
    throw error;
  }

  const detected = detectFields(objects.slice(0, DETECTION_SAMPLE).map((o) => o.value), options.fields);
  if (objects.length > 0 && (!detected.text || !detected.label)) {
    const missing = [!detected.text && 'text', !detected.label && 'label'].filter(Boolean).join(' and ');
    const keys = Object.keys(objects[0]!.value).join(', ');
    throw new DimpError(
      'badInput',
      `cannot find the ${missing} field (first row has: ${keys}); looked for ${describeDetectableFields()}. ` +
        'Set them with --text-field/--label-field or "fields" in dimp.config.json.',
      { file },
    );
  }
  const fields: FieldMapping = { text: detected.text ?? ['text'], label: detected.label ?? 'label' };

  const lines: ParsedLine[] = [];
  for (const { line, byteOffset, byteLength, value } of objects) {
    const row = rowFromObject(value, fields);
    if ('reason' in row) problems.push({ file, line, reason: row.reason });
    else lines.push({ line, byteOffset, byteLength, ...row });
  }
  options.onProgress?.(totalLines);
  return { file, fields, lines, problems, blankLines, totalLines };
}

/**
 * Gives every parsed line its class index; lines whose label is not in `labelMap` become problems.
 */
export function resolveLabels(parsed: ParsedFile, labelMap: LabelMap): Dataset {
  const rows: Row[] = [];
  const problems = [...parsed.problems];
  for (const line of parsed.lines) {
    const label = labelMap.indexOf(line.rawLabel);
    if (label === undefined) {
      problems.push({ file: parsed.file, line: line.line, reason: `unknown label ${describeRawLabel(line.rawLabel)} (known: ${labelMap.names.join(', ')})` });
      continue;
    }
    rows.push({ ...line, label });
  }
  problems.sort((a, b) => a.line - b.line);
  return { file: parsed.file, fields: parsed.fields, labelMap, rows, problems, blankLines: parsed.blankLines, totalLines: parsed.totalLines };
}

/** The label map for a set of files: given names, or inferred from every raw label in them. */
export function labelMapFor(files: readonly ParsedFile[], names?: readonly string[]): LabelMap {
  if (names && names.length > 0) return new LabelMap(names);
  const all = files.flatMap((f) => f.lines.map((l) => l.rawLabel));
  return new LabelMap(inferLabelNames(all));
}

/** Reads and labels one file in a single call. */
export async function loadDataset(file: string, labelMap: LabelMap | readonly string[] | undefined, options: ReadOptions = {}): Promise<Dataset> {
  const parsed = await parseJsonlFile(file, options);
  const map = labelMap instanceof LabelMap ? labelMap : labelMapFor([parsed], labelMap);
  return resolveLabels(parsed, map);
}
