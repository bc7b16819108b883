/**
 * Extension-host tests: they run inside a real VS Code (the server from code-server, started by
 * ../runner.mjs) against a copy of the bundled sample, and drive the extension through its commands and
 * VS Code's own providers API (hovers, diagnostics, code actions).
 */
import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ProjectConfig } from '../../../src/core/config';
import type { CurationSummary } from '../../../src/core/curate';
import type { ProjectDraft } from '../../../src/core/projectDraft';
import { parseLineState } from '../../../src/core/view/lineRows';
import { formatScore } from '../../../src/core/view/weightHeat';
import { readScores, type RowScore } from '../../../src/core/weighting/score';
import type { DimpCuratorApi } from '../../../src/extension/extension';
import type { ScoreMeta } from '../../../src/protocol/scoring';
import { runRegisteredTests, sleep, test, waitFor } from './harness';
import { registerReviewQueueTests } from './reviewQueue';
import { registerFineTuneTests } from './finetune';
import { registerPytorchEngineTests } from './pytorchEngine';
import { registerTrainingTests } from './training';

const workspace = (): string => {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'the tests need the sample workspace open');
  return folder.uri.fsPath;
};
const syntheticUri = (): vscode.Uri => vscode.Uri.file(path.join(workspace(), 'synthetic.jsonl'));

let api: DimpCuratorApi['testing'];
let scores: Map<string, RowScore & { percentile: number }>;
let original: string;

async function syntheticEditor(): Promise<vscode.TextEditor> {
  const document = await vscode.workspace.openTextDocument(syntheticUri());
  return vscode.window.showTextDocument(document, { preview: false });
}

/** The stored score of a 0-based line of the active editor, found by the row id the core computes for its text. */
function scoreOfLine(line: number): RowScore & { percentile: number } {
  const text = vscode.window.activeTextEditor!.document.lineAt(line).text;
  const state = parseLineState(text, { text: ['sentence'], label: 'label' }, undefined);
  assert.equal(state.kind, 'row', `line ${line + 1} is a row`);
  const score = state.kind === 'row' ? scores.get(state.rowId) : undefined;
  assert.ok(score, `no score for line ${line + 1}: ${text.slice(0, 80)}`);
  return score;
}

/** The badge shows the row's IMP weight (three significant digits) and quality. */
function assertBadgeShows(badge: string | undefined, score: RowScore, where: string): void {
  assert.match(badge ?? '', /^w [\d.e+-]+ · q [\d.e+-]+$/, `badge of ${where}`);
  const shown = Number(badge!.split(' ')[1]);
  assert.ok(Math.abs(shown - score.impWeight) <= 0.005 * score.impWeight, `weight in the badge of ${where}: ${shown} vs ${score.impWeight}`);
}

function expectedBucket(percentile: number): string {
  if (percentile < 10) return 'lowest';
  if (percentile < 25) return 'low';
  if (percentile < 75) return 'middle';
  if (percentile <= 95) return 'high';
  return 'highest';
}

const bucketOf = (applied: NonNullable<ReturnType<DimpCuratorApi['testing']['decorationsFor']>>, line: number): string | undefined =>
  Object.entries(applied.buckets).find(([, lines]) => lines.includes(line))?.[0];

async function hoverText(uri: vscode.Uri, line: number): Promise<string> {
  const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', uri, new vscode.Position(line, 3));
  return hovers
    .flatMap((h) => h.contents)
    .map((c) => (typeof c === 'string' ? c : c.value))
    .join('\n');
}

const dimpDiagnostics = (uri: vscode.Uri): vscode.Diagnostic[] => vscode.languages.getDiagnostics(uri).filter((d) => d.source === 'DIMP');

test('the extension activates and exports its test accessor', async () => {
  const extension = vscode.extensions.getExtension<DimpCuratorApi>('dimp-curator.dimp-curator');
  assert.ok(extension, 'extension not found');
  api = (await extension.activate()).testing;
  assert.ok(api, 'activate() returns { testing }');
  assert.match(api.statusBarText(), /DIMP · auto/);
});

test('Score Synthetic Data scores the open file in the worker and stores the scores by row id', async () => {
  const editor = await syntheticEditor();
  original = editor.document.getText();
  const started = Date.now();
  await vscode.commands.executeCommand('dimpCurator.scoreSyntheticData', syntheticUri());
  await waitFor('the scoring job to end', () => api.idle());
  const storage = api.storageFor(syntheticUri());
  assert.ok(existsSync(storage.scoresFile), `scores stored at ${storage.scoresFile}`);
  const stored = await readScores(storage.scoresFile);
  assert.equal(stored.header.labels.join(','), 'negative,neutral,positive');
  // Each distinct row once (the sample has exact duplicate lines); percentiles computed here, independently:
  // the share of rows with a lower IMP weight.
  scores = new Map();
  for (const row of stored.rows) if (!scores.has(row.rowId)) scores.set(row.rowId, { ...row, percentile: 0 });
  const unique = [...scores.values()].sort((a, b) => a.impWeight - b.impWeight);
  let rank = 0;
  unique.forEach((row, i) => {
    if (i > 0 && unique[i - 1]!.impWeight !== row.impWeight) rank = i;
    row.percentile = (100 * rank) / (unique.length - 1);
  });
  assert.equal(stored.rows.length, 4000, 'every line scored');
  console.log(`scored in ${Date.now() - started} ms`);
});

