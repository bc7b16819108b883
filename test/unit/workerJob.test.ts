import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startWorkerJob, WorkerJobError } from '../../src/core/runtime/workerJob';
import { temporaryFolder } from './helpers';

// The primitive as compiled by `tsc -p .`; each test worker is a small script that serves one job with it.
const PRIMITIVE = path.resolve(__dirname, '..', '..', 'src', 'core', 'runtime', 'workerJob.js');
const ERRORS = path.resolve(__dirname, '..', '..', 'src', 'core', 'errors.js');

let dir: string;
let cleanup: () => void;

before(() => ({ dir, cleanup } = temporaryFolder()));
after(() => cleanup());

/** Writes a worker script whose job is `body` (an async function of `(data, { signal, emit })`). */
function workerScript(name: string, body: string): string {
  const file = path.join(dir, `${name}.js`);
  fs.writeFileSync(
    file,
    `const { serveWorkerJob } = require(${JSON.stringify(PRIMITIVE)});\nconst { DimpError, cancelledError } = require(${JSON.stringify(ERRORS)});\nserveWorkerJob(${body});\n`,
  );
  return file;
}

describe('the worker-job primitive', () => {
  test('events arrive in order, then the result, with transferred buffers intact', async () => {
    const script = workerScript('ok', `async (data, { emit }) => {
      for (let i = 0; i < data.n; i++) emit({ i });
      const values = Float32Array.from([1.5, 2.5]);
      return { result: { total: data.n, values }, transfer: [values.buffer] };
    }`);
    const events: { i: number }[] = [];
    const result = await startWorkerJob<{ n: number }, { i: number }, { total: number; values: Float32Array }>(script, { n: 5 }, { onEvent: (e) => events.push(e) }).done;
    assert.deepEqual(events.map((e) => e.i), [0, 1, 2, 3, 4]);
    assert.equal(result.total, 5);
    assert.deepEqual([...result.values], [1.5, 2.5]);
  });

  test("a user-actionable error keeps its kind and message; a bug is 'internal' with its stack", async () => {
    const bad = workerScript('bad', `async () => { throw new DimpError('badInput', 'no rows', { file: 'x.jsonl', line: 3 }); }`);
    await assert.rejects(startWorkerJob(bad, {}).done, (error: unknown) => error instanceof WorkerJobError && error.kind === 'badInput' && error.message === 'x.jsonl:3: no rows');
    const bug = workerScript('bug', `async () => { null.property; }`);
    await assert.rejects(startWorkerJob(bug, {}).done, (error: unknown) => error instanceof WorkerJobError && error.kind === 'internal' && /TypeError[\s\S]*at /.test(error.message));
  });

  test('cancel aborts the job’s signal; a job that stops in time is not killed', async () => {
    const script = workerScript('cancellable', `async (data, { signal, emit }) => {
      emit('started');
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
      throw cancelledError();
    }`);
    let killed = false;
    const job = startWorkerJob<object, string, never>(script, {}, { graceMs: 60_000, onKilled: async () => void (killed = true), onEvent: () => job.cancel() });
    await assert.rejects(job.done, (error: unknown) => error instanceof WorkerJobError && error.kind === 'cancelled');
    assert.equal(job.cancelRequested, true);
    assert.equal(killed, false, 'the worker cleaned up itself');
  });

  test('a worker that ignores cancel is terminated after the grace period, and onKilled cleans up before done settles', async () => {
    const script = workerScript('stubborn', `async (data, { emit }) => { emit('started'); await new Promise(() => setInterval(() => undefined, 1000)); }`);
    const order: string[] = [];
    const job = startWorkerJob<object, string, never>(script, {}, { graceMs: 50, onKilled: async () => void order.push('killed'), onEvent: () => job.cancel() });
    await assert.rejects(job.done.finally(() => order.push('settled')), (error: unknown) => error instanceof WorkerJobError && error.kind === 'cancelled');
    assert.deepEqual(order, ['killed', 'settled']);
  });

  test("a worker that exits without a result fails as 'internal' and is cleaned up after", async () => {
    const script = workerScript('exits', `async () => { process.exit(7); }`);
    let killed = false;
    await assert.rejects(startWorkerJob(script, {}, { name: 'the test worker', onKilled: async () => void (killed = true) }).done, (error: unknown) => error instanceof WorkerJobError && error.kind === 'internal' && /the test worker stopped unexpectedly \(exit code 7\)/.test(error.message));
    assert.equal(killed, true);
  });
});
