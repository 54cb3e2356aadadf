// Leader election on a coordination.k8s.io/v1 Lease, so only one operator replica reconciles at a
// time. A candidate takes the Lease when it is free (no holder) or expired (renewTime +
// leaseDurationSeconds < now), the leader renews every retryPeriod, and a leader that cannot renew
// for renewDeadline (shorter than the lease duration, so it stops before anyone else may start), or
// that sees another holder, steps down at once. Every write carries the resourceVersion it read:
// a 409 means someone else won. stop() releases the Lease (clears holderIdentity) so a standby takes
// over on its next retry instead of waiting out the lease. Time comes from an injected Clock.
//
// Expiry compares the holder's renewTime with our clock, as the design asks; replicas therefore
// need clocks in sync to well within leaseDuration - renewDeadline (5 s by default).
import * as k8s from '@kubernetes/client-node';
import { type Clock, realClock } from './clock.js';
import { errorMessage, isConflict, isNotFound, statusCode } from './errors.js';
import { type Log, nopLog } from './logger.js';

/** The three Lease calls the elector makes (an interface so tests can run without a cluster). */
export interface LeaseClient {
  /** The Lease, or undefined if it does not exist. */
  get(namespace: string, name: string): Promise<k8s.V1Lease | undefined>;
  /** Fails with 409 if it already exists. */
  create(namespace: string, lease: k8s.V1Lease): Promise<k8s.V1Lease>;
  /** Fails with 409 if metadata.resourceVersion is stale. */
  replace(namespace: string, name: string, lease: k8s.V1Lease): Promise<k8s.V1Lease>;
}

