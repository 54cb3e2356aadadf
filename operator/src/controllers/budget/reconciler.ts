// The RenderBudget reconciler: writes what the ledger says of a budget now — the period and its reset
// time, spent, reserved, remaining, by provider, and the Ready and Exhausted conditions — only when
// something changed; records a Warning Event when the period's use first reaches 80 % of the limit
// and when the budget first reaches the cap (once per period each, also across restarts: the last
// written status says whether it was already reported); exports the spent and limit gauges; and looks
// again at the period's end, or sooner while money is reserved (reservations settle into spent).
import { API_VERSION, type Condition, type RenderBudget, type RenderBudgetStatus } from '../../api/index.js';
import { formatMicros, parseMicrosOr } from '../../money.js';
import type { Lister, Recorder } from '../../runtime/types.js';
import type { Reconciler } from '../context.js';
import type { BudgetLedger, BudgetUsage } from './ledger.js';

export interface BudgetStatusWriter {
  patchStatus(namespace: string, name: string, status: RenderBudgetStatus): Promise<void>;
}

export interface BudgetMetrics {
  observe(namespace: string, budget: string, spentUsd: number, limitUsd: number): void;
  forget(namespace: string, budget: string): void;
}

export interface BudgetReconcilerDeps {
  budgets: Lister<RenderBudget>;
  ledger: BudgetLedger;
  writer: BudgetStatusWriter;
  recorder: Recorder;
  clock: { now(): number };
  metrics?: BudgetMetrics;
  /** The budget has room again (no longer exhausted) or its spec changed: jobs it holds should look again. */
  onRoom?: (namespace: string) => void;
  /** How soon to look again while money is reserved. Default 15 s. */
  refreshMs?: number;
}

/** Event reasons. */
export const BudgetEvent = { AlmostSpent: 'BudgetAlmostSpent', Exhausted: 'BudgetExhausted' } as const;

const iso = (ms: number) => new Date(ms).toISOString();
const usedAtLeast80 = (u: { spentMicros: bigint; reservedMicros: bigint; limitMicros: bigint }) => (u.spentMicros + u.reservedMicros) * 100n >= u.limitMicros * 80n;

export class BudgetReconciler implements Reconciler {
  /** Per budget uid: the period start and which Events were sent in it by this process. */
  private readonly sent = new Map<string, { start: number; almost: boolean; cap: boolean }>();

  constructor(private readonly d: BudgetReconcilerDeps) {}

  async reconcile(key: string): Promise<{ requeueAfterMs?: number }> {
    const [namespace, name] = key.split('/') as [string, string];
    const b = this.d.budgets.get(namespace, name);
    if (!b) { this.d.metrics?.forget(namespace, name); return {}; }
    const now = this.d.clock.now();
    const u = this.d.ledger.usage(b);
    const prev = b.status;
    const status = statusOf(b, u, now);
    if (!u.invalid) {
      this.d.metrics?.observe(namespace, name, Number(u.spentMicros) / 1e6, Number(u.limitMicros) / 1e6);
      this.events(b, u, prev);
    }
    const wasExhausted = prev?.conditions?.find((c) => c.type === 'Exhausted')?.status === 'True';
    if (changed(prev, status)) await this.d.writer.patchStatus(namespace, name, status);
    if ((wasExhausted && !u.exhausted) || prev?.observedGeneration !== b.metadata.generation) this.d.onRoom?.(namespace);
    if (u.invalid) return {};
    const untilReset = Math.max(1, u.window.end - now);
    return { requeueAfterMs: u.reservedMicros > 0n ? Math.min(untilReset, this.d.refreshMs ?? 15_000) : untilReset };
  }

