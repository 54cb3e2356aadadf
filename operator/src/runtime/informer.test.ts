// Informer behaviour against a scripted ListerWatcher: paginated sync, events to handlers, indexes,
// resume after a clean close, relist on 410 (with deletes for what vanished), backoff restart after
// errors, late handlers, stop. The real API server is exercised in test/runtime/informer.test.ts.
import { FakeClock, flushMicrotasks } from './clock.js';
import { Informer, type ListerWatcher, type ListOptions, type ListPage, ownerIndex, labelIndex, type WatchOptions } from './informer.js';

interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    managedFields?: { manager?: string }[];
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
  };
  status?: { phase?: string };
}

class FakeApi implements ListerWatcher {
  objects = new Map<string, Pod>();
  rv = 100;
  lists: ListOptions[] = [];
  watches: WatchOptions[] = [];
  listError: unknown;
  private snapshot: Pod[] = [];
  watchError: unknown;
  private sinks: { onEvent: (t: string, o: unknown) => void; onDone: (e?: unknown) => void; open: boolean }[] = [];

  put(name: string, ns = 'ns', extra: Partial<Pod['metadata']> = {}, phase = 'Pending'): Pod {
    const key = `${ns}/${name}`;
    const existed = this.objects.has(key);
    const pod: Pod = { metadata: { name, namespace: ns, resourceVersion: String(++this.rv), ...extra }, status: { phase } };
    this.objects.set(key, pod);
    this.emit(existed ? 'MODIFIED' : 'ADDED', { apiVersion: 'v1', kind: 'Pod', ...structuredClone(pod) });
    return pod;
  }

  del(name: string, ns = 'ns'): void {
    const pod = this.objects.get(`${ns}/${name}`)!;
    this.objects.delete(`${ns}/${name}`);
    this.emit('DELETED', { apiVersion: 'v1', kind: 'Pod', ...structuredClone(pod), metadata: { ...pod.metadata, resourceVersion: String(++this.rv) } });
  }

  emit(type: string, obj: unknown): void {
    for (const s of this.sinks) if (s.open) s.onEvent(type, obj);
  }

  /** Ends open watches as the server would (err undefined = clean close). */
  close(err?: unknown): void {
    for (const s of this.sinks) {
      if (s.open) {
        s.open = false;
        s.onDone(err);
      }
    }
  }

  openWatches(): number {
    return this.sinks.filter((s) => s.open).length;
  }

  async list(opts: ListOptions): Promise<ListPage> {
    this.lists.push(opts);
    if (this.listError) throw this.listError;
    // A paginated list reads one snapshot, as the API server's continue tokens do.
    if (!opts.continue) this.snapshot = [...this.objects.values()].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
    const all = this.snapshot;
    const start = opts.continue ? Number(opts.continue) : 0;
    const end = opts.limit ? start + opts.limit : all.length;
    const items = all.slice(start, end).map((p) => structuredClone(p));
    return {
      apiVersion: 'v1',
      kind: 'PodList',
      items,
      metadata: { resourceVersion: String(this.rv), continue: end < all.length ? String(end) : undefined },
    };
  }

  async watch(opts: WatchOptions, onEvent: (t: string, o: unknown) => void, onDone: (e?: unknown) => void) {
    this.watches.push(opts);
    if (this.watchError) {
      const err = this.watchError;
      queueMicrotask(() => onDone(err));
      return { abort: () => undefined };
    }
    const sink = { onEvent, onDone, open: true };
    this.sinks.push(sink);
    return {
      abort: () => {
        sink.open = false;
      },
    };
  }
}

/** Waits for the first sync and for the watch that follows it to open. */
async function synced(informer: Informer<Pod>): Promise<void> {
  await informer.waitForSync();
  await flushMicrotasks();
}

