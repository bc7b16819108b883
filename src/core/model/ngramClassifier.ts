import { SeededRandom } from '../random';
import { KernelArena, type WasmMemory } from './wasmKernels';
import type { ClassifierSnapshot, TrainableClassifier, TrainingOptions } from './classifier';
import type { FeatureMatrix } from './featurizer';

/** Hyper-parameters of the n-gram classifier's shape. */
export interface NgramShape {
  /** Hash buckets of the featurizer. */
  buckets: number;
  /** Embedding dimension. */
  dim: number;
  numClasses: number;
}

/** The parameters as exported to ONNX. */
export interface NgramParameters {
  shape: NgramShape;
  /** Bucket → embedding row; 0 is the all-zero row of buckets never trained. Length `buckets`. */
  rowOf: Int32Array;
  /** Embedding rows, `rows × dim`, row 0 all zeros. */
  embeddings: Float32Array;
  rows: number;
  /** Output layer, `dim × numClasses` (row-major, as ONNX MatMul's right operand). */
  weight: Float32Array;
  bias: Float32Array;
}

/**
 * `sgd`: plain steps (fastText's). `adam`: Adam (β₁ 0.9, β₂ 0.999, ε 1e-8) on the output layer, and lazy
 * Adam on the embedding table: only the rows a batch touches have their moments updated (PyTorch's
 * SparseAdam), with bias correction from the global step count.
 */
export type OptimizerKind = 'sgd' | 'adam';

/**
 * `zero-embeddings`: embedding rows start at zero and the output layer uniform in ±1/√dim.
 * `fasttext`: fastText's choice, embedding rows uniform in ±1/dim (drawn when a row is first trained) and
 * the output layer zero.
 */
export type NgramInit = 'zero-embeddings' | 'fasttext';

/**
 * `wasm`: the embedding-bag sum and lazy Adam in WebAssembly SIMD, the table and its moments in a
 * WebAssembly memory (where the runtime has it, the dimension is a multiple of 4 and the table fits in
 * 4 GiB; otherwise `scalar`). `scalar`: the same arithmetic in TypeScript. Both give the same bits.
 */
export type NgramKernels = 'wasm' | 'scalar';

const ADAM_BETA1 = 0.9;
const ADAM_BETA2 = 0.999;
/** Adam's ε when none is given (Kingma & Ba's). */
export const DEFAULT_ADAM_EPSILON = 1e-8;

/**
 * What Hogwild threads share of one model (structured-clonable: a shared WebAssembly memory and typed arrays
 * on SharedArrayBuffers). Every thread steps the same table, moments and output layer without locks, as
 * fastText's threads do; each has its own scratch region of the memory.
 */
export interface SharedNgramModel {
  shape: NgramShape;
  /** `[embeddings | m | v | scratch of thread 0 | … ]` (KernelArena.sharedLayout). */
  memory: WasmMemory;
  /** Floats in each table region. */
  capacity: number;
  /** Each thread's scratch region (0: the trainer's thread). */
  regions: { base: number; bytes: number }[];
  /** Rows allocated (all of them: the threads never allocate). */
  rows: number;
  /** Bucket → row, read-only while the threads run. */
  rowOf: Int32Array;
  /** `[weight | bias | m of weight | v of weight | m of bias | v of bias]`. */
  dense: Float32Array;
  /** `[Adam's step count]`, taken with Atomics.add by each step. */
  step: Int32Array;
  adamEpsilon: number;
  featureDropout: number;
}

interface NgramSnapshot extends ClassifierSnapshot {
  kind: 'ngram';
  parameters: NgramParameters;
}

/**
 * The fastText architecture: the mean of the embeddings of a row's hashed n-grams, a linear layer,
 * softmax. Embedding rows are allocated on first update (rows never trained stay exactly zero), so
 * memory and the exported model grow with the features seen, not with the bucket count.
 */
export class NgramClassifier implements TrainableClassifier<FeatureMatrix> {
  readonly shape: NgramShape;
  readonly numClasses: number;
  private rowOf: Int32Array;
  private embeddings: Float32Array;
  // With the wasm kernels: the memory holding the table, its moments and the kernels' scratch; `embeddings`
  // and `adamEmbeddings` are views into it, new whenever it grows (syncViews).
  private arena: KernelArena | null = null;
  private momentsInArena = false;
  private rows = 1;
  private weight: Float32Array;
  private bias: Float32Array;
  // Forward cache for backward: the batch's features and hidden vectors.
  private lastFeatures: FeatureMatrix | undefined;
  private lastExamples: ArrayLike<number> = [];
  private hidden = new Float32Array(0);
  private gradHidden = new Float32Array(0);
  private readonly gradWeight: Float32Array;
  private readonly gradBias: Float32Array;
  // Per-batch aggregation of sparse embedding gradients: row → slot, marked by a batch stamp.
  private rowStamp = new Int32Array(1024);
  private rowSlot = new Int32Array(1024);
  private batchStamp = 0;
  private occurrenceRow = new Int32Array(256);
  private slotOwner = new Int32Array(256);
  private slotCount = new Int32Array(256);
  private slotShared = new Int32Array(256);
  private sharedCounts = new Int32Array(256);
  private gram = new Float64Array(64);
  // Forward: the row offsets of one example's trained buckets.
  private bag = new Int32Array(256);
  private optimizer: OptimizerKind = 'sgd';
  // Adam state: step count, first and second moments (embedding moments grow with the rows).
  private adamStep = 0;
  private adamEpsilon = DEFAULT_ADAM_EPSILON;
  private adamWeight: { m: Float32Array; v: Float32Array } = { m: new Float32Array(0), v: new Float32Array(0) };
  private adamBias: { m: Float32Array; v: Float32Array } = { m: new Float32Array(0), v: new Float32Array(0) };
  private adamEmbeddings = { m: new Float32Array(0), v: new Float32Array(0) };
  // Decoupled weight decay (AdamW's, also with SGD): every step multiplies the output weights and every
  // embedding row by (1 − lr·λ). Rows a batch does not touch are brought up to date lazily: `decayLog` is
  // the running Σ log(1 − lr·λ) over steps, `rowDecayLog[row]` its value when the row was last brought up
  // to date, so a row is exactly where the dense update would have put it whenever it is read.
  private weightDecay = 0;
  private decayLog = 0;
  private rowDecayLog = new Float64Array(1024);
  // Feature dropout: a training pass keeps each occurrence with probability 1 − p, in a batch-local matrix
  // (reused from step to step, as is the identity list of its examples).
  private featureDropout = 0;
  private readonly dropoutRandom: SeededRandom;
  private dropped = { ids: new Int32Array(256), offsets: new Int32Array(65) };
  private identity = Int32Array.from({ length: 64 }, (_, b) => b);
  // Whether `occurrenceRow` holds the rows of the last forward pass's occurrences (0: untrained), for gatherRows.
  private rowsKnown = false;
  // The training matrix's occurrences, each its bucket id (≥ 0) until its row is known, then ~row (< 0; rows
  // are ≥ 1): a training pass (wasm path) reads these in order instead of looking each bucket up at random in
  // the 8 MB bucket → row table. For the matrix handed over with `takeTrainingIds` this is the matrix's own
  // ids, mapped in place; for any other, a copy. Rows never move once allocated; restore() drops the cache
  // (and maps the handed-over ids back to buckets).
  private rowCache: { features: FeatureMatrix; rows: Int32Array } | undefined;
  // The matrix whose ids the model may overwrite (`takeTrainingIds`).
  private ownedFeatures: FeatureMatrix | undefined;
  private keptRows = new Int32Array(256);
  private slotRow = new Int32Array(256);
  // Lazy Adam: each slot's occurrences (slotOccurrence[slotStart[s] .. slotStart[s+1]) holds their examples) and each example's 1/n.
  private slotStart = new Int32Array(256);
  private slotOccurrence = new Int32Array(256);
  private exampleShare = new Float64Array(64);
  private readonly init: NgramInit;
  private readonly rowRandom: SeededRandom;
  // Hogwild: Adam's step count shared by every thread (null: `adamStep` is this model's own), and whether this
  // model is a thread's replica (its rows are the shared model's: it never allocates one).
  private stepCounter: Int32Array | null = null;
  private replica = false;

