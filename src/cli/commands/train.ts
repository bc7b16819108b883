import * as path from 'node:path';
import { DimpError, ExitCode } from '../../core/errors';
import { pathExists } from '../../core/io/atomic';
import { runTrainingJob } from '../../core/jobs/trainJob';
import { defaultRunName, defaultRunsDir } from '../../core/jobs/trainJobSpec';
import { DEFAULT_FILTER_KEEP, type RunSummary } from '../../core/train/run';
import { LOSS_KINDS, type LossKind } from '../../protocol/events';
import { describeDiagnostics, dominanceWarning } from '../../core/weighting/weights';
import { DATA_OPTIONS, deviceFlag, labelsFlag, stringFlag, type Command, type OptionSpec } from '../command';
import { DEFAULT_FINETUNE_SETTINGS } from '../../core/train/fineTuneTraining';
import { CHECKER_OPTIONS, datasetSource, embeddingCacheFlag, jobSettings, ENCODER_OPTIONS, encoderHeadSettings, FINETUNE_OPTIONS, fineTuneSettings, PYTORCH_OPTIONS, pytorchSettings, pythonPackageDir, TRAINING_OPTIONS } from '../settings';
import { defaultCheckersDir, defaultScoresPath } from './score';


const percent = (x: number | undefined): string => (x === undefined ? '–' : `${(x * 100).toFixed(1)}%`);

/** One line describing a finished run. */
export function describeRun(run: RunSummary): string {
  return (
    `${run.loss}: best epoch ${run.bestEpoch} · validation acc ${percent(run.validation?.accuracy)} · ` +
    `test acc ${percent(run.test?.accuracy)} macro-F1 ${percent(run.test?.macroF1)} · ${Math.round(run.rowsPerSecond).toLocaleString('en-US')} rows/s\n` +
    (run.weightDiagnostics ? `weights: ${describeDiagnostics(run.weightDiagnostics)}\n` : '') +
    (run.weightDiagnostics && dominanceWarning(run.weightDiagnostics) ? `warning: ${dominanceWarning(run.weightDiagnostics)}\n` : '') +
    (run.encoder ? `encoder: ${run.encoder.description} on ${run.encoder.provider} · ${run.encoder.cachedRows} rows from the embedding cache, ${run.encoder.computedRows} texts encoded\n` : '') +
    (run.finetune ? `fine-tuned: ${run.finetune.parameters.toLocaleString('en-US')} parameters, ${run.finetune.optimizerSteps} optimiser step${run.finetune.optimizerSteps === 1 ? '' : 's'} on ${run.finetune.provider}\n` : '') +
    `run folder: ${run.runDir}`
  );
}

/** A shared flag's spec with its default under --finetune added to its description. */
function withFineTuneDefault(options: Record<string, OptionSpec>, flag: string, value: number | string): Record<string, OptionSpec> {
  const spec = options[flag]!;
  return { [flag]: { ...spec, description: spec.description.replace(/\)$/, `; with --finetune ${value})`) } };
}

