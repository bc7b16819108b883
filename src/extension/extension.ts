import * as vscode from 'vscode';
import { CommandId, type CommandIdValue } from '../protocol/commands';

/**
 * The composition root. Activation stays light: nothing heavy (no onnxruntime, no model) loads here.
 * The editor features (scores on lines, hovers, Problems, the samples view) and the training panel are
 * built in their own issues; until then their commands point to the CLI, which runs the same core.
 */
export function activate(context: vscode.ExtensionContext): void {
  const cliHint: Partial<Record<CommandIdValue, string>> = {
    [CommandId.scoreSyntheticData]: 'dimp-curator score --real REAL.jsonl --synthetic SYNTHETIC.jsonl',
    [CommandId.trainDimp]: 'dimp-curator train --loss dimp --synthetic SYNTHETIC.jsonl --scores SCORES.jsonl',
    [CommandId.trainImp]: 'dimp-curator train --loss imp --synthetic SYNTHETIC.jsonl --scores SCORES.jsonl',
    [CommandId.trainBaseline]: 'dimp-curator train --loss ce --synthetic SYNTHETIC.jsonl',
    [CommandId.exportCuratedDataset]: 'dimp-curator curate --synthetic SYNTHETIC.jsonl --scores SCORES.jsonl --keep-fraction 0.8 --out CURATED.jsonl',
  };
  for (const id of Object.values(CommandId)) {
    context.subscriptions.push(
      vscode.commands.registerCommand(id, () => {
        const hint = cliHint[id];
        void vscode.window.showInformationMessage(
          `DIMP Curator: this command is not available in the editor yet.${hint ? ` Run it from a terminal: ${hint}` : ''}`,
        );
      }),
    );
  }
}

/** Nothing to release beyond `context.subscriptions`. */
export function deactivate(): void {}
