// A typed informer: list (paginated) then watch one resource collection, keep an in-memory store
// keyed "namespace/name", maintain user-defined indexes so controllers look objects up instead of
// scanning, and tell event handlers about adds, updates and deletes. Unlike client-node's ListWatch
// (which stops on the first watch error) it never gives up: a closed watch resumes from the last
// resourceVersion, 410 Gone relists, any other error or failed list retries with jittered
// exponential backoff, until stop(). Objects are stored once, as they came off the wire (plain JSON,
// timestamps as strings), minus managedFields by default; nothing else keeps a copy.
import * as k8s from '@kubernetes/client-node';
import { type Clock, realClock } from './clock.js';
import type { Handler } from './controller.js';
import { errorMessage, isGone, statusCode } from './errors.js';
import { keyOf, objectKey } from './keys.js';
import { type Log, nopLog } from './logger.js';

// ---------------------------------------------------------------------------------------------
// The two calls an informer makes, behind an interface so unit tests can fake the API server.

export interface ListOptions {
  limit?: number;
  continue?: string;
  labelSelector?: string;
  fieldSelector?: string;
  signal?: AbortSignal;
}

export interface ListPage {
  apiVersion?: string;
  kind?: string;
  items: unknown[];
  metadata?: { resourceVersion?: string; continue?: string };
}

export interface WatchOptions {
  resourceVersion: string;
  timeoutSeconds?: number;
  allowWatchBookmarks?: boolean;
  labelSelector?: string;
  fieldSelector?: string;
}

export interface WatchHandle {
  abort(): void;
}

export interface ListerWatcher {
  list(options: ListOptions): Promise<ListPage>;
  /** Starts a watch; onEvent gets (type, object) per line; onDone is called once when it ends. */
  watch(options: WatchOptions, onEvent: (type: string, obj: unknown) => void, onDone: (err?: unknown) => void): Promise<WatchHandle>;
}

export interface KubeListerWatcherOptions {
  /**
   * A watch that delivers nothing (not even a bookmark, which the API server sends about every
   * minute) for this long is considered dead and reopened. Default 90 s. client-node's default of
   * 30 s would reopen quiet watches before their first bookmark, with an ever older resourceVersion.
   */
  idleTimeoutMs?: number;
  /** A list page that takes longer fails (and is retried); default 60 s. */
  listTimeoutMs?: number;
}

