/**
 * How outputs reach the disk. Every output is written under a temporary sibling name
 * (`.<name>.tmp-<pid>-<time>-<n>`), flushed to the disk (the file's data, then the folder that holds the
 * rename), and renamed over its target: readers see the old output or the new one, never half of one,
 * and an output reported as written survives a power cut. A symlink at an output path is written
 * through (the file it points to is replaced; the link stays a link).
 *
 * The temporaries this process is writing are tracked, so a second Ctrl-C (which cannot wait for the
 * normal clean-up) removes them synchronously before the process exits, and a later run removes those of a
 * process that was killed (`sweepStaleTemporaries`: only when that process is no longer alive).
 */
import { promises as fs, rmSync, rmdirSync } from 'node:fs';
import * as path from 'node:path';
import { DimpError } from '../errors';
import { pausePoint } from './pausePoint';

let counter = 0;

/** The shape of every temporary name: `.<target name>.tmp-<pid>-<time in base 36>-<counter>`. */
const TEMPORARY_NAME = /^\.(.+)\.tmp-(\d+)-[0-9a-z]+-\d+$/;

/** A sibling path for a temporary file or folder that a later rename turns into `target`. */
export function temporarySibling(target: string): string {
  counter += 1;
  const dir = path.dirname(target);
  return path.join(dir, `.${path.basename(target)}.tmp-${process.pid}-${Date.now().toString(36)}-${counter}`);
}

/** Temporaries this process is writing now, and folders it created for outputs not yet published. */
const liveTemporaries = new Set<string>();
const liveCreatedFolders = new Set<{ dir: string; created: string }>();

/** Records a temporary (file or folder) this process is writing; the returned function forgets it. */
export function trackTemporary(tmp: string): () => void {
  liveTemporaries.add(tmp);
  return () => liveTemporaries.delete(tmp);
}

/** Records folders created for an output (see `removeCreatedFolders`); the returned function forgets them. */
export function trackCreatedFolders(dir: string, created: string | undefined): () => void {
  if (!created) return () => undefined;
  const entry = { dir, created };
  liveCreatedFolders.add(entry);
  return () => liveCreatedFolders.delete(entry);
}

/**
 * Removes, synchronously, every temporary this process is writing and the folders it created for them
 * while they are empty: what a second Ctrl-C runs before exiting at once.
 */
