import * as vscode from 'vscode';
import { CommandId } from '../protocol/commands';
import { affectsSettings, readSettings } from './settings';

/**
 * The status bar item: the execution provider (requested, or in use after scoring, with a fallback
 * reported) and scoring progress. Clicking selects the provider; while scoring, it cancels.
 */
export class DimpStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('dimpCurator.status', vscode.StatusBarAlignment.Left, 10);
  private readonly disposables: vscode.Disposable[] = [this.item];
  private provider: { name: string; note: string | undefined } | undefined;
  private progress: { text: string; percent: number } | undefined;
  /** The progress shown, oldest first (the last 5,000), for the tests: a bar must never go back. */
  private readonly progressShown: { text: string; percent: number }[] = [];

  constructor() {
    this.item.name = 'DIMP Curator';
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (!affectsSettings(event, ['executionProvider'])) return;
        this.provider = undefined;
        this.render();
      }),
    );
    this.render();
  }

  /** The provider that ran the last scoring; `note` says why it is not the one asked for. */
  setProvider(name: string, note?: string): void {
    this.provider = { name, note };
    this.render();
  }

  /** Shows scoring progress (percent 0–100); undefined hides it. */
  setProgress(progress: { text: string; percent: number } | undefined): void {
    this.progress = progress;
    if (progress) {
      this.progressShown.push({ ...progress });
      if (this.progressShown.length > 5000) this.progressShown.splice(0, this.progressShown.length - 5000);
    }
    this.render();
  }

  /** Every progress shown so far (the last 5,000), oldest first, for the tests. */
  get progressHistory(): readonly { text: string; percent: number }[] {
    return this.progressShown;
  }

  /** The item's current text, for the tests. */
  get text(): string {
    return this.item.text;
  }

  private render(): void {
    const requested = readSettings().executionProvider ?? 'auto';
    if (this.progress) {
      this.item.text = `$(sync~spin) DIMP ${this.progress.text} ${Math.round(this.progress.percent)}%`;
      this.item.tooltip = 'DIMP Curator is scoring in the background. Click to cancel.';
      this.item.command = CommandId.cancelScoring;
    } else {
      const shown = this.provider?.name ?? requested;
      this.item.text = `$(beaker) DIMP · ${shown}${this.provider?.note ? ' $(warning)' : ''}`;
      this.item.tooltip = this.provider?.note
        ? `Execution provider: ${shown} (${this.provider.note}). Click to choose another.`
        : `Execution provider: ${shown}${this.provider ? '' : ' (requested)'}. Click to choose another.`;
      this.item.command = CommandId.selectExecutionProvider;
    }
    this.item.show();
  }

  dispose(): void {
    for (const disposable of this.disposables) disposable.dispose();
  }
}
