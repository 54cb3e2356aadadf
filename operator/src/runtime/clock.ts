// The runtime's only source of time. Everything that reads the time or waits (work-queue delays and
// backoff, lease renewal, expectation TTLs, event rate limits, informer restart backoff) takes a
// Clock, so tests drive time with FakeClock.advance() instead of sleeping, and reconcilers never
// call Date.now() themselves.
import { IndexedHeap } from './collections.js';

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls fn once after ms milliseconds (0 or less: on the next turn). */
  setTimer(ms: number, fn: () => void): Timer;
  /** Resolves after ms milliseconds; rejects with the signal's reason if it is aborted first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

function sleepWith(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = (): void => {
      timer.cancel();
      reject(abortReason(signal!));
    };
    const timer = clock.setTimer(ms, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}

// setTimeout fires at once for delays past 2^31-1 ms (~24.8 days); longer timers are chained.
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export const realClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    const due = Date.now() + Math.max(0, ms);
    let t: NodeJS.Timeout;
    const arm = (delay: number): void => {
      t = setTimeout(() => {
        const left = due - Date.now();
        if (left > 0) arm(left);
        else fn();
      }, Math.min(Math.max(0, delay), MAX_TIMEOUT_MS));
    };
    arm(ms);
    return { cancel: () => clearTimeout(t) };
  },
  sleep(ms, signal) {
    return sleepWith(realClock, ms, signal);
  },
};

/**
 * Deterministic clock for tests. Time moves only through advance()/advanceAsync(); timers due at or
 * before the new time fire in time order, each seeing now() equal to its own due time.
 */
export class FakeClock implements Clock {
  private current: number;
  private timers = new IndexedHeap<number>();
  private callbacks = new Map<number, () => void>();
  private nextId = 0;

  constructor(startMs = 1_700_000_000_000) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  setTimer(ms: number, fn: () => void): Timer {
    const id = this.nextId++;
    this.callbacks.set(id, fn);
    this.timers.set(id, this.current + Math.max(0, ms));
    return {
      cancel: () => {
        this.timers.remove(id);
        this.callbacks.delete(id);
      },
    };
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepWith(this, ms, signal);
  }

  /** Number of timers not yet fired or cancelled. */
  pendingTimers(): number {
    return this.timers.size;
  }

  /** Due time of the earliest pending timer, if any. */
  nextTimerAt(): number | undefined {
    return this.timers.peek()?.priority;
  }

  /** Moves time forward synchronously, firing due timers (promise continuations run later). */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      const top = this.timers.peek();
      if (!top || top.priority > target) break;
      this.timers.pop();
      const fn = this.callbacks.get(top.key)!;
      this.callbacks.delete(top.key);
      this.current = Math.max(this.current, top.priority);
      fn();
    }
    this.current = target;
  }

  /**
   * Moves time forward like advance(), but lets promise continuations run after every timer, so
   * code that awaits clock.sleep() in a loop (and schedules its next timer from there) keeps up.
   */
  async advanceAsync(ms: number): Promise<void> {
    const target = this.current + ms;
    await flushMicrotasks();
    for (;;) {
      const top = this.timers.peek();
      if (!top || top.priority > target) break;
      this.timers.pop();
      const fn = this.callbacks.get(top.key)!;
      this.callbacks.delete(top.key);
      this.current = Math.max(this.current, top.priority);
      fn();
      await flushMicrotasks();
    }
    this.current = target;
    await flushMicrotasks();
  }
}

/** Lets queued promise continuations (several hops deep) run before the caller continues. */
export async function flushMicrotasks(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
  await new Promise<void>((r) => setImmediate(r));
}
