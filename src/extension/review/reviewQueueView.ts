import { promises as fs } from 'node:fs';
import * as vscode from 'vscode';
import { setContextKey, showInformationMessage } from '../ui';
import { LineRows } from '../../core/view/lineRows';
import { rowHoverMarkdown } from '../../core/view/rowHover';
import {
  describeFlags,
  duplicatesToDelete,
  EXTREME_WEIGHT_TAIL_PERCENT,
  nearDuplicateGroups,
  parseScoreRange,
  reviewQueue,
  rowFlags,
  rowText,
  tableRowLines,
  type DuplicateGroup,
  type RowLine,
  type ReviewFilter,
  type ReviewFlag,
  type ReviewOrder,
  type ReviewSource,
  type ScoreRange,
} from '../../core/view/reviewQueue';
import { sampleItemText, sampleSnippet } from '../../core/view/samples';
import { formatScore } from '../../core/view/weightHeat';
import { CommandId } from '../../protocol/commands';
import type { TrackedDocuments } from '../documents/trackedDocuments';
import { DiskLines, EDITOR_SYNC_LIMIT_BYTES } from '../largeFiles';
import type { FileScores, ScoreStore } from '../scoring/scoreStore';
import { readSettings } from '../settings';
import type { ReviewMarks } from './reviewMarks';

/** The view's id in package.json. */
export const REVIEW_QUEUE_VIEW_ID = 'dimpCurator.reviewQueue';

/** Rows (or groups) listed at most; the rest are counted in the last item. */
const SHOWN_ROWS = 200;
const REFRESH_DEBOUNCE_MS = 300;

/** One row of the queue, as the tests read it. */
export interface ReviewQueueRow {
  label: string;
  description: string;
  /** 1-based line now. */
  line: number;
  rowId: string;
  flags: ReviewFlag[];
  reviewed: boolean;
}

/** One near-duplicate group, as the tests read it. */
export interface ReviewQueueGroup {
  key: string;
  /** 1-based lines of its members, ascending. */
  lines: number[];
}

/** What the queue shows now. */
export interface ReviewQueueState {
  mode: 'rows' | 'duplicates';
  rows: ReviewQueueRow[];
  groups: ReviewQueueGroup[];
  /** Rows (or groups) that match, listed or not. */
  matching: number;
  description: string | undefined;
}

type ReviewNode =
  | { kind: 'row'; item: vscode.TreeItem; uri: vscode.Uri; row: ReviewQueueRow }
  | { kind: 'group'; item: vscode.TreeItem; uri: vscode.Uri; group: DuplicateGroup; children: ReviewNode[] }
  | { kind: 'note'; item: vscode.TreeItem };

/** What Mark as Reviewed and its opposite act on: tree nodes, or a file's 1-based lines (tests, keybindings). */
type MarkTarget = ReviewNode | { uri: vscode.Uri; lines: number[] } | undefined;

const FLAG_NAMES: Record<ReviewFlag | 'any', string> = { mislabelled: 'likely mislabelled', extremeWeight: 'extreme weight', any: 'any flag' };

function describeRange(name: string, range: ScoreRange | undefined): string | undefined {
  if (!range || (range.min === undefined && range.max === undefined)) return undefined;
  return `${name} ${range.min ?? '…'}–${range.max ?? '…'}`;
}

/** The filter in words, for the view's description. */
function describeFilter(filter: ReviewFilter): string[] {
  return [
    describeRange('w', filter.weight),
    describeRange('q', filter.quality),
    filter.label !== undefined ? `label ${filter.label}` : undefined,
    filter.flag !== undefined ? FLAG_NAMES[filter.flag] : undefined,
    filter.text ? `“${filter.text}”` : undefined,
    filter.reviewed === 'hide' ? 'not reviewed' : filter.reviewed === 'only' ? 'reviewed only' : undefined,
  ].filter((part): part is string => part !== undefined);
}

