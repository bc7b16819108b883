import { createReadStream } from 'node:fs';
import { isAscii, isUtf8 } from 'node:buffer';
import { throwIfCancelled } from '../errors';

/** The most bytes one line (one row) may hold by default: 1 MiB. Longer lines are reported and skipped. */
export const DEFAULT_MAX_ROW_BYTES = 1 << 20;

/** One physical line of a JSON Lines file, without its line terminator. */
export interface JsonlLine {
  /** 1-based line number. */
  line: number;
  /** Byte offset of the line's first byte in the file (after a BOM on line 1). */
  byteOffset: number;
  /** Length of the line in bytes, without `\n` or `\r\n`. */
  byteLength: number;
  /** The line decoded as UTF-8; empty when the line has a `problem`. */
  text: string;
  /**
   * The line's bytes exactly as in the file (without BOM and terminator), for copying it unchanged;
   * absent when the line is over the row limit (re-read it from `byteOffset` if needed). Only valid
   * while the caller holds it: it may share memory with the read buffer.
   */
  bytes?: Buffer;
  /** Why the line could not be decoded: invalid UTF-8, or longer than the row limit. The line is not parsed. */
  problem?: string;
  /** The line holds a carriage return (`\r`) that does not end it: a sign of CR-only line endings. */
  bareCr: boolean;
}

/** Options for reading lines. */
export interface ReadLinesOptions {
  /** Longest line kept, in bytes (default {@link DEFAULT_MAX_ROW_BYTES}); longer ones come with a `problem` and no text. */
  maxLineBytes?: number;
}

const LF = 0x0a;
/**
 * Complete lines are decoded this many bytes at a time (a piece ends at a line end): strings this short
 * are made in the young generation, where a 1 MiB string would be a large object that only a full
 * (mark-compact) collection frees.
 */
const PIECE_BYTES = 64 << 10;
const CR = 0x0d;

/** "1,048,576 bytes" / "50.0 MiB": a byte count for messages. */
export function describeBytes(n: number): string {
  if (n < 1 << 20) return `${n.toLocaleString('en-US')} bytes`;
  return `${(n / (1 << 20)).toFixed(1)} MiB`;
}