  /** `rowOf`: a bucket → row table to use rather than a new empty one (a Hogwild replica's, shared). */
  constructor(shape: NgramShape, seed: number, init: NgramInit = 'zero-embeddings', kernels: NgramKernels = 'wasm', rowOf?: Int32Array) {
    this.shape = shape;
    this.numClasses = shape.numClasses;
    this.rowOf = rowOf ?? new Int32Array(shape.buckets);
    // The wasm kernels step four coordinates at a time.
    this.arena = kernels === 'wasm' && shape.dim % 4 === 0 ? KernelArena.create(1024 * shape.dim, false) : null;
    this.embeddings = this.arena ? this.arena.embeddings : new Float32Array(rowOf ? 0 : 1024 * shape.dim);
    this.weight = new Float32Array(shape.dim * shape.numClasses);
    this.bias = new Float32Array(shape.numClasses);
    this.gradWeight = new Float32Array(this.weight.length);
    this.gradBias = new Float32Array(this.bias.length);
    // Either the embeddings or the output layer is random, to break the symmetry; rows of buckets never
    // trained stay exactly zero in both.
    this.init = init;
    const random = new SeededRandom(seed);
    this.rowRandom = new SeededRandom(seed ^ 0x5bd1e995);
    this.dropoutRandom = new SeededRandom(seed ^ 0x27d4eb2f);
    if (init === 'zero-embeddings') {
      const bound = 1 / Math.sqrt(shape.dim);
      for (let i = 0; i < this.weight.length; i++) this.weight[i] = (random.next() * 2 - 1) * bound;
    }
  }

  /** Rebuilds a classifier from exported parameters (for tests and further training). */
  static fromParameters(parameters: NgramParameters): NgramClassifier {
    const model = new NgramClassifier(parameters.shape, 0);
    model.restore({ kind: 'ngram', parameters } as NgramSnapshot);
    return model;
  }

  /**
   * Chooses the optimiser of the following steps and resets its state. `weightDecay` (λ, absent: 0) is
   * decoupled weight decay: each step first multiplies the output weights (not the bias) and every
   * embedding row by (1 − lr·λ), as AdamW does.
   */
  useOptimizer(kind: OptimizerKind, options: TrainingOptions = {}): void {
    if (this.stepCounter) throw new Error('internal: the optimiser of a model shared with Hogwild threads cannot change (unshare it first)');
    this.syncAllRows();
    this.optimizer = kind;
    this.adamEpsilon = options.adamEpsilon ?? DEFAULT_ADAM_EPSILON;
    this.weightDecay = options.weightDecay ?? 0;
    if (!(this.weightDecay >= 0)) throw new Error(`weight decay must be 0 or more, got ${this.weightDecay}`);
    this.featureDropout = options.featureDropout ?? 0;
    if (!(this.featureDropout >= 0 && this.featureDropout < 1)) throw new Error(`feature dropout must be in [0, 1), got ${this.featureDropout}`);
    this.adamStep = 0;
    if (kind === 'adam') {
      this.adamWeight = { m: new Float32Array(this.weight.length), v: new Float32Array(this.weight.length) };
      this.adamBias = { m: new Float32Array(this.bias.length), v: new Float32Array(this.bias.length) };
      if (this.arena && !this.arena.resetMoments()) this.leaveArena();
      if (this.arena) {
        this.momentsInArena = true;
        this.syncViews();
      } else {
        this.adamEmbeddings = { m: new Float32Array(this.embeddings.length), v: new Float32Array(this.embeddings.length) };
      }
    }
  }

  /** Which kernels the following steps run (`wasm` can fall back to `scalar`, never the reverse). */
  get kernels(): NgramKernels {
    return this.arena ? 'wasm' : 'scalar';
  }

  /** Points `embeddings` (and the moments, once Adam has them) at the arena's current views. */
  private syncViews(): void {
    const arena = this.arena;
    if (!arena) return;
    this.embeddings = arena.embeddings;
    if (this.momentsInArena) this.adamEmbeddings = { m: arena.m, v: arena.v };
  }

  /** Moves the table and its moments out of the WebAssembly memory into plain arrays (the scalar kernels). */
  private leaveArena(): void {
    if (!this.arena) return;
    this.embeddings = this.embeddings.slice();
    if (this.momentsInArena) this.adamEmbeddings = { m: this.adamEmbeddings.m.slice(), v: this.adamEmbeddings.v.slice() };
    this.arena = null;
    this.momentsInArena = false;
  }

  /** Grows the table (and its moments, when Adam has them) to `length` floats, keeping every value. */
  private growTable(length: number): void {
    if (this.arena && !this.arena.resize(length)) this.leaveArena();
    if (this.arena) {
      this.syncViews();
      return;
    }
    const grown = new Float32Array(length);
    grown.set(this.embeddings);
    this.embeddings = grown;
    if (this.adamEmbeddings.m.length > 0) {
      for (const key of ['m', 'v'] as const) {
        const moment = new Float32Array(length);
        moment.set(this.adamEmbeddings[key]);
        this.adamEmbeddings[key] = moment;
      }
    }
  }

  forward(features: FeatureMatrix, examples: ArrayLike<number>, logits: Float32Array, training = false): void {
    const count = examples.length;
    const { dim } = this.shape;
    if (this.hidden.length < count * dim) {
      this.hidden = new Float32Array(count * dim);
      this.gradHidden = new Float32Array(count * dim);
    }
    const dropping = training && this.featureDropout > 0;
    if (dropping && this.identity.length < count) {
      this.identity = Int32Array.from({ length: Math.max(count, this.identity.length * 2) }, (_, b) => b);
    }
    this.rowsKnown = false;
    let logitsDone = false;
    if (this.arena && this.bagMeanWasm(features, examples, training, dropping, logits)) {
      logitsDone = true;
      // The wasm pass drew the dropout itself (the same draws as dropFeatureOccurrences) into `dropped`.
      if (dropping) {
        features = { ids: this.dropped.ids.subarray(0, this.dropped.offsets[count]!), offsets: this.dropped.offsets.subarray(0, count + 1), count };
        examples = this.identity.subarray(0, count);
      }
      this.rowsKnown = training;
    } else {
      if (dropping) {
        features = dropFeatureOccurrences(features, examples, this.featureDropout, this.dropoutRandom, this.dropped);
        examples = this.identity.subarray(0, count);
      }
      this.bagMeanScalar(features, examples);
    }
    if (!logitsDone) this.logitsScalar(count, logits);
    this.lastFeatures = features;
    this.lastExamples = examples;
  }

  /**
   * logits = bias + h·W, each logit summed over d in order with Float32 rounding after every addition (as
   * accumulating into a Float32Array does), coordinates whose hidden value is zero skipped; in locals, four
   * examples' sums at a time, so that four independent chains of additions overlap.
   */
  private logitsScalar(count: number, logits: Float32Array): void {
    const { dim, numClasses } = this.shape;
    const { hidden, weight, bias } = this;
    const f = Math.fround;
    for (let c = 0; c < numClasses; c++) {
      let b = 0;
      for (; b + 3 < count; b += 4) {
        let l0 = bias[c]!;
        let l1 = l0;
        let l2 = l0;
        let l3 = l0;
        const h0 = b * dim;
        for (let d = 0, w = c; d < dim; d++, w += numClasses) {
          const wd = weight[w]!;
          const x0 = hidden[h0 + d]!;
          const x1 = hidden[h0 + dim + d]!;
          const x2 = hidden[h0 + 2 * dim + d]!;
          const x3 = hidden[h0 + 3 * dim + d]!;
          if (x0 !== 0) l0 = f(l0 + x0 * wd);
          if (x1 !== 0) l1 = f(l1 + x1 * wd);
          if (x2 !== 0) l2 = f(l2 + x2 * wd);
          if (x3 !== 0) l3 = f(l3 + x3 * wd);
        }
        logits[b * numClasses + c] = l0;
        logits[(b + 1) * numClasses + c] = l1;
        logits[(b + 2) * numClasses + c] = l2;
        logits[(b + 3) * numClasses + c] = l3;
      }
      for (; b < count; b++) {
        let logit = bias[c]!;
        for (let d = 0, w = c, h = b * dim; d < dim; d++, w += numClasses) {
          const hd = hidden[h + d]!;
          if (hd !== 0) logit = f(logit + hd * weight[w]!);
        }
        logits[b * numClasses + c] = logit;
      }
    }
  }

  /** The hidden vectors of the batch (the mean of each example's trained rows) with the scalar kernel. */
  private bagMeanScalar(features: FeatureMatrix, examples: ArrayLike<number>): void {
    const { dim } = this.shape;
    const { ids, offsets } = features;
    const hidden = this.hidden;
    const rowOf = this.rowOf;
    const decays = this.decayLog !== 0;
    for (let b = 0; b < examples.length; b++) {
      const example = examples[b]!;
      const start = offsets[example]!;
      const end = offsets[example + 1]!;
      // The row offsets of the example's trained buckets, in order (untrained buckets add nothing).
      if (this.bag.length < end - start) this.bag = new Int32Array(Math.max(end - start, this.bag.length * 2));
      const bag = this.bag;
      let n = 0;
      for (let k = start; k < end; k++) {
        const row = rowOfOccurrence(rowOf, ids[k]!);
        if (row === 0) continue;
        if (decays && this.rowDecayLog[row] !== this.decayLog) this.syncRow(row);
        bag[n++] = row * dim;
      }
      embeddingBagMean(this.embeddings, bag, n, dim, 1 / Math.max(1, end - start), hidden, b * dim);
    }
  }

