// The n-gram classifier's two hot loops, the embedding-bag sum (forward) and lazy Adam on the touched rows,
// in WebAssembly SIMD. The module is assembled here from its instructions (a few hundred bytes, built once
// per process): no toolchain, nothing downloaded, no binary in the repository.
//
// Both kernels do the scalar kernels' arithmetic in the same order (see embeddingBagMean and lazyAdamRows in
// ngramClassifier.ts), so they agree bit for bit:
// - the bag sums Float32 rows with f32x4.add: the scalar code adds in double and rounds to Float32 after
//   every addition, and a double sum of two Float32 values rounded to Float32 is the Float32 sum (double has
//   more than 2·24 + 2 bits, so the double rounding is innocuous); the mean's scale is applied in f64x2;
// - Adam runs in f64x2 (two coordinates a step, the moments promoted from and demoted to Float32 as the
//   typed arrays store them), with the same products and sums as the scalar code and no fused multiply-add
//   (WebAssembly SIMD has none outside relaxed SIMD); f64x2.sqrt and f64x2.div are correctly rounded as
//   Math.sqrt and `/` are.

const ADAM_BETA1 = 0.9;
const ADAM_BETA2 = 0.999;

/** Bytes of one WebAssembly page. */
export const WASM_PAGE = 65536;
/** The most pages a 32-bit WebAssembly memory can have (4 GiB). */
export const WASM_MAX_PAGES = 65536;

// --- A minimal assembler: just the instructions the two kernels use. ---

function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

