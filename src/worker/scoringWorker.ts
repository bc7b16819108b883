/**
 * The scoring worker: a worker thread that runs the editor's scoring jobs (core/jobs/storedScores.ts) with
 * the worker-job primitive, so onnxruntime and training never block the extension host. A thin adapter:
 * it forwards progress and log events and transfers the score table instead of copying it.
 */
import { serveWorkerJob, type WorkerJobContext } from '../core/runtime/workerJob';
import { runScoringJob, type ScoringEvent, type ScoringJob, type ScoringResult } from '../core/jobs/storedScores';
import { ScoreTable } from '../core/weighting/scoreTable';

serveWorkerJob<ScoringJob, ScoringEvent, ScoringResult>(async (job, context: WorkerJobContext<ScoringEvent>) => {
  const result = await runScoringJob(job, {
    signal: context.signal,
    onEvent: (event) => {
      if (event.type === 'score-progress' || event.type === 'log') context.emit(event);
    },
  });
  return { result, transfer: result.scored ? ScoreTable.fromColumns(result.scored.table).transferList() : [] };
});