export function coordinationLeaseClient(api: k8s.CoordinationV1Api): LeaseClient {
  return {
    async get(namespace, name) {
      try {
        return await api.readNamespacedLease({ namespace, name });
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    create: (namespace, body) => api.createNamespacedLease({ namespace, body }),
    replace: (namespace, name, body) => api.replaceNamespacedLease({ namespace, name, body }),
  };
}

export interface LeaderElectorOptions {
  client: LeaseClient;
  namespace: string;
  name: string;
  /** Unique per process (e.g. pod name plus a random suffix). */
  identity: string;
  /** Default 15 s. */
  leaseDurationMs?: number;
  /** Default 10 s; must be below leaseDurationMs. */
  renewDeadlineMs?: number;
  /** Default 2 s. */
  retryPeriodMs?: number;
  /** Called once leadership is acquired; the signal aborts when it is lost or stop() is called. */
  onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  /** Called once when leadership ends (lost or stopped), before the Lease is released. */
  onStoppedLeading?: () => void;
  /** Called when the observed holder changes (undefined: nobody). */
  onNewLeader?: (identity: string | undefined) => void;
  /**
   * Called once when campaigning cannot succeed without a change by a person (the Lease's namespace
   * does not exist, or the Lease may not be written), after `fatalAfter` such attempts in a row; the
   * campaign stops. Default: campaigning goes on, logging the reason.
   */
  onFatal?: (err: LeaseUnusable) => void;
  /** Attempts in a row with an unusable Lease before onFatal (default 5). */
  fatalAfter?: number;
  clock?: Clock;
  logger?: Log;
}

type Attempt = 'ok' | 'held' | 'conflict' | 'timeout' | 'unusable';

/** The Lease cannot be created or updated as things stand: its namespace is missing, or RBAC forbids it. */
export class LeaseUnusable extends Error {
  constructor(message: string, readonly code: 404 | 403) {
    super(message);
    this.name = 'LeaseUnusable';
  }
}

export class LeaderElector {
  private readonly o: LeaderElectorOptions;
  private lastUnusable?: LeaseUnusable;
  private readonly clock: Clock;
  private readonly log: Log;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;

  private leading = false;
  private lastRenew = 0;
  private observedHolder: string | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;
  private readonly stopController = new AbortController();
  private leaderController: AbortController | undefined;

  constructor(options: LeaderElectorOptions) {
    this.o = options;
    this.clock = options.clock ?? realClock;
    this.log = options.logger ?? nopLog;
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (!(this.renewDeadlineMs < this.leaseDurationMs)) throw new Error('renewDeadline must be shorter than leaseDuration');
    if (!(this.retryPeriodMs < this.renewDeadlineMs)) throw new Error('retryPeriod must be shorter than renewDeadline');
  }

  /** True while this process holds a Lease it renewed less than renewDeadline ago. */
  isLeader(): boolean {
    return this.leading && this.clock.now() - this.lastRenew < this.renewDeadlineMs;
  }

  /** The holder seen on the last read of the Lease. */
  leader(): string | undefined {
    return this.observedHolder;
  }

  /**
   * Campaigns until leader, then renews. Resolves when leadership is lost or stop() is called
   * (losing leadership is final for this run; callers usually exit, as controller-runtime does).
   */
  run(): Promise<void> {
    this.running ??= this.loop();
    return this.running;
  }

  /** Stops campaigning or leading; if leading, calls onStoppedLeading and releases the Lease. */
  async stop(): Promise<void> {
    if (this.stopped) {
      await this.running;
      return;
    }
    this.stopped = true;
    this.stopController.abort();
    await this.running;
    if (this.leading) {
      this.stepDown('stopped');
      await this.release();
    }
  }

  private async loop(): Promise<void> {
    // Campaign.
    let unusable = 0;
    while (!this.stopped) {
      const r = await this.attempt(this.renewDeadlineMs);
      if (this.stopped) return;
      if (r === 'ok') break;
      unusable = r === 'unusable' ? unusable + 1 : 0;
      if (this.o.onFatal && this.lastUnusable && unusable >= (this.o.fatalAfter ?? 5)) {
        this.o.onFatal(this.lastUnusable);
        return;
      }
      if (!(await this.pause(this.retryPeriodMs * (1 + Math.random() * 0.2)))) return;
    }
    if (this.stopped) return;
    this.leading = true;
    this.lastRenew = this.clock.now();
    this.leaderController = new AbortController();
    this.log.info('became leader', { lease: `${this.o.namespace}/${this.o.name}`, identity: this.o.identity });
    const signal = this.leaderController.signal;
    try {
      Promise.resolve(this.o.onStartedLeading(signal)).catch((err) =>
        this.log.error('onStartedLeading failed', { error: errorMessage(err) }),
      );
    } catch (err) {
      this.log.error('onStartedLeading failed', { error: errorMessage(err) });
    }
    // Renew.
    while (!this.stopped) {
      if (!(await this.pause(this.retryPeriodMs))) return;
      const remaining = this.lastRenew + this.renewDeadlineMs - this.clock.now();
      const r: Attempt = remaining > 0 ? await this.attempt(remaining) : 'timeout';
      if (this.stopped) return;
      if (r === 'ok') {
        this.lastRenew = this.clock.now();
        continue;
      }
      if (r === 'held') {
        this.stepDown(`lease taken by ${this.observedHolder ?? 'another candidate'}`);
        return;
      }
      if (this.clock.now() - this.lastRenew >= this.renewDeadlineMs) {
        this.stepDown('could not renew within renewDeadline');
        return;
      }
    }
  }

  private stepDown(reason: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.leaderController?.abort(new Error(`leadership ended: ${reason}`));
    this.log.warn('stopped leading', { lease: `${this.o.namespace}/${this.o.name}`, identity: this.o.identity, reason });
    try {
      this.o.onStoppedLeading?.();
    } catch (err) {
      this.log.error('onStoppedLeading failed', { error: errorMessage(err) });
    }
  }

  /** Sleeps unless stopped; false if stop() interrupted it. */
  private async pause(ms: number): Promise<boolean> {
    try {
      await this.clock.sleep(ms, this.stopController.signal);
      return !this.stopped;
    } catch {
      return false;
    }
  }

  /** One tryAcquireOrRenew bounded by timeoutMs; errors count as a failed attempt. */
  private async attempt(timeoutMs: number): Promise<Attempt> {
    const timer = new AbortController();
    try {
      return await Promise.race([
        this.tryAcquireOrRenew().catch((err): Attempt => {
          if (err instanceof LeaseUnusable) {
            if (this.lastUnusable?.message !== err.message) this.log.error('leader election cannot proceed', { lease: `${this.o.namespace}/${this.o.name}`, error: err.message });
            this.lastUnusable = err;
            return 'unusable';
          }
          this.log.warn('lease update failed', { lease: `${this.o.namespace}/${this.o.name}`, error: errorMessage(err) });
          return 'conflict';
        }),
        this.clock.sleep(timeoutMs, timer.signal).then((): Attempt => 'timeout', (): Attempt => 'timeout'),
      ]);
    } finally {
      timer.abort();
    }
  }

  private async tryAcquireOrRenew(): Promise<Attempt> {
    const { client, namespace, name, identity } = this.o;
    const now = this.clock.now();
    const durationSeconds = Math.ceil(this.leaseDurationMs / 1000);
    const lease = await client.get(namespace, name);
    if (!lease) {
      try {
        await client.create(namespace, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds: durationSeconds,
            acquireTime: new k8s.V1MicroTime(now),
            renewTime: new k8s.V1MicroTime(now),
            leaseTransitions: 0,
          },
        });
      } catch (err) {
        if (isConflict(err)) return 'conflict';
        const code = statusCode(err);
        if (code === 404) {
          throw new LeaseUnusable(`the Lease's namespace "${namespace}" does not exist: create it (kubectl create namespace ${namespace}), or point --lease-namespace (ATELIER_LEASE_NAMESPACE) at an existing namespace, or run with --leader-elect=false for a single replica`, 404);
        }
        if (code === 403) {
          throw new LeaseUnusable(`not allowed to create Lease ${namespace}/${name}: grant create/get/update on leases (coordination.k8s.io) in namespace ${namespace} (the Helm chart's Role does), or use --lease-namespace`, 403);
        }
        throw err;
      }
      this.observe(identity);
      return 'ok';
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity || undefined;
    this.observe(holder);
    const renewed = timeOf(spec.renewTime ?? spec.acquireTime);
    const expiresAt = renewed === undefined ? -Infinity : renewed + (spec.leaseDurationSeconds ?? 0) * 1000;
    if (holder && holder !== identity && expiresAt >= now) return 'held';
    const mine = holder === identity;
    lease.spec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds: durationSeconds,
      renewTime: new k8s.V1MicroTime(now),
      acquireTime: mine && spec.acquireTime ? spec.acquireTime : new k8s.V1MicroTime(now),
      leaseTransitions: (spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
    };
    try {
      await client.replace(namespace, name, lease);
    } catch (err) {
      if (isConflict(err)) return 'conflict';
      throw err;
    }
    this.observe(identity);
    return 'ok';
  }

  /** Gives the Lease up if we still hold it, so a standby need not wait for it to expire. */
  private async release(): Promise<void> {
    const { client, namespace, name, identity } = this.o;
    const work = (async () => {
      const lease = await client.get(namespace, name);
      if (!lease || lease.spec?.holderIdentity !== identity) return;
      const now = new k8s.V1MicroTime(this.clock.now());
      lease.spec = { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: now, acquireTime: now };
      await client.replace(namespace, name, lease);
      this.observe(undefined);
      this.log.info('released lease', { lease: `${namespace}/${name}`, identity });
    })().catch((err) => {
      this.log.warn('could not release lease; it will expire', { lease: `${namespace}/${name}`, error: errorMessage(err) });
    });
    const timeout = new AbortController();
    try {
      await Promise.race([work, this.clock.sleep(this.renewDeadlineMs, timeout.signal).catch(() => undefined)]);
    } finally {
      timeout.abort();
    }
  }

  private observe(holder: string | undefined): void {
    if (holder === this.observedHolder) return;
    this.observedHolder = holder;
    try {
      this.o.onNewLeader?.(holder);
    } catch (err) {
      this.log.error('onNewLeader failed', { error: errorMessage(err) });
    }
  }
}

/** MicroTime / Time fields arrive as strings (or Dates when built locally). */
function timeOf(v: unknown): number | undefined {
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'string') {
    const t = Date.parse(v);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}
