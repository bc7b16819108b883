/**
 * Rebuilds the panel's state of a finished run from its run folder: the events of `train-log.jsonl`
 * go through the same reducer as the live updates did, and `metrics.json` gives the result. A panel
 * revived after a reload uses it when the state it saved is older than the run's end. Never imports
 * vscode, so unit tests run it directly.
 */
import { readRunLog, readRunMetrics, runPaths } from '../../core/train/runFolder';
import { JobUpdateType, type TrainingJobInfo, type TrainingPanelState } from '../../protocol/trainingPanel';
import { applyTrainingUpdate, emptyTrainingState } from '../../protocol/trainingState';

/** The state of `job` as its finished run folder records it; undefined when the folder is not a whole run. */
export async function replayFinishedRun(job: TrainingJobInfo, history: TrainingPanelState['history']): Promise<TrainingPanelState | undefined> {
  const metrics = await readRunMetrics(job.runDir);
  const events = await readRunLog(job.runDir);
  if (!metrics || !events) return undefined;
  const paths = runPaths(job.runDir);
  const state = emptyTrainingState();
  state.history = history;
  applyTrainingUpdate(state, { type: JobUpdateType.started, job });
  for (const event of events) applyTrainingUpdate(state, event);
  applyTrainingUpdate(state, {
    type: JobUpdateType.finished,
    result: {
      runDir: job.runDir,
      modelDir: paths.model,
      metricsFile: paths.metrics,
      bestEpoch: metrics.bestEpoch,
      validation: metrics.validation,
      test: metrics.test,
      trainingRows: metrics.trainingRows,
      unscoredRows: metrics.unscoredRows,
      rowsPerSecond: metrics.rowsPerSecond,
      seconds: metrics.seconds,
      provider: metrics.provider,
      // The run folder does not say whether the job scored first.
      scoresFile: undefined,
      scored: false,
    },
  });
  return state;
}
