import { promises as fs } from 'node:fs';
import { DimpError } from '../errors';
import { writeLinesAtomic } from '../io/atomic';
import type { EncoderHeadSettings } from '../train/encoderHeadTraining';
import type { NgramSettings } from '../train/ngramTraining';
import type { WeightDiagnostics, WeightGuards } from './weights';

/** One synthetic row's scores, as written to the scores file. */
export interface RowScore {
  rowId: string;
  /** 1-based line in the synthetic file when scored. */
  line: number;
  /** Gold label name. */
  label: string;
  /** q = P̂′(y|x) from the quality checker, 0–1. */
  quality: number;
  /** d = Q̂(y|x) from the diversity checker, 0–1. */
  diversity: number;
  /** q / max(d, ε), capped at the max weight when one is set. */
  impWeight: number;
  /** The label the quality checker prefers, and its probability. */
  qualityLabel: string;
  qualityLabelProbability: number;
}

/** Where scores came from; the first line of a scores file. */
export interface ScoresHeader {
  kind: 'dimp-scores';
  version: 1;
  synthetic: string;
  real: string | undefined;
  labels: string[];
  qualityChecker: string;
  diversityChecker: string;
  /**
   * The checkers' model folders (absolute). Trained checkers live in a generation folder inside the
   * checkers folder, published with this scores file: read them from here (absent in older files).
   */
  checkerFolders?: { quality: string; diversity: string };
  /** Execution provider of the quality checker (and of the diversity checker unless `diversityProvider` says otherwise). */
  provider: string;
  diversityProvider?: string;
  guards: WeightGuards;
  /** How the built-in checkers were trained and chosen (absent for checkers given as model folders). */
  checkers?: CheckersReport;
  /** Weight diagnostics of the IMP weights (absent in files written before they existed). */
  diagnostics?: WeightDiagnostics;
  createdAt: string;
  rows: number;
}

/** One trained checker: its passes, the epoch kept and how it did on the rows that chose it. */
export interface CheckerReport {
  trainedOn: string | undefined;
  rows: number;
  epochs: number;
  bestEpoch: number;
  /** Accuracy on the selection rows at the kept epoch (they chose it, so it is slightly optimistic). */
  selectionAccuracy?: number;
  /** Share of the selection rows in their most frequent class: the accuracy of always guessing it. */
  selectionMajority?: number;
  /** Macro-F1 on the selection rows at the kept epoch. */
  selectionMacroF1?: number;
  /** Expected calibration error (10 bins) of the quality checker's q on the selection rows. */
  selectionCalibrationError?: number;
  /** Temperature T the checker's logits are divided by (fitted on the selection rows); absent: 1. */
  temperature?: number;
  /** The checker started from the diversity checker's parameters. */
  warmStart?: 'diversity';
  /** Members of an ensemble checker (logits averaged); absent: one model. Epochs above are the first member's. */
  members?: number;
}

/** Settings and selection of the built-in checkers, recorded in the scores header. */
export interface CheckersReport {
  settings: NgramSettings | EncoderHeadSettings;
  /**
   * Which real rows chose each checker's epoch: `validation` (the validation set), `held-out` (a third of
   * the real rows, after which the quality checker is retrained on all of them for the chosen epochs) or
   * `none` (too few real rows: the last epoch is kept).
   */
  selection: 'validation' | 'held-out' | 'none';
  selectionRows: number;
  quality?: CheckerReport;
  diversity?: CheckerReport;
  /** Share of each label (header `labels` order) among the real rows the quality checker trained on and the synthetic rows. */
  labelBalance?: { real: number[]; synthetic: number[] };
}

/** A scores file in memory. */
export interface Scores {
  header: ScoresHeader;
  rows: RowScore[];
}

const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;

/** One line about a trained checker, for people. */
export function describeChecker(report: CheckerReport, checkers: CheckersReport): string {
  const chosen =
    checkers.selection === 'none'
      ? `${report.epochs} epochs (too few real rows to choose the epoch)`
      : `epoch ${report.bestEpoch} of ${report.epochs}, chosen on ${checkers.selectionRows} ${checkers.selection === 'validation' ? 'validation' : 'held-out real'} rows`;
  const accuracy =
    report.selectionAccuracy !== undefined ? ` · accuracy there ${pct(report.selectionAccuracy)} (always guessing the majority class: ${pct(report.selectionMajority ?? 0)})` : '';
  const f1 = report.selectionMacroF1 !== undefined ? `, macro-F1 ${pct(report.selectionMacroF1)}` : '';
  const ece = report.selectionCalibrationError !== undefined ? `, calibration error ${pct(report.selectionCalibrationError)}` : '';
  return `trained on ${report.rows} rows · ${chosen}${accuracy}${f1}${ece}`;
}

/** A few words on the quality checker for headers and notifications, e.g. "quality checker 64.0 % (majority class 54.5 %)". */
export function checkerSummary(report: CheckerReport | undefined): string | undefined {
  if (report?.selectionAccuracy === undefined) return undefined;
  return `quality checker ${pct(report.selectionAccuracy)} (majority class ${pct(report.selectionMajority ?? 0)})`;
}

