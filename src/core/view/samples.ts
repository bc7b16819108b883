import type { FieldMapping } from '../data/fields';
import type { ScoreTable } from '../weighting/scoreTable';

/** How the samples view lists rows. */
export interface SampleQuery {
  /** Ascending IMP weight (the default) or ascending quality. */
  sortBy: 'impWeight' | 'quality';
  /** Only rows with this gold label index. */
  label?: number;
  /** At most this many rows. */
  limit: number;
  /**
   * The 1-based line a scored row is on now, or undefined when it is no longer in the file. For a file
   * open in the editor this comes from the document; for a file read from disk it is the scored line.
   */
  lineOf: (index: number) => number | undefined;
}

/** One row of the samples view. */
export interface Sample {
  /** Row index in the score table. */
  index: number;
  /** 1-based line. */
  line: number;
}

/** Rows lowest first by weight (or quality), filtered by label, that are still in the file. */
export function lowestSamples(table: ScoreTable, query: SampleQuery): { samples: Sample[]; matching: number } {
  const order = table.orderBy(query.sortBy);
  const samples: Sample[] = [];
  let matching = 0;
  for (const index of order) {
    if (query.label !== undefined && table.columns.label[index] !== query.label) continue;
    const line = query.lineOf(index);
    if (line === undefined) continue;
    matching += 1;
    if (samples.length < query.limit) samples.push({ index, line });
  }
  return { samples, matching };
}

/** The text of a row for one line of a list: every text field (a pair as "a ‖ b"), cut at 120 characters. */
export function sampleSnippet(lineText: string, fields: FieldMapping): string {
  let text = lineText;
  try {
    const object = JSON.parse(lineText) as Record<string, unknown>;
    text = fields.text.map((f) => String(object[f] ?? '')).join(' ‖ ');
  } catch {
    // an unparsable line shows as it is
  }
  return text.length > 120 ? `${text.slice(0, 119)}…` : text;
}

/**
 * A sample's label and description in the samples view: the value and the named label, then "line N ·"
 * and the text, so the label never runs into the line number.
 */
export function sampleItemText(value: string, labelName: string, line: number, lineText: string, fields: FieldMapping): { label: string; description: string } {
  return { label: `${value} · label ${labelName}`, description: `line ${line} · ${sampleSnippet(lineText, fields)}` };
}
