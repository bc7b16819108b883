import { roundScore, type RowScore, type ScoreRecordSource, type Scores, type ScoresHeader } from './score';

/**
 * Every row's scores as columns: one typed array per number, label indices instead of label names, and the
 * row ids (strings the score job shares with its rows). About 50 B a row where a `RowScore` object takes
 * ≈ 170 B (an object of 8 fields whose 4 doubles are boxed), which is most of what a score job would
 * otherwise keep per row at its peak. `row(i)` gives the object form, with the same values.
 */
export class ScoreColumns {
  readonly rowIds: string[];
  /** 1-based line in the synthetic file when scored. */
  readonly line: Uint32Array;
  /** Gold label, as an index into `labels`. */
  readonly label: Uint16Array;
  /** The label the quality checker prefers, as an index into `labels`. */
  readonly qualityLabel: Uint16Array;
  /** Doubles, so that any `RowScore` (e.g. one read back from a scores file) round-trips exactly. */
  readonly quality: Float64Array;
  readonly diversity: Float64Array;
  readonly impWeight: Float64Array;
  readonly qualityLabelProbability: Float64Array;

  constructor(
    /** Label names in class-index order. */
    readonly labels: readonly string[],
    readonly length: number,
  ) {
    if (labels.length > 0xffff) throw new RangeError(`${labels.length} labels: at most 65,535 fit a score column`);
    this.rowIds = new Array<string>(length).fill('');
    this.line = new Uint32Array(length);
    this.label = new Uint16Array(length);
    this.qualityLabel = new Uint16Array(length);
    this.quality = new Float64Array(length);
    this.diversity = new Float64Array(length);
    this.impWeight = new Float64Array(length);
    this.qualityLabelProbability = new Float64Array(length);
  }

  /** Columns holding the same values as `rows` (label names must be among `labels`). */
  static fromRows(rows: readonly RowScore[], labels: readonly string[]): ScoreColumns {
    const columns = new ScoreColumns(labels, rows.length);
    const index = new Map(labels.map((name, i) => [name, i]));
    const labelOf = (name: string): number => {
      const i = index.get(name);
      if (i === undefined) throw new Error(`label "${name}" is not one of ${labels.join(', ')}`);
      return i;
    };
    rows.forEach((r, i) => columns.set(i, r.rowId, r.line, labelOf(r.label), r.quality, r.diversity, r.impWeight, labelOf(r.qualityLabel), r.qualityLabelProbability));
    return columns;
  }

  /** Sets row `i` (labels as class indices). */
  set(i: number, rowId: string, line: number, label: number, quality: number, diversity: number, impWeight: number, qualityLabel: number, qualityLabelProbability: number): void {
    this.rowIds[i] = rowId;
    this.line[i] = line;
    this.label[i] = label;
    this.quality[i] = quality;
    this.diversity[i] = diversity;
    this.impWeight[i] = impWeight;
    this.qualityLabel[i] = qualityLabel;
    this.qualityLabelProbability[i] = qualityLabelProbability;
  }

  /** Row `i` as an object, fields in the scores file's order. */
  row(i: number): RowScore {
    return {
      rowId: this.rowIds[i]!,
      line: this.line[i]!,
      label: this.labels[this.label[i]!]!,
      quality: this.quality[i]!,
      diversity: this.diversity[i]!,
      impWeight: this.impWeight[i]!,
      qualityLabel: this.labels[this.qualityLabel[i]!]!,
      qualityLabelProbability: this.qualityLabelProbability[i]!,
    };
  }

  /** Every row as an object. */
  toRows(): RowScore[] {
    return Array.from({ length: this.length }, (_, i) => this.row(i));
  }
}

/**
 * Scores held as columns (what a score job returns). `rows` is built from the columns the first time it is
 * read, then kept: readers of `Scores` work unchanged, and those that read `columns` (writing the scores
 * file, the CLI's summary) never build the objects. Spreading or cloning one does not carry `rows` (a getter).
 */
export class ColumnarScores implements Scores, ScoreRecordSource {
  private objects: RowScore[] | undefined;

  constructor(
    readonly header: ScoresHeader,
    readonly columns: ScoreColumns,
  ) {}

  get rows(): RowScore[] {
    return (this.objects ??= this.columns.toRows());
  }

  /** The scores file's records read off the columns (no row objects kept): `writeScores` writes them. */
  *scoreRecords(): Generator<RowScore> {
    const c = this.columns;
    for (let i = 0; i < c.length; i++) {
      yield {
        rowId: c.rowIds[i]!,
        line: c.line[i]!,
        label: c.labels[c.label[i]!]!,
        quality: roundScore(c.quality[i]!),
        diversity: roundScore(c.diversity[i]!),
        impWeight: roundScore(c.impWeight[i]!),
        qualityLabel: c.labels[c.qualityLabel[i]!]!,
        qualityLabelProbability: roundScore(c.qualityLabelProbability[i]!),
      };
    }
  }
}

/** The columns of scores: their own when they have them, else built from their rows. */
export function scoreColumnsOf(scores: Scores): ScoreColumns {
  return scores instanceof ColumnarScores ? scores.columns : ScoreColumns.fromRows(scores.rows, scores.header.labels);
}