  /**
   * The same with the wasm kernel, in one call for the batch: the trained rows' byte offsets, each example's
   * start in them and its 1/n are written to the arena's scratch. In training passes the row of every
   * occurrence is kept for gatherRows (`rowsKnown`), and with `dropping` the n-gram dropout is drawn in the
   * same pass, into `dropped` (the draws of dropFeatureOccurrences, in its order). False, having drawn
   * nothing, when the scratch cannot grow (the model has then left the arena).
   */
  private bagMeanWasm(features: FeatureMatrix, examples: ArrayLike<number>, training: boolean, dropping: boolean, logits: Float32Array): boolean {
    const arena = this.arena!;
    const { dim, numClasses } = this.shape;
    const { ids, offsets } = features;
    const count = examples.length;
    let occurrences = 0;
    for (let b = 0; b < count; b++) occurrences += offsets[examples[b]! + 1]! - offsets[examples[b]!]!;
    const startsAt = occurrences * 4;
    const scalesAt = (startsAt + (count + 1) * 4 + 7) & ~7;
    const outAt = scalesAt + count * 8;
    // The logits' kernel takes two classes at a time: W, the bias and the logits padded to an even count.
    const pairs = (numClasses + 1) >> 1;
    const padded = 2 * pairs;
    const weightAt = (outAt + count * dim * 4 + 15) & ~15;
    const biasAt = weightAt + dim * padded * 4;
    const logitsAt = biasAt + padded * 4;
    const base = this.arenaScratch(logitsAt + count * padded * 4);
    if (base < 0) return false;
    const { i32, f64, f32 } = arena;
    const bagIndex = base >> 2;
    const startIndex = (base + startsAt) >> 2;
    const scaleIndex = (base + scalesAt) >> 3;
    const rowOf = this.rowOf;
    const rowBytes = dim * 4;
    const decays = this.decayLog !== 0;
    if (training) this.occurrenceRow = growInt32(this.occurrenceRow, occurrences);
    const occurrenceRow = this.occurrenceRow;
    const dropped = this.dropped;
    if (dropping) {
      if (dropped.ids.length < occurrences) dropped.ids = new Int32Array(Math.max(occurrences, dropped.ids.length * 2));
      if (dropped.offsets.length < count + 1) dropped.offsets = new Int32Array(Math.max(count + 1, dropped.offsets.length * 2));
      dropped.offsets[0] = 0;
    }
    const keptIds = dropped.ids;
    if (dropping && this.keptRows.length < occurrences) this.keptRows = new Int32Array(Math.max(occurrences, this.keptRows.length * 2));
    const keptRows = this.keptRows;
    if (training && this.rowCache?.features !== features) this.rowCache = { features, rows: features === this.ownedFeatures ? ids : ids.slice() };
    // Occurrences as buckets or ~rows (see rowCache): training passes map the ones found trained, in place.
    const cache = training ? this.rowCache!.rows : null;
    const source = cache ?? ids;
    const random = this.dropoutRandom;
    const keep = 1 - this.featureDropout;
    let n = 0;
    let q = 0;
    i32[startIndex] = 0;
    for (let b = 0; b < count; b++) {
      const example = examples[b]!;
      const start = offsets[example]!;
      const end = offsets[example + 1]!;
      let first = start;
      let last = end;
      if (dropping) {
        // dropFeatureOccurrences' loop: written, then kept by advancing; a row that lost everything keeps one.
        first = q;
        let o = q;
        for (let k = start; k < end; k++) {
          const v = cache![k]!;
          let row: number;
          if (v < 0) row = ~v;
          else {
            row = rowOf[v]!;
            if (row !== 0) cache![k] = ~row;
          }
          keptIds[o] = v;
          keptRows[o] = row;
          o += Number(random.next() < keep);
        }
        if (o === first && end > start) {
          const v = cache![start + Math.floor(random.next() * (end - start))]!;
          keptIds[o] = v;
          keptRows[o++] = rowOfOccurrence(rowOf, v);
        }
        dropped.offsets[b + 1] = o;
        last = o;
      }
      for (let k = first; k < last; k++, q++) {
        let row: number;
        if (dropping) row = keptRows[k]!;
        else {
          const v = source[k]!;
          if (v < 0) row = ~v;
          else {
            row = rowOf[v]!;
            if (row !== 0 && cache !== null) cache[k] = ~row;
          }
        }
        if (training) occurrenceRow[q] = row;
        if (row === 0) continue;
        if (decays && this.rowDecayLog[row] !== this.decayLog) this.syncRow(row);
        i32[bagIndex + n++] = row * rowBytes;
      }
      i32[startIndex + b + 1] = n;
      f64[scaleIndex + b] = 1 / Math.max(1, last - first);
    }
    arena.kernels.bagMean(0, base, base + startsAt, base + scalesAt, base + outAt, count, dim);
    this.hidden.set(f32.subarray((base + outAt) >> 2, ((base + outAt) >> 2) + count * dim));
    const { weight, bias } = this;
    const weightIndex = (base + weightAt) >> 2;
    const biasIndex = (base + biasAt) >> 2;
    for (let d = 0; d < dim; d++) {
      for (let c = 0; c < numClasses; c++) f32[weightIndex + d * padded + c] = weight[d * numClasses + c]!;
      if (padded > numClasses) f32[weightIndex + d * padded + numClasses] = 0;
    }
    for (let c = 0; c < padded; c++) f32[biasIndex + c] = c < numClasses ? bias[c]! : 0;
    arena.kernels.denseForward(base + outAt, base + weightAt, base + biasAt, base + logitsAt, count, dim, pairs);
    const logitsIndex = (base + logitsAt) >> 2;
    for (let b = 0; b < count; b++) {
      for (let c = 0; c < numClasses; c++) logits[b * numClasses + c] = f32[logitsIndex + b * padded + c]!;
    }
    return true;
  }

