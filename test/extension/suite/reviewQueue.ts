/**
 * Extension-host tests of the review queue: filters, both orders, Mark as Reviewed persisted by row id and
 * honoured by Export, the both-tails export rule, and the near-duplicate group action. They run on the
 * sample after it was scored, and leave the file, the marks and the queue as they found them.
 */
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { CurationSummary } from '../../../src/core/curate';
import { parseLineState } from '../../../src/core/view/lineRows';
import { normaliseText } from '../../../src/core/view/reviewQueue';
import { readScores, type RowScore } from '../../../src/core/weighting/score';
import type { DimpCuratorApi } from '../../../src/extension/extension';
import type { ReviewQueueRow } from '../../../src/extension/review/reviewQueueView';
import { test, waitFor } from './harness';

type TestingApi = DimpCuratorApi['testing'];

const FIELDS = { text: ['sentence'] as [string], label: 'label' };

/** The weight shown in a queue row's label ("w 0.123 · label x"). */
const shownWeight = (row: ReviewQueueRow): number => Number(/^w ([\d.e+-]+) ·/.exec(row.label)![1]);

/** The stored scores of the sample, one per row id, each with its weight percentile (computed here, independently). */
async function storedRows(api: TestingApi, uri: vscode.Uri): Promise<(RowScore & { percentile: number })[]> {
  const stored = await readScores(api.storageFor(uri).scoresFile);
  const unique = new Map<string, RowScore & { percentile: number }>();
  for (const row of stored.rows) if (!unique.has(row.rowId)) unique.set(row.rowId, { ...row, percentile: 0 });
  const sorted = [...unique.values()].sort((a, b) => a.impWeight - b.impWeight);
  let rank = 0;
  sorted.forEach((row, i) => {
    if (i > 0 && sorted[i - 1]!.impWeight !== row.impWeight) rank = i;
    row.percentile = (100 * rank) / (sorted.length - 1);
  });
  return sorted;
}

