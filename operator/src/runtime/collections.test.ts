// Fifo and IndexedHeap against simple reference models, including re-prioritise and remove.
import { Fifo, IndexedHeap } from './collections.js';
import { FakeClock } from './clock.js';

describe('Fifo', () => {
  it('keeps order across compactions', () => {
    const f = new Fifo<number>();
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 100; i++) f.push(next++);
      for (let i = 0; i < 80; i++) expect(f.shift()).toBe(expected++);
    }
    expect(f.length).toBe(next - expected);
    expect(f.peek()).toBe(expected);
  });
});

describe('IndexedHeap', () => {
  it('pops in priority order, FIFO among equals, with updates and removals', () => {
    const h = new IndexedHeap<string>();
    const model = new Map<string, number>();
    let seed = 42;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    for (let i = 0; i < 5000; i++) {
      const k = `k${rand(500)}`;
      const op = rand(3);
      if (op < 2) {
        const p = rand(1000);
        h.set(k, p);
        model.set(k, p);
      } else {
        expect(h.remove(k)).toBe(model.delete(k));
      }
      expect(h.size).toBe(model.size);
    }
    let last = -1;
    while (h.size) {
      const top = h.pop()!;
      expect(top.priority).toBeGreaterThanOrEqual(last);
      expect(model.get(top.key)).toBe(top.priority);
      model.delete(top.key);
      last = top.priority;
    }
    expect(model.size).toBe(0);
  });
});

describe('FakeClock', () => {
  it('fires timers in time order and supports cancel and sleep', async () => {
    const clock = new FakeClock(0);
    const fired: string[] = [];
    clock.setTimer(30, () => fired.push(`c@${clock.now()}`));
    const t = clock.setTimer(10, () => fired.push('cancelled'));
    clock.setTimer(20, () => fired.push(`b@${clock.now()}`));
    t.cancel();
    clock.advance(25);
    expect(fired).toEqual(['b@20']);
    expect(clock.now()).toBe(25);
    const slept = clock.sleep(100).then(() => fired.push(`slept@${clock.now()}`));
    await clock.advanceAsync(100);
    await slept;
    expect(fired).toEqual(['b@20', 'c@30', 'slept@125']);
    const ac = new AbortController();
    const aborted = clock.sleep(10, ac.signal);
    ac.abort();
    await expect(aborted).rejects.toBeDefined();
    expect(clock.pendingTimers()).toBe(0);
  });
});
