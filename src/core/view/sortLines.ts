/**
 * The order of a file's lines by weight, as old line indices: rows with a weight first, ascending or
 * descending (ties keep their order), then every other line (unscored, unusable, blank) in its original
 * order. Nothing is dropped. The editor uses the order itself to carry each line's parsed row identity to its
 * new place, so nothing is shown on the wrong line after the edit.
 */
export function sortOrderByWeight(lineCount: number, weightOf: (line: number) => number | undefined, direction: 'ascending' | 'descending'): number[] {
  const weighted: { line: number; weight: number }[] = [];
  const rest: number[] = [];
  for (let line = 0; line < lineCount; line++) {
    const weight = weightOf(line);
    if (weight === undefined || Number.isNaN(weight)) rest.push(line);
    else weighted.push({ line, weight });
  }
  const sign = direction === 'ascending' ? 1 : -1;
  weighted.sort((a, b) => sign * (a.weight - b.weight) || a.line - b.line);
  return [...weighted.map((w) => w.line), ...rest];
}

/** The lines of a file reordered by `sortOrderByWeight`; the caller replaces the document in one edit, so one undo restores it. */
export function sortLinesByWeight(lines: readonly string[], weightOf: (line: number) => number | undefined, direction: 'ascending' | 'descending'): string[] {
  return sortOrderByWeight(lines.length, weightOf, direction).map((line) => lines[line]!);
}
