import { loadProjectConfig } from '../core/config';
import { DimpError, ExitCode } from '../core/errors';
import { removeLiveTemporariesSync } from '../core/io/atomic';
import { commandHelp, parseCommandArgs, type Command } from './command';
import { curateCommand } from './commands/curate';
import { demoCommand } from './commands/demo';
import { exportCommand } from './commands/export';
import { evalCommand } from './commands/eval';
import { scoreCommand } from './commands/score';
import { trainCommand } from './commands/train';
import { Reporter } from './reporter';

const COMMANDS: readonly Command[] = [scoreCommand, trainCommand, curateCommand, exportCommand, evalCommand, demoCommand];

const VERSION = '0.1.0';

function mainHelp(): string {
  return (
    `dimp-curator ${VERSION} — weight and curate LLM-generated training data (IMP / DIMP, Kuo et al., ICLR 2025)\n\n` +
    'Usage: dimp-curator <command> [options]\n\nCommands:\n' +
    COMMANDS.map((c) => `  ${c.name.padEnd(8)} ${c.summary}`).join('\n') +
    '\n\nRun `dimp-curator <command> --help` for a command\'s options.\n' +
    'Exit codes: 0 ok · 1 failure · 2 usage · 3 bad input data · 4 bad model · 5 training diverged · 6 cannot write an output · 130 cancelled.\n'
  );
}

function exitCodeOf(error: unknown): number {
  if (!(error instanceof DimpError)) return ExitCode.failure;
  return ExitCode[error.kind];
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(mainHelp());
    return name ? ExitCode.ok : ExitCode.usage;
  }
  if (name === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return ExitCode.ok;
  }
  const command = COMMANDS.find((c) => c.name === name);
  const json = rest.includes('--json');
  const reporter = new Reporter(json);
  if (!command) {
    reporter.error(`unknown command "${name}"; commands: ${COMMANDS.map((c) => c.name).join(', ')}`, ExitCode.usage);
    return ExitCode.usage;
  }
  const controller = new AbortController();
  const onSignal = (): void => {
    if (controller.signal.aborted) {
      // A second Ctrl-C does not wait for the clean-up: the temporaries being written go now, synchronously.
      removeLiveTemporariesSync();
      process.exit(ExitCode.cancelled);
    }
    reporter.info('\ncancelling… (press Ctrl-C again to quit at once)');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const values = parseCommandArgs(command, rest);
    if (values.help) {
      process.stdout.write(commandHelp(command));
      return ExitCode.ok;
    }
    const project = await loadProjectConfig(typeof values.config === 'string' ? values.config : undefined, process.cwd());
    return await command.run({ values, reporter, signal: controller.signal, project });
  } catch (error) {
    const code = exitCodeOf(error);
    reporter.error(code === ExitCode.cancelled ? 'cancelled; no partial outputs were left' : (error as Error).message, code);
    if (code === ExitCode.failure && !(error instanceof DimpError) && process.env.DIMP_DEBUG) process.stderr.write(`${(error as Error).stack}\n`);
    return code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
