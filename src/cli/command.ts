import { parseArgs } from 'node:util';
import type { LoadedConfig } from '../core/config';
import { DimpError } from '../core/errors';
import type { DeviceChoice } from '../core/runtime/onnxRuntime';
import { DEVICE_CHOICES } from '../core/runtime/onnxRuntime';
import { resolveDevice } from '../core/jobs/settings';
import type { Reporter } from './reporter';

/** One option of a command. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  description: string;
  /** Placeholder shown in help, e.g. FILE. */
  value?: string;
  short?: string;
}

/** What a command's `run` gets. */
export interface CommandContext {
  values: Record<string, string | boolean | undefined>;
  reporter: Reporter;
  signal: AbortSignal;
  project: LoadedConfig;
}

/** A CLI subcommand. */
export interface Command {
  name: string;
  summary: string;
  /** Extra help text: examples and notes. */
  details: string;
  options: Record<string, OptionSpec>;
  run(context: CommandContext): Promise<number>;
}

/** Options every command accepts. */
export const COMMON_OPTIONS: Record<string, OptionSpec> = {
  json: { type: 'boolean', description: 'print events and the result as JSON lines on stdout' },
  config: { type: 'string', value: 'FILE', description: 'project config (default: ./dimp.config.json when present)' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
};

/** Help text of a command, generated from its options. */
export function commandHelp(command: Command): string {
  const all = { ...command.options, ...COMMON_OPTIONS };
  const rows = Object.entries(all).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.value ? ` ${spec.value}` : ''}`;
    return `  ${flag.padEnd(30)} ${spec.description}`;
  });
  return `Usage: dimp-curator ${command.name} [options]\n\n${command.summary}\n\nOptions:\n${rows.join('\n')}\n${command.details ? `\n${command.details}\n` : ''}`;
}

/** Parses argv for a command; unknown flags are usage errors. */
export function parseCommandArgs(command: Command, argv: string[]): Record<string, string | boolean | undefined> {
  const all = { ...command.options, ...COMMON_OPTIONS };
  const options = Object.fromEntries(Object.entries(all).map(([name, spec]) => [name, { type: spec.type, ...(spec.short ? { short: spec.short } : {}) }]));
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    if (positionals.length > 0) throw new DimpError('usage', `unexpected argument "${positionals[0]}" (see dimp-curator ${command.name} --help)`);
    return values as Record<string, string | boolean | undefined>;
  } catch (error) {
    if (error instanceof DimpError) throw error;
    throw new DimpError('usage', `${(error as Error).message.split('\n')[0]} (see dimp-curator ${command.name} --help)`);
  }
}

/** A string flag's value. */
export function stringFlag(values: CommandContext['values'], name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

/** A numeric flag, validated against a range. */
export function numberFlag(values: CommandContext['values'], name: string, range: { min?: number; max?: number; integer?: boolean } = {}): number | undefined {
  const text = stringFlag(values, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  const bad =
    text.trim() === '' ||
    !Number.isFinite(value) ||
    (range.integer && !Number.isInteger(value)) ||
    (range.min !== undefined && value < range.min) ||
    (range.max !== undefined && value > range.max);
  if (bad) {
    const bounds = [range.min !== undefined && `≥ ${range.min}`, range.max !== undefined && `≤ ${range.max}`].filter(Boolean).join(' and ');
    throw new DimpError('usage', `--${name} must be ${range.integer ? 'an integer' : 'a number'}${bounds ? ` ${bounds}` : ''}, got "${text}"`);
  }
  return value;
}

/** The --device flag (or the config's), validated. */
export function deviceFlag(context: CommandContext): DeviceChoice {
  const device = resolveDevice(context.project.config, stringFlag(context.values, 'device') as DeviceChoice | undefined);
  if (!DEVICE_CHOICES.includes(device as DeviceChoice)) throw new DimpError('usage', `--device must be one of ${DEVICE_CHOICES.join(', ')}, got "${device}"`);
  return device as DeviceChoice;
}

/** The --labels flag (comma-separated) or the config's label list. */
export function labelsFlag(context: CommandContext): string[] | undefined {
  const text = stringFlag(context.values, 'labels');
  if (text !== undefined) return text.split(',').map((s) => s.trim()).filter(Boolean);
  return context.project.config.labels;
}

/** Options of every command that reads JSON Lines data. */
export const FIELD_OPTIONS: Record<string, OptionSpec> = {
  'text-field': { type: 'string', value: 'NAME', description: 'field holding the text (two names, comma-separated, for a pair: premise,hypothesis); default: detected' },
  'label-field': { type: 'string', value: 'NAME', description: 'field holding the label; default: detected (label, labels, class, target)' },
  'max-row-bytes': { type: 'string', value: 'N', description: 'longest line (row) read, in bytes; longer lines are reported and skipped (default 1048576, or "maxRowBytes" in dimp.config.json)' },
};

/** Options shared by commands that read data and run models. */
export const DATA_OPTIONS: Record<string, OptionSpec> = {
  ...FIELD_OPTIONS,
  labels: { type: 'string', value: 'A,B,…', description: 'label names in class-index order (so 0, "0" and the name line up)' },
  device: { type: 'string', value: 'DEVICE', description: `execution provider: ${DEVICE_CHOICES.join(' | ')} (default auto: CUDA when installed, else CPU; a provider that cannot start falls back to CPU with a warning)` },
};
