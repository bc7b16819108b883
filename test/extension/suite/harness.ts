import { appendFileSync } from 'node:fs';

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
