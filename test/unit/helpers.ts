import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The repository root, from the compiled test's folder (out/test/unit). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

/** The bundled sample folder. */
export const SAMPLE_DIR = path.join(REPO_ROOT, 'sample');

/** A fresh temporary folder, removed by the returned cleanup. */
export function temporaryFolder(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dimp-test-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
