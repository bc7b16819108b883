/**
 * A Hogwild training thread for the built-in model: steps the shared table, moments and output layer with the
 * batches it claims, without locks (fastText's `-thread`). Started by `hogwild.ts`; each `epoch` message runs
 * batches until the epoch's cursor passes its last batch (or the run is cancelled), then answers.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DimpError } from '../errors';
import { NgramClassifier } from '../model/ngramClassifier';
import { adoptSharedKernelModule } from '../model/wasmKernels';
import { batchLoss, gatherBatch, newBatchScratch } from './trainer';
import { HogwildControl, HogwildMessage, PROGRESS_FIELDS, type HogwildReply, type HogwildRequest, type HogwildWorkerData } from './hogwildMessages';

if (!parentPort) throw new Error('hogwildWorker.js runs as a worker thread');
const port = parentPort;
const data = workerData as HogwildWorkerData;
const { run, control, order, lastWeights } = data;
adoptSharedKernelModule(data.kernels);
const model = NgramClassifier.replica(data.model, data.thread, data.seed);
const features = { ids: data.ids, offsets: data.offsets, count: run.count };
// The matrix is mapped to rows already (HogwildTeam.start): the replica reads it as its own row cache.
model.takeTrainingIds(features);
const { batchSize, numClasses } = run;
const scratch = newBatchScratch(batchSize, numClasses);
const { logits, buffers, labels: batchLabels, quality: batchQuality, diversity: batchDiversity } = scratch;
const progress = data.progress.subarray((data.thread - 1) * PROGRESS_FIELDS, data.thread * PROGRESS_FIELDS);

function reply(message: HogwildReply): void {
  port.postMessage(message);
}

/** Waits for batch `index`'s turn; false when the run is cancelled meanwhile. */
function awaitTurn(index: number): boolean {
  for (;;) {
    if (Atomics.load(control, HogwildControl.cancel) !== 0) return false;
    const turn = Atomics.load(control, HogwildControl.turn);
    if (turn === index) return true;
    Atomics.wait(control, HogwildControl.turn, turn, 50);
  }
}

function runEpoch(epoch: number): { objective: number; crossEntropy: number } {
  progress.fill(0);
  let objectiveSum = 0;
  let crossEntropySum = 0;
  for (;;) {
    if (Atomics.load(control, HogwildControl.cancel) !== 0) break;
    const index = Atomics.add(control, HogwildControl.cursor, 1);
    if (index >= run.stepsPerEpoch) break;
    if (data.deterministic) {
      if (!awaitTurn(index)) break;
      model.dropoutState = Atomics.load(control, HogwildControl.dropout);
    }
    const start = index * batchSize;
    const n = Math.min(batchSize, run.count - start);
    const batch = order.subarray(start, start + n);
    gatherBatch(scratch, data, batch);
    model.forward(features, batch, logits, true);
    const { objective, crossEntropy } = batchLoss(logits, batchLabels.subarray(0, n), numClasses, run.loss, run.guards, batchQuality, batchDiversity, buffers);
    const step = (epoch - 1) * run.stepsPerEpoch + index;
    if (!Number.isFinite(objective)) {
      Atomics.store(control, HogwildControl.cancel, 1);
      throw new DimpError(
        'diverged',
        `training diverged at epoch ${epoch}, step ${step + 1}: the ${run.loss} loss is ${objective}. ` +
          'Set a maximum weight (--max-weight), a gradient-norm limit, or a lower learning rate.',
      );
    }
    const learningRate = run.schedule === 'linear' ? run.learningRate * (1 - step / run.totalSteps) : run.learningRate;
    model.backward(buffers.gradLogits.subarray(0, n * numClasses), learningRate, null, false);
    for (let b = 0; b < n; b++) lastWeights[batch[b]!] = buffers.weights[b]!;
    objectiveSum += objective * n;
    crossEntropySum += crossEntropy * n;
    progress[0] = objectiveSum;
    progress[1] = crossEntropySum;
    progress[2]! += objective;
    progress[3]! += 1;
    Atomics.add(control, HogwildControl.done, 1);
    if (data.deterministic) {
      Atomics.store(control, HogwildControl.dropout, model.dropoutState);
      Atomics.store(control, HogwildControl.turn, index + 1);
      Atomics.notify(control, HogwildControl.turn);
    }
  }
  return { objective: objectiveSum, crossEntropy: crossEntropySum };
}

reply({ type: HogwildMessage.ready });

port.on('message', (message: HogwildRequest) => {
  try {
    const { objective, crossEntropy } = runEpoch(message.epoch);
    reply({ type: HogwildMessage.epochDone, epoch: message.epoch, objective, crossEntropy });
  } catch (error) {
    Atomics.store(control, HogwildControl.cancel, 1);
    Atomics.notify(control, HogwildControl.turn);
    const e = error as Error;
    reply({ type: HogwildMessage.failed, kind: e instanceof DimpError ? e.kind : 'internal', message: e?.message ?? String(error) });
  }
});
