import * as vscode from 'vscode';
import { showErrorMessage, showInformationMessage, showWarningMessage } from '../ui';
import { PROJECT_CONFIG_FILE } from '../../core/config';
import { DimpError } from '../../core/errors';
import { draftProjectConfig, type ProjectDraft } from '../../core/projectDraft';
import { CommandId } from '../../protocol/commands';
import { isJsonlDocument } from '../documents/trackedDocuments';

/** JSON Lines files of `folder` open in the editor: in tabs (loaded or not) and open documents. */
function openJsonlFiles(folder: vscode.WorkspaceFolder): string[] {
  const uris = [
    ...vscode.workspace.textDocuments.filter(isJsonlDocument).map((document) => document.uri),
    ...vscode.window.tabGroups.all.flatMap((group) => group.tabs).flatMap((tab) => (tab.input instanceof vscode.TabInputText ? [tab.input.uri] : [])),
  ];
  return [...new Set(uris.filter((uri) => uri.scheme === 'file' && /\.(jsonl|ndjson)$/i.test(uri.path) && vscode.workspace.getWorkspaceFolder(uri)?.uri.toString() === folder.uri.toString()).map((uri) => uri.fsPath))];
}

async function exists(uri: vscode.Uri): Promise<boolean> {
  return vscode.workspace.fs.stat(uri).then(
    () => true,
    () => false,
  );
}

/** Arguments of the command, for tests and other extensions: `replace` skips the question about an existing file. */
export interface CreateProjectConfigArgs {
  replace?: boolean;
}

/**
 * DIMP: Create Project Config: writes `dimp.config.json` at the root of the active file's workspace folder
 * from the JSON Lines files open there (else those in the folder), with each file's role, its detected
 * fields and the labels (core/projectDraft.ts decides), opens it, and logs what to check. Resolves with the
 * draft, or undefined when nothing was written.
 */
export function registerCreateProjectConfig(output: vscode.LogOutputChannel): vscode.Disposable {
  return vscode.commands.registerCommand(CommandId.createProjectConfig, async (args?: CreateProjectConfigArgs): Promise<ProjectDraft | undefined> => {
    const active = vscode.window.activeTextEditor?.document;
    const folder = (active && vscode.workspace.getWorkspaceFolder(active.uri)) ?? vscode.workspace.workspaceFolders?.[0];
    if (!folder || folder.uri.scheme !== 'file') {
      void showInformationMessage(`DIMP: open a folder first: ${PROJECT_CONFIG_FILE} goes at its root.`);
      return undefined;
    }
    const target = vscode.Uri.joinPath(folder.uri, PROJECT_CONFIG_FILE);
    if (!args?.replace && (await exists(target))) {
      const choice = await showWarningMessage(`DIMP: ${folder.name} already has a ${PROJECT_CONFIG_FILE}.`, 'Open It', 'Replace It');
      if (choice === 'Open It') await vscode.window.showTextDocument(target);
      if (choice !== 'Replace It') return undefined;
    }
    let files = openJsonlFiles(folder);
    if (files.length === 0) {
      const found = await vscode.workspace.findFiles(new vscode.RelativePattern(folder, '**/*.{jsonl,ndjson}'), '**/{node_modules,runs,.dimp}/**', 50);
      files = found.map((uri) => uri.fsPath).filter((file) => !/\.scores\.jsonl$/.test(file));
    }
    try {
      const draft = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `DIMP: reading ${files.length} JSON Lines file${files.length === 1 ? '' : 's'}` }, () =>
        draftProjectConfig(folder.uri.fsPath, files, { synthetic: active && isJsonlDocument(active) ? active.uri.fsPath : undefined }),
      );
      await vscode.workspace.fs.writeFile(target, Buffer.from(JSON.stringify(draft.config, null, 2) + '\n', 'utf8'));
      output.info(`wrote ${target.fsPath}:\n  ${draft.notes.join('\n  ')}`);
      await vscode.window.showTextDocument(target);
      // Not awaited: the command is done once the file is written, whether or not the message is answered.
      void showInformationMessage(`DIMP: wrote ${PROJECT_CONFIG_FILE}. ${draft.notes[draft.notes.length - 1]}`, 'Show Details').then((choice) => {
        if (choice === 'Show Details') output.show();
      });
      return draft;
    } catch (error) {
      if (!(error instanceof DimpError)) throw error;
      void showErrorMessage(`DIMP: ${error.message}`);
      return undefined;
    }
  });
}
