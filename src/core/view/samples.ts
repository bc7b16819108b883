import type { FieldMapping } from '../data/fields';

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
 * A row's label and description in the review queue: the value and the named label, then "line N ·"
 * and the text, so the label never runs into the line number.
 */
export function sampleItemText(value: string, labelName: string, line: number, lineText: string, fields: FieldMapping): { label: string; description: string } {
  return { label: `${value} · label ${labelName}`, description: `line ${line} · ${sampleSnippet(lineText, fields)}` };
}
