/**
 * Export a scored synthetic file as a Hugging Face dataset folder: `data/train.jsonl` (the text field(s), the
 * label as a class index, and the q, d and IMP weight columns) and a `README.md` dataset card whose YAML
 * header declares the features (`label` a `class_label` with the label names) and the data files, so that
 * `datasets.load_dataset("json", data_files=…)` and `load_dataset(DIR)` read it as people expect. Rows the
 * scores do not cover (changed since scoring) and unusable lines are left out and counted. The folder is
 * written whole or not at all, never over an input.
 */
import * as path from 'node:path';
import { promises as fs } from 'node:fs';
import { parseJsonlFile } from './data/dataset';
import type { FieldOverrides } from './data/fields';
import { DimpError } from './errors';
import { writeFolderAtomic } from './io/atomic';
import { refuseToOverwriteInputs } from './io/inputSafety';
import { checkOutputPath } from './io/outputPaths';
import { scoresByRowId, type Scores } from './weighting/score';

export interface HfExportSummary {
  rows: number;
  unscored: number;
  unusable: number;
  folder: string;
}

/** YAML's single-quoted scalar: quotes doubled. */
const yamlString = (text: string): string => `'${text.replace(/'/g, "''")}'`;

/** The dataset card: YAML features and data files, then what the columns mean. */
export function datasetCard(options: { name: string; textFields: readonly string[]; labelField: string; labels: readonly string[]; rows: number; bytes: number; source: string }): string {
  const features = [
    ...options.textFields.map((field) => `  - name: ${yamlString(field)}\n    dtype: string`),
    `  - name: ${yamlString(options.labelField)}\n    dtype:\n      class_label:\n        names:\n${options.labels.map((name, i) => `          '${i}': ${yamlString(name)}`).join('\n')}`,
    ...['quality', 'diversity', 'imp_weight'].map((column) => `  - name: ${column}\n    dtype: float32`),
  ];
  return `---
dataset_info:
  features:
${features.join('\n')}
  splits:
  - name: train
    num_bytes: ${options.bytes}
    num_examples: ${options.rows}
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train.jsonl
---

# ${options.name}

LLM-generated rows from \`${options.source}\`, scored by DIMP Curator (IMP weights, Kuo et al., ICLR 2025).

| column | meaning |
|---|---|
${options.textFields.map((f) => `| \`${f}\` | the text, as in the source file |`).join('\n')}
| \`${options.labelField}\` | the label, a class index: ${options.labels.map((name, i) => `${i} = ${name}`).join(', ')} |
| \`quality\` | q: the quality checker's probability of the label (trained on real rows) |
| \`diversity\` | d: the diversity checker's probability of the label (trained on these rows) |
| \`imp_weight\` | the IMP weight q / d |

\`\`\`python
from datasets import load_dataset
ds = load_dataset("json", data_files="data/train.jsonl", split="train")
\`\`\`
`;
}

export async function exportHfDataset(
  syntheticFile: string,
  scores: Scores,
  folder: string,
  options: { fields?: FieldOverrides; maxRowBytes?: number; signal?: AbortSignal; inputs?: { path: string; role: string }[] } = {},
): Promise<HfExportSummary> {
  await refuseToOverwriteInputs([{ path: folder, role: 'dataset folder' }], [{ path: syntheticFile, role: 'synthetic file' }, ...(options.inputs ?? [])]);
  await checkOutputPath(folder, 'dataset folder', 'folder');
  if (await fs.stat(folder).catch(() => undefined)) throw new DimpError('usage', 'the dataset folder exists; choose a new one', { file: folder });
  const parsed = await parseJsonlFile(syntheticFile, { fields: options.fields, signal: options.signal, maxRowBytes: options.maxRowBytes });
  const byId = scoresByRowId(scores);
  const labels = scores.header.labels;
  const lines: string[] = [];
  let unscored = 0;
  for (const line of parsed.lines) {
    const score = byId.get(line.rowId);
    if (!score) {
      unscored += 1;
      continue;
    }
    const row: Record<string, unknown> = {};
    parsed.fields.text.forEach((field, i) => (row[field] = line.texts[i]));
    row[parsed.fields.label] = labels.indexOf(score.label);
    row.quality = score.quality;
    row.diversity = score.diversity;
    row.imp_weight = score.impWeight;
    lines.push(JSON.stringify(row));
  }
  const data = Buffer.from(lines.length ? lines.join('\n') + '\n' : '');
  const card = datasetCard({ name: path.basename(folder), textFields: parsed.fields.text, labelField: parsed.fields.label, labels, rows: lines.length, bytes: data.length, source: path.basename(syntheticFile) });
  await writeFolderAtomic(folder, async (tmp) => {
    await fs.mkdir(path.join(tmp, 'data'));
    await fs.writeFile(path.join(tmp, 'data', 'train.jsonl'), data);
    await fs.writeFile(path.join(tmp, 'README.md'), card);
  });
  return { rows: lines.length, unscored, unusable: parsed.problems.length, folder };
}
