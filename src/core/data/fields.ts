/**
 * Which JSON fields hold a row's text(s) and label. Fields are mapped, not assumed: defaults are
 * detected from common names and can be set per file or in settings.
 */
export interface FieldMapping {
  /** One field for single texts, two for sentence pairs. */
  text: [string] | [string, string];
  /** The gold label's field. */
  label: string;
}

/** Field names a user may set; what is left out is detected. */
export interface FieldOverrides {
  text?: string | [string] | [string, string];
  label?: string;
}

const SINGLE_TEXT_FIELDS = ['text', 'sentence', 'content'] as const;
const PAIR_TEXT_FIELDS = [
  ['text1', 'text2'],
  ['sentence1', 'sentence2'],
  ['premise', 'hypothesis'],
  ['question', 'passage'],
] as const;
const LABEL_FIELDS = ['label', 'labels', 'class', 'target'] as const;

/**
 * Detects the text and label fields from sample objects (the first rows of a file). Pairs win over
 * single texts when both fields of a pair are present; explicit overrides win over detection.
 * Returns undefined fields when nothing matches, so the caller can say which one is missing.
 */
export function detectFields(
  samples: readonly Record<string, unknown>[],
  overrides: FieldOverrides = {},
): { text: FieldMapping['text'] | undefined; label: string | undefined } {
  const has = (key: string): boolean => samples.some((s) => Object.prototype.hasOwnProperty.call(s, key));
  let text: FieldMapping['text'] | undefined;
  if (overrides.text !== undefined) {
    text = typeof overrides.text === 'string' ? [overrides.text] : overrides.text;
  } else {
    const pair = PAIR_TEXT_FIELDS.find(([a, b]) => has(a) && has(b));
    if (pair) text = [pair[0], pair[1]];
    else {
      const single = SINGLE_TEXT_FIELDS.find(has);
      if (single) text = [single];
    }
  }
  const label = overrides.label ?? LABEL_FIELDS.find(has);
  return { text, label };
}

/**
 * What a field picker offers for sample objects: every key as a text field (the one in use as the label left
 * out), the ones in use marked; then, for the chosen text fields, the other keys as the label, the one in
 * use first.
 */
export function fieldChoices(
  samples: readonly Record<string, unknown>[],
  overrides: FieldOverrides = {},
): { text: { key: string; inUse: boolean }[]; label: (text: readonly string[]) => { key: string; inUse: boolean }[] } {
  const keys = [...new Set(samples.flatMap((s) => Object.keys(s)))];
  const current = detectFields(samples, overrides);
  return {
    text: keys.filter((k) => k !== current.label || keys.length === 1).map((key) => ({ key, inUse: current.text?.includes(key) ?? false })),
    label: (text) =>
      keys
        .filter((k) => !text.includes(k))
        .sort((a, b) => Number(b === current.label) - Number(a === current.label))
        .map((key) => ({ key, inUse: key === current.label })),
  };
}

/** A human-readable list of the names detection looks for, for error messages. */
export function describeDetectableFields(): string {
  return (
    `text fields ${SINGLE_TEXT_FIELDS.join(', ')} or pairs ${PAIR_TEXT_FIELDS.map((p) => p.join('/')).join(', ')}; ` +
    `label fields ${LABEL_FIELDS.join(', ')}`
  );
}
