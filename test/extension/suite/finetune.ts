/**
 * Extension-host test of fine-tuning from the editor: with a transformer classifier named in dimp.config.json
 * ("finetune": {"model": …}), Train with … offers "Fine-tune a transformer", a `dimp` task with
 * `"model": "finetune"` fine-tunes it on onnxruntime in the training worker and finishes in the panel, and the
 * run's `model/` folder then scores a file as the quality checker (`dimpCurator.qualityModel`, the editor's
 * `score --quality-model`).
 *
 * The model is a real (tiny: 2 layers, hidden 64) BERT-family ONNX folder the project builds, with the bundled
 * sample's WordPiece tokenizer: nothing is downloaded.
 */
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ProjectConfig } from '../../../src/core/config';
import type { ScoreMeta } from '../../../src/core/jobs/storedScores';
import type { DimpCuratorApi } from '../../../src/extension/extension';
import { modelChoices } from '../../../src/extension/training/trainCommands';
import { tinyModelFolder } from '../../unit/transformerFixtures';
import { runTask, taskNamed, test, waitFor } from './harness';

type TestingApi = DimpCuratorApi['testing'];

const FINETUNE_RUN = 'DIMP: fine-tune (tests)';

/** Registers the fine-tuning test; it adds a config section, a task, a model folder and a run of its own. */
export function registerFineTuneTests(getApi: () => TestingApi, workspace: () => string): void {
  test('Train with … offers fine-tuning for a configured model; a finetune run finishes in the panel and its model scores as the quality checker', async () => {
    const api = getApi();
    const configFile = path.join(workspace(), 'dimp.config.json');
    const tasksFile = path.join(workspace(), '.vscode', 'tasks.json');
    const configBefore = readFileSync(configFile, 'utf8');
    const tasksBefore = existsSync(tasksFile) ? readFileSync(tasksFile, 'utf8') : undefined;
    const modelDir = path.join(workspace(), 'models', 'tiny-bert');
    const rowsFile = path.join(workspace(), 'finetune-rows.jsonl');
    const settings = vscode.workspace.getConfiguration('dimpCurator');
    try {
      const config = JSON.parse(configBefore) as ProjectConfig;
      await tinyModelFolder(modelDir, { seed: 5, labels: config.labels });
      // 64 rows of the synthetic file and two epochs: seconds on a CPU.
      const rows = readFileSync(path.join(workspace(), 'synthetic.jsonl'), 'utf8').split('\n').filter(Boolean).slice(0, 64);
      writeFileSync(rowsFile, rows.join('\n') + '\n');

      // Not offered until the config names a model; then offered (the workspace is trusted).
      const before = (await modelChoices(config, undefined, vscode.workspace.isTrusted)).find((c) => c.modelKind === 'finetune');
      assert.equal(before?.available, false, 'not offered without a model in the config');
      config.finetune = { model: 'models/tiny-bert', batchSize: 8, learningRate: 1e-3, maxLength: 32 };
      writeFileSync(configFile, JSON.stringify(config, null, 2) + '\n');
      const offered = (await modelChoices(config, undefined, vscode.workspace.isTrusted)).find((c) => c.modelKind === 'finetune');
      assert.ok(offered?.available, `fine-tuning is offered: ${JSON.stringify(offered)}`);
      assert.equal(offered.label, 'Fine-tune a transformer (onnxruntime, no Python)');
      assert.equal((await modelChoices(config, undefined, false)).find((c) => c.modelKind === 'finetune')?.available, false, 'not in an untrusted workspace');

      const tasks = tasksBefore ? (JSON.parse(tasksBefore) as { version: string; tasks: object[] }) : { version: '2.0.0', tasks: [] };
      tasks.tasks.push({ type: 'dimp', loss: 'dimp', synthetic: 'finetune-rows.jsonl', model: 'finetune', epochs: 2, label: FINETUNE_RUN });
      writeFileSync(tasksFile, JSON.stringify(tasks, null, 2));
      const task = await taskNamed(FINETUNE_RUN);
      await (await runTask(task)).ended;

      const state = api.training.currentState;
      assert.equal(state.phase, 'finished', state.message);
      assert.equal(state.job?.syntheticFile, rowsFile);
      assert.equal(state.epochs.length, 2, 'the panel shows both epochs');
      assert.ok(state.epochs.every((epoch) => epoch.weights.counts.reduce((a, b) => a + b, 0) > 0), 'each with its DIMP weight histogram');
      const runDir = state.result!.runDir;
      const runConfig = JSON.parse(readFileSync(path.join(runDir, 'config.json'), 'utf8')) as { model: string; loss: string };
      assert.deepEqual([runConfig.model, runConfig.loss], ['finetune', 'dimp']);
      const metrics = JSON.parse(readFileSync(path.join(runDir, 'metrics.json'), 'utf8')) as { finetune?: { optimizerSteps: number; parameters: number } };
      assert.equal(metrics.finetune?.optimizerSteps, 16, '64 rows in batches of 8, two epochs');
      for (const file of ['model/model.onnx', 'model/config.json', 'model/tokenizer.json']) assert.ok(existsSync(path.join(runDir, file)), file);

      // The fine-tuned model as the quality checker of a scoring in the editor.
      const model = path.join(runDir, 'model');
      await settings.update('qualityModel', model, vscode.ConfigurationTarget.Workspace);
      const uri = vscode.Uri.file(rowsFile);
      await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri), { preview: false });
      await vscode.commands.executeCommand('dimpCurator.scoreSyntheticData', uri);
      await waitFor('the rows to be scored with the fine-tuned model', () => api.idle() && existsSync(api.storageFor(uri).metaFile));
      const meta = JSON.parse(readFileSync(api.storageFor(uri).metaFile, 'utf8')) as ScoreMeta;
      assert.equal(meta.qualityModel, model, `the fine-tuned model is the quality checker: ${meta.qualityModel}`);
      await waitFor('the scored rows to carry weights', () => /^w /.test(api.decorationsFor(uri)?.badges[0] ?? ''));
    } finally {
      await settings.update('qualityModel', undefined, vscode.ConfigurationTarget.Workspace);
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      writeFileSync(configFile, configBefore);
      if (tasksBefore !== undefined) writeFileSync(tasksFile, tasksBefore);
      rmSync(path.join(workspace(), 'models'), { recursive: true, force: true });
      rmSync(rowsFile, { force: true });
    }
  });
}
