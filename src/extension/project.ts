import * as path from 'node:path';
import * as vscode from 'vscode';
import { defaultRunsDir } from '../core/jobs/trainJobSpec';
import { findProjectConfig, loadProjectConfig, type LoadedConfig } from '../core/config';

/**
 * The project a file belongs to: its workspace folder (or the file's folder) and the nearest
 * dimp.config.json between the file and that folder.
 */
export interface Project {
  root: string;
  loaded: LoadedConfig;
  /** Where training runs go (the config's `output`, default `runs/`): searched for the last DIMP weights. */
  runsDir: string;
}

/** Reads the project of `uri`; a broken dimp.config.json is an error the caller shows. */
export async function projectFor(uri: vscode.Uri): Promise<Project> {
  const root = vscode.workspace.getWorkspaceFolder(uri)?.uri.fsPath ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? path.dirname(uri.fsPath);
  const loaded = await loadProjectConfig(await findProjectConfig(path.dirname(uri.fsPath), root), root);
  return { root, loaded, runsDir: defaultRunsDir(loaded, root) };
}
