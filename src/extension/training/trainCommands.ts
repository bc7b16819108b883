import * as path from 'node:path';
import * as vscode from 'vscode';
import { showErrorMessage, showWarningMessage } from '../ui';
import { entryPath, findProjectConfig, loadProjectConfig, type ProjectConfig } from '../../core/config';
import { PYTHON_ENV_VARIABLE } from '../../core/jobs/settings';
import { DEFAULT_FINETUNE_SETTINGS } from '../../core/train/fineTuneTraining';
import { DEFAULT_CLASSIFIER_SETTINGS } from '../../core/train/ngramTraining';
import { DEFAULT_PYTORCH_SETTINGS, pytorchEngineStatus } from '../../core/train/pytorchEngine';
import type { LossKind } from '../../protocol/events';
import { DIMP_TASK_TYPE, type DimpTaskDefinition, type EditorTrainingSettings, type TrainableModelKind } from './jobRequest';
import { createTrainingTask, LOSS_TITLES } from './trainingTask';
import type { TrainingSession } from './trainingSession';
import { CHOICES_KEY, rememberedChoices, type TrainingChoices } from '../choices';

type DatasetRole = 'validation' | 'test' | 'real';

const ROLE_TITLES: Record<DatasetRole, string> = { validation: 'Validation set', test: 'Test set', real: 'Real set for scoring' };
const ROLE_HELP: Record<DatasetRole, string> = {
  validation: 'real labelled rows; the best epoch by validation accuracy is kept',
  test: 'real labelled rows for the final report',
  real: 'real labelled rows for the quality checker; used only when the synthetic rows have no scores yet',
};
const MODEL_TITLES: Record<TrainableModelKind, string> = {
  ngram: 'Built-in n-gram classifier (fastText architecture, exported to ONNX)',
  finetune: 'Fine-tune a transformer (onnxruntime, no Python)',
  pytorch: 'PyTorch (Hugging Face Trainer)',
};

/** One engine or model kind the picker offers, with whether it can run here and why. */
export interface ModelChoice {
  modelKind: TrainableModelKind;
  label: string;
  available: boolean;
  /** For the PyTorch engine: the probe of the configured Python (versions, or what it lacks). */
  description: string;
  detail?: string;
}

/**
 * The model kinds Train with … offers: the built-in classifier always; fine-tuning when the config names the
 * classifier to fine-tune (`finetune.model`) and the workspace is trusted; the PyTorch engine with the probe of
 * the configured Python (`dimpCurator.pythonPath`, else the config's, else $DIMP_CURATOR_PYTHON, else python3):
 * available when it has torch, transformers, accelerate and datasets.
 */
export async function modelChoices(config: ProjectConfig, pythonPath: string | undefined, trusted: boolean): Promise<ModelChoice[]> {
  // An empty setting is no setting.
  const python = pythonPath || config.pytorch?.pythonPath || process.env[PYTHON_ENV_VARIABLE] || 'python3';
  // Probing runs the interpreter: not one an untrusted workspace names.
  const status = trusted ? await pytorchEngineStatus(python) : { python, available: false, description: 'not in an untrusted workspace', missing: 'trust the workspace to use the PyTorch engine' };
  const model = config.pytorch?.model;
  const finetuneModel = config.finetune?.model;
  return [
    { modelKind: 'ngram', label: MODEL_TITLES.ngram, available: true, description: 'no Python needed' },
    {
      modelKind: 'finetune',
      label: MODEL_TITLES.finetune,
      available: trusted && finetuneModel !== undefined,
      description: finetuneModel ? path.basename(finetuneModel) : 'no model named',
      detail: !trusted
        ? 'trust the workspace to fine-tune the model it names'
        : finetuneModel === undefined
          ? 'name the classifier to fine-tune: "finetune": {"model": "…"} in dimp.config.json (config.json, tokenizer.json and an ONNX graph with logits)'
          : `fine-tunes every weight of ${finetuneModel} with AdamW on onnxruntime (the device of dimpCurator.device)`,
    },
    {
      modelKind: 'pytorch',
      label: MODEL_TITLES.pytorch,
      available: status.available && model !== undefined,
      description: status.description,
      detail: !status.available
        ? (status.missing ?? `set dimpCurator.pythonPath to a Python with torch, transformers, accelerate and datasets`)
        : model === undefined
          ? 'name the model to fine-tune: "pytorch": {"model": "…"} in dimp.config.json'
          : `fine-tunes ${model} with ${python}, launched by accelerate launch`,
    },
  ];
}

