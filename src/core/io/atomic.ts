import { promises as fs } from 'node:fs';
import * as path from 'node:path';

let counter = 0;

/** A sibling path for a temporary file or folder that a later rename turns into `target`. */
export function temporarySibling(target: string): string {
  counter += 1;
  const dir = path.dirname(target);
  return path.join(dir, `.${path.basename(target)}.tmp-${process.pid}-${Date.now().toString(36)}-${counter}`);
}

/**
 * Removes `dir` and its parents up to `created` (the first folder `fs.mkdir(dir, { recursive: true })`
 * created) while they are empty, so a write that failed or was cancelled leaves no empty folders behind.
 */
export async function removeCreatedFolders(dir: string, created: string | undefined): Promise<void> {
  if (!created) return;
  for (let current = dir; current.length >= created.length; current = path.dirname(current)) {
    try {
      await fs.rmdir(current);
    } catch {
      return; // not empty (someone else wrote there) or already gone
    }
    if (current === created) return;
  }
}

/**
 * Writes a file atomically: the content goes to a temporary sibling that is renamed over `target`,
 * so readers see the old file or the new one, never half of one.
 */
export async function writeFileAtomic(target: string, content: string | Uint8Array): Promise<void> {
  const created = await fs.mkdir(path.dirname(target), { recursive: true });
  const tmp = temporarySibling(target);
  try {
    await fs.writeFile(tmp, content);
    await fs.rename(tmp, target);
  } catch (error) {
    await fs.rm(tmp, { force: true });
    await removeCreatedFolders(path.dirname(target), created);
    throw error;
  }
}

/**
 * Writes lines atomically through a stream (one line at a time, so a million lines never become one
 * string in memory); each line gets a trailing LF.
 */
export async function writeLinesAtomic(target: string, lines: Iterable<string>): Promise<void> {
  await fs.mkdir(path.dirname(target), { recursive: true });
  const tmp = temporarySibling(target);
  const handle = await fs.open(tmp, 'w');
  try {
    let buffer = '';
    for (const line of lines) {
      buffer += line + '\n';
      if (buffer.length > 1 << 20) {
        await handle.write(buffer);
        buffer = '';
      }
    }
    if (buffer) await handle.write(buffer);
    await handle.close();
    await fs.rename(tmp, target);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fs.rm(tmp, { force: true });
    throw error;
  }
}

/**
 * Builds a folder atomically: `build` fills a temporary sibling folder, which is renamed to `target`
 * when it resolves and removed when it throws (including on cancellation), with any parent folders it
 * created. `target` must not exist.
 */
export async function writeFolderAtomic<T>(target: string, build: (tmpDir: string) => Promise<T>): Promise<T> {
  const created = await fs.mkdir(path.dirname(target), { recursive: true });
  const tmp = temporarySibling(target);
  await fs.mkdir(tmp);
  try {
    const result = await build(tmp);
    await fs.rename(tmp, target);
    return result;
  } catch (error) {
    await fs.rm(tmp, { recursive: true, force: true });
    await removeCreatedFolders(path.dirname(target), created);
    throw error;
  }
}

/** True when `p` exists. */
export async function pathExists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Removes the temporary siblings `temporarySibling(target)` names (`.<name>.tmp-…`), which a process
 * killed in the middle of an atomic write leaves behind. Returns how many were removed.
 */
export async function removeTemporarySiblings(target: string): Promise<number> {
  const prefix = `.${path.basename(target)}.tmp-`;
  let names: string[];
  try {
    names = await fs.readdir(path.dirname(target));
  } catch {
    return 0;
  }
  const stale = names.filter((name) => name.startsWith(prefix));
  for (const name of stale) await fs.rm(path.join(path.dirname(target), name), { recursive: true, force: true });
  return stale.length;
}

/** The nearest of `dir` and its ancestors that exists. */
export async function existingAncestor(dir: string): Promise<string> {
  let current = path.resolve(dir);
  while (!(await pathExists(current)) && path.dirname(current) !== current) current = path.dirname(current);
  return current;
}
