/**
 * The transformer worker thread's entry: owns one `TransformerEngine` and answers the host's typed
 * messages in order. Tokenization and onnxruntime's synchronous `session.run` happen here, off the
 * caller's thread.
 */
import { parentPort } from 'node:worker_threads';
import { TransformerMessage, type FailedMessage, type TransformerReply, type TransformerRequest } from '../../../protocol/transformerWorker';
import { DimpError } from '../../errors';
import { TransformerEngine } from './engine';

const port = parentPort;
if (!port) throw new Error('transformerWorker.js runs as a worker thread, started by TransformerWorkerHost');

let engine: TransformerEngine | undefined;
let queue: Promise<void> = Promise.resolve();

const post = (reply: TransformerReply, transfer: ArrayBuffer[] = []): void => port.postMessage(reply, transfer);

function failure(error: unknown, id: number | undefined): FailedMessage {
  const dimp = error instanceof DimpError ? error : undefined;
  // A DimpError's message already starts with its file; the host rebuilds it from the parts.
  const message = dimp?.file && dimp.message.startsWith(`${dimp.file}: `) ? dimp.message.slice(dimp.file.length + 2) : (error as Error).message ?? String(error);
  return { type: TransformerMessage.failed, id, kind: dimp?.kind, message, file: dimp?.file };
}

async function handle(request: TransformerRequest): Promise<void> {
  switch (request.type) {
    case TransformerMessage.open:
      try {
        engine = await TransformerEngine.open(request);
        post({ type: TransformerMessage.opened, info: engine.info });
      } catch (error) {
        post(failure(error, undefined));
      }
      return;
    case TransformerMessage.run:
      try {
        if (!engine) throw new Error('run before open');
        const result = await engine.run(request.texts, request.batchSize, (done) => post({ type: TransformerMessage.progress, id: request.id, done }));
        post({ type: TransformerMessage.result, id: request.id, ...result }, [result.values.buffer as ArrayBuffer]);
      } catch (error) {
        post(failure(error, request.id));
      }
      return;
    case TransformerMessage.close:
      await engine?.dispose();
      engine = undefined;
      post({ type: TransformerMessage.closed });
      return;
  }
}

port.on('message', (request: TransformerRequest) => {
  queue = queue.then(() => handle(request));
});
