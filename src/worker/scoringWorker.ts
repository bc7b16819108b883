/**
 * The scoring worker: a worker thread that runs the core for the extension, so training checkers, running
 * onnxruntime and reading big files never block the extension host. It gets one `ScoringJob` as
 * `workerData` and is a `serveWorkerJob` adapter (core/runtime/workerJob.ts): events, then one result or failure.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { curateFile } from '../core/curate';
import { parseJsonlFile, resolveLabels } from '../core/data/dataset';
import { LabelMap } from '../core/data/labels';
import { DimpError } from '../core/errors';
import { serveWorkerJob, type WorkerJobContext } from '../core/runtime/workerJob';
import { writeFileAtomic } from '../core/io/atomic';
import { loadClassifier } from '../core/model/modelFolder';
import { loadProjectData } from '../core/pipeline';
import { lastDimpWeights } from '../core/train/lastDimpWeights';
import { argmaxRow } from '../core/train/metrics';
import { scoreLoadedData } from '../core/jobs/scoreJob';
import { checkerWarning, describeChecker as describeCheckerReport, readScores, writeScores, type RowScore, type Scores } from '../core/weighting/score';
import { ScoreTable } from '../core/weighting/scoreTable';
import { dominanceWarning, impWeight } from '../core/weighting/weights';
import type { CoreEvent } from '../protocol/events';
import {
  type ExportJob,
  type LoadJob,
  type RescoreJob,
  type ScoredFile,
  type ScoreStorage,
  type ScoreJob,
  type ScoreMeta,
  type ScoringEvent,
  type ScoringJob,
  type ScoringResult,
} from '../protocol/scoring';

/** A job's cancellation signal and event sink. */
interface JobContext {
  signal: AbortSignal;
  onEvent: (event: CoreEvent) => void;
}

async function readMeta(file: string): Promise<ScoreMeta> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as ScoreMeta;
  } catch {
    throw new DimpError('badInput', 'no stored scores for this file; run DIMP: Score Synthetic Data first', { file });
  }
}

/**
 * A checker's description for hovers: a checker trained into the extension's storage is described by what
 * it was trained on rather than by its (long, internal) folder.
 */
function describeChecker(description: string, storage: ScoreStorage, trainedOn: string | undefined): string {
  const marker = ` at ${storage.checkersDir}`;
  const at = description.indexOf(marker);
  return at >= 0 && trainedOn ? `${description.slice(0, at)}, trained on ${path.basename(trainedOn)}` : description;
}

/** Builds the table of `scores` with the last DIMP run's weights, ready to transfer. */
async function scoredFile(scores: Scores, meta: ScoreMeta, storage: ScoreStorage, runsDir: string | undefined, scoredRows: number, unusableLines: number): Promise<ScoredFile> {
  const dimp = runsDir ? await lastDimpWeights(runsDir, meta.synthetic) : undefined;
  const table = ScoreTable.fromScores(scores.rows, scores.header.labels, dimp?.weights);
  return {
    table: table.columns,
    fields: meta.fields,
    qualityChecker: describeChecker(scores.header.qualityChecker, storage, scores.header.real),
    ...(scores.header.checkers?.quality ? { qualityCheckerReport: describeCheckerReport(scores.header.checkers.quality, scores.header.checkers) } : {}),
    warnings: [checkerWarning(scores.header.checkers?.quality), scores.header.diagnostics && dominanceWarning(scores.header.diagnostics)].filter((w): w is string => w !== undefined),
    diversityChecker: describeChecker(scores.header.diversityChecker, storage, scores.header.synthetic),
    provider: scores.header.provider,
    dimpRun: dimp && path.basename(dimp.runDir),
    scoredRows,
    unusableLines,
  };
}

async function score(job: ScoreJob, { signal, onEvent }: JobContext): Promise<ScoredFile> {
  const data = await loadProjectData(
    { synthetic: job.synthetic, real: job.real, validation: job.validation },
    { labels: job.labels, qualityModel: job.qualityModel, signal, onEvent },
  );
  onEvent({ type: 'log', level: 'info', message: `labels (${data.labelSource}): ${data.labelMap.names.join(', ')}` });
  const synthetic = data.synthetic!;
  // Checkers go to a folder of their own, so the stored scores keep theirs until this scoring is stored
  // (the core replaces a checker folder as soon as that checker is trained).
  const checkersDir = path.join(job.storage.checkersDir, Date.now().toString(36));
  let scores: Scores;
  try {
    scores = await scoreLoadedData(
      { qualityModel: job.qualityModel, diversityModel: job.diversityModel, scoresFile: job.storage.scoresFile, checkersDir, checkerSettings: job.checkerSettings, checkerEncoder: job.checkerEncoder, seed: job.seed, guards: job.guards, device: job.device },
      { synthetic, real: data.real, validation: data.validation, labelMap: data.labelMap },
      { signal, onEvent },
    );
  } catch (error) {
    await fs.rm(checkersDir, { recursive: true, force: true });
    throw error;
  }
  onEvent({ type: 'score-progress', stage: 'write', done: 0, total: scores.rows.length, message: 'storing scores' });
  const meta: ScoreMeta = {
    synthetic: path.resolve(job.synthetic.path),
    fields: synthetic.fields,
    // The scores header names the checkers published with them (a generation folder inside checkersDir).
    qualityModel: scores.header.checkerFolders?.quality ?? job.qualityModel ?? path.join(checkersDir, 'quality'),
    diversityModel: scores.header.checkerFolders?.diversity ?? job.diversityModel ?? path.join(checkersDir, 'diversity'),
  };
  await writeFileAtomic(job.storage.metaFile, JSON.stringify(meta, null, 2) + '\n');
  // The meta file now names the new checkers; earlier ones are no longer used.
  for (const entry of await fs.readdir(job.storage.checkersDir).catch(() => [])) {
    if (entry !== path.basename(checkersDir)) await fs.rm(path.join(job.storage.checkersDir, entry), { recursive: true, force: true });
  }
  return { ...(await scoredFile(scores, meta, job.storage, job.runsDir, scores.rows.length, synthetic.problems.length)), labelSource: data.labelSource };
}

