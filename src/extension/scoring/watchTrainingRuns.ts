import * as vscode from 'vscode';
import { mayBringDimpWeights as bringsDimpWeights } from '../../core/train/lastDimpWeights';
import type { ScoreStore } from './scoreStore';

const DEBOUNCE_MS = 1000;

/**
 * Reloads the score tables when a training run appears, so hovers show the newest DIMP weights without a
 * reload of the window. A run folder is renamed into place whole, and a rename reports the folder, not the
 * files in it; and a new `runs/` folder can fill before the watcher watches inside it. So the runs folder,
 * run folders and `weights.jsonl` files are all watched.
 */
export function watchTrainingRuns(store: ScoreStore, log: (message: string) => void): vscode.Disposable {
  let timer: NodeJS.Timeout | undefined;
  const reload = (uri: vscode.Uri): void => {
    if (!bringsDimpWeights(uri.fsPath)) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      log(`${uri.fsPath} appeared: reloading the scores for the newest DIMP weights`);
      store.refreshAll();
    }, DEBOUNCE_MS);
  };
  const watchers = ['**/runs', '**/runs/*', '**/weights.jsonl'].map((pattern) => vscode.workspace.createFileSystemWatcher(pattern, false, false, true));
  return vscode.Disposable.from(
    ...watchers,
    ...watchers.flatMap((watcher) => [watcher.onDidCreate(reload), watcher.onDidChange(reload)]),
    { dispose: () => clearTimeout(timer) },
  );
}
