import * as vscode from 'vscode';
import { annotateLines, linesToDecorate, WEIGHT_BUCKETS, type LineAnnotations, type WeightBucket } from '../../core/view/weightHeat';
import type { TrackedDocuments } from '../documents/trackedDocuments';
import { affectsSettings, readSettings } from '../settings';

/** Theme colour id of a heat bucket; declared in package.json `contributes.colors`. */
export function bucketColorId(bucket: WeightBucket): string {
  return `dimpCurator.weight.${bucket}`;
}

/** What the last pass put on an editor's lines (0-based), for the tests. */
export interface AppliedDecorations {
  buckets: Record<WeightBucket, number[]>;
  badges: Record<number, string>;
}

const EDIT_DEBOUNCE_MS = 150;
const SCROLL_DEBOUNCE_MS = 30;

/**
 * The weight badge after each visible row and a heat mark at the gutter's edge (plus the overview ruler),
 * coloured by theme colours. One decoration type per heat bucket and one for badges, created once; one
 * `setDecorations` call per type per editor; only the visible ranges (with some overscan) are decorated;
 * passes are debounced, and a new one replaces a pending one.
 */
export class WeightDecorations implements vscode.Disposable {
  private readonly bucketTypes: Record<WeightBucket, vscode.TextEditorDecorationType>;
  private readonly badgeType: vscode.TextEditorDecorationType;
  private readonly timers = new Map<vscode.TextEditor, NodeJS.Timeout>();
  private readonly applied = new Map<string, AppliedDecorations>();
  private readonly disposables: vscode.Disposable[] = [];
  private enabled = readSettings().showWeightDecorations;

  constructor(private readonly documents: TrackedDocuments) {
    this.bucketTypes = Object.fromEntries(
      WEIGHT_BUCKETS.map((bucket) => {
        const color = new vscode.ThemeColor(bucketColorId(bucket));
        return [
          bucket,
          vscode.window.createTextEditorDecorationType({
            isWholeLine: true,
            borderColor: color,
            borderStyle: bucket === 'unscored' ? 'dotted' : 'solid',
            borderWidth: '0 0 0 3px',
            overviewRulerColor: color,
            overviewRulerLane: vscode.OverviewRulerLane.Left,
            rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
          }),
        ];
      }),
    ) as Record<WeightBucket, vscode.TextEditorDecorationType>;
    this.badgeType = vscode.window.createTextEditorDecorationType({
      after: { margin: '0 0 0 2em', fontStyle: 'italic' },
      rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
    });
    this.disposables.push(
      ...Object.values(this.bucketTypes),
      this.badgeType,
      vscode.window.onDidChangeVisibleTextEditors((editors) => {
        const visible = new Set(editors.map((e) => e.document.uri.toString()));
        for (const key of this.applied.keys()) if (!visible.has(key)) this.applied.delete(key);
        editors.forEach((e) => this.schedule(e, 0));
      }),
      vscode.window.onDidChangeTextEditorVisibleRanges((event) => this.schedule(event.textEditor, SCROLL_DEBOUNCE_MS)),
      documents.onDidChange(({ document, reason }) => {
        for (const editor of vscode.window.visibleTextEditors) {
          if (editor.document !== document) continue;
          if (reason === 'reorder') this.decorateNow(editor);
          else this.schedule(editor, reason === 'edit' ? EDIT_DEBOUNCE_MS : 0);
        }
      }),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (!affectsSettings(event, ['showWeightDecorations'])) return;
        this.enabled = readSettings().showWeightDecorations;
        this.refreshAll();
      }),
    );
    this.refreshAll();
  }

  /** Whether badges and heat marks are shown. */
  get isEnabled(): boolean {
    return this.enabled;
  }

  /** What the last pass applied to the visible editor of `uri`, if any. */
  appliedTo(uri: vscode.Uri): AppliedDecorations | undefined {
    return this.applied.get(uri.toString());
  }

  private refreshAll(): void {
    for (const editor of vscode.window.visibleTextEditors) this.schedule(editor, 0);
  }

  private schedule(editor: vscode.TextEditor, delayMs: number): void {
    clearTimeout(this.timers.get(editor));
    this.timers.set(
      editor,
      setTimeout(() => {
        this.timers.delete(editor);
        this.decorate(editor);
      }, delayMs),
    );
  }

  /** Decorates at once (a reorder: the lines' rows are all known, and old marks sit on the wrong lines). */
  private decorateNow(editor: vscode.TextEditor): void {
    clearTimeout(this.timers.get(editor));
    this.timers.delete(editor);
    this.decorate(editor);
  }

  private decorate(editor: vscode.TextEditor): void {
    if (!vscode.window.visibleTextEditors.includes(editor)) return;
    const tracked = this.enabled ? this.documents.get(editor.document) : undefined;
    let annotations: LineAnnotations | undefined;
    if (tracked) {
      const visible = editor.visibleRanges.map((r) => ({ start: r.start.line, end: r.end.line }));
      const height = visible.reduce((sum, r) => sum + r.end - r.start + 1, 0);
      const lines = linesToDecorate(visible, editor.document.lineCount, Math.max(20, height));
      annotations = annotateLines(lines, tracked.rows, tracked.textAt, tracked.scores.table);
    }
    const lineRange = (line: number): vscode.Range => new vscode.Range(line, 0, line, 0);
    for (const bucket of WEIGHT_BUCKETS) {
      editor.setDecorations(this.bucketTypes[bucket], annotations ? annotations.buckets[bucket].map(lineRange) : []);
    }
    const badges: vscode.DecorationOptions[] = (annotations?.badges ?? []).map(({ line, text, bucket }) => {
      const end = editor.document.lineAt(line).range.end;
      return {
        range: new vscode.Range(end, end),
        renderOptions: { after: { contentText: text, color: new vscode.ThemeColor(bucketColorId(bucket)) } },
      };
    });
    editor.setDecorations(this.badgeType, badges);
    const key = editor.document.uri.toString();
    if (annotations) {
      this.applied.set(key, { buckets: annotations.buckets, badges: Object.fromEntries(annotations.badges.map((b) => [b.line, b.text])) });
    } else {
      this.applied.delete(key);
    }
  }

  dispose(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    for (const disposable of this.disposables) disposable.dispose();
  }
}
