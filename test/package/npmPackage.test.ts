// The CLI as an npm package, as a user installs it: the tarball of `npm run package` (`npm pack`) goes
// into an empty folder with `npm i ./dimp-curator-<version>.tgz` (onnxruntime's CUDA download skipped), and
// `npx dimp-curator demo` runs there on the bundled sample.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { childEnvironment, releaseFile } from './helpers';

/** Every file under `dir`, relative and `/`-separated. */
function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
    .sort();
}

function npm(args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, { cwd, env: childEnvironment(), encoding: 'utf8', timeout: 600_000 });
}

describe('npm package of the CLI', () => {
  let project: string;
  let installed: string;

  before(() => {
    const tarball = releaseFile(/^dimp-curator-\d[\w.-]*\.tgz$/, 'npm tarball');
    project = fs.mkdtempSync(path.join(os.tmpdir(), 'dimp-npm-'));
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'uses-dimp-curator', private: true }));
    // The registry's metadata and tarballs come from npm's cache when `npm ci` has filled it.
    const result = npm(['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], project);
    assert.equal(result.status, 0, `npm install exited with ${result.status}:\n${result.stderr}`);
    installed = path.join(project, 'node_modules', 'dimp-curator');
  });

  after(() => {
    if (project) fs.rmSync(project, { recursive: true, force: true });
  });

  test('holds the CLI, its bundles, the sample and the schema, and nothing from sources, tests or caches', () => {
    const files = filesUnder(installed);
    const topLevel = [...new Set(files.map((file) => file.split('/')[0]))].sort();
    assert.deepEqual(topLevel, ['LICENSE', 'README.md', 'bin', 'dist', 'package.json', 'python', 'sample', 'schemas']);
    for (const needed of ['bin/dimp-curator', 'dist/cli.js', 'dist/transformerWorker.js', 'dist/ngramWorker.js', 'dist/hogwildWorker.js', 'sample/synthetic.jsonl', 'sample/dimp.config.json', 'python/dimp_curator/train.py', 'python/pyproject.toml']) assert.ok(files.includes(needed), needed);
    assert.deepEqual(files.filter((file) => file.startsWith('python/') && !/^python\/(pyproject\.toml|README\.md|dimp_curator\/\w+\.py)$/.test(file)), [], 'the Python package ships without caches');
    assert.deepEqual(files.filter((file) => /\.(ts|map)$/.test(file) || file.startsWith('sample/') && /scores|checkers/.test(file)), []);
  });

  test('installs only onnxruntime-node beside it: everything else is in the bundles', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    assert.deepEqual(Object.keys(manifest.dependencies), ['onnxruntime-node']);
  });

  test('trains on two threads from the install (the bundle finds dist/hogwildWorker.js)', () => {
    const sample = path.join(installed, 'sample');
    const args = ['--no', 'dimp-curator', 'train', '--config', path.join(sample, 'dimp.config.json'), '--loss', 'ce', '--epochs', '2', '--train-threads', '2', '--out', path.join(project, 'threads-runs'), '--name', 'run'];
    const result = spawnSync(process.platform === 'win32' ? 'npx.cmd' : 'npx', args, { cwd: project, env: childEnvironment(), encoding: 'utf8', timeout: 300_000 });
    assert.equal(result.status, 0, `exit ${result.status}\n${result.stderr}`);
    assert.match(result.stderr + result.stdout, /2 threads \(Hogwild\)/);
    const config = JSON.parse(fs.readFileSync(path.join(project, 'threads-runs', 'run', 'config.json'), 'utf8')) as { settings: { threads?: number } };
    assert.equal(config.settings.threads, 2);
  });

  test('runs `npx dimp-curator demo` in the folder it was installed into', () => {
    const result = spawnSync(process.platform === 'win32' ? 'npx.cmd' : 'npx', ['--no', 'dimp-curator', 'demo'], { cwd: project, env: childEnvironment(), encoding: 'utf8', timeout: 600_000 });
    assert.equal(result.status, 0, `exit ${result.status}\n${result.stderr}`);
    assert.match(result.stdout, /CE vs IMP vs DIMP/);
    for (const loss of ['ce', 'imp', 'dimp']) assert.match(result.stdout, new RegExp(`^${loss}\\s+\\d+\\s+\\d+\\.\\d%`, 'm'), `a result row for ${loss}`);
    // Its outputs land in the user's folder, never inside the installed package.
    assert.ok(fs.existsSync(path.join(project, 'demo-output')));
    assert.ok(!fs.existsSync(path.join(installed, 'demo-output')));
  });
});