/** Registers the review queue tests; they need the sample scored (by the tests before them). */
export function registerReviewQueueTests(getApi: () => TestingApi, workspace: () => string): void {
  const syntheticUri = (): vscode.Uri => vscode.Uri.file(path.join(workspace(), 'synthetic.jsonl'));
  const editor = async (): Promise<vscode.TextEditor> => vscode.window.showTextDocument(await vscode.workspace.openTextDocument(syntheticUri()), { preview: false });
  const filter = (value: object): Thenable<unknown> => vscode.commands.executeCommand('dimpCurator.filterReviewQueue', value);
  let original = '';

  test('review queue: lowest first and highest first, by weight and by quality', async () => {
    const api = getApi();
    original = (await editor()).document.getText();
    const rows = await storedRows(api, syntheticUri());
    await filter({});
    await vscode.commands.executeCommand('dimpCurator.reviewLowestFirst', 'impWeight');
    const lowest = await api.reviewQueue();
    assert.equal(lowest.mode, 'rows');
    assert.equal(lowest.matching, rows.length, 'every distinct row matches an empty filter');
    const byWeightThenLine = [...rows].sort((a, b) => a.impWeight - b.impWeight || a.line - b.line);
    assert.equal(lowest.rows[0]!.line, byWeightThenLine[0]!.line, `lowest weight first: ${JSON.stringify(lowest.rows[0])}`);
    const ascending = lowest.rows.map(shownWeight);
    for (let i = 1; i < ascending.length; i++) assert.ok(ascending[i]! >= ascending[i - 1]!, `ascending at ${i}`);
    assert.match(lowest.description ?? '', /lowest IMP weight first/);

    await vscode.commands.executeCommand('dimpCurator.reviewHighestFirst');
    const highest = await api.reviewQueue();
    const top = [...rows].sort((a, b) => b.impWeight - a.impWeight || a.line - b.line)[0]!;
    assert.equal(highest.rows[0]!.line, top.line, `highest weight first: ${JSON.stringify(highest.rows[0])}`);
    const descending = highest.rows.map(shownWeight);
    for (let i = 1; i < descending.length; i++) assert.ok(descending[i]! <= descending[i - 1]!, `descending at ${i}`);
    assert.ok(highest.rows[0]!.flags.includes('extremeWeight'), 'the highest weight is flagged as extreme');
    assert.match(highest.description ?? '', /highest IMP weight first/);

    await vscode.commands.executeCommand('dimpCurator.reviewLowestFirst', 'quality');
    const lowQuality = await api.reviewQueue();
    const byQuality = [...rows].sort((a, b) => a.quality - b.quality || a.line - b.line);
    assert.equal(lowQuality.rows[0]!.line, byQuality[0]!.line, 'lowest quality first');
    assert.match(lowQuality.rows[0]!.label, /^q /);
    await vscode.commands.executeCommand('dimpCurator.reviewLowestFirst', 'impWeight');
  });

  test('review queue: filters by weight range and label, flag, and text', async () => {
    const api = getApi();
    const document = (await editor()).document;
    const rows = await storedRows(api, syntheticUri());

    await filter({ weight: { min: 0.5, max: 1 }, label: 'positive' });
    const ranged = await api.reviewQueue();
    const expected = rows.filter((r) => r.label === 'positive' && Math.fround(r.impWeight) >= 0.5 && Math.fround(r.impWeight) <= 1);
    assert.equal(ranged.matching, expected.length, 'as many rows as the stored scores have in range with that label');
    assert.ok(ranged.rows.every((r) => r.label.endsWith('· label positive') && shownWeight(r) >= 0.499 && shownWeight(r) <= 1.005), 'only positive rows in range');
    assert.match(ranged.description ?? '', /w 0\.5–1 · label positive/);

    await filter({ flag: 'extremeWeight' });
    const extreme = await api.reviewQueue();
    const tails = rows.filter((r) => r.percentile < 5 || r.percentile > 95);
    assert.equal(extreme.matching, tails.length, 'both 5 % tails');
    assert.ok(extreme.rows.every((r) => r.flags.includes('extremeWeight')));

    await filter({ flag: 'mislabelled' });
    const flagged = await api.reviewQueue();
    const contradicted = rows.filter((r) => r.qualityLabel !== r.label && r.qualityLabelProbability >= 0.8);
    assert.equal(flagged.matching, contradicted.length, 'the rows the quality checker contradicts');

    await filter({ text: 'Five STARS' });
    const found = await api.reviewQueue();
    assert.ok(found.matching > 0, 'the sample has rows saying five stars');
    for (const row of found.rows) assert.ok(normaliseText(document.lineAt(row.line - 1).text).includes('five stars'), `line ${row.line} says five stars`);
    await vscode.commands.executeCommand('dimpCurator.clearReviewQueueFilter');
    assert.equal((await api.reviewQueue()).matching, rows.length);
  });

  test('review queue: Mark as Reviewed persists by row id and Export always keeps marked rows', async () => {
    const api = getApi();
    const uri = syntheticUri();
    const document = (await editor()).document;
    const [first, second] = (await api.reviewQueue()).rows; // the two lowest weights
    await vscode.commands.executeCommand('dimpCurator.markReviewed', { uri, lines: [first!.line, second!.line] });
    const marksFile = api.reviewMarksFile(uri);
    assert.ok(existsSync(marksFile), `marks stored at ${marksFile}`);
    const idOf = (line: number): string => {
      const state = parseLineState(document.lineAt(line - 1).text, FIELDS, undefined);
      assert.equal(state.kind, 'row');
      return state.kind === 'row' ? state.rowId : '';
    };
    const stored = JSON.parse(readFileSync(marksFile, 'utf8')) as { reviewed: string[] };
    assert.deepEqual(stored.reviewed, [idOf(first!.line), idOf(second!.line)].sort(), 'the row ids, next to the scores');
    await filter({ reviewed: 'only' });
    const marked = await api.reviewQueue();
    assert.deepEqual(
      marked.rows.map((r) => r.line).sort((a, b) => a - b),
      [first!.line, second!.line].sort((a, b) => a - b),
    );
    assert.ok(marked.rows.every((r) => r.reviewed));
    await filter({});

    // Keep half by weight: the two lowest weights would be rejected, but they are marked.
    const curated = vscode.Uri.file(path.join(workspace(), 'out', 'reviewed.curated.jsonl'));
    const summary = await vscode.commands.executeCommand<CurationSummary>('dimpCurator.exportCuratedDataset', { uri, rule: { by: 'weight', keepFraction: 0.5 }, curated, overwrite: true });
    assert.ok(summary, 'the export ran');
    assert.ok((summary.keptReviewed ?? 0) >= 2, `marked rows kept: ${summary.keptReviewed} (exact duplicate lines of a marked row count too)`);
    const kept = new Set(readFileSync(curated.fsPath, 'utf8').trim().split('\n'));
    for (const row of [first!, second!]) assert.ok(kept.has(document.lineAt(row.line - 1).text), `marked line ${row.line} is kept`);
  });

  test('Export can drop both tails; marked rows are still kept', async () => {
    const api = getApi();
    const uri = syntheticUri();
    const document = (await editor()).document;
    await vscode.commands.executeCommand('dimpCurator.reviewHighestFirst');
    const top = (await api.reviewQueue()).rows[0]!;
    await vscode.commands.executeCommand('dimpCurator.reviewLowestFirst');
    const curated = vscode.Uri.file(path.join(workspace(), 'out', 'tails.curated.jsonl'));
    const summary = await vscode.commands.executeCommand<CurationSummary>('dimpCurator.exportCuratedDataset', {
      uri,
      rule: { by: 'weight', keepFraction: 0.9, dropHighestFraction: 0.05 },
      curated,
      overwrite: true,
    });
    assert.ok(summary);
    const kept = new Set(readFileSync(curated.fsPath, 'utf8').trim().split('\n'));
    const rejected = new Set(readFileSync(path.join(workspace(), 'out', 'tails.rejected.jsonl'), 'utf8').trim().split('\n'));
    assert.ok(rejected.has(document.lineAt(top.line - 1).text), 'the highest weight is rejected');
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', uri, new vscode.Position(top.line - 1, 3));
    const hover = hovers.flatMap((h) => h.contents).map((c) => (typeof c === 'string' ? c : c.value)).join('\n');
    assert.match(hover, /Extreme weight\*\* \(top 5 % of this file\): as suspicious as the lowest/, 'the hover of the highest weight says it is suspicious');
    const marked = (await api.reviewQueue()).rows.filter((r) => r.reviewed);
    assert.equal(marked.length, 2);
    for (const row of marked) assert.ok(kept.has(document.lineAt(row.line - 1).text), 'marked rows (the lowest weights) are kept');
    // Unmark, so the tests after these see the file as it was.
    await vscode.commands.executeCommand('dimpCurator.unmarkReviewed', { uri, lines: marked.map((r) => r.line) });
    assert.equal((await api.reviewQueue()).rows.filter((r) => r.reviewed).length, 0);
    assert.deepEqual((JSON.parse(readFileSync(api.reviewMarksFile(uri), 'utf8')) as { reviewed: string[] }).reviewed, []);
  });

  test('review queue: near-duplicate groups; Keep One, Delete the Others is one undoable edit', async () => {
    const api = getApi();
    const textEditor = await editor();
    const document = textEditor.document;
    await vscode.commands.executeCommand('dimpCurator.showNearDuplicateGroups');
    const state = await api.reviewQueue();
    assert.equal(state.mode, 'duplicates');
    assert.ok(state.groups.length > 50, `the sample's near duplicates are grouped: ${state.groups.length} groups`);
    const group = state.groups[0]!;
    assert.ok(group.lines.length >= 2);
    for (const line of group.lines) {
      const text = (JSON.parse(document.lineAt(line - 1).text) as { sentence: string }).sentence;
      assert.equal(normaliseText(text), group.key, `line ${line} has the group's normalised text`);
    }
    const keptText = document.lineAt(group.lines[0]! - 1).text;
    const deletedTexts = group.lines.slice(1).map((line) => document.lineAt(line - 1).text);
    const lineCount = document.lineCount;
    assert.equal(await vscode.commands.executeCommand('dimpCurator.keepOneDuplicate', { groupKey: group.key }), true);
    assert.equal(document.lineCount, lineCount - (group.lines.length - 1), 'the others are deleted');
    assert.equal(document.lineAt(group.lines[0]! - 1).text, keptText, 'the first one is kept');
    const after = document.getText();
    for (const text of deletedTexts) if (text !== keptText) assert.ok(!after.includes(text + '\n'), 'a deleted duplicate is gone');
    const regrouped = await waitFor('the group to go', async () => {
      const now = await api.reviewQueue();
      return !now.groups.some((g) => g.key === group.key) && now;
    });
    assert.equal(regrouped.matching, state.matching - 1);
    await editor(); // undo acts on the focused editor; the queue's commands focused the view
    await vscode.commands.executeCommand('undo');
    assert.equal(document.getText(), original, 'one undo brings every deleted line back');
    await vscode.commands.executeCommand('dimpCurator.showReviewQueueRows');
    assert.equal((await api.reviewQueue()).mode, 'rows');
    if (document.isDirty) await document.save();
  });
}
