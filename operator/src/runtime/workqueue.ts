// The work queue between informers and reconcilers, with client-go's semantics: a key is queued at
// most once (adds while queued are dropped, adds while processing re-queue it once after done()), a
// key is never handed to two workers at once, failures back off per key (addRateLimited, reset by
// forget), and addAfter() schedules timed work on one min-heap with one timer (the earliest due time
// wins for a key). Every operation is O(1) or O(log n) so 100,000 keys are cheap. Rate limiters and
// the metrics hooks live here too; metrics.ts adapts the hooks to prom-client.
import { type Clock, realClock, type Timer } from './clock.js';
import { Fifo, IndexedHeap } from './collections.js';

// ---------------------------------------------------------------------------------------------
// Rate limiters: how long a key waits before its next retry.

export interface RateLimiter {
  /** Delay before the key's next attempt; records one more failure. */
  when(key: string): number;
  /** The key succeeded: reset its history. */
  forget(key: string): void;
  /** Failures recorded since the last forget. */
  numRequeues(key: string): number;
}

export interface ExponentialBackoffOptions {
  /** First delay; default 5 ms. */
  baseMs?: number;
  /** Cap; default 5 min. */
  maxMs?: number;
}

/** base * 2^failures, capped at max, per key (client-go's ItemExponentialFailureRateLimiter). */
export class ExponentialRateLimiter implements RateLimiter {
  private failures = new Map<string, number>();
  readonly baseMs: number;
  readonly maxMs: number;

  constructor(options: ExponentialBackoffOptions = {}) {
    this.baseMs = options.baseMs ?? 5;
    this.maxMs = options.maxMs ?? 5 * 60_000;
  }

  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    // 2^n overflows to Infinity past 1023; the cap applies long before.
    return Math.min(this.maxMs, this.baseMs * 2 ** Math.min(n, 1000));
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }
}

/**
 * Token bucket shared by all keys (client-go's BucketRateLimiter): bounds the overall retry rate
 * when many keys fail together. Combine with a per-key limiter through MaxOfRateLimiter.
 */
export class BucketRateLimiter implements RateLimiter {
  private tokens: number;
  private last: number;

  constructor(
    private readonly qps: number,
    private readonly burst: number,
    private readonly clock: Clock = realClock,
  ) {
    this.tokens = burst;
    this.last = clock.now();
  }

  when(): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.qps) * 1000);
  }

  forget(): void {}

  numRequeues(): number {
    return 0;
  }
}

/** The longest delay any of its limiters asks for. */
export class MaxOfRateLimiter implements RateLimiter {
  private readonly limiters: RateLimiter[];

  constructor(...limiters: RateLimiter[]) {
    this.limiters = limiters;
  }

  when(key: string): number {
    let d = 0;
    for (const l of this.limiters) d = Math.max(d, l.when(key));
    return d;
  }

  forget(key: string): void {
    for (const l of this.limiters) l.forget(key);
  }

  numRequeues(key: string): number {
    let n = 0;
    for (const l of this.limiters) n = Math.max(n, l.numRequeues(key));
    return n;
  }
}

// ---------------------------------------------------------------------------------------------
// Metrics hooks: a queue reports through these; metrics.ts implements them with prom-client.

export interface QueueMetrics {
  /** Items queued and not yet handed out (len()). */
  depth(n: number): void;
  /** An add that actually queued the key (not deduplicated). */
  added(): void;
  /** addRateLimited was called. */
  retried(): void;
  /** Time a key waited in the queue before a worker took it. */
  queueLatency(seconds: number): void;
  /** Time between get() and done() for a key. */
  workDuration(seconds: number): void;
}

export const nopQueueMetrics: QueueMetrics = {
  depth: () => undefined,
  added: () => undefined,
  retried: () => undefined,
  queueLatency: () => undefined,
  workDuration: () => undefined,
};

// ---------------------------------------------------------------------------------------------
// The queue.

