// The budget ledger: what each RenderBudget has spent and holds in its current period, and the one
// place where money is reserved before a shard is submitted. Spent = the recorded provider cost
// (RenderShard status.remoteCost) of the selected jobs' shards finished in the period (unfinished
// shards count in the current period). Reserved = one reservation per live remote attempt (intent
// recorded, outcome not yet) and per finished attempt whose bill is still unknown (costPending),
// plus the reservations the placer made this instant that the RenderShard cache does not show yet
// (keyed by idempotency key; dropped once the cache shows the attempt finished, or after a TTL if it
// never appears). The placer reads and reserves in one synchronous call (BudgetGate), so two jobs
// reconciled at once can never jointly pass a cap: JavaScript runs one call at a time.
//
// A reservation is price × GPUs × spec.shards.maxDuration when the job sets maxDuration (a hard bound:
// the attempt is stopped at maxDuration, so it never costs more at that price — exactly where the provider
// enforces it, within one status poll where the operator does), otherwise the planner's expected cost
// (price × GPUs × expected shard time), which an attempt may overrun.
import type { RenderBudget, RenderJob, RenderShard } from '../../api/index.js';
import { formatMicros, parseMicros, priceCapMicros } from '../../money.js';
import { DEFAULT_SHARD_MS, gpusPerShardOf, parseGoDuration, shardCostMicros } from '../../planner/index.js';
import { periodWindow, type BudgetPeriod, type PeriodWindow } from './period.js';

export interface LedgerDeps {
  clock: { now(): number };
  /** RenderBudgets of a namespace (the informer cache). */
  budgets(namespace: string): RenderBudget[];
  /** RenderJobs of a namespace (the informer cache). */
  jobs(namespace: string): RenderJob[];
  /** RenderShards of one job (the cache's job index). */
  shardsOf(namespace: string, job: string): RenderShard[];
  /** The highest price per GPU-hour a provider offers now (micro-USD), for live attempts the ledger holds no reservation of (after a restart). */
  priceOf(provider: string): bigint | undefined;
  /** How long an in-memory reservation waits for the cache to show its attempt. Default 120 s. */
  reservationTtlMs?: number;
}

export interface ProviderUsage { spentMicros: bigint; reservedMicros: bigint }

/** One budget as of now. */
export interface BudgetUsage {
  namespace: string;
  name: string;
  action: 'StopBursting' | 'Suspend';
  limitMicros: bigint;
  window: PeriodWindow;
  spentMicros: bigint;
  reservedMicros: bigint;
  /** limit - spent - reserved, never below 0. */
  remainingMicros: bigint;
  byProvider: Map<string, ProviderUsage>;
  /** The budget cannot pay for the next remote shard asked of it in this period (or nothing is left). */
  exhausted: boolean;
  /** The spec could not be read (the schema normally prevents it); the budget then holds nothing back. */
  invalid?: string;
}

interface Reservation { namespace: string; job: string; provider: string; amountMicros: bigint; at: number; seen: boolean }

const TERMINAL = new Set(['Succeeded', 'Failed']);

/** Does a label selector (matchLabels, matchExpressions) select these labels? Absent or empty: everything. */
export function selects(selector: RenderBudget['spec']['selector'], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector?.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of selector?.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(l, e.key);
    const ok = e.operator === 'In' ? has && (e.values ?? []).includes(l[e.key]!)
      : e.operator === 'NotIn' ? !has || !(e.values ?? []).includes(l[e.key]!)
        : e.operator === 'Exists' ? has
          : e.operator === 'DoesNotExist' ? !has
            : false; // an unknown operator selects nothing rather than everything it was meant to narrow
    if (!ok) return false;
  }
  return true;
}

/** What one reservation of a shard of `job` at `pricePerGpuHourMicros` holds: the maxDuration bound, or the expected cost. */
export function reservationMicros(job: RenderJob, pricePerGpuHourMicros: bigint, expectedCostMicros: bigint | undefined, expectedShardMs = DEFAULT_SHARD_MS): bigint {
  const max = job.spec.shards.maxDuration;
  if (max) return shardCostMicros(pricePerGpuHourMicros, gpusPerShardOf(job.spec), parseGoDuration(max));
  return expectedCostMicros ?? shardCostMicros(pricePerGpuHourMicros, gpusPerShardOf(job.spec), expectedShardMs);
}

export const budgetKey = (b: { namespace: string; name: string }): string => `${b.namespace}/${b.name}`;

