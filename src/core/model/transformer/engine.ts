/**
 * Runs a transformer graph on texts: tokenizes, sorts rows by token length so each batch is padded only to
 * its own longest row, feeds the inputs the graph asks for, and turns the output into probabilities
 * (softmax of `logits`) or pooled embeddings. Plain code with no thread of its own: the transformer worker
 * runs it, and tests can too.
 */
import type { Tensor } from 'onnxruntime-node';
import type { OpenRequest, PoolingChoice, TransformerInfo } from './messages';
import { DimpError } from '../../errors';
import { openModelSession, tensor, type DeviceChoice, type GraphValue, type ModelSession } from '../../runtime/onnxRuntime';
import { modelMaxLength, type TransformerConfigJson } from './folder';
import { padBatch, TextTokenizer, tokenizerLimits, type EncodedRow, type PaddedBatch } from './tokenizer';

/** Graph inputs this loader knows how to fill. */
export const FEEDABLE_INPUTS = ['input_ids', 'attention_mask', 'token_type_ids', 'position_ids'] as const;

/** Outputs holding token vectors `[batch, sequence, hidden]`, in order of preference. */
const TOKEN_OUTPUTS = ['last_hidden_state', 'token_embeddings'] as const;

/** Floor of a mean pool's token count, the same constant as the exported graph's (`encoderHead.ts`). */
export const POOL_COUNT_FLOOR = 1e-9;

interface GraphPlan {
  idTypes: Map<string, 'int64' | 'int32'>;
  output: GraphValue;
  pooling: Exclude<PoolingChoice, 'auto'> | undefined;
  width: number | undefined;
  fixedBatch: number | undefined;
  fixedLength: number | undefined;
}

const dimension = (value: GraphValue, axis: number): number | undefined => {
  const d = value.shape?.[axis];
  return typeof d === 'number' && d > 0 ? d : undefined;
};

/**
 * Checks the graph's inputs and outputs against what the folder claims and the task needs, and plans how
 * to feed it. Every mismatch is a `badModel` error on the graph file that names what is wrong.
 */
export function planGraph(session: ModelSession, request: Pick<OpenRequest, 'task' | 'numLabels' | 'pooling' | 'graphFile'>, config: TransformerConfigJson): GraphPlan {
  const where = { file: request.graphFile };
  const inputs = session.inputs;
  const outputs = session.outputs;
  const names = (values: readonly GraphValue[]): string => values.map((v) => `${v.name}${v.shape ? ` [${v.shape.join(', ')}]` : ''}`).join(', ');
  const idTypes = new Map<string, 'int64' | 'int32'>();
  for (const input of inputs) {
    if (!(FEEDABLE_INPUTS as readonly string[]).includes(input.name)) {
      throw new DimpError('badModel', `the graph needs input "${input.name}", which this loader cannot feed (it feeds ${FEEDABLE_INPUTS.join(', ')}); export the model for sequence classification or feature extraction without past key values`, where);
    }
    if (input.type !== 'int64' && input.type !== 'int32') throw new DimpError('badModel', `graph input ${input.name} is ${input.type}; token inputs must be int64 or int32`, where);
    idTypes.set(input.name, input.type);
  }
  if (!idTypes.has('input_ids')) throw new DimpError('badModel', `the graph has no input_ids input (inputs: ${names(inputs) || 'none'})`, where);
  const ids = inputs.find((v) => v.name === 'input_ids')!;
  const fixedBatch = dimension(ids, 0);
  const fixedLength = dimension(ids, 1);

  if (request.task === 'classify') {
    const logits = outputs.find((v) => v.name === 'logits');
    if (!logits) {
      const encoderOutput = outputs.find((v) => (TOKEN_OUTPUTS as readonly string[]).includes(v.name) || v.name === 'sentence_embedding');
      throw new DimpError(
        'badModel',
        encoderOutput
          ? `the graph outputs ${names(outputs)} but no logits: it is an encoder, not a sequence classifier; train a head on it with \`dimp-curator train --encoder ${request.graphFile.replace(/[\\/](onnx[\\/])?model\.onnx$/, '')}\``
          : `the graph has no logits output (outputs: ${names(outputs)}); export the model with Optimum's text-classification task`,
        where,
      );
    }
    if (logits.shape && logits.shape.length !== 2) throw new DimpError('badModel', `logits has shape [${logits.shape.join(', ')}]; a sequence classifier's logits are [batch, labels]`, where);
    const width = dimension(logits, 1);
    if (width !== undefined && request.numLabels !== undefined && width !== request.numLabels) {
      throw new DimpError('badModel', `the graph's logits have ${width} labels but config.json id2label names ${request.numLabels}`, where);
    }
    return { idTypes, output: logits, pooling: undefined, width: width ?? request.numLabels, fixedBatch, fixedLength };
  }

  const sentence = outputs.find((v) => v.name === 'sentence_embedding');
  const tokens = TOKEN_OUTPUTS.map((name) => outputs.find((v) => v.name === name)).find((v) => v !== undefined);
  let pooling = request.pooling ?? 'auto';
  if (pooling === 'auto') pooling = sentence ? 'sentence_embedding' : 'mean';
  if (pooling === 'sentence_embedding') {
    if (!sentence) throw new DimpError('badModel', `pooling "sentence_embedding" needs a sentence_embedding output; the graph has ${names(outputs)}`, where);
    const width = dimension(sentence, 1) ?? config.hidden_size;
    return { idTypes, output: sentence, pooling, width, fixedBatch, fixedLength };
  }
  if (!tokens) {
    throw new DimpError('badModel', `pooling "${pooling}" needs token vectors (an output named ${TOKEN_OUTPUTS.join(' or ')} [batch, sequence, hidden]); the graph has ${names(outputs)}`, where);
  }
  if (tokens.shape && tokens.shape.length !== 3) throw new DimpError('badModel', `${tokens.name} has shape [${tokens.shape.join(', ')}], expected [batch, sequence, hidden]`, where);
  if (pooling === 'mean' && !idTypes.has('attention_mask')) throw new DimpError('badModel', 'mean pooling needs the attention_mask input, which the graph does not take; use --pooling cls', where);
  const declared = dimension(tokens, 2);
  if (declared !== undefined && typeof config.hidden_size === 'number' && declared !== config.hidden_size) {
    throw new DimpError('badModel', `the graph's ${tokens.name} has ${declared} values per token but config.json says hidden_size ${config.hidden_size}`, where);
  }
  const width = declared ?? (typeof config.hidden_size === 'number' ? config.hidden_size : undefined);
  return { idTypes, output: tokens, pooling, width, fixedBatch, fixedLength };
}

