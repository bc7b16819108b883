import * as vscode from 'vscode';
import { setContextKey, showInformationMessage } from '../ui';
import { CommandId } from '../../protocol/commands';
import { JobUpdateType } from '../../protocol/trainingPanel';
import type { ScoreStore } from '../scoring/scoreStore';
import { readSettings } from '../settings';
import { DIMP_TASK_TYPE, type EditorTrainingSettings } from './jobRequest';
import { trainWithLoss } from './trainCommands';
import { TrainingPanel } from './trainingPanel';
import { TrainingSession } from './trainingSession';
import { TrainingTaskProvider } from './trainingTask';

/** What the training feature offers the rest of the extension (and its tests). */
export interface TrainingFeature extends vscode.Disposable {
  session: TrainingSession;
  /** Cancels a running job and waits for it to clean up; for deactivation. */
  shutdown(): Promise<void>;
}

/** The editor's settings for a job on `syntheticFile`, read when the job starts. */
function trainingSettingsFor(store: ScoreStore, pythonPackageDir: string): (syntheticFile: string) => EditorTrainingSettings {
  return (syntheticFile) => {
    const uri = vscode.Uri.file(syntheticFile);
    const settings = readSettings(uri);
    return {
      labels: settings.labels,
      epsilon: settings.epsilon,
      maxWeight: settings.maxWeight,
      device: settings.executionProvider,
      realData: settings.realData,
      qualityModel: settings.qualityModel,
      diversityModel: settings.diversityModel,
      textFields: settings.textFields,
      labelField: settings.labelField,
      trusted: vscode.workspace.isTrusted,
      pythonPath: settings.pythonPath,
      pythonPackageDir,
      // Training reads and writes the same scores as Score Synthetic Data.
      scoreStorageFor: () => store.storageFor(uri),
    };
  };
}

const percent = (fraction: number): string => `${Math.round(fraction * 100)}%`;

/**
 * Training: the Train commands, the `dimp` task type, the training panel (revived after reloads),
 * Cancel Training and the status bar item. A run that scored first, or a DIMP run, makes the scoring
 * feature reload the file's scores, so hovers and decorations show them and the final DIMP weights.
 * Everything registered here is released by the one returned disposable.
 */
export function registerTrainingFeature(context: vscode.ExtensionContext, store: ScoreStore): TrainingFeature {
  // onnxruntime reads this from the process environment; a worker's process.env is only a copy, so it
  // is set here, before the first worker starts.
  process.env.ORT_DISABLE_TELEMETRY ??= '1';
  const session = new TrainingSession(vscode.Uri.joinPath(context.extensionUri, 'dist', 'trainingWorker.js').fsPath);
  const panel = new TrainingPanel(context.extensionUri, session);
  const statusBar = vscode.window.createStatusBarItem('dimpCurator.training', vscode.StatusBarAlignment.Left, 10);
  statusBar.name = 'DIMP Training';
  statusBar.command = CommandId.openTrainingPanel;
  const settingsFor = trainingSettingsFor(store, vscode.Uri.joinPath(context.extensionUri, 'python').fsPath);
  const commandContext = { session, workspaceState: context.workspaceState, settingsFor, showPanel: () => panel.show() };

  const disposables: vscode.Disposable[] = [
    session,
    panel,
    statusBar,
    vscode.tasks.registerTaskProvider(DIMP_TASK_TYPE, new TrainingTaskProvider(session, settingsFor)),
    vscode.commands.registerCommand(CommandId.trainDimp, (arg?: unknown) => trainWithLoss('dimp', commandContext, arg)),
    vscode.commands.registerCommand(CommandId.trainImp, (arg?: unknown) => trainWithLoss('imp', commandContext, arg)),
    vscode.commands.registerCommand(CommandId.trainBaseline, (arg?: unknown) => trainWithLoss('ce', commandContext, arg)),
    vscode.commands.registerCommand(CommandId.openTrainingPanel, () => panel.show()),
    vscode.commands.registerCommand(CommandId.cancelTraining, () => {
      if (!session.cancel()) void showInformationMessage('DIMP Curator: no training run is in progress.');
    }),
    session.onDidUpdate(({ update }) => {
      const state = session.currentState;
      const job = state.job;
      if (update.type === JobUpdateType.started) {
        // Every run shows its progress, whether it came from a command or from tasks.json.
        panel.show(true);
      }
      const ended = update.type === JobUpdateType.finished || update.type === JobUpdateType.cancelled || update.type === JobUpdateType.failed;
      if (ended && job && job.loss !== 'ce') {
        // The job may have stored new scores (scoring first completes even when training is then
        // cancelled) and a DIMP run new final weights: the scoring feature loads the file's again.
        store.reload(vscode.Uri.file(job.syntheticFile));
      }
      setContextKey('dimpCurator.training', session.runningJob !== undefined);
      if (session.runningJob && job) {
        const fraction = state.phase === 'training' && state.totalSteps > 0 ? ` ${percent(state.step / state.totalSteps)}` : '';
        statusBar.text = `$(loading~spin) ${job.loss.toUpperCase()} ${state.phase}${fraction}`;
        statusBar.tooltip = `${state.message}\nClick to show the training panel.`;
        statusBar.show();
      } else {
        statusBar.hide();
      }
    }),
  ];
  return {
    session,
    shutdown: () => session.shutdown(),
    dispose: () => {
      for (const d of disposables.reverse()) d.dispose();
    },
  };
}
