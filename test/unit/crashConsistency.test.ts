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
import { DimpError } from '../../src/core/errors';
import type { CoreEvent } from '../../src/core/events';
import { runScoreJob } from '../../src/core/jobs/scoreJob';
import { checkerSettingsFrom } from '../../src/core/train/ngramTraining';
import { temporaryFolder } from './helpers';
import { assertOldOrNew, killAt, runCli, scoreState, startCli, temporaries, tree, writeSmallProject, type Exit, type ScoreState } from './cliProcess';

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

describe('a failure while publishing', () => {
  test('the scores file cannot be written after the checkers were trained: the old scores keep their old checkers', async () => {
    const { dir: work, cleanup: done } = temporaryFolder();
    try {
      writeSmallProject(work);
      const spec = (seed: number) => ({
        synthetic: { path: path.join(work, 'syn.jsonl') },
        real: { path: path.join(work, 'real.jsonl') },
        labels: ['negative', 'neutral', 'positive'],
        scoresFile: path.join(work, 'out', 's.scores.jsonl'),
        checkersDir: path.join(work, 'ck'),
        checkerSettings: checkerSettingsFrom({ epochs: 3 }),
        seed,
        guards: { epsilon: 1e-6, maxWeight: null },
        device: 'cpu' as const,
      });
      await runScoreJob(spec(1));
      const old = scoreState(spec(1).scoresFile);
      const out = path.join(work, 'out');
      // Once both checkers are trained (the rows are being scored), the scores' folder becomes a file.
      let broken = false;
      const onEvent = (event: CoreEvent): void => {
        if (event.type === 'score-progress' && event.stage === 'score' && !broken) {
          broken = true;
          fs.renameSync(out, `${out}-moved`);
          fs.writeFileSync(out, 'in the way');
        }
      };
      await assert.rejects(runScoreJob(spec(2), { onEvent }), (error: unknown) => error instanceof DimpError && error.kind === 'cannotWrite' && error.file === spec(2).scoresFile);
      assert.ok(broken);
      fs.rmSync(out);
      fs.renameSync(`${out}-moved`, out);
      assert.equal(assertOldOrNew(scoreState(spec(1).scoresFile), old, 2), 'old');
      assertCheckersFolderClean(path.join(work, 'ck'), old);
      assert.deepEqual(temporaries(work), []);
    } finally {
      done();
    }
  });
});
