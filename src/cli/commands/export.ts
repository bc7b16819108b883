import { DimpError, ExitCode } from '../../core/errors';
import { exportHfDataset } from '../../core/hfDataset';
import { readScores } from '../../core/weighting/score';
import { FIELD_OPTIONS, stringFlag, type Command } from '../command';
import { datasetSource } from '../settings';

/** `dimp-curator export`. */
export const exportCommand: Command = {
  name: 'export',
  summary: 'Write a scored synthetic file as a Hugging Face dataset folder (JSON Lines + dataset card).',
  details:
    'The folder holds data/train.jsonl (the text field(s), the label as a class index, quality, diversity,\n' +
    'imp_weight) and README.md, a dataset card declaring the label names as a class_label. Rows changed since\n' +
    'scoring and unusable lines are left out (counted). Load it with\n' +
    '  datasets.load_dataset("json", data_files="DIR/data/train.jsonl", split="train")  or  load_dataset("DIR").\n\n' +
    'Example:\n  dimp-curator export --synthetic syn.jsonl --scores syn.scores.jsonl --out syn-hf',
  options: {
    synthetic: { type: 'string', value: 'FILE', description: 'synthetic JSONL that was scored' },
    scores: { type: 'string', value: 'FILE', description: 'its scores file' },
    out: { type: 'string', value: 'DIR', description: 'dataset folder to create (must not exist)' },
    ...FIELD_OPTIONS,
  },
  async run(context) {
    const synthetic = datasetSource(context, 'synthetic', 'synthetic', true)!;
    const scoresFile = stringFlag(context.values, 'scores');
    const out = stringFlag(context.values, 'out');
    if (!scoresFile || !out) throw new DimpError('usage', 'export needs --scores FILE and --out DIR');
    const scores = await readScores(scoresFile);
    const summary = await exportHfDataset(synthetic.path, scores, out, {
      fields: synthetic.fields,
      maxRowBytes: synthetic.maxRowBytes,
      signal: context.signal,
      inputs: [{ path: scoresFile, role: 'scores file' }],
    });
    context.reporter.result(
      `${summary.rows} rows → ${out}/data/train.jsonl (dataset card: ${out}/README.md)` +
        (summary.unscored + summary.unusable > 0 ? `\nleft out: ${summary.unscored} rows changed since scoring, ${summary.unusable} unusable lines` : ''),
      summary,
    );
    return ExitCode.ok;
  },
};
