/** Exit codes shared by the CLI and reported in machine-readable output. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  badInput: 3,
  badModel: 4,
  diverged: 5,
  /** An output cannot be written: a read-only folder, a symlink loop, a file where a folder is needed, a full disk. */
  cannotWrite: 6,
  cancelled: 130,
} as const;

/** Which kind of user-actionable failure an error is. */
export type DimpErrorKind = 'usage' | 'badInput' | 'badModel' | 'diverged' | 'cannotWrite' | 'cancelled';

/** An error the user can act on: what failed, where (file and line when known), and what to do. */
export class DimpError extends Error {
  readonly kind: DimpErrorKind;
  readonly file: string | undefined;
  readonly line: number | undefined;

  constructor(kind: DimpErrorKind, message: string, where: { file?: string; line?: number } = {}) {
    super(where.file ? `${where.file}${where.line ? `:${where.line}` : ''}: ${message}` : message);
    this.name = 'DimpError';
    this.kind = kind;
    this.file = where.file;
    this.line = where.line;
  }
}

/** The error thrown when an `AbortSignal` stops work; outputs are cleaned up before it propagates. */
export function cancelledError(): DimpError {
  return new DimpError('cancelled', 'cancelled');
}

/** Throws the cancellation error when `signal` has fired. */
export function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancelledError();
}

/** Resolves on the next turn of the event loop, so timers and signals (Ctrl-C, Cancel) get to run. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
