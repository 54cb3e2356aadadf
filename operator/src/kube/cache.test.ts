// The on-demand capacity watch (OnDemandInformer) against a scripted ListerWatcher: nothing is listed
// or watched until the first read; a read before the sync gets "not known yet"; the watch closes once
// nobody has read it for the idle time, and a later read opens a new one.
import type * as k8s from '@kubernetes/client-node';
import { FakeClock, flushMicrotasks } from '../runtime/clock.js';
import { Informer, type ListerWatcher, type ListOptions, type WatchOptions } from '../runtime/informer.js';
import { OnDemandInformer } from './cache.js';

class Api implements ListerWatcher {
  lists: ListOptions[] = [];
  openWatches = 0;
  pods: k8s.V1Pod[] = [{ metadata: { name: 'a', namespace: 'ns', resourceVersion: '1' }, status: { phase: 'Running' } }];
  async list(opts: ListOptions) {
    this.lists.push(opts);
    return { items: this.pods.map((p) => structuredClone(p)), metadata: { resourceVersion: '10' } };
  }
  async watch(_o: WatchOptions, _e: (t: string, o: unknown) => void, onDone: (err?: unknown) => void) {
    this.openWatches++;
    let open = true;
    return { abort: () => { if (open) { open = false; this.openWatches--; onDone(); } } };
  }
}

function setup() {
  const api = new Api();
  const clock = new FakeClock();
  let synced = 0;
  const lazy = new OnDemandInformer<k8s.V1Pod>(() => new Informer<k8s.V1Pod>({ path: '/api/v1/pods', listerWatcher: api, clock }), clock, 60_000, () => { synced++; });
  return { api, clock, lazy, synced: () => synced };
}

test('nothing is watched until the first read; that read gets undefined, the next (after the sync) the cache', async () => {
  const { api, lazy, synced } = setup();
  await flushMicrotasks();
  expect(api.lists).toHaveLength(0);
  expect(lazy.running()).toBe(false);
  expect(lazy.use()).toBeUndefined();
  await flushMicrotasks();
  expect(api.lists).toHaveLength(1);
  expect(synced()).toBe(1);
  expect([...lazy.use()!.values()].map((p) => p.metadata!.name)).toEqual(['a']);
  expect(api.lists).toHaveLength(1); // one watch, however often it is read
  expect(lazy.starts).toBe(1);
});

test('the watch closes after the idle time without reads, stays open while read, and opens again on a later read', async () => {
  const { api, clock, lazy } = setup();
  lazy.use();
  await flushMicrotasks();
  expect(api.openWatches).toBe(1);
  clock.advance(50_000);
  lazy.use(); // still in use: the idle time starts over
  clock.advance(50_000);
  await flushMicrotasks();
  expect(lazy.running()).toBe(true);
  clock.advance(20_000);
  await flushMicrotasks();
  expect(lazy.running()).toBe(false);
  expect(api.openWatches).toBe(0);
  expect(lazy.use()).toBeUndefined();
  await flushMicrotasks();
  expect(lazy.starts).toBe(2);
  expect(api.lists).toHaveLength(2);
  await lazy.stop();
  expect(api.openWatches).toBe(0);
  expect(lazy.use()).toBeUndefined(); // stopped for good
});
