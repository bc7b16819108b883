/**
 * Output paths are checked before any work starts: a symlink loop, a read-only folder, a file where a
 * folder is needed or a folder where a file is needed is a `cannotWrite` error (exit 6) naming the path
 * the user gave, before a checker is trained or a row is read. A symlink at an output path is written
 * through (see atomic.ts), so it is checked where it points.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DimpError } from '../errors';
import { outputTarget, temporarySibling, writeError } from './atomic';

/**
 * Throws a `cannotWrite` DimpError naming `userPath` when an output of this `kind` cannot be written
 * there: the path (through its symlinks) ends in a loop, is the wrong kind of thing, or lies under a file
 * or a folder this process cannot create files in. Creates nothing (a probe file is made and removed).
 */
export async function checkOutputPath(userPath: string, role: string, kind: 'file' | 'folder'): Promise<void> {
  const target = await outputTarget(userPath, role);
  let stat;
  try {
    stat = await fs.stat(target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw writeError(error, userPath, role);
  }
  if (stat && kind === 'file' && stat.isDirectory()) throw new DimpError('cannotWrite', `cannot write the ${role}: it is a folder`, { file: userPath });
  if (stat && kind === 'folder' && !stat.isDirectory()) throw new DimpError('cannotWrite', `cannot write the ${role}: it is a file, not a folder`, { file: userPath });
  // The nearest folder that exists is where the output (or the folders leading to it) will be created.
  let dir = kind === 'folder' && stat ? target : path.dirname(target);
  for (;;) {
    try {
      const found = await fs.stat(dir);
      if (!found.isDirectory()) throw new DimpError('cannotWrite', `cannot write the ${role}: ${dir} is a file, not a folder`, { file: userPath });
      break;
    } catch (error) {
      if (error instanceof DimpError) throw error;
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || path.dirname(dir) === dir) throw writeError(error, userPath, role);
      dir = path.dirname(dir);
    }
  }
  // Root and some file systems ignore permission bits, so the folder is asked by creating a file in it.
  const probe = temporarySibling(path.join(dir, 'dimp-write-check'));
  try {
    const handle = await fs.open(probe, 'wx');
    await handle.close();
  } catch (error) {
    throw writeError(error, userPath, role);
  } finally {
    await fs.rm(probe, { force: true }).catch(() => undefined);
  }
}
