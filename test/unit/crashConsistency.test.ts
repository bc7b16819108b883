/**
 * Crash consistency: the real CLI is killed with SIGKILL at named points of scoring, training and curating
 * (DIMP_CURATOR_TEST_PAUSE_AT makes it stop there and say so; no timing), then the outputs must be the old
 * ones or the new ones, never a mix or a part, and the next run must leave no temporary behind. Ctrl-C
 * (once, and twice) is checked the same way.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { temporaryFolder } from './helpers';
import { killAt, runCli, startCli, temporaries, tree, writeSmallProject, type Exit } from './cliProcess';

let dir: string;
let cleanup: () => void;

before(() => {
  ({ dir, cleanup } = temporaryFolder());
  writeSmallProject(dir);
});

after(() => cleanup());

const hash = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

function assertOk(exit: Exit): void {
  assert.equal(exit.code, 0, `exit ${exit.code ?? exit.signal}\nstdout: ${exit.stdout}\nstderr: ${exit.stderr}`);
}

/** What a scores file and its checkers are: checked to be whole and to belong together. */
interface ScoreState {
  scoresHash: string;
  /** The seed the checkers the scores name were trained with (both agree). */
  seed: number;
  /** The checker folders the scores name, with a hash of each file in them. */
  checkers: Record<string, string>;
}

function scoreState(scoresFile: string): ScoreState {
  const lines = fs.readFileSync(scoresFile, 'utf8').split('\n');
  assert.equal(lines.pop(), '', 'the scores file ends with a newline');
  const header = JSON.parse(lines[0]!) as { rows: number; checkerFolders: { quality: string; diversity: string } };
  assert.equal(lines.length - 1, header.rows, 'the scores file has every row');
  for (const line of lines.slice(1)) JSON.parse(line);
  const checkers: Record<string, string> = {};
  const seeds = new Set<number>();
  for (const folder of [header.checkerFolders.quality, header.checkerFolders.diversity]) {
    for (const name of ['config.json', 'featurizer.json', 'model.onnx']) {
      assert.ok(fs.existsSync(path.join(folder, name)), `the checker the scores name is whole: ${path.join(folder, name)}`);
      checkers[path.join(folder, name)] = hash(path.join(folder, name));
    }
    seeds.add((JSON.parse(fs.readFileSync(path.join(folder, 'config.json'), 'utf8')) as { dimp_checker: { seed: number } }).dimp_checker.seed);
  }
  assert.equal(seeds.size, 1, 'both checkers come from the same scoring');
  return { scoresHash: hash(scoresFile), seed: [...seeds][0]!, checkers };
}

/** Old or new, never mixed: the same bytes and checkers as before, or scores whose checkers are the new run's. */
function assertOldOrNew(now: ScoreState, old: ScoreState, newSeed: number): 'old' | 'new' {
  if (now.scoresHash === old.scoresHash) {
    assert.deepEqual(now.checkers, old.checkers, 'old scores keep their old checkers, byte for byte');
    return 'old';
  }
  assert.equal(now.seed, newSeed, 'new scores come with the new checkers');
  return 'new';
}

function assertCheckersFolderClean(checkersDir: string, state: ScoreState): void {
  const generations = new Set(Object.keys(state.checkers).map((file) => path.relative(checkersDir, file).split(path.sep)[0]));
  assert.deepEqual(fs.readdirSync(checkersDir).sort(), [...generations].sort(), 'only the generation the scores name is left');
}

