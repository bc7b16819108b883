import * as crypto from 'node:crypto';
import { promises as fs } from 'node:fs';
import { DimpError, throwIfCancelled, yieldToEventLoop } from '../errors';
import { readJsonlLineBatches } from './jsonl';
import { describeDetectableFields, detectFields, type FieldMapping, type FieldOverrides } from './fields';
import { describeLabelNames, describeRawLabel, inferLabelSpace, LabelMap, type RawLabel } from './labels';

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
  /** The first non-blank line starts with `[`: the file may be one JSON array rather than JSON Lines. */
  startsWithArray: boolean;
  /** Lines holding a carriage return that does not end them (CR-only line endings). */
  bareCrLines: number;
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
  /** Longest line (row) read, in bytes; longer lines are reported and skipped (default 1 MiB). */
  maxRowBytes?: number;
}

const DETECTION_SAMPLE = 200;

/** One-shot hashing (Node 20.12+), absent from older runtimes. */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'buffer') => Buffer }).hash;

/** The identity of a row: a hash of its texts and its label as written (so `0` and `"0"` agree). */
export function computeRowId(texts: readonly string[], rawLabel: RawLabel): string {
  const label = rowIdLabel(rawLabel);
  // SHA-1 of each text followed by U+0000, then the label (the separators keep the UTF-8 of the whole the
  // UTF-8 of its parts). One-shot `crypto.hash` where Node has it (20.12+): no Hash object per row, whose
  // native memory lives until a garbage collection (≈ 240 B of RSS a row while a file is read), twice as fast.
  const digest = oneShotHash ? oneShotHash('sha1', `${texts.join('\u0000')}\u0000${label}`, 'buffer') : legacyDigest(texts, label);
  // The first 8 bytes in hex: a flat 16-character string (a slice of the 40-character hex would keep it alive).
  return digest.toString('hex', 0, 8);
}

/** The label as a row id hashes it: a string trimmed, anything else as JSON (so `0` and `"0"` agree). */
export function rowIdLabel(rawLabel: RawLabel): string {
  return typeof rawLabel === 'string' ? rawLabel.trim() : (JSON.stringify(rawLabel) ?? '');
}

/** The row id's digest piece by piece (`createHash`): the path of runtimes without `crypto.hash`; exported for its test. */
export function legacyDigest(texts: readonly string[], label: string): Buffer {
  const hash = crypto.createHash('sha1');
  for (const text of texts) hash.update(text).update('\u0000');
  return hash.update(label).digest();
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

/** Why a label value (of field `field`) cannot be a row's label, or undefined when it can. */
export function labelProblem(rawLabel: RawLabel, field: string): string | undefined {
  if (rawLabel === undefined || rawLabel === null) return `missing label field "${field}"`;
  if (typeof rawLabel !== 'string' && typeof rawLabel !== 'number') {
    return `label ${describeRawLabel(rawLabel)} is not a single label (expected a string or an integer)`;
  }
  if (typeof rawLabel === 'string') {
    if (rawLabel.trim() === '') return `empty label in field "${field}"`;
    // Labels are matched exactly as written: " 1 " is not silently read as "1".
    if (rawLabel !== rawLabel.trim()) return `label ${describeRawLabel(rawLabel)} has spaces around it; labels are matched exactly (write ${describeRawLabel(rawLabel.trim())})`;
  }
  return undefined;
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
  const problem = labelProblem(rawLabel, fields.label);
  if (problem !== undefined) return { reason: problem };
  // A literal of the exact length: an array grown by push keeps room for 17 elements (≈ 130 B a row kept for the whole job).
  const pair: [string] | [string, string] = texts.length === 1 ? [texts[0]!] : [texts[0]!, texts[1]!];
  return { texts: pair, rawLabel, rowId: computeRowId(pair, rawLabel) };
}

/** Compressed or non-UTF-8 formats recognised by their first bytes, with what to do instead. */
const BINARY_SIGNATURES: readonly { name: string; bytes: readonly number[]; fix: string }[] = [
  { name: 'gzip', bytes: [0x1f, 0x8b], fix: 'decompress it first, e.g. gunzip -c FILE > data.jsonl' },
  { name: 'zip', bytes: [0x50, 0x4b, 0x03, 0x04], fix: 'extract the .jsonl file from it first (unzip)' },
  { name: 'zstd', bytes: [0x28, 0xb5, 0x2f, 0xfd], fix: 'decompress it first, e.g. zstd -dc FILE > data.jsonl' },
  { name: 'xz', bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], fix: 'decompress it first, e.g. xz -dc FILE > data.jsonl' },
  { name: 'bzip2', bytes: [0x42, 0x5a, 0x68], fix: 'decompress it first, e.g. bzip2 -dc FILE > data.jsonl' },
  { name: 'UTF-16 (little-endian)', bytes: [0xff, 0xfe], fix: 'save it as UTF-8, e.g. iconv -f UTF-16 -t UTF-8 FILE > data.jsonl' },
  { name: 'UTF-16 (big-endian)', bytes: [0xfe, 0xff], fix: 'save it as UTF-8, e.g. iconv -f UTF-16 -t UTF-8 FILE > data.jsonl' },
];