export class BudgetLedger {
  /** In-memory reservations by idempotency key. */
  private readonly held = new Map<string, Reservation>();
  /** Per budget key: the amount a placement asked for and did not get, in the period starting at `start`. */
  private readonly refused = new Map<string, { start: number; amountMicros: bigint }>();
  private readonly listeners: ((budgetKey: string) => void)[] = [];
  private readonly ttlMs: number;

  constructor(private readonly d: LedgerDeps) {
    this.ttlMs = d.reservationTtlMs ?? 120_000;
  }

  /** Called with a budget's key when the placer reserved against it or was refused by it. */
  onChange(fn: (budgetKey: string) => void): void {
    this.listeners.push(fn);
  }

  /** The budgets of the job's namespace that select it. */
  budgetsFor(job: RenderJob): RenderBudget[] {
    const ns = job.metadata.namespace!;
    return this.d.budgets(ns).filter((b) => selects(b.spec.selector, job.metadata.labels));
  }

  /** A budget's spent, reserved and remaining as of now. */
  usage(budget: RenderBudget): BudgetUsage {
    const now = this.d.clock.now();
    const namespace = budget.metadata.namespace!;
    const name = budget.metadata.name!;
    const action = budget.spec.action ?? 'StopBursting';
    let window: PeriodWindow;
    let limitMicros: bigint;
    try {
      window = periodWindow(budget.spec.period as BudgetPeriod, now);
      limitMicros = parseMicros(budget.spec.limit);
    } catch (e) {
      return { namespace, name, action, limitMicros: 0n, window: { start: now, end: now }, spentMicros: 0n, reservedMicros: 0n, remainingMicros: 0n, byProvider: new Map(), exhausted: false, invalid: (e as Error).message };
    }
    const byProvider = new Map<string, ProviderUsage>();
    const add = (provider: string, spent: bigint, reserved: bigint) => {
      const u = byProvider.get(provider) ?? { spentMicros: 0n, reservedMicros: 0n };
      u.spentMicros += spent;
      u.reservedMicros += reserved;
      byProvider.set(provider, u);
    };
    this.sweep(now);
    const live = new Set<string>();
    const finished = new Set<string>();
    const jobs = new Set<string>();
    for (const job of this.d.jobs(namespace)) {
      if (!selects(budget.spec.selector, job.metadata.labels)) continue;
      jobs.add(job.metadata.name!);
      const shards = this.d.shardsOf(namespace, job.metadata.name!);
      const mean = meanShardMs(shards);
      for (const s of shards) {
        const st = s.status;
        if (!st) continue;
        const done = st.phase !== undefined && TERMINAL.has(st.phase);
        const provider = st.provider ?? '';
        // A shard finished before this period started spent its money then; anything else counts now.
        if (st.remoteCost && !(done && st.completionTime && Date.parse(st.completionTime) < window.start)) add(provider, parseMicros(st.remoteCost), 0n);
        const key = st.placement === 'Remote' ? st.idempotencyKey : undefined;
        if (!key) continue;
        if (!done) live.add(key);
        else finished.add(key);
        const mine = this.held.get(key);
        if (!done || st.costPending) {
          // Live, or finished with its bill unknown: held at the placer's amount, or estimated after a restart.
          if (mine && !done) continue; // counted with the in-memory reservations below
          // The provider's highest offer now; without offers, the job's own price cap.
          const price = this.d.priceOf(provider) ?? priceCapMicros(job.spec.placement?.maxPricePerGpuHour) ?? 0n;
          add(provider, 0n, reservationMicros(job, price, undefined, mean));
        }
      }
    }
    for (const [key, r] of this.held) {
      if (r.namespace !== namespace || !jobs.has(r.job)) continue;
      if (live.has(key)) { r.seen = true; add(r.provider, 0n, r.amountMicros); continue; }
      if (finished.has(key) || r.seen || now - r.at > this.ttlMs) { this.held.delete(key); continue; }
      add(r.provider, 0n, r.amountMicros);
    }
    let spentMicros = 0n;
    let reservedMicros = 0n;
    for (const u of byProvider.values()) { spentMicros += u.spentMicros; reservedMicros += u.reservedMicros; }
    const left = limitMicros - spentMicros - reservedMicros;
    const remainingMicros = left < 0n ? 0n : left;
    const refused = this.refused.get(budgetKey({ namespace, name }));
    const exhausted = remainingMicros === 0n || (refused !== undefined && refused.start === window.start && remainingMicros < refused.amountMicros);
    return { namespace, name, action, limitMicros, window, spentMicros, reservedMicros, remainingMicros, byProvider, exhausted };
  }

