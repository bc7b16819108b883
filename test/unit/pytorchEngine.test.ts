// The PyTorch engine's launcher (src/core/train/pytorchEngine.ts) without PyTorch: the settings' precedence, the
// command line it builds, and a whole run against test/fixtures/python-stub.sh, a stand-in interpreter that
// speaks the engine's protocol (probe, events on stdout, run-folder files). The real engine end to end is
// scripts/verify-pytorch.sh (npm run verify:pytorch); the loss itself is lossParity.test.ts.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { loadProjectConfig } from '../../src/core/config';
import type { Dataset } from '../../src/core/data/dataset';
import { LabelMap } from '../../src/core/data/labels';
import { DimpError } from '../../src/core/errors';
import type { CoreEvent } from '../../src/core/events';
import { resolvePytorchSettings } from '../../src/core/jobs/settings';
import { cpuProcessesWarning, DEFAULT_PYTORCH_SETTINGS, pytorchCommand, pytorchEngineStatus, runPytorchTraining, type PytorchRunRequest } from '../../src/core/train/pytorchEngine';
import { REPO_ROOT, temporaryFolder } from './helpers';

const STUB = path.join(REPO_ROOT, 'test', 'fixtures', 'python-stub.sh');

function dataset(file: string): Dataset {
  const labelMap = new LabelMap(['0', '1']);
  return { file, fields: { text: ['text'], label: 'label' }, labelMap, rows: [], problems: [], blankLines: 0, totalLines: 0 };
}

function request(outDir: string, overrides: Partial<PytorchRunRequest> = {}): PytorchRunRequest {
  return {
    synthetic: dataset('/data/syn.jsonl'),
    validation: dataset('/data/val.jsonl'),
    labelMap: new LabelMap(['0', '1']),
    loss: 'dimp',
    scoresFile: '/data/syn.scores.jsonl',
    seed: 3,
    guards: { epsilon: 1e-6, maxWeight: null },
    settings: { ...DEFAULT_PYTORCH_SETTINGS, python: STUB, model: '/models/minilm', epochs: 2, launchArgs: ['--num_processes', '2'] },
    packageDir: path.join(REPO_ROOT, 'python'),
    outDir,
    runName: 'dimp-pt',
    stopGraceMs: 2000,
    ...overrides,
  };
}

