import * as vscode from 'vscode';
import { CommandId, type CommandIdValue } from '../../protocol/commands';

/**
 * Training commands the editor does not run yet (Train Checkers): each says how to run the same thing
 * from the command line, which uses the same core. Train with DIMP/IMP/CE, Open Training Panel and
 * Cancel Training belong to the training feature.
 */
export function registerTrainingHints(): vscode.Disposable {
  const hints: [CommandIdValue, string | undefined][] = [
    [CommandId.trainCheckers, 'dimp-curator score --real REAL.jsonl --synthetic SYNTHETIC.jsonl'],
  ];
  return vscode.Disposable.from(
    ...hints.map(([id, hint]) =>
      vscode.commands.registerCommand(id, () => {
        void vscode.window.showInformationMessage(
          `DIMP Curator: training the checkers alone is not available in the editor yet (Score Synthetic Data trains them and scores).${hint ? ` Run it from a terminal: ${hint}` : ''}`,
        );
      }),
    ),
  );
}
