/** Typed dispatch of messages that cross a context boundary (worker thread, webview). */

/** Handlers for every message of a union, one per type tag; the compiler checks none is missing. */
export type MessageHandlers<M extends { type: string }> = { [T in M['type']]: (message: Extract<M, { type: T }>) => void };

/**
 * Calls the handler of a message's type. Messages come from another context (JSON through
 * postMessage), so anything without a known type tag is ignored rather than trusted.
 */
export function dispatchMessage<M extends { type: string }>(handlers: MessageHandlers<M>, message: unknown): boolean {
  if (typeof message !== 'object' || message === null) return false;
  const type = (message as { type?: unknown }).type;
  if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(handlers, type)) return false;
  const handler = handlers[type as M['type']] as (message: M) => void;
  handler(message as M);
  return true;
}
