import { curateFile, rejectedPathFor, type CurationRule } from '../../core/curate';
import { DimpError, ExitCode } from '../../core/errors';
import { checkOutputPath } from '../../core/io/outputPaths';
import { readScores } from '../../core/weighting/score';
import { FIELD_OPTIONS, numberFlag, stringFlag, type Command } from '../command';
import { datasetSource } from '../settings';

/** `dimp-curator curate`. */
export const curateCommand: Command = {
  name: 'curate',
  summary: 'Split a synthetic file into curated and rejected files by IMP weight or quality.',
  details:
    'Every line lands in exactly one output (unusable and unscored lines go to the rejected file).\n\n' +
    'Examples:\n  dimp-curator curate --synthetic syn.jsonl --scores syn.scores.jsonl --keep-fraction 0.8 --out curated.jsonl\n' +
    '  dimp-curator curate --synthetic syn.jsonl --scores syn.scores.jsonl --min-quality 0.2 --sort descending --out curated.jsonl\n' +
    '  dimp-curator curate --synthetic syn.jsonl --scores syn.scores.jsonl --keep-fraction 0.9 --drop-highest 0.05 --out curated.jsonl',
  options: {
    synthetic: { type: 'string', value: 'FILE', description: 'synthetic JSONL that was scored' },
    scores: { type: 'string', value: 'FILE', description: 'its scores file' },
    out: { type: 'string', value: 'FILE', description: 'curated JSONL to write' },
    rejected: { type: 'string', value: 'FILE', description: 'rejected JSONL (default: x.rejected.jsonl for --out x.jsonl or x.curated.jsonl)' },
    'keep-fraction': { type: 'string', value: 'X', description: 'keep this fraction (0–1] with the highest score (see --by)' },
    by: { type: 'string', value: 'SCORE', description: 'rank --keep-fraction by weight (IMP weight, default) or quality' },
    'min-weight': { type: 'string', value: 'X', description: 'keep rows whose IMP weight is at least X' },
    'min-quality': { type: 'string', value: 'X', description: 'keep rows whose quality is at least X' },
    'drop-highest': {
      type: 'string',
      value: 'X',
      description: 'first reject this fraction [0–1) with the highest score: extreme weights in both directions are suspicious (--keep-fraction 0.9 --drop-highest 0.05 drops 5 % at each end)',
    },
    sort: { type: 'string', value: 'ORDER', description: 'file (default) | ascending | descending by score' },
    'add-weight': { type: 'boolean', description: 'add a "weight" field (IMP weight) to kept lines' },
    force: { type: 'boolean', description: 'overwrite existing outputs' },
    ...FIELD_OPTIONS,
  },
  async run(context) {
    const synthetic = datasetSource(context, 'synthetic', 'synthetic', true)!;
    const scoresFile = stringFlag(context.values, 'scores');
    const out = stringFlag(context.values, 'out');
    if (!scoresFile || !out) throw new DimpError('usage', 'curate needs --scores FILE and --out FILE');
    const minWeight = numberFlag(context.values, 'min-weight', { min: 0 });
    const minQuality = numberFlag(context.values, 'min-quality', { min: 0, max: 1 });
    if (minWeight !== undefined && minQuality !== undefined) throw new DimpError('usage', 'give --min-weight or --min-quality, not both');
    const sort = stringFlag(context.values, 'sort') ?? 'file';
    if (!['file', 'ascending', 'descending'].includes(sort)) throw new DimpError('usage', `--sort must be file, ascending or descending, got "${sort}"`);
    const by = stringFlag(context.values, 'by') ?? (minQuality !== undefined ? 'quality' : 'weight');
    if (by !== 'weight' && by !== 'quality') throw new DimpError('usage', `--by must be weight or quality, got "${by}"`);
    if ((by === 'quality' && minWeight !== undefined) || (by === 'weight' && minQuality !== undefined)) throw new DimpError('usage', `--by ${by} contradicts the threshold flag given`);
    const rule: CurationRule = {
      by,
      keepFraction: numberFlag(context.values, 'keep-fraction', { min: 0, max: 1 }),
      minimum: minWeight ?? minQuality,
      dropHighestFraction: numberFlag(context.values, 'drop-highest', { min: 0 }),
      sort: sort as CurationRule['sort'],
      addWeight: context.values['add-weight'] === true,
    };
    const rejected = stringFlag(context.values, 'rejected') ?? rejectedPathFor(out);
    // Outputs that cannot be written are refused before the scores are read (curateFile checks again).
    await checkOutputPath(out, 'curated file', 'file');
    await checkOutputPath(rejected, 'rejected file', 'file');
    const scores = await readScores(scoresFile);
    const summary = await curateFile(synthetic.path, scores, rule, { curated: out, rejected, overwrite: context.values.force === true }, { fields: synthetic.fields, maxRowBytes: synthetic.maxRowBytes, signal: context.signal, inputs: [{ path: scoresFile, role: 'scores file' }] });
    context.reporter.result(
      `kept ${summary.kept} rows → ${out}\nrejected ${summary.rejected} scored, ${summary.unscored} unscored and ${summary.unusable} unusable lines → ${rejected}\n` +
        `threshold: ${rule.by} ≥ ${summary.threshold.toPrecision(4)}`,
      { ...summary, curated: out, rejectedFile: rejected, by: rule.by },
    );
    return ExitCode.ok;
  },
};
