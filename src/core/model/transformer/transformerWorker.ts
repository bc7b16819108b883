/**
 * The transformer worker thread's entry: owns one `TransformerEngine` and answers the host's typed
 * messages in order. Tokenization and onnxruntime's synchronous `session.run` happen here, off the
 * caller's thread. Cancellation is cooperative (between batches): the host never terminates this thread
 * while it may be inside onnxruntime.
 */
import { parentPort } from 'node:worker_threads';
import { TransformerMessage, type FailedMessage, type TransformerReply, type TransformerRequest } from './messages';
import { cancelledError, DimpError } from '../../errors';
import { TransformerEngine } from './engine';

const port = parentPort;
if (!port) throw new Error('transformerWorker.js runs as a worker thread, started by TransformerWorkerHost');

let engine: TransformerEngine | undefined;
let queue: Promise<void> = Promise.resolve();
const cancelled = new Set<number>();

const post = (reply: TransformerReply, transfer: ArrayBuffer[] = []): void => port.postMessage(reply, transfer);

function failure(error: unknown, id: number): FailedMessage {
  const dimp = error instanceof DimpError ? error : undefined;
  // A DimpError's message already starts with its file; the host rebuilds it from the parts.
  const message = dimp?.file && dimp.message.startsWith(`${dimp.file}: `) ? dimp.message.slice(dimp.file.length + 2) : ((error as Error).message ?? String(error));
  return { type: TransformerMessage.failed, id, kind: dimp?.kind ?? 'internal', message, file: dimp?.file };
}

async function handle(request: Exclude<TransformerRequest, { type: 'cancel' }>): Promise<void> {
  switch (request.type) {
    case TransformerMessage.open:
      try {
        engine = await TransformerEngine.open(request);
        post({ type: TransformerMessage.opened, id: request.id, info: engine.info });
      } catch (error) {
        post(failure(error, request.id));
      }
      return;
    case TransformerMessage.run:
      try {
        if (!engine) throw new Error('run before open');
        const stop = (): void => {
          if (cancelled.has(request.id)) throw cancelledError();
        };
        stop();
        const result = await engine.run(request.texts, request.batchSize, (done) => post({ type: TransformerMessage.progress, id: request.id, done }), stop);
        post({ type: TransformerMessage.result, id: request.id, ...result }, [result.values.buffer as ArrayBuffer]);
      } catch (error) {
        post(failure(error, request.id));
      } finally {
        cancelled.delete(request.id);
      }
      return;
    case TransformerMessage.close:
      try {
        await engine?.dispose();
      } finally {
        engine = undefined;
        post({ type: TransformerMessage.closed, id: request.id });
      }
      return;
  }
}

port.on('message', (request: TransformerRequest) => {
  // Cancellation takes effect at once (the run checks it between batches); everything else is in order.
  if (request.type === TransformerMessage.cancel) cancelled.add(request.id);
  else queue = queue.then(() => handle(request));
});
