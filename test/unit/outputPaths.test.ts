/**
 * Outputs: paths checked before any work (symlinks written through; loops, read-only folders and files in
 * the way refused with exit 6 naming the user's path), temporaries of killed processes swept by the next
 * run, and writes flushed to the disk.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DimpError, ExitCode } from '../../src/core/errors';
import { sweepStaleTemporaries, writeFileAtomic, writeFolderAtomic, writeLinesAtomic } from '../../src/core/io/atomic';
import { checkOutputPath } from '../../src/core/io/outputPaths';
import { EmbeddingCache } from '../../src/core/model/transformer/embeddingCache';
import { temporaryFolder } from './helpers';
import { runCli, temporaries, writeSmallProject, type Exit } from './cliProcess';

let dir: string;
let cleanup: () => void;

before(() => {
  ({ dir, cleanup } = temporaryFolder());
  writeSmallProject(dir);
});

after(() => {
  for (const ro of ['ro', 'ro2']) if (fs.existsSync(path.join(dir, ro))) fs.chmodSync(path.join(dir, ro), 0o755);
  cleanup();
});

function assertExit(exit: Exit, code: number): void {
  assert.equal(exit.code, code, `expected exit ${code}, got ${exit.code ?? exit.signal}\nstdout: ${exit.stdout}\nstderr: ${exit.stderr}`);
}

/** Nothing was trained or read: the refusal came before any work. */
function assertNoWork(exit: Exit): void {
  assert.doesNotMatch(exit.stderr, /^(reading|training)|checker trained/m, `work started before the refusal:\n${exit.stderr}`);
  assert.doesNotMatch(exit.stderr + exit.stdout, /\.tmp-/, 'the message names the user\'s path, not a temporary');
}

/** The pid of a process that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid!;
}

/**
 * A folder this process cannot create files in: a read-only folder, or, when running as root (which
 * ignores permission bits), a path under /sys when that is not writable either. Undefined: none here.
 */
function unwritableFolder(name: string): string | undefined {
  const ro = path.join(dir, name);
  fs.mkdirSync(ro, { recursive: true });
  fs.chmodSync(ro, 0o555);
  const probe = (folder: string): boolean => {
    try {
      fs.writeFileSync(path.join(folder, '.probe'), '');
      fs.rmSync(path.join(folder, '.probe'));
      return true;
    } catch {
      return false;
    }
  };
  if (!probe(ro)) return ro;
  return fs.existsSync('/sys') && !probe('/sys') ? '/sys' : undefined;
}

const score = (...extra: string[]): Exit => runCli(dir, ['score', '--synthetic', 'syn.jsonl', '--real', 'real.jsonl', ...extra]);

