import * as vscode from 'vscode';
import type { DeviceChoice } from '../../core/runtime/onnxRuntime';
import { CommandId } from '../../protocol/commands';
import { JobUpdateType } from '../../protocol/trainingPanel';
import { DimpWeightStore } from './dimpWeights';
import { DIMP_TASK_TYPE, type EditorTrainingSettings } from './jobRequest';
import { trainWithLoss } from './trainCommands';
import { TrainingPanel } from './trainingPanel';
import { TrainingSession } from './trainingSession';
import { TrainingTaskProvider } from './trainingTask';

/** What the training feature offers the rest of the extension (and its tests). */
export interface TrainingFeature extends vscode.Disposable {
  session: TrainingSession;
  /** Final DIMP weights per row, for hovers and decorations. */
  dimpWeights: DimpWeightStore;
  /** Cancels a running job and waits for it to clean up; for deactivation. */
  shutdown(): Promise<void>;
}

/** The editor settings a training job falls back to, read when a job starts. */
function readTrainingSettings(): EditorTrainingSettings {
  const config = vscode.workspace.getConfiguration('dimpCurator');
  return {
    labels: config.get<string[]>('labels', []),
    epsilon: config.get<number>('epsilon', 1e-6),
    maxWeight: config.get<number | null>('maxWeight', null),
    device: config.get<DeviceChoice>('executionProvider', 'cpu'),
  };
}

const percent = (fraction: number): string => `${Math.round(fraction * 100)}%`;

/**
 * Training: the Train commands, the `dimp` task type, the training panel (revived after reloads),
 * Cancel Training, the status bar item, and the DIMP weight store. Everything registered here is
 * released by the one returned disposable.
 */
export function registerTrainingFeature(context: vscode.ExtensionContext): TrainingFeature {
  // onnxruntime reads this from the process environment; a worker's process.env is only a copy, so it
  // is set here, before the first worker starts.
  process.env.ORT_DISABLE_TELEMETRY ??= '1';
  const session = new TrainingSession(vscode.Uri.joinPath(context.extensionUri, 'dist', 'trainingWorker.js').fsPath);
  const panel = new TrainingPanel(context.extensionUri, session);
  const dimpWeights = new DimpWeightStore();
  const statusBar = vscode.window.createStatusBarItem('dimpCurator.training', vscode.StatusBarAlignment.Left, 10);
  statusBar.name = 'DIMP Training';
  statusBar.command = CommandId.openTrainingPanel;
  const commandContext = { session, workspaceState: context.workspaceState, settings: readTrainingSettings, showPanel: () => panel.show() };

  const disposables: vscode.Disposable[] = [
    session,
    panel,
    dimpWeights,
    statusBar,
    vscode.tasks.registerTaskProvider(DIMP_TASK_TYPE, new TrainingTaskProvider(session, readTrainingSettings)),
    vscode.commands.registerCommand(CommandId.trainDimp, (arg?: unknown) => trainWithLoss('dimp', commandContext, arg)),
    vscode.commands.registerCommand(CommandId.trainImp, (arg?: unknown) => trainWithLoss('imp', commandContext, arg)),
    vscode.commands.registerCommand(CommandId.trainBaseline, (arg?: unknown) => trainWithLoss('ce', commandContext, arg)),
    vscode.commands.registerCommand(CommandId.openTrainingPanel, () => panel.show()),
    vscode.commands.registerCommand(CommandId.cancelTraining, () => {
      if (!session.cancel()) void vscode.window.showInformationMessage('DIMP Curator: no training run is in progress.');
    }),
    session.onDidUpdate(({ update }) => {
      const state = session.currentState;
      const job = state.job;
      if (update.type === JobUpdateType.started) {
        // Every run shows its progress, whether it came from a command or from tasks.json.
        panel.show(true);
      }
      if (update.type === JobUpdateType.finished && job?.loss === 'dimp') {
        void dimpWeights.loadRun(job.syntheticFile, update.result.runDir, new Date(job.startedAt).toISOString()).catch((error: Error) => {
          void vscode.window.showWarningMessage(`DIMP Curator: could not read the run's weights: ${error.message}`);
        });
      }
      if (session.runningJob && job) {
        const fraction = state.phase === 'training' && state.totalSteps > 0 ? ` ${percent(state.step / state.totalSteps)}` : '';
        statusBar.text = `$(loading~spin) DIMP ${job.loss.toUpperCase()}: ${state.phase}${fraction}`;
        statusBar.tooltip = `${state.message}\nClick to show the training panel.`;
        statusBar.show();
      } else {
        statusBar.hide();
      }
    }),
  ];
  return {
    session,
    dimpWeights,
    shutdown: () => session.shutdown(),
    dispose: () => {
      for (const d of disposables.reverse()) d.dispose();
    },
  };
}
