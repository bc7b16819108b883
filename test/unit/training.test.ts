import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { removeTemporarySiblings, temporarySibling } from '../../src/core/io/atomic';
import { runTrainingJob } from '../../src/core/jobs/trainJob';
import { defaultRunName, defaultRunsDir, jobOutputs, sweepJobTemporaries } from '../../src/core/jobs/trainJobSpec';
import { listRuns } from '../../src/core/train/runHistory';
import { readScores } from '../../src/core/weighting/score';
import { loadClassifier } from '../../src/core/model/modelFolder';
import { replayFinishedRun } from '../../src/extension/training/runReplay';
import { loadProjectConfig, type ProjectConfig } from '../../src/core/config';
import { resolveJobSettings } from '../../src/core/jobs/settings';
import { resolveTrainingJob, validateTaskDefinition, type EditorScoreStorage, type EditorTrainingSettings } from '../../src/extension/training/jobRequest';
import type { CoreEvent } from '../../src/protocol/events';
import { dispatchMessage } from '../../src/protocol/messages';
import type { ScoreMeta } from '../../src/protocol/scoring';
import { JobMessage, type JobCancelMessage, type JobToHostMessage } from '../../src/core/runtime/workerJob';
import type { TrainingWorkerData } from '../../src/protocol/trainingJob';
import { JobUpdateType, type TrainingJobInfo, type TrainingResultInfo } from '../../src/protocol/trainingPanel';
import { applyTrainingUpdate, emptyTrainingState, MAX_LOSS_POINTS } from '../../src/protocol/trainingState';
import { REPO_ROOT, SAMPLE_DIR, temporaryFolder } from './helpers';

/** What the training worker posts. */
type WorkerMessage = JobToHostMessage<CoreEvent, TrainingResultInfo>;

const SETTINGS: EditorTrainingSettings = {
  labels: [],
  epsilon: undefined,
  maxWeight: undefined,
  device: undefined,
  realData: undefined,
  qualityModel: undefined,
  diversityModel: undefined,
  textFields: [],
  labelField: undefined,
  trusted: true,
};
const settingsFor = (): EditorTrainingSettings => SETTINGS;
const WORKER_SCRIPT = path.join(REPO_ROOT, 'dist', 'trainingWorker.js');

let workspace: string;
let cleanup: () => void;

/** Every file and folder under `dir`, relative, sorted. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      out.push(path.relative(dir, p));
      if (entry.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

before(() => {
  ({ dir: workspace, cleanup } = temporaryFolder());
  for (const name of fs.readdirSync(SAMPLE_DIR)) fs.copyFileSync(path.join(SAMPLE_DIR, name), path.join(workspace, name));
});

after(() => cleanup());

/** Runs a job in the real worker bundle; `cancelAfter` cancels when that event type first arrives. */
function runInWorker(definition: Record<string, unknown>, cancelAfter?: CoreEvent['type'], folder = workspace): Promise<{ messages: WorkerMessage[]; info: TrainingJobInfo }> {
  return resolveTrainingJob(definition, { workspaceFolder: folder, settingsFor }).then(
    ({ spec, info }) =>
      new Promise((resolve, reject) => {
        const worker = new Worker(WORKER_SCRIPT, { workerData: { spec } satisfies TrainingWorkerData });
        const messages: WorkerMessage[] = [];
        let cancelled = false;
        worker.on('message', (message: unknown) => {
          dispatchMessage<WorkerMessage>(
            {
              [JobMessage.event]: (m) => {
                messages.push(m);
                if (!cancelled && m.event.type === cancelAfter) {
                  cancelled = true;
                  worker.postMessage({ type: JobMessage.cancel } satisfies JobCancelMessage);
                }
              },
              [JobMessage.done]: (m) => {
                messages.push(m);
                void worker.terminate().then(() => resolve({ messages, info }));
              },
              [JobMessage.failed]: (m) => {
                messages.push(m);
                void worker.terminate().then(() => resolve({ messages, info }));
              },
            },
            message,
          );
        });
        worker.on('error', reject);
      }),
  );
}

