/** The core's typed progress events, as the workers, the extension and the webview exchange them. */
export * from '../core/events';