/** Probabilities or embeddings of a chunk of rows, in the order given. */
export interface EngineResult {
  /** `rows × width` values. */
  values: Float32Array;
  width: number;
  paddedTokens: number;
  tokens: number;
}

/** A tokenizer and a session, ready to run rows. */
export class TransformerEngine {
  /** Values per row; known from the graph's static shape, else from the first batch. */
  private width: number | undefined;

  private constructor(
    readonly info: TransformerInfo,
    private readonly graphFile: string,
    private readonly tokenizer: TextTokenizer,
    private readonly model: ModelSession,
    private readonly plan: GraphPlan,
  ) {
    this.width = plan.width;
  }

  /** Builds the tokenizer, opens the session on the chosen device and checks the graph. */
  static async open(request: Omit<OpenRequest, 'type' | 'id'>): Promise<TransformerEngine> {
    const config = request.config as TransformerConfigJson;
    const limit = modelMaxLength(config, tokenizerLimits(request.tokenizerJson, request.tokenizerConfig).maxLength);
    const requested = request.maxLength !== undefined ? Math.min(request.maxLength, limit) : limit;
    const tokenizer = TextTokenizer.create(request.tokenizerJson, request.tokenizerConfig, { maxLength: requested }, request.tokenizerFile);
    if (typeof config.vocab_size === 'number' && tokenizer.maxTokenId >= config.vocab_size) {
      throw new DimpError(
        'badModel',
        `tokenizer.json has token ids up to ${tokenizer.maxTokenId} but config.json says vocab_size ${config.vocab_size}: the tokenizer does not belong to this model`,
        { file: request.tokenizerFile },
      );
    }
    const model = await openModelSession(request.graphFile, request.device as DeviceChoice, { intraOpThreads: request.intraOpThreads });
    try {
      const plan = planGraph(model, request, config);
      let effective = tokenizer;
      if (plan.fixedLength !== undefined && plan.fixedLength < tokenizer.maxLength) {
        effective = TextTokenizer.create(request.tokenizerJson, request.tokenizerConfig, { maxLength: plan.fixedLength }, request.tokenizerFile);
      }
      if (plan.pooling === 'cls' && effective.padLeft) throw new DimpError('badModel', 'cls pooling reads the first position, but this tokenizer pads on the left; use --pooling mean', { file: request.tokenizerFile });
      const info: TransformerInfo = {
        provider: model.provider,
        fallbackReason: model.fallbackReason,
        task: request.task,
        width: plan.width ?? 0,
        maxLength: effective.maxLength,
        pooling: plan.pooling,
        inputs: [...plan.idTypes.keys()],
        output: plan.output.name,
        fixedBatch: plan.fixedBatch,
      };
      return new TransformerEngine(info, request.graphFile, effective, model, plan);
    } catch (error) {
      await model.release();
      throw error;
    }
  }

  /** Token ids of rows (exposed for the benchmark's pre-tokenized baseline and for tests). */
  encode(texts: readonly (readonly string[])[]): EncodedRow[] {
    return texts.map((t) => this.tokenizer.encode(t));
  }

  /** Pads encoded rows into the tensors' data, in the graph's id types. */
  pad(rows: readonly EncodedRow[]): PaddedBatch {
    const idType = this.plan.idTypes.get('input_ids')!;
    return padBatch(rows, { padId: this.tokenizer.padId, padTypeId: this.tokenizer.padTypeId, padLeft: this.tokenizer.padLeft, fixedLength: this.plan.fixedLength }, idType);
  }

