// The HTTP layer shared by the provider adapters: one request function that signs a request,
// applies a per-attempt timeout, maps HTTP outcomes to ProviderError kinds, honours 429
// Retry-After, and retries with bounded exponential backoff only requests marked idempotent (GETs,
// and cancels that are safe to repeat). A non-idempotent POST is sent exactly once: on an ambiguous
// failure the adapter's findByKey is the way back. A 402 becomes an InsufficientFundsError. Every
// error message passes through redaction so that the credentials this client holds never reach an error, a log line or an event.

import type { AdapterInit, Clock, FetchLike, ProviderType, RetryPolicy } from './types.js';
import { InsufficientFundsError, ProviderError } from './types.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

export interface HttpRequest {
  method: HttpMethod;
  /** Path below the endpoint, e.g. `/v1/deployments/123`. */
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** Safe to send twice: only these are retried. */
  idempotent?: boolean;
  /** Skip the auth headers (public endpoints such as Akash's /v1/gpu-prices). */
  anonymous?: boolean;
  /** Largest answer read (default MAX_JSON_BYTES for json(), MAX_BYTES for bytes()). */
  maxBytes?: number;
}

/** What a signer sees: the exact bytes that go on the wire. */
export interface PreparedRequest {
  method: HttpMethod;
  url: URL;
  pathname: string;
  /** Canonical query string: keys sorted, then values; no leading `?`. */
  query: string;
  /** The body as sent (canonical JSON with sorted keys), or '' for none. */
  body: string;
}

export interface HttpClientConfig {
  provider: ProviderType;
  endpoint: string;
  fetch: FetchLike;
  clock: Clock;
  timeoutMs: number;
  retry: RetryPolicy;
  /** Values that must never appear in an error message. */
  secrets: string[];
  authHeaders: (req: PreparedRequest) => Record<string, string>;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 200, maxDelayMs: 5_000, maxRetryAfterMs: 10_000 };

export function retryPolicy(partial?: Partial<RetryPolicy>): RetryPolicy {
  return { ...DEFAULT_RETRY, ...(partial ?? {}) };
}