/** Index of the first byte that starts an invalid UTF-8 sequence (or -1 when all of `bytes` is valid UTF-8). */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    let need: number;
    let min: number;
    if (b < 0x80) {
      i += 1;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) [need, min] = [1, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [need, min] = [2, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [need, min] = [3, 0x10000];
    else return i;
    if (i + need >= bytes.length) return i;
    let cp = b & (need === 1 ? 0x1f : need === 2 ? 0x0f : 0x07);
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/**
 * A line decoded in bulk with the rest of its chunk: valid UTF-8, within the row limit, no BOM. Its
 * bytes are cut from the chunk only when asked for.
 */
class ChunkLine implements JsonlLine {
  constructor(
    readonly line: number,
    readonly byteOffset: number,
    readonly byteLength: number,
    readonly text: string,
    readonly bareCr: boolean,
    private readonly chunk: ReadChunk,
  ) {}

  get bytes(): Buffer {
    const start = this.byteOffset - this.chunk.position;
    return this.chunk.bytes.subarray(start, start + this.byteLength);
  }
}

/** A chunk as read, and the file offset of its first byte: shared by its lines (one field each instead of two). */
class ReadChunk {
  constructor(
    readonly bytes: Buffer,
    readonly position: number,
  ) {}
}

/**
 * A line of the bulk path whose chunk holds a CR: one CR at its end is part of a CRLF terminator and
 * dropped; any other CR makes it `bareCr` (a CR just before its `\n` is still dropped).
 */
function crLine(line: number, byteOffset: number, text: string, chunk: ReadChunk, byteLength: number): ChunkLine {
  const cr = text.indexOf('\r');
  let bareCr = false;
  if (cr >= 0) {
    bareCr = cr !== text.length - 1;
    if (text.endsWith('\r')) {
      text = text.slice(0, -1);
      byteLength -= 1;
    }
  }
  return new ChunkLine(line, byteOffset, byteLength, text, bareCr, chunk);
}

/**
 * Streams the lines of a UTF-8 file with their line numbers and byte offsets. Accepts a BOM and
 * LF or CRLF endings; a final line without a newline is still yielded. A line that is not valid
 * UTF-8 is never repaired (no U+FFFD): it comes with a `problem` and its bytes. A line longer than
 * `maxLineBytes` is not held in memory: it comes with a `problem`, its offset and length only.
 */
export async function* readJsonlLines(file: string, signal?: AbortSignal, options: ReadLinesOptions = {}): AsyncGenerator<JsonlLine> {
  // A plain loop: `yield*` over an array in an async generator adds an await per line.
  for await (const batch of readJsonlLineBatches(file, signal, options)) for (const line of batch) yield line;
}

/**
 * The lines of {@link readJsonlLines} a read chunk (1 MiB) at a time: one await per chunk instead of one
 * per line. The complete lines of a chunk are taken in pieces of about {@link PIECE_BYTES} that end at a
 * `\n`: a piece that is all ASCII or valid UTF-8 (one check for the piece) is decoded with one call, its
 * lines are cut from that string, and each line's bytes are cut out only if asked for. A line over the row
 * limit, every line of a piece that is not valid UTF-8, line 1 (a BOM) and a line that spans chunks go
 * through the line-by-line path, which says exactly which line and byte is wrong.
 */
export async function* readJsonlLineBatches(file: string, signal?: AbortSignal, options: ReadLinesOptions = {}): AsyncGenerator<JsonlLine[]> {
  const cap = options.maxLineBytes ?? DEFAULT_MAX_ROW_BYTES;
  // The line being read: its parts (dropped once it is over the cap), raw length, BOM and CR state.
  let parts: Buffer[] = [];
  let length = 0;
  let overflow = false;
  let bom = 0;
  let bareCr = false;
  let endsWithCr = false;
  let lineStart = 0; // byte offset of the line's start
  let lineNumber = 0;

  const append = (part: Buffer): void => {
    if (part.length === 0) return;
    if (lineNumber === 0 && length === 0 && part.length >= 3 && part[0] === 0xef && part[1] === 0xbb && part[2] === 0xbf) bom = 3;
    // A CR followed by more bytes of the same line does not end it.
    if (endsWithCr || part.subarray(0, part.length - 1).indexOf(CR) >= 0) bareCr = true;
    endsWithCr = part[part.length - 1] === CR;
    length += part.length;
    if (overflow) return;
    if (length - bom > cap + 1) {
      overflow = true;
      parts = [];
    } else parts.push(part);
  };

  const finish = (): JsonlLine => {
    lineNumber += 1;
    const contentLength = length - bom - (endsWithCr ? 1 : 0);
    const line: JsonlLine = { line: lineNumber, byteOffset: lineStart + bom, byteLength: contentLength, text: '', bareCr };
    if (overflow || contentLength > cap) {
      line.problem =
        `line is ${describeBytes(contentLength)}, over the limit of ${describeBytes(cap)} for one row` +
        (bareCr ? ' (it holds CR (\\r) characters: the file may use CR-only line endings, which JSON Lines does not allow)' : '') +
        '; on the command line, raise the limit with --max-row-bytes N or "maxRowBytes" in dimp.config.json';
    } else {
      const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
      const bytes = all.subarray(bom, bom + contentLength);
      line.bytes = bytes;
      if (isUtf8(bytes)) line.text = bytes.toString('utf8');
      else {
        const at = firstInvalidUtf8(bytes);
        line.problem = `not valid UTF-8 (byte 0x${bytes[at]?.toString(16).padStart(2, '0') ?? '??'} at byte ${at + 1} of the line); the line is left as it is`;
      }
    }
    parts = [];
    length = 0;
    overflow = false;
    bom = 0;
    bareCr = false;
    endsWithCr = false;
    return line;
  };

  const stream = createReadStream(file, { highWaterMark: 1 << 20 });
  let position = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    throwIfCancelled(signal);
    const batch: JsonlLine[] = [];
    let from = 0;
    // A line carried over from the previous chunk (or line 1, which may start with a BOM) ends line by line.
    if (length > 0 || lineNumber === 0) {
      const nl = chunk.indexOf(LF, 0);
      if (nl < 0) {
        append(chunk);
        position += chunk.length;
        continue;
      }
      append(chunk.subarray(0, nl));
      batch.push(finish());
      from = nl + 1;
      lineStart = position + from;
    }
    // The complete lines that follow, up to the chunk's last `\n`, in pieces of about PIECE_BYTES.
    const last = chunk.lastIndexOf(LF);
    const source = new ReadChunk(chunk, position);
    // One line through the line-by-line path: over the row limit, or not valid UTF-8.
    const slow = (start: number, end: number): void => {
      lineStart = position + start;
      append(chunk.subarray(start, end));
      batch.push(finish());
    };
    while (from <= last) {
      // The piece ends at the last `\n` within PIECE_BYTES (or, for a longer line, at the end of that line).
      let end = from + PIECE_BYTES >= last ? last : chunk.lastIndexOf(LF, from + PIECE_BYTES);
      if (end < from) end = chunk.indexOf(LF, from + PIECE_BYTES);
      const piece = chunk.subarray(from, end);
      const hasCr = piece.indexOf(CR) >= 0;
      const ascii = isAscii(piece);
      if (ascii || isUtf8(piece)) {
        // Decoded at once. ASCII (most JSON Lines, where non-ASCII text is often \u-escaped) is copied as
        // Latin-1, its own decoding, and its string offsets are byte offsets; other valid UTF-8 has its line
        // ends found in the bytes too (a multi-byte character never holds the byte 0x0a).
        const texts = chunk.toString(ascii ? 'latin1' : 'utf8', from, end + 1);
        for (let at = 0, start = from; at < texts.length; ) {
          const nl = texts.indexOf('\n', at);
          const lineEnd = ascii ? start + (nl - at) : chunk.indexOf(LF, start);
          const length = lineEnd - start;
          if (length > cap) slow(start, lineEnd);
          else {
            lineNumber += 1;
            const text = texts.slice(at, nl);
            batch.push(hasCr ? crLine(lineNumber, position + start, text, source, length) : new ChunkLine(lineNumber, position + start, length, text, false, source));
          }
          at = nl + 1;
          start = lineEnd + 1;
        }
      } else {
        // Not valid UTF-8 somewhere in the piece: line by line, for the exact line and byte.
        for (let start = from; start <= end; ) {
          const lineEnd = chunk.indexOf(LF, start);
          slow(start, lineEnd);
          start = lineEnd + 1;
        }
      }
      from = end + 1;
    }
    lineStart = position + from;
    if (from < chunk.length) append(chunk.subarray(from));
    position += chunk.length;
    if (batch.length > 0) yield batch;
  }
  if (length > 0) yield [finish()];
}

/**
 * Offsets of every line start in a file, found by scanning bytes for `\n` without decoding:
 * the index that lets a huge file be served line by line from disk.
 */
export async function indexJsonlLines(file: string, signal?: AbortSignal): Promise<Float64Array> {
  let offsets = new Float64Array(1 << 16);
  let count = 0;
  let position = 0;
  let lastChunkEndedWithNewline = true;
  const push = (offset: number): void => {
    if (count === offsets.length) {
      const grown = new Float64Array(offsets.length * 2);
      grown.set(offsets);
      offsets = grown;
    }
    offsets[count++] = offset;
  };
  const stream = createReadStream(file, { highWaterMark: 1 << 20 });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    throwIfCancelled(signal);
    if (lastChunkEndedWithNewline && chunk.length > 0) {
      // Line 1 starts after a BOM, as readJsonlLines reports it.
      const bom = position === 0 && chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf;
      push(position + (bom ? 3 : 0));
    }
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(LF, from);
      if (nl < 0 || nl === chunk.length - 1) {
        lastChunkEndedWithNewline = nl === chunk.length - 1;
        break;
      }
      push(position + nl + 1);
      from = nl + 1;
    }
    position += chunk.length;
  }
  return offsets.slice(0, count);
}
