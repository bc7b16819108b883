import type { PanelToHostMessage, TrainingPanelState } from '../../src/protocol/trainingPanel';

/** The part of the webview API the panel uses; `acquireVsCodeApi` may be called once per page. */
export interface PanelHost {
  postMessage(message: PanelToHostMessage): void;
  /** The state saved for this panel, kept across hides and window reloads. */
  getState(): TrainingPanelState | undefined;
  setState(state: TrainingPanelState): void;
}

declare function acquireVsCodeApi(): PanelHost;

/** The webview API of this page. */
export function panelHost(): PanelHost {
  return acquireVsCodeApi();
}