test('Cancel Scoring is offered only while a file is scored; a cancelled scoring keeps the stored scores', async () => {
  const uri = syntheticUri();
  const scoresFile = api.storageFor(uri).scoresFile;
  const stored = readFileSync(scoresFile);
  assert.equal(api.contextKeys()['dimpCurator.scoring'], false, 'not offered while nothing is scored');
  // The scoring worker (started per job, with this process's environment) holds at a pause point once its
  // diversity checker is saved, so the checks below always land mid-job, however fast the machine.
  process.env.DIMP_CURATOR_TEST_PAUSE_AT = 'score:diversity-checker-saved';
  try {
    const scoring = vscode.commands.executeCommand('dimpCurator.scoreSyntheticData', uri);
    await waitFor('the scoring job to start', () => api.contextKeys()['dimpCurator.scoring'] === true);
    await vscode.commands.executeCommand('dimpCurator.cancelScoring');
    await scoring;
    await waitFor('the job to end', () => api.idle() && api.contextKeys()['dimpCurator.scoring'] === false);
  } finally {
    delete process.env.DIMP_CURATOR_TEST_PAUSE_AT;
  }
  assert.ok(readFileSync(scoresFile).equals(stored), 'the stored scores are unchanged');
  assert.ok(api.messages().some((m) => /scoring of synthetic\.jsonl cancelled/.test(m.text)), `the user is told: ${api.messages().map((m) => m.text).join(' | ')}`);
});

test('changing the weight cap offers to score again (the weights shown were computed with the old one)', async () => {
  const config = vscode.workspace.getConfiguration('dimpCurator');
  const before = api.messages().length;
  await config.update('maxWeight', 50, vscode.ConfigurationTarget.Workspace);
  try {
    const offer = await waitFor('the offer to score again', () => api.messages().slice(before).find((m) => /dimpCurator\.maxWeight changed/.test(m.text)));
    assert.match(offer.text, /stay so until synthetic\.jsonl is scored again/);
  } finally {
    await config.update('maxWeight', undefined, vscode.ConfigurationTarget.Workspace);
  }
});

test('decorations: each visible row carries its heat bucket and weight badge; only visible lines are decorated', async () => {
  const editor = await syntheticEditor();
  const uri = syntheticUri();
  const applied = await waitFor('decorations', () => api.decorationsFor(uri));
  const visible = editor.visibleRanges[0]!;
  for (let line = visible.start.line; line <= visible.end.line; line++) {
    const score = scoreOfLine(line);
    const bucket = bucketOf(applied, line);
    const expected = expectedBucket(score.percentile);
    const nearEdge = [10, 25, 75, 95].some((edge) => Math.abs(score.percentile - edge) < 0.1);
    assert.ok(bucket === expected || nearEdge, `line ${line + 1}: percentile ${score.percentile.toFixed(2)} → ${expected}, decorated ${bucket}`);
    assertBadgeShows(applied.badges[line], score, `line ${line + 1}`);
  }
  const decorated = Object.values(applied.buckets).flat();
  assert.ok(decorated.length < 400, `only visible lines (plus overscan) are decorated, not all 4000: ${decorated.length}`);
  assert.ok(!decorated.includes(3999), 'the last line is not decorated while the top is shown');
  // Scrolling to the end moves the decorated window.
  editor.revealRange(new vscode.Range(3999, 0, 3999, 0), vscode.TextEditorRevealType.InCenter);
  const scrolled = await waitFor('decorations at the end', () => {
    const now = api.decorationsFor(uri);
    return now && Object.values(now.buckets).flat().includes(3999) && now;
  });
  assert.ok(!Object.values(scrolled.buckets).flat().includes(0), 'the first line is no longer decorated');
  editor.revealRange(new vscode.Range(0, 0, 0, 0), vscode.TextEditorRevealType.AtTop);
  await waitFor('decorations back at the top', () => api.decorationsFor(uri)?.buckets && Object.values(api.decorationsFor(uri)!.buckets).flat().includes(0));
});

test('hover shows label, q, d, IMP weight, DIMP weight, percentile, preferred label and the models', async () => {
  const uri = syntheticUri();
  const score = scoreOfLine(2);
  const text = await hoverText(uri, 2);
  for (const expected of [
    `| label | ${score.label} |`,
    'quality q = P̂′(y\\|x)',
    'diversity d = Q̂(y\\|x)',
    'IMP weight q / d',
    'last DIMP weight | no DIMP run yet',
    'percentile (IMP weight)',
    `quality checker prefers | ${score.qualityLabel}`,
    'Quality checker: built-in n-gram (dim 64, 3 labels), trained on real\\_train.jsonl',
    'Diversity checker: built-in n-gram (dim 64, 3 labels), trained on synthetic.jsonl',
    'Execution provider: cpu',
  ]) {
    assert.ok(text.includes(expected), `hover contains "${expected}":\n${text}`);
  }
  assert.ok(text.includes(`| ${formatScore(score.quality)} |`), `hover shows q = ${formatScore(score.quality)}:\n${text}`);
  assert.ok(text.includes(`percentile (IMP weight) | ${Math.round(score.percentile)} |`), `hover shows the percentile ${Math.round(score.percentile)}:\n${text}`);
});

