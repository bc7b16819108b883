/**
 * The PyTorch engine: the same losses on the Hugging Face Trainer, launched by `accelerate launch` (whose own
 * config decides GPUs and machines) as a child process group. The Python side (python/dimp_curator, run as
 * `-m dimp_curator.train`) reads the data and the scores file by row id, trains, and writes the run folder's
 * files into a staging folder this module owns and publishes whole; its progress events arrive as JSON lines
 * on its stdout and are relayed to the same sink as the built-in trainer's. Cancelling stops the whole group
 * and leaves no partial run folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import type { CoreEvent, EventSink, LossKind } from '../events';
import type { Dataset } from '../data/dataset';
import type { LabelMap } from '../data/labels';
import { cancelledError, DimpError } from '../errors';
import { pathExists, writeFolderAtomic } from '../io/atomic';
import type { WeightGuards } from '../weighting/weights';
import { readRunMetrics } from './runFolder';
import type { RunSummary } from './run';

/** How to train on the PyTorch engine; recorded (with the versions in use) in the run's `config.json`. */
export interface PytorchEngineSettings {
  /** The Python interpreter (a virtual environment's `bin/python`) with torch, transformers and accelerate. */
  python: string;
  /** Hugging Face model folder (or hub name, when the machine reaches the hub) to fine-tune. */
  model: string;
  epochs: number;
  /** Rows per device per step. */
  batchSize: number;
  learningRate: number;
  /** Tokens per row, special tokens included. */
  maxLength: number;
  weightDecay: number;
  /** Share of the steps the learning rate warms up over, 0–1. */
  warmupRatio: number;
  /** `accelerate`: `accelerate launch` (its config, or `launchArgs`, decides processes); `python`: one process. */
  launcher: 'accelerate' | 'python';
  /** Extra arguments of `accelerate launch`, e.g. `--num_processes 2 --cpu` or `--config_file FILE`. */
  launchArgs: string[];
}

/** Defaults of the PyTorch engine (BERT-style fine-tuning as in the paper's setting). */
export const DEFAULT_PYTORCH_SETTINGS: Omit<PytorchEngineSettings, 'python' | 'model'> = {
  epochs: 3,
  batchSize: 32,
  learningRate: 2e-5,
  maxLength: 128,
  weightDecay: 0,
  warmupRatio: 0,
  launcher: 'accelerate',
  launchArgs: [],
};

/** What a Python interpreter has: each package's version, or null when it cannot be imported. */
export interface PythonProbe {
  python: string;
  version: string;
  torch: string | null;
  transformers: string | null;
  accelerate: string | null;
  datasets: string | null;
  /** Whether a CUDA device is visible to torch. */
  cuda: boolean;
}

const PROBE_SCRIPT = [
  'import json, sys, importlib',
  'out = {"version": sys.version.split()[0], "cuda": False}',
  'for name in ("torch", "transformers", "accelerate", "datasets"):',
  '    try:',
  '        out[name] = importlib.import_module(name).__version__',
  '    except Exception:',
  '        out[name] = None',
  'if out["torch"]:',
  '    import torch',
  '    out["cuda"] = bool(torch.cuda.is_available())',
  'print(json.dumps(out))',
].join('\n');