describe('resolveTrainingJob', () => {
  test('takes datasets, labels and training settings from the nearest dimp.config.json', async () => {
    const { spec, info, configFile } = await resolveTrainingJob(
      { type: 'dimp', loss: 'dimp', synthetic: 'synthetic.jsonl', epochs: 3 },
      { workspaceFolder: workspace, settingsFor, now: new Date('2026-01-02T03:04:05Z') },
    );
    assert.equal(configFile, path.join(workspace, 'dimp.config.json'));
    assert.equal(spec.synthetic.path, path.join(workspace, 'synthetic.jsonl'));
    assert.equal(spec.validation?.path, path.join(workspace, 'real_val.jsonl'));
    assert.equal(spec.test?.path, path.join(workspace, 'real_test.jsonl'));
    assert.equal(spec.real?.path, path.join(workspace, 'real_train.jsonl'));
    assert.deepEqual(spec.labels, ['negative', 'neutral', 'positive']);
    assert.equal(spec.settings.epochs, 3);
    assert.equal(spec.scoresFile, path.join(workspace, 'synthetic.scores.jsonl'));
    assert.equal(spec.outDir, path.join(workspace, 'runs'));
    assert.equal(spec.runName, 'dimp-20260102-030405');
    assert.equal(info.runDir, path.join(workspace, 'runs', 'dimp-20260102-030405'));
    assert.equal(info.epochs, 3);
    assert.deepEqual(info.outputs, jobOutputs(spec));
  });

  test('Train with DIMP resolves the settings the CLI does: training.maxGradNorm, optimizer, device, filter share', async () => {
    const { dir, cleanup: done } = temporaryFolder();
    try {
      for (const name of ['synthetic.jsonl', 'real_train.jsonl']) fs.copyFileSync(path.join(SAMPLE_DIR, name), path.join(dir, name));
      const config = {
        labels: ['negative', 'neutral', 'positive'],
        datasets: { synthetic: 'synthetic.jsonl', real: 'real_train.jsonl' },
        training: { maxGradNorm: 0.25, optimizer: 'sgd', filterKeep: 0.6 },
      };
      fs.writeFileSync(path.join(dir, 'dimp.config.json'), JSON.stringify(config));
      const { spec } = await resolveTrainingJob({ type: 'dimp', loss: 'filter' }, { workspaceFolder: dir, settingsFor: () => ({ ...SETTINGS, device: undefined }) });
      assert.equal(spec.settings.maxGradNorm, 0.25);
      assert.equal(spec.settings.optimizer, 'sgd');
      assert.equal(spec.filterKeep, 0.6);
      assert.equal(spec.device, 'auto', 'the same default device as scoring and the CLI');
      // The same config through the CLI's resolver gives the same settings.
      const cli = resolveJobSettings(config as ProjectConfig);
      assert.deepEqual(spec.settings, cli.settings);
      assert.deepEqual(spec.checkerSettings, cli.checkerSettings);
    } finally {
      done();
    }
  });

  test("Train with DIMP uses the config's encoder as the CLI does, and puts runs where the CLI and the editor look", async () => {
    const { dir, cleanup: done } = temporaryFolder();
    try {
      fs.mkdirSync(path.join(dir, 'project'));
      fs.copyFileSync(path.join(SAMPLE_DIR, 'synthetic.jsonl'), path.join(dir, 'project', 'synthetic.jsonl'));
      const config = { datasets: { synthetic: 'synthetic.jsonl' }, encoder: { path: 'encoder', epochs: 4 } };
      fs.writeFileSync(path.join(dir, 'project', 'dimp.config.json'), JSON.stringify(config));
      const resolve = (definition: Record<string, unknown>, trusted = true) =>
        resolveTrainingJob({ type: 'dimp', config: 'project/dimp.config.json', ...definition }, { workspaceFolder: dir, settingsFor: () => ({ ...SETTINGS, trusted }) });
      const { spec, info, warnings } = await resolve({ loss: 'dimp', epochs: 2 });
      assert.equal(spec.checkerEncoder?.encoder, path.join(dir, 'project', 'encoder'), 'checkers are heads on the encoder, as `dimp-curator score` trains them');
      assert.equal(spec.checkerEncoder?.epochs, 4);
      assert.equal(spec.encoder?.encoder, path.join(dir, 'project', 'encoder'));
      assert.equal(spec.encoder?.epochs, 2, "the task's epochs are the classifier's");
      assert.equal(info.epochs, 2);
      assert.deepEqual(warnings, []);
      assert.equal((await resolve({ loss: 'dimp', model: 'ngram' })).spec.encoder, undefined, '"model": "ngram" keeps the built-in classifier');
      const untrusted = await resolve({ loss: 'dimp' }, false);
      assert.equal(untrusted.spec.checkerEncoder, undefined);
      assert.equal(untrusted.spec.encoder, undefined);
      assert.equal(untrusted.warnings.length, 1);
      // Runs go next to the config: where the CLI writes them from there and where the editor looks for DIMP weights.
      const project = await loadProjectConfig(path.join(dir, 'project', 'dimp.config.json'), dir);
      assert.equal(spec.outDir, path.join(dir, 'project', 'runs'));
      assert.equal(spec.outDir, defaultRunsDir(project, dir));
    } finally {
      done();
    }
  });

  test('"model": "pytorch" trains on the PyTorch engine with dimpCurator.pythonPath and the config\'s pytorch section; never untrusted', async () => {
    const { dir, cleanup: done } = temporaryFolder();
    try {
      fs.copyFileSync(path.join(SAMPLE_DIR, 'synthetic.jsonl'), path.join(dir, 'synthetic.jsonl'));
      const config = { datasets: { synthetic: 'synthetic.jsonl' }, encoder: { path: 'encoder' }, pytorch: { model: 'bert-base-uncased', pythonPath: '/config/python', maxLength: 64 } };
      fs.writeFileSync(path.join(dir, 'dimp.config.json'), JSON.stringify(config));
      const resolve = (extra: Partial<EditorTrainingSettings>) =>
        resolveTrainingJob({ type: 'dimp', loss: 'dimp', model: 'pytorch', epochs: 2 }, { workspaceFolder: dir, settingsFor: () => ({ ...SETTINGS, pythonPackageDir: '/ext/python', ...extra }) });
      const { spec, info } = await resolve({ pythonPath: '/venv/bin/python' });
      assert.equal(spec.pytorch?.settings.python, '/venv/bin/python', 'dimpCurator.pythonPath over the config');
      assert.equal(spec.pytorch?.settings.model, 'bert-base-uncased');
      assert.equal(spec.pytorch?.settings.maxLength, 64);
      assert.equal(spec.pytorch?.settings.epochs, 2, "the task's epochs");
      assert.equal(spec.pytorch?.packageDir, '/ext/python');
      assert.equal(spec.encoder, undefined, 'not a head on the encoder');
      assert.equal(info.epochs, 2);
      assert.equal((await resolve({})).spec.pytorch?.settings.python, '/config/python');
      await assert.rejects(resolve({ trusted: false }), /trust the workspace/);
      fs.writeFileSync(path.join(dir, 'dimp.config.json'), JSON.stringify({ datasets: { synthetic: 'synthetic.jsonl' } }));
      await assert.rejects(resolve({}), /needs a model to fine-tune/);
    } finally {
      done();
    }
  });

  test('an empty string in the task means "none", overriding the config', async () => {
    const { spec } = await resolveTrainingJob({ type: 'dimp', loss: 'ce', validation: '', test: 'real_val.jsonl' }, { workspaceFolder: workspace, settingsFor });
    assert.equal(spec.validation, undefined);
    assert.equal(spec.test?.path, path.join(workspace, 'real_val.jsonl'));
    // The synthetic set comes from the config when the task names none.
    assert.equal(spec.synthetic.path, path.join(workspace, 'synthetic.jsonl'));
  });

  test('names a fresh run folder when one of the same second exists', async () => {
    const now = new Date('2026-01-02T03:04:05Z');
    fs.mkdirSync(path.join(workspace, 'runs', defaultRunName('imp', now)), { recursive: true });
    const { spec } = await resolveTrainingJob({ type: 'dimp', loss: 'imp' }, { workspaceFolder: workspace, settingsFor, now });
    assert.equal(spec.runName, `${defaultRunName('imp', now)}-2`);
    fs.rmSync(path.join(workspace, 'runs'), { recursive: true });
  });

  test('rejects malformed tasks.json definitions with a message that names the field', () => {
    assert.throws(() => validateTaskDefinition({ type: 'dimp', loss: 'focal' }), /"loss": one of ce, imp, dimp/);
    assert.throws(() => validateTaskDefinition({ type: 'dimp', loss: 'ce', epochs: 0 }), /"epochs" .* 1 to 1000/);
    assert.throws(() => validateTaskDefinition({ type: 'dimp', loss: 'ce', model: 'bert' }), /"model" must be one of ngram/);
    assert.throws(() => validateTaskDefinition({ type: 'dimp', loss: 'ce', synthetic: 3 }), /"synthetic" of a dimp task must be a path/);
  });
});