export interface WorkQueueOptions {
  /** Used for metric labels and logs. */
  name?: string;
  clock?: Clock;
  /** Default: ExponentialRateLimiter with `backoff`. */
  rateLimiter?: RateLimiter;
  backoff?: ExponentialBackoffOptions;
  metrics?: QueueMetrics;
}

type Waiter = (key: string | undefined) => void;

export class WorkQueue {
  readonly name: string;
  private readonly clock: Clock;
  private readonly limiter: RateLimiter;
  private readonly metrics: QueueMetrics;

  /** Keys waiting for a worker, in order. Each key appears at most once. */
  private readonly queue = new Fifo<string>();
  /**
   * Keys added with addUrgent (new objects), handed out before `queue`. A key may also still sit in
   * `queue`; the copy found second is skipped (a key is queued exactly while queuedAt has it).
   */
  private readonly urgent = new Fifo<string>();
  /** Keys that need processing: queued, or re-added while being processed. */
  private readonly dirty = new Set<string>();
  /** Keys a worker holds (between get and done). */
  private readonly processing = new Set<string>();
  /** When each queued key entered the queue (queue latency) and each held key left it (work duration). */
  private readonly queuedAt = new Map<string, number>();
  private readonly startedAt = new Map<string, number>();
  private readonly waiters = new Fifo<Waiter>();

  /** addAfter keys by due time; one timer armed for the earliest. */
  private readonly delayed = new IndexedHeap<string>();
  private timer: Timer | undefined;
  private timerAt = Infinity;

  private shuttingDown = false;
  private drainWaiters: (() => void)[] = [];

  constructor(options: WorkQueueOptions = {}) {
    this.name = options.name ?? 'default';
    this.clock = options.clock ?? realClock;
    this.limiter = options.rateLimiter ?? new ExponentialRateLimiter(options.backoff);
    this.metrics = options.metrics ?? nopQueueMetrics;
  }

