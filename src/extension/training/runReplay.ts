/**
 * Rebuilds the panel's state of a finished run from its run folder: the events of `train-log.jsonl`
 * go through the same reducer as the live updates did, and `metrics.json` gives the result. A panel
 * revived after a reload uses it when the state it saved is older than the run's end. Never imports
 * vscode, so unit tests run it directly.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { RunMetrics } from '../../core/train/run';
import type { CoreEvent } from '../../protocol/events';
import { JobUpdateType, type TrainingJobInfo, type TrainingPanelState } from '../../protocol/trainingPanel';
import { applyTrainingUpdate, emptyTrainingState } from '../../protocol/trainingState';

/** The state of `job` as its finished run folder records it; undefined when the folder is not a whole run. */
export async function replayFinishedRun(job: TrainingJobInfo, history: TrainingPanelState['history']): Promise<TrainingPanelState | undefined> {
  let metrics: RunMetrics;
  let log: string;
  try {
    metrics = JSON.parse(await fs.readFile(path.join(job.runDir, 'metrics.json'), 'utf8')) as RunMetrics;
    log = await fs.readFile(path.join(job.runDir, 'train-log.jsonl'), 'utf8');
  } catch {
    return undefined;
  }
  const state = emptyTrainingState();
  state.history = history;
  applyTrainingUpdate(state, { type: JobUpdateType.started, job });
  for (const line of log.split('\n')) {
    if (line.trim() === '') continue;
    try {
      applyTrainingUpdate(state, JSON.parse(line) as CoreEvent);
    } catch {
      // A damaged log line costs the panel one point, not the whole run.
    }
  }
  applyTrainingUpdate(state, {
    type: JobUpdateType.finished,
    result: {
      runDir: job.runDir,
      modelDir: path.join(job.runDir, 'model'),
      metricsFile: path.join(job.runDir, 'metrics.json'),
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