  private events(b: RenderBudget, u: BudgetUsage, prev: RenderBudgetStatus | undefined): void {
    const uid = b.metadata.uid ?? `${u.namespace}/${u.name}`;
    let s = this.sent.get(uid);
    if (!s || s.start !== u.window.start) {
      // What the last written status of this period already reported counts as sent (a restart sends nothing twice).
      const same = prev?.period?.start !== undefined && Date.parse(prev.period.start) === u.window.start;
      const was = (t: string) => same && prev?.conditions?.find((c) => c.type === t)?.status === 'True';
      const prevUse = same && prev?.spent && prev.reserved ? { spentMicros: parseMicrosOr(prev.spent, 0n), reservedMicros: parseMicrosOr(prev.reserved, 0n), limitMicros: u.limitMicros } : undefined;
      s = { start: u.window.start, almost: prevUse !== undefined && usedAtLeast80(prevUse), cap: was('Exhausted') };
      this.sent.set(uid, s);
    }
    const obj = { apiVersion: API_VERSION, kind: 'RenderBudget', metadata: { name: u.name, namespace: u.namespace, uid: b.metadata.uid } };
    const use = `spent ${formatMicros(u.spentMicros)} and reserved ${formatMicros(u.reservedMicros)} of ${formatMicros(u.limitMicros)} USD; resets ${iso(u.window.end)}`;
    if (!s.almost && usedAtLeast80(u)) {
      s.almost = true;
      this.d.recorder.event(obj, 'Warning', BudgetEvent.AlmostSpent, `80% of the ${b.spec.period} budget is used: ${use}`);
    }
    if (!s.cap && u.exhausted) {
      s.cap = true;
      this.d.recorder.event(obj, 'Warning', BudgetEvent.Exhausted, `the budget is at its cap (${u.action === 'Suspend' ? 'new shards of its jobs wait' : 'nothing new goes to providers'}): ${use}`);
    }
  }
}

/** The status the budget should have now; conditions keep their lastTransitionTime while their status holds. */
export function statusOf(b: RenderBudget, u: BudgetUsage, now: number): RenderBudgetStatus {
  const old = (t: string) => b.status?.conditions?.find((c) => c.type === t);
  const cond = (type: string, status: 'True' | 'False', reason: string, message: string): Condition => {
    const o = old(type);
    return { type, status, reason, message, observedGeneration: b.metadata.generation ?? 0, lastTransitionTime: o && o.status === status ? o.lastTransitionTime : iso(now) };
  };
  if (u.invalid) {
    return { ...(b.status ?? {}), observedGeneration: b.metadata.generation ?? 0, conditions: [cond('Ready', 'False', 'InvalidSpec', u.invalid)] };
  }
  const use = `spent ${formatMicros(u.spentMicros)} and reserved ${formatMicros(u.reservedMicros)} of ${formatMicros(u.limitMicros)} USD`;
  return {
    observedGeneration: b.metadata.generation ?? 0,
    period: { start: iso(u.window.start), end: iso(u.window.end) },
    spent: formatMicros(u.spentMicros), reserved: formatMicros(u.reservedMicros), remaining: formatMicros(u.remainingMicros),
    byProvider: [...u.byProvider].sort(([a], [c]) => a.localeCompare(c)).map(([provider, v]) => ({ provider, spent: formatMicros(v.spentMicros), reserved: formatMicros(v.reservedMicros) })),
    conditions: [
      cond('Ready', 'True', 'Tracking', `tracking the ${b.spec.period} period until ${iso(u.window.end)}`),
      u.exhausted
        ? cond('Exhausted', 'True', 'LimitReached', `${use}: the budget cannot pay for the next remote shard (${u.action})`)
        : cond('Exhausted', 'False', 'WithinLimit', `${use}; ${formatMicros(u.remainingMicros)} USD remaining`),
    ],
  };
}

/** Key order does not matter (the API server's answer and ours may differ in it). */
function changed(prev: RenderBudgetStatus | undefined, next: RenderBudgetStatus): boolean {
  const canon = (v: unknown): unknown => (Array.isArray(v) ? v.map(canon) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).sort(([a], [b]) => a.localeCompare(b)).map(([k, x]) => [k, canon(x)])) : v);
  return JSON.stringify(canon(prev ?? {})) !== JSON.stringify(canon(next));
}