/**
 * The label balance of the real and synthetic rows in one line, e.g. "labels real 48/52 %, synthetic 61/39 %",
 * with a warning when a label's share differs by more than 15 points (the checkers then lean differently).
 */
export function describeLabelBalance(balance: { real: number[]; synthetic: number[] }, labels: readonly string[]): string {
  const shares = (x: number[]): string => `${x.map((v) => Math.round(v * 100)).join('/')} %`;
  const gap = Math.max(...balance.real.map((r, i) => Math.abs(r - (balance.synthetic[i] ?? 0))));
  const line = `labels ${labels.join('/')}: real ${shares(balance.real)}, synthetic ${shares(balance.synthetic)}`;
  return gap > 0.15 ? `${line} (they differ by ${Math.round(gap * 100)} points: the quality checker leans to the real set's balance)` : line;
}

/** How far above the majority-class rate the quality checker must be before its q are worth much. */
export const NEAR_CHANCE_MARGIN = 0.05;

/**
 * A plain warning when the quality checker is near chance on the rows that chose it. `settings` are the
 * checkers' (the scores header's): built-in ones get pointed at checkers on a sentence encoder.
 */
export function checkerWarning(report: CheckerReport | undefined, settings?: CheckersReport['settings']): string | undefined {
  if (report?.selectionAccuracy === undefined || report.selectionMajority === undefined) return undefined;
  if (report.selectionAccuracy >= report.selectionMajority + NEAR_CHANCE_MARGIN) return undefined;
  const stronger = settings && !('encoder' in settings)
    ? 'checkers on a pretrained sentence encoder (`--encoder DIR`, or "encoder" in dimp.config.json; on SST-2 with 400 real rows, MiniLM checkers reach 78 % where the built-in ones reach 64 %: EVALUATION.md)'
    : 'a stronger checker model';
  return (
    `the quality checker is near chance (${pct(report.selectionAccuracy)} where always guessing the majority class gives ${pct(report.selectionMajority)}): ` +
    `its q, the IMP/DIMP weights and the "likely mislabelled" flags say little. Give it more real rows or ${stronger}.`
  );
}

/** How a scores file writes a probability or weight: 7 significant digits. */
export const roundScore = (x: number): number => Number(x.toPrecision(7));

/** Scores that can give their file lines' records without building row objects (ColumnarScores). */
export interface ScoreRecordSource {
  /** One record per row, as `writeScores` writes a `RowScore`: the same keys in the same order, rounded. */
  scoreRecords(): Iterable<RowScore>;
}

/** Writes a scores file atomically: the header line, then one line per row. */
export async function writeScores(file: string, scores: Scores | (Scores & ScoreRecordSource)): Promise<void> {
  function* lines(): Generator<string> {
    yield JSON.stringify(scores.header);
    if ('scoreRecords' in scores) {
      for (const record of scores.scoreRecords()) yield JSON.stringify(record);
      return;
    }
    for (const r of scores.rows) {
      yield JSON.stringify({ ...r, quality: roundScore(r.quality), diversity: roundScore(r.diversity), impWeight: roundScore(r.impWeight), qualityLabelProbability: roundScore(r.qualityLabelProbability) });
    }
  }
  await writeLinesAtomic(file, lines());
}

/** Reads a scores file written by `writeScores`. */
export async function readScores(file: string): Promise<Scores> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new DimpError('badInput', 'scores file not found (run `dimp-curator score` first)', { file });
  }
  const lines = text.split('\n');
  let header: ScoresHeader;
  try {
    header = JSON.parse(lines[0] ?? '') as ScoresHeader;
  } catch {
    throw new DimpError('badInput', 'not a scores file (the first line is not JSON)', { file, line: 1 });
  }
  if (header.kind !== 'dimp-scores') throw new DimpError('badInput', 'not a scores file (no "kind": "dimp-scores" header)', { file, line: 1 });
  const rows: RowScore[] = [];
  for (let i = 1; i < lines.length; i++) {
    if (lines[i]!.trim() === '') continue;
    try {
      rows.push(JSON.parse(lines[i]!) as RowScore);
    } catch (error) {
      throw new DimpError('badInput', `invalid JSON: ${(error as Error).message}`, { file, line: i + 1 });
    }
  }
  return { header, rows };
}

/**
 * The header of a scores file, reading only its first line; undefined when there is no file or its first
 * line is not a scores header.
 */
export async function readScoresHeader(file: string): Promise<ScoresHeader | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const chunks: Buffer[] = [];
    for (let position = 0; position < 1 << 24; ) {
      const buffer = Buffer.alloc(1 << 16);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0) break;
      chunks.push(buffer.subarray(0, bytesRead));
      position += bytesRead;
      if (buffer.subarray(0, bytesRead).includes(10)) break;
    }
    const header = JSON.parse(Buffer.concat(chunks).toString('utf8').split('\n')[0] ?? '') as ScoresHeader;
    return header.kind === 'dimp-scores' ? header : undefined;
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
}

/** Scores looked up by row id. */
export function scoresByRowId(scores: Scores): Map<string, RowScore> {
  return new Map(scores.rows.map((r) => [r.rowId, r]));
}
