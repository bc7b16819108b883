import * as path from 'node:path';
import { promises as fs } from 'node:fs';
import { DEFAULT_MAX_ROW_BYTES } from './data/jsonl';
import { refuseToOverwriteInputs, type NamedPath } from './io/inputSafety';
import { parseJsonlFile } from './data/dataset';
import type { FieldOverrides } from './data/fields';
import { readJsonlLineBatches } from './data/jsonl';
import { DimpError } from './errors';
import type { FileHandle } from 'node:fs/promises';
import { outputTarget, stageFile, sweepStaleTemporaries, type StagedFile } from './io/atomic';
import { checkOutputPath } from './io/outputPaths';
import { pausePoint } from './io/pausePoint';
import { scoresByRowId, type RowScore, type Scores } from './weighting/score';

/** Which rows to keep. Exactly one of the thresholds, or a fraction. */
export interface CurationRule {
  /** Score to rank and threshold on. */
  by: 'weight' | 'quality';
  /** Keep this fraction (0–1) of scored rows with the highest score. */
  keepFraction?: number;
  /** Keep rows whose score is at least this. */
  minimum?: number;
  /**
   * Reject this fraction (0–1) of scored rows with the highest score first, whatever the rest of the rule
   * says: extreme weights in both directions are suspicious. With `keepFraction`, the kept rows are the
   * next ones down, `keepFraction` of all ranked rows, so `keepFraction = 1 − low − high` drops both tails.
   */
  dropHighestFraction?: number;
  /** Order of the curated file: the file's own order (default), or by score. */
  sort?: 'file' | 'ascending' | 'descending';
  /** Add `"weight"` (IMP weight) to each kept line's JSON. */
  addWeight?: boolean;
}

/** What curation did. */
export interface CurationSummary {
  kept: number;
  rejected: number;
  /** Lines that could not be used (bad JSON, missing fields…): written to the rejected file. */
  unusable: number;
  /** Usable lines with no score (changed since scoring): rejected, and counted. */
  unscored: number;
  threshold: number;
  /** Rows kept because they were marked as reviewed (included in `kept`). */
  keptReviewed?: number;
}

const scoreOf = (score: RowScore, by: CurationRule['by']): number => (by === 'weight' ? score.impWeight : score.quality);

/**
 * Splits a synthetic file into curated and rejected files by score. Each line's bytes are copied as
 * they are in the file (or, kept with `addWeight`, re-serialised with a `weight` field), ending in LF;
 * a line that is not valid UTF-8 or is over the row limit is rejected and copied byte for byte; every non-blank line lands in exactly one of the
 * two files, so nothing is lost. A keep-fraction always keeps at least one row. Both files are
 * published together (see `publishCuration`).
 */