test('the hover never says "0th percentile", and says why w ≈ q when d ≈ 1', async () => {
  const uri = syntheticUri();
  await syntheticEditor();
  const lowest = [...scores.values()].sort((a, b) => a.impWeight - b.impWeight)[0]!;
  const low = await hoverText(uri, lowest.line - 1);
  assert.match(low, /lowest 1 % of this file/, `the lowest row's hover:\n${low}`);
  assert.doesNotMatch(low, /\b0th percentile/);
  const certain = [...scores.values()].find((r) => r.diversity >= 0.995);
  assert.ok(certain, 'the sample has rows the diversity checker is sure of');
  const sure = await hoverText(uri, certain.line - 1);
  assert.match(sure, /≈ 1: the diversity checker is sure of this label, so w ≈ q/, `the hover of line ${certain.line}:\n${sure}`);
});

test('Problems: likely mislabelled rows are warnings on their lines', async () => {
  const uri = syntheticUri();
  const document = vscode.window.activeTextEditor!.document;
  const expectedLines = new Set<number>();
  for (let line = 0; line < document.lineCount; line++) {
    if (!document.lineAt(line).text.trim()) continue;
    const score = scoreOfLine(line);
    if (score.qualityLabel !== score.label && score.qualityLabelProbability >= 0.8) expectedLines.add(line);
  }
  const diagnostics = await waitFor('diagnostics', () => dimpDiagnostics(uri).length > 0 && dimpDiagnostics(uri));
  const warnings = diagnostics.filter((d) => d.severity === vscode.DiagnosticSeverity.Warning);
  assert.equal(diagnostics.filter((d) => d.severity === vscode.DiagnosticSeverity.Error).length, 0, 'the sample has no unusable lines');
  // The quality checker is well above chance on the sample, so it earns flags; Problems keeps the 500 most confident.
  assert.equal(warnings.length, Math.min(expectedLines.size, 500), `flags: ${warnings.length} of ${expectedLines.size} rows the checker contradicts`);
  assert.ok(warnings.length > 100, `many likely mislabelled rows flagged: ${warnings.length}`);
  for (const warning of warnings.slice(0, 50)) {
    assert.ok(expectedLines.has(warning.range.start.line), `warning on line ${warning.range.start.line + 1}: ${warning.message}`);
    assert.match(warning.message, /^Likely mislabelled: labelled "\w+", but the quality checker prefers "\w+" \(p [\d.]+\)/);
  }
});

test('an unusable line is an error; "Delete line" removes it in one undoable edit; rows keep their scores when lines move', async () => {
  const uri = syntheticUri();
  const editor = await syntheticEditor();
  const firstWarning = dimpDiagnostics(uri).find((d) => d.severity === vscode.DiagnosticSeverity.Warning)!;
  assert.ok(await editor.edit((edit) => edit.insert(new vscode.Position(0, 0), '{"sentence": "broken\n')));
  const error = await waitFor('an error on line 1', () => dimpDiagnostics(uri).find((d) => d.severity === vscode.DiagnosticSeverity.Error));
  assert.equal(error.range.start.line, 0);
  assert.match(error.message, /Unusable line.*invalid JSON/);
  await waitFor('the warnings to move down one line', () =>
    dimpDiagnostics(uri).some((d) => d.severity === vscode.DiagnosticSeverity.Warning && d.range.start.line === firstWarning.range.start.line + 1),
  );
  const moved = await waitFor('decorations after the edit', () => {
    const now = api.decorationsFor(uri);
    return now && now.badges[1] !== undefined && now.badges[0] === undefined && now;
  });
  assert.match(moved.badges[1]!, /^w /, 'the row that moved from line 1 to line 2 keeps its score');
  const actions = await vscode.commands.executeCommand<vscode.CodeAction[]>('vscode.executeCodeActionProvider', uri, error.range);
  const remove = actions.find((a) => a.title === 'Delete line');
  assert.ok(remove?.edit, `a "Delete line" quick fix: ${actions.map((a) => a.title).join(', ')}`);
  assert.ok(await vscode.workspace.applyEdit(remove.edit));
  assert.equal(editor.document.getText(), original, 'the document is back as it was');
  await vscode.commands.executeCommand('undo');
  assert.ok(editor.document.lineAt(0).text.startsWith('{"sentence": "broken'), 'one undo brings the deleted line back');
  await vscode.commands.executeCommand('undo');
  assert.equal(editor.document.getText(), original);
  await waitFor('the Problems to settle', () => {
    const now = dimpDiagnostics(uri);
    return !now.some((d) => d.severity === vscode.DiagnosticSeverity.Error) && now.some((d) => d.range.start.line === firstWarning.range.start.line);
  });
});