  /** The session's feeds for a padded batch: only the inputs the graph takes. */
  feeds(batch: PaddedBatch): Record<string, Tensor> {
    const dims = [batch.count, batch.length];
    const feeds: Record<string, Tensor> = {};
    const make = (name: string, data: BigInt64Array | Int32Array): void => {
      const type = this.plan.idTypes.get(name);
      if (!type) return;
      feeds[name] = data instanceof BigInt64Array ? tensor('int64', data, dims) : tensor('int32', data, dims);
    };
    make('input_ids', batch.inputIds);
    make('attention_mask', batch.attentionMask);
    make('token_type_ids', batch.tokenTypeIds);
    if (this.plan.idTypes.has('position_ids')) {
      const positions = new Int32Array(batch.count * batch.length);
      for (let i = 0; i < positions.length; i++) positions[i] = i % batch.length;
      make('position_ids', this.plan.idTypes.get('position_ids') === 'int64' ? BigInt64Array.from(positions, (p) => BigInt(p)) : positions);
    }
    return feeds;
  }

  /**
   * Runs `texts` in length-sorted batches of `batchSize`; `onBatch` gets the rows done so far, and
   * `beforeBatch` may throw to stop (cancellation) between batches.
   */
  async run(texts: readonly (readonly string[])[], batchSize: number, onBatch?: (done: number) => void, beforeBatch?: () => void): Promise<EngineResult> {
    const encoded = this.encode(texts);
    const order = Array.from(encoded.keys()).sort((a, b) => encoded[a]!.ids.length - encoded[b]!.ids.length || a - b);
    const size = this.plan.fixedBatch ?? Math.max(1, batchSize);
    let values: Float32Array | undefined = this.width !== undefined ? new Float32Array(texts.length * this.width) : undefined;
    let paddedTokens = 0;
    let tokens = 0;
    for (let start = 0; start < order.length; start += size) {
      beforeBatch?.();
      const members = order.slice(start, start + size);
      const rows = members.map((i) => encoded[i]!);
      // A graph with a static batch size gets full batches; the filler rows' outputs are dropped.
      while (this.plan.fixedBatch !== undefined && rows.length < this.plan.fixedBatch) rows.push(rows[0]!);
      const batch = this.pad(rows);
      paddedTokens += batch.count * batch.length;
      for (const row of rows.slice(0, members.length)) tokens += Math.min(row.ids.length, batch.length);
      const result = await this.model.run(this.feeds(batch));
      const output = result[this.plan.output.name]!;
      const width = this.outputWidth(output);
      values ??= new Float32Array(texts.length * width);
      this.collect(output, batch, members, width, values);
      onBatch?.(Math.min(order.length, start + size));
    }
    return { values: values ?? new Float32Array(0), width: this.width ?? 0, paddedTokens, tokens };
  }

  private outputWidth(output: Tensor): number {
    const width = Number(output.dims[output.dims.length - 1]);
    if (this.width !== undefined && width !== this.width) {
      throw new DimpError('badModel', `the graph's ${this.plan.output.name} has ${width} values per row, expected ${this.width}`, { file: this.graphFile });
    }
    this.width = width;
    return width;
  }

  /** Softmax or pooling of one batch's output into `values` at each member's row. */
  private collect(output: Tensor, batch: PaddedBatch, members: readonly number[], width: number, values: Float32Array): void {
    const data = output.data as Float32Array;
    if (this.info.task === 'classify' || this.plan.pooling === 'sentence_embedding') {
      members.forEach((row, b) => {
        const slice = data.subarray(b * width, (b + 1) * width);
        if (this.info.task === 'classify') softmaxRow(slice, values, row * width);
        else values.set(slice, row * width);
      });
      return;
    }
    const length = batch.length;
    const mask = batch.attentionMask;
    members.forEach((row, b) => {
      const target = row * width;
      if (this.plan.pooling === 'cls') {
        values.set(data.subarray(b * length * width, b * length * width + width), target);
        return;
      }
      // Mean over attended tokens: Σₜ maskₜ·hₜ / max(Σₜ maskₜ, floor), in float64 then stored.
      const sum = new Float64Array(width);
      let count = 0;
      for (let t = 0; t < length; t++) {
        if (Number(mask[b * length + t]) === 0) continue;
        count += 1;
        const offset = (b * length + t) * width;
        for (let i = 0; i < width; i++) sum[i]! += data[offset + i]!;
      }
      const divisor = Math.max(count, POOL_COUNT_FLOOR);
      for (let i = 0; i < width; i++) values[target + i] = sum[i]! / divisor;
    });
  }

  /** Releases the session. */
  async dispose(): Promise<void> {
    await this.model.release();
  }
}

/** Numerically stable softmax of one row of logits into `out` at `offset`. */
function softmaxRow(logits: Float32Array, out: Float32Array, offset: number): void {
  let max = -Infinity;
  for (const z of logits) max = Math.max(max, z);
  let sum = 0;
  for (const z of logits) sum += Math.exp(z - max);
  for (let c = 0; c < logits.length; c++) out[offset + c] = Math.exp(logits[c]! - max) / sum;
}
