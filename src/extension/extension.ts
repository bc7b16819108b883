import * as vscode from 'vscode';
import { CommandId, type CommandIdValue } from '../protocol/commands';
import type { DimpWeightStore } from './training/dimpWeights';
import { registerTrainingFeature, type TrainingFeature } from './training/trainingFeature';
import type { TrainingSession } from './training/trainingSession';

/** What `activate` returns: the extension's API, used by its extension-host tests. */
export interface DimpCuratorApi {
  training: TrainingSession;
  dimpWeights: DimpWeightStore;
}

/** Commands that features register; the rest still point to the CLI. */
const TRAINING_COMMANDS: readonly CommandIdValue[] = [CommandId.trainDimp, CommandId.trainImp, CommandId.trainBaseline, CommandId.openTrainingPanel, CommandId.cancelTraining];

// The running feature, so that `deactivate` can wait for a training run to clean up (VS Code awaits
// the promise deactivate returns, but not disposables).
let training: TrainingFeature | undefined;

/**
 * The composition root. Activation stays light: nothing heavy (no onnxruntime, no model) loads here;
 * training runs in a worker thread started on demand. The editor features (scores on lines, hovers,
 * Problems, the samples view) are built in their own issue; until then their commands point to the CLI.
 */
export function activate(context: vscode.ExtensionContext): DimpCuratorApi {
  training = registerTrainingFeature(context);
  context.subscriptions.push(training);

  const cliHint: Partial<Record<CommandIdValue, string>> = {
    [CommandId.scoreSyntheticData]: 'dimp-curator score --real REAL.jsonl --synthetic SYNTHETIC.jsonl',
    [CommandId.exportCuratedDataset]: 'dimp-curator curate --synthetic SYNTHETIC.jsonl --scores SCORES.jsonl --keep-fraction 0.8 --out CURATED.jsonl',
  };
  for (const id of Object.values(CommandId)) {
    if (TRAINING_COMMANDS.includes(id)) continue;
    context.subscriptions.push(
      vscode.commands.registerCommand(id, () => {
        const hint = cliHint[id];
        void vscode.window.showInformationMessage(
          `DIMP Curator: this command is not available in the editor yet.${hint ? ` Run it from a terminal: ${hint}` : ''}`,
        );
      }),
    );
  }
  return { training: training.session, dimpWeights: training.dimpWeights };
}

/** Stops a running training job, leaving no partial outputs, before the extension host goes. */
export async function deactivate(): Promise<void> {
  await training?.shutdown();
  training = undefined;
}
