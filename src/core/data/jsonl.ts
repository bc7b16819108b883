import { createReadStream } from 'node:fs';
import { throwIfCancelled } from '../errors';

/** One physical line of a JSON Lines file, without its line terminator. */
export interface JsonlLine {
  /** 1-based line number. */
  line: number;
  /** Byte offset of the line's first byte in the file (after a BOM on line 1). */
  byteOffset: number;
  /** Length of the line in bytes, without `\n` or `\r\n`. */
  byteLength: number;
  /** The line decoded as UTF-8. */
  text: string;
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Streams the lines of a UTF-8 file with their line numbers and byte offsets. Accepts a BOM and
 * LF or CRLF endings; a final line without a newline is still yielded.
 */
export async function* readJsonlLines(file: string, signal?: AbortSignal): AsyncGenerator<JsonlLine> {
  let pending: Buffer[] = [];
  let pendingLength = 0;
  let lineStart = 0; // byte offset of the pending line's start
  let lineNumber = 0;
  let atFileStart = true;

  const emit = (bytes: Buffer, offset: number): JsonlLine => {
    let start = 0;
    let end = bytes.length;
    if (atFileStart) {
      atFileStart = false;
      if (end >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
    }
    if (end > start && bytes[end - 1] === CR) end -= 1;
    lineNumber += 1;
    return { line: lineNumber, byteOffset: offset + start, byteLength: end - start, text: bytes.toString('utf8', start, end) };
  };

  const stream = createReadStream(file, { highWaterMark: 1 << 20 });
  let position = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    throwIfCancelled(signal);
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(LF, from);
      if (nl < 0) break;
      let bytes: Buffer;
      if (pendingLength > 0) {
        pending.push(chunk.subarray(from, nl));
        bytes = Buffer.concat(pending, pendingLength + nl - from);
        pending = [];
        pendingLength = 0;
      } else {
        bytes = chunk.subarray(from, nl);
      }
      yield emit(bytes, lineStart);
      from = nl + 1;
      lineStart = position + from;
    }
    if (from < chunk.length) {
      pending.push(chunk.subarray(from));
      pendingLength += chunk.length - from;
    }
    position += chunk.length;
  }
  if (pendingLength > 0) yield emit(Buffer.concat(pending, pendingLength), lineStart);
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