describe('the training worker', () => {
  test('scores first when no scores are stored, trains, and reports typed events and the result', async () => {
    const { messages, info } = await runInWorker({ type: 'dimp', loss: 'dimp', epochs: 3 });
    const last = messages[messages.length - 1]!;
    assert.equal(last.type, JobMessage.done, JSON.stringify(last));
    const events = messages.flatMap((m) => (m.type === JobMessage.event ? [m.event] : []));
    const types = new Set(events.map((e) => e.type));
    for (const type of ['score-progress', 'train-start', 'train-epoch', 'train-done'] as const) assert.ok(types.has(type), `no ${type} event`);
    assert.equal(events.filter((e) => e.type === 'train-epoch').length, 3);
    if (last.type !== JobMessage.done) return;
    assert.equal(last.result.runDir, info.runDir);
    assert.equal(last.result.scored, true);
    assert.ok(last.result.test && last.result.test.accuracy > 0.6, `test accuracy ${last.result.test?.accuracy}`);
    for (const file of ['metrics.json', 'weights.jsonl', 'config.json', 'train-log.jsonl', 'model/model.onnx']) assert.ok(fs.existsSync(path.join(info.runDir, file)), file);
    const scores = await readScores(path.join(workspace, 'synthetic.scores.jsonl'));
    assert.equal(scores.rows.length, 4000);

    // The same state the panel builds from these updates.
    const state = emptyTrainingState();
    applyTrainingUpdate(state, { type: JobUpdateType.started, job: info });
    for (const event of events) applyTrainingUpdate(state, event);
    applyTrainingUpdate(state, { type: JobUpdateType.finished, result: last.result });
    assert.equal(state.phase, 'finished');
    assert.equal(state.epochs.length, 3);
    assert.ok(state.lossPoints.length >= 3);
    assert.equal(state.result?.bestEpoch, last.result.bestEpoch);

    // A panel revived after a reload rebuilds the same charts from the run folder.
    const replayed = await replayFinishedRun(info, []);
    assert.ok(replayed);
    assert.equal(replayed.phase, 'finished');
    assert.deepEqual(replayed.epochs, state.epochs);
    assert.deepEqual(replayed.lossPoints, state.lossPoints);
    assert.deepEqual(replayed.result?.test, last.result.test);
    assert.equal(await replayFinishedRun({ ...info, runDir: path.join(workspace, 'runs', 'nothing') }, []), undefined);
  });

  test("the config's training.threads reaches the editor's training worker, which starts the Hogwild threads from the bundle", async () => {
    const { dir, cleanup: remove } = temporaryFolder();
    try {
      for (const name of fs.readdirSync(SAMPLE_DIR)) fs.copyFileSync(path.join(SAMPLE_DIR, name), path.join(dir, name));
      const config = JSON.parse(fs.readFileSync(path.join(dir, 'dimp.config.json'), 'utf8')) as { training: Record<string, unknown> };
      fs.writeFileSync(path.join(dir, 'dimp.config.json'), JSON.stringify({ ...config, training: { ...config.training, threads: 2 } }));
      const { messages, info } = await runInWorker({ type: 'dimp', loss: 'ce', epochs: 2 }, undefined, dir);
      const last = messages[messages.length - 1]!;
      assert.equal(last.type, JobMessage.done, JSON.stringify(last));
      const events = messages.flatMap((m) => (m.type === JobMessage.event ? [m.event] : []));
      const start = events.find((e) => e.type === 'train-start');
      assert.equal(start?.type === 'train-start' ? start.threads : undefined, 2);
      const recorded = JSON.parse(fs.readFileSync(path.join(info.runDir, 'config.json'), 'utf8')) as { settings: { threads?: number } };
      assert.equal(recorded.settings.threads, 2);
    } finally {
      remove();
    }
  });

  test('uses the stored scores on the next run instead of scoring again', async () => {
    const { messages } = await runInWorker({ type: 'dimp', loss: 'imp', epochs: 2 });
    const last = messages[messages.length - 1]!;
    assert.equal(last.type, JobMessage.done);
    assert.ok(last.type === JobMessage.done && !last.result.scored);
    assert.ok(!messages.some((m) => m.type === JobMessage.event && m.event.type === 'score-progress' && m.event.stage !== 'read'));
  });

  test('cancelled midway, it stops and leaves no partial outputs', async () => {
    const before = tree(workspace);
    const { messages, info } = await runInWorker({ type: 'dimp', loss: 'dimp', epochs: 1000 }, 'train-epoch');
    const last = messages[messages.length - 1]!;
    assert.equal(last.type, JobMessage.failed);
    assert.ok(last.type === JobMessage.failed && last.kind === 'cancelled', JSON.stringify(last));
    const epochs = messages.filter((m) => m.type === JobMessage.event && m.event.type === 'train-epoch').length;
    assert.ok(epochs < 20, `stopped after ${epochs} epochs`);
    assert.ok(!fs.existsSync(info.runDir));
    assert.deepEqual(tree(workspace), before);
  });

  test("with the editor's score storage, the scores it computes first go there, with their meta", async () => {
    const { dir: storage, cleanup: done } = temporaryFolder();
    try {
      const storageFor = (): EditorScoreStorage => ({ scoresFile: path.join(storage, 'scores.jsonl'), checkersDir: path.join(storage, 'checkers'), metaFile: path.join(storage, 'meta.json') });
      const resolved = await resolveTrainingJob({ type: 'dimp', loss: 'dimp', epochs: 1 }, { workspaceFolder: workspace, settingsFor: () => ({ ...SETTINGS, scoreStorageFor: storageFor }) });
      assert.equal(resolved.spec.scoresFile, path.join(storage, 'scores.jsonl'));
      assert.equal(resolved.scoreMetaFile, path.join(storage, 'meta.json'));
      assert.ok(resolved.info.outputs.includes(path.join(storage, 'meta.json')));
      // Checkers of each scoring go to a folder of their own, as Score Synthetic Data does; earlier ones go
      // once the new scores are stored.
      const checkersDir = resolved.spec.checkersDir!;
      assert.equal(path.dirname(checkersDir), path.join(storage, 'checkers'));
      fs.mkdirSync(path.join(storage, 'checkers', 'earlier', 'quality'), { recursive: true });
      const messages = await new Promise<WorkerMessage[]>((resolve, reject) => {
        const worker = new Worker(WORKER_SCRIPT, { workerData: { spec: resolved.spec, scoreMetaFile: resolved.scoreMetaFile } satisfies TrainingWorkerData });
        const received: WorkerMessage[] = [];
        worker.on('message', (m: WorkerMessage) => {
          received.push(m);
          if (m.type !== JobMessage.event) void worker.terminate().then(() => resolve(received));
        });
        worker.on('error', reject);
      });
      const last = messages[messages.length - 1]!;
      assert.ok(last.type === JobMessage.done && last.result.scored, JSON.stringify(last));
      const meta = JSON.parse(fs.readFileSync(path.join(storage, 'meta.json'), 'utf8')) as ScoreMeta;
      assert.equal(meta.synthetic, path.join(workspace, 'synthetic.jsonl'));
      assert.deepEqual(meta.fields.text, ['sentence']);
      // The checkers the scores were published with: a generation folder inside this scoring's folder.
      assert.equal(path.dirname(path.dirname(meta.qualityModel)), checkersDir);
      assert.equal(path.basename(meta.qualityModel), 'quality');
      assert.ok(fs.existsSync(path.join(meta.diversityModel, 'model.onnx')));
      assert.deepEqual(fs.readdirSync(path.join(storage, 'checkers')), [path.basename(checkersDir)]);
      assert.equal((await readScores(path.join(storage, 'scores.jsonl'))).rows.length, 4000);
      fs.rmSync(resolved.info.runDir, { recursive: true });
    } finally {
      done();
    }
  });

  test('cancelled while scoring first, it leaves no checkers, scores or folders behind', async () => {
    const { dir: storageRoot, cleanup: done } = temporaryFolder();
    try {
      const storage = path.join(storageRoot, 'scores', 'synthetic-key');
      const storageFor = (): EditorScoreStorage => ({ scoresFile: path.join(storage, 'scores.jsonl'), checkersDir: path.join(storage, 'checkers'), metaFile: path.join(storage, 'meta.json') });
      const { spec, info, scoreMetaFile } = await resolveTrainingJob({ type: 'dimp', loss: 'dimp', epochs: 1 }, { workspaceFolder: workspace, settingsFor: () => ({ ...SETTINGS, scoreStorageFor: storageFor }) });
      const before = tree(workspace);
      const messages = await new Promise<WorkerMessage[]>((resolve, reject) => {
        const worker = new Worker(WORKER_SCRIPT, { workerData: { spec, scoreMetaFile } satisfies TrainingWorkerData });
        const received: WorkerMessage[] = [];
        let cancelled = false;
        worker.on('message', (m: WorkerMessage) => {
          received.push(m);
          // The quality checker is saved by then; the diversity checker is being trained.
          if (!cancelled && m.type === JobMessage.event && m.event.type === 'score-progress' && m.event.stage === 'diversity-checker') {
            cancelled = true;
            worker.postMessage({ type: JobMessage.cancel } satisfies JobCancelMessage);
          }
          if (m.type !== JobMessage.event) void worker.terminate().then(() => resolve(received));
        });
        worker.on('error', reject);
      });
      const last = messages[messages.length - 1]!;
      assert.ok(last.type === JobMessage.failed && last.kind === 'cancelled', JSON.stringify(last));
      assert.deepEqual(fs.readdirSync(storageRoot), [], 'the storage holds nothing');
      assert.deepEqual(tree(workspace), before);
      assert.ok(!fs.existsSync(info.runDir));
    } finally {
      done();
    }
  });

  test('a bad dataset fails with a message naming the file, and writes nothing', async () => {
    const before = tree(workspace);
    const { messages } = await runInWorker({ type: 'dimp', loss: 'ce', synthetic: 'missing.jsonl' });
    const last = messages[messages.length - 1]!;
    assert.ok(last.type === JobMessage.failed && last.kind === 'badInput', JSON.stringify(last));
    assert.ok(last.type === JobMessage.failed && last.message.includes('missing.jsonl'));
    assert.deepEqual(tree(workspace), before);
  });
});

