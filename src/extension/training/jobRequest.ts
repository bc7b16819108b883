/**
 * Turns a `dimp` task definition (from the Train commands or a user's tasks.json) into a fully resolved
 * training job. It reads only `dimp.config.json`, so it is cheap enough for the extension host; it
 * never imports vscode, so unit tests run it directly.
 */
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { entryFields, entryPath, findProjectConfig, loadProjectConfig, type DatasetEntry, type LoadedConfig } from '../../core/config';
import type { FieldOverrides } from '../../core/data/fields';
import { DimpError } from '../../core/errors';
import { pathExists } from '../../core/io/atomic';
import type { DatasetSource } from '../../core/pipeline';
import type { DeviceChoice } from '../../core/runtime/onnxRuntime';
import { resolveDevice, resolveFineTuneSettings, resolveJobSettings, resolvePytorchSettings } from '../../core/jobs/settings';
import { resolveCheckerChoice } from '../../core/jobs/trust';
import { defaultRunName, defaultRunsDir, defaultScoresFile, jobOutputs, type TrainingJobSpec } from '../../core/jobs/trainJobSpec';
import { LOSS_KINDS, type LossKind } from '../../protocol/events';
import type { TrainingJobInfo } from '../../protocol/trainingPanel';

/** The `dimp` task type's name (package.json `contributes.taskDefinitions`). */
export const DIMP_TASK_TYPE = 'dimp';

/**
 * Model kinds a run can name: `ngram` forces the built-in n-gram classifier; `finetune` fine-tunes the config's
 * `finetune.model` (a transformer classifier) on onnxruntime-node; `pytorch` fine-tunes the config's
 * `pytorch.model` on the PyTorch engine (Hugging Face Trainer under accelerate); absent, the config decides (a
 * head on its `encoder` when it names one, as the CLI does, else the built-in classifier).
 */
export const TRAINABLE_MODEL_KINDS = ['ngram', 'finetune', 'pytorch'] as const;

/** A trainable model kind. */
export type TrainableModelKind = (typeof TRAINABLE_MODEL_KINDS)[number];

/**
 * A `dimp` task's definition, as in tasks.json. Paths are relative to the workspace folder; an absent
 * dataset comes from `dimp.config.json`, an empty string means none.
 */
export interface DimpTaskDefinition {
  type: typeof DIMP_TASK_TYPE;
  /** ce, imp or dimp. */
  loss: LossKind;
  synthetic?: string;
  validation?: string;
  test?: string;
  /** Real rows for the quality checker when imp/dimp must score first. */
  real?: string;
  /** Scores file of the synthetic set; default `<synthetic>.scores.jsonl`, as the CLI. */
  scores?: string;
  /** Training epochs, 1–1000. */
  epochs?: number;
  model?: TrainableModelKind;
  /** A `dimp.config.json` to use instead of the nearest one. */
  config?: string;
  /** Parent folder of run folders; default the config's `output`, else `runs` next to the config. */
  out?: string;
}

/** Where the editor keeps a synthetic file's scores (the scoring feature's storage). */
export interface EditorScoreStorage {
  scoresFile: string;
  checkersDir: string;
  /** The field mapping and checkers of the scores, which the scoring feature needs to load them. */
  metaFile: string;
}

/**
 * The editor's side of a job: settings the user set (undefined when only the default applies, so that
 * dimp.config.json wins over defaults but not over the user), workspace trust, and where scores live.
 */
export interface EditorTrainingSettings {
  /** `dimpCurator.labels`: label names in class-index order; empty for none. */
  labels: readonly string[];
  /** `dimpCurator.epsilon`, when set. */
  epsilon: number | undefined;
  /** `dimpCurator.maxWeight`, when set. */
  maxWeight: number | null | undefined;
  /** `dimpCurator.executionProvider`, when set. */
  device: DeviceChoice | undefined;
  /** `dimpCurator.realData`: real rows for the quality checker, absolute or relative to the workspace folder. */
  realData: string | undefined;
  /** `dimpCurator.qualityModel` / `diversityModel`: checker model folders (user settings only when untrusted). */
  qualityModel: string | undefined;
  diversityModel: string | undefined;
  /** `dimpCurator.textFields` / `labelField`: the synthetic file's fields; empty: the config's, else detected. */
  textFields: readonly string[];
  labelField: string | undefined;
  /** False in an untrusted workspace: models named by dimp.config.json are not run. */
  trusted: boolean;
  /** `dimpCurator.pythonPath`: the PyTorch engine's Python (user settings only when untrusted). */
  pythonPath?: string;
  /** The extension's `python/` folder holding the dimp_curator package. */
  pythonPackageDir?: string;
  /** Where the editor keeps a synthetic file's scores; absent: next to the file, as the CLI. */
  scoreStorageFor?: (syntheticFile: string) => EditorScoreStorage;
}

/** A resolved job: what the worker runs, and what the panel shows about it. */
export interface ResolvedTrainingJob {
  spec: TrainingJobSpec;
  info: TrainingJobInfo;
  /** The config file that was read, if any. */
  configFile: string | undefined;
  /** Where to record the scores' field mapping and checkers when the job scores first (editor storage). */
  scoreMetaFile: string | undefined;
  /** Warnings for the user, e.g. models of an untrusted workspace that are not run. */
  warnings: string[];
}