test('"Relabel as …" changes the label in one undoable edit; the row shows as unscored until saved, then is rescored', async () => {
  const uri = syntheticUri();
  const editor = await syntheticEditor();
  const warning = await waitFor('a mislabelled warning', () => dimpDiagnostics(uri).find((d) => d.severity === vscode.DiagnosticSeverity.Warning));
  const line = warning.range.start.line;
  const before = editor.document.lineAt(line).text;
  const preferred = /prefers "(\w+)"/.exec(warning.message)![1]!;
  const actions = await vscode.commands.executeCommand<vscode.CodeAction[]>('vscode.executeCodeActionProvider', uri, warning.range);
  const relabel = actions.find((a) => a.title === `Relabel as ${preferred}`);
  assert.ok(relabel?.edit, `a "Relabel as ${preferred}" quick fix: ${actions.map((a) => a.title).join(', ')}`);
  assert.equal(relabel.isPreferred, true);
  assert.ok(actions.some((a) => a.title === 'Delete line'));
  assert.ok(await vscode.workspace.applyEdit(relabel.edit));
  const after = editor.document.lineAt(line).text;
  const labels = ['negative', 'neutral', 'positive'];
  assert.equal((JSON.parse(after) as { label: number }).label, labels.indexOf(preferred), `label written as the file writes labels (an index): ${after}`);
  assert.equal(editor.document.lineCount, original.split('\n').length, 'one line changed, none added');
  const unscored = await waitFor('the changed row to show as unscored', () => api.decorationsFor(uri)?.buckets.unscored.includes(line) && api.decorationsFor(uri));
  assert.match(unscored.badges[line]!, /unscored/);
  assert.match(await hoverText(uri, line), /no score/);
  await waitFor('the warning to go', () => !dimpDiagnostics(uri).some((d) => d.range.start.line === line && d.severity === vscode.DiagnosticSeverity.Warning));

  const progressFrom = api.statusBarProgress().length;
  await editor.document.save();
  await waitFor('the changed row to be rescored on save', () => {
    const now = api.decorationsFor(uri);
    return now && !now.buckets.unscored.includes(line) && /^w /.test(now.badges[line] ?? '');
  });
  // Rescoring's progress (once 94 % → 68 % → 95 %) never goes back.
  const rescoring = api.statusBarProgress().slice(progressFrom).filter((p) => p.text.startsWith('rescoring')).map((p) => p.percent);
  assert.ok(rescoring.length > 0, 'the status bar showed the rescoring');
  rescoring.forEach((percent, i) => assert.ok(i === 0 || percent >= rescoring[i - 1]!, `rescoring progress went back: ${rescoring.map(Math.round).join(', ')}`));
  assert.match(await hoverText(uri, line), /IMP weight q \/ d/);

  await vscode.commands.executeCommand('undo');
  assert.equal(editor.document.lineAt(line).text, before, 'one undo restores the label');
  await editor.document.save();
  assert.equal(readFileSync(uri.fsPath, 'utf8'), original);
  // Rescoring kept only the rows in the saved file, so the restored row is rescored on this save too.
  await waitFor('the restored row to be rescored', () => {
    const now = api.decorationsFor(uri);
    return now && /^w /.test(now.badges[line] ?? '') && api.idle();
  });
});

test('the review queue lists rows lowest weight first, filters by label (the samples commands), and reveals a row on click', async () => {
  await syntheticEditor();
  await vscode.commands.executeCommand('dimpCurator.clearReviewQueueFilter');
  await vscode.commands.executeCommand('dimpCurator.showLowestWeightSamples');
  const { rows, description } = await api.reviewQueue();
  assert.match(description ?? '', /lowest IMP weight first · quality checker [\d.]+ % \(majority class [\d.]+ %\)/, 'the header gives the checker’s accuracy beside the majority class');
  assert.ok(rows.length >= 100, `rows listed: ${rows.length}`);
  const lowest = [...scores.values()].sort((a, b) => a.impWeight - b.impWeight || a.line - b.line)[0]!;
  const positive = (r: RowScore): boolean => r.label === 'positive';
  assert.equal(rows[0]!.line, lowest.line, `first row is line ${lowest.line} (weight ${lowest.impWeight}): ${JSON.stringify(rows[0])}`);
  assert.match(rows[0]!.label, new RegExp(`^w [\\d.e+-]+ · label ${lowest.label}$`));
  const weights = rows.map((r) => Number(r.label.split(' ')[1]));
  for (let i = 1; i < weights.length; i++) assert.ok(weights[i]! >= weights[i - 1]!, `ascending at row ${i}: ${weights[i - 1]} then ${weights[i]}`);

  await vscode.commands.executeCommand('dimpCurator.filterSamplesByLabel', 'positive');
  const filtered = (await api.reviewQueue()).rows;
  assert.ok(filtered.length > 0 && filtered.every((r) => r.label.endsWith('· label positive')), 'only positive rows');
  const lowestPositive = [...scores.values()].filter(positive).sort((a, b) => a.impWeight - b.impWeight || a.line - b.line)[0]!;
  assert.equal(filtered[0]!.line, lowestPositive.line);
  await vscode.commands.executeCommand('dimpCurator.filterSamplesByLabel', '');

  const target = rows[3]!;
  await vscode.commands.executeCommand('dimpCurator.revealSample', syntheticUri(), target.line);
  const editor = vscode.window.activeTextEditor!;
  assert.equal(editor.selection.start.line, target.line - 1, 'the clicked row is selected');
  assert.ok(editor.visibleRanges.some((r) => r.contains(new vscode.Position(target.line - 1, 0))), 'and visible');
});

