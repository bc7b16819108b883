import * as vscode from 'vscode';
import { showErrorMessage, showInformationMessage } from '../ui';
import { parseJsonObject } from '../../core/data/dataset';
import { fieldChoices } from '../../core/data/fields';
import { DEVICE_CHOICES, type DeviceChoice } from '../../core/runtime/onnxRuntime';
import { CommandId } from '../../protocol/commands';
import { isJsonlDocument } from '../documents/trackedDocuments';
import { readSettings, SETTINGS_SECTION } from '../settings';

const PROVIDER_DETAIL: Record<DeviceChoice, string> = {
  auto: 'CUDA when onnxruntime has it, else CPU',
  cpu: 'always works',
  cuda: 'NVIDIA GPUs on Linux; falls back to CPU with a warning when it cannot start',
  webgpu: 'falls back to CPU with a warning when it cannot start',
};

/** Where a setting the user picks from a command is written: the workspace when one is open. */
const target = (): vscode.ConfigurationTarget => (vscode.workspace.workspaceFolders ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global);

/** Writes a window setting where it is set now (the workspace, which wins over the user settings), else in the user settings. */
async function updateWhereSet(key: string, value: unknown): Promise<void> {
  const config = vscode.workspace.getConfiguration(SETTINGS_SECTION);
  const inspected = config.inspect(key);
  const level = inspected?.workspaceValue !== undefined ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  await config.update(key, value, level);
}

/** Toggle Weight Decorations, Select Execution Provider and Configure Fields…: each writes a setting. */
export function registerSettingsCommands(): vscode.Disposable {
  return vscode.Disposable.from(
    vscode.commands.registerCommand(CommandId.toggleWeightDecorations, () => updateWhereSet('showWeightDecorations', !readSettings().showWeightDecorations)),
    vscode.commands.registerCommand(CommandId.selectExecutionProvider, async (choice?: DeviceChoice) => {
      const current = readSettings().executionProvider ?? 'auto';
      const picked =
        choice ??
        (
          await vscode.window.showQuickPick(
            DEVICE_CHOICES.map((device) => ({ label: device, description: device === current ? 'current' : undefined, detail: PROVIDER_DETAIL[device] })),
            { title: 'DIMP: execution provider for onnxruntime' },
          )
        )?.label;
      if (!picked) return;
      await vscode.workspace.getConfiguration(SETTINGS_SECTION).update('executionProvider', picked, target());
    }),
    vscode.commands.registerCommand(CommandId.configureFields, async (uri?: vscode.Uri) => {
      const document = uri ? await vscode.workspace.openTextDocument(uri).then(undefined, () => undefined) : vscode.window.activeTextEditor?.document;
      if (!document || !isJsonlDocument(document)) {
        void showInformationMessage('DIMP: open a JSON Lines file to pick its text and label fields.');
        return;
      }
      const keys = new Set<string>();
      const samples: Record<string, unknown>[] = [];
      for (let line = 0; line < Math.min(document.lineCount, 50); line++) {
        const parsed = parseJsonObject(document.lineAt(line).text);
        if ('value' in parsed) {
          samples.push(parsed.value);
          Object.keys(parsed.value).forEach((k) => keys.add(k));
        }
      }
      if (keys.size === 0) {
        void showErrorMessage('DIMP: the first lines of this file hold no JSON objects.');
        return;
      }
      // Start from what is in use: the settings, else what detection finds.
      const settings = readSettings(document.uri);
      const choices = fieldChoices(samples, { text: settings.textFields.length > 0 ? (settings.textFields as [string] | [string, string]) : undefined, label: settings.labelField });
      const textItems = choices.text.map(({ key, inUse }) => ({ label: key, picked: inUse, description: inUse ? 'in use' : undefined }));
      const picked = await vscode.window.showQuickPick(textItems, { title: 'Text field(s): one, or two for sentence pairs', canPickMany: true });
      const text = picked?.map((item) => item.label);
      if (!text || text.length === 0) return;
      if (text.length > 2) {
        void showErrorMessage('DIMP: pick one text field, or two for sentence pairs.');
        return;
      }
      const labelPick = await vscode.window.showQuickPick(
        choices.label(text).map(({ key, inUse }) => ({ label: key, description: inUse ? 'in use' : undefined })),
        { title: 'Label field' },
      );
      const label = labelPick?.label;
      if (!label) return;
      const config = vscode.workspace.getConfiguration(SETTINGS_SECTION, document.uri);
      await config.update('textFields', text, target());
      await config.update('labelField', label, target());
      void showInformationMessage(`DIMP: text ${text.join(' + ')}, label ${label}. Run DIMP: Score Synthetic Data again.`);
    }),
  );
}