/** A dataset from the definition (a path, or '' for none), else from the config. */
function datasetFrom(value: string | undefined, entry: DatasetEntry | undefined, base: string): DatasetSource | undefined {
  if (value === '') return undefined;
  const configPath = entryPath(entry);
  if (value === undefined) return configPath ? { path: configPath, fields: entryFields(entry) } : undefined;
  const file = path.resolve(base, value);
  // The same file as the config's entry keeps the config's field mapping.
  return { path: file, fields: configPath === file ? entryFields(entry) : undefined };
}

/** A run folder name that does not exist yet in `outDir`. */
async function freshRunName(outDir: string, loss: LossKind, now: Date): Promise<string> {
  const base = defaultRunName(loss, now);
  let name = base;
  for (let n = 2; await pathExists(path.join(outDir, name)); n++) name = `${base}-${n}`;
  return name;
}

/**
 * The fine-tuning settings of a run: the config's `finetune` section (its model folder) and the definition's
 * epochs. The model is one the workspace names, so, as its checkers, not run in an untrusted workspace.
 */
function fineTuneFor(config: LoadedConfig['config'], settings: EditorTrainingSettings, epochs: number | undefined, configFile: string | undefined): NonNullable<TrainingJobSpec['finetune']> {
  if (!settings.trusted) throw new DimpError('usage', 'fine-tuning runs the model the workspace names; trust the workspace to use it (the built-in classifier works without)');
  try {
    return resolveFineTuneSettings(config, { epochs });
  } catch (error) {
    if (error instanceof DimpError && configFile === undefined) throw new DimpError('usage', `${error.message} (no dimp.config.json was found: create one with DIMP: Create Project Config)`);
    throw error;
  }
}

/**
 * The PyTorch engine of a run: the Python from `dimpCurator.pythonPath`, else the config's; the rest from the
 * config's `pytorch` section. It runs a Python program the workspace names, so not in an untrusted workspace.
 */
function pytorchEngineFor(config: LoadedConfig['config'], settings: EditorTrainingSettings, epochs: number | undefined, configFile: string | undefined): NonNullable<TrainingJobSpec['pytorch']> {
  if (!settings.trusted) {
    throw new DimpError('usage', 'the PyTorch engine runs the Python interpreter and model the workspace names; trust the workspace to use it (the built-in trainer works without)');
  }
  if (!settings.pythonPackageDir) throw new DimpError('usage', 'the PyTorch engine needs the extension\'s python/ folder');
  try {
    return { settings: resolvePytorchSettings(config, { python: settings.pythonPath, epochs }), packageDir: settings.pythonPackageDir };
  } catch (error) {
    if (error instanceof DimpError && configFile === undefined) throw new DimpError('usage', `${error.message} (no dimp.config.json was found: create one with DIMP: Create Project Config)`);
    throw error;
  }
}

/** Checks a definition's shape (it may come from a hand-written tasks.json). */
export function validateTaskDefinition(definition: { [key: string]: unknown }): DimpTaskDefinition {
  if (!LOSS_KINDS.includes(definition.loss as LossKind)) throw new DimpError('usage', `a dimp task needs "loss": one of ${LOSS_KINDS.join(', ')}; got ${JSON.stringify(definition.loss)}`);
  for (const key of ['synthetic', 'validation', 'test', 'real', 'scores', 'config', 'out'] as const) {
    if (definition[key] !== undefined && typeof definition[key] !== 'string') throw new DimpError('usage', `"${key}" of a dimp task must be a path`);
  }
  const epochs = definition.epochs;
  if (epochs !== undefined && (typeof epochs !== 'number' || !Number.isInteger(epochs) || epochs < 1 || epochs > 1000)) {
    throw new DimpError('usage', `"epochs" of a dimp task must be an integer from 1 to 1000; got ${JSON.stringify(epochs)}`);
  }
  if (definition.model !== undefined && !TRAINABLE_MODEL_KINDS.includes(definition.model as TrainableModelKind)) {
    throw new DimpError('usage', `"model" must be one of ${TRAINABLE_MODEL_KINDS.join(', ')} (the built-in n-gram classifier, a fine-tuned transformer, or the PyTorch engine); got ${JSON.stringify(definition.model)}`);
  }
  return definition as unknown as DimpTaskDefinition;
}

/**
 * Resolves a task definition against the workspace folder, the nearest `dimp.config.json` and the
 * editor's settings (definition > settings the user set > config > defaults, as for scoring), and names
 * a fresh run folder.
 */
