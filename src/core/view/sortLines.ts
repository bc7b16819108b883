/**
 * The lines of a file reordered by weight: rows with a weight first, ascending or descending (ties keep
 * their order), then every other line (unscored, unusable, blank) in its original order. Nothing is
 * dropped; the caller replaces the document in one edit, so one undo restores it.
 */
export function sortLinesByWeight(lines: readonly string[], weightOf: (line: number) => number | undefined, direction: 'ascending' | 'descending'): string[] {
  const weighted: { line: number; weight: number }[] = [];
  const rest: number[] = [];
  lines.forEach((_, line) => {
    const weight = weightOf(line);
    if (weight === undefined || Number.isNaN(weight)) rest.push(line);
    else weighted.push({ line, weight });
  });
  const sign = direction === 'ascending' ? 1 : -1;
  weighted.sort((a, b) => sign * (a.weight - b.weight) || a.line - b.line);
  return [...weighted.map((w) => lines[w.line]!), ...rest.map((line) => lines[line]!)];
}
