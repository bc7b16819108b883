import * as vscode from 'vscode';
import { CommandId, type CommandIdValue } from '../../protocol/commands';

/**
 * The training commands until the training panel exists: each says how to run the same thing from the
 * command line, which uses the same core.
 */
export function registerTrainingHints(): vscode.Disposable {
  const hints: [CommandIdValue, string | undefined][] = [
    [CommandId.trainDimp, 'dimp-curator train --loss dimp --synthetic SYNTHETIC.jsonl --scores SCORES.jsonl'],
    [CommandId.trainImp, 'dimp-curator train --loss imp --synthetic SYNTHETIC.jsonl --scores SCORES.jsonl'],
    [CommandId.trainBaseline, 'dimp-curator train --loss ce --synthetic SYNTHETIC.jsonl'],
    [CommandId.trainCheckers, 'dimp-curator score --real REAL.jsonl --synthetic SYNTHETIC.jsonl'],
    [CommandId.openTrainingPanel, undefined],
    [CommandId.cancelTraining, undefined],
  ];
  return vscode.Disposable.from(
    ...hints.map(([id, hint]) =>
      vscode.commands.registerCommand(id, () => {
        void vscode.window.showInformationMessage(
          `DIMP Curator: training is not available in the editor yet.${hint ? ` Run it from a terminal: ${hint}` : ''}`,
        );
      }),
    ),
  );
}