export async function resolveTrainingJob(
  rawDefinition: { [key: string]: unknown },
  options: { workspaceFolder: string | undefined; settingsFor: (syntheticFile: string) => EditorTrainingSettings; now?: Date },
): Promise<ResolvedTrainingJob> {
  const definition = validateTaskDefinition(rawDefinition);
  const base = path.resolve(options.workspaceFolder ?? process.cwd());
  const explicitSynthetic = definition.synthetic ? path.resolve(base, definition.synthetic) : undefined;
  const configFile = definition.config
    ? path.resolve(base, definition.config)
    : await findProjectConfig(explicitSynthetic ? path.dirname(explicitSynthetic) : base, options.workspaceFolder);
  const project: LoadedConfig = configFile ? await loadProjectConfig(configFile, base) : { file: undefined, config: {} };
  const config = project.config;
  const datasets = config.datasets ?? {};

  const fromBase = (file: string): string => path.resolve(base, file);
  const synthetic = datasetFrom(definition.synthetic, datasets.synthetic, base);
  if (!synthetic) throw new DimpError('usage', 'no synthetic dataset: open a JSONL file, or set "datasets.synthetic" in dimp.config.json or "synthetic" in the task');
  const settings = options.settingsFor(synthetic.path);
  // The synthetic file's fields: the editor's settings over the config's mapping, as when scoring.
  const fields: FieldOverrides = { ...synthetic.fields };
  if (settings.textFields.length > 0) fields.text = settings.textFields.slice(0, 2) as [string] | [string, string];
  if (settings.labelField) fields.label = settings.labelField;
  synthetic.fields = fields;

  const warnings: string[] = [];
  // The one trust rule (core/jobs/trust.ts), as Score Synthetic Data applies it.
  const models = resolveCheckerChoice(
    config,
    settings.trusted,
    { quality: settings.qualityModel ? fromBase(settings.qualityModel) : undefined, diversity: settings.diversityModel ? fromBase(settings.diversityModel) : undefined },
    base,
  );
  if (models.ignored.length > 0) {
    warnings.push(`${project.file}: this workspace is not trusted, so the models it names are not run; the built-in checkers are trained instead`);
  }
  const qualityModel = models.quality;
  const diversityModel = models.diversity;
  const real = definition.real === undefined && settings.realData ? { path: fromBase(settings.realData) } : datasetFrom(definition.real, datasets.real, base);

  // The definition's epochs and the editor's settings the user set, then the config, then defaults.
  const tuned = resolveJobSettings(config, { epochs: definition.epochs, epsilon: settings.epsilon, maxWeight: settings.maxWeight });
  const outDir = definition.out ? fromBase(definition.out) : defaultRunsDir(project, base);
  const now = options.now ?? new Date();
  const runName = await freshRunName(outDir, definition.loss, now);
  const labels = settings.labels.length > 0 ? [...settings.labels] : config.labels;
  const pytorch = definition.model === 'pytorch' ? pytorchEngineFor(config, settings, definition.epochs, project.file) : undefined;
  const finetune = definition.model === 'finetune' ? fineTuneFor(config, settings, definition.epochs, project.file) : undefined;
  const storage = definition.scores ? undefined : settings.scoreStorageFor?.(synthetic.path);
  const spec: TrainingJobSpec = {
    loss: definition.loss,
    synthetic,
    validation: datasetFrom(definition.validation, datasets.validation, base),
    test: datasetFrom(definition.test, datasets.test, base),
    real,
    qualityModel,
    diversityModel,
    labels,
    scoresFile: definition.scores ? fromBase(definition.scores) : (storage?.scoresFile ?? defaultScoresFile(synthetic.path)),
    // As Score Synthetic Data does: checkers of each scoring in a folder of their own, so the stored
    // scores keep theirs until the new scores are stored.
    checkersDir: storage && definition.loss !== 'ce' ? path.join(storage.checkersDir, now.getTime().toString(36)) : undefined,
    settings: tuned.settings,
    checkerSettings: tuned.checkerSettings,
    // The config's encoder, as the CLI uses it: checkers and classifier are heads on it (`"model": "ngram"`
    // keeps the built-in classifier).
    checkerEncoder: models.checkerEncoder,
    encoder: definition.model === 'ngram' || pytorch || finetune || !models.checkerEncoder ? undefined : { ...models.checkerEncoder, epochs: definition.epochs ?? models.checkerEncoder.epochs },
    ...(pytorch ? { pytorch } : {}),
    ...(finetune ? { finetune } : {}),
    seed: tuned.seed,
    guards: tuned.guards,
    filterKeep: tuned.filterKeep,
    scoringThreads: config.scoringThreads,
    device: resolveDevice(config, settings.device),
    outDir,
    runName,
  };
  const scoreMetaFile = definition.loss === 'ce' ? undefined : storage?.metaFile;
  const info: TrainingJobInfo = {
    jobId: randomUUID(),
    loss: spec.loss,
    syntheticFile: synthetic.path,
    validationFile: spec.validation?.path,
    testFile: spec.test?.path,
    runDir: path.join(outDir, runName),
    epochs: spec.pytorch?.settings.epochs ?? spec.finetune?.epochs ?? spec.encoder?.epochs ?? spec.settings.epochs,
    outputs: [...jobOutputs(spec), ...(scoreMetaFile ? [scoreMetaFile] : [])],
    startedAt: now.getTime(),
  };
  return { spec, info, configFile: project.file, scoreMetaFile, warnings };
}
