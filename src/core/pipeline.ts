import type { FieldOverrides } from './data/fields';
import { describeProblems, describeUnusableFile, labelMapFor, parseJsonlFile, resolveLabels, type Dataset, type ParsedFile } from './data/dataset';
import { describeLabelNames, LabelMap } from './data/labels';
import { DimpError } from './errors';
import { readModelConfig } from './model/modelFolder';
import type { EventSink } from './events';

/** A dataset to read: its path and optional field overrides. */
export interface DatasetSource {
  path: string;
  fields?: FieldOverrides;
  /** Longest line (row) read, in bytes; longer ones are reported and skipped (default 1 MiB). */
  maxRowBytes?: number;
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
 * model's `id2label`, else the label space of the real file (the quality checker's training data; without
 * one, of the synthetic file). A line whose label is outside the map is skipped like any unusable line:
 * reported through `onEvent` with file and line. A file that gives no usable row at all is an error that
 * says why (empty, blank, CR-only line endings, a JSON array, …) and shows its first unusable lines.
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
    const file = await parseJsonlFile(source.path, { fields: source.fields, signal: options.signal, maxRowBytes: source.maxRowBytes });
    if (file.lines.length === 0) refuseUnusable(role, file, file.problems);
    parsed[role] = file;
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
    // The real rows define the classes the quality checker can know; other files' labels must be among them.
    const defining = parsed.real ?? parsed.synthetic ?? Object.values(parsed)[0];
    labelMap = labelMapFor(defining ? [defining] : []);
    labelSource = 'inferred from the data';
  }
  const data: ProjectData = { labelMap, labelSource };
  for (const [role, file] of Object.entries(parsed) as [Role, ParsedFile][]) {
    const dataset = resolveLabels(file, labelMap);
    data[role] = dataset;
    const problems = dataset.problems;
    if (dataset.rows.length === 0) refuseUnusable(role, file, problems, labelMap);
    if (problems.length > 0) {
      options.onEvent?.({
        type: 'log',
        level: 'warning',
        message: `${problems.length} unusable line(s) in ${file.file} skipped:\n${describeProblems(problems)}`,
      });
    }
  }
  return data;
}

/** The error for a file without one usable row: why, and its first unusable lines. */
function refuseUnusable(role: Role, file: ParsedFile, problems: ParsedFile['problems'], labelMap?: LabelMap): never {
  const why = file.lines.length > 0 && labelMap ? `no line has one of the labels (${describeLabelNames(labelMap.names)})` : describeUnusableFile(file);
  const shown = problems.length > 0 ? `\n${describeProblems(problems)}` : '';
  throw new DimpError('badInput', `no usable ${role} rows: ${why}${shown}`, { file: file.file });
}