export function removeLiveTemporariesSync(): void {
  for (const tmp of liveTemporaries) {
    try {
      rmSync(tmp, { recursive: true, force: true });
    } catch {
      // best effort: the process is exiting
    }
  }
  liveTemporaries.clear();
  for (const { dir, created } of [...liveCreatedFolders].reverse()) {
    for (let current = dir; current.length >= created.length; current = path.dirname(current)) {
      try {
        rmdirSync(current);
      } catch {
        break;
      }
      if (current === created) break;
    }
  }
  liveCreatedFolders.clear();
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

/** Why an operating-system error stops a write, in words, by error code. */
const WRITE_FAILURES: Record<string, string> = {
  EACCES: 'permission denied (a read-only folder?)',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ELOOP: 'too many levels of symbolic links (a symlink loop)',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'it is a folder',
  EEXIST: 'something that is not a folder (a file or a broken symlink) is in the way',
  ENAMETOOLONG: 'the name is too long',
  EMFILE: 'too many open files',
};

/**
 * The user-facing error for an operating-system error met while writing `userPath` (an I/O error becomes
 * a `cannotWrite` DimpError naming the user's path, never a temporary); other errors are returned as they are.
 */
export function writeError(error: unknown, userPath: string, role = 'output'): unknown {
  if (error instanceof DimpError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (!code || !(code in WRITE_FAILURES)) return error;
  return new DimpError('cannotWrite', `cannot write the ${role}: ${WRITE_FAILURES[code]} (${code})`, { file: userPath });
}

/**
 * Where an output at `target` is written: `target` itself, or, when `target` is a symlink, the path it
 * finally points to (outputs are written through symlinks; a link that points nowhere yet gets its file
 * created). A symlink loop is a `cannotWrite` error naming `target`.
 */
export async function outputTarget(target: string, role = 'output'): Promise<string> {
  let current = path.resolve(target);
  for (let hops = 0; hops < 40; hops++) {
    let stat;
    try {
      stat = await fs.lstat(current);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return current;
      throw writeError(error, target, role);
    }
    if (!stat.isSymbolicLink()) return current;
    current = path.resolve(path.dirname(current), await fs.readlink(current));
  }
  throw writeError(Object.assign(new Error('ELOOP'), { code: 'ELOOP' }), target, role);
}

/** Flushes a folder's entries (a rename or a new name in it) to the disk. No-op where folders cannot be opened (Windows). */
export async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch (error) {
    // Some file systems cannot flush a folder; the data itself was flushed.
    if (!['EINVAL', 'EISDIR', 'EBADF', 'ENOTSUP', 'EPERM'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
  } finally {
    await handle?.close();
  }
}

/** Flushes every file and folder under `dir` (and `dir` itself) to the disk. */
export async function syncTree(dir: string): Promise<void> {
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await syncTree(full);
    else if (entry.isFile()) {
      const handle = await fs.open(full, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  }
  await syncDirectory(dir);
}

/**
 * Renames a finished, flushed temporary over `target` and flushes the folder, so the rename itself is
 * on the disk when this resolves. Tests can pause just before it (`before-rename:<name>`).
 */
async function commitRename(tmp: string, target: string): Promise<void> {
  await pausePoint(`before-rename:${path.basename(target)}`);
  await fs.rename(tmp, target);
  await syncDirectory(path.dirname(target));
}

/**
 * Writes a file atomically and durably: the content goes to a temporary sibling, is flushed, and is
 * renamed over `target` (through a symlink, when `target` is one), so readers see the old file or the
 * new one, never half of one.
 */
export async function writeFileAtomic(target: string, content: string | Uint8Array): Promise<void> {
  await writeStagedFile(target, async (handle) => {
    await handle.writeFile(content);
  });
}

/**
 * Writes lines atomically through a stream (one line at a time, so a million lines never become one
 * string in memory); each line gets a trailing LF. Each line is encoded into a 1 MiB byte buffer as soon as
 * it comes, so that it dies young: lines joined into a string until a flush outlive the collections of the
 * young generation and pile up in the old one (~90 MiB more RSS while a million score lines were written).
 */
export async function writeLinesAtomic(target: string, lines: Iterable<string>): Promise<void> {
  await writeStagedFile(target, async (handle) => {
    const chunk = Buffer.allocUnsafe(1 << 20);
    let used = 0;
    const flush = async (): Promise<void> => {
      for (let at = 0; at < used; ) at += (await handle.write(chunk, at, used - at)).bytesWritten;
      used = 0;
    };
    for (const line of lines) {
      // A UTF-16 unit takes at most 3 bytes in UTF-8 (a surrogate pair 4 for 2 units).
      if (used + 3 * line.length + 1 > chunk.length) {
        await flush();
        if (3 * line.length + 1 > chunk.length) {
          await handle.write(line + '\n');
          continue;
        }
      }
      used += chunk.write(line, used);
      chunk[used++] = 0x0a;
    }
    await flush();
  });
}

/** A file written to its temporary sibling and flushed, not yet renamed over its target. */
export interface StagedFile {
  /** The path the rename replaces (the file a symlink at the user's path points to). */
  target: string;
  /** Renames the temporary over the target and flushes the folder: the commit. */
  commit(): Promise<void>;
  /** Removes the temporary (and folders created for it), when the commit will not happen. */
  discard(): Promise<void>;
}

/**
 * What writing `target` through a temporary sibling needs: the final path (symlinks followed), its folder
 * (created, and remembered to be removed on failure, when it did not exist), and the temporary's name,
 * tracked so that a second Ctrl-C removes it.
 */
async function prepareOutput(target: string): Promise<{ final: string; dir: string; created: string | undefined; forgetFolders: () => void; tmp: string; forget: () => void }> {
  const final = await outputTarget(target);
  const dir = path.dirname(final);
  let created: string | undefined;
  try {
    created = await fs.mkdir(dir, { recursive: true });
  } catch (error) {
    throw writeError(error, target);
  }
  const forgetFolders = trackCreatedFolders(dir, created);
  const tmp = temporarySibling(final);
  return { final, dir, created, forgetFolders, tmp, forget: trackTemporary(tmp) };
}

/**
 * Writes `target`'s new content to a temporary sibling and flushes it, without renaming it yet: for
 * outputs published together (`curate` renames its rejected file, then its curated file). The caller
 * calls `commit` or `discard`.
 */
export async function stageFile(target: string, fill: (handle: fs.FileHandle) => Promise<void>): Promise<StagedFile> {
  const { final, dir, created, forgetFolders, tmp, forget } = await prepareOutput(target);
  const discard = async (): Promise<void> => {
    await fs.rm(tmp, { force: true });
    forget();
    await removeCreatedFolders(dir, created);
    forgetFolders();
  };
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(tmp, 'w');
    await fill(handle);
    await handle.sync();
    await handle.close();
    handle = undefined;
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await discard();
    throw writeError(error, target);
  }
  return {
    target: final,
    discard,
    commit: async () => {
      try {
        await commitRename(tmp, final);
      } catch (error) {
        await discard();
        throw writeError(error, target);
      }
      forget();
      forgetFolders();
    },
  };
}

async function writeStagedFile(target: string, fill: (handle: fs.FileHandle) => Promise<void>): Promise<void> {
  const staged = await stageFile(target, fill);
  await staged.commit();
}

/**
 * Builds a folder atomically and durably: `build` fills a temporary sibling folder, which is flushed and
 * renamed to `target` when it resolves, and removed when it throws (including on cancellation), with any
 * parent folders it created. `target` must not exist.
 */
export async function writeFolderAtomic<T>(target: string, build: (tmpDir: string) => Promise<T>): Promise<T> {
  const { final, dir, created, forgetFolders, tmp, forget } = await prepareOutput(target);
  // Errors of `build` itself pass as they are (it may read inputs); those of making and publishing the
  // folder are write errors on `target`.
  let building = false;
  try {
    await fs.mkdir(tmp);
    building = true;
    const result = await build(tmp);
    building = false;
    await syncTree(tmp);
    await commitRename(tmp, final);
    return result;
  } catch (error) {
    await fs.rm(tmp, { recursive: true, force: true });
    await removeCreatedFolders(dir, created);
    throw building ? error : writeError(error, target);
  } finally {
    forget();
    forgetFolders();
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

/** Whether process `pid` is alive (on this machine). */
function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

/**
 * Removes the temporaries in `dir` (files and folders named as `temporarySibling` names them) whose
 * process is no longer alive: what a process killed in the middle of a write (SIGKILL, a power cut)
 * leaves behind. A temporary of a live process (another run writing there now) is left alone. Returns
 * the names removed.
 */
export async function sweepStaleTemporaries(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const match = TEMPORARY_NAME.exec(name);
    if (!match || processAlive(Number(match[2]))) continue;
    try {
      await fs.rm(path.join(dir, name), { recursive: true, force: true });
      removed.push(name);
    } catch {
      // not ours to remove (permissions): leave it
    }
  }
  return removed;
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