/** `dimp-curator train`. */
export const trainCommand: Command = {
  name: 'train',
  summary: 'Train the built-in classifier, a head on a frozen transformer encoder, or fine-tune a transformer, on synthetic data with CE, IMP or DIMP loss.',
  details:
    'imp and dimp need quality scores: --scores FILE from `dimp-curator score`, or --real FILE to score first.\n' +
    'With --encoder DIR, a linear or mlp head is trained on the encoder\'s pooled embeddings (cached in --cache) and\n' +
    'model/ is the encoder with the head appended: a sequence-classifier folder any ONNX runtime can serve.\n' +
    'Writes one run folder: model/ (ONNX + config.json), metrics.json, weights.jsonl, train-log.jsonl, config.json.\n\n' +
    'With --finetune DIR, every weight of a transformer classifier (a Hugging Face folder with config.json, tokenizer.json\n' +
    'and an ONNX *ForSequenceClassification graph, e.g. from `optimum-cli export onnx --task text-classification`;\n' +
    'an encoder export gets a new linear head on mean-pooled token vectors) is\n' +
    'trained on onnxruntime-node, no Python: AdamW with linear decay after --warmup, --weight-decay, --max-grad-norm,\n' +
    '--grad-accum batches per step. Defaults: --epochs 3 --batch-size 16 --lr 2e-5 --warmup 0.1 --weight-decay 0.01\n' +
    '--max-grad-norm 1 --max-length 128. --device cuda runs it on the GPU where onnxruntime\'s CUDA provider is installed\n' +
    '(else on the CPU, with a warning). model/ is the same model with the best epoch\'s weights: --quality-model and eval take it.\n\n' +
    'With --engine pytorch, a Hugging Face model (--model DIR) is fine-tuned on the Hugging Face Trainer with the same\n' +
    'loss, launched by `accelerate launch` (its config, or --launch-args, decides GPUs and machines) with the Python of\n' +
    '--python (else "pytorch.pythonPath" in dimp.config.json, else $DIMP_CURATOR_PYTHON, else python3); --epochs,\n' +
    '--batch-size (per device), --lr and --max-length apply to it. model/ then holds the Hugging Face files and model.onnx.\n\n' +
    'Example:\n  dimp-curator train --synthetic syn.jsonl --scores syn.scores.jsonl --loss dimp --validation val.jsonl --test test.jsonl\n' +
    '  dimp-curator train --finetune models/bert-sst2 --synthetic syn.jsonl --scores syn.scores.jsonl --validation val.jsonl --device cuda\n' +
    '  dimp-curator train --engine pytorch --python .venv/bin/python --model bert-base-uncased --synthetic syn.jsonl --scores syn.scores.jsonl \\\n' +
    '      --launch-args="--num_processes 2"',
  options: {
    synthetic: { type: 'string', value: 'FILE', description: 'synthetic JSONL to train on' },
    loss: { type: 'string', value: 'LOSS', description: 'dimp | imp | ce, or a baseline: quality (w = q) | filter (CE on the top --keep share by q) (default: config, else dimp)' },
    keep: { type: 'string', value: 'X', description: `filter: share of the rows kept, highest q first, 0–1 (default ${DEFAULT_FILTER_KEEP})` },
    scores: { type: 'string', value: 'FILE', description: 'scores file for imp/dimp' },
    real: { type: 'string', value: 'FILE', description: 'real JSONL: score first when --scores is not given (into <synthetic>.scores.jsonl)' },
    'quality-model': { type: 'string', value: 'DIR', description: 'scoring first: use this model folder as the quality checker' },
    'diversity-model': { type: 'string', value: 'DIR', description: 'scoring first: use this model folder as the diversity checker' },
    checkers: { type: 'string', value: 'DIR', description: 'scoring first: where trained checkers are saved (default: <synthetic>.checkers/)' },
    validation: { type: 'string', value: 'FILE', description: 'real JSONL for epoch selection' },
    test: { type: 'string', value: 'FILE', description: 'real JSONL for the final report' },
    out: { type: 'string', value: 'DIR', description: "parent folder of run folders (default: the config's output, else runs/ next to dimp.config.json, else ./runs)" },
    name: { type: 'string', value: 'NAME', description: 'run folder name (default: <loss>-<time>)' },
    force: { type: 'boolean', description: 'scoring first: replace <synthetic>.scores.jsonl even when it is not a scores file (an input is never replaced)' },
    ...FINETUNE_OPTIONS,
    ...PYTORCH_OPTIONS,
    ...TRAINING_OPTIONS,
    ...CHECKER_OPTIONS,
    ...ENCODER_OPTIONS,
    ...DATA_OPTIONS,
    // Shared flags whose fine-tuning defaults differ from the built-in classifier's.
    ...withFineTuneDefault(TRAINING_OPTIONS, 'epochs', DEFAULT_FINETUNE_SETTINGS.epochs),
    ...withFineTuneDefault(TRAINING_OPTIONS, 'batch-size', DEFAULT_FINETUNE_SETTINGS.batchSize),
    ...withFineTuneDefault(TRAINING_OPTIONS, 'lr', '2e-5'),
    ...withFineTuneDefault(TRAINING_OPTIONS, 'max-grad-norm', DEFAULT_FINETUNE_SETTINGS.maxGradNorm ?? 'none'),
    ...withFineTuneDefault(ENCODER_OPTIONS, 'max-length', DEFAULT_FINETUNE_SETTINGS.maxLength),
  },
  async run(context) {
    const loss = (stringFlag(context.values, 'loss') ?? context.project.config.training?.loss ?? 'dimp') as LossKind;
    if (!LOSS_KINDS.includes(loss)) throw new DimpError('usage', `--loss must be one of ${LOSS_KINDS.join(', ')}, got "${loss}"`);
    const engine = stringFlag(context.values, 'engine') ?? 'builtin';
    if (engine !== 'builtin' && engine !== 'pytorch') throw new DimpError('usage', `--engine must be builtin or pytorch, got "${engine}"`);
    const finetune = fineTuneSettings(context);
    if (finetune && engine === 'pytorch') throw new DimpError('usage', '--finetune trains on onnxruntime-node; --engine pytorch fine-tunes with --model instead: choose one');
    if (finetune && stringFlag(context.values, 'encoder') !== undefined) throw new DimpError('usage', '--finetune trains every weight of a classifier, --encoder a head on a frozen encoder: choose one');
    const synthetic = datasetSource(context, 'synthetic', 'synthetic', true)!;
    const settings = jobSettings(context);
    const recipe = stringFlag(context.values, 'recipe') ?? context.project.config.training?.recipe;
    const builtIn = engine === 'builtin' && !finetune && encoderHeadSettings(context) === undefined;
    if (recipe !== undefined && !builtIn) {
      context.reporter.onEvent({ type: 'log', level: 'warning', message: `the recipe (${recipe}) shapes the built-in classifier only; this run trains ${finetune ? 'a fine-tuned transformer' : engine === 'pytorch' ? 'on the PyTorch engine' : 'a head on the encoder'}, so it does not apply` });
    }
    if (settings.settings.threads !== undefined && !builtIn) {
      context.reporter.onEvent({ type: 'log', level: 'warning', message: `the training threads (${settings.settings.threads}) train the built-in classifier only; this run trains ${finetune ? 'a fine-tuned transformer' : engine === 'pytorch' ? 'on the PyTorch engine' : 'a head on the encoder'} on its own threads` });
    }
    const explicitScores = stringFlag(context.values, 'scores');
    if (explicitScores && !(await pathExists(explicitScores))) throw new DimpError('badInput', 'scores file not found (run `dimp-curator score` first)', { file: explicitScores });
    const real = datasetSource(context, 'real', 'real', false);
    const qualityModel = stringFlag(context.values, 'quality-model') ?? context.project.config.models?.quality;
    if (loss !== 'ce' && !explicitScores && !real && !qualityModel) throw new DimpError('usage', `${loss} needs quality scores: pass --scores FILE, or --real FILE to score first`);
    const scoresFile = path.resolve(explicitScores ?? defaultScoresPath(synthetic.path));
    const run = await runTrainingJob(
      {
        loss,
        synthetic,
        validation: datasetSource(context, 'validation', 'validation', false),
        test: datasetSource(context, 'test', 'test', false),
        // Given scores are used as they are; rows they miss are left out (runTraining reports them).
        real: explicitScores ? undefined : real,
        qualityModel: explicitScores ? undefined : qualityModel,
        diversityModel: explicitScores ? undefined : (stringFlag(context.values, 'diversity-model') ?? context.project.config.models?.diversity),
        labels: labelsFlag(context),
        scoresFile,
        force: context.values.force === true,
        // Without --scores the CLI always scores first, as it says; the editor reuses stored scores.
        scoreFirst: explicitScores ? 'when-needed' : 'always',
        checkersDir: path.resolve(stringFlag(context.values, 'checkers') ?? defaultCheckersDir(scoresFile)),
        settings: settings.settings,
        encoder: engine === 'pytorch' || finetune ? undefined : encoderHeadSettings(context),
        finetune,
        pytorch: engine === 'pytorch' ? { settings: pytorchSettings(context), packageDir: pythonPackageDir() } : undefined,
        checkerSettings: settings.checkerSettings,
        checkerEncoder: encoderHeadSettings(context, { trainingFlags: false }),
        embeddingCacheDir: embeddingCacheFlag(context),
        seed: settings.seed,
        guards: settings.guards,
        filterKeep: settings.filterKeep,
        scoringThreads: context.project.config.scoringThreads,
        device: deviceFlag(context),
        outDir: path.resolve(stringFlag(context.values, 'out') ?? defaultRunsDir(context.project, process.cwd())),
        runName: stringFlag(context.values, 'name') ?? defaultRunName(loss),
      },
      { signal: context.signal, onEvent: context.reporter.onEvent },
    );
    if (run.scored) context.reporter.info(`scores written to ${run.scoresFile}`);
    context.reporter.result(describeRun(run), {
      runDir: run.runDir,
      loss: run.loss,
      bestEpoch: run.bestEpoch,
      validation: run.validation,
      test: run.test,
      rowsPerSecond: run.rowsPerSecond,
      provider: run.provider,
      ...(run.weightDiagnostics ? { weightDiagnostics: run.weightDiagnostics } : {}),
      ...(run.encoder ? { encoder: run.encoder } : {}),
      ...(run.finetune ? { finetune: run.finetune } : {}),
    });
    return ExitCode.ok;
  },
};
