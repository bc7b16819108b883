import * as path from 'node:path';
import * as vscode from 'vscode';
import { setContextKey, showErrorMessage, showInformationMessage, showWarningMessage } from '../ui';
import { overallPercent } from '../../core/jobs/scoreProgress';
import { resolveDevice, resolveJobSettings } from '../../core/jobs/settings';
import { datasetSourceOf, entryFields, entryPath, type DatasetEntry } from '../../core/config';
import type { FieldOverrides } from '../../core/data/fields';
import type { DatasetSource } from '../../core/pipeline';
import type { DeviceChoice } from '../../core/runtime/onnxRuntime';
import { UNSCORED } from '../../core/view/lineRows';
import type { WeightGuards } from '../../core/weighting/weights';
import { CommandId } from '../../protocol/commands';
import type { ScoreJob } from '../../protocol/scoring';
import { isJsonlDocument, type TrackedDocuments } from '../documents/trackedDocuments';
import { isOverEditorLimit, largeFileReason } from '../largeFiles';
import { projectFor, type Project } from '../project';
import { readSettings, SETTINGS_SECTION, type EditorSettings } from '../settings';
import type { DimpStatusBar } from '../statusBar';
import { resolveCheckerChoice } from '../../core/jobs/trust';
import type { ScoreStore } from './scoreStore';
import { WorkerJobError } from '../../core/runtime/workerJob';
import type { RunningJob } from './scoringWorkerClient';
import { rememberedReal, rememberReal } from '../choices';

/** ε and the weight cap: settings the user set, then dimp.config.json's training section, then defaults. */
function guardsFrom(settings: EditorSettings, project: Project | undefined): WeightGuards {
  return resolveJobSettings(project?.loaded.config ?? {}, { epsilon: settings.epsilon, maxWeight: settings.maxWeight }).guards;
}

/** The execution provider: the setting when the user set it, then dimp.config.json's `device`, then CPU. */
function deviceFrom(settings: EditorSettings, project: Project | undefined): DeviceChoice {
  return resolveDevice(project?.loaded.config ?? {}, settings.executionProvider);
}

/** A path from a setting: absolute, or relative to the project root. */
const fromRoot = (project: Project, file: string): string => (path.isAbsolute(file) ? file : path.join(project.root, file));

/**
 * Score Synthetic Data and rescoring on save. Inputs come from settings, then dimp.config.json, then quick
 * picks; the work runs in the scoring worker with progress in a cancellable notification and the status
 * bar; the scores land in the store. In an untrusted workspace no model named by the workspace runs.
 */
