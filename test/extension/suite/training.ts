/**
 * Extension-host tests of training: `dimp` tasks from tasks.json run in the training worker, cancel
 * promptly from Cancel Training or by closing the task's terminal and leave no partial outputs, and a
 * finished DIMP run's final weights reach the hover.
 */
import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { DimpCuratorApi } from '../../../src/extension/extension';
import type { TrainingPanelState } from '../../../src/protocol/trainingPanel';
import { syntheticUri } from '../../../src/extension/training/trainCommands';
import { runTask, taskNamed, test, waitFor } from './harness';

type TestingApi = DimpCuratorApi['testing'];

const LONG_RUN = 'DIMP: long run (tests)';
const SHORT_RUN = 'DIMP: short run (tests)';

/** Every path under `dir`, relative and sorted; empty when `dir` does not exist. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const entry of existsSync(d) ? readdirSync(d, { withFileTypes: true }) : []) {
      const p = path.join(d, entry.name);
      out.push(path.relative(dir, p));
      if (entry.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

function phase(state: TrainingPanelState): TrainingPanelState['phase'] {
  return state.phase;
}

/** Registers the training tests; they run after the scoring tests (the stored scores are theirs). */
export function registerTrainingTests(getApi: () => TestingApi, workspace: () => string): void {
  const synthetic = (): vscode.Uri => vscode.Uri.file(path.join(workspace(), 'synthetic.jsonl'));
  /** The folders a job may write into: the workspace (runs/) and the extension's score storage. */
  const watched = (): string[] => [workspace(), path.dirname(path.dirname(getApi().storageFor(synthetic()).scoresFile))];
  const snapshot = (): string[] => watched().flatMap((dir) => tree(dir).map((p) => path.join(dir, p)));

  test('dimp tasks from tasks.json are provided and resolved', async () => {
    mkdirSync(path.join(workspace(), '.vscode'), { recursive: true });
    const tasksFile = path.join(workspace(), '.vscode', 'tasks.json');
    writeFileSync(
      tasksFile,
      JSON.stringify(
        {
          version: '2.0.0',
          tasks: [
            { type: 'dimp', loss: 'dimp', synthetic: 'synthetic.jsonl', epochs: 1000, label: LONG_RUN },
            { type: 'dimp', loss: 'dimp', synthetic: 'synthetic.jsonl', epochs: 3, label: SHORT_RUN },
          ],
        },
        null,
        2,
      ),
    );
    const long = await taskNamed(LONG_RUN);
    assert.equal(long.definition.epochs, 1000);
    assert.equal(long.source, 'Workspace');
    const provided = (await vscode.tasks.fetchTasks({ type: 'dimp' })).map((t) => t.name);
    for (const name of ['Train with DIMP', 'Train with IMP', 'Train Baseline (CE)']) assert.ok(provided.includes(name), `provided: ${provided.join(', ')}`);
  });

  test('Cancel Training stops a run midway promptly and leaves no partial outputs', async () => {
    const api = getApi();
    const before = snapshot();
    assert.notEqual(api.contextKeys()['dimpCurator.training'], true, 'Cancel Training is not offered before a run');
    const { ended } = await runTask(await taskNamed(LONG_RUN));
    await waitFor('training to be under way', () => phase(api.training.currentState) === 'training' && api.training.currentState.epochs.length >= 2);
    assert.equal(api.contextKeys()['dimpCurator.training'], true, 'Cancel Training is offered during the run');
    const runDir = api.training.currentState.job!.runDir;
    // The run folder is being built under a temporary name while training.
    assert.ok(readdirSync(path.dirname(runDir)).some((name) => name.startsWith(`.${path.basename(runDir)}.tmp-`)), 'a temporary run folder exists mid-run');
    const epochsAtCancel = api.training.currentState.epochs.length;
    const cancelledAt = Date.now();
    await vscode.commands.executeCommand('dimpCurator.cancelTraining');
    await waitFor('the run to stop', () => phase(api.training.currentState) === 'cancelled' && api.training.runningJob === undefined, 60_000);
    const stoppedIn = Date.now() - cancelledAt;
    assert.ok(stoppedIn < 3000, `stopped ${stoppedIn} ms after Cancel Training`);
    assert.ok(api.training.currentState.epochs.length < 1000 && api.training.currentState.epochs.length <= epochsAtCancel + 5, 'no more epochs after the cancel');
    await ended;
    assert.ok(!existsSync(runDir), 'no run folder');
    assert.deepEqual(snapshot(), before, 'nothing was added to the workspace or the score storage');
    assert.equal(api.contextKeys()['dimpCurator.training'], false, 'and no longer once it stopped');
    console.log(`cancelled after ${epochsAtCancel} epochs; stopped in ${stoppedIn} ms`);
  });

  test("closing the task's terminal cancels the run and leaves no partial outputs", async () => {
    const api = getApi();
    const before = snapshot();
    const { execution, ended } = await runTask(await taskNamed(LONG_RUN));
    await waitFor('training to be under way', () => phase(api.training.currentState) === 'training' && api.training.currentState.epochs.length >= 1);
    const runDir = api.training.currentState.job!.runDir;
    // What closing the terminal (or Terminate Task) does: VS Code closes the task's pseudoterminal.
    execution.terminate();
    await ended;
    await waitFor('the run to stop', () => phase(api.training.currentState) === 'cancelled' && api.training.runningJob === undefined, 60_000);
    assert.ok(!existsSync(runDir), 'no run folder');
    assert.deepEqual(snapshot(), before, 'nothing was added to the workspace or the score storage');
  });

  test("a finished DIMP run writes its run folder, and the hover shows each row's final DIMP weight", async () => {
    const api = getApi();
    const document = await vscode.workspace.openTextDocument(synthetic());
    await vscode.window.showTextDocument(document, { preview: false });
    const { ended } = await runTask(await taskNamed(SHORT_RUN));
    await ended;
    const state = api.training.currentState;
    assert.equal(state.phase, 'finished', state.message);
    const result = state.result!;
    for (const file of ['metrics.json', 'weights.jsonl', 'config.json', 'train-log.jsonl', 'model/model.onnx']) assert.ok(existsSync(path.join(result.runDir, file)), file);
    assert.equal(state.epochs.length, 3);
    assert.equal(result.scored, false, 'the stored scores were used');
    assert.ok(state.history.some((run) => run.runDir === result.runDir && run.loss === 'dimp'), 'the run is in the comparison table');

    // A row whose text appears once: duplicates share a row id but not their last step, so not their weight.
    const weights = readFileSync(path.join(result.runDir, 'weights.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { rowId: string; line: number; weight: number });
    const count = new Map<string, number>();
    for (const w of weights) count.set(w.rowId, (count.get(w.rowId) ?? 0) + 1);
    const firstRow = weights.find((w) => count.get(w.rowId) === 1)!;
    const line = firstRow.line - 1;
    let hover = '';
    await waitFor(
      'the hover to show the DIMP weight',
      () => {
        void vscode.commands
          .executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', synthetic(), new vscode.Position(line, 3))
          .then((hovers) => (hover = hovers.flatMap((h) => h.contents).map((c) => (typeof c === 'string' ? c : c.value)).join('\n')));
        return hover.includes(`DIMP weights: run ${path.basename(result.runDir)}`);
      },
      30_000,
    );
    const shown = /last DIMP weight \| ([^|]+) \|/.exec(hover)?.[1]?.trim();
    assert.ok(shown && Math.abs(Number(shown) - firstRow.weight) <= 0.01 * firstRow.weight, `hover shows the weight ${firstRow.weight}: ${shown}\n${hover}`);
  });

  test('with the training panel in focus (no text editor), Train with … trains on the file the panel names', async () => {
    const api = getApi();
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await vscode.commands.executeCommand('dimpCurator.openTrainingPanel');
    await waitFor('no active text editor', () => vscode.window.activeTextEditor === undefined);
    const named = api.training.currentState.job?.syntheticFile;
    assert.ok(named, 'the panel names the last run\'s file');
    assert.equal(syntheticUri(undefined, api.training)?.fsPath, named);
  });
}
