// The reconcile loop's policy: one worker per key under concurrency, success forgets, requeueAfter
// schedules, errors back off per key, TerminalError is not retried, stop() drains and times out.
import { FakeClock, flushMicrotasks } from './clock.js';
import { Controller, controllerOwnerKey, enqueueHandler, runWorkers, TerminalError } from './controller.js';
import { WorkQueue } from './workqueue.js';

const tick = (ms = 1): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('runWorkers', () => {
  it('never runs two reconciles of one key at once', async () => {
    const q = new WorkQueue();
    const inFlight = new Map<string, number>();
    let maxPerKey = 0;
    let maxTotal = 0;
    let total = 0;
    let calls = 0;
    const keys = ['a', 'b', 'c', 'd'];
    const running = runWorkers({
      queue: q,
      workers: 8,
      reconcile: async (key) => {
        calls++;
        const n = (inFlight.get(key) ?? 0) + 1;
        inFlight.set(key, n);
        total++;
        maxPerKey = Math.max(maxPerKey, n);
        maxTotal = Math.max(maxTotal, total);
        await tick(Math.random() * 3);
        inFlight.set(key, inFlight.get(key)! - 1);
        total--;
      },
    });
    for (let round = 0; round < 200; round++) {
      for (const k of keys) q.add(k);
      if (round % 10 === 0) await tick(1);
      else await Promise.resolve();
    }
    await q.shutdownWithDrain();
    await running;
    expect(maxPerKey).toBe(1);
    expect(maxTotal).toBeGreaterThan(1);
    expect(calls).toBeGreaterThanOrEqual(keys.length);
  });

  it('applies the result and error policy', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, backoff: { baseMs: 100, maxMs: 10_000 } });
    const calls: string[] = [];
    const errors: { key: string; terminal: boolean; retries: number }[] = [];
    let flaky = 0;
    const running = runWorkers({
      queue: q,
      clock,
      workers: 2,
      reconcile: (key) => {
        calls.push(key);
        if (key === 'timed') return { requeueAfter: 1000 };
        if (key === 'terminal') throw new TerminalError('bad spec');
        if (key === 'flaky' && flaky++ < 2) throw new Error('transient');
        if (key === 'again') return calls.filter((c) => c === 'again').length < 2 ? { requeue: true } : undefined;
        return undefined;
      },
      onError: ({ key, terminal, retries }) => errors.push({ key, terminal, retries }),
    });
    for (const k of ['ok', 'timed', 'terminal', 'flaky', 'again']) q.add(k);
    await flushMicrotasks();
    expect(q.numRequeues('flaky')).toBe(1);
    expect(q.numRequeues('again')).toBe(1);
    await clock.advanceAsync(100);
    expect(q.numRequeues('flaky')).toBe(2);
    expect(q.numRequeues('again')).toBe(0);
    await clock.advanceAsync(200);
    expect(q.numRequeues('flaky')).toBe(0);
    await clock.advanceAsync(700);
    expect(calls.filter((c) => c === 'timed').length).toBe(2);
    expect(calls.filter((c) => c === 'terminal').length).toBe(1);
    expect(calls.filter((c) => c === 'flaky').length).toBe(3);
    expect(calls.filter((c) => c === 'ok').length).toBe(1);
    expect(errors).toEqual([
      { key: 'terminal', terminal: true, retries: 0 },
      { key: 'flaky', terminal: false, retries: 1 },
      { key: 'flaky', terminal: false, retries: 2 },
    ]);
    q.shutdown();
    await running;
  });
});

describe('Controller', () => {
  it('stop() waits for in-flight reconciles', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let finished = false;
    const c = new Controller({
      name: 'test',
      reconcile: async () => {
        await gate;
        finished = true;
      },
    });
    const done = c.start();
    c.enqueue('a');
    await flushMicrotasks();
    const stopping = c.stop(5000);
    release();
    await expect(stopping).resolves.toBe(true);
    await done;
    expect(finished).toBe(true);
  });

  it('stop() aborts the reconcile signal after the timeout', async () => {
    const clock = new FakeClock();
    let aborted = false;
    const c = new Controller({
      name: 'test',
      clock,
      reconcile: (_key, signal) =>
        new Promise<void>((resolve) => {
          signal.addEventListener('abort', () => {
            aborted = true;
            resolve();
          });
        }),
    });
    const done = c.start();
    c.enqueue('a');
    await flushMicrotasks();
    const stopping = c.stop(1000);
    clock.advance(1000);
    await expect(stopping).resolves.toBe(false);
    expect(aborted).toBe(true);
    await done;
  });
});

describe('event handler helpers', () => {
  it('maps objects and their controller owner to keys', () => {
    const q = new WorkQueue();
    const pod = {
      metadata: { name: 'p1', namespace: 'ns', ownerReferences: [{ kind: 'RenderJob', name: 'job1', controller: true }] },
    };
    enqueueHandler(q).add(pod);
    enqueueHandler(q, controllerOwnerKey('RenderJob')).update(pod, pod);
    enqueueHandler(q, controllerOwnerKey('Other')).delete(pod);
    expect(drainNow(q)).toEqual(['ns/p1', 'ns/job1']);
  });
});

function drainNow(q: WorkQueue): string[] {
  const out: string[] = [];
  for (let k = q.tryGet(); k !== undefined; k = q.tryGet()) {
    out.push(k);
    q.done(k);
  }
  return out;
}
