// Kubernetes Events for what the operator does to an object (`kubectl describe` shows them). The
// recorder writes core/v1 Events from component "atelier" with CamelCase reasons and type Normal or
// Warning; a repeat of the same (object, type, reason, message) patches the existing Event's count
// and lastTimestamp instead of creating another; each object has a token bucket so a hot loop cannot
// flood the API server; and recording never throws into the caller or blocks it: writes happen in
// the background, failures are logged and dropped. flush() awaits outstanding writes (tests, shutdown).
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { type Clock, realClock } from './clock.js';
import { errorMessage, isNotFound } from './errors.js';
import { type Log, nopLog } from './logger.js';

export type EventType = 'Normal' | 'Warning';

/** What an Event is about; any Kubernetes object (or a reference built from one). */
export interface EventObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export interface EventSink {
  create(namespace: string, event: k8s.CoreV1Event): Promise<unknown>;
  /** Merge-patches count and lastTimestamp (404 if the Event has expired). */
  patch(namespace: string, name: string, patch: { count: number; lastTimestamp: Date }): Promise<unknown>;
}

export function coreEventSink(core: k8s.CoreV1Api): EventSink {
  const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
  return {
    create: (namespace, body) => core.createNamespacedEvent({ namespace, body }),
    patch: (namespace, name, body) => core.patchNamespacedEvent({ namespace, name, body }, mergePatch),
  };
}

export interface EventRecorderOptions {
  sink: EventSink;
  /** reportingComponent and source.component; default "atelier". */
  component?: string;
  /** reportingInstance and source.host (e.g. the pod name). */
  instance?: string;
  clock?: Clock;
  logger?: Log;
  /** Per-object token bucket: burst events, then one more every refillMs. Defaults 25 and 5 min (client-go's). */
  burst?: number;
  refillMs?: number;
  /** Remembered (object, reason, message) series and per-object buckets; least recent dropped first. Default 4096. */
  cacheSize?: number;
}

interface Series {
  namespace: string;
  name: string;
  count: number;
}

interface Bucket {
  tokens: number;
  last: number;
}

const REASON = /^[A-Z][A-Za-z0-9]*$/;
const MAX_MESSAGE = 1024;

export class EventRecorder {
  private readonly sink: EventSink;
  private readonly component: string;
  private readonly instance: string | undefined;
  private readonly clock: Clock;
  private readonly log: Log;
  private readonly burst: number;
  private readonly refillMs: number;
  private readonly cacheSize: number;
  private readonly series = new Map<string, Series>();
  private readonly buckets = new Map<string, Bucket>();
  /** Per series: the tail of its write chain, so a repeat waits for the create it patches. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly outstanding = new Set<Promise<void>>();

  constructor(options: EventRecorderOptions) {
    this.sink = options.sink;
    this.component = options.component ?? 'atelier';
    this.instance = options.instance;
    this.clock = options.clock ?? realClock;
    this.log = options.logger ?? nopLog;
    this.burst = options.burst ?? 25;
    this.refillMs = options.refillMs ?? 5 * 60_000;
    this.cacheSize = options.cacheSize ?? 4096;
  }

  normal(obj: EventObject, reason: string, message: string): void {
    this.event(obj, 'Normal', reason, message);
  }

  warning(obj: EventObject, reason: string, message: string): void {
    this.event(obj, 'Warning', reason, message);
  }

  /** Records an Event in the background. Never throws. */
  event(obj: EventObject, type: EventType, reason: string, message: string): void {
    try {
      const name = obj.metadata?.name;
      if (!name) {
        this.log.warn('event dropped: object has no name', { reason });
        return;
      }
      if (!REASON.test(reason)) this.log.warn('event reason is not CamelCase', { reason });
      const namespace = obj.metadata?.namespace || 'default';
      const objectId = `${obj.kind ?? ''}/${namespace}/${name}/${obj.metadata?.uid ?? ''}`;
      if (!this.allow(objectId)) {
        this.log.debug('event dropped by rate limit', { object: `${namespace}/${name}`, reason });
        return;
      }
      const text = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
      const seriesKey = `${objectId}\u0000${type}\u0000${reason}\u0000${text}`;
      const now = this.clock.now();
      const prev = this.chains.get(seriesKey) ?? Promise.resolve();
      const next = prev.then(() => this.write(seriesKey, obj, namespace, type, reason, text, now));
      this.chains.set(seriesKey, next);
      this.outstanding.add(next);
      void next.finally(() => {
        this.outstanding.delete(next);
        if (this.chains.get(seriesKey) === next) this.chains.delete(seriesKey);
      });
    } catch (err) {
      this.log.warn('event dropped', { reason, error: errorMessage(err) });
    }
  }

  /** Resolves when every event recorded so far has been written (or dropped). */
  async flush(): Promise<void> {
    while (this.outstanding.size > 0) await Promise.all([...this.outstanding]);
  }

  private async write(seriesKey: string, obj: EventObject, namespace: string, type: EventType, reason: string, message: string, at: number): Promise<void> {
    const when = new Date(at);
    const known = this.series.get(seriesKey);
    try {
      if (known) {
        try {
          await this.sink.patch(known.namespace, known.name, { count: known.count + 1, lastTimestamp: when });
          known.count++;
          this.touch(this.series, seriesKey, known);
          return;
        } catch (err) {
          // Events expire (1 h by default): start a new series.
          if (!isNotFound(err)) throw err;
          this.series.delete(seriesKey);
        }
      }
      const name = `${obj.metadata!.name}.${at.toString(16)}${randomBytes(3).toString('hex')}`;
      const event: k8s.CoreV1Event = {
        metadata: { name, namespace },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: obj.metadata!.name,
          namespace: obj.metadata?.namespace,
          uid: obj.metadata?.uid,
          resourceVersion: obj.metadata?.resourceVersion,
        },
        type,
        reason,
        message,
        count: 1,
        firstTimestamp: when,
        lastTimestamp: when,
        source: { component: this.component, ...(this.instance ? { host: this.instance } : {}) },
        reportingComponent: this.component,
        ...(this.instance ? { reportingInstance: this.instance } : {}),
      };
      await this.sink.create(namespace, event);
      this.touch(this.series, seriesKey, { namespace, name, count: 1 });
    } catch (err) {
      this.log.warn('could not write event', { object: `${namespace}/${obj.metadata?.name}`, reason, error: errorMessage(err) });
    }
  }

  private allow(objectId: string): boolean {
    const now = this.clock.now();
    let b = this.buckets.get(objectId);
    if (!b) b = { tokens: this.burst, last: now };
    b.tokens = Math.min(this.burst, b.tokens + (now - b.last) / this.refillMs);
    b.last = now;
    const ok = b.tokens >= 1;
    if (ok) b.tokens -= 1;
    this.touch(this.buckets, objectId, b);
    return ok;
  }

  /** Map as LRU: re-insert to mark recent, evict the oldest beyond cacheSize. */
  private touch<V>(m: Map<string, V>, key: string, value: V): void {
    m.delete(key);
    m.set(key, value);
    if (m.size > this.cacheSize) m.delete(m.keys().next().value!);
  }
}
