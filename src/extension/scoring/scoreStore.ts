import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { FieldMapping } from '../../core/data/fields';
import { LabelMap } from '../../core/data/labels';
import type { ScoreProvenance } from '../../core/view/rowHover';
import { ScoreTable } from '../../core/weighting/scoreTable';
import type { ScoredFile, ScoreStorage, ScoringJob } from '../../protocol/scoring';
import { projectFor } from '../project';
import { startScoringJob, type JobListener, type RunningJob } from './scoringWorkerClient';

/** The scores of one synthetic file, in memory. */
export interface FileScores {
  readonly uri: vscode.Uri;
  readonly table: ScoreTable;
  readonly labelMap: LabelMap;
  readonly fields: FieldMapping;
  readonly provenance: ScoreProvenance;
}

/**
 * Every synthetic file's scores: kept in the extension's storage (one folder per file, the scores keyed by
 * row id, so they survive reloads and moved lines) and loaded into memory by the worker when a file is
 * opened. Features read tables from here and listen to `onDidChange`.
 */
export class ScoreStore implements vscode.Disposable {
  private readonly files = new Map<string, FileScores>();
  /** Tables accepted per file: a refresh takes its load only when no newer table arrived meanwhile. */
  private readonly accepted = new Map<string, number>();
  private readonly loading = new Map<string, Promise<FileScores | undefined>>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  private readonly running = new Set<RunningJob>();
  /** Fires with a file's uri when its scores appear or change. */
  readonly onDidChange = this.changed.event;
  private lastScored: vscode.Uri | undefined;

  constructor(
    private readonly storageRoot: string,
    private readonly workerFile: string,
    private readonly log: (message: string) => void,
  ) {}

  /** Where a file's scores, checkers and metadata live. */
  storageFor(uri: vscode.Uri): ScoreStorage {
    const key = `${path.basename(uri.fsPath).replace(/[^\w.-]/g, '_')}-${createHash('sha1').update(uri.fsPath).digest('hex').slice(0, 12)}`;
    const dir = path.join(this.storageRoot, 'scores', key);
    return { scoresFile: path.join(dir, 'scores.jsonl'), checkersDir: path.join(dir, 'checkers'), metaFile: path.join(dir, 'meta.json') };
  }

  /** The scores of a file, when they are in memory. */
  get(uri: vscode.Uri): FileScores | undefined {
    return this.files.get(uri.toString());
  }

  /** Runs a job in a worker thread; the store keeps track so it can cancel it on shutdown. */
  run(job: ScoringJob, listener: JobListener = {}): RunningJob {
    const running = startScoringJob(this.workerFile, job, listener);
    this.running.add(running);
    void running.done.then(
      () => this.running.delete(running),
      () => this.running.delete(running),
    );
    return running;
  }

  /** Number of jobs running now. */
  get busy(): number {
    return this.running.size;
  }

  /**
   * The file scored last (or, before any scoring, loaded first) whose scores are in memory: what the samples
   * view and Export use when no scored file is active. Reloads in the background do not change it.
   */
  get lastFile(): vscode.Uri | undefined {
    return this.lastScored;
  }

  /** Takes a worker's result as the file's scores; `scoredNow` for a score or rescore job, false for a load. */
  accept(uri: vscode.Uri, scored: ScoredFile, scoredNow = true): FileScores {
    const table = ScoreTable.fromColumns(scored.table);
    const scores: FileScores = {
      uri,
      table,
      labelMap: new LabelMap(table.labels),
      fields: scored.fields,
      provenance: {
        qualityChecker: scored.qualityChecker,
        diversityChecker: scored.diversityChecker,
        provider: scored.provider,
        dimpRun: scored.dimpRun,
        qualityCheckerReport: scored.qualityCheckerReport,
        qualityCheckerSummary: scored.qualityCheckerSummary,
        qualityCheckerNearChance: scored.qualityCheckerNearChance,
      },
    };
    this.files.set(uri.toString(), scores);
    this.accepted.set(uri.toString(), (this.accepted.get(uri.toString()) ?? 0) + 1);
    if (scoredNow || !this.lastScored) this.lastScored = uri;
    this.changed.fire(uri);
    return scores;
  }

  /**
   * The file's scores, loading stored ones in the worker on first use; undefined when the file was never
   * scored. Concurrent calls share one load.
   */
  ensureLoaded(uri: vscode.Uri): Promise<FileScores | undefined> {
    const key = uri.toString();
    const inMemory = this.files.get(key);
    if (inMemory) return Promise.resolve(inMemory);
    let pending = this.loading.get(key);
    if (!pending) {
      pending = this.load(uri).finally(() => this.loading.delete(key));
      this.loading.set(key, pending);
    }
    return pending;
  }

  private async load(uri: vscode.Uri): Promise<FileScores | undefined> {
    if (uri.scheme !== 'file') return undefined;
    const storage = this.storageFor(uri);
    const stored = await fs.stat(storage.metaFile).then(
      () => true,
      () => false,
    );
    if (!stored) return undefined;
    const project = await projectFor(uri).catch(() => undefined);
    const { done } = this.run({ kind: 'load', synthetic: uri.fsPath, storage, runsDir: project?.runsDir });
    const result = await done;
    return result.scored && !this.files.has(uri.toString()) ? this.accept(uri, result.scored, false) : this.files.get(uri.toString());
  }

  /**
   * Loads one file's table again from storage, e.g. after a training run stored its scores (scoring first)
   * or wrote new DIMP weights; also when the file had no table in memory yet. The table in memory stays
   * shown until the new one replaces it (no blank badges, Problems or samples meanwhile).
   */
  reload(uri: vscode.Uri): void {
    this.refresh(uri).catch((error: Error) => this.log(`could not load the stored scores of ${uri.fsPath}: ${error.message}`));
  }

  /** Every table in memory loaded again, each kept shown until its new one arrives (see `reload`). */
  refreshAll(): void {
    for (const file of [...this.files.values()]) this.reload(file.uri);
  }

  private async refresh(uri: vscode.Uri): Promise<void> {
    const key = uri.toString();
    if (!this.files.has(key)) {
      await this.ensureLoaded(uri);
      return;
    }
    const before = this.accepted.get(key) ?? 0;
    const project = await projectFor(uri).catch(() => undefined);
    const { done } = this.run({ kind: 'load', synthetic: uri.fsPath, storage: this.storageFor(uri), runsDir: project?.runsDir });
    const result = await done;
    // A scoring that finished meanwhile is newer than what this load read.
    if (result.scored && (this.accepted.get(key) ?? 0) === before) this.accept(uri, result.scored, false);
  }

  /**
   * Loads every table in memory again from storage, as a reload of the window would (and as a new training
   * run needs, for its DIMP weights). Until a table is back, its file shows no scores.
   */
  reloadAll(): void {
    const uris = [...this.files.values()].map((f) => f.uri);
    this.files.clear();
    for (const uri of uris) {
      this.changed.fire(uri);
      this.ensureLoaded(uri).catch((error: Error) => this.log(`could not load the stored scores of ${uri.fsPath}: ${error.message}`));
    }
  }

  dispose(): void {
    for (const job of this.running) job.cancel();
    this.changed.dispose();
  }
}
