// Work queue semantics: dedup, re-queue after done, backoff with a fake clock, addAfter ordering
// and the single timer, forget, shutdown and drain, and cost at 100,000 keys.
import { FakeClock, flushMicrotasks } from './clock.js';
import { BucketRateLimiter, ExponentialRateLimiter, MaxOfRateLimiter, type QueueMetrics, WorkQueue } from './workqueue.js';

function drainNow(q: WorkQueue): string[] {
  const out: string[] = [];
  for (let k = q.tryGet(); k !== undefined; k = q.tryGet()) {
    out.push(k);
    q.done(k);
  }
  return out;
}

describe('WorkQueue dedup', () => {
  it('queues a key once however often it is added', () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    q.add('a');
    expect(q.len()).toBe(2);
    expect(drainNow(q)).toEqual(['a', 'b']);
  });

  it('re-queues a key added while processing exactly once, after done', () => {
    const q = new WorkQueue();
    q.add('a');
    expect(q.tryGet()).toBe('a');
    q.add('a');
    q.add('a');
    expect(q.len()).toBe(0);
    expect(q.tryGet()).toBeUndefined();
    q.done('a');
    expect(q.len()).toBe(1);
    expect(q.tryGet()).toBe('a');
    q.done('a');
    expect(q.len()).toBe(0);
  });

  it('hands a waiting get() the next key', async () => {
    const q = new WorkQueue();
    const got = q.get();
    q.add('x');
    await expect(got).resolves.toBe('x');
    expect(q.isProcessing('x')).toBe(true);
  });

  it('never gives one key to two waiting workers', async () => {
    const q = new WorkQueue();
    const g1 = q.get();
    const g2 = q.get();
    q.add('k');
    q.add('k');
    expect(await g1).toBe('k');
    let second: string | undefined = 'pending';
    void g2.then((k) => (second = k));
    await flushMicrotasks();
    expect(second).toBe('pending');
    q.done('k');
    // 'k' was re-added while processing: now the second worker gets it.
    expect(await g2).toBe('k');
  });
});

describe('WorkQueue backoff', () => {
  it('doubles from the base to the cap per key, and forget resets', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, backoff: { baseMs: 5, maxMs: 100 } });
    const waits: number[] = [];
    for (let i = 0; i < 7; i++) {
      const start = clock.now();
      q.addRateLimited('a');
      let t = 0;
      while (q.len() === 0) {
        clock.advance(1);
        t++;
        if (t > 1000) throw new Error('never became ready');
      }
      waits.push(clock.now() - start);
      expect(q.tryGet()).toBe('a');
      q.done('a');
    }
    expect(waits).toEqual([5, 10, 20, 40, 80, 100, 100]);
    expect(q.numRequeues('a')).toBe(7);
    q.forget('a');
    expect(q.numRequeues('a')).toBe(0);
    q.addRateLimited('a');
    clock.advance(4);
    expect(q.len()).toBe(0);
    clock.advance(1);
    expect(q.len()).toBe(1);
  });

  it('keeps backoff per key', () => {
    const rl = new ExponentialRateLimiter({ baseMs: 5, maxMs: 300_000 });
    expect([rl.when('a'), rl.when('a'), rl.when('a')]).toEqual([5, 10, 20]);
    expect(rl.when('b')).toBe(5);
    for (let i = 0; i < 2000; i++) rl.when('c');
    expect(rl.when('c')).toBe(300_000);
  });

  it('bucket limiter spaces retries once the burst is spent', () => {
    const clock = new FakeClock();
    const rl = new MaxOfRateLimiter(new ExponentialRateLimiter({ baseMs: 1 }), new BucketRateLimiter(10, 2, clock));
    expect(rl.when('a')).toBe(1);
    expect(rl.when('b')).toBe(1);
    expect(rl.when('c')).toBe(100);
    expect(rl.when('d')).toBe(200);
    clock.advance(1000);
    expect(rl.when('e')).toBe(1);
  });
});

