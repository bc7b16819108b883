/**
 * The training panel's protocol: the state the panel shows, the updates that change it (sent by the
 * training worker through the extension host), and the messages between the host and the webview.
 * The webview bundle imports this file, so it imports nothing but other protocol types.
 */
import type { CoreEvent, EvalScores, LossKind, TrainEpochEvent } from './events';

/** Where a training job is. */
export type TrainingPhase = 'idle' | 'preparing' | 'scoring' | 'training' | 'finished' | 'failed' | 'cancelled' | 'interrupted';

/** The job being shown: what trains on what, and where its run folder will be. */
export interface TrainingJobInfo {
  /** Unique per job, so updates of an old job are never applied to a new one. */
  jobId: string;
  loss: LossKind;
  /** Absolute path of the synthetic JSONL. */
  syntheticFile: string;
  validationFile: string | undefined;
  testFile: string | undefined;
  /** The run folder the job writes (it appears only when the job finishes). */
  runDir: string;
  epochs: number;
  /** Every path the job writes atomically; their temporary siblings are swept if the job is killed. */
  outputs: string[];
  /** `Date.now()` when the job started. */
  startedAt: number;
}

/** One point of the training-loss curve; `x` is in epochs (1.5 = halfway through epoch 2). */
export interface LossPoint {
  x: number;
  loss: number;
}

/** One finished epoch. */
export type EpochPoint = Pick<TrainEpochEvent, 'epoch' | 'trainLoss' | 'trainCrossEntropy' | 'validation' | 'test' | 'weights'>;

/** The outcome of a finished job, for the summary and the links. */
export interface TrainingResultInfo {
  runDir: string;
  modelDir: string;
  metricsFile: string;
  bestEpoch: number;
  validation: EvalScores | undefined;
  test: EvalScores | undefined;
  trainingRows: number;
  unscoredRows: number;
  rowsPerSecond: number;
  seconds: number;
  provider: string;
  /** The scores file imp/dimp used (written first when `scored`). */
  scoresFile: string | undefined;
  scored: boolean;
}

/** One earlier run on the same data, for the CE vs IMP vs DIMP table. */
export interface RunRow {
  runName: string;
  runDir: string;
  loss: LossKind;
  seed: number;
  epochs: number;
  bestEpoch: number;
  validation: EvalScores | undefined;
  test: EvalScores | undefined;
  createdAt: string;
}

/** Everything the panel shows; the host keeps it and re-sends it whole when the panel (re)loads. */
export interface TrainingPanelState {
  version: 1;
  phase: TrainingPhase;
  job: TrainingJobInfo | undefined;
  /** The current stage in words, or the error of a failed job. */
  message: string;
  /** Scoring progress, 0–1, while scoring. */
  scoringFraction: number | undefined;
  stepsPerEpoch: number;
  step: number;
  totalSteps: number;
  rowsPerSecond: number | undefined;
  etaSeconds: number | undefined;
  lossPoints: LossPoint[];
  epochs: EpochPoint[];
  result: TrainingResultInfo | undefined;
  /** Earlier runs on the same synthetic file, newest first. */
  history: RunRow[];
  /** The last lines of the job's log. */
  log: string[];
}

/** Update type tags, used by the worker, the host and the webview alike. */
export const JobUpdateType = {
  started: 'job-started',
  finished: 'job-finished',
  failed: 'job-failed',
  cancelled: 'job-cancelled',
  history: 'job-history',
} as const;

/** A job started (sent by the host before the worker runs). */
export interface JobStartedUpdate {
  type: typeof JobUpdateType.started;
  job: TrainingJobInfo;
}

/** The job wrote its run folder. */
export interface JobFinishedUpdate {
  type: typeof JobUpdateType.finished;
  result: TrainingResultInfo;
}

/** The job failed; nothing partial was left. */
export interface JobFailedUpdate {
  type: typeof JobUpdateType.failed;
  message: string;
}

/** The job was cancelled; nothing partial was left. */
export interface JobCancelledUpdate {
  type: typeof JobUpdateType.cancelled;
}

/** The earlier runs on the job's data were (re)read. */
export interface JobHistoryUpdate {
  type: typeof JobUpdateType.history;
  history: RunRow[];
}

/** Anything that changes the panel's state: a core event or a job update. */
export type TrainingUpdate = CoreEvent | JobStartedUpdate | JobFinishedUpdate | JobFailedUpdate | JobCancelledUpdate | JobHistoryUpdate;

/** Message type tags between the extension host and the panel's webview. */
export const PanelMessageType = {
  /** Host → webview: the whole state (on load, on revival). */
  state: 'dimp.panel.state',
  /** Host → webview: one update to apply. */
  update: 'dimp.panel.update',
  /** Webview → host: the page loaded and wants the state. */
  ready: 'dimp.panel.ready',
  /** Webview → host: the user pressed Cancel. */
  cancel: 'dimp.panel.cancel',
  /** Webview → host: show a run folder in the explorer. */
  revealRunFolder: 'dimp.panel.revealRunFolder',
  /** Webview → host: open a model folder's config.json. */
  openModel: 'dimp.panel.openModel',
  /** Webview → host: open a run's metrics.json. */
  openMetrics: 'dimp.panel.openMetrics',
} as const;

/** Host → webview: the whole state. */
export interface PanelStateMessage {
  type: typeof PanelMessageType.state;
  state: TrainingPanelState;
}

/** Host → webview: one update. */
export interface PanelUpdateMessage {
  type: typeof PanelMessageType.update;
  update: TrainingUpdate;
}

/** Every message the host sends the webview. */
export type HostToPanelMessage = PanelStateMessage | PanelUpdateMessage;

/** Webview → host: ready for the state. */
export interface PanelReadyMessage {
  type: typeof PanelMessageType.ready;
}

/** Webview → host: cancel the running job. */
export interface PanelCancelMessage {
  type: typeof PanelMessageType.cancel;
}

/** Webview → host: reveal, or open, something of a run; `runDir` must be a run the panel was sent. */
export interface PanelRunLinkMessage<T extends RunLinkType = RunLinkType> {
  type: T;
  runDir: string;
}

/** The message types that point at a run folder. */
export type RunLinkType = typeof PanelMessageType.revealRunFolder | typeof PanelMessageType.openModel | typeof PanelMessageType.openMetrics;

/** Every message the webview sends the host. */
export type PanelToHostMessage =
  | PanelReadyMessage
  | PanelCancelMessage
  | PanelRunLinkMessage<typeof PanelMessageType.revealRunFolder>
  | PanelRunLinkMessage<typeof PanelMessageType.openModel>
  | PanelRunLinkMessage<typeof PanelMessageType.openMetrics>;
