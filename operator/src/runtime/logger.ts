// Structured logging for the operator: a winston JSON logger whose lines are a fixed message plus
// fields, at a level taken from configuration, with every field whose name looks secret (key, token,
// secret, password, mnemonic, private) replaced before it is written, however deeply it is nested.
// It also defines `Log`, the minimal logging interface the runtime's other modules accept, so they
// can be handed a winston logger, a child logger, or `nopLog` in tests.
import type { Writable } from 'node:stream';
import winston from 'winston';

/** What runtime modules need from a logger; winston.Logger satisfies it. */
export interface Log {
  error(message: string, fields?: Record<string, unknown>): unknown;
  warn(message: string, fields?: Record<string, unknown>): unknown;
  info(message: string, fields?: Record<string, unknown>): unknown;
  debug(message: string, fields?: Record<string, unknown>): unknown;
}

export const nopLog: Log = {
  error: () => undefined,
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
};

export const REDACTED = '[REDACTED]';
export const SECRET_FIELD_PATTERN = /key|token|secret|password|mnemonic|private/i;
/**
 * Field names that match the pattern but never carry secrets: work-queue and owner keys
 * ("namespace/name") and deterministic idempotency keys are logged on every reconcile.
 */
export const DEFAULT_ALLOWED_FIELDS: readonly string[] = ['key', 'ownerKey', 'queueKey', 'idempotencyKey'];

export interface RedactOptions {
  pattern?: RegExp;
  allow?: readonly string[];
  /** Deeper structures are cut off (also protects against pathological nesting). */
  maxDepth?: number;
}

const LOG_RESERVED = new Set(['level', 'message', 'timestamp']);

/**
 * Returns value with secret-looking fields replaced by REDACTED. Copy-on-write: objects without
 * anything to redact are returned as they are; the caller's objects are never mutated. Errors
 * become {name, message, stack, code} so they survive JSON serialisation; cycles become "[Circular]".
 */
export function redact<T>(value: T, options: RedactOptions = {}): T {
  const pattern = options.pattern ?? SECRET_FIELD_PATTERN;
  const allow = new Set(options.allow ?? DEFAULT_ALLOWED_FIELDS);
  const maxDepth = options.maxDepth ?? 12;
  const seen = new WeakSet<object>();
  const walk = (v: unknown, depth: number): unknown => {
    if (v === null || typeof v !== 'object') return v;
    if (v instanceof Date || Buffer.isBuffer(v) || ArrayBuffer.isView(v)) return v;
    if (seen.has(v)) return '[Circular]';
    if (depth >= maxDepth) return '[Truncated]';
    seen.add(v);
    try {
      if (v instanceof Error) {
        const e = v as Error & { code?: unknown };
        const out: Record<string, unknown> = { name: e.name, message: e.message };
        if (e.stack) out.stack = e.stack;
        if (e.code !== undefined) out.code = e.code;
        for (const k of Object.keys(e)) {
          if (!(k in out)) out[k] = pattern.test(k) && !allow.has(k) ? REDACTED : walk((e as unknown as Record<string, unknown>)[k], depth + 1);
        }
        return out;
      }
      if (Array.isArray(v)) {
        let copy: unknown[] | undefined;
        for (let i = 0; i < v.length; i++) {
          const r = walk(v[i], depth + 1);
          if (r !== v[i]) {
            copy ??= v.slice();
            copy[i] = r;
          }
        }
        return copy ?? v;
      }
      if (v instanceof Map) {
        return walk(Object.fromEntries(v), depth);
      }
      let copy: Record<string, unknown> | undefined;
      const src = v as Record<string, unknown>;
      for (const k of Object.keys(src)) {
        const orig = src[k];
        const r = pattern.test(k) && !allow.has(k) && orig !== undefined ? REDACTED : walk(orig, depth + 1);
        if (r !== orig) {
          copy ??= { ...src };
          copy[k] = r;
        }
      }
      return copy ?? v;
    } finally {
      seen.delete(v);
    }
  };
  return walk(value, 0) as T;
}

/** winston format that redacts every field of a log entry except level, message and timestamp. */
export const redactFormat = winston.format((info, rawOpts: unknown) => {
  const opts = (rawOpts ?? {}) as RedactOptions;
  const pattern = opts.pattern ?? SECRET_FIELD_PATTERN;
  const allow = new Set(opts.allow ?? DEFAULT_ALLOWED_FIELDS);
  const record = info as Record<string, unknown>;
  for (const k of Object.keys(record)) {
    if (LOG_RESERVED.has(k)) continue;
    if (pattern.test(k) && !allow.has(k)) record[k] = REDACTED;
    else record[k] = redact(record[k], opts);
  }
  return info;
});

export interface LoggerOptions {
  /** error | warn | info | debug (winston npm levels); default info. */
  level?: string;
  /** Added to every line as `component`. */
  component?: string;
  /** Fields added to every line. */
  fields?: Record<string, unknown>;
  /** Where lines go; default stdout. */
  stream?: Writable;
  redact?: RedactOptions;
}

export type Logger = winston.Logger;

export function createLogger(options: LoggerOptions = {}): Logger {
  const defaultMeta = { ...(options.fields ?? {}), ...(options.component ? { component: options.component } : {}) };
  return winston.createLogger({
    level: options.level ?? 'info',
    defaultMeta,
    format: winston.format.combine(winston.format.timestamp(), redactFormat(options.redact ?? {}), winston.format.json()),
    transports: [
      options.stream
        ? new winston.transports.Stream({ stream: options.stream })
        : new winston.transports.Console(),
    ],
  });
}
