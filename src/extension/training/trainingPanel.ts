import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { dispatchMessage } from '../../protocol/messages';
import { PanelMessageType, type HostToPanelMessage, type PanelRunLinkMessage, type PanelToHostMessage, type TrainingPanelState } from '../../protocol/trainingPanel';
import type { TrainingSession } from './trainingSession';

/** The panel's view type; the serializer that revives it after a reload is registered under it. */
export const TRAINING_PANEL_VIEW_TYPE = 'dimpCurator.trainingPanel';

/** The built webview bundle's folder, relative to the extension root; the only local resource root. */
const WEBVIEW_DIST = ['dist', 'webview'] as const;

/**
 * The one training panel: a webview showing the session's state live. The host keeps the state; the
 * webview asks for it whole when it loads (first open, shown again, revived after a reload) and then
 * applies the same updates the host applies.
 */
export class TrainingPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private panelDisposables: vscode.Disposable[] = [];
  /** True once the webview asked for the state; updates before that would be lost anyway. */
  private webviewReady = false;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly session: TrainingSession,
  ) {
    this.disposables.push(
      session.onDidUpdate(({ update }) => this.post({ type: PanelMessageType.update, update })),
      vscode.window.registerWebviewPanelSerializer(TRAINING_PANEL_VIEW_TYPE, {
        deserializeWebviewPanel: async (panel, saved: unknown) => {
          if (isPanelState(saved)) await session.adoptSavedState(saved);
          this.attach(panel);
        },
      }),
    );
  }

  /** Opens the panel, or reveals it. */
  show(preserveFocus = false): void {
    if (this.panel) {
      this.panel.reveal(undefined, preserveFocus);
      return;
    }
    const panel = vscode.window.createWebviewPanel(
      TRAINING_PANEL_VIEW_TYPE,
      'DIMP Training',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus },
      this.webviewOptions(),
    );
    this.attach(panel);
  }

  /** True while the panel is open. */
  get isOpen(): boolean {
    return this.panel !== undefined;
  }

  private webviewOptions(): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, ...WEBVIEW_DIST)],
      // The state is re-sent when the panel is shown again, so the hidden page need not be kept.
      retainContextWhenHidden: false,
    };
  }

  private attach(panel: vscode.WebviewPanel): void {
    this.detach();
    this.panel = panel;
    this.webviewReady = false;
    panel.webview.options = this.webviewOptions();
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'training.svg');
    panel.webview.html = this.html(panel.webview);
    this.panelDisposables.push(
      panel.webview.onDidReceiveMessage((message: unknown) => this.onMessage(message)),
      panel.onDidChangeViewState(() => {
        // A hidden webview's page is discarded; it sends `ready` again when shown.
        if (!panel.visible) this.webviewReady = false;
      }),
      panel.onDidDispose(() => {
        if (this.panel === panel) this.detach();
      }),
    );
  }

  private detach(): void {
    for (const d of this.panelDisposables) d.dispose();
    this.panelDisposables = [];
    this.panel = undefined;
    this.webviewReady = false;
  }

  private post(message: HostToPanelMessage): void {
    if (this.panel && this.webviewReady) void this.panel.webview.postMessage(message);
  }

  private onMessage(message: unknown): void {
    const open = (m: PanelRunLinkMessage, file: (runDir: string) => string): void => {
      if (!this.session.knowsRunFolder(m.runDir)) return;
      void vscode.window.showTextDocument(vscode.Uri.file(file(m.runDir)), { viewColumn: vscode.ViewColumn.One, preview: true });
    };
    dispatchMessage<PanelToHostMessage>(
      {
        [PanelMessageType.ready]: () => {
          this.webviewReady = true;
          this.post({ type: PanelMessageType.state, state: this.session.currentState });
        },
        [PanelMessageType.cancel]: () => {
          this.session.cancel();
        },
        [PanelMessageType.revealRunFolder]: (m) => {
          if (!this.session.knowsRunFolder(m.runDir)) return;
          const uri = vscode.Uri.file(m.runDir);
          // The explorer can show folders inside the workspace; others open in the system's file manager.
          const inWorkspace = vscode.workspace.getWorkspaceFolder(uri) !== undefined;
          void vscode.commands.executeCommand(inWorkspace ? 'revealInExplorer' : 'revealFileInOS', uri);
        },
        [PanelMessageType.openModel]: (m) => open(m, (runDir) => path.join(runDir, 'model', 'config.json')),
        [PanelMessageType.openMetrics]: (m) => open(m, (runDir) => path.join(runDir, 'metrics.json')),
      },
      message,
    );
  }

  private html(webview: vscode.Webview): string {
    const nonce = randomBytes(16).toString('base64');
    const asset = (name: string): string => webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, ...WEBVIEW_DIST, name)).toString();
    const csp = [
      "default-src 'none'",
      `img-src ${webview.cspSource} data:`,
      `font-src ${webview.cspSource}`,
      `style-src ${webview.cspSource}`,
      `script-src 'nonce-${nonce}'`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${csp}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <link rel="stylesheet" href="${asset('training.css')}">
  <title>DIMP Training</title>
</head>
<body>
  <main id="app" aria-live="polite"></main>
  <script nonce="${nonce}" src="${asset('training.js')}"></script>
</body>
</html>`;
  }

  dispose(): void {
    this.panel?.dispose();
    this.detach();
    for (const d of this.disposables) d.dispose();
  }
}

/** A saved webview state is ours when it has our shape (it comes from the webview's storage). */
function isPanelState(value: unknown): value is TrainingPanelState {
  return typeof value === 'object' && value !== null && (value as { version?: unknown }).version === 1 && Array.isArray((value as { lossPoints?: unknown }).lossPoints);
}