/**
 * The review queue (explorer): the active scored file's rows filtered by weight or quality range, label,
 * flag (likely mislabelled, extreme weight) and text, lowest or highest first; rows can be marked as
 * reviewed ("keep", honoured by Export), and near-duplicate groups resolved with one undoable edit.
 */
export class ReviewQueueView implements vscode.TreeDataProvider<ReviewNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly view: vscode.TreeView<ReviewNode>;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly diskLines = new Map<string, DiskLines>();
  private readonly diskTexts = new Map<string, { mtimeMs: number; size: number; lines: string[] }>();
  private filter: ReviewFilter = {};
  private order: ReviewOrder = { by: 'impWeight', direction: 'ascending' };
  private mode: 'rows' | 'duplicates' = 'rows';
  private generation = 0;
  private latest: Promise<void> = Promise.resolve();
  private nodes: ReviewNode[] = [];
  private matching = 0;
  private refreshTimer: NodeJS.Timeout | undefined;
  private current: FileScores | undefined;
  private stale = true;

  constructor(
    private readonly store: ScoreStore,
    private readonly documents: TrackedDocuments,
    private readonly marks: ReviewMarks,
  ) {
    this.view = vscode.window.createTreeView(REVIEW_QUEUE_VIEW_ID, { treeDataProvider: this, showCollapseAll: true, canSelectMany: true });
    this.disposables.push(
      this.view,
      this.changed,
      this.view.onDidChangeVisibility(({ visible }) => {
        if (visible && this.stale) void this.refresh();
      }),
      store.onDidChange(() => {
        // The queue's commands are listed in the palette once some file has scores.
        setContextKey('dimpCurator.hasScores', store.lastFile !== undefined);
        this.scheduleRefresh(0);
      }),
      marks.onDidChange(() => this.scheduleRefresh(0)),
      documents.onDidChange(() => this.scheduleRefresh(REFRESH_DEBOUNCE_MS)),
      vscode.window.onDidChangeActiveTextEditor(() => this.scheduleRefresh(0)),
      vscode.window.tabGroups.onDidChangeTabs(() => this.scheduleRefresh(REFRESH_DEBOUNCE_MS)),
      vscode.commands.registerCommand(CommandId.filterReviewQueue, (filter?: ReviewFilter) => this.setFilter(filter)),
      vscode.commands.registerCommand(CommandId.clearReviewQueueFilter, () => this.setFilter({})),
      vscode.commands.registerCommand(CommandId.reviewLowestFirst, (by?: ReviewOrder['by']) => this.setOrder('ascending', by)),
      vscode.commands.registerCommand(CommandId.reviewHighestFirst, (by?: ReviewOrder['by']) => this.setOrder('descending', by)),
      vscode.commands.registerCommand(CommandId.showNearDuplicateGroups, () => this.setMode('duplicates')),
      vscode.commands.registerCommand(CommandId.showReviewQueueRows, () => this.setMode('rows')),
      vscode.commands.registerCommand(CommandId.markReviewed, (target: MarkTarget, selected?: ReviewNode[]) => this.mark(target, selected, true)),
      vscode.commands.registerCommand(CommandId.unmarkReviewed, (target: MarkTarget, selected?: ReviewNode[]) => this.mark(target, selected, false)),
      vscode.commands.registerCommand(CommandId.keepOneDuplicate, (target?: ReviewNode | { groupKey: string }) => this.keepOne(target)),
      // The samples commands of the first versions: the queue's order and label filter.
      vscode.commands.registerCommand(CommandId.showLowestWeightSamples, () => this.setOrder('ascending', 'impWeight')),
      vscode.commands.registerCommand(CommandId.showLowestQualitySamples, () => this.setOrder('ascending', 'quality')),
      vscode.commands.registerCommand(CommandId.filterSamplesByLabel, (label?: string) => this.filterByLabel(label)),
      vscode.commands.registerCommand(CommandId.revealSample, (uri: vscode.Uri, line: number) => revealLine(uri, line)),
    );
    setContextKey('dimpCurator.reviewQueueMode', this.mode);
    this.scheduleRefresh(0);
  }

  /** What the view shows, after recomputing it (for the tests). */
  async state(): Promise<ReviewQueueState> {
    await this.refresh();
    const rows = this.nodes.flatMap((n) => (n.kind === 'row' ? [n.row] : []));
    const groups = this.nodes.flatMap((n) => (n.kind === 'group' ? [{ key: n.group.key, lines: n.group.members.map((m) => m.line) }] : []));
    return { mode: this.mode, rows, groups, matching: this.matching, description: this.view.description };
  }

  /** Recomputes the queue now; resolves when the view has its newest rows. */
  refresh(): Promise<void> {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    const generation = ++this.generation;
    this.stale = false;
    this.latest = this.rebuild(generation).then(() => (generation === this.generation ? undefined : this.latest));
    return this.latest;
  }

  getTreeItem(node: ReviewNode): vscode.TreeItem {
    return node.item;
  }

  getChildren(node?: ReviewNode): ReviewNode[] {
    if (!node) return this.nodes;
    return node.kind === 'group' ? node.children : [];
  }

  /** Refreshes after a delay while the view is visible; a hidden view catches up when it is shown. */
  private scheduleRefresh(delayMs: number): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => {
      if (this.view.visible) void this.refresh();
      else this.stale = true;
    }, delayMs);
  }

  private async rebuild(generation: number): Promise<void> {
    const current = this.currentFile();
    const built = current ? await this.build(current) : { nodes: [], matching: 0 };
    if (generation !== this.generation) return;
    this.current = current;
    this.nodes = built.nodes;
    this.matching = built.matching;
    if (current) {
      const order = `${this.order.direction === 'ascending' ? 'lowest' : 'highest'} ${this.order.by === 'impWeight' ? 'IMP weight' : 'quality'} first`;
      const summary = current.provenance.qualityCheckerSummary;
      const parts = [vscode.workspace.asRelativePath(current.uri), this.mode === 'duplicates' ? 'near-duplicate groups' : order, ...describeFilter(this.filter), ...(summary ? [summary] : [])];
      this.view.description = parts.join(' · ');
      this.view.message = built.matching === 0 ? (this.mode === 'duplicates' ? 'No near-duplicate groups.' : 'No rows match the filter.') : undefined;
    } else {
      this.view.description = undefined;
      this.view.message = undefined;
    }
    this.changed.fire();
  }

  /** The active editor's (or tab's) scored file, else the last scored file. */
  private currentFile(): FileScores | undefined {
    const active = vscode.window.activeTextEditor?.document.uri;
    const tab = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
    const tabUri = tab instanceof vscode.TabInputText ? tab.uri : undefined;
    for (const uri of [active, tabUri, this.store.lastFile]) {
      const scores = uri && this.store.get(uri);
      if (scores) return scores;
    }
    return undefined;
  }

  /** Every line of a file on disk that VS Code could open (≤ 50 MB), cached until the file changes; undefined over that. */
  private async linesOnDisk(file: string): Promise<string[] | undefined> {
    const stat = await fs.stat(file).catch(() => undefined);
    if (!stat || stat.size > EDITOR_SYNC_LIMIT_BYTES) return undefined;
    const cached = this.diskTexts.get(file);
    if (cached && cached.mtimeMs === stat.mtimeMs && cached.size === stat.size) return cached.lines;
    const lines = (await fs.readFile(file, 'utf8')).split(/\r?\n/);
    this.diskTexts.set(file, { mtimeMs: stat.mtimeMs, size: stat.size, lines });
    return lines;
  }

  /** Where each row is now and what it says: from the open document, else from the file on disk. */
  private async sourceFor(
    scores: FileScores,
  ): Promise<{ source: ReviewSource; lineText: (line: number) => string | undefined; textsKnown: boolean; rowLines: () => Iterable<RowLine> }> {
    const { table } = scores;
    const marked = await this.marks.load(scores.uri);
    const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === scores.uri.toString());
    const tracked = document && this.documents.get(document);
    let lineOf: (index: number) => number | undefined;
    let lineText: (line: number) => string | undefined;
    let textsKnown = true;
    let rowLines: (() => Iterable<RowLine>) | undefined;
    if (tracked) {
      // Every line, so exact duplicate lines (one row of the table) each join their group.
      rowLines = function* (): Generator<RowLine> {
        for (let line = 0; line < tracked.rows.lineCount; line++) {
          const index = tracked.rows.scoreIndexAt(line, tracked.textAt, table);
          const text = index >= 0 ? rowText(tracked.textAt(line), scores.fields) : undefined;
          if (text !== undefined) yield { index, line: line + 1, text };
        }
      };
      const lines = tracked.rows.currentLines(table, tracked.textAt);
      lineOf = (index) => (lines[index]! > 0 ? lines[index] : undefined);
      lineText = (line) => (line <= tracked.document.lineCount ? tracked.textAt(line - 1) : undefined);
    } else {
      lineOf = (index) => table.columns.line[index];
      const onDisk = this.needsAllTexts() ? await this.linesOnDisk(scores.uri.fsPath) : undefined;
      lineText = (line) => onDisk?.[line - 1];
      textsKnown = onDisk !== undefined;
      if (onDisk) {
        rowLines = function* (): Generator<RowLine> {
          // The row ids of a closed file's lines, found as for an open document's (most without JSON.parse).
          const rows = new LineRows(scores.fields, scores.labelMap, onDisk.length);
          const textAt = (line: number): string => onDisk[line]!;
          for (const [i, raw] of onDisk.entries()) {
            const index = rows.scoreIndexAt(i, textAt, table);
            const text = index >= 0 ? rowText(raw, scores.fields) : undefined;
            if (text !== undefined) yield { index, line: i + 1, text };
          }
        };
      }
    }
    const texts = new Map<number, string | undefined>();
    const textOf = (index: number): string | undefined => {
      if (texts.has(index)) return texts.get(index);
      const line = lineOf(index);
      const raw = line === undefined ? undefined : lineText(line);
      const text = raw === undefined ? undefined : rowText(raw, scores.fields);
      texts.set(index, text);
      return text;
    };
    const source: ReviewSource = {
      table,
      lineOf,
      textOf,
      isReviewed: (index) => marked.has(table.rowIdAt(index)),
      mislabelThreshold: readSettings(scores.uri).mislabelThreshold,
      mislabelFlagsEarned: scores.provenance.qualityCheckerNearChance !== true,
    };
    return { source, lineText, textsKnown, rowLines: rowLines ?? (() => tableRowLines(source)) };
  }

  /** A text search or the duplicate groups read every row's text. */
  private needsAllTexts(): boolean {
    return this.mode === 'duplicates' || Boolean(this.filter.text);
  }

  private async build(scores: FileScores): Promise<{ nodes: ReviewNode[]; matching: number }> {
    const { source, lineText, textsKnown, rowLines } = await this.sourceFor(scores);
    if (this.needsAllTexts() && !textsKnown) {
      return { nodes: [note('Text search and near duplicates need the rows’ texts: this file is over 50 MB or could not be read.')], matching: 0 };
    }
    if (this.mode === 'duplicates') {
      const groups = nearDuplicateGroups(rowLines());
      const shown = groups.slice(0, SHOWN_ROWS);
      const texts = await this.textsOf(scores, shown.flatMap((g) => g.members.map((m) => m.line)), lineText);
      const nodes: ReviewNode[] = shown.map((group) => {
        const children = group.members.map((m) => this.rowNode(scores, source, m.index, m.line, texts.get(m.line) ?? ''));
        const item = new vscode.TreeItem(`${group.members.length} near duplicates`, vscode.TreeItemCollapsibleState.Collapsed);
        item.description = `lines ${group.members.map((m) => m.line).join(', ')} · ${sampleSnippet(texts.get(group.members[0]!.line) ?? '', scores.fields)}`;
        item.tooltip = `Rows whose text is the same once case, punctuation and spacing are ignored:\n“${group.key}”\n\nKeep One, Delete the Others keeps the row marked as reviewed (else the first) and deletes the others in one undoable edit.`;
        item.contextValue = 'dimpDuplicateGroup';
        item.iconPath = new vscode.ThemeIcon('copy');
        return { kind: 'group', item, uri: scores.uri, group, children };
      });
      if (groups.length > shown.length) nodes.push(note(`… ${groups.length - shown.length} more groups`));
      return { nodes, matching: groups.length };
    }
    const { rows, matching } = reviewQueue(source, this.filter, this.order, SHOWN_ROWS);
    const texts = await this.textsOf(scores, rows.map((r) => r.line), lineText);
    const nodes: ReviewNode[] = rows.map((r) => this.rowNode(scores, source, r.index, r.line, texts.get(r.line) ?? ''));
    if (matching > rows.length) nodes.push(note(`… ${matching - rows.length} more rows`, 'narrow the filter to see others'));
    return { nodes, matching };
  }

  /** The texts of some lines: from the document or the cached file, else read from disk through a line index. */
  private async textsOf(scores: FileScores, lines: readonly number[], lineText: (line: number) => string | undefined): Promise<Map<number, string>> {
    const texts = new Map<number, string>();
    const missing: number[] = [];
    for (const line of lines) {
      const text = lineText(line);
      if (text === undefined) missing.push(line);
      else texts.set(line, text);
    }
    if (missing.length > 0) {
      let disk = this.diskLines.get(scores.uri.fsPath);
      if (!disk) this.diskLines.set(scores.uri.fsPath, (disk = new DiskLines(scores.uri.fsPath)));
      const read = await disk.read(missing).catch(() => new Map<number, string>());
      for (const [line, text] of read) texts.set(line, text);
    }
    return texts;
  }

  private rowNode(scores: FileScores, source: ReviewSource, index: number, line: number, text: string): ReviewNode {
    const { table } = scores;
    const c = table.columns;
    const reviewed = source.isReviewed(index);
    const flags = rowFlags(table, index, source);
    const value = this.order.by === 'quality' && this.mode === 'rows' ? `q ${formatScore(c.quality[index]!)}` : `w ${formatScore(c.impWeight[index]!)}`;
    const { label, description } = sampleItemText(value, table.labels[c.label[index]!]!, line, text, scores.fields);
    const item = new vscode.TreeItem(label, vscode.TreeItemCollapsibleState.None);
    item.description = description;
    const flagText = describeFlags(table, index, flags);
    item.tooltip = new vscode.MarkdownString(
      [`line ${line}${reviewed ? ' · ✓ reviewed (always kept by Export)' : ''}${flagText.length ? ` · ⚠ ${flagText.join(', ')}` : ''}`, '', rowHoverMarkdown(table, index, scores.provenance, source.mislabelThreshold)].join('\n'),
    );
    item.command = { command: CommandId.revealSample, title: 'Reveal Line', arguments: [scores.uri, line] };
    item.contextValue = reviewed ? 'dimpReviewRow.reviewed' : 'dimpReviewRow';
    item.iconPath = reviewed ? new vscode.ThemeIcon('pass-filled') : flags.length > 0 ? new vscode.ThemeIcon('warning') : new vscode.ThemeIcon('circle-outline');
    return { kind: 'row', item, uri: scores.uri, row: { label, description, line, rowId: table.rowIdAt(index), flags, reviewed } };
  }

  /** Shows one label's rows (a label name; '' for all labels), the rest of the filter unchanged; asks when none is given. */
  private async filterByLabel(label?: string): Promise<void> {
    if (typeof label === 'string') return this.setFilter({ ...this.filter, label: label === '' ? undefined : label });
    if (!(this.current ?? this.currentFile())) {
      void showInformationMessage('DIMP: no scored file yet. Run DIMP: Score Synthetic Data first.');
      return;
    }
    const next = await this.askLabel(this.filter);
    if (next) await this.setFilter(next);
  }

  /** Asks for a label (or all), the rest of `f` unchanged. */
  private async askLabel(f: ReviewFilter): Promise<ReviewFilter | undefined> {
    const names = (this.current ?? this.currentFile())?.labelMap.names ?? [];
    const picked = await vscode.window.showQuickPick([{ label: 'All labels', name: undefined as string | undefined }, ...names.map((name) => ({ label: name, name }))], { title: 'Rows with label' });
    if (!picked) return undefined;
    return { ...f, label: picked.name };
  }

  private async setFilter(filter?: ReviewFilter): Promise<void> {
    if (filter !== undefined) this.filter = { ...filter };
    else {
      const next = await this.askFilter();
      if (!next) return;
      this.filter = next;
    }
    await this.refresh();
    await vscode.commands.executeCommand(`${REVIEW_QUEUE_VIEW_ID}.focus`);
  }

  /** Asks which part of the filter to set, then its value; the other parts stay. */
  private async askFilter(): Promise<ReviewFilter | undefined> {
    const f = this.filter;
    const choice = await vscode.window.showQuickPick(
      [
        { label: 'Weight range…', detail: describeRange('w', f.weight) ?? 'any IMP weight', part: 'weight' as const },
        { label: 'Quality range…', detail: describeRange('q', f.quality) ?? 'any quality', part: 'quality' as const },
        { label: 'Label…', detail: f.label ?? 'any label', part: 'label' as const },
        { label: 'Flag…', detail: f.flag ? FLAG_NAMES[f.flag] : 'flagged or not', part: 'flag' as const },
        { label: 'Text…', detail: f.text ?? 'any text', part: 'text' as const },
        { label: 'Reviewed rows…', detail: f.reviewed === 'hide' ? 'hidden' : f.reviewed === 'only' ? 'only these' : 'shown', part: 'reviewed' as const },
        { label: 'Rank by…', detail: this.order.by === 'impWeight' ? 'IMP weight' : 'quality', part: 'rank' as const },
        { label: 'Clear All Filters', part: 'clear' as const },
      ],
      { title: `Review queue filter${describeFilter(f).length ? `: ${describeFilter(f).join(' · ')}` : ''}` },
    );
    if (!choice) return undefined;
    switch (choice.part) {
      case 'clear':
        return {};
      case 'rank': {
        const picked = await vscode.window.showQuickPick(
          [
            { label: 'IMP weight', by: 'impWeight' as const },
            { label: 'Quality q', by: 'quality' as const },
          ],
          { title: 'Rank the review queue by' },
        );
        if (!picked) return undefined;
        this.order = { ...this.order, by: picked.by };
        return f;
      }
      case 'weight':
      case 'quality': {
        const text = await vscode.window.showInputBox({
          title: choice.part === 'weight' ? 'IMP weight range (e.g. 0-0.5, 2-, empty for any)' : 'Quality range, 0–1 (e.g. 0-0.3, empty for any)',
          value: f[choice.part] ? `${f[choice.part]!.min ?? ''}-${f[choice.part]!.max ?? ''}` : '',
          validateInput: (value) => (parseScoreRange(value) === undefined ? 'a range such as 0.5-2, 0.5- or -2' : undefined),
        });
        if (text === undefined) return undefined;
        const range = parseScoreRange(text);
        const next = { ...f };
        if (range === 'clear' || range === undefined) delete next[choice.part];
        else next[choice.part] = range;
        return next;
      }
      case 'label':
        return this.askLabel(f);
      case 'flag': {
        const picked = await vscode.window.showQuickPick(
          [
            { label: 'Flagged or not', flag: undefined },
            { label: 'Any flag', flag: 'any' as const },
            { label: 'Likely mislabelled', detail: 'the quality checker prefers another label (when it earns flags)', flag: 'mislabelled' as const },
            { label: 'Extreme weight', detail: `the lowest or the highest ${EXTREME_WEIGHT_TAIL_PERCENT} % of IMP weights in the file: both are suspicious`, flag: 'extremeWeight' as const },
          ],
          { title: 'Rows with flag' },
        );
        if (!picked) return undefined;
        return { ...f, flag: picked.flag };
      }
      case 'text': {
        const text = await vscode.window.showInputBox({ title: 'Rows whose text contains (case and punctuation ignored; empty for any)', value: f.text ?? '' });
        if (text === undefined) return undefined;
        return { ...f, text: text.trim() || undefined };
      }
      case 'reviewed': {
        const picked = await vscode.window.showQuickPick(
          [
            { label: 'Show reviewed rows', reviewed: undefined },
            { label: 'Hide reviewed rows', reviewed: 'hide' as const },
            { label: 'Only reviewed rows', reviewed: 'only' as const },
          ],
          { title: 'Rows marked as reviewed' },
        );
        if (!picked) return undefined;
        return { ...f, reviewed: picked.reviewed };
      }
    }
  }

  private async setOrder(direction: ReviewOrder['direction'], by?: ReviewOrder['by']): Promise<void> {
    this.order = { by: by ?? this.order.by, direction };
    this.mode = 'rows';
    setContextKey('dimpCurator.reviewQueueMode', this.mode);
    await this.refresh();
    await vscode.commands.executeCommand(`${REVIEW_QUEUE_VIEW_ID}.focus`);
  }

  private async setMode(mode: 'rows' | 'duplicates'): Promise<void> {
    this.mode = mode;
    setContextKey('dimpCurator.reviewQueueMode', mode);
    await this.refresh();
    await vscode.commands.executeCommand(`${REVIEW_QUEUE_VIEW_ID}.focus`);
  }

  /** Marks (or unmarks) the selected rows, the given lines, or the rows under the cursor(s) of the active editor. */
  private async mark(target: MarkTarget, selected: ReviewNode[] | undefined, reviewed: boolean): Promise<number> {
    const byUri = new Map<string, { uri: vscode.Uri; rowIds: Set<string> }>();
    const add = (uri: vscode.Uri, rowId: string): void => {
      let entry = byUri.get(uri.toString());
      if (!entry) byUri.set(uri.toString(), (entry = { uri, rowIds: new Set() }));
      entry.rowIds.add(rowId);
    };
    // A context-menu or inline action on a row of a multi-selection acts on the selection; on another row, on that row.
    const clicked = target && 'kind' in target ? target : undefined;
    const nodes = clicked ? (selected?.includes(clicked) ? selected : [clicked]) : [];
    for (const node of nodes) {
      if (node.kind === 'row') add(node.uri, node.row.rowId);
      if (node.kind === 'group') for (const child of node.children) if (child.kind === 'row') add(child.uri, child.row.rowId);
    }
    if (nodes.length === 0) {
      const editor = vscode.window.activeTextEditor;
      const uri = target && 'lines' in target ? target.uri : editor?.document.uri;
      const lines = target && 'lines' in target ? target.lines : (editor?.selections.flatMap((s) => range(s.start.line + 1, s.end.line + 1)) ?? []);
      const scores = uri && (await this.store.ensureLoaded(uri).catch(() => undefined));
      if (!uri || !scores) {
        void showInformationMessage('DIMP: mark rows of a scored file: select them in the Review Queue, or put the cursor on them in the editor.');
        return 0;
      }
      const { source } = await this.sourceFor(scores);
      const wanted = new Set(lines);
      for (let index = 0; index < scores.table.size; index++) {
        const line = source.lineOf(index);
        if (line !== undefined && wanted.has(line)) add(uri, scores.table.rowIdAt(index));
      }
    }
    let count = 0;
    for (const { uri, rowIds } of byUri.values()) {
      await this.marks.set(uri, rowIds, reviewed);
      count += rowIds.size;
    }
    await this.refresh();
    return count;
  }

  /** Keep One, Delete the Others: one undoable edit deleting every member of a group but the kept one. */
  private async keepOne(target?: ReviewNode | { groupKey: string }): Promise<boolean> {
    let group: DuplicateGroup | undefined;
    let uri: vscode.Uri | undefined;
    if (target && 'kind' in target && target.kind === 'group') {
      group = target.group;
      uri = target.uri;
    } else if (target && 'groupKey' in target && this.current) {
      uri = this.current.uri;
      const { rowLines } = await this.sourceFor(this.current);
      group = nearDuplicateGroups(rowLines()).find((g) => g.key === target.groupKey);
    }
    if (!group || !uri) {
      void showInformationMessage('DIMP: choose a near-duplicate group in the Review Queue (Show Near-Duplicate Groups).');
      return false;
    }
    const scores = this.store.get(uri);
    const marked = await this.marks.load(uri);
    const { deleteLines } = duplicatesToDelete(group, (index) => scores !== undefined && marked.has(scores.table.rowIdAt(index)));
    const document = await vscode.workspace.openTextDocument(uri);
    const edit = new vscode.WorkspaceEdit();
    // Each run of consecutive lines with its line breaks (the last line of the file takes the break before it).
    for (const [first, last] of runsOf(deleteLines)) {
      if (last < document.lineCount) edit.delete(uri, new vscode.Range(first - 1, 0, last, 0));
      else if (first > 1) edit.delete(uri, new vscode.Range(document.lineAt(first - 2).range.end, document.lineAt(last - 1).range.end));
      else edit.delete(uri, new vscode.Range(0, 0, last - 1, document.lineAt(last - 1).text.length));
    }
    const applied = await vscode.workspace.applyEdit(edit);
    await this.refresh();
    return applied;
  }

  dispose(): void {
    clearTimeout(this.refreshTimer);
    for (const disposable of this.disposables) disposable.dispose();
  }
}

