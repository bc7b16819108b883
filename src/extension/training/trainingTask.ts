import * as vscode from 'vscode';
import { showErrorMessage } from '../ui';
import { ExitCode } from '../../core/errors';
import { JobUpdateType, type TrainingUpdate } from '../../protocol/trainingPanel';
import type { LossKind } from '../../protocol/events';
import { findProjectConfig, loadProjectConfig } from '../../core/config';
import { DIMP_TASK_TYPE, resolveTrainingJob, type DimpTaskDefinition, type EditorTrainingSettings } from './jobRequest';
import type { TrainingSession } from './trainingSession';

/** The task source shown in Run Task. */
const TASK_SOURCE = 'DIMP';

/** Task names of the losses, as the commands name them (the two baselines run as tasks only). */
export const LOSS_TITLES: Record<LossKind, string> = {
  dimp: 'Train with DIMP',
  imp: 'Train with IMP',
  ce: 'Train Baseline (CE)',
  quality: 'Train Baseline (quality weights)',
  filter: 'Train Baseline (filter by quality)',
};

const percent = (x: number): string => `${(x * 100).toFixed(1)}%`;
const integer = (x: number): string => Math.round(x).toLocaleString('en-US');

/** One update as terminal text: whole lines end in CRLF; progress redraws its own line. */
function terminalText(update: TrainingUpdate): string | undefined {
  const clear = '\r\x1b[K';
  switch (update.type) {
    case 'log':
      return `${clear}${update.level === 'info' ? '' : `${update.level}: `}${update.message}\r\n`.replace(/\n(?!$)/g, '\r\n');
    case 'score-progress':
      return update.stage === 'score' && update.total > 0 ? `${clear}${update.message}` : `${clear}${update.message}\r\n`;
    case 'train-start':
      return `${clear}training (${update.loss}) on ${integer(update.rows)} rows, ${update.epochs} epochs${(update.threads ?? 1) > 1 ? `, ${update.threads} threads (Hogwild)` : ''}\r\n`;
    case 'train-progress':
      return `${clear}epoch ${update.epoch} · step ${update.step}/${update.totalSteps} · loss ${update.loss.toFixed(4)} · ${integer(update.rowsPerSecond)} rows/s · ETA ${update.etaSeconds.toFixed(0)} s`;
    case 'train-epoch':
      return (
        `${clear}epoch ${update.epoch}: loss ${update.trainLoss.toFixed(4)} (CE ${update.trainCrossEntropy.toFixed(4)})` +
        `${update.validation ? ` · val acc ${percent(update.validation.accuracy)}` : ''} · mean weight ${update.weights.mean.toFixed(3)}\r\n`
      );
    case 'train-done':
      return `${clear}best epoch ${update.bestEpoch}${update.validation ? ` (val acc ${percent(update.validation.accuracy)})` : ''}, ${update.seconds.toFixed(1)} s\r\n`;
    case JobUpdateType.finished:
      return (
        `${clear}test acc ${update.result.test ? percent(update.result.test.accuracy) : '–'} · macro-F1 ${update.result.test ? percent(update.result.test.macroF1) : '–'}` +
        ` · ${integer(update.result.rowsPerSecond)} rows/s · ${update.result.provider}\r\nrun folder: ${update.result.runDir}\r\n`
      );
    case JobUpdateType.failed:
      return `${clear}\x1b[31merror: ${update.message.replace(/\n/g, '\r\n')}\x1b[0m\r\n`;
    case JobUpdateType.cancelled:
      return `${clear}cancelled; no partial outputs were left\r\n`;
    default:
      return undefined;
  }
}

/**
 * The task's terminal: starts the job when VS Code opens it, prints the job's log, and cancels the job
 * on Ctrl-C or when the terminal is closed.
 */
class TrainingTerminal implements vscode.Pseudoterminal {
  private readonly writeEmitter = new vscode.EventEmitter<string>();
  private readonly closeEmitter = new vscode.EventEmitter<number>();
  private readonly disposables: vscode.Disposable[] = [this.writeEmitter, this.closeEmitter];
  private jobId: string | undefined;
  private closed = false;

  readonly onDidWrite = this.writeEmitter.event;
  readonly onDidClose = this.closeEmitter.event;

  constructor(
    private readonly definition: vscode.TaskDefinition,
    private readonly workspaceFolder: string | undefined,
    private readonly session: TrainingSession,
    private readonly settingsFor: (syntheticFile: string) => EditorTrainingSettings,
  ) {}

  open(): void {
    void this.start();
  }

