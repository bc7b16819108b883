import * as path from 'node:path';
import type { DatasetEntry, ProjectConfig } from './config';
import { parseJsonlFile } from './data/dataset';
import { inferLabelSpace } from './data/labels';
import { DimpError } from './errors';

/** The dataset roles of `dimp.config.json`. */
export type DatasetRole = 'synthetic' | 'real' | 'validation' | 'test';

/** Words in a file's name that say its role; checked in this order (a "real_test" file is a test set). */
const ROLE_WORDS: readonly (readonly [DatasetRole, RegExp])[] = [
  ['test', /^(test|testing|heldout|holdout)$/],
  ['validation', /^(val|valid|validation|dev|development)$/],
  ['synthetic', /^(synthetic|synth|generated|gen|llm|fake|augmented)$/],
  ['real', /^(real|gold|human|train|training|seed)$/],
];

/** The role a file's name suggests, from its words (`real_val.jsonl` → validation), or undefined. */
export function roleFromName(file: string): DatasetRole | undefined {
  const words = path.basename(file).toLowerCase().replace(/\.(jsonl|ndjson)$/, '').split(/[^a-z0-9]+/);
  return ROLE_WORDS.find(([, pattern]) => words.some((word) => pattern.test(word)))?.[0];
}

/** A drafted `dimp.config.json` and what the user should check in it. */
export interface ProjectDraft {
  config: ProjectConfig;
  /** One line per decision worth checking: which file got which role and why, what was left out. */
  notes: string[];
}

/**
 * Drafts a `dimp.config.json` for the folder `dir` from JSON Lines files (normally those open in the
 * editor): each file's role from its name (`synthetic`, `real`/`train`, `val`/`dev`, `test`; the file named
 * by `synthetic`, else the largest unnamed one, is the synthetic set), its text and label fields as detected,
 * and the labels of the real rows (else the synthetic ones). Paths are written relative to `dir`. A file
 * whose fields cannot be detected is left out with a note; no usable synthetic file is an error.
 */
export async function draftProjectConfig(dir: string, files: readonly string[], options: { synthetic?: string; signal?: AbortSignal } = {}): Promise<ProjectDraft> {
  const notes: string[] = [];
  const parsed = [];
  for (const file of [...new Set(files.map((f) => path.resolve(f)))]) {
    try {
      parsed.push(await parseJsonlFile(file, { signal: options.signal }));
    } catch (error) {
      if (!(error instanceof DimpError)) throw error;
      notes.push(`left out ${path.relative(dir, file)}: ${error.message}`);
    }
  }
  const roles = new Map<DatasetRole, (typeof parsed)[number]>();
  const synthetic = options.synthetic === undefined ? undefined : parsed.find((p) => p.file === path.resolve(options.synthetic as string));
  if (synthetic) roles.set('synthetic', synthetic);
  for (const file of parsed) {
    const role = roleFromName(file.file);
    if (file !== synthetic && role && !roles.has(role)) roles.set(role, file);
  }
  const chosen = (): Set<unknown> => new Set(roles.values());
  if (!roles.has('synthetic')) {
    const largestUnchosen = parsed.filter((p) => !chosen().has(p)).sort((a, b) => b.lines.length - a.lines.length)[0];
    if (!largestUnchosen) throw new DimpError('usage', 'no synthetic JSON Lines file to describe: open the generated data (one labelled row per line), then try again', { file: dir });
    roles.set('synthetic', largestUnchosen);
  }
  for (const file of parsed) {
    if (chosen().has(file)) continue;
    const role = roleFromName(file.file);
    notes.push(`left out ${path.relative(dir, file.file)}: ${role ? `another ${role} file is chosen` : 'its name does not say its role'}`);
  }
  const datasets: Partial<Record<DatasetRole, DatasetEntry>> = {};
  for (const role of ['synthetic', 'real', 'validation', 'test'] as const) {
    const file = roles.get(role);
    if (!file) continue;
    const relative = path.relative(dir, file.file).split(path.sep).join('/');
    datasets[role] = { path: relative, fields: { text: file.fields.text.length === 1 ? file.fields.text[0] : file.fields.text, label: file.fields.label } };
    notes.push(`${role}: ${relative} (${file.lines.length.toLocaleString('en-US')} rows; text ${file.fields.text.join(' + ')}, label ${file.fields.label})`);
  }
  if (!roles.has('real')) notes.push('no real labelled file: add "real" (a few hundred real rows train the quality checker)');
  const labelSource = roles.get('real') ?? roles.get('synthetic')!;
  const labels = inferLabelSpace([{ file: labelSource.file, lines: labelSource.lines }]);
  notes.push(`labels from ${path.relative(dir, labelSource.file)}: ${labels.join(', ')} (class-index order: reorder them if your data's indices mean otherwise)`);
  return { config: { labels, datasets, training: { loss: 'dimp' } }, notes };
}
