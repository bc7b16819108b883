import { DimpError } from '../errors';

/** A raw label value as found in a JSON line. */
export type RawLabel = unknown;

/**
 * The one mapping between label names and class indices. `0`, `"0"` and `"negative"` line up
 * through it: a number or numeric string matches a label *name* first and, when the names are not
 * numbers, an index; any other string matches a name (exactly, then case-insensitively).
 */
export class LabelMap {
  readonly names: readonly string[];
  private readonly byName = new Map<string, number>();
  private readonly byLowerName = new Map<string, number>();
  private readonly namesAreNumeric: boolean;

  constructor(names: readonly string[]) {
    if (names.length < 2) throw new DimpError('badInput', `a classifier needs at least 2 labels, got ${names.length} (${names.join(', ') || 'none'})`);
    const seen = new Set<string>();
    for (const name of names) {
      if (seen.has(name)) throw new DimpError('badInput', `label "${name}" appears twice in the label list`);
      seen.add(name);
    }
    this.names = [...names];
    names.forEach((name, index) => {
      this.byName.set(name, index);
      if (!this.byLowerName.has(name.toLowerCase())) this.byLowerName.set(name.toLowerCase(), index);
    });
    this.namesAreNumeric = names.every((n) => /^-?\d+$/.test(n));
  }

  /** Number of classes. */
  get size(): number {
    return this.names.length;
  }

  /** The class index of a raw label, or undefined when it is not one of this map's labels. */
  indexOf(raw: RawLabel): number | undefined {
    if (typeof raw === 'number') {
      if (!Number.isInteger(raw)) return undefined;
      return this.fromNumeric(String(raw), raw);
    }
    if (typeof raw !== 'string') return undefined;
    const trimmed = raw.trim();
    if (/^-?\d+$/.test(trimmed)) return this.fromNumeric(trimmed, Number(trimmed));
    return this.byName.get(trimmed) ?? this.byLowerName.get(trimmed.toLowerCase());
  }

  /** The label name of a class index. */
  nameOf(index: number): string {
    const name = this.names[index];
    if (name === undefined) throw new RangeError(`class index ${index} out of range 0..${this.names.length - 1}`);
    return name;
  }

  /** `id2label` as in a Hugging Face `config.json`. */
  toId2Label(): Record<string, string> {
    return Object.fromEntries(this.names.map((name, i) => [String(i), name]));
  }

  /** `label2id` as in a Hugging Face `config.json`. */
  toLabel2Id(): Record<string, number> {
    return Object.fromEntries(this.names.map((name, i) => [name, i]));
  }

  /** Reads `id2label` from a model's `config.json`; indices must be 0..n-1. */
  static fromId2Label(id2label: Record<string, string>, where: string): LabelMap {
    const entries = Object.entries(id2label).map(([k, v]) => [Number(k), v] as const);
    entries.sort((a, b) => a[0] - b[0]);
    entries.forEach(([k], i) => {
      if (k !== i) throw new DimpError('badModel', `id2label must number labels 0..n-1 without gaps; found id "${k}" at position ${i}`, { file: where });
    });
    return new LabelMap(entries.map(([, v]) => String(v)));
  }

  private fromNumeric(text: string, value: number): number | undefined {
    const named = this.byName.get(text);
    if (named !== undefined) return named;
    if (this.namesAreNumeric) return undefined;
    return value >= 0 && value < this.names.length ? value : undefined;
  }
}

/** The label's printable form in messages. */
export function describeRawLabel(raw: RawLabel): string {
  return typeof raw === 'string' ? `"${raw}"` : JSON.stringify(raw) ?? String(raw);
}

/**
 * Infers a label list from the raw labels seen in the data: all numeric → sorted by value
 * ("0", "1", …); all names → sorted alphabetically. A mix of numbers and names cannot be lined up
 * without being told, so it is an error that says how to set the labels.
 */
export function inferLabelNames(rawLabels: Iterable<RawLabel>): string[] {
  const numeric = new Set<number>();
  const names = new Set<string>();
  for (const raw of rawLabels) {
    if (typeof raw === 'number' && Number.isInteger(raw)) numeric.add(raw);
    else if (typeof raw === 'string' && /^-?\d+$/.test(raw.trim())) numeric.add(Number(raw.trim()));
    else if (typeof raw === 'string' && raw.trim() !== '') names.add(raw.trim());
  }
  if (numeric.size > 0 && names.size > 0) {
    throw new DimpError(
      'badInput',
      `labels mix numbers (${[...numeric].sort((a, b) => a - b).join(', ')}) and names (${[...names].sort().join(', ')}); ` +
        'say which name each number means with "labels": ["name0", "name1", …] in dimp.config.json or --labels name0,name1,…',
    );
  }
  if (names.size > 0) return [...names].sort();
  return [...numeric].sort((a, b) => a - b).map(String);
}
