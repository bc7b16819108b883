import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ScoreStorage } from '../protocol/scoring';
import { registerCreateProjectConfig } from './commands/createProjectConfig';
import { registerExportCuratedDataset } from './commands/exportCuratedDataset';
import { registerSettingsCommands } from './commands/settingsCommands';
import { registerSortLinesByWeight } from './commands/sortLinesByWeight';
import { WeightDecorations, type AppliedDecorations } from './decorations/weightDecorations';
import { TrackedDocuments } from './documents/trackedDocuments';
import { registerRowHover } from './hover/rowHoverProvider';
import { RowProblems } from './problems/rowProblems';
import { ReviewMarks } from './review/reviewMarks';
import { ReviewQueueView, type ReviewQueueState } from './review/reviewQueueView';
import { ScoreStore } from './scoring/scoreStore';
import { ScoringController } from './scoring/scoringController';
import { watchTrainingRuns } from './scoring/watchTrainingRuns';
import { DimpStatusBar } from './statusBar';
import { contextKeys, shownMessages } from './ui';
import { registerTrainingFeature, type TrainingFeature } from './training/trainingFeature';
import type { TrainingSession } from './training/trainingSession';

/** What `activate` returns: a test-only window into what the features show. */
export interface DimpCuratorApi {
  testing: {
    /** The lines (0-based) per heat bucket and the badge texts of the last decoration pass on `uri`'s editor. */
    decorationsFor(uri: vscode.Uri): AppliedDecorations | undefined;
    /** What the review queue shows, after recomputing it. */
    reviewQueue(): Promise<ReviewQueueState>;
    /** Where a file's review marks are stored. */
    reviewMarksFile(uri: vscode.Uri): string;
    /** The status bar item's text. */
    statusBarText(): string;
    /** Every scoring progress the status bar showed (the last 5,000), oldest first. */
    statusBarProgress(): readonly { text: string; percent: number }[];
    /** True when no scoring job runs. */
    idle(): boolean;
    /** Where a file's scores are stored. */
    storageFor(uri: vscode.Uri): ScoreStorage;
    /** Loads the scores in memory again from storage, as a reload of the window would. */
    reloadScores(): void;
    /** The training session: its state and its updates. */
    training: TrainingSession;
    /** The last messages the extension showed, oldest first. */
    messages(): readonly { level: 'info' | 'warning' | 'error'; text: string }[];
    /** The `when`-clause context keys the extension set, with their values. */
    contextKeys(): Record<string, unknown>;
    /** This extension's log folder (VS Code's extension-host log is in the folder above it). */
    logFolder: string;
  };
}

// The training feature, so that `deactivate` can wait for a running job to clean up (VS Code awaits the
// promise deactivate returns, but not disposables).
let training: TrainingFeature | undefined;

/**
 * The composition root. Activation stays light: nothing heavy (no onnxruntime, no model) loads here; the
 * scoring and training workers start when there is something to score, load or train. Each feature is one
 * disposable.
 */
export function activate(context: vscode.ExtensionContext): DimpCuratorApi {
  const output = vscode.window.createOutputChannel('DIMP Curator', { log: true });
  const storageRoot = (context.storageUri ?? context.globalStorageUri).fsPath;
  const store = new ScoreStore(storageRoot, path.join(context.extensionPath, 'dist', 'scoringWorker.js'), (message) => output.warn(message));
  const documents = new TrackedDocuments(store, (message) => output.warn(message));
  const statusBar = new DimpStatusBar();
  const scoring = new ScoringController(store, documents, statusBar, output, context.workspaceState);
  const decorations = new WeightDecorations(documents);
  const reviewMarks = new ReviewMarks(store);
  const reviewQueue = new ReviewQueueView(store, documents, reviewMarks);
  training = registerTrainingFeature(context, store);
  context.subscriptions.push(
    output,
    store,
    documents,
    statusBar,
    scoring,
    decorations,
    reviewMarks,
    reviewQueue,
    new RowProblems(documents),
    registerRowHover(documents),
    registerSortLinesByWeight(documents),
    registerExportCuratedDataset(store, reviewMarks),
    registerSettingsCommands(),
    registerCreateProjectConfig(output),
    watchTrainingRuns(store, (message) => output.info(message)),
    training,
  );
  return {
    testing: {
      decorationsFor: (uri) => decorations.appliedTo(uri),
      reviewQueue: () => reviewQueue.state(),
      reviewMarksFile: (uri) => reviewMarks.fileFor(uri),
      statusBarText: () => statusBar.text,
      statusBarProgress: () => [...statusBar.progressHistory],
      idle: () => store.busy === 0,
      storageFor: (uri) => store.storageFor(uri),
      reloadScores: () => store.reloadAll(),
      training: training.session,
      messages: shownMessages,
      contextKeys,
      logFolder: context.logUri.fsPath,
    },
  };
}

/** Stops a running training job, leaving no partial outputs, before the extension host goes. */
export async function deactivate(): Promise<void> {
  await training?.shutdown();
  training = undefined;
}
