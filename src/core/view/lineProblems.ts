import type { ScoreTable } from '../weighting/scoreTable';
import { NOT_A_ROW, UNSCORED, type LineRows, type LineText } from './lineRows';
import { formatScore } from './weightHeat';

/** A problem on one line of an open document (0-based line). */
export interface LineProblem {
  line: number;
  severity: 'error' | 'warning';
  /** `unusable-line` or `likely-mislabelled`. */
  code: 'unusable-line' | 'likely-mislabelled';
  message: string;
  /** For a likely mislabelled row: the label the quality checker prefers. */
  preferredLabel?: string;
}

function unusable(line: number, reason: string): LineProblem {
  return { line, severity: 'error', code: 'unusable-line', message: `Unusable line, skipped by scoring and training: ${reason}` };
}

/** VS Code shows at most 1,000 problems per file: the flags keep room for unusable lines. */
export const MAX_MISLABEL_FLAGS = 500;

export interface MislabelFlags {
  /** Probability (0–1) at or above which the quality checker's preferred label makes a flag. */
  threshold: number;
  /**
   * Whether the quality checker earns flags at all: false when it is near chance on the real rows that chose
   * it (checkerWarning), since its preferred label then says little.
   */
  earned: boolean;
  /** At most this many flags, the most confident first (default MAX_MISLABEL_FLAGS). */
  max?: number;
}

/**
 * The Problems of a scored document: every unusable line (an error: it is skipped by scoring and
 * training) and, when the quality checker earns them, the rows it prefers another label for with
 * probability at least the threshold (warnings; the most confident `max` of them). In line order. Parses
 * lines not parsed yet; otherwise one lookup per row.
 */
export function lineProblems(rows: LineRows, textAt: LineText, table: ScoreTable, flags: MislabelFlags): LineProblem[] {
  const problems: LineProblem[] = [];
  const flagged: { line: number; index: number }[] = [];
  for (let line = 0; line < rows.lineCount; line++) {
    const index = rows.scoreIndexAt(line, textAt, table);
    if (index === NOT_A_ROW) {
      const state = rows.stateAt(line, textAt);
      if (state.kind === 'unusable') problems.push(unusable(line, state.reason));
      continue;
    }
    if (index === UNSCORED || !flags.earned || !table.isLikelyMislabelled(index, flags.threshold)) continue;
    flagged.push({ line, index });
  }
  const c = table.columns;
  const kept = flagged.sort((a, b) => c.qualityLabelProbability[b.index]! - c.qualityLabelProbability[a.index]! || a.line - b.line).slice(0, flags.max ?? MAX_MISLABEL_FLAGS);
  for (const { line, index } of kept) {
    const preferred = table.labels[c.qualityLabel[index]!]!;
    const gold = table.labels[c.label[index]!]!;
    problems.push({
      line,
      severity: 'warning',
      code: 'likely-mislabelled',
      message: `Likely mislabelled: labelled "${gold}", but the quality checker prefers "${preferred}" (p ${formatScore(c.qualityLabelProbability[index]!)}); IMP weight ${formatScore(c.impWeight[index]!)}`,
      preferredLabel: preferred,
    });
  }
  return problems.sort((a, b) => a.line - b.line);
}
