/**
 * The training worker thread: runs one training job (scoring first when needed) off the extension
 * host's event loop: a `serveWorkerJob` adapter around `runTrainingJob` (core/runtime/workerJob.ts says how jobs,
 * events and cancellation travel). Its own esbuild entry (dist/trainingWorker.js); it never imports vscode.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Dataset } from '../core/data/dataset';
import { writeFileAtomic } from '../core/io/atomic';
import { runTrainingJob } from '../core/jobs/trainJob';
import { defaultCheckersDir, defaultScoresFile } from '../core/jobs/trainJobSpec';
import { serveWorkerJob } from '../core/runtime/workerJob';
import type { Scores } from '../core/weighting/score';
import type { CoreEvent } from '../protocol/events';
import type { ScoreMeta } from '../protocol/scoring';
import type { TrainingWorkerData } from '../protocol/trainingJob';
import type { TrainingResultInfo } from '../protocol/trainingPanel';

/**
 * A pause point for tests that must act while a run is in progress (DIMP_CURATOR_TEST_HOLD_FILE): while
 * that file exists and holds an epoch number E, the run waits after each epoch ≥ E until the file is
 * removed or the run is cancelled. Unset, it costs nothing.
 */
function holdFromEnvironment(file: string | undefined): ((epoch: number, signal: AbortSignal | undefined) => Promise<void>) | undefined {
  if (!file) return undefined;
  const heldAt = async (): Promise<number> => {
    const text = await fs.readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) return Infinity;
    const epoch = Number(text.trim() || '1');
    return Number.isFinite(epoch) ? epoch : 1;
  };
  return async (epoch, signal) => {
    while (epoch >= (await heldAt())) {
      if (signal?.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
}

serveWorkerJob<TrainingWorkerData, CoreEvent, TrainingResultInfo>(async ({ spec, scoreMetaFile }, { signal, emit: onEvent }) => {
    const onScored = async (scores: Scores, synthetic: Dataset): Promise<void> => {
      if (!scoreMetaFile) return;
      const checkersDir = spec.checkersDir ?? defaultCheckersDir(spec.scoresFile ?? defaultScoresFile(spec.synthetic.path));
      const meta: ScoreMeta = {
        synthetic: path.resolve(spec.synthetic.path),
        fields: synthetic.fields,
        qualityModel: scores.header.checkerFolders?.quality ?? spec.qualityModel ?? path.join(checkersDir, 'quality'),
        diversityModel: scores.header.checkerFolders?.diversity ?? spec.diversityModel ?? path.join(checkersDir, 'diversity'),
      };
      await writeFileAtomic(scoreMetaFile, JSON.stringify(meta, null, 2) + '\n');
      // The meta file now names these checkers; those of earlier scorings are no longer used.
      const root = path.dirname(checkersDir);
      for (const entry of await fs.readdir(root).catch(() => [])) {
        if (entry !== path.basename(checkersDir)) await fs.rm(path.join(root, entry), { recursive: true, force: true });
      }
    };
    const afterEpoch = holdFromEnvironment(process.env.DIMP_CURATOR_TEST_HOLD_FILE);
    const run = await runTrainingJob(spec, { signal, onEvent, onScored, afterEpoch });
    return {
      result: {
        runDir: run.runDir,
        modelDir: path.join(run.runDir, 'model'),
        metricsFile: path.join(run.runDir, 'metrics.json'),
        bestEpoch: run.bestEpoch,
        validation: run.validation,
        test: run.test,
        trainingRows: run.trainingRows,
        unscoredRows: run.unscoredRows,
        rowsPerSecond: run.rowsPerSecond,
        seconds: run.seconds,
        provider: run.provider,
        scoresFile: run.scoresFile,
        scored: run.scored,
      },
    };
});