  backward(gradLogits: Float32Array, learningRate: number, maxGradNorm: number | null = null, reportNorm = true): number {
    const features = this.lastFeatures;
    if (!features) throw new Error('backward called before forward');
    const { dim, numClasses } = this.shape;
    const examples = this.lastExamples;
    const count = examples.length;
    const { gradHidden, gradWeight, gradBias } = this;
    gradBias.fill(0);
    // dL/dW = Σ h ⊗ g, dL/db = Σ g, dL/dh = W g — all from the parameters of the forward pass.
    for (let b = 0; b < count; b++) {
      for (let c = 0, z = b * numClasses; c < numClasses; c++) gradBias[c]! += gradLogits[z + c]!;
    }
    if (!this.arena || !this.denseBackwardWasm(gradLogits, count)) this.denseBackwardScalar(gradLogits, count);
    // Without clipping, and when the caller does not want the norm, only the rows the batch touches are needed.
    if (maxGradNorm === null && !reportNorm) {
      // The default recipe on the wasm kernels: rows gathered, sorted and stepped in the module.
      if (this.optimizer === 'adam' && this.weightDecay === 0 && this.rowsKnown && this.momentsInArena && this.adamUpdateWasm(features, examples, learningRate)) {
        return NaN;
      }
      const slots = this.gatherRows(features, examples);
      if (this.weightDecay > 0) this.decayStep(learningRate, slots);
      if (this.optimizer === 'adam') this.adamUpdate(learningRate, 1, slots);
      else this.sgdUpdate(learningRate);
      return NaN;
    }
    // Sparse part. Each feature occurrence of example b adds v_b = dL/dh_b / n_b to its embedding row, so
    // row r's gradient is G_r = Σ_b c_rb · v_b (c_rb: occurrences of r in b) and, exactly,
    //   Σ_r ‖G_r‖² = Σ_b Σ_b' M_bb' (v_b · v_b'),  M_bb' = Σ_r c_rb · c_rb'.
    // M needs only integer counts per row, so the clipping norm costs no extra pass over embedding vectors.
    const { ids, offsets } = features;
    let occurrences = 0;
    for (let b = 0; b < count; b++) occurrences += offsets[examples[b]! + 1]! - offsets[examples[b]!]!;
    this.occurrenceRow = growInt32(this.occurrenceRow, occurrences);
    this.slotOwner = growInt32(this.slotOwner, occurrences);
    this.slotCount = growInt32(this.slotCount, occurrences);
    this.slotShared = growInt32(this.slotShared, occurrences);
    this.slotRow = growInt32(this.slotRow, occurrences);
    const { occurrenceRow, slotOwner, slotCount, slotShared, slotRow } = this;
    const stamp = ++this.batchStamp;
    const gram = this.gram.length >= count * count ? this.gram : (this.gram = new Float64Array(count * count));
    gram.fill(0, 0, count * count);
    let slots = 0;
    let sharedSlots = 0;
    let o = 0;
    for (let b = 0; b < count; b++) {
      const example = examples[b]!;
      for (let k = offsets[example]!, end = offsets[example + 1]!; k < end; k++, o++) {
        const v = ids[k]!;
        let row = rowOfOccurrence(this.rowOf, v);
        if (row === 0) row = this.allocateRow(v);
        occurrenceRow[o] = row;
        if (this.rowStamp[row] !== stamp) {
          this.rowStamp[row] = stamp;
          this.rowSlot[row] = slots;
          slotRow[slots] = row;
          slotOwner[slots] = b;
          slotCount[slots] = 1;
          slotShared[slots] = -1;
          slots += 1;
          continue;
        }
        const slot = this.rowSlot[row]!;
        if (slotShared[slot] === -1 && slotOwner[slot] === b) {
          slotCount[slot]! += 1;
          continue;
        }
        // A row used by several examples of the batch keeps a count per example.
        if (slotShared[slot] === -1) {
          slotShared[slot] = sharedSlots;
          this.sharedCounts = growInt32(this.sharedCounts, (sharedSlots + 1) * count);
          this.sharedCounts.fill(0, sharedSlots * count, (sharedSlots + 1) * count);
          this.sharedCounts[sharedSlots * count + slotOwner[slot]!] = slotCount[slot]!;
          sharedSlots += 1;
        }
        this.sharedCounts[slotShared[slot]! * count + b]! += 1;
      }
    }
    for (let slot = 0; slot < slots; slot++) {
      if (slotShared[slot] === -1) {
        const c = slotCount[slot]!;
        gram[slotOwner[slot]! * (count + 1)]! += c * c;
      }
    }
    const shared = this.sharedCounts;
    for (let k = 0; k < sharedSlots; k++) {
      for (let b = 0; b < count; b++) {
        const cb = shared[k * count + b]!;
        if (cb === 0) continue;
        for (let b2 = 0; b2 < count; b2++) gram[b * count + b2]! += cb * shared[k * count + b2]!;
      }
    }
    let squared = 0;
    for (let i = 0; i < gradWeight.length; i++) squared += gradWeight[i]! * gradWeight[i]!;
    for (let c = 0; c < numClasses; c++) squared += gradBias[c]! * gradBias[c]!;
    const shareOf = (b: number): number => 1 / Math.max(1, offsets[examples[b]! + 1]! - offsets[examples[b]!]!);
    for (let b = 0; b < count; b++) {
      for (let b2 = 0; b2 < count; b2++) {
        const m = gram[b * count + b2]!;
        if (m === 0) continue;
        let dot = 0;
        for (let d = 0; d < dim; d++) dot += gradHidden[b * dim + d]! * gradHidden[b2 * dim + d]!;
        squared += m * dot * shareOf(b) * shareOf(b2);
      }
    }
    const norm = Math.sqrt(squared);
    if (this.weightDecay > 0) this.decayStep(learningRate, slots);
    if (this.optimizer === 'adam') {
      this.adamUpdate(learningRate, maxGradNorm !== null && norm > maxGradNorm ? maxGradNorm / norm : 1, slots);
      return norm;
    }
    this.sgdUpdate(maxGradNorm !== null && norm > maxGradNorm ? (learningRate * maxGradNorm) / norm : learningRate);
    return norm;
  }

  /** dL/dW = Σ_b h_b ⊗ g_b (Float32 sums in order of b) and dL/dh_b = W g_b (double sums in order of c), scalar. */
  private denseBackwardScalar(gradLogits: Float32Array, count: number): void {
    const { dim, numClasses } = this.shape;
    const { hidden, gradHidden, weight, gradWeight } = this;
    gradWeight.fill(0);
    for (let b = 0; b < count; b++) {
      const z = b * numClasses;
      const h = b * dim;
      for (let d = 0; d < dim; d++) {
        const hd = hidden[h + d]!;
        const w = d * numClasses;
        let gh = 0;
        for (let c = 0; c < numClasses; c++) {
          const g = gradLogits[z + c]!;
          gradWeight[w + c]! += hd * g;
          gh += weight[w + c]! * g;
        }
        gradHidden[h + d] = gh;
      }
    }
  }

  /**
   * The same with the wasm kernel, which wants W and dL/dW transposed (`numClasses × dim`, four coordinates
   * at a time): h, g and Wᵀ are copied to the arena's scratch, dL/dh and dL/dWᵀ back. False when the
   * scratch cannot grow (the model has then left the arena).
   */
  private denseBackwardWasm(gradLogits: Float32Array, count: number): boolean {
    const arena = this.arena!;
    const { dim, numClasses } = this.shape;
    const gradAt = count * dim * 4;
    const weightAt = (gradAt + count * numClasses * 4 + 15) & ~15;
    const gradWeightAt = weightAt + numClasses * dim * 4;
    const gradHiddenAt = gradWeightAt + numClasses * dim * 4;
    const base = this.arenaScratch(gradHiddenAt + count * dim * 4);
    if (base < 0) return false;
    const { f32 } = arena;
    const { weight, gradWeight } = this;
    f32.set(this.hidden.subarray(0, count * dim), base >> 2);
    f32.set(gradLogits.subarray(0, count * numClasses), (base + gradAt) >> 2);
    const weightIndex = (base + weightAt) >> 2;
    for (let d = 0; d < dim; d++) {
      for (let c = 0; c < numClasses; c++) f32[weightIndex + c * dim + d] = weight[d * numClasses + c]!;
    }
    arena.kernels.denseBackward(base, base + gradAt, base + weightAt, base + gradWeightAt, base + gradHiddenAt, count, dim, numClasses);
    const gradWeightIndex = (base + gradWeightAt) >> 2;
    for (let d = 0; d < dim; d++) {
      for (let c = 0; c < numClasses; c++) gradWeight[d * numClasses + c] = f32[gradWeightIndex + c * dim + d]!;
    }
    this.gradHidden.set(f32.subarray((base + gradHiddenAt) >> 2, ((base + gradHiddenAt) >> 2) + count * dim));
    return true;
  }

  /**
   * Allocates the rows of the batch's buckets (in order of occurrence) and numbers the distinct ones:
   * `occurrenceRow[o]` is the row of occurrence o, `slotRow[s]` the s-th distinct row, `rowSlot[row]` its slot.
   * Returns the number of distinct rows.
   */
  private gatherRows(features: FeatureMatrix, examples: ArrayLike<number>): number {
    const { ids, offsets } = features;
    const count = examples.length;
    let occurrences = 0;
    for (let b = 0; b < count; b++) occurrences += offsets[examples[b]! + 1]! - offsets[examples[b]!]!;
    this.occurrenceRow = growInt32(this.occurrenceRow, occurrences);
    this.slotRow = growInt32(this.slotRow, occurrences);
    const { occurrenceRow, slotRow } = this;
    const rowOf = this.rowOf;
    const known = this.rowsKnown;
    const stamp = ++this.batchStamp;
    let slots = 0;
    let o = 0;
    for (let b = 0; b < count; b++) {
      const example = examples[b]!;
      for (let k = offsets[example]!, end = offsets[example + 1]!; k < end; k++, o++) {
        const v = ids[k]!;
        // A row seen as untrained in the forward pass may have been allocated since (by an earlier occurrence).
        let row = known ? occurrenceRow[o]! : rowOfOccurrence(rowOf, v);
        // Untrained: v is the bucket (a mapped occurrence has a row).
        if (row === 0) row = this.allocateRow(v);
        occurrenceRow[o] = row;
        // allocateRow may grow rowStamp and rowSlot: read them after it.
        if (this.rowStamp[row] !== stamp) {
          this.rowStamp[row] = stamp;
          this.rowSlot[row] = slots;
          slotRow[slots++] = row;
        }
      }
    }
    return slots;
  }

  /**
   * This step's decoupled weight decay: the output weights and, lazily, every embedding row shrink by
   * (1 − lr·λ); the `slots` rows the batch is about to update are brought up to date now.
   */
  private decayStep(learningRate: number, slots: number): void {
    const factor = 1 - learningRate * this.weightDecay;
    if (!(factor > 0)) throw new Error(`learning rate × weight decay must be below 1, got ${learningRate} × ${this.weightDecay}`);
    this.decayLog += Math.log(factor);
    const weight = this.weight;
    for (let i = 0; i < weight.length; i++) weight[i]! *= factor;
    const slotRow = this.slotRow;
    for (let slot = 0; slot < slots; slot++) this.syncRow(slotRow[slot]!);
  }

  /** Applies the decay `row` has missed since it was last brought up to date. */
  private syncRow(row: number): void {
    const scale = Math.exp(this.decayLog - this.rowDecayLog[row]!);
    this.rowDecayLog[row] = this.decayLog;
    const dim = this.shape.dim;
    const emb = this.embeddings;
    for (let i = row * dim, end = (row + 1) * dim; i < end; i++) emb[i]! *= scale;
  }