describe('output paths are checked before any work', () => {
  test('a symlink --out is written through: the link stays a link, the file it points to gets the scores', () => {
    fs.mkdirSync(path.join(dir, 'elsewhere'));
    fs.symlinkSync(path.join('elsewhere', 'real.scores.jsonl'), path.join(dir, 'link.scores.jsonl'));
    assertExit(score('--out', 'link.scores.jsonl', '--checkers', 'link.checkers'), 0);
    assert.ok(fs.lstatSync(path.join(dir, 'link.scores.jsonl')).isSymbolicLink(), 'the link is still a link');
    assert.match(fs.readFileSync(path.join(dir, 'elsewhere', 'real.scores.jsonl'), 'utf8').split('\n')[0]!, /"kind":"dimp-scores"/);
    // Again, over the existing scores it points to.
    assertExit(score('--out', 'link.scores.jsonl', '--checkers', 'link.checkers', '--seed', '2'), 0);
    assert.ok(fs.lstatSync(path.join(dir, 'link.scores.jsonl')).isSymbolicLink());
    assert.deepEqual(temporaries(dir), []);
  });

  test('a symlink loop as --out: exit 6 naming it, before any checker is trained', () => {
    fs.symlinkSync('loop.scores.jsonl', path.join(dir, 'loop.scores.jsonl'));
    const exit = score('--out', 'loop.scores.jsonl', '--checkers', 'loop.checkers');
    assertExit(exit, ExitCode.cannotWrite);
    assert.match(exit.stderr, /loop\.scores\.jsonl: cannot write the scores file: .*symlink loop/);
    assertNoWork(exit);
    assert.ok(!fs.existsSync(path.join(dir, 'loop.checkers')));
  });

  test('a read-only folder: exit 6 naming the path, before any checker is trained; curate and train too', (t) => {
    const ro = unwritableFolder('ro');
    if (!ro) return t.skip('no folder here is read-only for this user');
    const out = path.join(ro, 'sub', 'x.scores.jsonl');
    const exit = score('--out', out);
    assertExit(exit, ExitCode.cannotWrite);
    assert.ok(exit.stderr.includes(`${out}: cannot write the scores file`), exit.stderr);
    assertNoWork(exit);

    // The checkers folder alone read-only.
    const checkers = score('--out', 'ok.scores.jsonl', '--checkers', path.join(ro, 'ck'));
    assertExit(checkers, ExitCode.cannotWrite);
    assert.ok(checkers.stderr.includes(`${path.join(ro, 'ck')}: cannot write the checkers folder`), checkers.stderr);
    assertNoWork(checkers);
    assert.ok(!fs.existsSync(path.join(dir, 'ok.scores.jsonl')));

    const train = runCli(dir, ['train', '--synthetic', 'syn.jsonl', '--loss', 'ce', '--out', path.join(ro, 'runs')]);
    assertExit(train, ExitCode.cannotWrite);
    assert.ok(train.stderr.includes(`${path.join(ro, 'runs')}: cannot write the runs folder`), train.stderr);
    assertNoWork(train);

    // train that would score first refuses before scoring.
    const trainScoring = runCli(dir, ['train', '--synthetic', 'syn.jsonl', '--loss', 'imp', '--real', 'real.jsonl', '--checkers', path.join(ro, 'ck2')]);
    assertExit(trainScoring, ExitCode.cannotWrite);
    assertNoWork(trainScoring);
    assert.ok(!fs.existsSync(path.join(dir, 'runs')));

    assertExit(score('--out', 'base.scores.jsonl'), 0);
    const curate = runCli(dir, ['curate', '--synthetic', 'syn.jsonl', '--scores', 'base.scores.jsonl', '--keep-fraction', '0.5', '--out', path.join(ro, 'c.jsonl')]);
    assertExit(curate, ExitCode.cannotWrite);
    assert.ok(curate.stderr.includes(`${path.join(ro, 'c.jsonl')}: cannot write the curated file`), curate.stderr);
  });

  test('a file where a folder is needed, and a folder where a file is needed: exit 6', () => {
    fs.writeFileSync(path.join(dir, 'a-file'), 'x');
    const checkers = score('--out', 'f.scores.jsonl', '--checkers', 'a-file');
    assertExit(checkers, ExitCode.cannotWrite);
    assert.match(checkers.stderr, /a-file: cannot write the checkers folder: it is a file/);
    assertNoWork(checkers);
    const under = score('--out', 'a-file/x.scores.jsonl');
    assertExit(under, ExitCode.cannotWrite);
    assertNoWork(under);
    fs.mkdirSync(path.join(dir, 'a-folder.jsonl'));
    const folder = score('--out', 'a-folder.jsonl');
    assertExit(folder, ExitCode.cannotWrite);
    assert.match(folder.stderr, /a-folder\.jsonl: cannot write the scores file: it is a folder/);
    const runs = runCli(dir, ['train', '--synthetic', 'syn.jsonl', '--loss', 'ce', '--out', 'a-file']);
    assertExit(runs, ExitCode.cannotWrite);
    assertNoWork(runs);
  });

  test('checkOutputPath creates nothing', async () => {
    await checkOutputPath(path.join(dir, 'new', 'deeper', 'x.jsonl'), 'scores file', 'file');
    assert.ok(!fs.existsSync(path.join(dir, 'new')));
    assert.deepEqual(temporaries(dir), []);
  });
});