function setup(pageSize = 2) {
  const api = new FakeApi();
  const clock = new FakeClock();
  const informer = new Informer<Pod>({
    path: '/api/v1/pods',
    listerWatcher: api,
    clock,
    pageSize,
    indexers: { job: labelIndex('atelier.dev/job'), owner: ownerIndex('RenderJob') },
  });
  const events: string[] = [];
  informer.addEventHandler({
    add: (p) => events.push(`add ${p.metadata.name}`),
    update: (o, n) => events.push(`update ${n.metadata.name} ${o.status?.phase}->${n.status?.phase}`),
    delete: (p) => events.push(`delete ${p.metadata.name}`),
  });
  return { api, clock, informer, events };
}

describe('Informer', () => {
  it('lists in pages, syncs, then applies watch events and keeps indexes', async () => {
    const { api, informer, events } = setup(2);
    api.put('a', 'ns', { labels: { 'atelier.dev/job': 'j1' }, managedFields: [{ manager: 'x' }] });
    api.put('b', 'ns', { labels: { 'atelier.dev/job': 'j1' } });
    api.put('c', 'other', { labels: { 'atelier.dev/job': 'j2' } });
    informer.start();
    await synced(informer);
    expect(informer.hasSynced()).toBe(true);
    expect(api.lists.map((l) => [l.limit, l.continue])).toEqual([[2, undefined], [2, '2']]);
    expect(informer.size).toBe(3);
    expect(informer.get('ns/a')?.kind).toBe('Pod');
    expect(informer.get('ns/a')?.apiVersion).toBe('v1');
    expect(informer.get('ns/a')?.metadata.managedFields).toBeUndefined();
    expect(informer.byIndex('job', 'ns/j1').map((p) => p.metadata.name).sort()).toEqual(['a', 'b']);
    expect(informer.list('other').map((p) => p.metadata.name)).toEqual(['c']);
    expect(api.watches[0]?.resourceVersion).toBe('103');
    expect(api.watches[0]?.allowWatchBookmarks).toBe(true);

    api.put('b', 'ns', { labels: { 'atelier.dev/job': 'j2' } }, 'Running');
    api.put('d', 'ns', { ownerReferences: [{ apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderJob', name: 'j9', uid: 'u', controller: true }] });
    api.del('a');
    expect(events).toEqual(['add a', 'add b', 'add c', 'update b Pending->Running', 'add d', 'delete a']);
    expect(informer.byIndex('job', 'ns/j1')).toEqual([]);
    expect(informer.indexValues('job').sort()).toEqual(['ns/j2', 'other/j2']);
    expect(informer.byIndex('owner', 'ns/j9').map((p) => p.metadata.name)).toEqual(['d']);
    expect(informer.countByIndex('job', 'ns/j2')).toBe(1);
    expect(informer.lastResourceVersion()).toBe(String(api.rv));
    await informer.stop();
    expect(api.openWatches()).toBe(0);
  });

  it('ignores a MODIFIED with an unchanged resourceVersion', async () => {
    const { api, informer, events } = setup();
    const p = api.put('a');
    informer.start();
    await synced(informer);
    api.emit('MODIFIED', structuredClone(p));
    expect(events).toEqual(['add a']);
    await informer.stop();
  });

  it('resumes from the last resourceVersion after a clean close', async () => {
    const { api, clock, informer } = setup();
    api.put('a');
    informer.start();
    await synced(informer);
    api.put('b');
    clock.advance(5000);
    api.close();
    await flushMicrotasks();
    expect(api.watches.length).toBe(2);
    expect(api.watches[1]?.resourceVersion).toBe(String(api.rv));
    expect(api.lists.length).toBe(1);
    await informer.stop();
  });

  it('relists after 410 Gone and reports what vanished meanwhile as deletes', async () => {
    const { api, informer, events } = setup();
    api.put('a');
    api.put('b');
    informer.start();
    await synced(informer);
    // Changes the informer misses: its watch is gone before they happen.
    api.close({ statusCode: 410 });
    api.objects.delete('ns/a');
    api.objects.set('ns/b', { metadata: { name: 'b', namespace: 'ns', resourceVersion: '900' }, status: { phase: 'Running' } });
    api.objects.set('ns/c', { metadata: { name: 'c', namespace: 'ns', resourceVersion: '901' } });
    api.rv = 901;
    await flushMicrotasks();
    expect(api.lists.length).toBe(2);
    expect(events).toEqual(['add a', 'add b', 'update b Pending->Running', 'add c', 'delete a']);
    expect(informer.stats().lists).toBe(2);
    expect(api.watches.at(-1)?.resourceVersion).toBe('901');
    await informer.stop();
  });

  it('relists on an ERROR event with code 410', async () => {
    const { api, informer } = setup();
    api.put('a');
    informer.start();
    await synced(informer);
    api.emit('ERROR', { kind: 'Status', code: 410, message: 'too old resource version' });
    await flushMicrotasks();
    expect(api.lists.length).toBe(2);
    expect(api.openWatches()).toBe(1);
    await informer.stop();
  });

  it('restarts failed lists and watches with growing backoff', async () => {
    const { api, clock, informer } = setup();
    api.put('a');
    api.listError = Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
    informer.start();
    await flushMicrotasks();
    expect(api.lists.length).toBe(1);
    await clock.advanceAsync(500);
    expect(api.lists.length).toBe(2);
    await clock.advanceAsync(1000);
    expect(api.lists.length).toBe(3);
    expect(informer.hasSynced()).toBe(false);
    api.listError = undefined;
    await clock.advanceAsync(2000);
    expect(informer.hasSynced()).toBe(true);
    expect(api.openWatches()).toBe(1);

    // A watch that fails repeatedly (not 410) is retried from the same resourceVersion, not relisted.
    api.watchError = Object.assign(new Error('Internal Server Error'), { statusCode: 500 });
    api.close(new Error('socket hang up'));
    await clock.advanceAsync(60_000);
    const retries = api.watches.length;
    expect(retries).toBeGreaterThan(3);
    expect(retries).toBeLessThan(15);
    expect(api.lists.length).toBe(4);
    api.watchError = undefined;
    await clock.advanceAsync(60_000);
    expect(api.openWatches()).toBe(1);
    expect(informer.stats().errors).toBeGreaterThan(5);
    await informer.stop();
  });

  it('replays existing objects to a late handler and stops cleanly', async () => {
    const { api, informer } = setup();
    api.put('a');
    api.put('b');
    informer.start();
    await synced(informer);
    const late: string[] = [];
    const off = informer.addEventHandler({ add: (p) => late.push(p.metadata.name) });
    expect(late.sort()).toEqual(['a', 'b']);
    off();
    api.put('c');
    expect(late.length).toBe(2);
    await informer.stop();
    api.put('d');
    expect(informer.get('ns/d')).toBeUndefined();
  });

  it('keeps working when a handler throws', async () => {
    const { api, informer } = setup();
    informer.addEventHandler({ add: () => { throw new Error('handler bug'); } });
    informer.start();
    await synced(informer);
    api.put('a');
    expect(informer.get('ns/a')).toBeDefined();
    await informer.stop();
  });

  it('waitForSync times out and rejects on stop', async () => {
    const { api, clock, informer } = setup();
    api.listError = new Error('down');
    informer.start();
    const w = informer.waitForSync(1000);
    clock.advance(1000);
    await expect(w).rejects.toThrow(/did not sync/);
    const w2 = informer.waitForSync();
    await informer.stop();
    await expect(w2).rejects.toThrow(/stopped/);
  });

  it('holds 100,000 objects with indexes', async () => {
    const api = new FakeApi();
    for (let i = 0; i < 100_000; i++) {
      api.objects.set(`ns/p${i}`, { metadata: { name: `p${i}`, namespace: 'ns', resourceVersion: String(i + 1), labels: { 'atelier.dev/job': `j${i % 100}` } } });
    }
    api.rv = 100_000;
    const informer = new Informer<Pod>({ path: '/api/v1/pods', listerWatcher: api, clock: new FakeClock(), indexers: { job: labelIndex('atelier.dev/job') } });
    informer.start();
    await synced(informer);
    expect(informer.size).toBe(100_000);
    expect(informer.countByIndex('job', 'ns/j7')).toBe(1000);
    expect(api.lists.length).toBe(200);
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) informer.byIndex('job', `ns/j${i % 100}`);
    expect(performance.now() - t0).toBeLessThan(2000);
    await informer.stop();
  });
});
