// `npm run package`: builds the bundles, then writes into release/
// - one .vsix per platform with @vscode/vsce (`--target linux-x64`, …), each holding only that platform's
//   onnxruntime binaries (onnxruntime-node carries five platforms, 288 MB; one is 20–60 MB);
// - the CLI as an npm tarball (`npm pack`), which installs with `npm i ./dimp-curator-<version>.tgz`.
// What ships is decided by .vscodeignore (the .vsix) and package.json's `files` (the tarball).
//
//   node scripts/package.mjs [--target linux-x64,win32-x64] [--no-npm] [--skip-build]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const releaseDir = path.join(repoRoot, 'release');
const require = createRequire(import.meta.url);

/** VS Code's platform targets and the onnxruntime-node binary folder each one needs. */
export const TARGETS = {
  'linux-x64': 'linux/x64',
  'linux-arm64': 'linux/arm64',
  'darwin-arm64': 'darwin/arm64',
  'win32-x64': 'win32/x64',
  'win32-arm64': 'win32/arm64',
};

/** The .vscodeignore line that keeps every platform's binaries; each target narrows it to its own. */
const ALL_BINARIES = '!node_modules/onnxruntime-node/bin/napi-v6/**';

function option(name) {
  const index = process.argv.indexOf(name);
  return index === -1 ? undefined : process.argv[index + 1];
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: repoRoot, stdio: 'inherit', ...options });
  if (result.status !== 0) {
    console.error(`${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
    process.exit(1);
  }
  return result;
}

const megabytes = (file) => `${(statSync(file).size / 2 ** 20).toFixed(1)} MB`;

const targets = option('--target')?.split(',') ?? Object.keys(TARGETS);
for (const target of targets) {
  if (!TARGETS[target]) {
    console.error(`unknown target ${target}: one of ${Object.keys(TARGETS).join(', ')}`);
    process.exit(2);
  }
}
const { name, version } = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', ORT_DISABLE_TELEMETRY: '1' };

if (!process.argv.includes('--skip-build')) run(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs')], { env });
rmSync(releaseDir, { recursive: true, force: true });
mkdirSync(releaseDir, { recursive: true });

const ignoreTemplate = readFileSync(path.join(repoRoot, '.vscodeignore'), 'utf8');
if (!ignoreTemplate.split('\n').includes(ALL_BINARIES)) {
  console.error(`.vscodeignore must keep the line ${ALL_BINARIES}: this script narrows it to each platform`);
  process.exit(1);
}
const vsce = path.join(path.dirname(require.resolve('@vscode/vsce/package.json')), 'vsce');
const temp = mkdtempSync(path.join(os.tmpdir(), 'dimp-package-'));
const written = [];
try {
  for (const target of targets) {
    const ignoreFile = path.join(temp, `${target}.vscodeignore`);
    writeFileSync(ignoreFile, ignoreTemplate.replace(ALL_BINARIES, `!node_modules/onnxruntime-node/bin/napi-v6/${TARGETS[target]}/*`));
    const out = path.join(releaseDir, `${name}-${target}-${version}.vsix`);
    console.log(`packaging ${path.relative(repoRoot, out)}`);
    // No repository yet: README's relative links (media/…) stay relative, which VS Code resolves inside the package.
    run(process.execPath, [vsce, 'package', '--target', target, '--ignoreFile', ignoreFile, '--no-rewrite-relative-links', '--allow-missing-repository', '--out', out], {
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    written.push(out);
  }
} finally {
  rmSync(temp, { recursive: true, force: true });
}
if (!process.argv.includes('--no-npm')) {
  console.log('packing the CLI for npm');
  const packed = run('npm', ['pack', '--pack-destination', releaseDir, '--json'], { env, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  const [{ filename }] = JSON.parse(packed.stdout);
  written.push(path.join(releaseDir, filename));
}
for (const file of written) console.log(`${megabytes(file).padStart(9)}  ${path.relative(repoRoot, file)}`);
