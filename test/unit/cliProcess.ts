/**
 * The real CLI (the compiled `out/src/cli/main.js`) as a child process, for tests that kill it or send it
 * signals at named pause points (`DIMP_CURATOR_TEST_PAUSE_AT`, src/core/io/pausePoint.ts): no timing. And
 * checks that a scores file and the checkers it names are whole and belong together.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from './helpers';

export const CLI = path.join(REPO_ROOT, 'out', 'src', 'cli', 'main.js');

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunningCli {
  child: ChildProcess;
  /** Resolves when stderr has a line containing `text`; rejects when the process exits first. */
  waitFor(text: string): Promise<void>;
  exited: Promise<Exit>;
}

function environment(pauseAt: string | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ORT_DISABLE_TELEMETRY: '1' };
  delete env.DIMP_CURATOR_TEST_PAUSE_AT;
  if (pauseAt) env.DIMP_CURATOR_TEST_PAUSE_AT = pauseAt;
  return env;
}

/** Starts the CLI in `cwd`, pausing at `pauseAt` when given. */
export function startCli(cwd: string, args: readonly string[], pauseAt?: string): RunningCli {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env: environment(pauseAt), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    for (const waiter of [...waiters]) {
      if (stderr.includes(waiter.text)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  });
  const exited = new Promise<Exit>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return {
    child,
    exited,
    waitFor: (text) =>
      new Promise<void>((resolve, reject) => {
        if (stderr.includes(text)) return resolve();
        waiters.push({ text, resolve });
        void exited.then((exit) => reject(new Error(`the CLI exited (${exit.code ?? exit.signal}) before printing "${text}"\nstdout: ${exit.stdout}\nstderr: ${exit.stderr}`)));
      }),
  };
}

/** Runs the CLI to its end. */
export function runCli(cwd: string, args: readonly string[]): Exit {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd, env: environment(undefined), encoding: 'utf8', timeout: 120_000 });
  return { code: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

/** Starts the CLI, waits until it pauses at `point`, and kills it with SIGKILL there. */
export async function killAt(cwd: string, args: readonly string[], point: string): Promise<void> {
  const running = startCli(cwd, args, point);
  await running.waitFor(`DIMP_CURATOR_PAUSED ${point}`);
  running.child.kill('SIGKILL');
  const exit = await running.exited;
  if (exit.signal !== 'SIGKILL') throw new Error(`expected the CLI to die of SIGKILL, got ${exit.code ?? exit.signal}`);
}

/** Every path under `dir` (relative, sorted), folders with a trailing slash. */
export function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (sub: string): void => {
    for (const entry of fs.readdirSync(path.join(dir, sub), { withFileTypes: true })) {
      const relative = path.join(sub, entry.name);
      if (entry.isDirectory()) {
        out.push(relative + '/');
        walk(relative);
      } else out.push(relative);
    }
  };
  walk('');
  return out.sort();
}

/** The temporaries (`.<name>.tmp-<pid>-…`) anywhere under `dir`. */
export function temporaries(dir: string): string[] {
  return tree(dir).filter((p) => /(^|\/)\.[^/]+\.tmp-\d+-/.test(p));
}

/** A small labelled data set for the CLI tests: rows of the bundled sample, and a config that trains fast. */
export function writeSmallProject(dir: string, rows = { synthetic: 300, real: 90 }): void {
  const sample = (name: string, n: number): string => fs.readFileSync(path.join(REPO_ROOT, 'sample', name), 'utf8').split('\n').slice(0, n).join('\n') + '\n';
  fs.writeFileSync(path.join(dir, 'syn.jsonl'), sample('synthetic.jsonl', rows.synthetic));
  fs.writeFileSync(path.join(dir, 'real.jsonl'), sample('real_train.jsonl', rows.real));
  fs.writeFileSync(
    path.join(dir, 'dimp.config.json'),
    JSON.stringify({ labels: ['negative', 'neutral', 'positive'], checkers: { epochs: 3 }, training: { epochs: 2 } }, null, 2) + '\n',
  );
}

const hash = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** What a scores file and its checkers are: checked to be whole and to belong together. */
export interface ScoreState {
  scoresHash: string;
  /** The seed the checkers the scores name were trained with (both agree). */
  seed: number;
  /** The checker folders the scores name, with a hash of each file in them. */
  checkers: Record<string, string>;
}

export function scoreState(scoresFile: string): ScoreState {
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
export function assertOldOrNew(now: ScoreState, old: ScoreState, newSeed: number): 'old' | 'new' {
  if (now.scoresHash === old.scoresHash) {
    assert.deepEqual(now.checkers, old.checkers, 'old scores keep their old checkers, byte for byte');
    return 'old';
  }
  assert.equal(now.seed, newSeed, 'new scores come with the new checkers');
  return 'new';
}