describe('runTrainingJob', () => {
  test('imp without scores, real rows or a quality model is a usage error', async () => {
    const { dir, cleanup: done } = temporaryFolder();
    try {
      fs.copyFileSync(path.join(SAMPLE_DIR, 'synthetic.jsonl'), path.join(dir, 'synthetic.jsonl'));
      const { spec } = await resolveTrainingJob({ type: 'dimp', loss: 'imp', synthetic: 'synthetic.jsonl' }, { workspaceFolder: dir, settingsFor });
      await assert.rejects(runTrainingJob(spec), /imp training needs quality scores \(no stored scores\)/);
      assert.deepEqual(fs.readdirSync(dir), ['synthetic.jsonl']);
    } finally {
      done();
    }
  });
});

describe('rows changed since scoring', () => {
  test('the train job scores them with the stored checkers, keeps every other score, and trains on all rows', async () => {
    const { dir, cleanup: done } = temporaryFolder();
    try {
      for (const name of fs.readdirSync(SAMPLE_DIR)) fs.copyFileSync(path.join(SAMPLE_DIR, name), path.join(dir, name));
      const first = await resolveTrainingJob({ type: 'dimp', loss: 'imp', epochs: 1 }, { workspaceFolder: dir, settingsFor });
      assert.equal((await runTrainingJob(first.spec)).scored, true);
      const scoresFile = path.join(dir, 'synthetic.scores.jsonl');
      const before = await readScores(scoresFile);
      const added = { sentence: 'A row written after scoring: the battery died on the second day.', label: 0 };
      fs.appendFileSync(path.join(dir, 'synthetic.jsonl'), JSON.stringify(added) + '\n');
      const checkersDir = path.join(dir, 'synthetic.checkers');
      const checkersBefore = tree(checkersDir).map((f) => [f, fs.statSync(path.join(checkersDir, f)).mtimeMs]);

      const second = await resolveTrainingJob({ type: 'dimp', loss: 'imp', epochs: 1 }, { workspaceFolder: dir, settingsFor });
      const events: CoreEvent[] = [];
      const result = await runTrainingJob(second.spec, { onEvent: (e) => events.push(e) });
      const after = await readScores(scoresFile);
      assert.equal(after.rows.length, before.rows.length + 1);
      assert.equal(result.unscoredRows, 0, 'no row left out');
      assert.equal(result.trainingRows, after.rows.length);
      const oldById = new Map(before.rows.map((r) => [r.rowId, r]));
      const fresh = after.rows.filter((r) => !oldById.has(r.rowId));
      assert.equal(fresh.length, 1);
      assert.equal(fresh[0]!.line, before.rows.length + 1);
      // (Duplicate lines share a row id, so compare all but the line.)
      for (const row of after.rows.filter((r) => oldById.has(r.rowId))) assert.deepEqual({ ...row, line: 0 }, { ...oldById.get(row.rowId)!, line: 0 }, 'kept as stored');
      assert.deepEqual(after.rows.filter((r) => oldById.has(r.rowId)).map((r) => r.line), before.rows.map((r) => r.line), 'at their lines');
      // Scored by the stored checkers, which were not trained again.
      assert.deepEqual(tree(checkersDir).map((f) => [f, fs.statSync(path.join(checkersDir, f)).mtimeMs]), checkersBefore);
      const quality = await loadClassifier(after.header.checkerFolders!.quality, 'cpu');
      const row = { rowId: fresh[0]!.rowId, line: fresh[0]!.line, byteOffset: 0, byteLength: 0, texts: [added.sentence] as [string], rawLabel: 0, label: quality.labelMap.indexOf('negative')! };
      const q = await quality.predict([row]);
      await quality.dispose();
      assert.ok(Math.abs(fresh[0]!.quality - q[row.label]!) < 1e-6, `q ${fresh[0]!.quality} vs the checker's ${q[row.label]}`);
      assert.ok(events.some((e) => e.type === 'log' && /1 rows changed since scoring: scoring them with the stored checkers/.test(e.message)));
    } finally {
      done();
    }
  });
});

