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
    // Exactly as written: " 1 " is not "1" (the reader reports such labels).
    if (/^-?\d+$/.test(raw)) return this.fromNumeric(raw, Number(raw));
    return this.byName.get(raw) ?? this.byLowerName.get(raw.toLowerCase());
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

/** The label's printable form in messages (a long one is cut, so a text mistaken for a label stays short). */
export function describeRawLabel(raw: RawLabel): string {
  const text = typeof raw === 'string' ? `"${raw}"` : (JSON.stringify(raw) ?? String(raw));
  return text.length > 42 ? `${text.slice(0, 40)}…${typeof raw === 'string' ? '"' : ''}` : text;
}

/** A label list for messages: every name when there are few, else the first ones and the count. */
export function describeLabelNames(names: readonly string[], limit = 10): string {
  const cut = (name: string): string => (name.length > 40 ? `${name.slice(0, 40)}…` : name);
  if (names.length <= limit) return names.map(cut).join(', ');
  return `${names.slice(0, limit).map(cut).join(', ')}, … (${names.length.toLocaleString('en-US')} labels)`;
}

/** The most distinct labels inferred from data; more is taken for a wrong label field. */
export const MAX_INFERRED_LABELS = 1000;

/** One line's raw label and where it is. */
export interface LabeledLine {
  line: number;
  rawLabel: RawLabel;
}

interface LabelSeen {
  label: string;
  count: number;
  file: string;
  line: number;
}

/**
 * The label space of the rows in `files` (normally one file: the real set, else the synthetic one):
 * all numeric → sorted by value ("0", "1", …); all names → sorted alphabetically. Labels are taken
 * exactly as written. Refused, each with a short message that names files and lines:
 * a mix of numbers and names (which number is which name cannot be guessed), fewer than 2 labels, and
 * an implausible space: more than {@link MAX_INFERRED_LABELS} labels, or more than 2 labels with fewer
 * than 2 rows per label on average (a text or id field taken for the label).
 */
export function inferLabelSpace(files: readonly { file: string; lines: readonly LabeledLine[] }[], options: { checkPlausible?: boolean } = {}): string[] {
  const numeric = new Map<number, LabelSeen>();
  const named = new Map<string, LabelSeen>();
  let rows = 0;
  for (const { file, lines } of files) {
    for (const { line, rawLabel } of lines) {
      let seen: LabelSeen | undefined;
      if ((typeof rawLabel === 'number' && Number.isInteger(rawLabel)) || (typeof rawLabel === 'string' && /^-?\d+$/.test(rawLabel))) {
        const value = Number(rawLabel);
        seen = numeric.get(value);
        if (!seen) numeric.set(value, (seen = { label: String(value), count: 0, file, line }));
      } else if (typeof rawLabel === 'string' && rawLabel !== '') {
        seen = named.get(rawLabel);
        if (!seen) named.set(rawLabel, (seen = { label: rawLabel, count: 0, file, line }));
      } else continue;
      seen.count += 1;
      rows += 1;
    }
  }
  const where = { file: files.length === 1 && files[0]!.file !== '' ? files[0]!.file : undefined };
  const inFiles = files.length === 1 ? '' : ` in ${files.map((f) => f.file).join(', ')}`;
  const list = (seen: Iterable<LabelSeen>, quote: boolean, limit = 5): string => {
    // Rarest first; a huge list is not sorted, its first labels in file order are shown.
    const all = [...seen];
    if (all.length <= 10_000) all.sort((a, b) => a.count - b.count || a.line - b.line);
    const shown = all.slice(0, limit).map((s) => `${quote ? describeRawLabel(s.label) : s.label} (${s.count} row${s.count === 1 ? '' : 's'}${s.file ? `, first at ${s.file}:${s.line}` : ''})`);
    return shown.join(', ') + (all.length > limit ? `, … ${all.length.toLocaleString('en-US')} in all` : '');
  };
  if (numeric.size > 0 && named.size > 0) {
    // The kind on fewer rows first: it is most likely the odd one out.
    const rowsOf = (seen: Map<unknown, LabelSeen>): number => [...seen.values()].reduce((sum, s) => sum + s.count, 0);
    const [first, second] = rowsOf(named) <= rowsOf(numeric) ? [`names ${list(named.values(), true)}`, `numbers ${list(numeric.values(), false)}`] : [`numbers ${list(numeric.values(), false)}`, `names ${list(named.values(), true)}`];
    throw new DimpError(
      'badInput',
      `labels${inFiles} mix numbers and names: ${first}; ${second}. Fix those lines, or say which name each number means ` +
        'with --labels name0,name1,… (or "labels": ["name0", "name1", …] in dimp.config.json)',
      where,
    );
  }
  const distinct = numeric.size + named.size;
  if (options.checkPlausible !== false && (distinct > MAX_INFERRED_LABELS || (distinct > 2 && rows < 2 * distinct))) {
    // Maps keep insertion order: the first labels of the files, in file order.
    const sample: LabelSeen[] = [];
    for (const seen of named.size > 0 ? named.values() : numeric.values()) {
      sample.push(seen);
      if (sample.length === 5) break;
    }
    const why = distinct > MAX_INFERRED_LABELS ? `more than the ${MAX_INFERRED_LABELS} a label space may have` : 'fewer than 2 rows per label';
    throw new DimpError(
      'badInput',
      `${rows.toLocaleString('en-US')} rows${inFiles} hold ${distinct.toLocaleString('en-US')} distinct labels (${why}; first: ` +
        `${sample.map((s) => describeRawLabel(named.size > 0 ? s.label : Number(s.label))).join(', ')}, …): this does not look like a label field. ` +
        'Name the label field with --label-field NAME (or "fields" in dimp.config.json), or the classes with --labels A,B,…',
      where,
    );
  }
  if (distinct < 2) {
    const only = [...named.values(), ...numeric.values()][0];
    throw new DimpError(
      'badInput',
      only
        ? `a classifier needs at least 2 labels; every labelled row${inFiles} (${rows.toLocaleString('en-US')}) has ${describeRawLabel(only.label)}`
        : `a classifier needs at least 2 labels; no row${inFiles} has a label`,
      where,
    );
  }
  if (named.size > 0) return [...named.keys()].sort();
  return [...numeric.keys()].sort((a, b) => a - b).map(String);
}

/**
 * Infers a label list from raw labels (no file or line known), without the plausibility checks of
 * {@link inferLabelSpace}. A mix of
 * numbers and names cannot be lined up without being told, so it is an error that says how to set the labels.
 */
export function inferLabelNames(rawLabels: Iterable<RawLabel>): string[] {
  const lines: LabeledLine[] = [];
  let line = 0;
  for (const rawLabel of rawLabels) lines.push({ line: ++line, rawLabel });
  return inferLabelSpace([{ file: '', lines }], { checkPlausible: false });
}
