import type { FieldOverrides } from './data/fields';
import { labelMapFor, parseJsonlFile, resolveLabels, type Dataset, type ParsedFile } from './data/dataset';
import { LabelMap } from './data/labels';
import { readModelConfig } from './model/modelFolder';
import type { EventSink } from './events';

/** A dataset to read: its path and optional field overrides. */
export interface DatasetSource {
  path: string;
  fields?: FieldOverrides;
}

/** The files of one job, read and labelled through a single label map. */
export interface ProjectData {
  labelMap: LabelMap;
  /** Where the label map came from, for the user. */
  labelSource: string;
  synthetic?: Dataset;
  real?: Dataset;
  validation?: Dataset;
  test?: Dataset;
}

type Role = 'synthetic' | 'real' | 'validation' | 'test';

/**
 * Reads every named file and lines their labels up through one map: the given names, else the quality
 * model's `id2label`, else names inferred from all files together. Unusable lines are reported
 * through `onEvent` with file and line, and skipped.
 */
export async function loadProjectData(
  sources: Partial<Record<Role, DatasetSource>>,
  options: { labels?: readonly string[]; qualityModel?: string; signal?: AbortSignal; onEvent?: EventSink } = {},
): Promise<ProjectData> {
  const parsed: Partial<Record<Role, ParsedFile>> = {};
  for (const role of ['synthetic', 'real', 'validation', 'test'] as const) {
    const source = sources[role];
    if (!source) continue;
    options.onEvent?.({ type: 'score-progress', stage: 'read', done: 0, total: 0, message: `reading ${role} data ${source.path}` });
    parsed[role] = await parseJsonlFile(source.path, { fields: source.fields, signal: options.signal });
  }
  let labelMap: LabelMap;
  let labelSource: string;
  if (options.labels && options.labels.length > 0) {
    labelMap = new LabelMap(options.labels);
    labelSource = 'settings';
  } else if (options.qualityModel) {
    labelMap = (await readModelConfig(options.qualityModel)).labelMap;
    labelSource = `id2label of ${options.qualityModel}`;
  } else {
    labelMap = labelMapFor(Object.values(parsed));
    labelSource = 'inferred from the data';
  }
  const data: ProjectData = { labelMap, labelSource };
  for (const [role, file] of Object.entries(parsed) as [Role, ParsedFile][]) {
    const dataset = resolveLabels(file, labelMap);
    data[role] = dataset;
    const problems = dataset.problems;
    if (problems.length > 0) {
      const shown = problems.slice(0, 5).map((p) => `  ${p.file}:${p.line}: ${p.reason}`).join('\n');
      options.onEvent?.({
        type: 'log',
        level: 'warning',
        message: `${problems.length} unusable line(s) in ${file.file} skipped:\n${shown}${problems.length > 5 ? `\n  … and ${problems.length - 5} more` : ''}`,
      });
    }
  }
  return data;
}
