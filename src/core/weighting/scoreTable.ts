import type { RowScore } from './score';
import type { ScoreColumns } from './scoreColumns';

/**
 * The columns of a score table: plain typed arrays (and the label names), so a worker can build a table
 * and hand it to the extension host without copying (`postMessage` with `transferList`).
 */
export interface ScoreTableColumns {
  /** Label names in class-index order. */
  labels: string[];
  /** High and low 32 bits of each row id (16 hex digits). */
  rowIdHigh: Uint32Array;
  rowIdLow: Uint32Array;
  /** 1-based line of the row in the file when it was scored. */
  line: Uint32Array;
  /** Gold label index. */
  label: Uint16Array;
  /** The label the quality checker prefers. */
  qualityLabel: Uint16Array;
  /** q = P̂′(y|x), 0–1. */
  quality: Float32Array;
  /** d = Q̂(y|x), 0–1. */
  diversity: Float32Array;
  /** IMP weight q / max(d, ε). */
  impWeight: Float32Array;
  /** Probability of `qualityLabel` under the quality checker, 0–1. */
  qualityLabelProbability: Float32Array;
  /** The row's weight at the end of the last DIMP training run; NaN when unknown. */
  dimpWeight: Float32Array;
  /** Row indices by ascending IMP weight (ties by line). */
  weightOrder: Uint32Array;
  /** Number of rows with a strictly lower IMP weight, per row: the weight percentile's numerator. */
  weightRank: Uint32Array;
  /** Open-addressing hash slots: a row index or -1; length is a power of two. */
  slots: Int32Array;
}

/**
 * Parses a row id (16 lowercase hex digits) into its high and low 32 bits, written to `out`; false when it
 * is not a row id. A loop over char codes: this runs for every decorated line and every hover.
 */
export function parseRowId(rowId: string, out: Uint32Array): boolean {
  if (rowId.length !== 16) return false;
  let high = 0;
  let low = 0;
  for (let i = 0; i < 16; i++) {
    const c = rowId.charCodeAt(i);
    const digit = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
    if (digit < 0) return false;
    if (i < 8) high = high * 16 + digit;
    else low = low * 16 + digit;
  }
  out[0] = high;
  out[1] = low;
  return true;
}

/** Row ids are hash prefixes, so their low bits are already uniform: probing starts there. */
function slotOf(low: number, mask: number): number {
  return low & mask;
}

/**
 * Every scored row of one synthetic file, looked up by row id: the cache behind decorations, hovers,
 * Problems and the samples view. Columns instead of objects keep a million rows in about 60 MB and make a
 * lookup a couple of array reads. Rows with the same id (exact duplicate lines) are stored once.
 */
export class ScoreTable {
  readonly columns: ScoreTableColumns;
  private readonly halves = new Uint32Array(2);

  private constructor(columns: ScoreTableColumns) {
    this.columns = columns;
  }

  /** Builds a table from scores (e.g. a scores file); `dimpWeights` maps row ids to their last DIMP weight. */
  static fromScores(rows: readonly RowScore[], labels: readonly string[], dimpWeights?: ReadonlyMap<string, number>): ScoreTable {
    const labelIndex = new Map(labels.map((name, i) => [name, i]));
    const labelOf = (name: string): number => {
      const index = labelIndex.get(name);
      if (index === undefined) throw new Error(`label "${name}" is not one of ${labels.join(', ')}`);
      return index;
    };
    return ScoreTable.build(rows.length, labels, dimpWeights, {
      rowId: (i) => rows[i]!.rowId,
      line: (i) => rows[i]!.line,
      label: (i) => labelOf(rows[i]!.label),
      qualityLabel: (i) => labelOf(rows[i]!.qualityLabel),
      quality: (i) => rows[i]!.quality,
      diversity: (i) => rows[i]!.diversity,
      impWeight: (i) => rows[i]!.impWeight,
      qualityLabelProbability: (i) => rows[i]!.qualityLabelProbability,
    });
  }