const STUB_VARIABLES = ['STUB_MISSING', 'STUB_HOLD_SECONDS', 'STUB_PID_FILE', 'STUB_FAIL'];
afterEach(() => {
  for (const name of STUB_VARIABLES) delete process.env[name];
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('PyTorch engine settings and command line', () => {
  test('flags over the config over $DIMP_CURATOR_PYTHON over defaults; a model must be named', () => {
    const config = { pytorch: { pythonPath: '/venv/bin/python', model: 'bert-base-uncased', epochs: 4, launchArgs: ['--config_file', 'a.yaml'] } };
    const fromConfig = resolvePytorchSettings(config, {}, { DIMP_CURATOR_PYTHON: '/env/python' });
    assert.equal(fromConfig.python, '/venv/bin/python');
    assert.equal(fromConfig.epochs, 4);
    assert.equal(fromConfig.learningRate, DEFAULT_PYTORCH_SETTINGS.learningRate);
    assert.deepEqual(fromConfig.launchArgs, ['--config_file', 'a.yaml']);
    const fromFlags = resolvePytorchSettings(config, { python: '/flag/python', epochs: 1, launchArgs: [] }, { DIMP_CURATOR_PYTHON: '/env/python' });
    assert.deepEqual([fromFlags.python, fromFlags.epochs, fromFlags.launchArgs], ['/flag/python', 1, []]);
    assert.equal(resolvePytorchSettings({ pytorch: { model: 'm' } }, {}, { DIMP_CURATOR_PYTHON: '/env/python' }).python, '/env/python');
    assert.equal(resolvePytorchSettings({ pytorch: { model: 'm' } }, {}, {}).python, 'python3');
    assert.throws(() => resolvePytorchSettings({}, {}, {}), /needs a model to fine-tune/);
  });

  test('dimp.config.json: a pythonPath or model folder is relative to the file; a command or hub name stays', async () => {
    const { dir, cleanup } = temporaryFolder();
    try {
      const { mkdirSync } = await import('node:fs');
      mkdirSync(path.join(dir, 'models', 'bert'), { recursive: true });
      writeFileSync(path.join(dir, 'dimp.config.json'), JSON.stringify({ pytorch: { pythonPath: '.venv/bin/python', model: 'models/bert' } }));
      const loaded = await loadProjectConfig(undefined, dir);
      assert.equal(loaded.config.pytorch?.pythonPath, path.join(dir, '.venv', 'bin', 'python'));
      assert.equal(loaded.config.pytorch?.model, path.join(dir, 'models', 'bert'));
      writeFileSync(path.join(dir, 'dimp.config.json'), JSON.stringify({ pytorch: { pythonPath: 'python3', model: 'bert-base-uncased' } }));
      const bare = await loadProjectConfig(undefined, dir);
      assert.deepEqual([bare.config.pytorch?.pythonPath, bare.config.pytorch?.model], ['python3', 'bert-base-uncased']);
    } finally {
      cleanup();
    }
  });

  test('accelerate launch runs the package as a module with every setting, the labels and fields as JSON', () => {
    const { command, args } = pytorchCommand(request('/runs', { guards: { epsilon: 1e-4, maxWeight: 50 } }), '/runs/.dimp-pt.tmp');
    assert.equal(command, STUB);
    assert.deepEqual(args.slice(0, 6), ['-m', 'accelerate.commands.launch', '--num_processes', '2', '-m', 'dimp_curator.train']);
    const value = (flag: string): string | undefined => args[args.indexOf(flag) + 1];
    assert.equal(value('--loss'), 'dimp');
    assert.equal(value('--scores'), '/data/syn.scores.jsonl');
    assert.equal(value('--run-dir'), '/runs/.dimp-pt.tmp');
    assert.equal(value('--epsilon'), '0.0001');
    assert.equal(value('--max-weight'), '50');
    assert.equal(value('--seed'), '3');
    assert.deepEqual(JSON.parse(value('--labels-json')!), ['0', '1']);
    assert.deepEqual(JSON.parse(value('--fields-json')!).validation, { text: ['text'], label: 'label' });
    const plain = pytorchCommand(request('/runs', { loss: 'ce', settings: { ...request('/runs').settings, launcher: 'python' } }), '/r');
    assert.deepEqual(plain.args.slice(0, 2), ['-m', 'dimp_curator.train']);
    assert.ok(!plain.args.includes('--scores') && !plain.args.includes('--max-weight'), 'ce reads no scores; no cap unless set');
  });

  test('accelerate --cpu with several processes is flagged (it starts one without mpirun)', () => {
    const settings = { ...request('/r').settings };
    assert.match(cpuProcessesWarning({ ...settings, launchArgs: ['--num_processes', '2', '--cpu'] }) ?? '', /--multi_gpu --num_processes 2/);
    assert.match(cpuProcessesWarning({ ...settings, launchArgs: ['--cpu', '--num_processes=4'] }) ?? '', /4 CPU processes/);
    assert.equal(cpuProcessesWarning({ ...settings, launchArgs: ['--cpu'] }), undefined);
    assert.equal(cpuProcessesWarning({ ...settings, launchArgs: ['--multi_gpu', '--num_processes', '2'] }), undefined);
  });
});

describe('PyTorch engine runs (stand-in interpreter)', () => {
  test('a run relays the events, publishes the run folder whole and returns its metrics', async () => {
    const { dir, cleanup } = temporaryFolder();
    try {
      const events: CoreEvent[] = [];
      const run = await runPytorchTraining(request(dir, { onEvent: (e) => events.push(e) }));
      assert.equal(run.runDir, path.join(dir, 'dimp-pt'));
      assert.equal(run.bestEpoch, 1);
      assert.equal(run.epochs.length, 2);
      const types = events.map((e) => e.type);
      assert.deepEqual(types.filter((t) => t !== 'log'), ['train-start', 'train-progress', 'train-epoch', 'train-progress', 'train-epoch', 'train-done']);
      const probe = events.find((e) => e.type === 'log' && e.message.startsWith('PyTorch engine:'));
      assert.match(probe && probe.type === 'log' ? probe.message : '', /torch 2\.13\.0\+stub · transformers 5\.0\.0 · accelerate 1\.0\.0/);
      for (const file of ['config.json', 'metrics.json', 'weights.jsonl', 'train-log.jsonl', 'model']) assert.ok(existsSync(path.join(run.runDir, file)), file);
      assert.deepEqual(readdirSync(dir), ['dimp-pt'], 'no temporaries beside the run');
      assert.equal(JSON.parse(readFileSync(path.join(run.runDir, 'config.json'), 'utf8')).model, 'pytorch');
    } finally {
      cleanup();
    }
  });

  test('a Python without transformers is refused before anything is written, naming what to install', async () => {
    const { dir, cleanup } = temporaryFolder();
    try {
      process.env.STUB_MISSING = 'transformers';
      const status = await pytorchEngineStatus(STUB);
      assert.equal(status.available, false);
      assert.match(status.description, /transformers missing/);
      await assert.rejects(runPytorchTraining(request(dir)), (error: Error) => error instanceof DimpError && error.kind === 'usage' && /lacks transformers/.test(error.message) && /-m pip install transformers/.test(error.message));
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      cleanup();
    }
  });

  test('an interpreter that is not there is a clear error', async () => {
    const status = await pytorchEngineStatus('/nowhere/bin/python');
    assert.equal(status.available, false);
    assert.match(status.description, /"\/nowhere\/bin\/python" cannot be run \(not found\)/);
  });

  test("a failing run reports the Python side's error and leaves no run folder", async () => {
    const { dir, cleanup } = temporaryFolder();
    try {
      process.env.STUB_FAIL = '1';
      await assert.rejects(runPytorchTraining(request(dir)), (error: Error) => error instanceof DimpError && error.kind === 'badInput' && /exit code 3\): stub failure as asked/.test(error.message));
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      cleanup();
    }
  });

  test('cancelling stops the whole process group and leaves no run folder', async () => {
    const { dir, cleanup } = temporaryFolder();
    try {
      const pidFile = path.join(dir, 'held.pid');
      process.env.STUB_HOLD_SECONDS = '300';
      process.env.STUB_PID_FILE = pidFile;
      const controller = new AbortController();
      const out = path.join(dir, 'runs');
      const running = runPytorchTraining(
        request(out, {
          signal: controller.signal,
          onEvent: (event) => {
            // The stand-in holds the run in a child process after its first progress event: cancel then.
            if (event.type === 'train-progress') {
              const wait = (): void => (existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() ? controller.abort() : void setTimeout(wait, 20));
              wait();
            }
          },
        }),
      );
      await assert.rejects(running, (error: Error) => error instanceof DimpError && error.kind === 'cancelled');
      const held = Number(readFileSync(pidFile, 'utf8').trim());
      assert.ok(held > 0 && !isAlive(held), `the child process ${held} of the run's group was stopped`);
      assert.deepEqual(existsSync(out) ? readdirSync(out) : [], [], 'no run folder, no temporary');
    } finally {
      cleanup();
    }
  });
});