/** Runs a quick `python -c` probe; a missing or broken interpreter is a usage error naming it. */
export async function probePython(python: string, signal?: AbortSignal): Promise<PythonProbe> {
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string; error?: Error }>((resolve) => {
    let out = '';
    let err = '';
    const child = spawn(python, ['-c', PROBE_SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'], signal, env: { ...process.env, PYTHONWARNINGS: 'ignore' } });
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    child.on('error', (error) => resolve({ code: null, stdout: out, stderr: (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : error.message, error }));
    child.on('close', (exitCode) => resolve({ code: exitCode, stdout: out, stderr: err }));
  });
  if (signal?.aborted) throw cancelledError();
  const line = stdout.trim().split('\n').pop() ?? '';
  if (code !== 0 || !line.startsWith('{')) {
    throw new DimpError('usage', `the Python interpreter "${python}" cannot be run (${stderr.trim().split('\n').pop() || `exit code ${code}`}); set dimpCurator.pythonPath or --python to a Python with torch, transformers and accelerate`);
  }
  const parsed = JSON.parse(line) as Omit<PythonProbe, 'python'>;
  return { python, ...parsed };
}

/** One line for people: "Python 3.11.2 · torch 2.13.0+cpu · transformers 5.24.0 · accelerate 1.16.0 · CPU only". */
export function describeProbe(probe: PythonProbe): string {
  const version = (name: string, v: string | null): string => `${name} ${v ?? 'missing'}`;
  return [`Python ${probe.version}`, version('torch', probe.torch), version('transformers', probe.transformers), version('accelerate', probe.accelerate), version('datasets', probe.datasets), probe.cuda ? 'CUDA' : 'CPU only'].join(' · ');
}

/** What the interpreter lacks for the PyTorch engine, as an instruction; undefined when it has everything. */
export function missingForPytorch(probe: PythonProbe): string | undefined {
  const missing = (['torch', 'transformers', 'accelerate', 'datasets'] as const).filter((name) => probe[name] === null);
  if (missing.length === 0) return undefined;
  return (
    `the Python at ${probe.python} lacks ${missing.join(', ')} (${describeProbe(probe)}): install them into it, e.g. ` +
    `${probe.python} -m pip install ${missing.join(' ')} (keep the torch you have; on a CPU-only machine pin the CPU build)`
  );
}

/** Whether a Python can run the PyTorch engine, and what it has (or why not), in one line for people. */
export interface PytorchEngineStatus {
  python: string;
  available: boolean;
  /** The probe's versions, or why the interpreter cannot be run. */
  description: string;
  /** What to install, when something is missing. */
  missing?: string;
}

/** Probes `python` for the PyTorch engine; never throws (an interpreter that cannot run is "not available"). */
export async function pytorchEngineStatus(python: string, signal?: AbortSignal): Promise<PytorchEngineStatus> {
  try {
    const probe = await probePython(python, signal);
    const missing = missingForPytorch(probe);
    return { python, available: missing === undefined, description: describeProbe(probe), ...(missing ? { missing } : {}) };
  } catch (error) {
    return { python, available: false, description: (error as Error).message };
  }
}

/** Everything one PyTorch run needs, resolved by the training job (data read, labels chosen, scores written). */
export interface PytorchRunRequest {
  synthetic: Dataset;
  validation?: Dataset;
  test?: Dataset;
  labelMap: LabelMap;
  loss: LossKind;
  /** The scores file the synthetic rows are joined with by row id (all losses but ce). */
  scoresFile: string | undefined;
  seed: number;
  guards: WeightGuards;
  filterKeep?: number;
  settings: PytorchEngineSettings;
  /** The folder holding the `dimp_curator` package (the repository's or the extension's `python/`). */
  packageDir: string;
  outDir: string;
  runName: string;
  signal?: AbortSignal;
  onEvent?: EventSink;
  /** How long the process group gets to stop after SIGTERM before SIGKILL, ms (default 10 s). */
  stopGraceMs?: number;
}

const EVENT_TYPES = new Set<string>(['train-start', 'train-progress', 'train-epoch', 'train-done', 'score-progress', 'log']);

/** The command line that runs one training: `accelerate launch … -m dimp_curator.train …` or plain `python -m`. */
export function pytorchCommand(request: PytorchRunRequest, runDir: string): { command: string; args: string[] } {
  const { settings } = request;
  const fields = (d: Dataset | undefined): { text: string[]; label: string } | undefined => d && { text: [...d.fields.text], label: d.fields.label };
  const trainArgs = [
    '--synthetic', path.resolve(request.synthetic.file),
    ...(request.validation ? ['--validation', path.resolve(request.validation.file)] : []),
    ...(request.test ? ['--test', path.resolve(request.test.file)] : []),
    '--fields-json', JSON.stringify({ synthetic: fields(request.synthetic), validation: fields(request.validation), test: fields(request.test) }),
    '--labels-json', JSON.stringify(request.labelMap.names),
    '--loss', request.loss,
    ...(request.loss !== 'ce' && request.scoresFile ? ['--scores', path.resolve(request.scoresFile)] : []),
    '--model', settings.model,
    '--epochs', String(settings.epochs),
    '--batch-size', String(settings.batchSize),
    '--lr', String(settings.learningRate),
    '--weight-decay', String(settings.weightDecay),
    '--warmup-ratio', String(settings.warmupRatio),
    '--max-length', String(settings.maxLength),
    '--seed', String(request.seed),
    '--epsilon', String(request.guards.epsilon),
    ...(request.guards.maxWeight !== null ? ['--max-weight', String(request.guards.maxWeight)] : []),
    ...(request.filterKeep !== undefined ? ['--keep', String(request.filterKeep)] : []),
    '--run-dir', runDir,
  ];
  const launch = settings.launcher === 'accelerate' ? ['-m', 'accelerate.commands.launch', ...settings.launchArgs, '-m', 'dimp_curator.train'] : ['-m', 'dimp_curator.train'];
  return { command: settings.python, args: [...launch, ...trainArgs] };
}

/** True while any process of the group `pgid` exists. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops a detached child's whole process group: SIGTERM, then SIGKILL after `graceMs`; resolves once no
 * process of the group is left (accelerate's workers can outlive the launcher), or, should one never go
 * (unkillable), two seconds after the SIGKILL.
 */
async function stopGroup(child: ChildProcess, graceMs: number): Promise<void> {
  const pgid = child.pid;
  if (pgid === undefined) return;
  const kill = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-pgid, signal);
    } catch {
      // the group is gone already
    }
  };
  kill('SIGTERM');
  const started = Date.now();
  let killed = false;
  while (groupAlive(pgid)) {
    const waited = Date.now() - started;
    if (!killed && waited >= graceMs) {
      kill('SIGKILL');
      killed = true;
    }
    if (waited >= graceMs + 2000) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Runs the Python side in `runDir` (an empty staging folder), relaying its events; resolves when it exits 0. */
async function launch(request: PytorchRunRequest, runDir: string): Promise<void> {
  const { command, args } = pytorchCommand(request, runDir);
  const { signal, onEvent } = request;
  if (signal?.aborted) throw cancelledError();
  const env = {
    ...process.env,
    PYTHONPATH: [request.packageDir, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
    PYTHONUNBUFFERED: '1',
    TOKENIZERS_PARALLELISM: 'false',
  };
  // Its own process group (detached), so that Cancel reaches accelerate's workers too.
  const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
  const stderrTail: string[] = [];
  const stdoutOther: string[] = [];
  const remember = (tail: string[], line: string): void => {
    tail.push(line);
    if (tail.length > 40) tail.shift();
  };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line.startsWith('{')) {
      try {
        const event = JSON.parse(line) as CoreEvent;
        if (event && EVENT_TYPES.has(event.type)) {
          onEvent?.(event);
          return;
        }
      } catch {
        // not an event: kept for the error message
      }
    }
    remember(stdoutOther, line);
  });
  createInterface({ input: child.stderr! }).on('line', (line) => remember(stderrTail, line));
  let stopping: Promise<void> | undefined;
  const onAbort = (): void => {
    stopping = stopGroup(child, request.stopGraceMs ?? 10_000);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', (error) => {
        const code = (error as NodeJS.ErrnoException).code;
        reject(new DimpError('usage', code === 'ENOENT' ? `the Python interpreter "${command}" was not found; set dimpCurator.pythonPath or --python` : `cannot start ${command}: ${error.message}`));
      });
      child.once('close', (code, killedBy) => resolve({ code, signal: killedBy }));
    });
    if (signal?.aborted) {
      // Cancelled: done only when every process of the run is (no worker keeps writing or holding memory).
      await (stopping ?? stopGroup(child, request.stopGraceMs ?? 10_000));
      throw cancelledError();
    }
    if (exit.code !== 0) {
      const tail = [...stderrTail, ...stdoutOther].filter((l) => l.trim() !== '').slice(-12).join('\n');
      const errorLine = [...stderrTail].reverse().find((l) => /^error: |Error: /.test(l));
      throw new DimpError(
        exit.code === 3 ? 'badInput' : 'usage',
        `PyTorch training failed (${exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`})${errorLine ? `: ${errorLine.replace(/^error: /, '')}` : ''}\n` +
          `command: ${command} ${args.map((a) => (/^[\w./@%+=:,-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ')}\n${tail}`,
      );
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * accelerate's `--cpu` with several processes starts only one unless given an mpirun hostfile; `--multi_gpu`
 * starts them through torchrun, and on a machine without a GPU the Python side puts each on the CPU.
 */
export function cpuProcessesWarning(settings: PytorchEngineSettings): string | undefined {
  const args = settings.launchArgs;
  if (settings.launcher !== 'accelerate' || !args.includes('--cpu') || args.some((a) => a.startsWith('--mpirun_hostfile'))) return undefined;
  const at = args.findIndex((a) => a === '--num_processes' || a.startsWith('--num_processes='));
  const count = at < 0 ? 1 : Number(args[at]!.includes('=') ? args[at]!.split('=')[1] : args[at + 1]);
  if (!(count > 1)) return undefined;
  return `accelerate launch --cpu runs one process unless given --mpirun_hostfile; for ${count} CPU processes use --multi_gpu --num_processes ${count} (without a GPU each process trains on the CPU)`;
}

/**
 * Trains on the PyTorch engine and publishes the run folder (`model/` with the Hugging Face files and
 * `model.onnx`, `metrics.json`, `weights.jsonl`, `train-log.jsonl`, `config.json`) whole or not at all.
 */
export async function runPytorchTraining(request: PytorchRunRequest): Promise<RunSummary> {
  const runDir = path.resolve(request.outDir, request.runName);
  if (await pathExists(runDir)) throw new DimpError('usage', 'run folder already exists; choose another --name or --out', { file: runDir });
  if (request.loss !== 'ce' && !request.scoresFile) throw new DimpError('usage', `${request.loss} training needs a scores file`);
  const probe = await probePython(request.settings.python, request.signal);
  const missing = missingForPytorch(probe);
  if (missing) throw new DimpError('usage', missing);
  request.onEvent?.({
    type: 'log',
    level: 'info',
    message: `PyTorch engine: ${describeProbe(probe)}; ${request.settings.launcher === 'accelerate' ? `accelerate launch ${request.settings.launchArgs.join(' ') || '(its default config)'}` : 'one process (python -m)'}`,
  });
  const cpuWarning = cpuProcessesWarning(request.settings);
  if (cpuWarning) request.onEvent?.({ type: 'log', level: 'warning', message: cpuWarning });
  return writeFolderAtomic(runDir, async (tmp) => {
    await launch(request, tmp);
    const metrics = await readRunMetrics(tmp);
    if (!metrics) throw new DimpError('usage', 'PyTorch training ended without writing metrics.json', { file: tmp });
    return { ...metrics, runDir };
  });
}