/**
 * Scores the rows of the saved file that have no score, with the stored checkers, and keeps the scores of
 * rows still in the file (at their new lines). The diversity checker was trained on the file as it was,
 * so new rows are scored out of sample until the next full scoring.
 */
async function rescore(job: RescoreJob, { signal, onEvent }: JobContext): Promise<ScoredFile> {
  const meta = await readMeta(job.storage.metaFile);
  const stored = await readScores(job.storage.scoresFile);
  const labelMap = new LabelMap(stored.header.labels);
  const dataset = resolveLabels(await parseJsonlFile(job.synthetic, { fields: meta.fields, signal }), labelMap);
  const byId = new Map(stored.rows.map((r) => [r.rowId, r]));
  const kept: RowScore[] = [];
  const fresh = dataset.rows.filter((row) => {
    const old = byId.get(row.rowId);
    if (old) kept.push({ ...old, line: row.line });
    return !old;
  });
  const unique = [...new Map(fresh.map((row) => [row.rowId, row])).values()];
  const rows = [...kept];
  if (unique.length > 0) {
    onEvent({ type: 'score-progress', stage: 'score', done: 0, total: unique.length, message: `rescoring ${unique.length} changed row(s)` });
    // The checkers the stored scores were published with (the scores file is the commit point; the meta
    // file, written after it, may still name the previous ones after a crash).
    const quality = await loadClassifier(stored.header.checkerFolders?.quality ?? meta.qualityModel, job.device);
    const diversity = await loadClassifier(stored.header.checkerFolders?.diversity ?? meta.diversityModel, job.device);
    try {
      const q = await quality.predict(unique, { signal });
      const d = await diversity.predict(unique, { signal });
      const n = labelMap.size;
      unique.forEach((row, i) => {
        const preferred = argmaxRow(q, i, n);
        rows.push({
          rowId: row.rowId,
          line: row.line,
          label: labelMap.nameOf(row.label),
          quality: q[i * n + row.label]!,
          diversity: d[i * n + row.label]!,
          impWeight: impWeight(q[i * n + row.label]!, d[i * n + row.label]!, job.guards),
          qualityLabel: labelMap.nameOf(preferred),
          qualityLabelProbability: q[i * n + preferred]!,
        });
      });
    } finally {
      await quality.dispose();
      await diversity.dispose();
    }
  }
  rows.sort((a, b) => a.line - b.line);
  const scores: Scores = { header: { ...stored.header, rows: rows.length }, rows };
  await writeScores(job.storage.scoresFile, scores);
  return scoredFile(scores, meta, job.storage, job.runsDir, unique.length, dataset.problems.length);
}

async function load(job: LoadJob): Promise<ScoredFile> {
  const meta = await readMeta(job.storage.metaFile);
  const scores = await readScores(job.storage.scoresFile);
  return scoredFile(scores, meta, job.storage, job.runsDir, scores.rows.length, 0);
}

async function exportCurated(job: ExportJob, { signal }: JobContext): Promise<ScoringResult> {
  const meta = await readMeta(job.storage.metaFile);
  const scores = await readScores(job.storage.scoresFile);
  const curation = await curateFile(job.synthetic, scores, job.rule, { curated: job.curated, rejected: job.rejected, overwrite: true }, { fields: meta.fields, signal });
  return { curation };
}

serveWorkerJob<ScoringJob, ScoringEvent, ScoringResult>(async (job, context: WorkerJobContext<ScoringEvent>) => {
  const run: JobContext = {
    signal: context.signal,
    onEvent: (event) => {
      if (event.type === 'score-progress' || event.type === 'log') context.emit(event);
    },
  };
  if (job.kind === 'export') return { result: await exportCurated(job, run) };
  const scored = job.kind === 'score' ? await score(job, run) : job.kind === 'rescore' ? await rescore(job, run) : await load(job);
  return { result: { scored }, transfer: ScoreTable.fromColumns(scored.table).transferList() };
});