function sleb(value: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    if ((value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

function f64Bytes(value: number): number[] {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setFloat64(0, value, true);
  return [...bytes];
}

const I32 = 0x7f;
const F64 = 0x7c;
const V128 = 0x7b;
const VOID = 0x40;

const op = {
  block: [0x02, VOID],
  loop: [0x03, VOID],
  end: [0x0b],
  br: (depth: number) => [0x0c, ...uleb(depth)],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  get: (local: number) => [0x20, ...uleb(local)],
  set: (local: number) => [0x21, ...uleb(local)],
  tee: (local: number) => [0x22, ...uleb(local)],
  i32Load: [0x28, 2, 0],
  i32Store: [0x36, 2, 0],
  i32ShrU: [0x76],
  f32Load: [0x2a, 2, 0],
  f32Const0: [0x43, 0, 0, 0, 0],
  f32Ne: [0x5c],
  i32And: [0x71],
  f64PromoteF32: [0xbb],
  f64Load: [0x2b, 3, 0],
  i32Const: (value: number) => [0x41, ...sleb(value)],
  f64Const: (value: number) => [0x44, ...f64Bytes(value)],
  if: [0x04, VOID],
  else: [0x05],
  i32Eq: [0x46],
  i32LtU: [0x49],
  i32GeU: [0x4f],
  i32Xor: [0x73],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Mul: [0x6c],
  i32Shl: [0x74],
  simd: (code: number, ...rest: number[]) => [0xfd, ...uleb(code), ...rest],
};
// memarg: alignment exponent, then offset.
const v128Load = (offset: number) => op.simd(0x00, 4, ...uleb(offset));
const v128Load64Zero = (offset: number) => op.simd(0x5d, 3, ...uleb(offset));
const v128Store64Lane0 = (offset: number) => op.simd(0x5b, 3, ...uleb(offset), 0);
const v128Zero = op.simd(0x0c, ...new Array<number>(16).fill(0));
const i8x16ShuffleHighToLow = op.simd(0x0d, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
const f64x2Splat = op.simd(0x14);
const f32x4Add = op.simd(0xe4);
const f64x2Add = op.simd(0xf0);
const f64x2Sub = op.simd(0xf1);
const f64x2Mul = op.simd(0xf2);
const f64x2Div = op.simd(0xf3);
const f64x2Sqrt = op.simd(0xef);
const f32x4DemoteF64x2Zero = op.simd(0x5e);
const f64x2PromoteLowF32x4 = op.simd(0x5f);

/** `for (i = from; i < to; i += step) body`, with i, to held in locals (from is evaluated into i first). */
function forLoop(i: number, from: number[], to: number, step: number[], body: number[]): number[] {
  return [
    ...from, ...op.set(i),
    ...op.block, ...op.loop,
    ...op.get(i), ...op.get(to), ...op.i32GeU, ...op.brIf(1),
    ...body,
    ...op.get(i), ...step, ...op.i32Add, ...op.set(i),
    ...op.br(0),
    ...op.end, ...op.end,
  ];
}

/**
 * bagMean(emb, bag, starts, scales, out, count, dim): for each example b < count,
 *   out[b·dim + d] = f32( (Σ_{j ∈ [starts[b], starts[b+1])} emb[bag[j] + d]) · scales[b] ),
 * the sum in Float32, in order of j. `bag` holds byte offsets of rows from `emb`; pointers are byte
 * addresses; dim a multiple of 4.
 */
function bagMeanBody(): { locals: number[]; code: number[] } {
  // params: 0 emb, 1 bag, 2 starts, 3 scales, 4 out, 5 count, 6 dim (all i32)
  const [emb, bag, starts, scales, out, count, dim] = [0, 1, 2, 3, 4, 5, 6];
  // locals: 7 b, 8 j, 9 jEnd, 10 d (bytes), 11 rowBytes, 12 outRow, 13 rowBase (i32); 14 scale, 15 sum (v128)
  const [b, j, jEnd, d, rowBytes, outRow, rowBase] = [7, 8, 9, 10, 11, 12, 13];
  const [scale, sum] = [14, 15];
  const addRow = [
    // sum = sum + emb[bag[j] + d .. +4]
    ...op.get(sum),
    ...op.get(emb), ...op.get(bag), ...op.get(j), ...op.i32Const(2), ...op.i32Shl, ...op.i32Add, ...op.i32Load, ...op.i32Add,
    ...op.get(d), ...op.i32Add, ...v128Load(0),
    ...f32x4Add, ...op.set(sum),
  ];
  const storeScaled = (high: boolean, offset: number) => [
    ...op.get(outRow), ...op.get(d), ...op.i32Add,
    ...op.get(sum), ...(high ? [...op.get(sum), ...i8x16ShuffleHighToLow] : []), ...f64x2PromoteLowF32x4, ...op.get(scale), ...f64x2Mul, ...f32x4DemoteF64x2Zero,
    ...v128Store64Lane0(offset),
  ];
  const perCoordinate = [
    ...v128Zero, ...op.set(sum),
    ...forLoop(j, [...op.get(rowBase)], jEnd, op.i32Const(1), addRow),
    ...storeScaled(false, 0),
    ...storeScaled(true, 8),
  ];
  const perExample = [
    // outRow holds the address of starts[b] until it is set below.
    ...op.get(starts), ...op.get(b), ...op.i32Const(2), ...op.i32Shl, ...op.i32Add, ...op.tee(outRow), ...op.i32Load, ...op.set(rowBase),
    ...op.get(outRow), ...op.i32Load.slice(0, 2), 4, ...op.set(jEnd),
    ...op.get(scales), ...op.get(b), ...op.i32Const(3), ...op.i32Shl, ...op.i32Add, ...op.f64Load, ...f64x2Splat, ...op.set(scale),
    ...op.get(out), ...op.get(b), ...op.get(rowBytes), ...op.i32Mul, ...op.i32Add, ...op.set(outRow),
    ...forLoop(d, op.i32Const(0), rowBytes, op.i32Const(16), perCoordinate),
  ];
  return {
    locals: [7, I32, 2, V128],
    code: [
      ...op.get(dim), ...op.i32Const(2), ...op.i32Shl, ...op.set(rowBytes),
      ...forLoop(b, op.i32Const(0), count, op.i32Const(1), perExample),
    ],
  };
}

/**
 * lazyAdam(emb, m, v, slotRow, slotStart, slotOccurrence, share, gradHidden, slots, dim, clip, stepSize,
 * epsilonHat): for each slot s < slots, row r = slotRow[s] and each coordinate d,
 *   g = f32(Σ_{q ∈ [slotStart[s], slotStart[s+1])} share[b_q] · gradHidden[b_q·dim + d]) · clip,  b_q = slotOccurrence[q]
 * (the sum rounded to Float32 after every addition, from +0), then Adam on emb/m/v[r·dim + d] as adamCoordinate.
 * A row with one occurrence (most of them) reads its example and share once, not per coordinate.
 */
function lazyAdamBody(): { locals: number[]; code: number[] } {
  // params: 0 emb, 1 m, 2 v, 3 slotRow, 4 slotStart, 5 slotOccurrence, 6 share, 7 gradHidden, 8 slots, 9 dim (i32);
  // 10 clip, 11 stepSize, 12 epsilonHat (f64)
  const [emb, m, v, slotRow, slotStart, slotOccurrence, share, gradHidden, slots, dim] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const [clip, stepSize, epsilonHat] = [10, 11, 12];
  // i32 locals: pointers to the current coordinates of the row in emb, m, v and (one occurrence) of dL/dh.
  const [slot, q, qEnd, qStart, d, rowBytes, eAt, mAt, vAt, b, gAt, rowAt, touch, nextAt] = [13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26];
  // v128 locals
  const [clipV, stepV, epsV, c, sumLo, sumHi, g, mi, vi, beta1, beta2, oneMinusBeta1, oneMinusBeta2] = [27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39];
  const roundToF32 = [...f32x4DemoteF64x2Zero, ...f64x2PromoteLowF32x4];
  // sum = f32(sum + c · dL/dh[address + offset .. +2])
  const accumulate = (sum: number, address: number[], offset: number) => [
    ...op.get(sum), ...op.get(c), ...address, ...v128Load64Zero(offset), ...f64x2PromoteLowF32x4, ...f64x2Mul, ...f64x2Add,
    ...roundToF32, ...op.set(sum),
  ];
  const loadShare = [...op.get(share), ...op.get(b), ...op.i32Const(3), ...op.i32Shl, ...op.i32Add, ...op.f64Load, ...f64x2Splat, ...op.set(c)];
  const occurrence = [
    ...op.get(slotOccurrence), ...op.get(q), ...op.i32Const(2), ...op.i32Shl, ...op.i32Add, ...op.i32Load, ...op.set(b),
    ...loadShare,
    ...op.get(gradHidden), ...op.get(b), ...op.get(rowBytes), ...op.i32Mul, ...op.i32Add, ...op.get(d), ...op.i32Add, ...op.set(gAt),
    ...accumulate(sumLo, op.get(gAt), 0),
    ...accumulate(sumHi, op.get(gAt), 8),
  ];
  // Adam on two coordinates from the gradient `sum`, at byte `offset` from the current coordinate.
  const adamPair = (sum: number, offset: number) => [
    ...op.get(sum), ...op.get(clipV), ...f64x2Mul, ...op.set(g),
    // mi = β₁·m + (1 − β₁)·g
    ...op.get(beta1), ...op.get(mAt), ...v128Load64Zero(offset), ...f64x2PromoteLowF32x4, ...f64x2Mul,
    ...op.get(oneMinusBeta1), ...op.get(g), ...f64x2Mul, ...f64x2Add, ...op.set(mi),
    // vi = β₂·v + ((1 − β₂)·g)·g
    ...op.get(beta2), ...op.get(vAt), ...v128Load64Zero(offset), ...f64x2PromoteLowF32x4, ...f64x2Mul,
    ...op.get(oneMinusBeta2), ...op.get(g), ...f64x2Mul, ...op.get(g), ...f64x2Mul, ...f64x2Add, ...op.set(vi),
    ...op.get(mAt), ...op.get(mi), ...f32x4DemoteF64x2Zero, ...v128Store64Lane0(offset),
    ...op.get(vAt), ...op.get(vi), ...f32x4DemoteF64x2Zero, ...v128Store64Lane0(offset),
    // param −= (stepSize·mi) / (√vi + ε̂)
    ...op.get(eAt),
    ...op.get(eAt), ...v128Load64Zero(offset), ...f64x2PromoteLowF32x4,
    ...op.get(stepV), ...op.get(mi), ...f64x2Mul,
    ...op.get(vi), ...f64x2Sqrt, ...op.get(epsV), ...f64x2Add,
    ...f64x2Div, ...f64x2Sub, ...f32x4DemoteF64x2Zero, ...v128Store64Lane0(offset),
  ];
  const advance = (pointer: number) => [...op.get(pointer), ...op.i32Const(16), ...op.i32Add, ...op.set(pointer)];
  const stepFour = [...adamPair(sumLo, 0), ...adamPair(sumHi, 8), ...advance(eAt), ...advance(mAt), ...advance(vAt)];
  const oneOccurrence = [
    ...v128Zero, ...op.set(sumLo),
    ...v128Zero, ...op.set(sumHi),
    ...accumulate(sumLo, op.get(gAt), 0),
    ...accumulate(sumHi, op.get(gAt), 8),
    ...advance(gAt),
    ...stepFour,
  ];
  const manyOccurrences = [
    ...v128Zero, ...op.set(sumLo),
    ...v128Zero, ...op.set(sumHi),
    ...forLoop(q, op.get(qStart), qEnd, op.i32Const(1), occurrence),
    ...stepFour,
  ];
  // The next slot's rows are read (one word per cache line of its embedding and moments, folded into the
  // returned `touch`) before this slot is stepped: its cache misses overlap this slot's arithmetic.
  const touchLines = (base: number) =>
    [0, 64, 128, 192].flatMap((offset) => [...op.get(touch), ...op.get(base), ...op.get(nextAt), ...op.i32Add, ...op.i32Load.slice(0, 2), ...uleb(offset), ...op.i32Xor, ...op.set(touch)]);
  const perSlot = [
    ...op.get(slotRow), ...op.get(slot), ...op.i32Const(2), ...op.i32Shl, ...op.i32Add, ...op.tee(nextAt), ...op.i32Load, ...op.get(rowBytes), ...op.i32Mul, ...op.set(rowAt),
    ...op.get(slot), ...op.i32Const(1), ...op.i32Add, ...op.get(slots), ...op.i32LtU,
    ...op.if,
    ...op.get(nextAt), ...op.i32Load.slice(0, 2), 4, ...op.get(rowBytes), ...op.i32Mul, ...op.set(nextAt),
    ...touchLines(emb), ...touchLines(m), ...touchLines(v),
    ...op.end,
    ...op.get(emb), ...op.get(rowAt), ...op.i32Add, ...op.set(eAt),
    ...op.get(m), ...op.get(rowAt), ...op.i32Add, ...op.set(mAt),
    ...op.get(v), ...op.get(rowAt), ...op.i32Add, ...op.set(vAt),
    ...op.get(slotStart), ...op.get(slot), ...op.i32Const(2), ...op.i32Shl, ...op.i32Add, ...op.tee(b), ...op.i32Load, ...op.set(qStart),
    ...op.get(b), ...op.i32Load.slice(0, 2), 4, ...op.set(qEnd),
    ...op.get(qEnd), ...op.get(qStart), ...op.i32Sub, ...op.i32Const(1), ...op.i32Eq,
    ...op.if,
    // One occurrence: its example, share and dL/dh row once for the whole row.
    ...op.get(slotOccurrence), ...op.get(qStart), ...op.i32Const(2), ...op.i32Shl, ...op.i32Add, ...op.i32Load, ...op.set(b),
    ...loadShare,
    ...op.get(gradHidden), ...op.get(b), ...op.get(rowBytes), ...op.i32Mul, ...op.i32Add, ...op.set(gAt),
    ...forLoop(d, op.i32Const(0), rowBytes, op.i32Const(16), oneOccurrence),
    ...op.else,
    ...forLoop(d, op.i32Const(0), rowBytes, op.i32Const(16), manyOccurrences),
    ...op.end,
  ];
  const splat = (value: number, local: number) => [...op.f64Const(value), ...f64x2Splat, ...op.set(local)];
  return {
    locals: [14, I32, 13, V128],
    code: [
      ...op.get(dim), ...op.i32Const(2), ...op.i32Shl, ...op.set(rowBytes),
      ...op.get(clip), ...f64x2Splat, ...op.set(clipV),
      ...op.get(stepSize), ...f64x2Splat, ...op.set(stepV),
      ...op.get(epsilonHat), ...f64x2Splat, ...op.set(epsV),
      ...splat(ADAM_BETA1, beta1),
      ...splat(ADAM_BETA2, beta2),
      ...splat(1 - ADAM_BETA1, oneMinusBeta1),
      ...splat(1 - ADAM_BETA2, oneMinusBeta2),
      ...forLoop(slot, op.i32Const(0), slots, op.i32Const(1), perSlot),
      ...op.get(touch),
    ],
  };
}

/**
 * denseBackward(hidden, gradLogits, weightT, gradWeightT, gradHidden, count, dim, numClasses): the output
 * layer's part of the backward pass, with W and dL/dW stored transposed (`numClasses × dim`):
 *   gradWeightT[c·dim + d] = f32(Σ_b hidden[b·dim + d] · gradLogits[b·C + c]), summed over b in order from +0
 *     with Float32 rounding after every addition (as accumulating into a Float32Array does);
 *   gradHidden[b·dim + d] = f32(Σ_c weightT[c·dim + d] · gradLogits[b·C + c]), summed over c in order from +0
 *     in double (as a double local does).
 * Four coordinates d at a time.
 */
function denseBackwardBody(): { locals: number[]; code: number[] } {
  const [hidden, gradLogits, weightT, gradWeightT, gradHidden, count, dim, numClasses] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [c, d, b, rowBytes, at] = [8, 9, 10, 11, 12];
  const [accLo, accHi, gs] = [13, 14, 15];
  const roundToF32 = [...f32x4DemoteF64x2Zero, ...f64x2PromoteLowF32x4];
  // gs = splat(gradLogits[b·C + c])
  const loadGradient = [
    ...op.get(gradLogits), ...op.get(b), ...op.get(numClasses), ...op.i32Mul, ...op.get(c), ...op.i32Add, ...op.i32Const(2), ...op.i32Shl, ...op.i32Add,
    ...op.f32Load, ...op.f64PromoteF32, ...f64x2Splat, ...op.set(gs),
  ];
  const multiplyAdd = (acc: number, offset: number, round: boolean) => [
    ...op.get(acc), ...op.get(at), ...v128Load64Zero(offset), ...f64x2PromoteLowF32x4, ...op.get(gs), ...f64x2Mul, ...f64x2Add,
    ...(round ? roundToF32 : []), ...op.set(acc),
  ];
  const store = (acc: number, offset: number) => [...op.get(at), ...op.get(acc), ...f32x4DemoteF64x2Zero, ...v128Store64Lane0(offset)];
  // at = base + row·rowBytes + d
  const pointAt = (base: number, row: number) => [...op.get(base), ...op.get(row), ...op.get(rowBytes), ...op.i32Mul, ...op.i32Add, ...op.get(d), ...op.i32Add, ...op.set(at)];
  const weightSums = [
    ...v128Zero, ...op.set(accLo), ...v128Zero, ...op.set(accHi),
    ...forLoop(b, op.i32Const(0), count, op.i32Const(1), [...loadGradient, ...pointAt(hidden, b), ...multiplyAdd(accLo, 0, true), ...multiplyAdd(accHi, 8, true)]),
    ...pointAt(gradWeightT, c), ...store(accLo, 0), ...store(accHi, 8),
  ];
  const hiddenSums = [
    ...v128Zero, ...op.set(accLo), ...v128Zero, ...op.set(accHi),
    ...forLoop(c, op.i32Const(0), numClasses, op.i32Const(1), [...loadGradient, ...pointAt(weightT, c), ...multiplyAdd(accLo, 0, false), ...multiplyAdd(accHi, 8, false)]),
    ...pointAt(gradHidden, b), ...store(accLo, 0), ...store(accHi, 8),
  ];
  return {
    locals: [5, I32, 3, V128],
    code: [
      ...op.get(dim), ...op.i32Const(2), ...op.i32Shl, ...op.set(rowBytes),
      ...forLoop(c, op.i32Const(0), numClasses, op.i32Const(1), forLoop(d, op.i32Const(0), rowBytes, op.i32Const(16), weightSums)),
      ...forLoop(b, op.i32Const(0), count, op.i32Const(1), forLoop(d, op.i32Const(0), rowBytes, op.i32Const(16), hiddenSums)),
    ],
  };
}

/**
 * denseForward(hidden, weight, bias, logits, count, dim, classPairs): the logits of the output layer, two
 * classes at a time, with W (`dim × 2·classPairs`, row-major), the bias and the logits padded to an even
 * number of classes:
 *   logits[b·C + c] = f32(… f32(bias[c] + h_b0·W[0, c]) … + h_b,dim−1·W[dim − 1, c]),
 * each product in double and the sum rounded to Float32 after every addition, coordinates whose hidden value
 * is zero skipped (as the scalar loop does). Two examples' sums at a time, so that two chains overlap.
 */
function denseForwardBody(): { locals: number[]; code: number[] } {
  const [hidden, weight, bias, logits, count, dim, classPairs] = [0, 1, 2, 3, 4, 5, 6];
  const [b, pair, d, rowBytes, classBytes, hAt, wAt, last, ex, hAtNext] = [7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
  const [acc0, acc1, w] = [17, 18, 19];
  const roundToF32 = [...f32x4DemoteF64x2Zero, ...f64x2PromoteLowF32x4];
  // acc = f32(acc + h·w) when h (the f32 at hAt + offset) is not zero
  const step = (acc: number, at: number) => [
    ...op.get(at), ...op.f32Load, ...op.f32Const0, ...op.f32Ne,
    ...op.if,
    ...op.get(acc), ...op.get(at), ...op.f32Load, ...op.f64PromoteF32, ...f64x2Splat, ...op.get(w), ...f64x2Mul, ...f64x2Add,
    ...roundToF32, ...op.set(acc),
    ...op.end,
  ];
  const biasPair = [...op.get(bias), ...op.get(pair), ...op.i32Const(3), ...op.i32Shl, ...op.i32Add, ...v128Load64Zero(0), ...f64x2PromoteLowF32x4];
  const store = (acc: number, example: number[]) => [
    ...op.get(logits), ...example, ...op.get(classBytes), ...op.i32Mul, ...op.i32Add, ...op.get(pair), ...op.i32Const(3), ...op.i32Shl, ...op.i32Add,
    ...op.get(acc), ...f32x4DemoteF64x2Zero, ...v128Store64Lane0(0),
  ];
  // Over d: hAt walks example b's hidden row (hAtNext example b + 1's), wAt W's column pair.
  const overCoordinates = (two: boolean) => [
    ...op.get(hidden), ...op.get(ex), ...op.get(rowBytes), ...op.i32Mul, ...op.i32Add, ...op.tee(hAt), ...op.get(rowBytes), ...op.i32Add, ...op.set(hAtNext),
    ...op.get(weight), ...op.get(pair), ...op.i32Const(3), ...op.i32Shl, ...op.i32Add, ...op.set(wAt),
    ...forLoop(d, op.i32Const(0), dim, op.i32Const(1), [
      ...op.get(wAt), ...v128Load64Zero(0), ...f64x2PromoteLowF32x4, ...op.set(w),
      ...step(acc0, hAt),
      ...(two ? step(acc1, hAtNext) : []),
      ...op.get(hAt), ...op.i32Const(4), ...op.i32Add, ...op.set(hAt),
      ...op.get(hAtNext), ...op.i32Const(4), ...op.i32Add, ...op.set(hAtNext),
      ...op.get(wAt), ...op.get(classBytes), ...op.i32Add, ...op.set(wAt),
    ]),
  ];
  return {
    locals: [10, I32, 3, V128],
    code: [
      ...op.get(dim), ...op.i32Const(2), ...op.i32Shl, ...op.set(rowBytes),
      ...op.get(classPairs), ...op.i32Const(3), ...op.i32Shl, ...op.set(classBytes),
      // last: the first example that has no partner (count rounded down to even)
      ...op.get(count), ...op.i32Const(-2), ...op.i32And, ...op.set(last),
      ...forLoop(pair, op.i32Const(0), classPairs, op.i32Const(1), [
        ...forLoop(b, op.i32Const(0), last, op.i32Const(2), [
          ...biasPair, ...op.tee(acc0), ...op.set(acc1),
          ...op.get(b), ...op.set(ex),
          ...overCoordinates(true),
          ...store(acc0, op.get(b)),
          ...store(acc1, [...op.get(b), ...op.i32Const(1), ...op.i32Add]),
        ]),
        // An odd count leaves one example.
        ...forLoop(b, op.get(last), count, op.i32Const(1), [
          ...biasPair, ...op.set(acc0),
          ...op.get(b), ...op.set(ex),
          ...overCoordinates(false),
          ...store(acc0, op.get(b)),
        ]),
      ]),
    ],
  };
}

/**
 * gatherSlots(occurrenceRow, exampleEnds, count, tableKey, tableValue, shift, slotOf, slotRow, slotStart,
 * cursor, slotOccurrence) → slots: numbers the distinct rows of a batch's occurrences in order of first
 * occurrence (slotRow), and lists each slot's occurrences by example, in order of occurrence
 * (slotOccurrence[slotStart[s] .. slotStart[s+1])): gatherRows and adamUpdate's stable counting sort.
 * Occurrences of example b are [exampleEnds[b−1], exampleEnds[b]). The row → slot map is an open-addressing
 * table of 2^(32 − shift) entries whose keys the caller has set to −1 (multiplicative hash, linear probing).
 */
function gatherSlotsBody(): { locals: number[]; code: number[] } {
  const [occurrenceRow, exampleEnds, count, tableKey, tableValue, shift, slotOf, slotRow, slotStart, cursor, slotOccurrence] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const [o, row, h, key, slot, slots, b, end, mask, occurrences] = [11, 12, 13, 14, 15, 16, 17, 18, 19, 20];
  const at = (base: number, index: number) => [...op.get(base), ...op.get(index), ...op.i32Const(2), ...op.i32Shl, ...op.i32Add];
  const load = (base: number, index: number) => [...at(base, index), ...op.i32Load];
  const store = (base: number, index: number, value: number[]) => [...at(base, index), ...value, ...op.i32Store];
  const slotPlusOne = [...op.get(slot), ...op.i32Const(1), ...op.i32Add];
  const probe = [
    ...op.block, ...op.loop,
    ...load(tableKey, h), ...op.tee(key), ...op.get(row), ...op.i32Eq,
    ...op.if, ...load(tableValue, h), ...op.set(slot), ...op.br(2), ...op.end,
    ...op.get(key), ...op.i32Const(-1), ...op.i32Eq,
    ...op.if,
    ...store(tableKey, h, op.get(row)),
    ...store(tableValue, h, op.get(slots)),
    ...store(slotRow, slots, op.get(row)),
    ...op.get(slots), ...op.set(slot),
    ...[...op.get(slotStart), ...slotPlusOne, ...op.i32Const(2), ...op.i32Shl, ...op.i32Add, ...op.i32Const(0), ...op.i32Store],
    ...op.get(slots), ...op.i32Const(1), ...op.i32Add, ...op.set(slots),
    ...op.br(2),
    ...op.end,
    ...op.get(h), ...op.i32Const(1), ...op.i32Add, ...op.get(mask), ...op.i32And, ...op.set(h),
    ...op.br(0),
    ...op.end, ...op.end,
  ];
  const number = [
    ...load(occurrenceRow, o), ...op.set(row),
    ...op.get(row), ...op.i32Const(0x9e3779b1 | 0), ...op.i32Mul, ...op.get(shift), ...op.i32ShrU, ...op.set(h),
    ...probe,
    ...store(slotOf, o, op.get(slot)),
    // slotStart[slot + 1] += 1
    ...op.get(slotStart), ...slotPlusOne, ...op.i32Const(2), ...op.i32Shl, ...op.i32Add,
    ...op.get(slotStart), ...slotPlusOne, ...op.i32Const(2), ...op.i32Shl, ...op.i32Add, ...op.i32Load, ...op.i32Const(1), ...op.i32Add,
    ...op.i32Store,
  ];
  const prefix = [
    // slotStart[slot + 1] += slotStart[slot]; cursor[slot] = slotStart[slot]
    ...store(cursor, slot, load(slotStart, slot)),
    ...op.get(slotStart), ...slotPlusOne, ...op.i32Const(2), ...op.i32Shl, ...op.i32Add,
    ...op.get(slotStart), ...slotPlusOne, ...op.i32Const(2), ...op.i32Shl, ...op.i32Add, ...op.i32Load, ...load(slotStart, slot), ...op.i32Add,
    ...op.i32Store,
  ];
  const place = [
    // slotOccurrence[cursor[slotOf[o]]++] = b
    ...load(slotOf, o), ...op.set(slot),
    ...load(cursor, slot), ...op.set(key),
    ...store(slotOccurrence, key, op.get(b)),
    ...store(cursor, slot, [...op.get(key), ...op.i32Const(1), ...op.i32Add]),
  ];
  return {
    locals: [10, I32],
    code: [
      ...op.i32Const(-1), ...op.i32Const(32), ...op.get(shift), ...[0x6b], ...op.i32Shl, ...op.i32Const(-1), ...op.i32Xor, ...op.set(mask),
      ...op.get(slotStart), ...op.i32Const(0), ...op.i32Store,
      ...op.get(exampleEnds), ...op.get(count), ...op.i32Const(1), ...[0x6b], ...op.i32Const(2), ...op.i32Shl, ...op.i32Add, ...op.i32Load, ...op.set(occurrences),
      ...forLoop(o, op.i32Const(0), occurrences, op.i32Const(1), number),
      ...forLoop(slot, op.i32Const(0), slots, op.i32Const(1), prefix),
      ...op.i32Const(0), ...op.set(o),
      ...forLoop(b, op.i32Const(0), count, op.i32Const(1), [
        ...load(exampleEnds, b), ...op.set(end),
        ...op.block, ...op.loop,
        ...op.get(o), ...op.get(end), ...op.i32GeU, ...op.brIf(1),
        ...place,
        ...op.get(o), ...op.i32Const(1), ...op.i32Add, ...op.set(o),
        ...op.br(0),
        ...op.end, ...op.end,
      ]),
      ...op.get(slots),
    ],
  };
}

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

function vector(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function name(text: string): number[] {
  return [...uleb(text.length), ...[...text].map((ch) => ch.charCodeAt(0))];
}

/** The module's bytes: imports `env.memory`, exports `bagMean`, `lazyAdam`, `denseBackward`, `denseForward` and `gatherSlots`. */
/**
 * The kernel module's bytes. `shared`: its memory import is a shared memory (maximum 4 GiB), for the
 * Hogwild threads that step one table together (`KernelArena.createShared`); a module built for one kind of
 * memory does not link with the other.
 */
export function kernelModuleBytes(shared = false): Uint8Array {
  const functionType = (params: number[], results: number[] = []) => [0x60, ...vector(params.map((p) => [p])), ...vector(results.map((r) => [r]))];
  // lazyAdam returns the words it read ahead (see lazyAdamBody), so that the reads are not dropped.
  const types = [
    functionType(new Array<number>(7).fill(I32)),
    functionType([...new Array<number>(10).fill(I32), F64, F64, F64], [I32]),
    functionType(new Array<number>(8).fill(I32)),
    functionType(new Array<number>(11).fill(I32), [I32]),
  ];
  const bodies = [bagMeanBody(), lazyAdamBody(), denseBackwardBody(), denseForwardBody(), gatherSlotsBody()].map(({ locals, code }) => {
    const groups: number[][] = [];
    for (let i = 0; i < locals.length; i += 2) groups.push([...uleb(locals[i]!), locals[i + 1]!]);
    const body = [...vector(groups), ...code, ...op.end];
    return [...uleb(body.length), ...body];
  });
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vector(types)),
    // import env.memory: a memory with a minimum of 1 page and no maximum, or a shared one of at most 4 GiB.
    ...section(2, vector([[...name('env'), ...name('memory'), 0x02, ...(shared ? [0x03, 0x01, ...uleb(WASM_MAX_PAGES)] : [0x00, 0x01])]])),
    ...section(3, vector([[0], [1], [2], [0], [3]])),
    ...section(
      7,
      vector([
        [...name('bagMean'), 0x00, 0],
        [...name('lazyAdam'), 0x00, 1],
        [...name('denseBackward'), 0x00, 2],
        [...name('denseForward'), 0x00, 3],
        [...name('gatherSlots'), 0x00, 4],
      ]),
    ),
    ...section(10, vector(bodies)),
  ]);
}

// The few WebAssembly declarations used here (the project compiles without the DOM library).
/** A WebAssembly linear memory. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  /** Grows by `pages` pages; returns the previous size in pages. Throws a RangeError when it cannot. */
  grow(pages: number): number;
}
interface WasmModule {
  readonly kind?: 'module';
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
}
const wasmApi = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

/** The compiled kernels (for a plain and for a shared memory), or null where WebAssembly or its SIMD is unavailable. */
const compiled: { plain?: WasmModule | null; shared?: WasmModule | null } = {};

/** The kernel module, compiled once per process; null where this runtime has no WebAssembly SIMD (or, `shared`, no shared memory). */
export function kernelModule(shared = false): WasmModule | null {
  const key = shared ? 'shared' : 'plain';
  const known = compiled[key];
  if (known !== undefined) return known;
  try {
    compiled[key] = wasmApi ? new wasmApi.Module(kernelModuleBytes(shared)) : null;
  } catch {
    compiled[key] = null;
  }
  return compiled[key]!;
}

/**
 * Uses `module` (compiled by another thread: `kernelModule(true)` there) as this thread's shared-memory kernels,
 * so that a worker starts with the code that thread has already compiled and optimised instead of compiling it again.
 */
export function adoptSharedKernelModule(module: unknown): void {
  if (module) compiled.shared = module as WasmModule;
}

/** A new shared WebAssembly memory of exactly `pages` pages (its maximum too); null where shared memory is unavailable. */
export function newSharedWasmMemory(pages: number): WasmMemory | null {
  if (!wasmApi || pages > WASM_MAX_PAGES) return null;
  try {
    return new wasmApi.Memory({ initial: pages, maximum: pages, shared: true });
  } catch {
    return null;
  }
}

/** A new WebAssembly memory of `pages` pages; null where WebAssembly is unavailable or the memory cannot be had. */
export function newWasmMemory(pages: number): WasmMemory | null {
  if (!wasmApi || pages > WASM_MAX_PAGES) return null;
  try {
    return new wasmApi.Memory({ initial: pages });
  } catch {
    return null;
  }
}

/** The kernels' exports over one memory. */
export interface KernelExports {
  bagMean(emb: number, bag: number, starts: number, scales: number, out: number, count: number, dim: number): void;
  lazyAdam(
    emb: number,
    m: number,
    v: number,
    slotRow: number,
    slotStart: number,
    slotOccurrence: number,
    share: number,
    gradHidden: number,
    slots: number,
    dim: number,
    clip: number,
    stepSize: number,
    epsilonHat: number,
  ): number;
  gatherSlots(
    occurrenceRow: number,
    exampleEnds: number,
    count: number,
    tableKey: number,
    tableValue: number,
    shift: number,
    slotOf: number,
    slotRow: number,
    slotStart: number,
    cursor: number,
    slotOccurrence: number,
  ): number;
  denseForward(hidden: number, weight: number, bias: number, logits: number, count: number, dim: number, classPairs: number): void;
  denseBackward(hidden: number, gradLogits: number, weightT: number, gradWeightT: number, gradHidden: number, count: number, dim: number, numClasses: number): void;
}

/** Instantiates the kernels over `memory` (`shared`: a shared memory); null where WebAssembly SIMD is unavailable. */
export function instantiateKernels(memory: WasmMemory, shared = false): KernelExports | null {
  const module = kernelModule(shared);
  if (!module || !wasmApi) return null;
  return new wasmApi.Instance(module, { env: { memory } }).exports as KernelExports;
}

/**
 * The embedding table, its Adam moments and the kernels' scratch in one WebAssembly memory:
 * `[embeddings | m | v | scratch]`, each table region `capacity` floats. Growing keeps every value (the
 * memory grows, the moment regions move up, the new parts are zero); the views are new after any call that
 * may grow the memory (`resize`, `ensureMoments`, `scratch`).
 */
export class KernelArena {
  readonly kernels: KernelExports;
  private memory: WasmMemory;
  /** Floats in each table region. */
  private capacity: number;
  private moments: boolean;
  /** A shared arena's own scratch region (byte offset and size): fixed, since other threads hold views of the memory. */
  private fixedScratch: { base: number; bytes: number } | null = null;
  embeddings!: Float32Array<ArrayBuffer>;
  m!: Float32Array<ArrayBuffer>;
  v!: Float32Array<ArrayBuffer>;
  f32!: Float32Array<ArrayBuffer>;
  i32!: Int32Array<ArrayBuffer>;
  f64!: Float64Array<ArrayBuffer>;

  private constructor(memory: WasmMemory, kernels: KernelExports, capacity: number, moments: boolean) {
    this.memory = memory;
    this.kernels = kernels;
    this.capacity = capacity;
    this.moments = moments;
    this.refresh();
  }

  /** An arena for `capacity` floats per table region (a multiple of 4), or null where WebAssembly SIMD is unavailable or the memory too large. */
  static create(capacity: number, moments: boolean): KernelArena | null {
    if (!kernelModule() || capacity % 4 !== 0) return null;
    const memory = newWasmMemory(Math.max(1, Math.ceil((capacity * 4 * (moments ? 3 : 1)) / WASM_PAGE)));
    const kernels = memory && instantiateKernels(memory);
    return memory && kernels ? new KernelArena(memory, kernels, capacity, moments) : null;
  }

  /**
   * Where each thread's scratch region lies in a shared memory for Hogwild threads: `[embeddings | m | v |
   * scratch of thread 0 | scratch of thread 1 | …]`, the table regions `capacity` floats each, region t
   * `scratchBytes[t]` rounded up to 16. Also the memory's whole size in bytes.
   */
  static sharedLayout(capacity: number, scratchBytes: readonly number[]): { regions: { base: number; bytes: number }[]; total: number } {
    let base = capacity * 12;
    const regions = scratchBytes.map((wanted) => {
      const bytes = Math.ceil(wanted / 16) * 16;
      const region = { base, bytes };
      base += bytes;
      return region;
    });
    return { regions, total: base };
  }

  /** A shared memory of `total` bytes (sharedLayout); null where shared memory or WebAssembly SIMD is unavailable, or past 4 GiB. */
  static sharedMemory(capacity: number, total: number): WasmMemory | null {
    if (!kernelModule(true) || capacity % 4 !== 0) return null;
    return newSharedWasmMemory(Math.ceil(total / WASM_PAGE));
  }

  /** One thread's arena over a memory made by `sharedMemory` (the table and moments shared, `region` its own scratch); null where it cannot link. */
  static attachShared(memory: WasmMemory, capacity: number, region: { base: number; bytes: number }): KernelArena | null {
    const kernels = instantiateKernels(memory, true);
    if (!kernels) return null;
    const arena = new KernelArena(memory, kernels, capacity, true);
    if (region.base < capacity * 12 || region.base % 16 !== 0 || region.base + region.bytes > memory.buffer.byteLength) {
      throw new Error('internal: a shared arena\'s scratch lies outside its region of the memory');
    }
    arena.fixedScratch = { ...region };
    return arena;
  }

  /** Whether this arena's memory is shared with other threads (it then never grows). */
  get shared(): boolean {
    return this.fixedScratch !== null;
  }

  /** Floats in each table region. */
  get tableCapacity(): number {
    return this.capacity;
  }

  /** Byte offset of the first moment region. */
  get mBase(): number {
    return this.capacity * 4;
  }

  /** Byte offset of the second moment region. */
  get vBase(): number {
    return this.capacity * 8;
  }

  /** Grows the table regions to `capacity` floats (a multiple of 4), keeping their values; false when the memory cannot grow so far. */
  resize(capacity: number): boolean {
    if (capacity <= this.capacity) return true;
    if (this.fixedScratch) return false;
    const old = this.capacity;
    if (!this.growTo(capacity * 4 * (this.moments ? 3 : 1))) return false;
    const bytes = new Uint8Array(this.memory.buffer);
    if (this.moments) {
      // v first: it moves furthest, and m's new place overlaps v's old one.
      bytes.copyWithin(capacity * 8, old * 8, old * 12);
      bytes.copyWithin(capacity * 4, old * 4, old * 8);
      bytes.fill(0, capacity * 8 + old * 4, capacity * 12);
      bytes.fill(0, capacity * 4 + old * 4, capacity * 8);
    }
    bytes.fill(0, old * 4, capacity * 4);
    this.capacity = capacity;
    this.refresh();
    return true;
  }

  /** Zeroes the moments, adding their regions if the arena has none yet; false when the memory cannot grow so far. */
  resetMoments(): boolean {
    if (this.fixedScratch) return false;
    if (!this.moments) {
      if (!this.growTo(this.capacity * 12)) return false;
      this.moments = true;
    }
    new Uint8Array(this.memory.buffer).fill(0, this.capacity * 4, this.capacity * 12);
    this.refresh();
    return true;
  }

  /** The byte offset of at least `bytes` of scratch (8-byte aligned), growing the memory if needed; -1 when it cannot. */
  scratch(bytes: number): number {
    if (this.fixedScratch) return bytes <= this.fixedScratch.bytes ? this.fixedScratch.base : -1;
    const base = this.capacity * 4 * (this.moments ? 3 : 1);
    if (base + bytes > this.memory.buffer.byteLength) {
      // Room for twice the request, so that batches of varying size do not grow the memory step by step.
      if (!this.growTo(base + Math.max(2 * bytes, 1 << 16)) && !this.growTo(base + bytes)) return -1;
      this.refresh();
    }
    return base;
  }

  private growTo(bytes: number): boolean {
    const pages = Math.ceil(bytes / WASM_PAGE);
    const current = this.memory.buffer.byteLength / WASM_PAGE;
    if (pages <= current) return true;
    if (pages > WASM_MAX_PAGES) return false;
    try {
      this.memory.grow(pages - current);
      return true;
    } catch {
      return false;
    }
  }

  private refresh(): void {
    const buffer = this.memory.buffer;
    this.f32 = new Float32Array(buffer);
    this.i32 = new Int32Array(buffer);
    this.f64 = new Float64Array(buffer);
    this.embeddings = this.f32.subarray(0, this.capacity);
    this.m = this.moments ? this.f32.subarray(this.capacity, this.capacity * 2) : new Float32Array(0);
    this.v = this.moments ? this.f32.subarray(this.capacity * 2, this.capacity * 3) : new Float32Array(0);
  }
}