/** What the Train commands need from the composition root. */
export interface TrainCommandContext {
  session: TrainingSession;
  workspaceState: vscode.Memento;
  settingsFor: (syntheticFile: string) => EditorTrainingSettings;
  showPanel: () => void;
}

function isJsonlUri(uri: vscode.Uri | undefined): uri is vscode.Uri {
  return uri !== undefined && uri.scheme === 'file' && /\.(jsonl|ndjson)$/i.test(uri.fsPath);
}

const isJsonlDocument = (document: vscode.TextDocument | undefined): document is vscode.TextDocument =>
  document !== undefined && document.uri.scheme === 'file' && (document.languageId === 'jsonl' || isJsonlUri(document.uri));

/**
 * The synthetic file: the command's argument (explorer), else the active editor's JSONL; when no text
 * editor is active (the training panel has focus), the file the panel shows, else the one JSONL file open
 * in a visible editor.
 */
export function syntheticUri(arg: unknown, session?: Pick<TrainingSession, 'currentState'>): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri && isJsonlUri(arg)) return arg;
  const document = vscode.window.activeTextEditor?.document;
  if (isJsonlDocument(document)) return document.uri;
  const shown = session?.currentState.job?.syntheticFile;
  if (shown) return vscode.Uri.file(shown);
  const visible = [...new Map(vscode.window.visibleTextEditors.map((e) => e.document).filter(isJsonlDocument).map((d) => [d.uri.toString(), d.uri])).values()];
  return visible.length === 1 ? visible[0] : undefined;
}

function relativeLabel(file: string, folder: string | undefined): string {
  return folder && file.startsWith(folder + path.sep) ? path.relative(folder, file) : file;
}

interface Resolved<T> {
  value: T;
  source: string;
}

/** A choice's value and where it came from: the user's last pick, the config, or the default. */
function resolveDataset(role: DatasetRole, choices: TrainingChoices, config: ProjectConfig, settingsReal: string | undefined): Resolved<string> {
  if (choices[role] !== undefined) return { value: choices[role]!, source: 'last used' };
  if (role === 'real' && settingsReal) return { value: settingsReal, source: 'dimpCurator.realData' };
  const fromConfig = entryPath(config.datasets?.[role]);
  if (fromConfig) return { value: fromConfig, source: 'dimp.config.json' };
  return { value: '', source: 'not set' };
}

function resolveEpochs(choices: TrainingChoices, config: ProjectConfig): Resolved<number> {
  if (choices.epochs !== undefined) return { value: choices.epochs, source: 'last used' };
  if (choices.model === 'finetune') {
    return config.finetune?.epochs !== undefined ? { value: config.finetune.epochs, source: 'dimp.config.json' } : { value: DEFAULT_FINETUNE_SETTINGS.epochs, source: 'default' };
  }
  if (choices.model === 'pytorch') {
    return config.pytorch?.epochs !== undefined ? { value: config.pytorch.epochs, source: 'dimp.config.json' } : { value: DEFAULT_PYTORCH_SETTINGS.epochs, source: 'default' };
  }
  if (config.training?.epochs !== undefined) return { value: config.training.epochs, source: 'dimp.config.json' };
  return { value: DEFAULT_CLASSIFIER_SETTINGS.epochs, source: 'default' };
}

