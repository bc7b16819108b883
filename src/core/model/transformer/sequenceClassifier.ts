/**
 * Kind 2 of PRODUCT §4: any Hugging Face `*ForSequenceClassification` exported to ONNX, used as a checker or
 * evaluated, with its own tokenizer. Also serves the folders exported from an encoder + trained head, which
 * have the same inputs and a `logits` output.
 */
import type { LabelMap } from '../../data/labels';
import type { DeviceChoice } from '../../runtime/onnxRuntime';
import type { LoadedClassifier, PredictOptions } from '../modelFolder';
import { readTransformerFolder, type TransformerConfigJson } from './folder';
import { TransformerWorkerHost } from './workerHost';

/** Rows per `session.run` when the caller does not say. */
export const DEFAULT_TRANSFORMER_BATCH = 32;

/** Options of a transformer checker. */
export interface TransformerLoadOptions {
  /** Cap on tokens per row (the model's own limit applies anyway). */
  maxLength?: number;
  intraOpThreads?: number;
}

/** A transformer sequence classifier served by onnxruntime in a worker thread. */
export class TransformerClassifier implements LoadedClassifier {
  private constructor(
    readonly folder: string,
    readonly description: string,
    readonly labelMap: LabelMap,
    private readonly host: TransformerWorkerHost,
  ) {}

  get provider(): string {
    return this.host.info.provider;
  }

  get fallbackReason(): string | undefined {
    return this.host.info.fallbackReason;
  }

  /** Tokens per row after truncation. */
  get maxLength(): number {
    return this.host.info.maxLength;
  }

  /** Opens a folder whose `config.json` was already read and whose `id2label` gave `labelMap`. */
  static async open(folder: string, config: TransformerConfigJson, labelMap: LabelMap, device: DeviceChoice, options: TransformerLoadOptions = {}): Promise<TransformerClassifier> {
    const files = await readTransformerFolder(folder, config);
    const host = await TransformerWorkerHost.start({
      folder,
      graphFile: files.graphFile,
      configFile: files.configFile,
      config: files.config,
      tokenizerFile: files.tokenizerFile,
      tokenizerJson: files.tokenizerJson,
      tokenizerConfig: files.tokenizerConfig,
      task: 'classify',
      numLabels: labelMap.size,
      maxLength: options.maxLength,
      device,
      intraOpThreads: options.intraOpThreads,
    });
    const head = config.dimp_head ? `encoder + ${String(config.dimp_head.head ?? 'trained')} head` : 'sequence classifier';
    const architecture = config.model_type ?? config.architectures?.[0] ?? 'transformer';
    const shape = [config.num_hidden_layers !== undefined && `${String(config.num_hidden_layers)} layers`, config.hidden_size !== undefined && `hidden ${config.hidden_size}`]
      .filter(Boolean)
      .join(', ');
    const description = `${architecture} ${head} (${shape ? `${shape}, ` : ''}${labelMap.size} labels, max ${host.info.maxLength} tokens)`;
    return new TransformerClassifier(folder, description, labelMap, host);
  }

  async predict(rows: readonly { texts: readonly string[] }[], options: PredictOptions = {}): Promise<Float32Array> {
    const result = await this.host.run(rows, { batchSize: options.batchSize ?? DEFAULT_TRANSFORMER_BATCH, signal: options.signal, onProgress: options.onProgress });
    return result.values;
  }

  async dispose(): Promise<void> {
    await this.host.dispose();
  }
}