test('Sort Lines by Weight reorders the file in one edit that one undo reverts', async () => {
  const editor = await syntheticEditor();
  const uri = syntheticUri();
  assert.equal(editor.document.getText(), original);
  const flaggedText = (diagnostics: vscode.Diagnostic[]): string[] =>
    diagnostics.filter((d) => d.code === 'likely-mislabelled').map((d) => editor.document.lineAt(d.range.start.line).text).sort();
  const flaggedBefore = flaggedText(dimpDiagnostics(uri));
  assert.ok(flaggedBefore.length > 0, 'some rows are flagged before the sort');
  const sorted = await vscode.commands.executeCommand<boolean>('dimpCurator.sortLinesByWeight', 'ascending');
  assert.equal(sorted, true);
  // At once, with no wait: nothing shown sits on a line that now holds another row (the old badges and
  // Problems used to stay on their old line numbers for seconds).
  const now = api.decorationsFor(uri);
  for (const [line, badge] of Object.entries(now?.badges ?? {})) assertBadgeShows(badge, scoreOfLine(Number(line)), `line ${Number(line) + 1} right after the sort`);
  assert.deepEqual(flaggedText(dimpDiagnostics(uri)), flaggedBefore, 'right after the sort, Problems point at the same rows on their new lines');
  const lines = editor.document.getText().split('\n');
  assert.equal(lines.length, original.split('\n').length, 'no line lost');
  assert.deepEqual([...lines].sort(), original.split('\n').sort(), 'the same lines');
  const lowest = [...scores.values()].sort((a, b) => a.impWeight - b.impWeight)[0]!;
  assert.equal(lines[0], original.split('\n')[lowest.line - 1], 'the lowest-weight row comes first');
  editor.revealRange(new vscode.Range(0, 0, 0, 0), vscode.TextEditorRevealType.AtTop);
  const applied = await waitFor('decorations of the sorted file', () => api.decorationsFor(uri)?.buckets.lowest.includes(0) && api.decorationsFor(uri));
  assert.ok([0, 1, 2, 3, 4].every((line) => applied.buckets.lowest.includes(line)), 'the first lines are the lowest bucket');
  await vscode.commands.executeCommand('undo');
  assert.equal(editor.document.getText(), original, 'one undo restores the order');
});

test('scores survive a reload: they are loaded from the extension storage by row id', async () => {
  const uri = syntheticUri();
  const editor = await syntheticEditor();
  api.reloadScores();
  await waitFor('decorations to clear', () => api.decorationsFor(uri) === undefined);
  const applied = await waitFor('decorations from the stored scores', () => api.decorationsFor(uri));
  const top = editor.visibleRanges[0]!.start.line;
  assertBadgeShows(applied.badges[top], scoreOfLine(top), `line ${top + 1}`);
});

test('a finished DIMP run shows its weights in the hover', async () => {
  const uri = syntheticUri();
  await syntheticEditor();
  const score = scoreOfLine(2);
  // A run folder as `dimp-curator train --loss dimp` writes it: built under a temporary name, then renamed.
  const runs = path.join(workspace(), 'runs');
  const building = path.join(runs, '.dimp-test.tmp');
  mkdirSync(building, { recursive: true });
  writeFileSync(path.join(building, 'config.json'), JSON.stringify({ kind: 'dimp-run', loss: 'dimp', createdAt: new Date().toISOString(), data: { synthetic: { file: uri.fsPath } } }));
  writeFileSync(path.join(building, 'weights.jsonl'), JSON.stringify({ rowId: score.rowId, line: 3, label: score.label, weight: 0.4242 }) + '\n');
  renameSync(building, path.join(runs, 'dimp-test'));
  // The scores stay shown while they are loaded again with the new weights (no blank badges meanwhile).
  let blank = false;
  await waitFor(
    'the DIMP weight in the hover',
    async () => {
      blank ||= api.decorationsFor(uri) === undefined;
      return (await hoverText(uri, 2)).includes('| last DIMP weight | 0.424 |');
    },
    30_000,
  );
  assert.equal(blank, false, 'the badges never went blank while the scores were loaded again');
  assert.match(await hoverText(uri, 2), /DIMP weights: run dimp-test/);
});

test('Toggle Weight Decorations hides and shows badges and heat marks', async () => {
  const uri = syntheticUri();
  await vscode.commands.executeCommand('dimpCurator.toggleWeightDecorations');
  await waitFor('decorations off', () => api.decorationsFor(uri) === undefined);
  await vscode.commands.executeCommand('dimpCurator.toggleWeightDecorations');
  await waitFor('decorations on', () => api.decorationsFor(uri));
});

test('Train Checkers trains both checkers again, stores them with the new scores, and drops the old ones', async () => {
  await syntheticEditor();
  const storage = api.storageFor(syntheticUri());
  const before = JSON.parse(readFileSync(storage.metaFile, 'utf8')) as ScoreMeta;
  await vscode.commands.executeCommand('dimpCurator.trainCheckers', syntheticUri());
  await waitFor('the checkers to be trained', () => api.idle());
  const after = JSON.parse(readFileSync(storage.metaFile, 'utf8')) as ScoreMeta;
  assert.notEqual(after.qualityModel, before.qualityModel, 'a new quality checker');
  assert.notEqual(after.diversityModel, before.diversityModel, 'a new diversity checker');
  for (const folder of [after.qualityModel, after.diversityModel]) assert.ok(existsSync(path.join(folder, 'model.onnx')), `${folder}/model.onnx`);
  assert.ok(!existsSync(before.qualityModel) && !existsSync(before.diversityModel), 'the old checkers are gone');
  assert.equal((await readScores(storage.scoresFile)).rows.length, 4000);
});