describe('crash consistency (SIGKILL at named points)', () => {
  const scoresFile = (): string => path.join(dir, 'out', 's.scores.jsonl');
  const checkersDir = (): string => path.join(dir, 'out', 's.checkers');
  const scoreArgs = (seed: number): string[] => ['score', '--synthetic', 'syn.jsonl', '--real', 'real.jsonl', '--out', 'out/s.scores.jsonl', '--seed', String(seed)];

  test('scoring: killed anywhere, the scores and checkers are the old pair or the new pair; the next run leaves no temporary', async () => {
    assertOk(runCli(dir, scoreArgs(1)));
    let old = scoreState(scoresFile());
    let seed = 1;
    const points = [
      'score:diversity-checker-saved',
      'score:quality-checker-saved',
      'score:checkers-staged',
      'score:generation-renamed',
      'before-rename:s.scores.jsonl',
      'score:committed',
    ];
    const seen = new Set<string>();
    for (const point of points) {
      const next = seed === 1 ? 2 : 1;
      await killAt(dir, scoreArgs(next), point);
      seen.add(`${point}: ${assertOldOrNew(scoreState(scoresFile()), old, next)}`);
      // The next run (same seed) completes and sweeps what the killed one left.
      assertOk(runCli(dir, scoreArgs(next)));
      old = scoreState(scoresFile());
      assert.equal(old.seed, next);
      assert.deepEqual(temporaries(dir), [], `no temporary survives the run after a kill at ${point}`);
      assertCheckersFolderClean(checkersDir(), old);
      seed = next;
    }
    // Killed before the commit: old; after it: new.
    assert.ok(seen.has('before-rename:s.scores.jsonl: old') && seen.has('score:committed: new'), [...seen].join('\n'));
  });

  test('training: killed mid-run or before the run folder is renamed, no run folder exists; the next run leaves no temporary', async () => {
    const args = ['train', '--synthetic', 'syn.jsonl', '--loss', 'ce', '--out', 'runs', '--name', 'r1'];
    for (const point of ['train:epoch#1', 'before-rename:r1']) {
      await killAt(dir, args, point);
      assert.ok(!fs.existsSync(path.join(dir, 'runs', 'r1')), `no run folder after a kill at ${point}`);
      assertOk(runCli(dir, args));
      for (const name of ['metrics.json', 'weights.jsonl', 'config.json', 'train-log.jsonl', 'model/model.onnx', 'model/config.json']) assert.ok(fs.existsSync(path.join(dir, 'runs', 'r1', name)), name);
      assert.deepEqual(temporaries(dir), []);
      fs.rmSync(path.join(dir, 'runs', 'r1'), { recursive: true });
    }
  });

  test('training that scores first: killed at the scores commit, scores and checkers stay a pair', async () => {
    // A synthetic file that grows between runs, so the training job scores it again.
    const rows = fs.readFileSync(path.join(dir, 'syn.jsonl'), 'utf8').split('\n');
    const grow = path.join(dir, 'grow.jsonl');
    fs.writeFileSync(grow, rows.slice(0, 250).join('\n') + '\n');
    const args = (seed: number, name: string): string[] => [
      'train', '--synthetic', 'grow.jsonl', '--loss', 'imp', '--real', 'real.jsonl', '--out', 'runs', '--name', name, '--seed', String(seed),
    ];
    const scores = path.join(dir, 'grow.scores.jsonl');
    assertOk(runCli(dir, args(1, 'r2')));
    const old = scoreState(scores);
    fs.writeFileSync(grow, rows.join('\n'));
    await killAt(dir, args(2, 'r3'), 'before-rename:grow.scores.jsonl');
    assert.equal(assertOldOrNew(scoreState(scores), old, 2), 'old');
    assert.ok(!fs.existsSync(path.join(dir, 'runs', 'r3')));
    assertOk(runCli(dir, args(2, 'r3')));
    assert.equal(assertOldOrNew(scoreState(scores), old, 2), 'new');
    assertCheckersFolderClean(path.join(dir, 'grow.checkers'), scoreState(scores));
    assert.deepEqual(temporaries(dir), []);
  });

  test('curating: killed anywhere, each file is old or new, and a new curated file always has its new rejected file', async () => {
    const args = (keep: string): string[] => ['curate', '--synthetic', 'syn.jsonl', '--scores', 'out/s.scores.jsonl', '--out', 'c.jsonl', '--keep-fraction', keep, '--force'];
    const curated = path.join(dir, 'c.jsonl');
    const rejected = path.join(dir, 'c.rejected.jsonl');
    assertOk(runCli(dir, args('0.5')));
    const old = { curated: hash(curated), rejected: hash(rejected) };
    assertOk(runCli(dir, args('0.7')));
    const fresh = { curated: hash(curated), rejected: hash(rejected) };
    assert.notEqual(old.curated, fresh.curated);
    const seen: string[] = [];
    for (const point of ['curate:staged', 'before-rename:c.rejected.jsonl', 'curate:rejected-committed', 'before-rename:c.jsonl']) {
      assertOk(runCli(dir, args('0.5')));
      await killAt(dir, args('0.7'), point);
      const now = { curated: hash(curated), rejected: hash(rejected) };
      const curatedIs = now.curated === old.curated ? 'old' : now.curated === fresh.curated ? 'new' : 'partial';
      const rejectedIs = now.rejected === old.rejected ? 'old' : now.rejected === fresh.rejected ? 'new' : 'partial';
      assert.notEqual(curatedIs, 'partial', point);
      assert.notEqual(rejectedIs, 'partial', point);
      if (curatedIs === 'new') assert.equal(rejectedIs, 'new', `${point}: the curated file is the commit`);
      seen.push(`${point}: ${curatedIs}/${rejectedIs}`);
      assertOk(runCli(dir, args('0.7')));
      assert.deepEqual(temporaries(dir), [], `no temporary survives the run after a kill at ${point}`);
    }
    assert.deepEqual(seen, ['curate:staged: old/old', 'before-rename:c.rejected.jsonl: old/old', 'curate:rejected-committed: old/new', 'before-rename:c.jsonl: old/new']);
  });
});