describe('listRuns', () => {
  test('lists finished runs on a synthetic file, newest first, and skips temporaries', async () => {
    const outDir = path.join(workspace, 'runs');
    fs.mkdirSync(temporarySibling(path.join(outDir, 'dimp-x')));
    const runs = await listRuns(outDir, { synthetic: path.join(workspace, 'synthetic.jsonl') });
    assert.deepEqual(
      runs.map((r) => r.loss),
      ['imp', 'dimp'],
    );
    assert.ok(runs.every((r) => r.validation && r.test && r.bestEpoch >= 1));
    assert.deepEqual(await listRuns(outDir, { synthetic: path.join(workspace, 'other.jsonl') }), []);
    assert.deepEqual(await listRuns(path.join(workspace, 'nowhere')), []);
    assert.equal(await removeTemporarySiblings(path.join(outDir, 'dimp-x')), 1);
  });

  test('sweepJobTemporaries removes what a killed job left, and nothing else', async () => {
    const { spec } = await resolveTrainingJob({ type: 'dimp', loss: 'dimp' }, { workspaceFolder: workspace, settingsFor });
    const before = tree(workspace);
    for (const output of jobOutputs(spec)) {
      fs.mkdirSync(path.dirname(output), { recursive: true });
      fs.writeFileSync(temporarySibling(output), 'partial');
    }
    assert.equal(await sweepJobTemporaries(spec), 4);
    assert.deepEqual(tree(workspace), before);
  });
});