async function pickDataset(role: DatasetRole, current: string, folder: vscode.WorkspaceFolder | undefined, synthetic: string): Promise<string | undefined> {
  type Item = vscode.QuickPickItem & { file: string | 'browse' };
  const pattern = folder ? new vscode.RelativePattern(folder, '**/*.{jsonl,ndjson}') : '**/*.{jsonl,ndjson}';
  const found = await vscode.workspace.findFiles(pattern, '**/{node_modules,.git,runs}/**', 500);
  const files = found
    .map((uri) => uri.fsPath)
    // Files the tool writes are never datasets.
    .filter((file) => file !== synthetic && !/\.scores\.jsonl$|(^|[\\/])(weights|train-log)\.jsonl$/i.test(file))
    .sort();
  const items: Item[] = [
    { label: 'None', description: role === 'real' ? 'score only with a quality model from dimp.config.json' : '', file: '', picked: current === '' },
    ...files.map((file) => ({ label: path.basename(file), description: relativeLabel(path.dirname(file), folder?.uri.fsPath), file, picked: file === current })),
    { label: 'Browse…', file: 'browse' },
  ];
  const picked = await vscode.window.showQuickPick(items, { title: `${ROLE_TITLES[role]}: ${ROLE_HELP[role]}`, placeHolder: current ? `now: ${path.basename(current)}` : 'now: none' });
  if (!picked) return undefined;
  if (picked.file !== 'browse') return picked.file;
  const chosen = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'JSON Lines': ['jsonl', 'ndjson'] }, defaultUri: folder?.uri, title: ROLE_TITLES[role] });
  return chosen?.[0]?.fsPath;
}

async function askEpochs(current: number): Promise<number | undefined> {
  const text = await vscode.window.showInputBox({
    title: 'Training epochs',
    value: String(current),
    prompt: 'Passes over the synthetic rows (1–1000); the best epoch by validation accuracy is kept',
    validateInput: (value) => (/^\d+$/.test(value.trim()) && Number(value) >= 1 && Number(value) <= 1000 ? undefined : 'an integer from 1 to 1000'),
  });
  return text === undefined ? undefined : Number(text.trim());
}

/**
 * Shows what the run will use (each value with its source) and lets the user change any of it;
 * returns the choices when the user starts, undefined when they dismiss the picker.
 */
async function reviewChoices(
  loss: LossKind,
  synthetic: string,
  folder: vscode.WorkspaceFolder | undefined,
  config: ProjectConfig,
  remembered: TrainingChoices,
  settingsReal: string | undefined,
  pythonPath: string | undefined,
  trusted: boolean,
): Promise<TrainingChoices | undefined> {
  const choices: TrainingChoices = { ...remembered };
  const roles: DatasetRole[] = loss === 'ce' ? ['validation', 'test'] : ['validation', 'test', 'real'];
  type Action = { kind: 'start' } | { kind: 'dataset'; role: DatasetRole } | { kind: 'epochs' } | { kind: 'model' };
  type Item = vscode.QuickPickItem & { action: Action };
  for (;;) {
    const epochs = resolveEpochs(choices, config);
    const model = choices.model ?? 'ngram';
    const items: Item[] = [
      { label: `$(play) Start ${LOSS_TITLES[loss]}`, description: `on ${path.basename(synthetic)}`, action: { kind: 'start' } },
      { label: 'Settings', kind: vscode.QuickPickItemKind.Separator, action: { kind: 'start' } },
      ...roles.map((role): Item => {
        const dataset = resolveDataset(role, choices, config, settingsReal);
        return {
          label: `${ROLE_TITLES[role]}: ${dataset.value ? path.basename(dataset.value) : 'none'}`,
          description: dataset.source,
          detail: ROLE_HELP[role],
          action: { kind: 'dataset', role },
        };
      }),
      { label: `Epochs: ${epochs.value}`, description: epochs.source, action: { kind: 'epochs' } },
      { label: `Model: ${MODEL_TITLES[model]}`, description: choices.model ? 'last used' : 'default', action: { kind: 'model' } },
    ];
    const picked = await vscode.window.showQuickPick(items, { title: `${LOSS_TITLES[loss]}: ${path.basename(synthetic)}`, placeHolder: 'Enter to start, or pick a setting to change it (remembered for this workspace)' });
    if (!picked) return undefined;
    const action = picked.action;
    if (action.kind === 'start') return choices;
    if (action.kind === 'dataset') {
      const file = await pickDataset(action.role, resolveDataset(action.role, choices, config, settingsReal).value, folder, synthetic);
      if (file !== undefined) choices[action.role] = file;
    } else if (action.kind === 'epochs') {
      const value = await askEpochs(epochs.value);
      if (value !== undefined) choices.epochs = value;
    } else {
      const kinds = vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'DIMP: checking the Python for the PyTorch engine' }, () => modelChoices(config, pythonPath, trusted));
      const items = kinds.then((list) => list.map((choice) => ({ ...choice, label: `${choice.available ? '' : '$(circle-slash) '}${choice.label}` })));
      const picked = await vscode.window.showQuickPick(items, { title: 'Model kind (transformer heads come with the transformer models)' });
      if (picked && !picked.available) void vscode.window.showWarningMessage(`DIMP Curator: ${MODEL_TITLES[picked.modelKind]} cannot run: ${picked.detail ?? picked.description}`);
      else if (picked) choices.model = picked.modelKind;
    }
  }
}

