// Error classification shared by the runtime: TerminalError (what retrying cannot fix, so the
// controller does not retry it) and readers for the HTTP status hidden in client-node's ApiException,
// Watch errors and raw Status objects, so callers can say "409 = requeue" without knowing the shapes.

/** A reconcile error that retrying cannot fix: logged and reported, never retried. */
export class TerminalError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TerminalError';
  }
}

export function isTerminal(err: unknown): boolean {
  return err instanceof TerminalError;
}

/** HTTP status of an API error (ApiException.code, Watch's statusCode, a Status body's code). */
export function statusCode(err: unknown): number | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const e = err as { code?: unknown; statusCode?: unknown; body?: unknown; response?: { statusCode?: unknown } };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  if (typeof e.response?.statusCode === 'number') return e.response.statusCode;
  if (e.body && typeof e.body === 'object' && typeof (e.body as { code?: unknown }).code === 'number') {
    return (e.body as { code: number }).code;
  }
  return undefined;
}

export const isNotFound = (err: unknown): boolean => statusCode(err) === 404;
export const isConflict = (err: unknown): boolean => statusCode(err) === 409;
export const isAlreadyExists = isConflict;
export const isGone = (err: unknown): boolean => statusCode(err) === 410;

/** Short one-line description of any thrown value, for logs and events (ApiException's own message
 * carries the whole body and response headers; this keeps the status and the API's message). */
export function errorMessage(err: unknown): string {
  const code = statusCode(err);
  const body = err && typeof err === 'object' ? (err as { body?: unknown }).body : undefined;
  if (code !== undefined && body && typeof body === 'object') {
    const b = body as { message?: unknown; reason?: unknown };
    if (typeof b.message === 'string') return `${typeof b.reason === 'string' ? b.reason : 'HTTP'} ${code}: ${b.message}`;
  }
  if (err instanceof Error) {
    const first = err.message.split('\n')[0] ?? '';
    return code !== undefined && !first.includes(String(code)) ? `${first} (HTTP ${code})` : first;
  }
  return String(err);
}