  /** Brings every embedding row up to date with the weight decay (before the parameters are read). */
  private syncAllRows(): void {
    if (this.decayLog === 0) return;
    for (let row = 1; row < this.rows; row++) if (this.rowDecayLog[row] !== this.decayLog) this.syncRow(row);
  }

  /** A plain SGD step of `step` from the gradients `backward` has just gathered. */
  private sgdUpdate(step: number): void {
    const { dim, numClasses } = this.shape;
    const { weight, gradWeight, gradBias, gradHidden, occurrenceRow } = this;
    const bias = this.bias;
    for (let i = 0; i < weight.length; i++) weight[i]! -= step * gradWeight[i]!;
    for (let c = 0; c < numClasses; c++) bias[c]! -= step * gradBias[c]!;
    const emb = this.embeddings;
    const { offsets } = this.lastFeatures!;
    const examples = this.lastExamples;
    let o = 0;
    for (let b = 0; b < examples.length; b++) {
      const example = examples[b]!;
      const n = offsets[example + 1]! - offsets[example]!;
      const scale = step / Math.max(1, n);
      const h = b * dim;
      for (let k = 0; k < n; k++, o++) {
        const e = occurrenceRow[o]! * dim;
        let d = 0;
        for (; d + 3 < dim; d += 4) {
          emb[e + d]! -= scale * gradHidden[h + d]!;
          emb[e + d + 1]! -= scale * gradHidden[h + d + 1]!;
          emb[e + d + 2]! -= scale * gradHidden[h + d + 2]!;
          emb[e + d + 3]! -= scale * gradHidden[h + d + 3]!;
        }
        for (; d < dim; d++) emb[e + d]! -= scale * gradHidden[h + d]!;
      }
    }
  }

  /**
   * One Adam step from the gradients `backward` has just gathered (`clip` scales them all): dense on the
   * output layer, lazy on the `slots` embedding rows of the batch, each row's gradient summed over its
   * occurrences first.
   */
  private adamUpdate(learningRate: number, clip: number, slots: number): void {
    const { dim } = this.shape;
    const t = this.nextAdamStep();
    const stepSize = (learningRate * Math.sqrt(1 - ADAM_BETA2 ** t)) / (1 - ADAM_BETA1 ** t);
    const epsilonHat = this.adamEpsilon * Math.sqrt(1 - ADAM_BETA2 ** t);
    adamStep(this.weight, this.adamWeight.m, this.adamWeight.v, 0, this.gradWeight, 0, this.weight.length, clip, stepSize, epsilonHat);
    adamStep(this.bias, this.adamBias.m, this.adamBias.v, 0, this.gradBias, 0, this.bias.length, clip, stepSize, epsilonHat);
    // Each occurrence of row r in example b adds dL/dh_b / n_b to r's gradient, summed in order of occurrence.
    // The occurrences are grouped by slot first (a stable counting sort keeps that order within a slot), so
    // that each row's gradient is summed in locals and stepped at once (lazyAdamRows).
    const { offsets } = this.lastFeatures!;
    const examples = this.lastExamples;
    const count = examples.length;
    const { occurrenceRow, rowSlot } = this;
    if (this.exampleShare.length < count) this.exampleShare = new Float64Array(Math.max(count, this.exampleShare.length * 2));
    const share = this.exampleShare;
    let occurrences = 0;
    for (let b = 0; b < count; b++) {
      const n = offsets[examples[b]! + 1]! - offsets[examples[b]!]!;
      share[b] = 1 / Math.max(1, n);
      occurrences += n;
    }
    this.slotStart = growInt32(this.slotStart, slots + 1);
    this.slotOccurrence = growInt32(this.slotOccurrence, occurrences);
    const { slotStart, slotOccurrence } = this;
    slotStart.fill(0, 0, slots + 1);
    for (let o = 0; o < occurrences; o++) slotStart[rowSlot[occurrenceRow[o]!]! + 1]! += 1;
    for (let slot = 0; slot < slots; slot++) slotStart[slot + 1]! += slotStart[slot]!;
    // slotOccurrence lists, per slot, the examples of its occurrences (in order of occurrence).
    let o = 0;
    for (let b = 0; b < count; b++) {
      const n = offsets[examples[b]! + 1]! - offsets[examples[b]!]!;
      for (let k = 0; k < n; k++, o++) slotOccurrence[slotStart[rowSlot[occurrenceRow[o]!]!]!++] = b;
    }
    // slotStart[slot] now holds the end of the slot's list: shift back to the starts.
    for (let slot = slots; slot > 0; slot--) slotStart[slot] = slotStart[slot - 1]!;
    slotStart[0] = 0;
    if (this.arena && this.momentsInArena && this.lazyAdamWasm(slots, occurrences, count, clip, stepSize, epsilonHat)) return;
    if (this.adamEmbeddings.m.length < this.embeddings.length) {
      const grow = (old: Float32Array): Float32Array<ArrayBuffer> => {
        const grown = new Float32Array(this.embeddings.length);
        grown.set(old);
        return grown;
      };
      this.adamEmbeddings = { m: grow(this.adamEmbeddings.m), v: grow(this.adamEmbeddings.v) };
    }
    const { m, v } = this.adamEmbeddings;
    lazyAdamRows(this.embeddings, m, v, dim, this.slotRow, slots, slotStart, slotOccurrence, share, this.gradHidden, clip, stepSize, epsilonHat);
  }

  /**
   * gatherRows and adamUpdate in the module, for the training pass whose rows the forward pass recorded
   * (`rowsKnown`): the rows of buckets first trained now are allocated here, in order of occurrence (as
   * gatherRows does); gatherSlots numbers the distinct rows and lists their occurrences (the same order as
   * the scalar counting sort); the output layer steps in TypeScript and the rows with lazyAdam. No weight
   * decay (decayStep needs the slot rows in TypeScript). False, having stepped nothing, when the memory
   * cannot grow (the model has then left the arena; the rows allocated are those gatherRows allocates).
   */
  private adamUpdateWasm(features: FeatureMatrix, examples: ArrayLike<number>, learningRate: number): boolean {
    const { dim } = this.shape;
    const { ids, offsets } = features;
    const count = examples.length;
    // Rows of buckets the forward pass saw untrained, allocated in order of occurrence (first: allocateRow
    // may grow the table, which moves the scratch).
    const occurrenceRow = this.occurrenceRow;
    let occurrences = 0;
    for (let b = 0; b < count; b++) {
      for (let k = offsets[examples[b]!]!, end = offsets[examples[b]! + 1]!; k < end; k++, occurrences++) {
        // Untrained in the forward pass: ids[k] is its bucket (a mapped occurrence has a row).
        if (occurrenceRow[occurrences] === 0) occurrenceRow[occurrences] = this.allocateRow(ids[k]!);
      }
    }
    // A table that could not grow has left the arena.
    const arena = this.arena;
    if (!arena || !this.momentsInArena) return false;
    // The row → slot table: a power of two at least twice the occurrences.
    const tableBits = Math.max(4, Math.ceil(Math.log2(2 * occurrences + 1)));
    const tableSize = 1 << tableBits;
    const rowsAt = 0;
    const endsAt = rowsAt + occurrences * 4;
    const keysAt = endsAt + count * 4;
    const valuesAt = keysAt + tableSize * 4;
    const slotOfAt = valuesAt + tableSize * 4;
    const slotRowAt = slotOfAt + occurrences * 4;
    const slotStartAt = slotRowAt + occurrences * 4;
    const cursorAt = slotStartAt + (occurrences + 1) * 4;
    const slotOccurrenceAt = cursorAt + (occurrences + 1) * 4;
    const sharesAt = (slotOccurrenceAt + occurrences * 4 + 7) & ~7;
    const gradAt = sharesAt + count * 8;
    const base = this.arenaScratch(gradAt + count * dim * 4);
    if (base < 0) return false;
    const { i32, f64, f32 } = arena;
    i32.set(occurrenceRow.subarray(0, occurrences), (base + rowsAt) >> 2);
    const endIndex = (base + endsAt) >> 2;
    const shareIndex = (base + sharesAt) >> 3;
    for (let b = 0, end = 0; b < count; b++) {
      const n = offsets[examples[b]! + 1]! - offsets[examples[b]!]!;
      end += n;
      i32[endIndex + b] = end;
      f64[shareIndex + b] = 1 / Math.max(1, n);
    }
    i32.fill(-1, (base + keysAt) >> 2, ((base + keysAt) >> 2) + tableSize);
    f32.set(this.gradHidden.subarray(0, count * dim), (base + gradAt) >> 2);
    const kernels = arena.kernels;
    const slots = kernels.gatherSlots(base + rowsAt, base + endsAt, count, base + keysAt, base + valuesAt, 32 - tableBits, base + slotOfAt, base + slotRowAt, base + slotStartAt, base + cursorAt, base + slotOccurrenceAt);
    const t = this.nextAdamStep();
    const stepSize = (learningRate * Math.sqrt(1 - ADAM_BETA2 ** t)) / (1 - ADAM_BETA1 ** t);
    const epsilonHat = this.adamEpsilon * Math.sqrt(1 - ADAM_BETA2 ** t);
    adamStep(this.weight, this.adamWeight.m, this.adamWeight.v, 0, this.gradWeight, 0, this.weight.length, 1, stepSize, epsilonHat);
    adamStep(this.bias, this.adamBias.m, this.adamBias.v, 0, this.gradBias, 0, this.bias.length, 1, stepSize, epsilonHat);
    kernels.lazyAdam(0, arena.mBase, arena.vBase, base + slotRowAt, base + slotStartAt, base + slotOccurrenceAt, base + sharesAt, base + gradAt, slots, dim, 1, stepSize, epsilonHat);
    return true;
  }

