import type { CoreEvent } from '../protocol/events';

/**
 * Prints progress for people (a redrawn bar on a terminal, plain lines otherwise) or, with `--json`,
 * every event as one JSON line on stdout. Results go to stdout; progress and warnings to stderr.
 */
export class Reporter {
  private barShown = false;
  private lastStage = '';

  constructor(
    readonly json: boolean,
    private readonly stderr: NodeJS.WriteStream = process.stderr,
    private readonly stdout: NodeJS.WriteStream = process.stdout,
  ) {}

  /** Handles a core event. */
  readonly onEvent = (event: CoreEvent): void => {
    if (this.json) {
      this.stdout.write(JSON.stringify(event) + '\n');
      return;
    }
    switch (event.type) {
      case 'log':
        this.line(`${event.level === 'info' ? '' : `${event.level}: `}${event.message}`);
        break;
      case 'score-progress':
        if ((event.stage === 'score' || event.stage === 'embed') && event.total > 0) this.bar(event.done / event.total, event.message);
        else if (event.message !== this.lastStage) this.line(event.message);
        this.lastStage = event.message;
        break;
      case 'train-start':
        this.line(`training (${event.loss}) on ${event.rows} rows, ${event.epochs} epochs${(event.threads ?? 1) > 1 ? `, ${event.threads} threads (Hogwild)` : ''}`);
        break;
      case 'train-progress':
        this.bar(
          event.step / event.totalSteps,
          `epoch ${event.epoch} · loss ${event.loss.toFixed(4)} · ${Math.round(event.rowsPerSecond).toLocaleString('en-US')} rows/s · ETA ${event.etaSeconds.toFixed(0)} s`,
        );
        break;
      case 'train-epoch': {
        const validation = event.validation ? ` · val acc ${(event.validation.accuracy * 100).toFixed(1)}% F1 ${(event.validation.macroF1 * 100).toFixed(1)}%` : '';
        this.line(`epoch ${event.epoch}: loss ${event.trainLoss.toFixed(4)} (CE ${event.trainCrossEntropy.toFixed(4)})${validation} · mean weight ${event.weights.mean.toFixed(3)}`);
        break;
      }
      case 'train-done':
        this.line(`best epoch ${event.bestEpoch}${event.validation ? ` (val acc ${(event.validation.accuracy * 100).toFixed(1)}%)` : ''}, ${event.seconds.toFixed(1)} s`);
        break;
    }
  };

  /** A human-readable line (suppressed in --json mode; use `result` there). */
  info(message: string): void {
    if (!this.json) this.line(message);
  }

  /** The command's result: a JSON object in --json mode, else the text. */
  result(text: string, value: unknown): void {
    this.clearBar();
    if (this.json) this.stdout.write(JSON.stringify({ type: 'result', ...(value as object) }) + '\n');
    else this.stdout.write(text.endsWith('\n') ? text : text + '\n');
  }

  /** An error, in the chosen format. */
  error(message: string, exitCode: number): void {
    this.clearBar();
    if (this.json) this.stdout.write(JSON.stringify({ type: 'error', message, exitCode }) + '\n');
    else this.stderr.write(`error: ${message}\n`);
  }

  private line(message: string): void {
    this.clearBar();
    this.stderr.write(message + '\n');
  }

  private bar(fraction: number, label: string): void {
    if (!this.stderr.isTTY) return;
    const width = 24;
    const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
    const text = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${label}`;
    const columns = this.stderr.columns ?? 100;
    this.stderr.write(`\r${text.slice(0, columns - 1).padEnd(Math.min(columns - 1, text.length + 2))}`);
    this.barShown = true;
  }

  private clearBar(): void {
    if (!this.barShown) return;
    this.stderr.write(`\r${' '.repeat((this.stderr.columns ?? 100) - 1)}\r`);
    this.barShown = false;
  }
}