export async function curateFile(
  syntheticFile: string,
  scores: Scores,
  rule: CurationRule,
  outputs: { curated: string; rejected?: string; overwrite?: boolean },
  options: {
    fields?: FieldOverrides;
    signal?: AbortSignal;
    /** Other inputs no output may land on (e.g. the scores file). */
    inputs?: NamedPath[];
    /** Longest line parsed, in bytes (default 1 MiB); longer lines are rejected, copied unchanged. */
    maxRowBytes?: number;
    /** Row ids marked as reviewed: always kept, and left out of the ranking the rule applies to. */
    alwaysKeep?: ReadonlySet<string>;
  } = {},
): Promise<CurationSummary> {
  if ((rule.keepFraction === undefined) === (rule.minimum === undefined)) throw new DimpError('usage', 'give exactly one of --keep-fraction or --min-weight/--min-quality');
  if (rule.keepFraction !== undefined && !(rule.keepFraction > 0 && rule.keepFraction <= 1)) throw new DimpError('usage', `--keep-fraction must be in (0, 1], got ${rule.keepFraction}`);
  if (rule.dropHighestFraction !== undefined && !(rule.dropHighestFraction >= 0 && rule.dropHighestFraction < 1)) throw new DimpError('usage', `the highest fraction to drop must be in [0, 1), got ${rule.dropHighestFraction}`);
  // Never over an input, whatever --force says; and the two outputs are two files.
  const written = [{ path: outputs.curated, role: 'curated file' }, ...(outputs.rejected ? [{ path: outputs.rejected, role: 'rejected file' }] : [])];
  await refuseToOverwriteInputs(written, [{ path: syntheticFile, role: 'synthetic file' }, ...(options.inputs ?? [])]);
  if (outputs.rejected) await refuseToOverwriteInputs([{ path: outputs.rejected, role: 'rejected file' }], [{ path: outputs.curated, role: 'curated file' }]);
  for (const target of [outputs.curated, outputs.rejected]) {
    if (target && !outputs.overwrite && (await fs.stat(target).catch(() => undefined))) {
      throw new DimpError('usage', 'output exists; pass --force to overwrite it', { file: target });
    }
  }
  // Output paths before any work; then what killed runs left there.
  for (const file of written) await checkOutputPath(file.path, file.role, 'file');
  for (const file of written) await sweepStaleTemporaries(path.dirname(await outputTarget(file.path)));
  const maxRowBytes = options.maxRowBytes ?? DEFAULT_MAX_ROW_BYTES;
  const parsed = await parseJsonlFile(syntheticFile, { fields: options.fields, signal: options.signal, maxRowBytes });
  const byId = scoresByRowId(scores);
  const scoreByLine = new Map<number, RowScore>();
  const reviewedLines = new Set<number>();
  for (const line of parsed.lines) {
    if (options.alwaysKeep?.has(line.rowId)) reviewedLines.add(line.line);
    const score = byId.get(line.rowId);
    if (score) scoreByLine.set(line.line, score);
  }
  // The rule ranks the scored rows not marked as reviewed: highest score first, ties in file order.
  const ranked = [...scoreByLine].filter(([line]) => !reviewedLines.has(line)).map(([line, score]) => ({ line, value: scoreOf(score, rule.by) }));
  ranked.sort((a, b) => b.value - a.value || a.line - b.line);
  const dropped = rule.dropHighestFraction ? Math.round(ranked.length * rule.dropHighestFraction) : 0;
  const candidates = ranked.slice(dropped);
  let keptRanked: typeof ranked;
  let threshold: number;
  if (rule.minimum !== undefined) {
    threshold = rule.minimum;
    keptRanked = candidates.filter((r) => r.value >= threshold);
  } else {
    // A fraction of all ranked rows (so 1 − low − high with dropHighestFraction drops both tails), at least one.
    keptRanked = candidates.slice(0, Math.max(1, Math.round(ranked.length * rule.keepFraction!)));
    threshold = keptRanked[keptRanked.length - 1]?.value ?? Infinity;
  }
  const keptLines = new Set(keptRanked.map((r) => r.line));

  const kept: { bytes: Uint8Array; score: number; line: number }[] = [];
  const rejected: Uint8Array[] = [];
  let unusable = 0;
  let unscored = 0;
  const usableLines = new Set(parsed.lines.map((l) => l.line));
  const handle = await fs.open(syntheticFile, 'r');
  try {
    // Each line is copied as the bytes it has in the file (not re-encoded), so a line the tool cannot
    // decode or parse reaches the rejected file unchanged.
    for await (const batch of readJsonlLineBatches(syntheticFile, options.signal, { maxLineBytes: maxRowBytes })) {
      for (const line of batch) {
        let bytes: Uint8Array | undefined = line.bytes;
        if (bytes === undefined) {
          // Over the row limit: not held while reading; read back from the file only to copy it.
          const buffer = Buffer.alloc(line.byteLength);
          const { bytesRead } = await handle.read(buffer, 0, line.byteLength, line.byteOffset);
          bytes = buffer.subarray(0, bytesRead);
        }
        if (line.problem === undefined && line.text.trim() === '') continue;
        const score = scoreByLine.get(line.line);
        const reviewed = reviewedLines.has(line.line);
        if (!score && !reviewed) {
          if (usableLines.has(line.line)) unscored += 1;
          else unusable += 1;
          rejected.push(bytes);
          continue;
        }
        if (reviewed || keptLines.has(line.line)) {
          const weight = score?.impWeight;
          const out = rule.addWeight && weight !== undefined ? Buffer.from(JSON.stringify({ ...(JSON.parse(line.text) as object), weight })) : bytes;
          kept.push({ bytes: out, score: score ? scoreOf(score, rule.by) : Number.NEGATIVE_INFINITY, line: line.line });
        } else rejected.push(bytes);
      }
    }
  } finally {
    await handle.close();
  }
  if (rule.sort === 'ascending') kept.sort((a, b) => a.score - b.score || a.line - b.line);
  if (rule.sort === 'descending') kept.sort((a, b) => b.score - a.score || a.line - b.line);
  await publishCuration(outputs.curated, kept.map((k) => k.bytes), outputs.rejected, rejected);
  return { kept: kept.length, rejected: rejected.length - unusable - unscored, unusable, unscored, threshold, ...(reviewedLines.size > 0 ? { keptReviewed: reviewedLines.size } : {}) };
}

/**
 * Publishes a curation's two files together. Both are written to temporaries and flushed first; then the
 * rejected file is renamed into place, then the curated file: the curated file's rename is the commit.
 * So a curated file on disk always has its own rejected file beside it: a crash before the commit leaves
 * the old curated file (with the old rejected file, or, in the instant between the two renames, the new
 * one, which the next run replaces); after it, both are new.
 */
async function publishCuration(curatedFile: string, kept: readonly Uint8Array[], rejectedFile: string | undefined, rejected: readonly Uint8Array[]): Promise<void> {
  // Each line's own bytes (never re-encoded), one newline after each.
  const newline = Buffer.from('\n');
  const fill = (lines: readonly Uint8Array[]) => async (handle: FileHandle): Promise<void> => {
    await handle.writeFile(Buffer.concat(lines.flatMap((l) => [l, newline])));
  };
  const staged: StagedFile[] = [];
  try {
    if (rejectedFile) staged.push(await stageFile(rejectedFile, fill(rejected)));
    staged.push(await stageFile(curatedFile, fill(kept)));
    await pausePoint('curate:staged');
  } catch (error) {
    for (const file of staged) await file.discard();
    throw error;
  }
  const [first, second] = staged;
  if (second) {
    try {
      await first!.commit();
    } catch (error) {
      await second.discard();
      throw error;
    }
    await pausePoint('curate:rejected-committed');
    await second.commit();
  } else await first!.commit();
}

/**
 * The rejected file that goes with a curated file, for the CLI and the editor alike: `x.curated.jsonl` →
 * `x.rejected.jsonl`; other names get `.rejected` before the extension (`out.jsonl` → `out.rejected.jsonl`).
 */
export function rejectedPathFor(curated: string): string {
  const ext = path.extname(curated);
  const base = curated.slice(0, curated.length - ext.length).replace(/\.curated$/, '');
  return `${base}.rejected${ext || '.jsonl'}`;
}