function note(label: string, description?: string): ReviewNode {
  const item = new vscode.TreeItem(label, vscode.TreeItemCollapsibleState.None);
  if (description) item.description = description;
  return { kind: 'note', item };
}

/** Runs of consecutive 1-based lines, as [first, last] pairs, ascending. */
function runsOf(lines: readonly number[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const line of [...lines].sort((a, b) => a - b)) {
    const run = runs[runs.length - 1];
    if (run && line <= run[1] + 1) run[1] = Math.max(run[1], line);
    else runs.push([line, line]);
  }
  return runs;
}

function range(from: number, to: number): number[] {
  const lines: number[] = [];
  for (let line = from; line <= to; line++) lines.push(line);
  return lines;
}

/**
 * Reveals a 1-based line and selects it. `vscode.open` with a selection opens files over 50 MB too (the
 * workbench shows them; only extensions cannot read them).
 */
export async function revealLine(uri: vscode.Uri, line: number): Promise<void> {
  const position = new vscode.Position(Math.max(0, line - 1), 0);
  const options: vscode.TextDocumentShowOptions = { selection: new vscode.Range(position, position), preserveFocus: false };
  await vscode.commands.executeCommand('vscode.open', uri, options);
  const editor = vscode.window.activeTextEditor;
  if (editor && editor.document.uri.toString() === uri.toString()) {
    editor.selection = new vscode.Selection(position, new vscode.Position(position.line, editor.document.lineAt(position.line).text.length));
    editor.revealRange(editor.selection, vscode.TextEditorRevealType.InCenter);
  }
}
