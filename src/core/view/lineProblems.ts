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

/**
 * The Problems of a scored document: every unusable line (an error: it is skipped by scoring and
 * training) and every row whose quality checker prefers another label with probability at least
 * `mislabelThreshold` (0–1; a warning). Parses lines not parsed yet; otherwise one lookup per row.
 */
export function lineProblems(rows: LineRows, textAt: LineText, table: ScoreTable, mislabelThreshold: number): LineProblem[] {
  const problems: LineProblem[] = [];
  for (let line = 0; line < rows.lineCount; line++) {
    const index = rows.scoreIndexAt(line, textAt, table);
    if (index === NOT_A_ROW) {
      const state = rows.stateAt(line, textAt);
      if (state.kind === 'unusable') problems.push(unusable(line, state.reason));
      continue;
    }
    if (index === UNSCORED || !table.isLikelyMislabelled(index, mislabelThreshold)) continue;
    const c = table.columns;
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
  return problems;
}
