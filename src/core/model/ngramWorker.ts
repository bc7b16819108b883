/**
 * A scoring worker thread for the built-in checkers: opens both checkers' model folders with sessions of one
 * intra-op thread each, then scores the chunks of rows it is sent (featurised once for both, as on the main
 * thread) and returns their probabilities. Started by `ngramPool.ts`; a `cancel` stops the run in progress
 * before its next batch.
 */
import { parentPort } from 'node:worker_threads';
import { DimpError } from '../errors';
import type { DeviceChoice } from '../runtime/onnxRuntime';
import { NgramOnnxClassifier, readModelConfig } from './modelFolder';
import { NgramWorkerMessage, type NgramWorkerReply, type NgramWorkerRequest } from './ngramWorkerMessages';

if (!parentPort) throw new Error('ngramWorker.js runs as a worker thread');
const port = parentPort;

let models: NgramOnnxClassifier[] = [];
let running: { id: number; controller: AbortController } | undefined;

function reply(message: NgramWorkerReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

async function open(folder: string, device: DeviceChoice): Promise<NgramOnnxClassifier> {
  const { config, labelMap } = await readModelConfig(folder);
  return NgramOnnxClassifier.open(folder, config, labelMap, device, { intraOpThreads: 1 });
}

async function handle(message: NgramWorkerRequest): Promise<void> {
  switch (message.type) {
    case NgramWorkerMessage.open: {
      models = [];
      for (const folder of message.folders) models.push(await open(folder, message.device));
      reply({ type: NgramWorkerMessage.opened, id: message.id });
      return;
    }
    case NgramWorkerMessage.run: {
      const controller = new AbortController();
      running = { id: message.id, controller };
      try {
        const rows = message.texts.map((texts) => ({ texts }));
        const progress = (done: number): void => reply({ type: NgramWorkerMessage.progress, id: message.id, done });
        // One featurisation for both checkers when they share it (the main thread's condition for using workers).
        const outs = models.length > 1 && models.every((m) => m.sharesFeaturesWith(models[0]!))
          ? await NgramOnnxClassifier.predictAll(models, rows, { batchSize: message.batchSize, signal: controller.signal, onProgress: progress })
          : await Promise.all(models.map((m) => m.predict(rows, { batchSize: message.batchSize, signal: controller.signal })));
        reply({ type: NgramWorkerMessage.result, id: message.id, probabilities: outs }, outs.map((o) => o.buffer as ArrayBuffer));
      } finally {
        running = undefined;
      }
      return;
    }
    case NgramWorkerMessage.cancel:
      if (running && running.id === message.id) running.controller.abort();
      return;
    case NgramWorkerMessage.close: {
      const open = models;
      models = [];
      for (const model of open) await model.dispose();
      reply({ type: NgramWorkerMessage.closed, id: message.id });
      return;
    }
  }
}

port.on('message', (message: NgramWorkerRequest) => {
  handle(message).catch((error: unknown) => {
    const e = error as Error;
    reply({
      type: NgramWorkerMessage.failed,
      id: 'id' in message ? message.id : 0,
      kind: e instanceof DimpError ? e.kind : 'internal',
      message: e?.message ?? String(error),
      file: e instanceof DimpError ? e.file : undefined,
      line: e instanceof DimpError ? e.line : undefined,
    });
  });
});