/**
 * Train with DIMP / IMP / Baseline (CE): the active JSONL is the synthetic set; the rest comes from
 * dimp.config.json or the picker, remembered per workspace; the run starts as a `dimp` task.
 */
export async function trainWithLoss(loss: LossKind, context: TrainCommandContext, arg?: unknown): Promise<void> {
  const running = context.session.runningJob;
  if (running) {
    const choice = await showWarningMessage(`A training run (${running.loss.toUpperCase()} on ${path.basename(running.syntheticFile)}) is in progress.`, 'Show Panel', 'Cancel Training');
    if (choice === 'Show Panel') context.showPanel();
    if (choice === 'Cancel Training') context.session.cancel();
    return;
  }
  const uri = syntheticUri(arg, context.session);
  if (!uri) {
    void showErrorMessage(`DIMP Curator: open the synthetic JSONL file to train on, then run “${LOSS_TITLES[loss]}” again.`);
    return;
  }
  const synthetic = uri.fsPath;
  const folder = vscode.workspace.getWorkspaceFolder(uri) ?? vscode.workspace.workspaceFolders?.[0];
  const configFile = await findProjectConfig(path.dirname(synthetic), folder?.uri.fsPath);
  let config: ProjectConfig = {};
  try {
    if (configFile) config = (await loadProjectConfig(configFile, path.dirname(configFile))).config;
  } catch (error) {
    void showErrorMessage(`DIMP Curator: ${(error as Error).message}`);
    return;
  }
  const all = rememberedChoices(context.workspaceState);
  const realData = context.settingsFor(synthetic).realData;
  const settingsReal = realData && folder ? path.resolve(folder.uri.fsPath, realData) : realData;
  const choices = await reviewChoices(loss, synthetic, folder, config, all[synthetic] ?? {}, settingsReal, context.settingsFor(synthetic).pythonPath, context.settingsFor(synthetic).trusted);
  if (!choices) return;
  await context.workspaceState.update(CHOICES_KEY, { ...all, [synthetic]: choices });

  const definition: DimpTaskDefinition = { type: DIMP_TASK_TYPE, loss, synthetic };
  if (configFile) definition.config = configFile;
  for (const role of ['validation', 'test', 'real'] as const) if (choices[role] !== undefined) definition[role] = choices[role];
  if (choices.epochs !== undefined) definition.epochs = choices.epochs;
  if (choices.model !== undefined) definition.model = choices.model;
  const task = createTrainingTask(definition, folder ?? vscode.TaskScope.Workspace, `${LOSS_TITLES[loss]}: ${path.basename(synthetic)}`, context.session, context.settingsFor);
  await vscode.tasks.executeTask(task);
}