  /**
   * Lazy Adam on the batch's rows with the wasm kernel: the slot lists, the examples' shares and dL/dh are
   * copied to the arena's scratch (a few kilobytes). False when the scratch cannot grow (the model has then
   * left the arena).
   */
  private lazyAdamWasm(slots: number, occurrences: number, count: number, clip: number, stepSize: number, epsilonHat: number): boolean {
    const arena = this.arena!;
    const { dim } = this.shape;
    const startsAt = slots * 4;
    const occurrencesAt = startsAt + (slots + 1) * 4;
    const sharesAt = (occurrencesAt + occurrences * 4 + 7) & ~7;
    const gradAt = sharesAt + count * 8;
    const base = this.arenaScratch(gradAt + count * dim * 4);
    if (base < 0) return false;
    const { i32, f64, f32 } = arena;
    i32.set(this.slotRow.subarray(0, slots), base >> 2);
    i32.set(this.slotStart.subarray(0, slots + 1), (base + startsAt) >> 2);
    i32.set(this.slotOccurrence.subarray(0, occurrences), (base + occurrencesAt) >> 2);
    f64.set(this.exampleShare.subarray(0, count), (base + sharesAt) >> 3);
    f32.set(this.gradHidden.subarray(0, count * dim), (base + gradAt) >> 2);
    arena.kernels.lazyAdam(0, arena.mBase, arena.vBase, base, base + startsAt, base + occurrencesAt, base + sharesAt, base + gradAt, slots, dim, clip, stepSize, epsilonHat);
    return true;
  }

  /** Adam's next step number: this model's own count, or the count every Hogwild thread shares. */
  private nextAdamStep(): number {
    return this.stepCounter ? Atomics.add(this.stepCounter, 0, 1) + 1 : ++this.adamStep;
  }

  /**
   * Hands the training set's matrix over to the model, which may then overwrite its ids with the rows they
   * map to as training passes find them (`~row`, negative; see rowCache), instead of keeping a second array of
   * the same length (one int32 per feature occurrence: ~160 MB at a million rows). The model reads such a
   * matrix as before; `restore` maps its ids back to buckets. Until `releaseTrainingIds`, nothing else may
   * read the ids as buckets. Other matrices (evaluation sets) are never written.
   */
  takeTrainingIds(features: FeatureMatrix): void {
    this.ownedFeatures = features;
    if (this.rowCache?.features === features) this.rowCache = undefined;
  }

  /**
   * Maps, in place, every occurrence of `ids` whose bucket has a row to `~row` (the form `takeTrainingIds`
   * matrices hold): a copy the caller owns, for Hogwild threads, which then share one mapped matrix rather than
   * each keeping its own row cache.
   */
  mapTrainingIds(ids: Int32Array): void {
    const rowOf = this.rowOf;
    for (let k = 0; k < ids.length; k++) {
      const v = ids[k]!;
      if (v >= 0 && rowOf[v] !== 0) ids[k] = ~rowOf[v]!;
    }
  }

  /**
   * Ends `takeTrainingIds` (training is over): the model drops its references to the matrix, whose ids may
   * still hold rows (the caller drops it, or reads it only through this model).
   */
  releaseTrainingIds(): void {
    if (this.rowCache?.features === this.ownedFeatures) this.rowCache = undefined;
    this.ownedFeatures = undefined;
  }

  /** The handed-over matrix's mapped occurrences back to their buckets (the table is about to change). */
  private unmapTrainingIds(): void {
    const ids = this.ownedFeatures?.ids;
    if (!ids) return;
    let bucketOf: Int32Array | undefined;
    for (let k = 0; k < ids.length; k++) {
      const v = ids[k]!;
      if (v >= 0) continue;
      if (!bucketOf) {
        bucketOf = new Int32Array(this.rows);
        for (let bucket = 0; bucket < this.rowOf.length; bucket++) if (this.rowOf[bucket] !== 0) bucketOf[this.rowOf[bucket]!] = bucket;
      }
      ids[k] = bucketOf[~v]!;
    }
  }

  /**
   * Allocates the rows of every bucket in `ids` that has none, in order of first occurrence (rows start at
   * zero with the default initialisation): what training would allocate as it first steps them, done before
   * Hogwild threads start, since they share a fixed bucket → row table. With the default initialisation a row
   * allocated and never stepped reads as zero, as an unallocated one does, so the model's function is the same
   * (with `fasttext` it starts at its draw, drawn in this order rather than the order of training).
   */
  private allocateRowsFor(ids: Int32Array): void {
    this.reserveRowsFor(ids);
    // A mapped occurrence (< 0, see rowCache) has its row.
    for (let k = 0; k < ids.length; k++) if (ids[k]! >= 0 && this.rowOf[ids[k]!] === 0) this.allocateRow(ids[k]!);
  }

  /**
   * Allocates every row the training rows `ids` need, moves the table, its moments and the output layer into
   * memory that Hogwild threads can share, and returns it; this model keeps working on it as thread 0.
   * `scratchBytes[t]` is thread t's scratch region (0: this thread). A reason, changing nothing, unless the model
   * trains with Adam on the WebAssembly kernels without weight decay (the lock-free path), or where the shared
   * memory cannot be had. `unshare` ends it.
   */
  share(ids: Int32Array, scratchBytes: readonly number[]): { state: SharedNgramModel } | { reason: string } {
    const arena = this.arena;
    if (!arena || arena.shared || !this.momentsInArena || this.optimizer !== 'adam' || this.weightDecay !== 0 || this.decayLog !== 0) {
      return { reason: 'only Adam on the WebAssembly kernels without weight decay trains on several threads' };
    }
    // The table's final size first: nothing may grow once the memory is shared.
    this.reserveRowsFor(ids);
    const capacity = this.arena!.tableCapacity;
    const { regions, total } = KernelArena.sharedLayout(capacity, scratchBytes);
    if (total > 4 * 2 ** 30) {
      return { reason: `the model and the threads' scratch would need ${(total / 2 ** 30).toFixed(1)} GiB of shared memory, past WebAssembly's 4 GiB` };
    }
    const memory = KernelArena.sharedMemory(capacity, total);
    const attached = memory && KernelArena.attachShared(memory, capacity, regions[0]!);
    if (!memory || !attached) return { reason: 'this runtime cannot share WebAssembly memory between threads' };
    new Uint8Array(memory.buffer).set(new Uint8Array(this.arena!.f32.buffer, 0, capacity * 12));
    this.arena = attached;
    this.syncViews();
    this.allocateRowsFor(ids);
    const w = this.weight.length;
    const c = this.bias.length;
    const dense = new Float32Array(new SharedArrayBuffer((3 * w + 3 * c) * 4));
    dense.set(this.weight, 0);
    dense.set(this.bias, w);
    dense.set(this.adamWeight.m, w + c);
    dense.set(this.adamWeight.v, 2 * w + c);
    dense.set(this.adamBias.m, 3 * w + c);
    dense.set(this.adamBias.v, 3 * w + 2 * c);
    const rowOf = new Int32Array(new SharedArrayBuffer(this.rowOf.length * 4));
    rowOf.set(this.rowOf);
    const step = new Int32Array(new SharedArrayBuffer(4));
    step[0] = this.adamStep;
    const state: SharedNgramModel = {
      shape: { ...this.shape },
      memory,
      capacity,
      regions,
      rows: this.rows,
      rowOf,
      dense,
      step,
      adamEpsilon: this.adamEpsilon,
      featureDropout: this.featureDropout,
    };
    this.useShared(state);
    return { state };
  }

  /** A Hogwild thread's model over `state` (scratch region `thread`, from 1), drawing its n-gram dropout from `seed`'s stream. */
  static replica(state: SharedNgramModel, thread: number, seed: number): NgramClassifier {
    const model = new NgramClassifier(state.shape, seed, 'zero-embeddings', 'scalar', state.rowOf);
    const region = state.regions[thread];
    const arena = region && KernelArena.attachShared(state.memory, state.capacity, region);
    if (!arena) throw new Error('internal: a Hogwild thread could not attach the shared memory');
    model.arena = arena;
    model.momentsInArena = true;
    model.rows = state.rows;
    model.rowStamp = new Int32Array(state.rows);
    model.rowSlot = new Int32Array(state.rows);
    model.rowDecayLog = new Float64Array(state.rows);
    model.optimizer = 'adam';
    model.adamEpsilon = state.adamEpsilon;
    model.featureDropout = state.featureDropout;
    model.replica = true;
    model.useShared(state);
    model.syncViews();
    return model;
  }

