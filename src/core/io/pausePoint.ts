/**
 * Named pause points for the crash-consistency tests. When `DIMP_CURATOR_TEST_PAUSE_AT` names a point
 * (`name`, or `name#N` for its N-th pass), the process writes `DIMP_CURATOR_PAUSED <value>` on stderr when
 * it gets there and then waits for ever, so a test can kill it at exactly that point, with no timing
 * involved. Without the variable (always, outside tests) a pause point does nothing.
 */

/** The environment variable that names the point to pause at. */
export const PAUSE_AT_VARIABLE = 'DIMP_CURATOR_TEST_PAUSE_AT';

/** The line written on stderr at the pause. */
export const PAUSED_MARKER = 'DIMP_CURATOR_PAUSED';

const passes = new Map<string, number>();

/**
 * Pauses for ever when the environment names this point (see the module's comment); else returns at once.
 * With a `signal`, the pause ends when it fires (a first Ctrl-C then cancels the job as it would anywhere).
 */
export async function pausePoint(name: string, signal?: AbortSignal): Promise<void> {
  const wanted = process.env[PAUSE_AT_VARIABLE];
  if (!wanted) return;
  const pass = (passes.get(name) ?? 0) + 1;
  passes.set(name, pass);
  if (wanted !== name && wanted !== `${name}#${pass}`) return;
  process.stderr.write(`${PAUSED_MARKER} ${wanted}\n`);
  // A timer keeps the event loop (and so the process) alive; signals are still handled while it waits.
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => undefined, 60_000);
    signal?.addEventListener('abort', () => {
      clearInterval(timer);
      resolve();
    });
  });
}