/** A path as one shell word, for commands in messages. */
function shellWord(file: string): string {
  return /^[\w./@%+=:,-]+$/.test(file) ? file : `'${file.replace(/'/g, `'\\''`)}'`;
}

/** Refuses a file whose first bytes say it is compressed or UTF-16: JSON Lines is UTF-8 text. */
async function refuseBinaryFormats(file: string): Promise<void> {
  let head: Buffer;
  try {
    const handle = await fs.open(file, 'r');
    try {
      head = Buffer.alloc(8);
      const { bytesRead } = await handle.read(head, 0, 8, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DimpError('badInput', 'file not found', { file });
    if (code === 'EISDIR') throw new DimpError('badInput', 'is a folder, expected a .jsonl file', { file });
    throw error;
  }
  for (const signature of BINARY_SIGNATURES) {
    if (head.length >= signature.bytes.length && signature.bytes.every((b, i) => head[i] === b)) {
      // "BZh" is bzip2 only when a block size digit follows.
      if (signature.name === 'bzip2' && !(head[3]! >= 0x31 && head[3]! <= 0x39)) continue;
      throw new DimpError('badInput', `is a ${signature.name} file, not JSON Lines (UTF-8 text, one JSON object per line); ${signature.fix.replace('FILE', shellWord(file))}`, { file });
    }
  }
}

/**
 * Why a file gave no usable line, in one sentence that says what to do: an empty file, blank lines only,
 * CR-only line endings, a JSON array instead of JSON Lines, or every line unusable.
 */
export function describeUnusableFile(parsed: ParsedFile): string {
  const nonBlank = parsed.totalLines - parsed.blankLines;
  if (parsed.totalLines === 0) return 'the file is empty';
  if (nonBlank === 0) return `the file has only blank lines (${parsed.totalLines})`;
  if (parsed.bareCrLines > 0) {
    return (
      'the file uses CR-only line endings (\\r, as on classic Mac OS); JSON Lines needs LF or CRLF line endings: ' +
      `convert it, e.g. tr '\\r' '\\n' < ${shellWord(parsed.file)} > fixed.jsonl`
    );
  }
  if (parsed.startsWithArray) {
    return `the file is a JSON array, not JSON Lines (one JSON object per line): convert it, e.g. jq -c '.[]' ${shellWord(parsed.file)} > fixed.jsonl`;
  }
  return `none of its ${nonBlank} non-blank line(s) is usable`;
}

/** Up to `limit` problems as `file:line: reason` lines, with how many more there are. */
export function describeProblems(problems: readonly LineProblem[], limit = 5): string {
  const shown = problems.slice(0, limit).map((p) => `  ${p.file}:${p.line}: ${p.reason}`);
  if (problems.length > limit) shown.push(`  … and ${problems.length - limit} more`);
  return shown.join('\n');
}

/**
 * Reads a JSON Lines file: detects (or takes) the field mapping, parses every line, and reports each
 * unusable line (bad JSON, invalid UTF-8, too long, not an object, missing or empty text, missing or
 * padded label) with its reason. A compressed or UTF-16 file is refused at once, naming its format.
 */
export async function parseJsonlFile(file: string, options: ReadOptions = {}): Promise<ParsedFile> {
  const problems: LineProblem[] = [];
  const lines: ParsedLine[] = [];
  let blankLines = 0;
  let totalLines = 0;
  let startsWithArray: boolean | undefined;
  let bareCrLines = 0;
  // The first objects are held until the fields are known; after that each line is kept only as its
  // texts and label, so memory follows the rows, not the whole JSON of the file.
  const pending: JsonObjectLine[] = [];
  let fields: FieldMapping | undefined;
  const decide = (): FieldMapping => {
    const detected = detectFields(pending.map((o) => o.value), options.fields);
    if (!detected.text || !detected.label) {
      const missing = [!detected.text && 'text', !detected.label && 'label'].filter(Boolean).join(' and ');
      const keys = Object.keys(pending[0]!.value);
      const shownKeys = keys.slice(0, 20).map((k) => (k.length > 40 ? `${k.slice(0, 40)}…` : k)).join(', ') + (keys.length > 20 ? `, … (${keys.length} fields)` : '');
      throw new DimpError(
        'badInput',
        `cannot find the ${missing} field (first row has: ${shownKeys}); looked for ${describeDetectableFields()}. ` +
          'Set them with --text-field NAME (two names, comma-separated, for a pair) and --label-field NAME, or "fields" in dimp.config.json.',
        { file },
      );
    }
    return { text: detected.text, label: detected.label };
  };
  await refuseBinaryFormats(file);
  try {
    for await (const batch of readJsonlLineBatches(file, options.signal, { maxLineBytes: options.maxRowBytes })) {
      if (batch.length > 0 && totalLines > 0) {
        // Once per read chunk (1 MiB): progress, and a turn for the event loop.
        options.onProgress?.(totalLines);
        await yieldToEventLoop();
        throwIfCancelled(options.signal);
      }
      for (const line of batch) {
        totalLines = line.line;
        if (line.bareCr) bareCrLines += 1;
        if (line.problem !== undefined) {
          startsWithArray ??= false;
          problems.push({ file, line: line.line, reason: line.problem });
          continue;
        }
        if (line.text.trim() === '') {
          blankLines += 1;
          continue;
        }
        startsWithArray ??= line.text.trimStart().startsWith('[');
        const parsedObject = parseJsonObject(line.text);
        if ('reason' in parsedObject) {
          const reason = line.bareCr ? `${parsedObject.reason} (the line holds CR (\\r) characters: the file may use CR-only line endings, which JSON Lines does not allow)` : parsedObject.reason;
          problems.push({ file, line: line.line, reason });
          continue;
        }
        const object: JsonObjectLine = { line: line.line, byteOffset: line.byteOffset, byteLength: line.byteLength, value: parsedObject.value };
        if (fields) {
          toParsedLine(object, fields, file, lines, problems);
          continue;
        }
        pending.push(object);
        if (pending.length === DETECTION_SAMPLE) {
          fields = decide();
          for (const held of pending) toParsedLine(held, fields, file, lines, problems);
          pending.length = 0;
        }
      }
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new DimpError('badInput', 'file not found', { file });
    if ((error as NodeJS.ErrnoException).code === 'EISDIR') throw new DimpError('badInput', 'is a folder, expected a .jsonl file', { file });
    throw error;
  }
  if (!fields && pending.length > 0) {
    fields = decide();
    for (const held of pending) toParsedLine(held, fields, file, lines, problems);
  }
  problems.sort((a, b) => a.line - b.line);
  options.onProgress?.(totalLines);
  return {
    file,
    fields: fields ?? { text: ['text'], label: 'label' },
    lines,
    problems,
    blankLines,
    totalLines,
    startsWithArray: startsWithArray ?? false,
    bareCrLines,
  };
}

interface JsonObjectLine {
  line: number;
  byteOffset: number;
  byteLength: number;
  value: Record<string, unknown>;
}

/** Checks one object against the field mapping: a usable line, or a problem that says why not. */
function toParsedLine({ line, byteOffset, byteLength, value }: JsonObjectLine, fields: FieldMapping, file: string, lines: ParsedLine[], problems: LineProblem[]): void {
  const row = rowFromObject(value, fields);
  if ('reason' in row) problems.push({ file, line, reason: row.reason });
  // An object literal with every field (not a spread): one compact shape, no out-of-object property store.
  else lines.push({ line, byteOffset, byteLength, texts: row.texts, rawLabel: row.rawLabel, rowId: row.rowId });
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
      problems.push({ file: parsed.file, line: line.line, reason: `unknown label ${describeRawLabel(line.rawLabel)} (known: ${describeLabelNames(labelMap.names)})` });
      continue;
    }
    // Every field named (not a spread): rows are kept for the whole job, and a spread's copy costs about twice the memory.
    rows.push({ line: line.line, byteOffset: line.byteOffset, byteLength: line.byteLength, texts: line.texts, rawLabel: line.rawLabel, rowId: line.rowId, label });
  }
  problems.sort((a, b) => a.line - b.line);
  return { file: parsed.file, fields: parsed.fields, labelMap, rows, problems, blankLines: parsed.blankLines, totalLines: parsed.totalLines };
}

/**
 * The label map for a set of files: given names, or the label space of their rows (inferLabelSpace: exact
 * labels, and a clear error for a mix of numbers and names or an implausible space).
 */
export function labelMapFor(files: readonly ParsedFile[], names?: readonly string[]): LabelMap {
  if (names && names.length > 0) return new LabelMap(names);
  return new LabelMap(inferLabelSpace(files));
}

/** Reads and labels one file in a single call. */
export async function loadDataset(file: string, labelMap: LabelMap | readonly string[] | undefined, options: ReadOptions = {}): Promise<Dataset> {
  const parsed = await parseJsonlFile(file, options);
  const map = labelMap instanceof LabelMap ? labelMap : labelMapFor([parsed], labelMap);
  return resolveLabels(parsed, map);
}
