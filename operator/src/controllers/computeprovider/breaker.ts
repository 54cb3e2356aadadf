// The circuit breaker that pauses a misbehaving ComputeProvider. It counts outcomes of probes and
// submissions: N failures in a row, or an error rate above a threshold over the recent window, open
// it; while open no shard is sent there and no probe is made; after a cool-down it is half-open and
// one probe decides — success closes it (and clears the window), failure opens it again for twice as
// long (capped). Pure state over injected time values: no timers, no clock reads.

export interface BreakerConfig {
  /** Failures in a row that open the breaker. */
  failureThreshold: number;
  /** Error rate over the window (0..1) that opens it, once the window holds minSamples outcomes. */
  errorRateThreshold: number;
  minSamples: number;
  /** Outcomes remembered for the error rate. */
  windowSize: number;
  /** How long it stays open the first time; doubled after each failed half-open probe, up to maxCoolDownMs. */
  coolDownMs: number;
  maxCoolDownMs: number;
}

export const DEFAULT_BREAKER: BreakerConfig = {
  failureThreshold: 3,
  errorRateThreshold: 0.5,
  minSamples: 10,
  windowSize: 20,
  coolDownMs: 60_000,
  maxCoolDownMs: 15 * 60_000,
};

export type BreakerState = 'Closed' | 'Open' | 'HalfOpen';
/** What a recorded outcome did to the breaker. */
export type BreakerTransition = 'Opened' | 'Reopened' | 'Closed';

export interface BreakerSnapshot {
  state: BreakerState;
  consecutiveFailures: number;
  /** Failures over outcomes in the window, 0 when empty. */
  errorRate: number;
  /** 1 - errorRate. */
  reliability: number;
  samples: number;
  /** When an open breaker turns half-open (epoch ms). */
  openUntil?: number;
  /** Why it opened: the failure that tripped it (already free of secrets). */
  openReason?: string;
  lastError?: string;
}

export class CircuitBreaker {
  readonly config: BreakerConfig;
  private window: boolean[] = [];
  private failures = 0;
  private consecutive = 0;
  private open = false;
  private until = 0;
  private coolDown: number;
  private reason: string | undefined;
  private lastError: string | undefined;

  constructor(config: Partial<BreakerConfig> = {}) {
    this.config = { ...DEFAULT_BREAKER, ...config };
    this.coolDown = this.config.coolDownMs;
  }

  state(now: number): BreakerState {
    if (!this.open) return 'Closed';
    return now >= this.until ? 'HalfOpen' : 'Open';
  }

  /** New shards may be sent only while closed. */
  allowsWork(now: number): boolean {
    return this.state(now) === 'Closed';
  }

  /** A probe may run while closed, and once (the trial) when half-open. */
  allowsProbe(now: number): boolean {
    return this.state(now) !== 'Open';
  }

  /** Records one probe or submission outcome; returns the transition it caused, if any. */
  record(ok: boolean, now: number, error?: string): BreakerTransition | undefined {
    const state = this.state(now);
    this.push(ok);
    if (ok) {
      this.consecutive = 0;
      this.lastError = undefined;
      if (state === 'HalfOpen') {
        this.open = false;
        this.coolDown = this.config.coolDownMs;
        this.reason = undefined;
        this.window = [];
        this.failures = 0;
        return 'Closed';
      }
      return undefined;
    }
    this.consecutive++;
    if (error !== undefined) this.lastError = error;
    if (state === 'HalfOpen') {
      this.coolDown = Math.min(this.config.maxCoolDownMs, this.coolDown * 2);
      this.trip(now, `half-open probe failed${error ? `: ${error}` : ''}`);
      return 'Reopened';
    }
    if (state === 'Open') return undefined; // a late outcome while open changes nothing but the counts
    const rate = this.errorRate();
    if (this.consecutive >= this.config.failureThreshold) {
      this.trip(now, `${this.consecutive} failures in a row${error ? `; last: ${error}` : ''}`);
      return 'Opened';
    }
    if (this.window.length >= this.config.minSamples && rate >= this.config.errorRateThreshold) {
      this.trip(now, `error rate ${Math.round(rate * 100)}% over the last ${this.window.length} outcomes${error ? `; last: ${error}` : ''}`);
      return 'Opened';
    }
    return undefined;
  }

  /**
   * Restores what a status written before a restart says: failures in a row, and an open breaker
   * since `openedAt` (it turns half-open one cool-down after that).
   */
  restore(s: { consecutiveFailures?: number; openedAt?: number; reason?: string }): void {
    this.consecutive = Math.max(0, s.consecutiveFailures ?? 0);
    if (s.openedAt !== undefined) {
      this.open = true;
      this.until = s.openedAt + this.coolDown;
      this.reason = s.reason;
    }
  }

  snapshot(now: number): BreakerSnapshot {
    const errorRate = this.errorRate();
    const state = this.state(now);
    return {
      state,
      consecutiveFailures: this.consecutive,
      errorRate,
      reliability: 1 - errorRate,
      samples: this.window.length,
      ...(this.open ? { openUntil: this.until } : {}),
      ...(this.open && this.reason ? { openReason: this.reason } : {}),
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  private errorRate(): number {
    return this.window.length === 0 ? 0 : this.failures / this.window.length;
  }

  private push(ok: boolean): void {
    this.window.push(ok);
    if (!ok) this.failures++;
    while (this.window.length > this.config.windowSize) if (!this.window.shift()) this.failures--;
  }

  private trip(now: number, reason: string): void {
    this.open = true;
    this.until = now + this.coolDown;
    this.reason = reason;
  }
}
