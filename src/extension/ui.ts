import * as vscode from 'vscode';

/**
 * The extension's messages and context keys, through one place, so that the extension-host tests can see
 * what a user was told and which commands were offered (VS Code has no API to read either back).
 */
const recentMessages: { level: 'info' | 'warning' | 'error'; text: string }[] = [];
const contextValues = new Map<string, unknown>();
const KEEP = 100;

function recorded<F extends (message: string, ...rest: never[]) => Thenable<unknown>>(level: 'info' | 'warning' | 'error', show: F): F {
  return ((message: string, ...rest: never[]) => {
    recentMessages.push({ level, text: message });
    if (recentMessages.length > KEEP) recentMessages.shift();
    return show(message, ...rest);
  }) as F;
}

export const showInformationMessage = recorded('info', vscode.window.showInformationMessage);
export const showWarningMessage = recorded('warning', vscode.window.showWarningMessage);
export const showErrorMessage = recorded('error', vscode.window.showErrorMessage);

/** Sets a `when`-clause context key (and remembers it for the tests). */
export function setContextKey(key: string, value: unknown): void {
  contextValues.set(key, value);
  void vscode.commands.executeCommand('setContext', key, value);
}

/** The last messages shown, oldest first (for the tests). */
export function shownMessages(): readonly { level: 'info' | 'warning' | 'error'; text: string }[] {
  return [...recentMessages];
}

/** The context keys this extension set, with their values (for the tests). */
export function contextKeys(): Record<string, unknown> {
  return Object.fromEntries(contextValues);
}
