/**
 * How updates change the panel's state. The host and the webview apply the same function, so the
 * state the host re-sends after a reload is the state the webview had built.
 */
import type { CoreEvent } from './events';
import { JobUpdateType, type TrainingPanelState, type TrainingUpdate } from './trainingPanel';

/** At most this many loss points are kept; beyond it every other point is dropped (the curve keeps its shape). */
export const MAX_LOSS_POINTS = 2000;

/** At most this many log lines are kept. */
export const MAX_LOG_LINES = 200;

/** The state of a panel that has shown no job yet. */
export function emptyTrainingState(): TrainingPanelState {
  return {
    version: 1,
    phase: 'idle',
    job: undefined,
    message: 'No training run yet. Run “DIMP: Train with DIMP” on a synthetic JSONL file.',
    scoringFraction: undefined,
    stepsPerEpoch: 0,
    step: 0,
    totalSteps: 0,
    rowsPerSecond: undefined,
    etaSeconds: undefined,
    lossPoints: [],
    epochs: [],
    result: undefined,
    history: [],
    log: [],
  };
}

/** True while a job runs (its updates may still arrive). */
export function isActivePhase(phase: TrainingPanelState['phase']): boolean {
  return phase === 'preparing' || phase === 'scoring' || phase === 'training';
}

function appendLog(state: TrainingPanelState, line: string): void {
  state.log.push(line);
  if (state.log.length > MAX_LOG_LINES) state.log.splice(0, state.log.length - MAX_LOG_LINES);
}

const percent = (x: number): string => `${(x * 100).toFixed(1)}%`;

/** One reducer per update type; the compiler checks none is missing. */
type Reducers = { [T in TrainingUpdate['type']]: (state: TrainingPanelState, update: Extract<TrainingUpdate, { type: T }>) => void };

const reducers: Reducers = {
  [JobUpdateType.started]: (state, update) => {
    const history = state.history;
    Object.assign(state, emptyTrainingState(), { phase: 'preparing', job: update.job, message: 'Reading the data…', history });
  },
  log: (state, event) => {
    appendLog(state, `${event.level === 'info' ? '' : `${event.level}: `}${event.message}`);
  },
  'score-progress': (state, event) => {
    if (event.stage !== 'read') state.phase = 'scoring';
    state.message = event.message;
    state.scoringFraction = event.total > 0 ? event.done / event.total : undefined;
    if (event.stage !== 'score') appendLog(state, event.message);
  },
  'train-start': (state, event) => {
    state.phase = 'training';
    state.stepsPerEpoch = event.stepsPerEpoch;
    state.totalSteps = event.stepsPerEpoch * event.epochs;
    state.step = 0;
    state.scoringFraction = undefined;
    state.message = `Training (${event.loss.toUpperCase()}) on ${event.rows.toLocaleString('en-US')} rows, ${event.epochs} epochs${(event.threads ?? 1) > 1 ? `, ${event.threads} threads` : ''}`;
    if (state.job) state.job.epochs = event.epochs;
    appendLog(state, state.message);
  },
  'train-progress': (state, event) => {
    state.step = event.step;
    state.totalSteps = event.totalSteps;
    state.rowsPerSecond = event.rowsPerSecond;
    state.etaSeconds = event.etaSeconds;
    state.message = `Epoch ${event.epoch} of ${state.job?.epochs ?? '?'}`;
    const x = state.stepsPerEpoch > 0 ? event.step / state.stepsPerEpoch : event.epoch;
    state.lossPoints.push({ x, loss: event.loss });
    if (state.lossPoints.length > MAX_LOSS_POINTS) {
      const last = state.lossPoints.length - 1;
      state.lossPoints = state.lossPoints.filter((_, i) => i % 2 === 0 || i === last);
    }
  },
  'train-epoch': (state, event) => {
    state.epochs.push({
      epoch: event.epoch,
      trainLoss: event.trainLoss,
      trainCrossEntropy: event.trainCrossEntropy,
      validation: event.validation,
      test: event.test,
      weights: event.weights,
    });
    state.step = event.epoch * state.stepsPerEpoch;
    // An epoch too short for a throttled progress event still puts a point on the loss curve.
    const last = state.lossPoints[state.lossPoints.length - 1];
    if (!last || last.x < event.epoch - 1e-9) state.lossPoints.push({ x: event.epoch, loss: event.trainLoss });
    state.rowsPerSecond = event.rowsPerSecond;
    state.message = `Epoch ${event.epoch} of ${state.job?.epochs ?? '?'} done`;
    const validation = event.validation ? ` · validation accuracy ${percent(event.validation.accuracy)}` : '';
    appendLog(state, `epoch ${event.epoch}: loss ${event.trainLoss.toFixed(4)}${validation} · mean weight ${event.weights.mean.toFixed(3)}`);
  },
  'train-done': (state, event) => {
    state.etaSeconds = 0;
    state.message = `Best epoch ${event.bestEpoch}; exporting the model and testing it…`;
    appendLog(state, `best epoch ${event.bestEpoch}${event.validation ? ` (validation accuracy ${percent(event.validation.accuracy)})` : ''}, ${event.seconds.toFixed(1)} s`);
  },
  [JobUpdateType.finished]: (state, update) => {
    state.phase = 'finished';
    state.result = update.result;
    state.etaSeconds = 0;
    state.step = state.totalSteps;
    state.message = `Finished in ${update.result.seconds.toFixed(1)} s`;
    appendLog(state, `run folder: ${update.result.runDir}`);
  },
  [JobUpdateType.failed]: (state, update) => {
    state.phase = 'failed';
    state.message = update.message;
    state.etaSeconds = undefined;
    appendLog(state, `error: ${update.message}`);
  },
  [JobUpdateType.cancelled]: (state) => {
    state.phase = 'cancelled';
    state.message = 'Cancelled; no partial outputs were left.';
    state.etaSeconds = undefined;
    appendLog(state, 'cancelled');
  },
  [JobUpdateType.history]: (state, update) => {
    state.history = update.history;
  },
};

/** Applies one update to the state, in place; unknown update types are ignored. */
export function applyTrainingUpdate(state: TrainingPanelState, update: TrainingUpdate | CoreEvent): void {
  const reducer = (reducers as Record<string, ((state: TrainingPanelState, update: TrainingUpdate) => void) | undefined>)[update.type];
  reducer?.(state, update);
}