describe('the panel state', () => {
  test('keeps at most MAX_LOSS_POINTS loss points, spread over the whole run', () => {
    const state = emptyTrainingState();
    applyTrainingUpdate(state, { type: 'train-start', loss: 'dimp', epochs: 1, rows: 8, stepsPerEpoch: 10_000 });
    for (let step = 1; step <= 10_000; step++) {
      applyTrainingUpdate(state, { type: 'train-progress', epoch: 1, step, totalSteps: 10_000, loss: 1 / step, learningRate: 0.1, rowsPerSecond: 1, etaSeconds: 0 });
    }
    assert.ok(state.lossPoints.length <= MAX_LOSS_POINTS);
    assert.ok(state.lossPoints.length > MAX_LOSS_POINTS / 2);
    assert.equal(state.lossPoints[state.lossPoints.length - 1]!.x, 1);
    assert.ok(state.lossPoints[0]!.x < 0.01);
  });

  test('a new job starts from a clean state but keeps the history table', () => {
    const state = emptyTrainingState();
    state.history = [{ runName: 'ce-1', runDir: '/r/ce-1', loss: 'ce', seed: 1, epochs: 2, bestEpoch: 2, validation: undefined, test: undefined, createdAt: '' }];
    state.epochs.push({ epoch: 1, trainLoss: 1, trainCrossEntropy: 1, validation: undefined, test: undefined, weights: { edges: [0, null], counts: [1], mean: 1, min: 1, max: 1 } });
    const job: TrainingJobInfo = { jobId: 'j', loss: 'dimp', syntheticFile: '/s.jsonl', validationFile: undefined, testFile: undefined, runDir: '/r/x', epochs: 2, outputs: [], startedAt: 0 };
    applyTrainingUpdate(state, { type: JobUpdateType.started, job });
    assert.equal(state.phase, 'preparing');
    assert.equal(state.epochs.length, 0);
    assert.equal(state.history.length, 1);
    applyTrainingUpdate(state, { type: JobUpdateType.cancelled });
    assert.equal(state.phase, 'cancelled');
  });
});