  private async start(): Promise<void> {
    try {
      const { spec, info, configFile, scoreMetaFile, warnings } = await resolveTrainingJob(this.definition, { workspaceFolder: this.workspaceFolder, settingsFor: this.settingsFor });
      if (this.closed) return;
      const running = this.session.runningJob;
      if (running) throw new Error(`a training run is in progress (${running.loss} on ${running.syntheticFile}); cancel it first (DIMP: Cancel Training)`);
      this.jobId = info.jobId;
      this.writeEmitter.fire(
        `${LOSS_TITLES[spec.loss]} · ${spec.synthetic.path}\r\n` +
          `${configFile ? `config: ${configFile}\r\n` : ''}validation: ${spec.validation?.path ?? 'none'} · test: ${spec.test?.path ?? 'none'} · epochs: ${info.epochs}${spec.pytorch ? ` · engine: PyTorch (${spec.pytorch.settings.model}, ${spec.pytorch.settings.python})` : ''}${spec.finetune ? ` · fine-tuning ${spec.finetune.model}` : ''}\r\n` +
          `run folder: ${info.runDir} (appears when the run finishes)\r\nCtrl-C or closing this terminal cancels the run.\r\n\r\n`,
      );
      for (const warning of warnings) this.writeEmitter.fire(`warning: ${warning}\r\n`);
      this.disposables.push(
        this.session.onDidUpdate(({ jobId, update }) => {
          if (jobId !== this.jobId) return;
          const text = terminalText(update);
          if (text) this.writeEmitter.fire(text);
        }),
      );
      const outcome = await this.session.run(spec, info, scoreMetaFile);
      this.finish(outcome.kind === 'finished' ? ExitCode.ok : outcome.kind === 'cancelled' ? ExitCode.cancelled : outcome.failure === 'internal' ? ExitCode.failure : ExitCode[outcome.failure]);
    } catch (error) {
      const message = (error as Error).message;
      this.writeEmitter.fire(`\x1b[31merror: ${message.replace(/\n/g, '\r\n')}\x1b[0m\r\n`);
      void showErrorMessage(`DIMP Curator: ${message}`);
      this.finish(ExitCode.usage);
    }
  }

  private finish(code: number): void {
    if (this.closed) return;
    this.closed = true;
    this.closeEmitter.fire(code);
    for (const d of this.disposables) d.dispose();
  }

  handleInput(data: string): void {
    // Ctrl-C, as in any terminal.
    if (data === '\x03' && this.jobId) {
      this.writeEmitter.fire('^C cancelling…\r\n');
      this.session.cancel(this.jobId);
    }
  }

  close(): void {
    // The user closed the terminal (or the task was terminated): the run stops too.
    if (this.jobId) this.session.cancel(this.jobId);
    this.closed = true;
    for (const d of this.disposables) d.dispose();
  }
}

/** A `dimp` task for a definition; it runs in the training worker through a pseudoterminal. */
export function createTrainingTask(
  definition: DimpTaskDefinition | vscode.TaskDefinition,
  scope: vscode.WorkspaceFolder | vscode.TaskScope.Workspace,
  name: string,
  session: TrainingSession,
  settingsFor: (syntheticFile: string) => EditorTrainingSettings,
): vscode.Task {
  const folder = typeof scope === 'object' ? scope.uri.fsPath : vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const execution = new vscode.CustomExecution(async (resolved) => new TrainingTerminal(resolved, folder, session, settingsFor));
  const task = new vscode.Task(definition, scope, name, TASK_SOURCE, execution);
  // The log shows beside the panel without taking the focus from the editor.
  task.presentationOptions = { reveal: vscode.TaskRevealKind.Always, focus: false, panel: vscode.TaskPanelKind.Dedicated, clear: true };
  task.detail = 'train a classifier on synthetic data in the background; progress in the DIMP training panel';
  return task;
}

/**
 * Provides one task per loss for each workspace folder whose `dimp.config.json` names a synthetic
 * dataset, and resolves `dimp` tasks written in tasks.json.
 */
export class TrainingTaskProvider implements vscode.TaskProvider {
  constructor(
    private readonly session: TrainingSession,
    private readonly settingsFor: (syntheticFile: string) => EditorTrainingSettings,
  ) {}

  async provideTasks(): Promise<vscode.Task[]> {
    const tasks: vscode.Task[] = [];
    for (const folder of vscode.workspace.workspaceFolders ?? []) {
      const configFile = await findProjectConfig(folder.uri.fsPath, folder.uri.fsPath);
      if (!configFile) continue;
      // A broken config is reported when a task runs; listing tasks stays quiet.
      const loaded = await loadProjectConfig(configFile, folder.uri.fsPath).catch(() => undefined);
      if (!loaded?.config.datasets?.synthetic) continue;
      for (const loss of ['dimp', 'imp', 'ce', 'quality', 'filter'] as const) {
        tasks.push(createTrainingTask({ type: DIMP_TASK_TYPE, loss }, folder, LOSS_TITLES[loss], this.session, this.settingsFor));
      }
    }
    return tasks;
  }

  resolveTask(task: vscode.Task): vscode.Task | undefined {
    if (task.definition.type !== DIMP_TASK_TYPE) return undefined;
    const scope = task.scope && typeof task.scope === 'object' ? task.scope : vscode.TaskScope.Workspace;
    return createTrainingTask(task.definition, scope, task.name, this.session, this.settingsFor);
  }
}