  /** Builds a table from a score job's columns (the same table as `fromScores` of their rows, without building them). */
  static fromScoreColumns(scores: ScoreColumns, dimpWeights?: ReadonlyMap<string, number>): ScoreTable {
    return ScoreTable.build(scores.length, scores.labels, dimpWeights, {
      rowId: (i) => scores.rowIds[i]!,
      line: (i) => scores.line[i]!,
      label: (i) => scores.label[i]!,
      qualityLabel: (i) => scores.qualityLabel[i]!,
      quality: (i) => scores.quality[i]!,
      diversity: (i) => scores.diversity[i]!,
      impWeight: (i) => scores.impWeight[i]!,
      qualityLabelProbability: (i) => scores.qualityLabelProbability[i]!,
    });
  }

  /** The table of `count` scored rows read through `value` (labels as class indices); rows with the same id are stored once. */
  private static build(
    count: number,
    labels: readonly string[],
    dimpWeights: ReadonlyMap<string, number> | undefined,
    value: { [K in 'line' | 'label' | 'qualityLabel' | 'quality' | 'diversity' | 'impWeight' | 'qualityLabelProbability']: (i: number) => number } & { rowId: (i: number) => string },
  ): ScoreTable {
    const unique = new Int32Array(count);
    let n = 0;
    let capacity = 16;
    while (capacity < count * 2) capacity *= 2;
    const slots = new Int32Array(capacity).fill(-1);
    const mask = capacity - 1;
    const rowIdHigh = new Uint32Array(count);
    const rowIdLow = new Uint32Array(count);
    const halves = new Uint32Array(2);
    for (let i = 0; i < count; i++) {
      const rowId = value.rowId(i);
      if (!parseRowId(rowId, halves)) throw new Error(`row id "${rowId}" is not 16 hex digits`);
      const high = halves[0]!;
      const low = halves[1]!;
      let slot = slotOf(low, mask);
      let duplicate = false;
      for (;;) {
        const index = slots[slot]!;
        if (index < 0) break;
        if (rowIdLow[index] === low && rowIdHigh[index] === high) {
          duplicate = true;
          break;
        }
        slot = (slot + 1) & mask;
      }
      if (duplicate) continue;
      slots[slot] = n;
      rowIdHigh[n] = high;
      rowIdLow[n] = low;
      unique[n++] = i;
    }
    const kept = unique.subarray(0, n);
    const columns: ScoreTableColumns = {
      labels: [...labels],
      rowIdHigh: rowIdHigh.slice(0, n),
      rowIdLow: rowIdLow.slice(0, n),
      line: Uint32Array.from(kept, value.line),
      label: Uint16Array.from(kept, value.label),
      qualityLabel: Uint16Array.from(kept, value.qualityLabel),
      quality: Float32Array.from(kept, value.quality),
      diversity: Float32Array.from(kept, value.diversity),
      impWeight: Float32Array.from(kept, value.impWeight),
      qualityLabelProbability: Float32Array.from(kept, value.qualityLabelProbability),
      dimpWeight: Float32Array.from(kept, (i) => dimpWeights?.get(value.rowId(i)) ?? Number.NaN),
      weightOrder: new Uint32Array(n),
      weightRank: new Uint32Array(n),
      slots,
    };
    const { order, rank } = ascendingOrder(columns.impWeight, columns.line);
    columns.weightOrder = order;
    columns.weightRank = rank;
    return new ScoreTable(columns);
  }

  /** Wraps columns received from a worker (their order, ranks and slots are used as they are). */
  static fromColumns(columns: ScoreTableColumns): ScoreTable {
    return new ScoreTable(columns);
  }

  /** The buffers to transfer with `postMessage`; the table is unusable in the sender afterwards. */
  transferList(): ArrayBuffer[] {
    const c = this.columns;
    return [c.rowIdHigh, c.rowIdLow, c.line, c.label, c.qualityLabel, c.quality, c.diversity, c.impWeight, c.qualityLabelProbability, c.dimpWeight, c.weightOrder, c.weightRank, c.slots].map(
      (array) => array.buffer as ArrayBuffer,
    );
  }

