import { appendFileSync } from 'node:fs';
import * as vscode from 'vscode';

/** One extension-host test: a name and an async body that throws on failure. */
export interface ExtensionTest {
  name: string;
  body: () => Promise<void>;
}

const tests: ExtensionTest[] = [];

/** Registers a test; tests run in the order they are registered, one after another. */
export function test(name: string, body: () => Promise<void>): void {
  tests.push({ name, body });
}

/**
 * Runs the registered tests and appends one JSON line per test to the file the runner watches
 * (`DIMP_TEST_RESULTS`), then `{"type":"end"}`. A failing test does not stop the ones after it.
 */
export async function runRegisteredTests(): Promise<void> {
  const resultsFile = process.env.DIMP_TEST_RESULTS;
  if (!resultsFile) throw new Error('DIMP_TEST_RESULTS is not set: run these tests through npm run test:extension');
  const report = (event: object): void => appendFileSync(resultsFile, JSON.stringify(event) + '\n');
  for (const { name, body } of tests) {
    const started = Date.now();
    try {
      await body();
      report({ type: 'test', name, ok: true, ms: Date.now() - started });
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      report({ type: 'test', name, ok: false, ms: Date.now() - started, error: message });
    }
  }
  report({ type: 'end' });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `probe` until it returns something other than undefined/false. The limit fails a hung test; a busy
 * machine only makes the wait longer, so it is generous.
 */
export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

/** The `dimp` task named `label` (from tasks.json), once VS Code has read the file. */
export async function taskNamed(label: string): Promise<vscode.Task> {
  return waitFor(`the dimp task "${label}" from tasks.json`, async () => (await vscode.tasks.fetchTasks({ type: 'dimp' })).find((t) => t.name === label), 30_000);
}

/** Runs a task and resolves when it has ended. */
export async function runTask(task: vscode.Task): Promise<{ execution: vscode.TaskExecution; ended: Promise<void> }> {
  let resolveEnded: () => void = () => undefined;
  const ended = new Promise<void>((resolve) => (resolveEnded = resolve));
  const listener = vscode.tasks.onDidEndTask((event) => {
    if (event.execution.task.name === task.name) {
      listener.dispose();
      resolveEnded();
    }
  });
  const execution = await vscode.tasks.executeTask(task);
  return { execution, ended };
}
