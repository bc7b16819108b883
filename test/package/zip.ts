// Reads the central directory of a .vsix (a zip file) and extracts it: enough for the packaging tests to
// look inside a package without a zip library or an `unzip` on the machine.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { inflateRawSync } from 'node:zlib';

/** One file of a zip archive. */
export interface ZipEntry {
  /** Path inside the archive, `/`-separated. */
  name: string;
  /** Size once extracted, in bytes. */
  size: number;
  compressedSize: number;
  /** 0: stored, 8: deflated. */
  method: number;
  /** Offset of the entry's local header. */
  offset: number;
}

const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const CENTRAL_DIRECTORY_ENTRY = 0x02014b50;
const LOCAL_HEADER = 0x04034b50;

/** The entries of the zip file in `bytes` (no zip64: a .vsix stays far below 4 GB). */
export function listZip(bytes: Buffer): ZipEntry[] {
  // The end record is at most 22 bytes plus a comment of up to 64 KiB from the end.
  let end = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 0xffff); i--) {
    if (bytes.readUInt32LE(i) === END_OF_CENTRAL_DIRECTORY) {
      end = i;
      break;
    }
  }
  if (end < 0) throw new Error('not a zip file: no end of central directory record');
  const count = bytes.readUInt16LE(end + 10);
  let at = bytes.readUInt32LE(end + 16);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (bytes.readUInt32LE(at) !== CENTRAL_DIRECTORY_ENTRY) throw new Error(`bad central directory entry at byte ${at}`);
    const nameLength = bytes.readUInt16LE(at + 28);
    const extraLength = bytes.readUInt16LE(at + 30);
    const commentLength = bytes.readUInt16LE(at + 32);
    entries.push({
      name: bytes.toString('utf8', at + 46, at + 46 + nameLength),
      method: bytes.readUInt16LE(at + 10),
      compressedSize: bytes.readUInt32LE(at + 20),
      size: bytes.readUInt32LE(at + 24),
      offset: bytes.readUInt32LE(at + 42),
    });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** The extracted bytes of one entry. */
export function readZipEntry(bytes: Buffer, entry: ZipEntry): Buffer {
  if (bytes.readUInt32LE(entry.offset) !== LOCAL_HEADER) throw new Error(`bad local header of ${entry.name}`);
  const start = entry.offset + 30 + bytes.readUInt16LE(entry.offset + 26) + bytes.readUInt16LE(entry.offset + 28);
  const data = bytes.subarray(start, start + entry.compressedSize);
  if (entry.method === 0) return Buffer.from(data);
  if (entry.method === 8) return inflateRawSync(data);
  throw new Error(`${entry.name}: compression method ${entry.method} is not supported`);
}

/** Extracts every file of the zip at `file` under `dir`; refuses names that would land outside it. */
export function extractZip(file: string, dir: string): void {
  const bytes = fs.readFileSync(file);
  for (const entry of listZip(bytes)) {
    if (entry.name.endsWith('/')) continue;
    const target = path.resolve(dir, entry.name);
    if (!target.startsWith(path.resolve(dir) + path.sep)) throw new Error(`${entry.name} would be extracted outside ${dir}`);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, readZipEntry(bytes, entry));
  }
}