  /**
   * One synchronous look at the budgets that select the job, for the placer: the smallest remaining,
   * whether a Suspend budget holds the job back, and tryReserve. Undefined when no budget selects it.
   * Read and reserve happen in the same call stack, with no await in between.
   */
  gate(job: RenderJob): BudgetGate | undefined {
    const budgets = this.budgetsFor(job);
    if (budgets.length === 0) return undefined;
    const usages = budgets.map((b) => this.usage(b)).filter((u) => !u.invalid);
    if (usages.length === 0) return undefined;
    return new BudgetGate(this, job, usages);
  }

  /** @internal BudgetGate's hold: an in-memory reservation by idempotency key (re-reserving a key replaces it). */
  hold(key: string, r: Omit<Reservation, 'at' | 'seen'>, budgets: BudgetUsage[]): void {
    const prev = this.held.get(key);
    this.held.set(key, { ...r, at: this.d.clock.now(), seen: prev?.seen ?? false });
    // Re-reserving the same attempt at the same amount changes nothing anyone should look at again.
    if (prev?.amountMicros !== r.amountMicros || prev.provider !== r.provider) for (const b of budgets) this.emit(budgetKey(b));
  }

  /** @internal BudgetGate's refusal: remembered for the Exhausted condition until the budget has that much room again. */
  refuse(b: BudgetUsage, amountMicros: bigint): void {
    const k = budgetKey(b);
    const prev = this.refused.get(k);
    this.refused.set(k, { start: b.window.start, amountMicros: prev && prev.start === b.window.start && prev.amountMicros < amountMicros ? prev.amountMicros : amountMicros });
    this.emit(k);
  }

  /** Reservation held by key, if any (tests, `atelier plan`). */
  reservation(key: string): bigint | undefined {
    return this.held.get(key)?.amountMicros;
  }

  /** Reservations no budget looked at for a day (their budget or job is gone) are forgotten. */
  private sweep(now: number): void {
    for (const [key, r] of this.held) if (now - r.at > Math.max(this.ttlMs, 86_400_000)) this.held.delete(key);
  }

  private emit(key: string): void {
    for (const fn of this.listeners) fn(key);
  }
}

/** The budgets selecting one job, as the placer sees them in one round. */
export class BudgetGate {
  private readonly left: Map<BudgetUsage, bigint>;

  constructor(private readonly ledger: BudgetLedger, private readonly job: RenderJob, readonly usages: BudgetUsage[]) {
    this.left = new Map(usages.map((u) => [u, u.remainingMicros]));
  }

  /** The first exhausted Suspend budget: while there is one, no new shard of the job starts anywhere. */
  get suspendedBy(): BudgetUsage | undefined {
    return this.usages.find((u) => u.action === 'Suspend' && u.exhausted);
  }

  /** The smallest remaining over the job's budgets, after this round's reservations. */
  get remainingMicros(): bigint {
    let min: bigint | undefined;
    for (const v of this.left.values()) if (min === undefined || v < min) min = v;
    return min ?? 0n;
  }

  /** Reserves `amountMicros` for the attempt `key` in every budget, or in none (returns false, and the budgets that refused remember it). */
  tryReserve(key: string, provider: string, amountMicros: bigint): boolean {
    const short = [...this.left].filter(([, v]) => v < amountMicros).map(([u]) => u);
    if (short.length > 0) {
      for (const u of short) this.ledger.refuse(u, amountMicros);
      return false;
    }
    for (const [u, v] of this.left) this.left.set(u, v - amountMicros);
    this.ledger.hold(key, { namespace: this.job.metadata.namespace!, job: this.job.metadata.name!, provider, amountMicros }, this.usages);
    return true;
  }

  /** Tells the budgets that cannot hold `amountMicros` that a shard asked for it (for their Exhausted condition). */
  refuseShort(amountMicros: bigint): void {
    for (const [u, v] of this.left) if (v < amountMicros) this.ledger.refuse(u, amountMicros);
  }

  /** Why the job may not burst (or start), for its Bursting condition. */
  message(u: BudgetUsage): string {
    return `RenderBudget ${u.name} (${u.action}) is exhausted: spent ${formatMicros(u.spentMicros)} and reserved ${formatMicros(u.reservedMicros)} of ${formatMicros(u.limitMicros)} USD until ${new Date(u.window.end).toISOString()}`;
  }
}

/** Mean wall time of a job's finished shards, the same estimate the RenderJob controller plans with. */
function meanShardMs(shards: RenderShard[]): number {
  let total = 0;
  let n = 0;
  for (const s of shards) {
    const st = s.status;
    if (st?.phase === 'Succeeded' && st.startTime && st.completionTime) { total += Date.parse(st.completionTime) - Date.parse(st.startTime); n++; }
  }
  return n > 0 ? total / n : DEFAULT_SHARD_MS;
}