  /** Queues key unless it is already queued; if a worker holds it, it is queued again after done(). */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.metrics.added();
    if (this.processing.has(key)) return;
    this.enqueue(key);
  }

  /**
   * Like add, but ahead of every key queued with add: for work that is new (a just-created object),
   * so that it does not wait behind a backlog of updates to old ones. A key being processed is
   * queued again after done() as with add.
   */
  addUrgent(key: string): void {
    if (this.shuttingDown) return;
    if (this.processing.has(key)) {
      this.add(key);
    } else if (!this.dirty.has(key)) {
      this.dirty.add(key);
      this.metrics.added();
      this.enqueue(key, this.urgent);
    } else if (this.queuedAt.has(key)) {
      this.urgent.push(key); // already queued behind others: jump ahead
    }
  }

  /** Adds key after delayMs. If key is already waiting, the earlier due time wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (!(delayMs > 0)) {
      this.add(key);
      return;
    }
    const due = this.clock.now() + delayMs;
    const current = this.delayed.priorityOf(key);
    if (current !== undefined && current <= due) return;
    this.delayed.set(key, due);
    if (due < this.timerAt) this.arm(due);
  }

  /** Adds key after its rate limiter's delay (one more failure recorded). */
  addRateLimited(key: string): void {
    if (this.shuttingDown) return;
    this.metrics.retried();
    this.addAfter(key, this.limiter.when(key));
  }

  /** Resets key's failure history (call on success). */
  forget(key: string): void {
    this.limiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.limiter.numRequeues(key);
  }

  /**
   * Waits for a key and hands it to the caller, who must call done(key) when finished. Resolves
   * undefined once the queue is shut down: queued keys are not handed out after shutdown().
   */
  get(): Promise<string | undefined> {
    const key = this.tryGet();
    if (key !== undefined || this.shuttingDown) return Promise.resolve(key);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** get() without waiting: a key if one is queued now, else undefined. */
  tryGet(): string | undefined {
    if (this.shuttingDown) return undefined;
    for (;;) {
      const key = this.urgent.shift() ?? this.queue.shift();
      if (key === undefined) return undefined;
      if (!this.queuedAt.has(key) || this.processing.has(key)) continue; // a copy already handed out
      this.start(key);
      return key;
    }
  }

  /** The worker finished key; if it was added meanwhile it is queued again. */
  done(key: string): void {
    if (!this.processing.delete(key)) return;
    const started = this.startedAt.get(key);
    this.startedAt.delete(key);
    if (started !== undefined) this.metrics.workDuration((this.clock.now() - started) / 1000);
    if (this.shuttingDown) this.dirty.delete(key);
    else if (this.dirty.has(key)) this.enqueue(key);
    if (this.processing.size === 0) this.resolveDrain();
  }

  /** Keys added with addUrgent and not handed out yet (an upper bound: a copy already handed out from the other lane counts until skipped). */
  urgentLen(): number {
    return this.urgent.length;
  }

  /** Keys queued and not handed out (not counting held or delayed keys). */
  len(): number {
    return this.queuedAt.size;
  }

  /** Keys waiting for their addAfter / addRateLimited due time. */
  delayedLen(): number {
    return this.delayed.size;
  }

  /** Keys currently held by workers. */
  processingLen(): number {
    return this.processing.size;
  }

  isProcessing(key: string): boolean {
    return this.processing.has(key);
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /**
   * Stops accepting adds and handing out keys; waiting get() calls resolve undefined. Queued and
   * delayed keys are dropped (reconciliation is level-triggered: the next start lists everything
   * again). Keys being processed may still be done()'d; drain() waits for them.
   */
  shutdown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAt = Infinity;
    this.delayed.clear();
    this.queue.clear();
    this.urgent.clear();
    this.queuedAt.clear();
    for (const k of this.dirty) if (!this.processing.has(k)) this.dirty.delete(k);
    this.metrics.depth(0);
    for (let w = this.waiters.shift(); w; w = this.waiters.shift()) w(undefined);
    if (this.processing.size === 0) this.resolveDrain();
  }

  /** Resolves when no key is held by a worker (after shutdown, that is when all workers finished). */
  drain(): Promise<void> {
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** shutdown() then wait up to timeoutMs for in-flight keys; true if they all finished. */
  async shutdownWithDrain(timeoutMs = Infinity): Promise<boolean> {
    this.shutdown();
    if (this.processing.size === 0) return true;
    if (!Number.isFinite(timeoutMs)) {
      await this.drain();
      return true;
    }
    let timer: Timer | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = this.clock.setTimer(timeoutMs, () => resolve(false));
    });
    const ok = await Promise.race([this.drain().then(() => true), timedOut]);
    timer?.cancel();
    return ok;
  }

  private enqueue(key: string, lane: Fifo<string> = this.queue): void {
    this.queuedAt.set(key, this.clock.now());
    const waiter = this.waiters.shift();
    if (waiter) {
      this.start(key);
      waiter(key);
      return;
    }
    lane.push(key);
    this.metrics.depth(this.len());
  }

  private start(key: string): void {
    const now = this.clock.now();
    this.dirty.delete(key);
    this.processing.add(key);
    this.startedAt.set(key, now);
    const queued = this.queuedAt.get(key);
    this.queuedAt.delete(key);
    if (queued !== undefined) this.metrics.queueLatency((now - queued) / 1000);
    this.metrics.depth(this.len());
  }

  private arm(due: number): void {
    this.timer?.cancel();
    this.timerAt = due;
    this.timer = this.clock.setTimer(due - this.clock.now(), () => this.fire());
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.clock.now();
    for (let top = this.delayed.peek(); top && top.priority <= now; top = this.delayed.peek()) {
      this.delayed.pop();
      this.add(top.key);
    }
    const next = this.delayed.peek();
    if (next && !this.shuttingDown) this.arm(next.priority);
  }

  private resolveDrain(): void {
    const ws = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of ws) w();
  }
}