  /** Number of distinct scored rows. */
  get size(): number {
    return this.columns.impWeight.length;
  }

  /** Label names in class-index order. */
  get labels(): readonly string[] {
    return this.columns.labels;
  }

  /** Bytes held by the table's arrays. */
  get byteLength(): number {
    const c = this.columns;
    return [c.rowIdHigh, c.rowIdLow, c.line, c.label, c.qualityLabel, c.quality, c.diversity, c.impWeight, c.qualityLabelProbability, c.dimpWeight, c.weightOrder, c.weightRank, c.slots].reduce(
      (sum, array) => sum + array.byteLength,
      0,
    );
  }

  /** The row index of a row id, or -1 when the row was not scored. */
  indexOf(rowId: string): number {
    if (!parseRowId(rowId, this.halves)) return -1;
    return this.indexOfHalves(this.halves[0]!, this.halves[1]!);
  }

  /** The row index of a row id given as its high and low 32 bits (see `parseRowId`), or -1. */
  indexOfHalves(high: number, low: number): number {
    const { slots, rowIdHigh, rowIdLow } = this.columns;
    const mask = slots.length - 1;
    for (let slot = slotOf(low, mask); ; slot = (slot + 1) & mask) {
      const index = slots[slot]!;
      if (index < 0) return -1;
      if (rowIdLow[index] === low && rowIdHigh[index] === high) return index;
    }
  }

  /** The row id at an index. */
  rowIdAt(index: number): string {
    const hex = (x: number): string => x.toString(16).padStart(8, '0');
    return hex(this.columns.rowIdHigh[index]!) + hex(this.columns.rowIdLow[index]!);
  }

  /** Share of scored rows with a lower IMP weight, 0–100. */
  weightPercentile(index: number): number {
    const n = this.size;
    return n <= 1 ? 0 : (100 * this.columns.weightRank[index]!) / (n - 1);
  }

  /** True when the quality checker prefers another label than the gold one with at least `threshold` probability (0–1). */
  isLikelyMislabelled(index: number, threshold: number): boolean {
    const c = this.columns;
    return c.qualityLabel[index] !== c.label[index] && c.qualityLabelProbability[index]! >= threshold;
  }

  /** One row's scores as an object (for hovers and tooltips; the hot paths read the columns). */
  row(index: number): RowScore & { dimpWeight: number | undefined; percentile: number } {
    const c = this.columns;
    const dimp = c.dimpWeight[index]!;
    return {
      rowId: this.rowIdAt(index),
      line: c.line[index]!,
      label: c.labels[c.label[index]!]!,
      quality: c.quality[index]!,
      diversity: c.diversity[index]!,
      impWeight: c.impWeight[index]!,
      qualityLabel: c.labels[c.qualityLabel[index]!]!,
      qualityLabelProbability: c.qualityLabelProbability[index]!,
      dimpWeight: Number.isNaN(dimp) ? undefined : dimp,
      percentile: this.weightPercentile(index),
    };
  }

  /** Row indices by ascending value of a column (ties by line): `impWeight` is precomputed. */
  orderBy(column: 'impWeight' | 'quality'): Uint32Array {
    return column === 'impWeight' ? this.columns.weightOrder : ascendingOrder(this.columns.quality, this.columns.line).order;
  }
}

/** Indices sorting `values` ascending (ties by `line`), and each index's count of strictly smaller values. */
function ascendingOrder(values: Float32Array, line: Uint32Array): { order: Uint32Array; rank: Uint32Array } {
  const n = values.length;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => values[a]! - values[b]! || line[a]! - line[b]!);
  const rank = new Uint32Array(n);
  for (let position = 0; position < n; position++) {
    const index = order[position]!;
    const previous = position > 0 ? order[position - 1]! : -1;
    rank[index] = previous >= 0 && values[previous] === values[index] ? rank[previous]! : position;
  }
  return { order, rank };
}
