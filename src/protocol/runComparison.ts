/** The panel's comparison of runs (core/view/runComparison.ts), for the webview, which imports only src/protocol. */
export * from '../core/view/runComparison';