test('Export Curated Dataset writes curated and rejected files from the stored scores', async () => {
  const curated = vscode.Uri.file(path.join(workspace(), 'out', 'synthetic.curated.jsonl'));
  const summary = await vscode.commands.executeCommand<CurationSummary>('dimpCurator.exportCuratedDataset', {
    uri: syntheticUri(),
    rule: { by: 'weight', keepFraction: 0.75, addWeight: true },
    curated,
  });
  assert.ok(summary, 'the export ran');
  assert.equal(summary.kept, 3000);
  const kept = readFileSync(curated.fsPath, 'utf8').trim().split('\n');
  const rejected = readFileSync(path.join(workspace(), 'out', 'synthetic.rejected.jsonl'), 'utf8').trim().split('\n');
  assert.equal(kept.length + rejected.length, 4000, 'every line lands in exactly one file');
  assert.equal(typeof (JSON.parse(kept[0]!) as { weight?: unknown }).weight, 'number');
});

// The review queue marks rows and exports with them; after the plain export above, before the big file closes every editor.
registerReviewQueueTests(() => api, workspace);

test('Select Execution Provider writes the setting and the status bar shows it', async () => {
  // The default is auto, so switch to cpu and back.
  await vscode.commands.executeCommand('dimpCurator.selectExecutionProvider', 'cpu');
  await waitFor('the status bar to show cpu', () => /DIMP · cpu/.test(api.statusBarText()));
  await vscode.commands.executeCommand('dimpCurator.selectExecutionProvider', 'auto');
  await waitFor('the status bar to show auto', () => /DIMP · auto/.test(api.statusBarText()));
});