describe('temporaries of killed processes', () => {
  test('score, train and curate sweep the temporaries of dead processes where they write, and leave live ones', () => {
    const dead = deadPid();
    const out = path.join(dir, 'sw');
    fs.mkdirSync(path.join(out, 's.checkers', `.gen-abc-${dead}.tmp-${dead}-abc-3`), { recursive: true });
    fs.writeFileSync(path.join(out, 's.checkers', `.gen-abc-${dead}.tmp-${dead}-abc-3`, 'model.onnx'), 'x');
    fs.writeFileSync(path.join(out, `.s.scores.jsonl.tmp-${dead}-abc-1`), 'x'.repeat(1000));
    fs.mkdirSync(path.join(out, `.ck.tmp-${dead}-abc-2`, 'quality'), { recursive: true });
    const live = `.s.scores.jsonl.tmp-${process.pid}-abc-9`;
    fs.writeFileSync(path.join(out, live), 'still being written');
    assertExit(score('--out', 'sw/s.scores.jsonl'), 0);
    assert.deepEqual(temporaries(out), [live], 'dead ones swept, the live one left');
    fs.rmSync(path.join(out, live));

    fs.mkdirSync(path.join(dir, 'swruns', `.ce-1.tmp-${dead}-abc-4`), { recursive: true });
    assertExit(runCli(dir, ['train', '--synthetic', 'syn.jsonl', '--loss', 'ce', '--out', 'swruns']), 0);
    assert.deepEqual(temporaries(path.join(dir, 'swruns')), []);

    fs.writeFileSync(path.join(dir, `.r.tmp-${dead}-abc-5`), 'x');
    fs.writeFileSync(path.join(dir, `.c2.jsonl.tmp-${dead}-abc-6`), 'x');
    assertExit(runCli(dir, ['curate', '--synthetic', 'syn.jsonl', '--scores', 'sw/s.scores.jsonl', '--keep-fraction', '0.5', '--out', 'c2.jsonl', '--rejected', 'r']), 0);
    assert.deepEqual(temporaries(dir).filter((p) => !p.includes('/')), []);
  });

  test('the embedding cache sweeps the shards a killed process was writing when it opens', async () => {
    const root = path.join(dir, 'cache');
    const stale = path.join(root, 'fp', `.00000001.emb.tmp-${deadPid()}-abc-1`);
    fs.mkdirSync(path.dirname(stale), { recursive: true });
    fs.writeFileSync(stale, 'half a shard');
    await EmbeddingCache.open(root, 'fp', 4, { test: true });
    assert.ok(!fs.existsSync(stale));
  });

  test('sweepStaleTemporaries ignores names it did not make', async () => {
    const sub = path.join(dir, 'names');
    fs.mkdirSync(sub);
    for (const name of ['.x.tmp-notapid', 'x.tmp-1-a-1', '.x.tmp-', 'plain.jsonl']) fs.writeFileSync(path.join(sub, name), '');
    assert.deepEqual(await sweepStaleTemporaries(sub), []);
    assert.equal(fs.readdirSync(sub).length, 4);
  });
});

describe('writes reach the disk', () => {
  test('atomic writes flush the file and its folder (fsync) before they resolve', async () => {
    const probe = await fs.promises.open(path.join(dir, 'probe'), 'w');
    const prototype = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
    await probe.close();
    const original = prototype.sync;
    let syncs = 0;
    prototype.sync = function (this: unknown) {
      syncs += 1;
      return original.call(this);
    };
    try {
      await writeFileAtomic(path.join(dir, 'durable.txt'), 'hello');
      assert.ok(syncs >= (process.platform === 'win32' ? 1 : 2), `file and folder flushed (${syncs} fsyncs)`);
      syncs = 0;
      await writeLinesAtomic(path.join(dir, 'durable.jsonl'), ['{}', '{}']);
      assert.ok(syncs >= (process.platform === 'win32' ? 1 : 2), `lines: ${syncs} fsyncs`);
      syncs = 0;
      await writeFolderAtomic(path.join(dir, 'durable-folder'), async (tmp) => {
        fs.writeFileSync(path.join(tmp, 'a'), 'a');
        fs.mkdirSync(path.join(tmp, 'sub'));
        fs.writeFileSync(path.join(tmp, 'sub', 'b'), 'b');
      });
      assert.ok(syncs >= (process.platform === 'win32' ? 2 : 5), `folder: every file, every folder and the parent (${syncs} fsyncs)`);
    } finally {
      prototype.sync = original;
    }
  });

  test('writeLinesAtomic writes every line and its LF in UTF-8, across its 1 MiB chunks and past them', async () => {
    // Many short lines with characters of 1 to 4 bytes (and a lone surrogate, written as U+FFFD), a line longer
    // than a chunk, an empty line, then more short lines.
    const short = Array.from({ length: 40_000 }, (_, i) => `{"i":${i},"t":"é€😀${'x'.repeat(i % 50)}"}`);
    const lines = [...short, '\ud800 lone', 'é'.repeat(700_000), '', ...short.slice(0, 1000)];
    const file = path.join(dir, 'lines.jsonl');
    await writeLinesAtomic(file, lines);
    const expected = Buffer.from(lines.map((line) => line + '\n').join(''), 'utf8');
    assert.ok(expected.length > 3 * (1 << 20));
    assert.ok(fs.readFileSync(file).equals(expected));
    await writeLinesAtomic(file, []);
    assert.equal(fs.readFileSync(file).length, 0);
  });

  test('an operating-system error while writing names the output, not a temporary, as a cannotWrite error', async () => {
    fs.writeFileSync(path.join(dir, 'plain-file'), 'x');
    const target = path.join(dir, 'plain-file', 'out.txt');
    await assert.rejects(writeFileAtomic(target, 'x'), (error: unknown) => error instanceof DimpError && error.kind === 'cannotWrite' && error.file === target && !error.message.includes('.tmp-'));
  });
});