/** JSON with object keys sorted recursively and no whitespace: what we send and what we sign. */
export function canonicalJson(value: unknown): string {
  // ASCII-safe: non-ASCII characters as \uXXXX escapes (same JSON value, stable bytes to sign).
  return JSON.stringify(sortKeys(value)).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

export function canonicalQuery(params: URLSearchParams): string {
  const pairs = [...params.entries()].sort(([ka, va], [kb, vb]) => (ka < kb ? -1 : ka > kb ? 1 : va < vb ? -1 : va > vb ? 1 : 0));
  return pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

/** Largest JSON answer read: far above any provider's page of jobs, far below what hurts the operator. */
export const MAX_JSON_BYTES = 8 * 2 ** 20;
/** Largest file read through bytes() (a shard's result file, hashed in memory). */
export const MAX_BYTES = 256 * 2 ** 20;
/** Of an error answer only the start is read (its message). */
const MAX_ERROR_BYTES = 64 * 1024;

/** Per-attempt timeout when an adapter's init sets none. */
export const DEFAULT_TIMEOUT_MS = 15_000;

/**
 * The HTTP client every adapter builds from its AdapterInit: the init's fetch (default the global
 * one), 15 s per attempt unless the init says otherwise, the retry policy filled in, and the
 * provider's own authentication and secrets.
 */
export function adapterHttpClient(
  provider: ProviderType,
  init: Pick<AdapterInit<unknown, unknown>, 'endpoint' | 'fetch' | 'timeoutMs' | 'retry'>,
  clock: Clock,
  auth: Pick<HttpClientConfig, 'secrets' | 'authHeaders'>,
): HttpClient {
  return new HttpClient({
    provider, endpoint: init.endpoint, clock, retry: retryPolicy(init.retry),
    fetch: init.fetch ?? ((input, reqInit) => fetch(input, reqInit)),
    timeoutMs: init.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    ...auth,
  });
}

export class HttpClient {
  private readonly cfg: HttpClientConfig;
  private readonly base: URL;

  constructor(cfg: HttpClientConfig) {
    this.cfg = cfg;
    this.base = new URL(cfg.endpoint.endsWith('/') ? cfg.endpoint : `${cfg.endpoint}/`);
  }

  /** The fetch this client sends with (adapters reuse it for URLs outside the API, e.g. result files). */
  get fetchFn(): FetchLike {
    return this.cfg.fetch;
  }

  /** The per-attempt timeout. */
  get timeoutMs(): number {
    return this.cfg.timeoutMs;
  }

  /** Sends the request and parses a JSON answer (undefined for an empty body). */
  async json<T>(req: HttpRequest): Promise<T> {
    const res = await this.send(req);
    const text = new TextDecoder().decode(await this.read(req, res, req.maxBytes ?? MAX_JSON_BYTES));
    if (text.trim() === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw this.error(req.idempotent ? 'transient' : 'fatal', `${req.method} ${req.path}: unparseable JSON response`, res.status);
    }
  }

  async bytes(req: HttpRequest): Promise<Uint8Array> {
    const res = await this.send(req);
    return this.read(req, res, req.maxBytes ?? MAX_BYTES);
  }

  /**
   * Reads an answer's body, at most `max` bytes, within the attempt's deadline (the fetch signal
   * covers the body): a larger, trickling or cut-off body is a transient ProviderError, never a raw
   * abort, and its bytes are not kept.
   */
  private async read(req: HttpRequest, res: Response, max: number): Promise<Uint8Array> {
    const what = `${req.method} ${req.path}`;
    const tooLarge = () => this.error('transient', `${what}: answer larger than ${max} bytes`, res.status);
    if (Number(res.headers.get('content-length') ?? 0) > max) {
      await res.body?.cancel().catch(() => undefined);
      throw tooLarge();
    }
    try {
      return await readLimited(res, max);
    } catch (err) {
      if (err === TOO_LARGE) throw tooLarge();
      const names = [err, (err as { cause?: unknown }).cause].map((x) => (x instanceof Error || x instanceof DOMException ? x.name : ''));
      const timedOut = names.some((n) => n === 'TimeoutError' || n === 'AbortError') || /aborted due to timeout/.test(errText(err));
      throw this.error('transient', `${what}: ${timedOut ? `no complete answer within ${this.cfg.timeoutMs} ms` : `answer cut off (${errText(err)})`}`, res.status);
    }
  }

  /** Removes every configured secret from a text. */
  redact(text: string): string {
    let out = text;
    for (const secret of this.cfg.secrets) {
      if (secret && secret.length >= 4) out = out.split(secret).join('[redacted]');
    }
    return out;
  }

  error(kind: ProviderError['kind'], message: string, status?: number, retryAfterMs?: number): ProviderError {
    const extra: { status?: number; retryAfterMs?: number } = {};
    if (status !== undefined) extra.status = status;
    if (retryAfterMs !== undefined) extra.retryAfterMs = retryAfterMs;
    return new ProviderError(this.cfg.provider, kind, this.redact(message), extra);
  }

  private prepare(req: HttpRequest): PreparedRequest {
    const url = new URL(req.path.replace(/^\//, ''), this.base);
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.append(k, String(v));
    const query = canonicalQuery(url.searchParams);
    url.search = query;
    return { method: req.method, url, pathname: url.pathname, query, body: req.body === undefined ? '' : canonicalJson(req.body) };
  }

  private async send(req: HttpRequest): Promise<Response> {
    const { retry, clock } = this.cfg;
    const attempts = req.idempotent ? Math.max(1, retry.maxAttempts) : 1;
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= attempts;
      const backoff = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
      let failure: ProviderError;
      try {
        const res = await this.attempt(req);
        if (res.ok) return res;
        failure = await this.classify(req, res);
      } catch (err) {
        if (err instanceof ProviderError) throw err;
        failure = this.error('transient', `${req.method} ${req.path}: ${describeNetworkError(err, this.cfg.timeoutMs)}`);
      }
      if (last) throw failure;
      if (failure.kind === 'rateLimited') {
        const wait = failure.retryAfterMs ?? backoff;
        if (wait > retry.maxRetryAfterMs) throw failure;
        await clock.sleep(wait);
        continue;
      }
      if (failure.kind !== 'transient') throw failure;
      await clock.sleep(backoff);
    }
  }

  private async attempt(req: HttpRequest): Promise<Response> {
    const prepared = this.prepare(req);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (prepared.body !== '') headers['content-type'] = 'application/json';
    if (!req.anonymous) Object.assign(headers, this.cfg.authHeaders(prepared));
    const init: RequestInit = { method: req.method, headers, signal: AbortSignal.timeout(this.cfg.timeoutMs) };
    if (prepared.body !== '') init.body = prepared.body;
    return this.cfg.fetch(prepared.url.toString(), init);
  }

  private async classify(req: HttpRequest, res: Response): Promise<ProviderError> {
    const text = await readLimited(res, MAX_ERROR_BYTES, true).then((b) => new TextDecoder().decode(b), () => '');
    const detail = errorDetail(text);
    const message = `${req.method} ${req.path} -> ${res.status}${detail ? `: ${detail}` : ''}`;
    const s = res.status;
    if (s === 429) return this.error('rateLimited', message, s, parseRetryAfter(res.headers.get('retry-after'), this.cfg.clock.now()));
    if (s === 401 || s === 403) return this.error('auth', message, s);
    // 402: the account cannot pay; a distinct error so the caller can hold the provider, not the shard.
    if (s === 402) return new InsufficientFundsError(this.cfg.provider, this.redact(message), { status: s });
    if (s === 404 || s === 410) return this.error('notFound', message, s);
    if (s === 400 || s === 409 || s === 413 || s === 422) return this.error('invalid', message, s);
    if (s === 408 || s >= 500) return this.error('transient', message, s);
    return this.error('fatal', message, s);
  }
}

const TOO_LARGE = new Error('answer too large');

function errText(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  return (cause instanceof Error ? cause.message : err instanceof Error ? err.message : String(err)).slice(0, 200);
}

/** The body as text, at most `max` bytes (beyond: an error), for adapters that fetch outside the API (result agents, presigned logs). */
export async function readTextLimited(res: Response, max: number = MAX_JSON_BYTES): Promise<string> {
  return new TextDecoder().decode(await readLimited(res, max));
}

/** The body's bytes, at most `max` (beyond: TOO_LARGE, or with `truncate` the first `max` bytes); the rest is not read. */
async function readLimited(res: Response, max: number, truncate = false): Promise<Uint8Array> {
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.byteLength > max) {
      await reader.cancel().catch(() => undefined);
      if (!truncate) throw TOO_LARGE;
      parts.push(value.subarray(0, max - size));
      size = max;
      break;
    }
    parts.push(value);
    size += value.byteLength;
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.byteLength; }
  return out;
}

/** Pulls the human part out of the error bodies these APIs use ({message}, {detail}, {error}). */
export function errorDetail(text: string): string {
  if (!text) return '';
  try {
    const body = JSON.parse(text) as unknown;
    const pick = (v: unknown): string | undefined => {
      if (typeof v === 'string') return v;
      if (Array.isArray(v)) return v.map((x) => pick(x) ?? '').filter(Boolean).join('; ') || undefined;
      if (v && typeof v === 'object') {
        const o = v as Record<string, unknown>;
        return pick(o.message) ?? pick(o.detail) ?? pick(o.msg) ?? pick(o.error);
      }
      return undefined;
    };
    return (pick(body) ?? '').slice(0, 300);
  } catch {
    return text.slice(0, 200);
  }
}

export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function describeNetworkError(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `no answer within ${timeoutMs} ms`;
  const cause = err instanceof Error && err.cause instanceof Error ? ` (${err.cause.message})` : '';
  return `network error${err instanceof Error ? `: ${err.message}` : ''}${cause}`;
}
