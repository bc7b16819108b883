// Where `npm run package` leaves its outputs, for the tests that look at what a user installs.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const repoRoot = path.resolve(__dirname, '../../..');
export const releaseDir = path.join(repoRoot, 'release');

/** The one file in release/ whose name matches, or an error that says how to make it. */
export function releaseFile(pattern: RegExp, what: string): string {
  const names = fs.existsSync(releaseDir) ? fs.readdirSync(releaseDir).filter((name) => pattern.test(name)) : [];
  if (names.length !== 1) throw new Error(`${names.length === 0 ? 'no' : 'more than one'} ${what} in ${releaseDir}: run \`npm run package\` first`);
  return path.join(releaseDir, names[0]);
}

/** Environment for child processes: no onnxruntime download, no telemetry, none of an outer npm's variables. */
export function childEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!/^npm_/i.test(key)) env[key] = value;
  return { ...env, ONNXRUNTIME_NODE_INSTALL: 'skip', ORT_DISABLE_TELEMETRY: '1', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
}

/** Sizes summed by file type (extension, or the name for files without one), largest first. */
export function sizesByType(files: { name: string; size: number }[]): { type: string; files: number; bytes: number }[] {
  const byType = new Map<string, { files: number; bytes: number }>();
  for (const file of files) {
    const base = path.posix.basename(file.name);
    const type = /\.so(\.\d+)*$/.test(base) ? '.so' : path.posix.extname(base) || base;
    const sum = byType.get(type) ?? { files: 0, bytes: 0 };
    byType.set(type, { files: sum.files + 1, bytes: sum.bytes + file.size });
  }
  return [...byType].map(([type, sum]) => ({ type, ...sum })).sort((a, b) => b.bytes - a.bytes);
}

export const megabytes = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(2)} MB`;