  /** Points the output layer, its moments and Adam's step count at the shared ones. */
  private useShared(state: SharedNgramModel): void {
    const w = this.weight.length;
    const c = this.bias.length;
    const { dense } = state;
    this.weight = dense.subarray(0, w);
    this.bias = dense.subarray(w, w + c);
    this.adamWeight = { m: dense.subarray(w + c, 2 * w + c), v: dense.subarray(2 * w + c, 3 * w + c) };
    this.adamBias = { m: dense.subarray(3 * w + c, 3 * w + 2 * c), v: dense.subarray(3 * w + 2 * c, 3 * w + 3 * c) };
    this.stepCounter = state.step;
  }

  /** Ends `share`: the table, moments and output layer back in this model's own memory (the threads must have stopped). */
  unshare(): void {
    const arena = this.arena;
    if (!this.stepCounter || !arena || !arena.shared) return;
    this.adamStep = this.stepCounter[0]!;
    this.stepCounter = null;
    this.weight = this.weight.slice();
    this.bias = this.bias.slice();
    this.adamWeight = { m: this.adamWeight.m.slice(), v: this.adamWeight.v.slice() };
    this.adamBias = { m: this.adamBias.m.slice(), v: this.adamBias.v.slice() };
    const capacity = arena.tableCapacity;
    const own = KernelArena.create(capacity, true);
    if (own) {
      new Uint8Array(own.f32.buffer).set(new Uint8Array(arena.f32.buffer, 0, capacity * 12));
      this.arena = own;
      this.syncViews();
      return;
    }
    this.leaveArena();
  }

  /**
   * Scratch bytes one step over `count` rows holding `occurrences` n-gram occurrences may need: an upper bound
   * over the layouts of bagMeanWasm, denseBackwardWasm and adamUpdateWasm (a shared arena's scratch is fixed).
   */
  scratchBytesFor(occurrences: number, count: number, forwardOnly = false): number {
    const { dim, numClasses } = this.shape;
    const padded = numClasses + 1;
    const forward = occurrences * 4 + (count + 1) * 4 + 8 + count * 8 + count * dim * 4 + 16 + dim * padded * 4 + padded * 4 + count * padded * 4;
    if (forwardOnly) return forward + 64;
    const denseBackward = 2 * count * dim * 4 + count * numClasses * 4 + 16 + 2 * numClasses * dim * 4;
    const table = Math.max(16, 4 * occurrences + 4);
    const adam = occurrences * 4 + count * 4 + table * 8 + 3 * occurrences * 4 + 2 * (occurrences + 1) * 4 + 8 + count * 8 + count * dim * 4;
    return Math.max(forward, denseBackward, adam) + 64;
  }

  /** The n-gram dropout stream's state (Hogwild's deterministic mode hands it from thread to thread). */
  get dropoutState(): number {
    return this.dropoutRandom.state;
  }

  set dropoutState(state: number) {
    this.dropoutRandom.state = state;
  }

  snapshot(): ClassifierSnapshot {
    this.syncAllRows();
    return { kind: 'ngram', parameters: this.parameters() } as NgramSnapshot;
  }

  restore(snapshot: ClassifierSnapshot): void {
    if (snapshot.kind !== 'ngram') throw new Error(`cannot restore a ${snapshot.kind} snapshot into an n-gram classifier`);
    if (this.stepCounter) throw new Error('internal: a model shared with Hogwild threads cannot be restored (unshare it first)');
    const p = (snapshot as NgramSnapshot).parameters;
    // The handed-over ids hold this table's rows: back to buckets before the table changes.
    this.unmapTrainingIds();
    this.rowOf = p.rowOf.slice();
    this.rows = p.rows;
    this.rowStamp = new Int32Array(Math.max(p.rows, 1024));
    this.rowSlot = new Int32Array(Math.max(p.rows, 1024));
    this.batchStamp = 0;
    this.rowCache = undefined;
    const length = Math.max(p.rows, 1024) * this.shape.dim;
    // A fresh table: in a new arena when the model has one (its moments are reset below in any case).
    if (this.arena) this.arena = KernelArena.create(length, false);
    this.momentsInArena = false;
    this.embeddings = this.arena ? this.arena.embeddings : new Float32Array(length);
    this.embeddings.set(p.embeddings.subarray(0, p.rows * this.shape.dim));
    this.weight.set(p.weight);
    this.bias.set(p.bias);
    // The restored rows are up to date: start the decay's bookkeeping afresh.
    this.decayLog = 0;
    this.rowDecayLog = new Float64Array(Math.max(p.rows, 1024));
    this.useOptimizer(this.optimizer, { adamEpsilon: this.adamEpsilon, weightDecay: this.weightDecay });
  }

  /** A compact copy of the parameters: only allocated embedding rows. */
  parameters(): NgramParameters {
    this.syncAllRows();
    return {
      shape: { ...this.shape },
      rowOf: this.rowOf.slice(),
      embeddings: this.embeddings.slice(0, this.rows * this.shape.dim),
      rows: this.rows,
      weight: this.weight.slice(),
      bias: this.bias.slice(),
    };
  }

  /**
   * Makes room for the rows the buckets in `ids` will need (those not allocated yet), once: training then
   * never grows (and copies) the table and its Adam moments, and holds no slack. Changes no value.
   */
  reserveRowsFor(ids: Int32Array): void {
    const seen = new Uint8Array(this.shape.buckets);
    let needed = 0;
    for (let k = 0; k < ids.length; k++) {
      const bucket = ids[k]!;
      // A mapped occurrence (< 0, see rowCache) has its row.
      if (bucket < 0) continue;
      if (seen[bucket] === 0 && this.rowOf[bucket] === 0) needed += 1;
      seen[bucket] = 1;
    }
    const length = (this.rows + needed) * this.shape.dim;
    if (length <= this.embeddings.length) return;
    this.growTable(length);
    this.rowStamp = growInt32(this.rowStamp, this.rows + needed);
    this.rowSlot = growInt32(this.rowSlot, this.rows + needed);
    this.rowDecayLog = growFloat64(this.rowDecayLog, this.rows + needed);
  }

  /** Number of embedding rows allocated so far (including the zero row). */
  get allocatedRows(): number {
    return this.rows;
  }

  /**
   * `bytes` of the arena's scratch, with the typed views taken again (the memory may have grown); −1 when it
   * cannot grow, after the model has left the arena for the TypeScript kernels.
   */
  private arenaScratch(bytes: number): number {
    const base = this.arena!.scratch(bytes);
    // A shared arena's scratch is fixed: the caller takes the scalar kernels for this step, on the same shared views.
    if (base < 0 && this.arena!.shared) return -1;
    if (base < 0) {
      this.leaveArena();
      return -1;
    }
    this.syncViews();
    return base;
  }

  private allocateRow(bucket: number): number {
    const existing = this.rowOf[bucket]!;
    if (existing !== 0) return existing;
    if (this.replica) throw new Error(`internal: a Hogwild thread met bucket ${bucket}, which has no row (rows are allocated before the threads start)`);
    const dim = this.shape.dim;
    if ((this.rows + 1) * dim > this.embeddings.length) this.growTable(this.embeddings.length * 2);
    const row = this.rows++;
    this.rowOf[bucket] = row;
    if (this.init === 'fasttext') {
      const bound = 1 / dim;
      for (let i = row * dim; i < (row + 1) * dim; i++) this.embeddings[i] = (this.rowRandom.next() * 2 - 1) * bound;
    }
    if (row >= this.rowStamp.length) {
      this.rowStamp = growInt32(this.rowStamp, row + 1);
      this.rowSlot = growInt32(this.rowSlot, row + 1);
    }
    // A new row starts now: it has missed no decay.
    this.rowDecayLog = growFloat64(this.rowDecayLog, row + 1);
    this.rowDecayLog[row] = this.decayLog;
    return row;
  }
}

/** The row of a feature occurrence as a matrix holds it: a bucket id (≥ 0), or ~row once mapped (see rowCache). */
function rowOfOccurrence(rowOf: Int32Array, v: number): number {
  return v < 0 ? ~v : rowOf[v]!;
}

/**
 * The mean of embedding rows: `out[at + d] = (Σ_j emb[bag[j] + d]) · scale` for d < dim, the sum taken over
 * j in order with Float32 rounding after every addition (as `out[at + d] += …` into a Float32Array does),
 * then multiplied by `scale` in double precision and rounded to Float32. Eight coordinates at a time are
 * summed in locals (Math.fround is the Float32 store's rounding), not through memory: the same values, bit
 * for bit, without a load and store per addition.
 */
