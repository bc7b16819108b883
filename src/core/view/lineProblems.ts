import type { ScoreTable } from '../weighting/scoreTable';
import type { LineRows, LineText } from './lineRows';
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

/**
 * The Problems of a document: every unusable line (an error: it is skipped by scoring and training) and,
 * when scores are known, every row whose quality checker prefers another label with probability at least
 * `mislabelThreshold` (0–1; a warning). Parses lines not parsed yet; otherwise one lookup per row.
 */
export function lineProblems(rows: LineRows, textAt: LineText, table: ScoreTable | undefined, mislabelThreshold: number): LineProblem[] {
  const problems: LineProblem[] = [];
  for (let line = 0; line < rows.lineCount; line++) {
    const state = rows.stateAt(line, textAt);
    if (state.kind === 'unusable') {
      problems.push({ line, severity: 'error', code: 'unusable-line', message: `Unusable line, skipped by scoring and training: ${state.reason}` });
      continue;
    }
    if (state.kind !== 'row' || !table) continue;
    const index = table.indexOf(state.rowId);
    if (index < 0 || !table.isLikelyMislabelled(index, mislabelThreshold)) continue;
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