describe('WorkQueue addAfter', () => {
  it('releases keys in due order', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('c', 30);
    q.addAfter('a', 10);
    q.addAfter('b', 20);
    q.addAfter('now', 0);
    expect(drainNow(q)).toEqual(['now']);
    clock.advance(10);
    expect(drainNow(q)).toEqual(['a']);
    clock.advance(25);
    expect(drainNow(q)).toEqual(['b', 'c']);
  });

  it('lets the earliest due time win for a key', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('x', 100);
    q.addAfter('x', 50);
    q.addAfter('x', 200);
    expect(q.delayedLen()).toBe(1);
    clock.advance(50);
    expect(drainNow(q)).toEqual(['x']);
    clock.advance(1000);
    expect(drainNow(q)).toEqual([]);
  });

  it('uses one timer however many keys wait', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    for (let i = 0; i < 1000; i++) q.addAfter(`k${i}`, 1000 - i);
    expect(clock.pendingTimers()).toBe(1);
    expect(clock.nextTimerAt()).toBe(clock.now() + 1);
    clock.advance(500);
    expect(q.len()).toBe(500);
    expect(clock.pendingTimers()).toBe(1);
    clock.advance(500);
    expect(q.len()).toBe(1000);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('deduplicates a delayed key against the queue when it comes due', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.add('a');
    q.addAfter('a', 10);
    clock.advance(10);
    expect(q.len()).toBe(1);
  });
});

describe('WorkQueue shutdown', () => {
  it('wakes waiting workers, drops queued and delayed keys, ignores adds', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    const waiting = q.get();
    expect(await Promise.race([waiting, flushMicrotasks().then(() => 'still waiting')])).toBe('still waiting');
    q.shutdown();
    await expect(waiting).resolves.toBeUndefined();
    q.add('late');
    q.addAfter('later', 5);
    expect(q.len()).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
    await expect(q.get()).resolves.toBeUndefined();
  });

  it('drains in-flight keys and reports a timeout', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.add('a');
    q.add('b');
    expect(q.tryGet()).toBe('a');
    const drained = q.shutdownWithDrain(1000);
    expect(q.tryGet()).toBeUndefined();
    q.done('a');
    await expect(drained).resolves.toBe(true);

    const q2 = new WorkQueue({ clock });
    q2.add('slow');
    expect(q2.tryGet()).toBe('slow');
    const d2 = q2.shutdownWithDrain(1000);
    clock.advance(1000);
    await expect(d2).resolves.toBe(false);
  });
});

describe('WorkQueue metrics hooks', () => {
  it('reports depth, adds, retries, latency and work duration', () => {
    const clock = new FakeClock();
    const seen = { depth: [] as number[], added: 0, retried: 0, latency: [] as number[], work: [] as number[] };
    const metrics: QueueMetrics = {
      depth: (n) => seen.depth.push(n),
      added: () => seen.added++,
      retried: () => seen.retried++,
      queueLatency: (s) => seen.latency.push(s),
      workDuration: (s) => seen.work.push(s),
    };
    const q = new WorkQueue({ clock, metrics });
    q.add('a');
    q.add('a');
    clock.advance(2000);
    const k = q.tryGet()!;
    clock.advance(500);
    q.done(k);
    q.addRateLimited('a');
    expect(seen.added).toBe(1);
    expect(seen.retried).toBe(1);
    expect(seen.latency).toEqual([2]);
    expect(seen.work).toEqual([0.5]);
    expect(seen.depth).toEqual([1, 0]);
  });
});

describe('WorkQueue at 100,000 keys', () => {
  // Correctness at scale only; how fast it is belongs to a benchmark, not an assertion.
  it('adds, delays and drains 100k keys, each once', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    const n = 100_000;
    for (let i = 0; i < n; i++) q.add(`ns/job-${i}`);
    for (let i = 0; i < n; i++) q.add(`ns/job-${i}`);
    for (let i = 0; i < n; i++) q.addAfter(`ns/later-${i}`, 1 + ((i * 7919) % 10_000));
    for (let i = 0; i < n; i++) q.addRateLimited(`ns/fail-${i}`);
    expect(q.len()).toBe(n);
    expect(drainNow(q).length).toBe(n);
    clock.advance(10_001);
    const later = drainNow(q);
    expect(later.length).toBe(2 * n);
    expect(new Set(later).size).toBe(2 * n);
  });
});

describe('WorkQueue.addUrgent', () => {
  it('hands urgent keys out before plain ones, each key once', () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    for (const k of ['a', 'b', 'c']) q.add(k);
    q.addUrgent('new1');
    q.addUrgent('b'); // already queued: jumps ahead, not handed out twice
    q.addUrgent('new2');
    expect(q.len()).toBe(5);
    expect(drainNow(q)).toEqual(['new1', 'b', 'new2', 'a', 'c']);
    expect(q.len()).toBe(0);
  });

  it('a key being processed is queued again after done, like add', () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('x');
    expect(q.tryGet()).toBe('x');
    q.addUrgent('x');
    expect(q.tryGet()).toBeUndefined();
    q.done('x');
    expect(q.tryGet()).toBe('x');
  });
});