describe('Ctrl-C', () => {
  test('a second Ctrl-C exits at once and still leaves no temporary, no new generation and the old scores', async () => {
    const scoresFile = path.join(dir, 'out', 's.scores.jsonl');
    if (!fs.existsSync(scoresFile)) assertOk(runCli(dir, ['score', '--synthetic', 'syn.jsonl', '--real', 'real.jsonl', '--out', 'out/s.scores.jsonl']));
    const old = scoreState(scoresFile);
    const next = old.seed === 1 ? 2 : 1;
    const point = 'before-rename:s.scores.jsonl';
    const running = startCli(dir, ['score', '--synthetic', 'syn.jsonl', '--real', 'real.jsonl', '--out', 'out/s.scores.jsonl', '--seed', String(next)], point);
    await running.waitFor(`DIMP_CURATOR_PAUSED ${point}`);
    running.child.kill('SIGINT');
    await running.waitFor('cancelling');
    running.child.kill('SIGINT');
    const exit = await running.exited;
    assert.equal(exit.code, 130, exit.stderr);
    assert.deepEqual(temporaries(dir), []);
    assert.equal(assertOldOrNew(scoreState(scoresFile), old, next), 'old');
    assertCheckersFolderClean(path.join(dir, 'out', 's.checkers'), old);
  });

  test('Ctrl-C while the checkers train leaves no folder behind (not even an empty out/)', async () => {
    const before = tree(dir);
    const point = 'score:diversity-checker-saved';
    const running = startCli(dir, ['score', '--synthetic', 'syn.jsonl', '--real', 'real.jsonl', '--out', 'fresh/deeper/x.scores.jsonl'], point);
    await running.waitFor(`DIMP_CURATOR_PAUSED ${point}`);
    assert.ok(fs.existsSync(path.join(dir, 'fresh')));
    running.child.kill('SIGINT');
    const exit = await running.exited;
    assert.equal(exit.code, 130, exit.stderr);
    assert.deepEqual(tree(dir), before);
  });

  test('Ctrl-C while the classifier trains leaves no runs folder behind', async () => {
    const before = tree(dir);
    const point = 'train:epoch#1';
    const running = startCli(dir, ['train', '--synthetic', 'syn.jsonl', '--loss', 'ce', '--out', 'fresh-runs'], point);
    await running.waitFor(`DIMP_CURATOR_PAUSED ${point}`);
    running.child.kill('SIGINT');
    const exit = await running.exited;
    assert.equal(exit.code, 130, exit.stderr);
    assert.deepEqual(tree(dir), before);
  });
});