export function embeddingBagMean(emb: Float32Array, bag: Int32Array, n: number, dim: number, scale: number, out: Float32Array, at: number): void {
  const f = Math.fround;
  let d = 0;
  for (; d + 7 < dim; d += 8) {
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let s4 = 0;
    let s5 = 0;
    let s6 = 0;
    let s7 = 0;
    for (let j = 0; j < n; j++) {
      const e = bag[j]! + d;
      s0 = f(s0 + emb[e]!);
      s1 = f(s1 + emb[e + 1]!);
      s2 = f(s2 + emb[e + 2]!);
      s3 = f(s3 + emb[e + 3]!);
      s4 = f(s4 + emb[e + 4]!);
      s5 = f(s5 + emb[e + 5]!);
      s6 = f(s6 + emb[e + 6]!);
      s7 = f(s7 + emb[e + 7]!);
    }
    const o = at + d;
    out[o] = s0 * scale;
    out[o + 1] = s1 * scale;
    out[o + 2] = s2 * scale;
    out[o + 3] = s3 * scale;
    out[o + 4] = s4 * scale;
    out[o + 5] = s5 * scale;
    out[o + 6] = s6 * scale;
    out[o + 7] = s7 * scale;
  }
  for (; d < dim; d++) {
    let sum = 0;
    for (let j = 0; j < n; j++) sum = f(sum + emb[bag[j]! + d]!);
    out[at + d] = sum * scale;
  }
}

/**
 * Feature dropout of one batch: the rows `examples` of `features` as a batch-local matrix (row b is
 * examples[b]), each feature occurrence kept with probability 1 − `dropout` in its order; a non-empty row
 * that would lose every occurrence keeps one drawn at random. With `buffers`, the matrix is written into
 * them (grown, and replaced in the object, when too small) and the result views them: valid until the next call.
 */
export function dropFeatureOccurrences(
  features: FeatureMatrix,
  examples: ArrayLike<number>,
  dropout: number,
  random: SeededRandom,
  buffers?: { ids: Int32Array; offsets: Int32Array },
): FeatureMatrix {
  const { ids, offsets } = features;
  const count = examples.length;
  let total = 0;
  for (let b = 0; b < count; b++) total += offsets[examples[b]! + 1]! - offsets[examples[b]!]!;
  if (buffers && buffers.ids.length < total) buffers.ids = new Int32Array(Math.max(total, buffers.ids.length * 2));
  if (buffers && buffers.offsets.length < count + 1) buffers.offsets = new Int32Array(Math.max(count + 1, buffers.offsets.length * 2));
  const out = buffers ? buffers.ids : new Int32Array(total);
  const outOffsets = buffers ? buffers.offsets : new Int32Array(count + 1);
  outOffsets[0] = 0;
  const keep = 1 - dropout;
  let o = 0;
  for (let b = 0; b < count; b++) {
    const start = offsets[examples[b]!]!;
    const end = offsets[examples[b]! + 1]!;
    const first = o;
    // Written, then kept by advancing: no unpredictable branch per occurrence.
    for (let k = start; k < end; k++) {
      out[o] = ids[k]!;
      o += Number(random.next() < keep);
    }
    if (o === first && end > start) out[o++] = ids[start + Math.floor(random.next() * (end - start))]!;
    outOffsets[b + 1] = o;
  }
  return { ids: out.subarray(0, o), offsets: buffers ? outOffsets.subarray(0, count + 1) : outOffsets, count };
}

const ONE_MINUS_BETA1 = 1 - ADAM_BETA1;
const ONE_MINUS_BETA2 = 1 - ADAM_BETA2;

/**
 * Adam on `length` coordinates from `at` of `param` (and its moments `m`, `v`), with gradients from `from` of
 * `gradient` scaled by `clip`. The moments are computed in double precision and stored as Float32; the step
 * uses the unrounded moments.
 */
function adamStep(
  param: Float32Array,
  m: Float32Array,
  v: Float32Array,
  at: number,
  gradient: Float32Array,
  from: number,
  length: number,
  clip: number,
  stepSize: number,
  epsilonHat: number,
): void {
  for (let i = 0; i < length; i++) {
    const index = at + i;
    const g = gradient[from + i]! * clip;
    const mi = ADAM_BETA1 * m[index]! + ONE_MINUS_BETA1 * g;
    const vi = ADAM_BETA2 * v[index]! + ONE_MINUS_BETA2 * g * g;
    m[index] = mi;
    v[index] = vi;
    param[index]! -= (stepSize * mi) / (Math.sqrt(vi) + epsilonHat);
  }
}

/** Adam on one coordinate (see adamStep): the moments stored as Float32, the step from the unrounded ones. */
function adamCoordinate(param: Float32Array, m: Float32Array, v: Float32Array, index: number, g: number, stepSize: number, epsilonHat: number): void {
  const mi = ADAM_BETA1 * m[index]! + ONE_MINUS_BETA1 * g;
  const vi = ADAM_BETA2 * v[index]! + ONE_MINUS_BETA2 * g * g;
  m[index] = mi;
  v[index] = vi;
  param[index]! -= (stepSize * mi) / (Math.sqrt(vi) + epsilonHat);
}

/**
 * Lazy Adam on the embedding rows a batch touched. Row `slotRow[s]`'s gradient is Σ share[b] · gradHidden[b]
 * over the examples b of its occurrences (`slotOccurrence[slotStart[s] .. slotStart[s+1])`), summed in that
 * order with Float32 rounding after every addition (as accumulating into a Float32Array does), then scaled
 * by `clip` and stepped. Eight coordinates at a time are summed in locals and stepped at once: the same
 * arithmetic in the same order as summing every row's gradient into a buffer and calling adamStep on it.
 */
export function lazyAdamRows(
  emb: Float32Array,
  m: Float32Array,
  v: Float32Array,
  dim: number,
  slotRow: Int32Array,
  slots: number,
  slotStart: Int32Array,
  slotOccurrence: Int32Array,
  share: Float64Array,
  gradHidden: Float32Array,
  clip: number,
  stepSize: number,
  epsilonHat: number,
): void {
  const f = Math.fround;
  for (let slot = 0; slot < slots; slot++) {
    const at = slotRow[slot]! * dim;
    const first = slotStart[slot]!;
    const last = slotStart[slot + 1]!;
    let d = 0;
    for (; d + 7 < dim; d += 8) {
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let s4 = 0;
      let s5 = 0;
      let s6 = 0;
      let s7 = 0;
      for (let q = first; q < last; q++) {
        const b = slotOccurrence[q]!;
        const c = share[b]!;
        const h = b * dim + d;
        s0 = f(s0 + c * gradHidden[h]!);
        s1 = f(s1 + c * gradHidden[h + 1]!);
        s2 = f(s2 + c * gradHidden[h + 2]!);
        s3 = f(s3 + c * gradHidden[h + 3]!);
        s4 = f(s4 + c * gradHidden[h + 4]!);
        s5 = f(s5 + c * gradHidden[h + 5]!);
        s6 = f(s6 + c * gradHidden[h + 6]!);
        s7 = f(s7 + c * gradHidden[h + 7]!);
      }
      const x = at + d;
      adamCoordinate(emb, m, v, x, s0 * clip, stepSize, epsilonHat);
      adamCoordinate(emb, m, v, x + 1, s1 * clip, stepSize, epsilonHat);
      adamCoordinate(emb, m, v, x + 2, s2 * clip, stepSize, epsilonHat);
      adamCoordinate(emb, m, v, x + 3, s3 * clip, stepSize, epsilonHat);
      adamCoordinate(emb, m, v, x + 4, s4 * clip, stepSize, epsilonHat);
      adamCoordinate(emb, m, v, x + 5, s5 * clip, stepSize, epsilonHat);
      adamCoordinate(emb, m, v, x + 6, s6 * clip, stepSize, epsilonHat);
      adamCoordinate(emb, m, v, x + 7, s7 * clip, stepSize, epsilonHat);
    }
    for (; d < dim; d++) {
      let sum = 0;
      for (let q = first; q < last; q++) {
        const b = slotOccurrence[q]!;
        sum = f(sum + share[b]! * gradHidden[b * dim + d]!);
      }
      adamCoordinate(emb, m, v, at + d, sum * clip, stepSize, epsilonHat);
    }
  }
}

function growInt32(array: Int32Array<ArrayBuffer>, needed: number): Int32Array<ArrayBuffer> {
  if (needed <= array.length) return array;
  const grown = new Int32Array(Math.max(needed, array.length * 2));
  grown.set(array);
  return grown;
}

function growFloat64(array: Float64Array<ArrayBuffer>, needed: number): Float64Array<ArrayBuffer> {
  if (needed <= array.length) return array;
  const grown = new Float64Array(Math.max(needed, array.length * 2));
  grown.set(array);
  return grown;
}
