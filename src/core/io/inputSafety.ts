/**
 * Nothing a command writes may land on one of its inputs: not the same path, not through a symlink, not a
 * hard link to it. Checked before any work starts, so a refusal costs nothing and loses nothing.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DimpError } from '../errors';

/** A file a command reads or writes, and what it is to the user (for the message). */
export interface NamedPath {
  path: string;
  role: string;
}

/** The file a path ends at (symlinks followed), or undefined when nothing is there. */
async function identity(file: string): Promise<{ dev: number; ino: number } | undefined> {
  try {
    const stat = await fs.stat(file);
    return { dev: stat.dev, ino: stat.ino };
  } catch {
    return undefined;
  }
}

/** Where a path resolves to: the real path of its folder joined with its name (the file need not exist). */
async function resolved(file: string): Promise<string> {
  const absolute = path.resolve(file);
  try {
    return await fs.realpath(absolute);
  } catch {
    try {
      return path.join(await fs.realpath(path.dirname(absolute)), path.basename(absolute));
    } catch {
      return absolute;
    }
  }
}

/** Throws a usage error when any output is, or points at, any input (same path, symlink or hard link). */
export async function refuseToOverwriteInputs(outputs: readonly NamedPath[], inputs: readonly (NamedPath | undefined)[]): Promise<void> {
  const present = inputs.filter((i): i is NamedPath => i !== undefined);
  for (const output of outputs) {
    const outputId = await identity(output.path);
    const outputPath = await resolved(output.path);
    for (const input of present) {
      const inputId = await identity(input.path);
      const same = (outputId && inputId && outputId.dev === inputId.dev && outputId.ino === inputId.ino) || outputPath === (await resolved(input.path));
      if (same) {
        throw new DimpError('usage', `the ${output.role} would be written over the ${input.role} (${input.path}); choose another output path`, { file: output.path });
      }
    }
  }
}

/**
 * Throws a usage error when `file` exists and is not a file of the expected kind (`isKind` reads its first
 * line), unless `force`: a command replaces its own earlier output, never an unrelated file.
 */
export async function refuseToReplaceForeignFile(file: string, role: string, isKind: (firstLine: string) => boolean, force: boolean): Promise<void> {
  if (force) return;
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch {
    return;
  }
  try {
    const buffer = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const firstLine = buffer.subarray(0, bytesRead).toString('utf8').split('\n')[0] ?? '';
    if (bytesRead > 0 && !isKind(firstLine)) {
      throw new DimpError('usage', `${file} exists and is not a ${role}; refusing to replace it (pass --force to replace it anyway)`, { file });
    }
  } finally {
    await handle.close();
  }
}