/** ListerWatcher for the collection at path (e.g. /api/v1/namespaces/ns/pods, /apis/g/v1/things). */
export function kubeListerWatcher(kc: k8s.KubeConfig, path: string, options: KubeListerWatcherOptions = {}): ListerWatcher {
  const http = k8s.createConfiguration().httpApi;
  const watcher = new k8s.Watch(kc);
  // Watch's idle timeout is not configurable through its API; the field is what it reads per watch.
  (watcher as unknown as { requestTimeoutMs: number }).requestTimeoutMs = options.idleTimeoutMs ?? 90_000;
  const listTimeoutMs = options.listTimeoutMs ?? 60_000;
  const server = (): string => {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    return cluster.server;
  };
  return {
    async list(opts) {
      const url = new URL(server() + path);
      if (opts.limit) url.searchParams.set('limit', String(opts.limit));
      if (opts.continue) url.searchParams.set('continue', opts.continue);
      if (opts.labelSelector) url.searchParams.set('labelSelector', opts.labelSelector);
      if (opts.fieldSelector) url.searchParams.set('fieldSelector', opts.fieldSelector);
      const ctx = new k8s.RequestContext(url.toString(), k8s.HttpMethod.GET);
      ctx.setHeaderParam('Accept', 'application/json');
      const timeout = AbortSignal.timeout(listTimeoutMs);
      ctx.setSignal(opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout);
      await kc.applySecurityAuthentication(ctx);
      const resp = await http.send(ctx).toPromise();
      const text = await resp.body.text();
      if (resp.httpStatusCode !== 200) {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        throw new k8s.ApiException(resp.httpStatusCode, `list ${path}`, body, resp.headers);
      }
      return JSON.parse(text) as ListPage;
    },
    async watch(opts, onEvent, onDone) {
      const params: Record<string, string | number | boolean | undefined> = {
        resourceVersion: opts.resourceVersion,
        allowWatchBookmarks: opts.allowWatchBookmarks,
        timeoutSeconds: opts.timeoutSeconds,
        labelSelector: opts.labelSelector,
        fieldSelector: opts.fieldSelector,
      };
      const controller = await watcher.watch(path, params, (type, obj) => onEvent(type, obj), (err) => onDone(err ?? undefined));
      return { abort: () => controller.abort() };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The informer.

/** Values an object is indexed under (e.g. its owner job's key); [] for none. */
export type IndexFunc<T> = (obj: T) => readonly string[];

/** Built-in index: namespace name -> keys, used by list(namespace). */
export const NAMESPACE_INDEX = 'namespace';

export interface InformerStats {
  /** Full lists completed (1 after the first sync; more after 410 Gone). */
  lists: number;
  /** Watches opened. */
  watches: number;
  /** Lists or watches that failed (not counting normal closes and 410s). */
  errors: number;
}

export interface InformerOptions<T> {
  /** Collection path, e.g. /api/v1/pods, /api/v1/namespaces/ns/pods, /apis/atelier.dev/v1alpha1/renderjobs. */
  path: string;
  /** Used to build the default ListerWatcher. */
  kubeConfig?: k8s.KubeConfig;
  /** Overrides the API access (tests). */
  listerWatcher?: ListerWatcher;
  labelSelector?: string;
  fieldSelector?: string;
  indexers?: Record<string, IndexFunc<T>>;
  /** Applied to every object before it is stored; default drops metadata.managedFields. */
  transform?: (obj: T) => T;
  /** List page size; 0 lists in one request. Default 500. */
  pageSize?: number;
  /** Server-side watch timeout; default random in [300, 600) s so many informers don't reconnect together. */
  watchTimeoutSeconds?: number;
  /** Restart backoff after errors; default 500 ms doubling to 30 s, with jitter. */
  backoff?: { initialMs?: number; maxMs?: number };
  clock?: Clock;
  logger?: Log;
  /** For logs; default the path. */
  name?: string;
}

/** Default transform: managedFields are large and no controller here reads them. */
export function dropManagedFields<T extends k8s.KubernetesObject>(obj: T): T {
  if (obj.metadata?.managedFields) obj.metadata.managedFields = undefined;
  return obj;
}

interface Index {
  fn: IndexFunc<unknown>;
  map: Map<string, Set<string>>;
}

const EMPTY: readonly string[] = [];

export class Informer<T extends k8s.KubernetesObject> {
  readonly name: string;
  private readonly lw: ListerWatcher;
  private readonly opts: InformerOptions<T>;
  private readonly clock: Clock;
  private readonly log: Log;
  private readonly transform: (obj: T) => T;

  private readonly store = new Map<string, T>();
  private readonly indices = new Map<string, Index>();
  private handlers: Handler<T>[] = [];

  private resourceVersion = '';
  private synced = false;
  private syncWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private started = false;
  private stopped = false;
  private running: Promise<void> | undefined;
  private readonly stopController = new AbortController();
  private closeWatch: (() => void) | undefined;
  private readonly counters: InformerStats = { lists: 0, watches: 0, errors: 0 };

  constructor(options: InformerOptions<T>) {
    this.opts = options;
    this.name = options.name ?? options.path;
    this.clock = options.clock ?? realClock;
    this.log = options.logger ?? nopLog;
    this.transform = options.transform ?? dropManagedFields;
    if (options.listerWatcher) this.lw = options.listerWatcher;
    else if (options.kubeConfig) this.lw = kubeListerWatcher(options.kubeConfig, options.path);
    else throw new Error('Informer needs kubeConfig or listerWatcher');
    this.addIndexer(NAMESPACE_INDEX, (o: T) => (o.metadata?.namespace ? [o.metadata.namespace] : EMPTY));
    for (const [name, fn] of Object.entries(options.indexers ?? {})) this.addIndexer(name, fn);
  }

  // ----- lifecycle

  /** Starts listing and watching in the background (idempotent). */
  start(): this {
    if (this.started) return this;
    this.started = true;
    this.running = this.loop();
    return this;
  }

  /** Stops the watch and any retry; resolves when the background loop has ended. */
  async stop(): Promise<void> {
    if (this.stopped) return this.running;
    this.stopped = true;
    this.stopController.abort();
    this.closeWatch?.();
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of waiters) w.reject(new Error(`informer ${this.name} stopped before sync`));
    await this.running;
  }

  /** True once the first full list is in the store. */
  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves when synced; rejects on timeout or if the informer stops first. */
  waitForSync(timeoutMs?: number): Promise<void> {
    if (this.synced) return Promise.resolve();
    if (this.stopped) return Promise.reject(new Error(`informer ${this.name} stopped`));
    return new Promise<void>((resolve, reject) => {
      const entry = { resolve, reject };
      this.syncWaiters.push(entry);
      if (timeoutMs !== undefined) {
        const timer = this.clock.setTimer(timeoutMs, () => {
          this.syncWaiters = this.syncWaiters.filter((w) => w !== entry);
          reject(new Error(`informer ${this.name} did not sync within ${timeoutMs} ms`));
        });
        entry.resolve = () => {
          timer.cancel();
          resolve();
        };
      }
    });
  }

  stats(): InformerStats {
    return { ...this.counters };
  }

  /** resourceVersion the next watch resumes from ("" = will relist). */
  lastResourceVersion(): string {
    return this.resourceVersion;
  }

  // ----- handlers and indexes

  /**
   * Registers a handler. If objects are already stored, it first gets an add for each (so late
   * registration misses nothing). Returns a function that unregisters it.
   */
  addEventHandler(handler: Handler<T>): () => void {
    this.handlers = [...this.handlers, handler];
    if (handler.add) for (const obj of this.store.values()) this.call(() => handler.add!(obj));
    return () => {
      this.handlers = this.handlers.filter((h) => h !== handler);
    };
  }

  /** Adds (or replaces) an index; existing objects are indexed immediately. */
  addIndexer(name: string, fn: IndexFunc<T>): void {
    const index: Index = { fn: fn as IndexFunc<unknown>, map: new Map() };
    this.indices.set(name, index);
    for (const [key, obj] of this.store) for (const v of this.indexValuesOf(index, obj)) this.indexAdd(index, v, key);
  }

  // ----- reads (never copies: callers must not mutate what they get)

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  getByName(name: string, namespace?: string): T | undefined {
    return this.store.get(keyOf(namespace, name));
  }

  /** All objects, or those of one namespace (via the namespace index). */
  list(namespace?: string): T[] {
    if (namespace === undefined) return Array.from(this.store.values());
    return this.byIndex(NAMESPACE_INDEX, namespace);
  }

  keys(): IterableIterator<string> {
    return this.store.keys();
  }

  values(): IterableIterator<T> {
    return this.store.values();
  }

  get size(): number {
    return this.store.size;
  }

  /** Objects whose index function returned value. */
  byIndex(indexName: string, value: string): T[] {
    const keys = this.indexSet(indexName).get(value);
    if (!keys) return [];
    const out: T[] = [];
    for (const k of keys) {
      const obj = this.store.get(k);
      if (obj) out.push(obj);
    }
    return out;
  }

  /** Keys of the objects whose index function returned value. */
  indexKeys(indexName: string, value: string): string[] {
    const keys = this.indexSet(indexName).get(value);
    return keys ? Array.from(keys) : [];
  }

  /** Number of objects under an index value, without building an array. */
  countByIndex(indexName: string, value: string): number {
    return this.indexSet(indexName).get(value)?.size ?? 0;
  }

  /** All values an index currently has. */
  indexValues(indexName: string): string[] {
    return Array.from(this.indexSet(indexName).keys());
  }

  // ----- the list/watch loop

  private async loop(): Promise<void> {
    const initial = this.opts.backoff?.initialMs ?? 500;
    const max = this.opts.backoff?.maxMs ?? 30_000;
    let delay = initial;
    while (!this.stopped) {
      let healthy = false;
      try {
        if (!this.resourceVersion) {
          await this.relist();
          if (this.stopped) break;
          delay = initial;
        }
        const r = await this.watchOnce();
        if (this.stopped) break;
        if (r.gone) {
          this.log.info('watch resourceVersion expired, relisting', { informer: this.name });
          this.resourceVersion = '';
          continue;
        }
        healthy = r.events > 0 || r.durationMs >= 1000;
        if (!r.error && healthy) {
          delay = initial;
          continue;
        }
        if (r.error) {
          this.counters.errors++;
          this.log.warn('watch failed, restarting', { informer: this.name, error: errorMessage(r.error), events: r.events });
        }
      } catch (err) {
        if (this.stopped) break;
        this.counters.errors++;
        this.log.warn('list failed, retrying', { informer: this.name, error: errorMessage(err) });
      }
      if (healthy) delay = initial;
      try {
        await this.clock.sleep(delay * (0.5 + Math.random() * 0.5), this.stopController.signal);
      } catch {
        break;
      }
      delay = Math.min(max, delay * 2);
    }
  }

  private async relist(): Promise<void> {
    const seen = new Set<string>();
    let limit: number | undefined = this.opts.pageSize ?? 500;
    if (!limit) limit = undefined;
    let cont: string | undefined;
    let rv = '';
    for (;;) {
      let page: ListPage;
      try {
        page = await this.lw.list({
          limit,
          continue: cont,
          labelSelector: this.opts.labelSelector,
          fieldSelector: this.opts.fieldSelector,
          signal: this.stopController.signal,
        });
      } catch (err) {
        if (cont && isGone(err)) {
          // The continue token outlived the snapshot it pointed into: list everything in one go.
          this.log.info('list continue token expired, listing without pages', { informer: this.name });
          cont = undefined;
          limit = undefined;
          continue;
        }
        throw err;
      }
      if (this.stopped) return;
      const kind = page.kind?.endsWith('List') ? page.kind.slice(0, -4) : undefined;
      for (const raw of page.items ?? []) {
        const item = raw as T;
        // List items carry no apiVersion/kind; watch events do. Make them look the same.
        if (kind && !item.kind) item.kind = kind;
        if (page.apiVersion && !item.apiVersion) item.apiVersion = page.apiVersion;
        const obj = this.transform(item);
        seen.add(objectKey(obj));
        this.upsert(obj);
      }
      rv = page.metadata?.resourceVersion || rv;
      cont = page.metadata?.continue || undefined;
      if (!cont) break;
    }
    for (const [key, obj] of this.store) {
      if (!seen.has(key)) this.removeKey(key, obj, obj);
    }
    this.resourceVersion = rv;
    this.counters.lists++;
    if (!this.synced) {
      this.synced = true;
      const waiters = this.syncWaiters;
      this.syncWaiters = [];
      for (const w of waiters) w.resolve();
      this.log.debug('informer synced', { informer: this.name, objects: this.store.size });
    }
  }

  private watchOnce(): Promise<{ error?: unknown; gone: boolean; events: number; durationMs: number }> {
    const started = this.clock.now();
    this.counters.watches++;
    return new Promise((resolve) => {
      let finished = false;
      let handle: WatchHandle | undefined;
      let gone = false;
      let events = 0;
      const finish = (error?: unknown): void => {
        if (finished) return;
        finished = true;
        this.closeWatch = undefined;
        handle?.abort();
        if (error !== undefined && isGone(error)) {
          gone = true;
          error = undefined;
        }
        // The client's idle timer fired: the connection went quiet, not wrong. Reopen.
        if (error instanceof Error && error.name === 'TimeoutError') error = undefined;
        resolve({ error, gone, events, durationMs: this.clock.now() - started });
      };
      this.closeWatch = () => finish();
      const onEvent = (type: string, raw: unknown): void => {
        if (finished) return;
        const obj = raw as T;
        switch (type) {
          case 'ADDED':
          case 'MODIFIED':
            events++;
            this.upsert(this.transform(obj));
            break;
          case 'DELETED':
            events++;
            this.remove(obj);
            break;
          case 'BOOKMARK':
            events++;
            break;
          case 'ERROR': {
            const status = raw as { code?: number; message?: string };
            finish(statusCode(status) === 410 ? status : Object.assign(new Error(status.message ?? 'watch error'), { code: status.code }));
            return;
          }
          default:
            return;
        }
        const rv = obj.metadata?.resourceVersion;
        if (rv) this.resourceVersion = rv;
      };
      const timeoutSeconds = this.opts.watchTimeoutSeconds ?? Math.floor(300 + Math.random() * 300);
      this.lw
        .watch(
          {
            resourceVersion: this.resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds,
            labelSelector: this.opts.labelSelector,
            fieldSelector: this.opts.fieldSelector,
          },
          onEvent,
          (err) => finish(err ?? undefined),
        )
        .then(
          (h) => {
            handle = h;
            if (finished) h.abort();
          },
          (err) => finish(err ?? new Error('watch failed')),
        );
    });
  }

  // ----- store mutations

  private upsert(obj: T): void {
    const key = objectKey(obj);
    const old = this.store.get(key);
    const rv = obj.metadata?.resourceVersion;
    if (old && rv && old.metadata?.resourceVersion === rv) return;
    this.store.set(key, obj);
    this.reindex(key, old, obj);
    if (old) this.dispatch((h) => h.update?.(old, obj));
    else this.dispatch((h) => h.add?.(obj));
  }

  private remove(obj: T): void {
    const key = objectKey(obj);
    const old = this.store.get(key);
    if (!old) return;
    this.removeKey(key, old, obj);
  }

  /** Removes key; handlers see `final` (the deleted object's last state if known, else the cached one). */
  private removeKey(key: string, old: T, final: T): void {
    this.store.delete(key);
    this.reindex(key, old, undefined);
    this.dispatch((h) => h.delete?.(final));
  }

  private reindex(key: string, old: T | undefined, cur: T | undefined): void {
    for (const index of this.indices.values()) {
      const before = old ? this.indexValuesOf(index, old) : EMPTY;
      const after = cur ? this.indexValuesOf(index, cur) : EMPTY;
      if (sameValues(before, after)) continue;
      for (const v of before) if (!after.includes(v)) this.indexRemove(index, v, key);
      for (const v of after) if (!before.includes(v)) this.indexAdd(index, v, key);
    }
  }

  private indexValuesOf(index: Index, obj: T): readonly string[] {
    try {
      return index.fn(obj) ?? EMPTY;
    } catch (err) {
      this.log.error('index function failed', { informer: this.name, error: errorMessage(err) });
      return EMPTY;
    }
  }

  private indexAdd(index: Index, value: string, key: string): void {
    let set = index.map.get(value);
    if (!set) {
      set = new Set();
      index.map.set(value, set);
    }
    set.add(key);
  }

  private indexRemove(index: Index, value: string, key: string): void {
    const set = index.map.get(value);
    if (!set) return;
    set.delete(key);
    if (set.size === 0) index.map.delete(value);
  }

  private indexSet(name: string): Map<string, Set<string>> {
    const index = this.indices.get(name);
    if (!index) throw new Error(`informer ${this.name}: no index named ${name}`);
    return index.map;
  }

  private dispatch(fn: (h: Handler<T>) => void): void {
    for (const h of this.handlers) this.call(() => fn(h));
  }

  private call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error('informer event handler failed', { informer: this.name, error: errorMessage(err) });
    }
  }
}

function sameValues(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Index function: the value of one label ([] when absent). */
export function labelIndex<T extends k8s.KubernetesObject>(label: string, withNamespace = true): IndexFunc<T> {
  return (obj) => {
    const v = obj.metadata?.labels?.[label];
    if (v === undefined) return EMPTY;
    return [withNamespace ? keyOf(obj.metadata?.namespace, v) : v];
  };
}

/** Index function: the key ("namespace/name") of the controlling owner of a kind. */
export function ownerIndex<T extends k8s.KubernetesObject>(kind: string): IndexFunc<T> {
  return (obj) => {
    const ref = obj.metadata?.ownerReferences?.find((r) => r.controller && r.kind === kind);
    return ref ? [keyOf(obj.metadata?.namespace, ref.name)] : EMPTY;
  };
}