export class ScoringController implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private readonly active = new Map<string, RunningJob>();
  private readonly rescoreAgain = new Set<string>();
  private updatingLabels = false;

  constructor(
    private readonly store: ScoreStore,
    private readonly documents: TrackedDocuments,
    private readonly statusBar: DimpStatusBar,
    private readonly output: vscode.LogOutputChannel,
    /** Where the real set picked for a file is remembered (shared with the training picker). */
    private readonly workspaceState: vscode.Memento,
  ) {
    this.disposables.push(
      vscode.commands.registerCommand(CommandId.scoreSyntheticData, (uri?: unknown) => this.score(uri instanceof vscode.Uri ? uri : undefined)),
      vscode.commands.registerCommand(CommandId.cancelScoring, () => this.active.forEach((job) => job.cancel())),
      // Scoring trains both checkers (quality on the real rows, diversity on the file) and stores them.
      vscode.commands.registerCommand(CommandId.trainCheckers, (uri?: unknown) => this.score(uri instanceof vscode.Uri ? uri : undefined)),
      vscode.workspace.onDidSaveTextDocument((document) => this.rescoreOnSave(document)),
      vscode.workspace.onDidChangeConfiguration((event) => this.offerRescore(event)),
    );
  }

  /**
   * Weights and label names are computed when a file is scored: a change to the weight guards or the labels
   * shows nowhere until then, so say so and offer to score again.
   */
  private offerRescore(event: vscode.ConfigurationChangeEvent): void {
    const changed = ['epsilon', 'maxWeight', 'labels'].filter((key) => event.affectsConfiguration(`${SETTINGS_SECTION}.${key}`));
    const file = this.store.lastFile;
    // Name the Labels… scores again itself.
    if (changed.length === 0 || !file || this.updatingLabels) return;
    const settings = changed.map((key) => `dimpCurator.${key}`).join(', ');
    void showInformationMessage(`DIMP: ${settings} changed. The weights and labels shown were computed with the earlier value${changed.length > 1 ? 's' : ''} and stay so until ${path.basename(file.fsPath)} is scored again.`, 'Score Again')
      .then((action) => {
        if (action) void this.score(file);
      });
  }

  /** The `dimpCurator.scoring` context key: Cancel Scoring is offered only while something is scored. */
  private publishRunning(): void {
    setContextKey('dimpCurator.scoring', this.active.size > 0);
  }

  /** Scores a whole file; resolves when its scores are stored (or the job failed and was reported). */
  async score(target?: vscode.Uri): Promise<void> {
    const uri = target ?? (await this.pickTarget());
    if (!uri) return;
    const key = uri.toString();
    if (this.active.has(key)) {
      void showInformationMessage(`DIMP: ${vscode.workspace.asRelativePath(uri)} is being scored already.`);
      return;
    }
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === key);
    if (open?.isDirty) {
      const save = await showWarningMessage(`${vscode.workspace.asRelativePath(uri)} has unsaved changes. Scoring reads the file on disk.`, { modal: true }, 'Save and Score');
      if (save !== 'Save and Score' || !(await open.save())) return;
    }
    let job: ScoreJob | undefined;
    try {
      job = await this.scoreJob(uri);
    } catch (error) {
      void showErrorMessage(`DIMP: ${(error as Error).message}`);
      return;
    }
    if (!job) return;
    const name = path.basename(uri.fsPath);
    const large = await isOverEditorLimit(uri);
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `DIMP: scoring ${name}`, cancellable: true },
      async (progress, token) => {
        let reported = 0;
        const running = this.store.run(job, {
          onProgress: (event) => {
            const percent = overallPercent(event);
            progress.report({ message: event.message, increment: Math.max(0, percent - reported) });
            reported = Math.max(reported, percent);
            this.statusBar.setProgress({ text: `scoring ${name}`, percent });
          },
          onLog: (event) => this.logEvent(event.level, event.message),
        });
        this.active.set(key, running);
        this.publishRunning();
        token.onCancellationRequested(() => running.cancel());
        try {
          const { scored } = await running.done;
          if (!scored) return;
          this.store.accept(uri, scored);
          this.statusBar.setProvider(scored.provider, this.fallbackNote(job.device, scored.provider));
          const unusable = scored.unusableLines > 0 ? ` ${scored.unusableLines} unusable line(s) were skipped${large ? '' : ' (see Problems)'}.` : '';
          const labelOrigin = job.labels === undefined ? scored.labelSource : readSettings(uri).labels.length > 0 ? 'dimpCurator.labels' : 'dimp.config.json';
          const labels = `Labels ${scored.table.labels.join(', ')} (${labelOrigin}).`;
          const inferred = scored.labelSource === 'inferred from the data';
          void showInformationMessage(`DIMP: scored ${scored.scoredRows} rows of ${name} on ${scored.provider}. ${labels}${scored.qualityCheckerSummary ? ` The ${scored.qualityCheckerSummary} on real rows it did not train on.` : ''}${unusable}`, ...(inferred ? ['Name the Labels…'] : []))
            .then((action) => {
              if (action) void this.nameLabels(uri, scored.table.labels);
            });
          if (large) void showWarningMessage(largeFileReason(uri));
          if (scored.qualityCheckerReport) this.output.info(`${name}: quality checker ${scored.qualityCheckerReport}`);
          for (const warning of scored.warnings ?? []) {
            this.output.warn(`${name}: ${warning}`);
            void showWarningMessage(`DIMP: ${name}: ${warning}`);
          }
        } catch (error) {
          this.reportFailure(error, uri);
        } finally {
          this.active.delete(key);
          this.publishRunning();
          this.statusBar.setProgress(undefined);
        }
      },
    );
  }

  /** Asks for label names in class-index order, saves them in the settings and scores again. */
  private async nameLabels(uri: vscode.Uri, current: readonly string[]): Promise<void> {
    const text = await vscode.window.showInputBox({
      title: 'DIMP: label names in class-index order, comma-separated',
      prompt: 'Label 0 first; numeric labels in the data map to these names by index.',
      value: current.join(', '),
      validateInput: (value) => {
        const names = value.split(',').map((n) => n.trim()).filter(Boolean);
        if (names.length < 2) return 'at least two labels';
        return new Set(names).size === names.length ? undefined : 'each label once';
      },
    });
    if (text === undefined) return;
    const names = text.split(',').map((n) => n.trim()).filter(Boolean);
    const target = vscode.workspace.workspaceFolders ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
    this.updatingLabels = true;
    try {
      await vscode.workspace.getConfiguration(SETTINGS_SECTION, uri).update('labels', names, target);
    } finally {
      this.updatingLabels = false;
    }
    await this.score(uri);
  }

  /** The file to score when the command gets none: the active JSON Lines editor or tab, the config's synthetic set, or a dialog. */
  private async pickTarget(): Promise<vscode.Uri | undefined> {
    const document = vscode.window.activeTextEditor?.document;
    if (document && isJsonlDocument(document) && document.uri.scheme === 'file') return document.uri;
    const tab = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
    // Files over 50 MB have a tab but no TextDocument.
    if (tab instanceof vscode.TabInputText && /\.(jsonl|ndjson)$/i.test(tab.uri.path)) return tab.uri;
    const folder = vscode.workspace.workspaceFolders?.[0];
    if (folder) {
      const project = await projectFor(folder.uri).catch(() => undefined);
      const configured = entryPath(project?.loaded.config.datasets?.synthetic);
      if (configured) return vscode.Uri.file(configured);
    }
    const picked = await vscode.window.showOpenDialog({
      title: 'Synthetic data to score',
      canSelectMany: false,
      filters: { 'JSON Lines': ['jsonl', 'ndjson'] },
    });
    return picked?.[0];
  }

  /** Builds the job from settings, dimp.config.json and, for what is still missing, quick picks. */
  private async scoreJob(uri: vscode.Uri): Promise<ScoreJob | undefined> {
    const project = await projectFor(uri);
    const settings = readSettings(uri);
    const { config } = project.loaded;
    const models = resolveCheckerChoice(
      config,
      vscode.workspace.isTrusted,
      { quality: settings.qualityModel && fromRoot(project, settings.qualityModel), diversity: settings.diversityModel && fromRoot(project, settings.diversityModel) },
      project.root,
    );
    if (models.ignored.length > 0) {
      const message = `${project.loaded.file} names models (${models.ignored.join(', ')}), but this workspace is not trusted, so they are not run; the built-in checkers are trained instead. Trust the workspace to use them.`;
      this.output.warn(message);
      void showWarningMessage(`DIMP: ${message}`);
    }
    let qualityModel = models.quality;
    const diversityModel = models.diversity;
    let real = this.realSource(project, settings, uri);
    if (!qualityModel && !real) {
      const choice = await this.pickQualitySource();
      if (!choice) return undefined;
      if (choice.kind === 'real') {
        real = { path: choice.path };
        // Asked once: the next scoring of this file and the training picker use it.
        await rememberReal(this.workspaceState, uri.fsPath, choice.path);
      } else {
        qualityModel = choice.path;
      }
    }
    const syntheticEntry: DatasetEntry | undefined = config.datasets?.synthetic;
    const configFields = entryPath(syntheticEntry) === uri.fsPath ? entryFields(syntheticEntry) : undefined;
    const fields: FieldOverrides = { ...configFields };
    if (settings.textFields.length > 0) fields.text = settings.textFields.slice(0, 2) as [string] | [string, string];
    if (settings.labelField) fields.label = settings.labelField;
    const synthetic: DatasetSource = { path: uri.fsPath, fields };
    return {
      kind: 'score',
      synthetic,
      real,
      validation: datasetSourceOf(config.datasets?.validation),
      qualityModel,
      diversityModel,
      labels: settings.labels.length > 0 ? settings.labels : config.labels,
      checkerSettings: resolveJobSettings(config).checkerSettings,
      checkerEncoder: models.checkerEncoder,
      seed: resolveJobSettings(config).seed,
      guards: guardsFrom(settings, project),
      device: deviceFrom(settings, project),
      scoringThreads: config.scoringThreads,
      storage: this.store.storageFor(uri),
      runsDir: project.runsDir,
    };
  }

  /** The real set: the setting, then dimp.config.json, then the one last picked for this file. */
  private realSource(project: Project, settings: EditorSettings, synthetic: vscode.Uri): DatasetSource | undefined {
    if (settings.realData) return { path: fromRoot(project, settings.realData) };
    const entry = project.loaded.config.datasets?.real;
    const file = entryPath(entry);
    if (file) return { path: file, fields: entryFields(entry) };
    const remembered = rememberedReal(this.workspaceState, synthetic.fsPath);
    return remembered ? { path: remembered } : undefined;
  }

  private async pickQualitySource(): Promise<{ kind: 'real' | 'model'; path: string } | undefined> {
    const options = [
      { label: 'Real labelled data…', detail: 'A few hundred real examples (.jsonl): the built-in quality checker is trained on them.', source: 'real' as const },
      { label: 'Quality checker model…', detail: 'A model folder (config.json with id2label, an ONNX graph, its text front end).', source: 'model' as const },
    ];
    const choice = await vscode.window.showQuickPick(options, {
      title: 'DIMP: the quality checker needs real data or a model',
      placeHolder: 'Set dimpCurator.realData or "datasets.real" in dimp.config.json to skip this question',
    });
    if (!choice) return undefined;
    const picked = await vscode.window.showOpenDialog(
      choice.source === 'real'
        ? { title: 'Real labelled data', canSelectMany: false, filters: { 'JSON Lines': ['jsonl', 'ndjson'] } }
        : { title: 'Quality checker model folder', canSelectMany: false, canSelectFiles: false, canSelectFolders: true },
    );
    return picked?.[0] ? { kind: choice.source, path: picked[0].fsPath } : undefined;
  }

  /** Rescoring on save: only rows that have no score yet are scored, with the stored checkers. */
  private rescoreOnSave(document: vscode.TextDocument): void {
    const tracked = this.documents.get(document);
    if (!tracked || !readSettings(document.uri).rescoreOnSave) return;
    const key = document.uri.toString();
    if (this.active.has(key)) {
      this.rescoreAgain.add(key);
      return;
    }
    let unscored = 0;
    for (let line = 0; line < tracked.rows.lineCount; line++) {
      if (tracked.rows.scoreIndexAt(line, tracked.textAt, tracked.scores.table) === UNSCORED) unscored += 1;
    }
    if (unscored === 0) return;
    void this.rescore(document.uri, unscored);
  }

  private async rescore(uri: vscode.Uri, unscored: number): Promise<void> {
    const key = uri.toString();
    const name = path.basename(uri.fsPath);
    const settings = readSettings(uri);
    const project = await projectFor(uri).catch(() => undefined);
    this.statusBar.setProgress({ text: `rescoring ${unscored} row(s) of ${name}`, percent: 0 });
    const running = this.store.run(
      {
        kind: 'rescore',
        synthetic: uri.fsPath,
        guards: guardsFrom(settings, project),
        device: deviceFrom(settings, project),
        storage: this.store.storageFor(uri),
        runsDir: project?.runsDir,
      },
      {
        onProgress: (event) => this.statusBar.setProgress({ text: `rescoring ${name}`, percent: overallPercent(event) }),
        onLog: (event) => this.logEvent(event.level, event.message),
      },
    );
    this.active.set(key, running);
    this.publishRunning();
    try {
      const { scored } = await running.done;
      if (scored) {
        this.store.accept(uri, scored);
        this.output.info(`rescored ${scored.scoredRows} changed row(s) of ${uri.fsPath}`);
      }
    } catch (error) {
      this.reportFailure(error, uri);
    } finally {
      this.active.delete(key);
      this.publishRunning();
      this.statusBar.setProgress(undefined);
    }
    if (this.rescoreAgain.delete(key)) {
      const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === key);
      if (document) this.rescoreOnSave(document);
    }
  }

  private fallbackNote(requested: string, used: string): string | undefined {
    return requested !== 'auto' && requested !== used ? `${requested} was asked for but could not start; see the DIMP Curator log` : undefined;
  }

  private logEvent(level: 'info' | 'warning' | 'error', message: string): void {
    if (level === 'info') this.output.info(message);
    else if (level === 'warning') {
      this.output.warn(message);
      if (/using \w+ \(/.test(message)) void showWarningMessage(`DIMP: ${message}`);
    } else this.output.error(message);
  }

  private reportFailure(error: unknown, uri: vscode.Uri): void {
    const kind = error instanceof WorkerJobError ? error.kind : 'internal';
    const message = error instanceof Error ? error.message : String(error);
    if (kind === 'cancelled') {
      void showInformationMessage(`DIMP: scoring of ${path.basename(uri.fsPath)} cancelled; the stored scores are unchanged.`);
      return;
    }
    this.output.error(message);
    const firstLine = message.split('\n')[0] ?? message;
    const actions = /cannot find the (text|label)/.test(message) ? ['Configure Fields…', 'Show Log'] : ['Show Log'];
    void showErrorMessage(`DIMP: ${firstLine}`, ...actions).then((action) => {
      if (action === 'Show Log') this.output.show();
      if (action === 'Configure Fields…') void vscode.commands.executeCommand(CommandId.configureFields, uri);
    });
  }

  dispose(): void {
    for (const job of this.active.values()) job.cancel();
    for (const disposable of this.disposables) disposable.dispose();
  }
}