test('CUDA asked for where it cannot start: scoring falls back to the CPU and says how to fix it, with no internal paths', async () => {
  // A real fallback, not a mock: this machine's onnxruntime-node has no CUDA provider (where one is installed and
  // a GPU is present, CUDA starts and there is nothing to check).
  const before = api.messages().length;
  await vscode.commands.executeCommand('dimpCurator.selectExecutionProvider', 'cuda');
  try {
    await vscode.commands.executeCommand('dimpCurator.scoreSyntheticData', syntheticUri());
    await waitFor('the scoring job to end', () => api.idle());
    const shown = api.messages().slice(before).filter((m) => m.level === 'warning' && /using cpu \(/.test(m.text));
    if (shown.length === 0 && /DIMP · cuda/.test(api.statusBarText())) {
      console.log('CUDA started here: no fallback to check');
      return;
    }
    assert.ok(shown.length > 0, `a warning says the CPU is used: ${api.messages().slice(before).map((m) => m.text).join(' | ')}`);
    for (const { text } of shown) {
      assert.match(text, /ONNXRUNTIME_NODE_INSTALL=cuda12/, `it says how to get CUDA: ${text}`);
      assert.match(text, /Select Execution Provider/, `and how to stop asking: ${text}`);
      assert.doesNotMatch(text, /\/tmp\/|\.tmp-|gen-\d|\/node_modules\//, `no internal path: ${text}`);
    }
  } finally {
    await vscode.commands.executeCommand('dimpCurator.selectExecutionProvider', 'auto');
  }
});

test('Configure Fields… starts from the fields in use: accepting both pickers as they open keeps them', async () => {
  await syntheticEditor();
  const config = vscode.workspace.getConfiguration('dimpCurator');
  const before = api.messages().length;
  const done = vscode.commands.executeCommand('dimpCurator.configureFields', syntheticUri());
  let finished = false;
  void done.then(() => (finished = true));
  try {
    // Enter on each picker, as a user who agrees with what is shown: the text picker (multi-select, the
    // detected field checked) and then the label picker (the label in use first). Pressing it before a
    // picker is open does nothing, so it is pressed until the command ends.
    await waitFor('the command to end after both pickers are accepted', async () => {
      await vscode.commands.executeCommand('workbench.action.acceptSelectedQuickOpenItem');
      await sleep(100);
      return finished;
    });
    const fresh = vscode.workspace.getConfiguration('dimpCurator', syntheticUri());
    assert.deepEqual(fresh.get('textFields'), ['sentence'], 'the detected text field was preselected (never the label)');
    assert.equal(fresh.get('labelField'), 'label');
    assert.ok(api.messages().slice(before).some((m) => /text sentence, label label/.test(m.text)));
  } finally {
    await config.update('textFields', undefined, vscode.ConfigurationTarget.Workspace);
    await config.update('labelField', undefined, vscode.ConfigurationTarget.Workspace);
  }
});

test('a sentence-pair file: the review queue shows both texts of a row, and its label apart from the line number', async () => {
  // A pair project of its own (a subfolder with its dimp.config.json), built from the sample's sentences.
  const dir = path.join(workspace(), 'pairs');
  mkdirSync(dir, { recursive: true });
  const read = (name: string): { text: string; label: string }[] =>
    readFileSync(path.join(workspace(), name), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const row = JSON.parse(line) as Record<string, unknown>;
        return { text: String(row.text ?? row.sentence), label: String(row.label) };
      });
  const names = ['negative', 'neutral', 'positive'];
  const pairs = (rows: { text: string; label: string }[], count: number): string =>
    rows
      .slice(0, count)
      .map((row, i) => JSON.stringify({ sentence1: row.text, sentence2: rows[(i + 7) % rows.length]!.text, label: names.includes(row.label) ? row.label : names[Number(row.label)] }))
      .join('\n') + '\n';
  writeFileSync(path.join(dir, 'synthetic.jsonl'), pairs(read('synthetic.jsonl'), 300));
  writeFileSync(path.join(dir, 'real.jsonl'), pairs(read('real_train.jsonl'), 150));
  writeFileSync(path.join(dir, 'val.jsonl'), pairs(read('real_val.jsonl'), 80));
  writeFileSync(path.join(dir, 'dimp.config.json'), JSON.stringify({ labels: names, datasets: { synthetic: 'synthetic.jsonl', real: 'real.jsonl', validation: 'val.jsonl' } }, null, 2));
  const uri = vscode.Uri.file(path.join(dir, 'synthetic.jsonl'));
  try {
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri), { preview: false });
    const progressFrom = api.statusBarProgress().length;
    await vscode.commands.executeCommand('dimpCurator.scoreSyntheticData', uri);
    await waitFor('the pair file to be scored', () => api.idle() && existsSync(api.storageFor(uri).scoresFile));
    // The progress of a pair scoring (once stuck at 40 % for most of it): it never goes back, and the
    // diversity checker's training (20–55 %) moves it epoch by epoch.
    const shown = api.statusBarProgress().slice(progressFrom).filter((p) => p.text === 'scoring synthetic.jsonl').map((p) => p.percent);
    assert.ok(shown.length > 0, 'the status bar showed the scoring');
    shown.forEach((percent, i) => assert.ok(i === 0 || percent >= shown[i - 1]!, `progress went back from ${shown[i - 1]} % to ${percent} %: ${shown.map(Math.round).join(', ')}`));
    const inDiversityStage = new Set(shown.filter((p) => p >= 20 && p <= 55).map(Math.round));
    assert.ok(inDiversityStage.size >= 8, `the diversity checker's training moves the bar (${[...inDiversityStage].join(', ')})`);
    await vscode.commands.executeCommand('dimpCurator.clearReviewQueueFilter');
    await vscode.commands.executeCommand('dimpCurator.showLowestWeightSamples');
    const { rows, description } = await waitFor('the queue on the pair file', async () => {
      const state = await api.reviewQueue();
      return state.description?.startsWith('pairs/synthetic.jsonl') && state.rows.length > 0 && state.rows[0]!.description.startsWith('line ') && state;
    });
    assert.match(description ?? '', /^pairs\/synthetic\.jsonl · lowest IMP weight first/);
    const lines = readFileSync(uri.fsPath, 'utf8').split('\n');
    const objectAt = (line: number): { sentence1: string; sentence2: string; label: string } => JSON.parse(lines[line - 1]!);
    // A row whose first text is short enough for both to fit the 120 characters a row shows.
    const top = rows.find((row) => objectAt(row.line).sentence1.length < 60);
    assert.ok(top, 'a row with a short first text is listed');
    const object = objectAt(top.line);
    assert.match(top.label, new RegExp(`^w [\\d.e+-]+ · label ${object.label}$`), `the label stands apart: ${top.label}`);
    assert.ok(top.description.startsWith(`line ${top.line} · ${object.sentence1.slice(0, 20)}`), `line number, then the first text: ${top.description}`);
    assert.ok(top.description.includes(' ‖ ') && (top.description.includes(object.sentence2.slice(0, 15)) || top.description.endsWith('…')), `both texts: ${top.description}`);
  } finally {
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Create Project Config writes dimp.config.json from the open files: roles by name, detected fields, labels', async () => {
  const configFile = path.join(workspace(), 'dimp.config.json');
  const before = readFileSync(configFile, 'utf8');
  try {
    for (const name of ['real_train.jsonl', 'real_val.jsonl']) {
      await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(path.join(workspace(), name)), { preview: false });
    }
    await syntheticEditor();
    const draft = await vscode.commands.executeCommand<ProjectDraft | undefined>('dimpCurator.createProjectConfig', { replace: true });
    assert.ok(draft, 'a config was written');
    const written = JSON.parse(readFileSync(configFile, 'utf8')) as ProjectConfig;
    assert.deepEqual(written.datasets?.synthetic, { path: 'synthetic.jsonl', fields: { text: 'sentence', label: 'label' } });
    assert.deepEqual(written.datasets?.real, { path: 'real_train.jsonl', fields: { text: 'text', label: 'label' } });
    assert.equal((written.datasets?.validation as { path: string }).path, 'real_val.jsonl');
    assert.deepEqual(written.labels, ['negative', 'neutral', 'positive']);
    assert.equal(path.basename(vscode.window.activeTextEditor?.document.uri.fsPath ?? ''), 'dimp.config.json', 'the new file is open');
  } finally {
    writeFileSync(configFile, before);
    // Close the tabs this test opened (none of them is modified, so nothing asks to save).
    const opened = new Set(['dimp.config.json', 'real_train.jsonl', 'real_val.jsonl']);
    const tabs = vscode.window.tabGroups.all.flatMap((group) => group.tabs).filter((tab) => tab.input instanceof vscode.TabInputText && opened.has(path.basename(tab.input.uri.fsPath)));
    await vscode.window.tabGroups.close(tabs);
    await syntheticEditor();
  }
});

