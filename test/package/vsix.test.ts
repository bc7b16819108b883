// The .vsix files of `npm run package`, as a user would install them: one per platform, each with the
// built bundles, the schema, the walkthrough's pictures and the sample, only its own platform's
// onnxruntime binaries, and nothing from sources, tests or caches. The linux-x64 one is unpacked and its
// CLI scores the sample, which loads the packaged onnxruntime binary.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { childEnvironment, megabytes, releaseFile, repoRoot, sizesByType } from './helpers';
import { extractZip, listZip, readZipEntry, type ZipEntry } from './zip';

/** VS Code's platform targets and onnxruntime-node's binary folder for each (scripts/package.mjs). */
const TARGETS: Record<string, string> = {
  'linux-x64': 'linux/x64',
  'linux-arm64': 'linux/arm64',
  'darwin-arm64': 'darwin/arm64',
  'win32-x64': 'win32/x64',
  'win32-arm64': 'win32/arm64',
};
const MAX_BYTES = 60 * 2 ** 20;

/** What may ship, relative to the package's extension/ folder. */
const ALLOWED = [
  /^package\.json$/,
  /^readme\.md$/,
  /^LICENSE\.txt$/,
  /^bin\/dimp-curator$/,
  /^dist\/(extension|scoringWorker|trainingWorker|transformerWorker|ngramWorker|hogwildWorker|cli)\.js$/,
  /^dist\/webview\/training\.(js|css)$/,
  /^media\/[\w/-]+\.(png|svg)$/,
  /^sample\/(synthetic|real_train|real_val|real_test|truth)\.jsonl$/,
  /^sample\/dimp\.config\.json$/,
  /^schemas\/dimp\.config\.schema\.json$/,
  // The PyTorch engine's Python package, launched from the extension's python/ folder (no __pycache__).
  /^python\/(pyproject\.toml|README\.md|dimp_curator\/\w+\.py)$/,
  /^node_modules\/onnxruntime-node\/(package\.json|dist\/\w+\.js|bin\/napi-v6\/\w+\/\w+\/[\w.-]+)$/,
  /^node_modules\/onnxruntime-common\/(package\.json|dist\/cjs\/[\w/.-]+\.js|dist\/cjs\/package\.json)$/,
];
const BINARY = /\.(node|dll|dylib)$|\.so(\.\d+)*$/;

const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
  version: string;
  main: string;
  contributes: { jsonValidation: { url: string }[]; walkthroughs: { steps: { media: { image?: string; svg?: string } }[] }[] };
};

function extensionFiles(vsix: string): ZipEntry[] {
  return listZip(fs.readFileSync(vsix))
    .filter((entry) => entry.name.startsWith('extension/') && !entry.name.endsWith('/'))
    .map((entry) => ({ ...entry, name: entry.name.slice('extension/'.length) }));
}

for (const [target, binaryFolder] of Object.entries(TARGETS)) {
  describe(`${target} .vsix`, () => {
    const vsix = releaseFile(new RegExp(`^dimp-curator-${target}-${manifest.version.replace(/\./g, '\\.')}\\.vsix$`), `${target} .vsix`);
    const files = extensionFiles(vsix);
    const names = files.map((file) => file.name);

    test('is under 60 MB; its contents by file type', (t) => {
      const size = fs.statSync(vsix).size;
      t.diagnostic(`${path.basename(vsix)}: ${megabytes(size)} (${files.length} files, ${megabytes(files.reduce((sum, file) => sum + file.size, 0))} unpacked)`);
      for (const type of sizesByType(files)) t.diagnostic(`  ${type.type.padEnd(16)} ${String(type.files).padStart(3)} files ${megabytes(type.bytes).padStart(10)}`);
      assert.ok(size < MAX_BYTES, `${megabytes(size)}`);
    });

    test('is marked for its platform', () => {
      const bytes = fs.readFileSync(vsix);
      const vsixManifest = listZip(bytes).find((entry) => entry.name === 'extension.vsixmanifest');
      assert.ok(vsixManifest);
      assert.match(readZipEntry(bytes, vsixManifest).toString('utf8'), new RegExp(`TargetPlatform="${target}"`));
    });

    test('holds only built files: no sources, tests, source maps or caches', () => {
      const unexpected = names.filter((name) => !ALLOWED.some((pattern) => pattern.test(name)));
      assert.deepEqual(unexpected, []);
    });

    test("holds its own platform's onnxruntime binaries and no other platform's", () => {
      const binaries = names.filter((name) => BINARY.test(name));
      assert.ok(binaries.includes(`node_modules/onnxruntime-node/bin/napi-v6/${binaryFolder}/onnxruntime_binding.node`), binaries.join(', '));
      assert.ok(binaries.some((name) => /onnxruntime\.(dll|dylib)$|libonnxruntime/.test(name)), 'the onnxruntime library beside the binding');
      assert.deepEqual(binaries.filter((name) => !name.startsWith(`node_modules/onnxruntime-node/bin/napi-v6/${binaryFolder}/`)), []);
    });

    test('holds what package.json names: the entry point, the bundles, the schema and the walkthrough pictures', () => {
      const needed = [
        manifest.main.replace(/^\.\//, ''),
        'dist/scoringWorker.js',
        'dist/trainingWorker.js',
        'dist/transformerWorker.js',
        'dist/ngramWorker.js',
        'dist/hogwildWorker.js',
        'dist/cli.js',
        'dist/webview/training.js',
        'dist/webview/training.css',
        'bin/dimp-curator',
        ...manifest.contributes.jsonValidation.map((entry) => entry.url.replace(/^\.\//, '')),
        ...manifest.contributes.walkthroughs.flatMap((walkthrough) => walkthrough.steps.map((step) => step.media.image ?? step.media.svg ?? '')),
        'sample/synthetic.jsonl',
        'python/dimp_curator/train.py',
      ];
      assert.deepEqual(needed.filter((name) => !names.includes(name)), []);
    });
  });
}

describe('the linux-x64 .vsix, unpacked', { skip: process.platform !== 'linux' || process.arch !== 'x64' ? 'runs on Linux x64 only' : false }, () => {
  test('scores the sample with its own bundles and onnxruntime binary', () => {
    const vsix = releaseFile(/^dimp-curator-linux-x64-.*\.vsix$/, 'linux-x64 .vsix');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dimp-vsix-'));
    try {
      extractZip(vsix, dir);
      const extension = path.join(dir, 'extension');
      const sample = path.join(extension, 'sample');
      const out = path.join(dir, 'work', 'synthetic.scores.jsonl');
      fs.mkdirSync(path.dirname(out));
      const result = spawnSync(
        process.execPath,
        [path.join(extension, 'bin', 'dimp-curator'), 'score', '--synthetic', path.join(sample, 'synthetic.jsonl'), '--real', path.join(sample, 'real_train.jsonl'), '--validation', path.join(sample, 'real_val.jsonl'), '--out', out],
        { cwd: path.dirname(out), env: childEnvironment(), encoding: 'utf8', timeout: 300_000 },
      );
      assert.equal(result.status, 0, `exit ${result.status}\n${result.stderr}`);
      const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
      const rows = fs.readFileSync(path.join(sample, 'synthetic.jsonl'), 'utf8').trim().split('\n').length;
      assert.equal(lines.length, rows + 1, 'a header and one line per row');
      const first = JSON.parse(lines[1]) as { impWeight: number };
      assert.ok(Number.isFinite(first.impWeight) && first.impWeight > 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