test('a file over 50 MB is scored from disk and listed in the review queue; editor-only features say why they are off', async () => {
  // 52 MB of distinct rows, scored with the checkers trained above (set as model folders in the settings).
  const big = vscode.Uri.file(path.join(workspace(), 'big.jsonl'));
  const sentences = original.split('\n').filter(Boolean);
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < 52 * 2 ** 20; i++) {
    const row = JSON.parse(sentences[i % sentences.length]!) as { sentence: string; label: number };
    lines.push(JSON.stringify({ sentence: `${row.sentence} (#${i})`, label: row.label }));
    size += lines[lines.length - 1]!.length + 1;
  }
  writeFileSync(big.fsPath, lines.join('\n') + '\n');
  await assert.rejects(Promise.resolve(vscode.workspace.openTextDocument(big)), 'VS Code does not give extensions files this large');
  const checkers = JSON.parse(readFileSync(api.storageFor(syntheticUri()).metaFile, 'utf8')) as ScoreMeta;
  const settings = vscode.workspace.getConfiguration('dimpCurator');
  await settings.update('qualityModel', checkers.qualityModel, vscode.ConfigurationTarget.Workspace);
  await settings.update('diversityModel', checkers.diversityModel, vscode.ConfigurationTarget.Workspace);
  try {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await vscode.commands.executeCommand('dimpCurator.scoreSyntheticData', big);
    const stored = await readScores(api.storageFor(big).scoresFile);
    assert.equal(stored.rows.length, lines.length, 'every row scored from disk');
    await vscode.commands.executeCommand('dimpCurator.clearReviewQueueFilter');
    await vscode.commands.executeCommand('dimpCurator.showLowestWeightSamples');
    const { rows } = await api.reviewQueue();
    const lowest = [...stored.rows].sort((a, b) => a.impWeight - b.impWeight || a.line - b.line)[0]!;
    assert.equal(rows[0]!.line, lowest.line, 'the review queue lists the big file, lowest weight first');
    const text = (JSON.parse(lines[lowest.line - 1]!) as { sentence: string }).sentence;
    assert.ok(rows[0]!.description.includes(text.slice(0, 40)), `the row's text is read from disk: ${rows[0]!.description}`);

    await vscode.commands.executeCommand('dimpCurator.revealSample', big, rows[0]!.line);
    const tab = await waitFor('the big file in a tab', () => {
      const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
      return input instanceof vscode.TabInputText && input.uri.fsPath === big.fsPath;
    });
    assert.ok(tab);
    assert.equal(await vscode.commands.executeCommand('dimpCurator.sortLinesByWeight', 'ascending'), false, 'sorting is off for the big file');
  } finally {
    await settings.update('qualityModel', undefined, vscode.ConfigurationTarget.Workspace);
    await settings.update('diversityModel', undefined, vscode.ConfigurationTarget.Workspace);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    rmSync(big.fsPath, { force: true });
  }
});

/** Asks the runner for a screenshot of the workbench (only when DIMP_TEST_SCREENSHOT names a file). */
async function screenshot(): Promise<void> {
  const file = process.env.DIMP_TEST_SCREENSHOT;
  const results = process.env.DIMP_TEST_RESULTS;
  if (!file || !results) return;
  writeFileSync(results, JSON.stringify({ type: 'screenshot-request', path: file }) + '\n', { flag: 'a' });
  await waitFor('the screenshot', () => existsSync(`${file}.done`), 30_000);
}

test('reading the settings leaves no scoped-configuration warning in the extension-host log', async () => {
  // Every feature has run by now (scoring, hovers, Problems, the queue, sorting, export, settings commands).
  const folder = path.dirname(api.logFolder);
  const logs = readdirSync(folder).filter((name) => name.endsWith('.log')).map((name) => readFileSync(path.join(folder, name), 'utf8'));
  const all = logs.join('\n');
  assert.match(all, /dimp-curator\.dimp-curator/, `the extension host's log (in ${folder}) names this extension's activation`);
  const warnings = all.split('\n').filter((line) => /scoped configuration/i.test(line) && /dimpCurator/.test(line));
  assert.deepEqual(warnings, [], 'no warning about how a dimpCurator setting is read');
});

test('screenshot of the editor (when asked for)', async () => {
  if (!process.env.DIMP_TEST_SCREENSHOT) return;
  await vscode.workspace.getConfiguration('editor').update('wordWrap', 'on', vscode.ConfigurationTarget.Workspace);
  await vscode.commands.executeCommand('workbench.action.closeAuxiliaryBar');
  await vscode.commands.executeCommand('workbench.action.closePanel');
  const editor = await syntheticEditor();
  const uri = syntheticUri();
  await vscode.commands.executeCommand('dimpCurator.reviewQueue.focus');
  await api.reviewQueue();
  await vscode.commands.executeCommand('workbench.action.focusActiveEditorGroup');
  const line = Number(process.env.DIMP_TEST_SCREENSHOT_LINE ?? 4);
  editor.selection = new vscode.Selection(line, 0, line, 0);
  editor.revealRange(new vscode.Range(0, 0, 0, 0), vscode.TextEditorRevealType.AtTop);
  await waitFor('decorations', () => api.decorationsFor(uri));
  await sleep(500);
  await vscode.commands.executeCommand('editor.action.showHover');
  await sleep(1500);
  await screenshot();
});

// Training runs after the tests above: it uses the scores they stored, and its DIMP run changes the hover.
registerTrainingTests(() => api, workspace);

// The PyTorch engine last: it adds a config section, a task and a run of its own.
registerPytorchEngineTests(() => api, workspace);

// Fine-tuning a transformer on onnxruntime: a config section, a model folder, a task and a run of its own.
registerFineTuneTests(() => api, workspace);

/** Entry point called by the extension host (extensionTestsPath). */
export async function run(): Promise<void> {
  await runRegisteredTests();
}
