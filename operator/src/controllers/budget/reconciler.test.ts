// The RenderBudget reconciler over a hand-built cache and a status store: the status it writes (and
// that it writes nothing when nothing changed), the Warning Events at 80 % and at the cap once per
// period — also across a restart, read from the last written status — the reset at the period's
// end (jobs are told the budget has room again), and the gauges.
import { describe, expect, it } from '@jest/globals';
import { API_VERSION, type RenderBudget, type RenderBudgetStatus, type RenderJob, type RenderShard } from '../../api/index.js';
import { BudgetLedger } from './ledger.js';
import { BudgetReconciler } from './reconciler.js';

const NS = 'studio';
const T0 = Date.parse('2026-12-31T22:00:00Z');

function world() {
  const now = { t: T0 };
  const budget: RenderBudget = { apiVersion: API_VERSION, kind: 'RenderBudget', metadata: { name: 'team', namespace: NS, uid: 'u1', generation: 1 }, spec: { limit: '10.00', period: 'Month', action: 'StopBursting' } } as RenderBudget;
  const job = { apiVersion: API_VERSION, kind: 'RenderJob', metadata: { name: 'a', namespace: NS, uid: 'uid-a' }, spec: { template: { image: 'x' }, shards: { count: 5, maxDuration: '1h' }, placement: { policy: 'ProviderOnly' } } } as unknown as RenderJob;
  const shards: RenderShard[] = [];
  const ledger = new BudgetLedger({ clock: { now: () => now.t }, budgets: () => [budget], jobs: () => [job], shardsOf: () => shards, priceOf: () => 1_000_000n });
  const writes: RenderBudgetStatus[] = [];
  const events: { type: string; reason: string; message: string }[] = [];
  const gauges = new Map<string, [number, number]>();
  const rooms: string[] = [];
  const reconciler = () => new BudgetReconciler({
    budgets: { get: () => budget, byIndex: () => [] }, ledger, clock: { now: () => now.t },
    writer: { patchStatus: async (_ns, _n, s) => { writes.push(s); budget.status = JSON.parse(JSON.stringify(s)) as RenderBudgetStatus; } },
    recorder: { event: (_o, type, reason, message) => { events.push({ type, reason, message }); } },
    metrics: { observe: (ns, b, spent, limit) => gauges.set(`${ns}/${b}`, [spent, limit]), forget: (ns, b) => gauges.delete(`${ns}/${b}`) },
    onRoom: (ns) => rooms.push(ns),
  });
  const spend = (i: number, usd: string, at: number) => shards.push({ apiVersion: API_VERSION, kind: 'RenderShard', metadata: { name: `a-${i}`, namespace: NS }, spec: { jobName: 'a', index: i }, status: { phase: 'Succeeded', placement: 'Remote', provider: 'akash', idempotencyKey: `k${i}`, remoteCost: usd, completionTime: new Date(at).toISOString() } } as RenderShard);
  return { now, budget, shards, ledger, writes, events, gauges, rooms, reconciler, spend };
}

describe('BudgetReconciler', () => {
  it('writes the status once per change, with the period and its reset time', async () => {
    const w = world();
    const r = w.reconciler();
    w.spend(0, '3.00', T0 - 1000);
    const res = await r.reconcile(`${NS}/team`);
    expect(w.writes).toHaveLength(1);
    expect(w.budget.status).toMatchObject({
      observedGeneration: 1, period: { start: '2026-12-01T00:00:00.000Z', end: '2027-01-01T00:00:00.000Z' },
      spent: '3.00', reserved: '0.00', remaining: '7.00', byProvider: [{ provider: 'akash', spent: '3.00', reserved: '0.00' }],
    });
    expect(w.budget.status!.conditions!.map((c) => [c.type, c.status, c.reason])).toEqual([['Ready', 'True', 'Tracking'], ['Exhausted', 'False', 'WithinLimit']]);
    expect(res.requeueAfterMs).toBe(2 * 3600_000); // the reset at midnight UTC
    await r.reconcile(`${NS}/team`);
    expect(w.writes).toHaveLength(1);
    expect(w.gauges.get(`${NS}/team`)).toEqual([3, 10]);
    expect(w.events).toEqual([]);
  });

  it('Warning Events at 80 % and at the cap, once per period, also after a restart; the period reset gives room again', async () => {
    const w = world();
    w.spend(0, '8.00', T0 - 1000);
    await w.reconciler().reconcile(`${NS}/team`);
    expect(w.events.map((e) => [e.type, e.reason])).toEqual([['Warning', 'BudgetAlmostSpent']]);
    // a live attempt reserving 1 h at 1.00/h leaves 1.00; another shard asking 2.00 is refused
    w.shards.push({ apiVersion: API_VERSION, kind: 'RenderShard', metadata: { name: 'a-1', namespace: NS }, spec: { jobName: 'a', index: 1 }, status: { phase: 'Running', placement: 'Remote', provider: 'akash', idempotencyKey: 'k1' } } as RenderShard);
    const gate = w.ledger.gate({ metadata: { name: 'a', namespace: NS } } as RenderJob)!;
    expect(gate.tryReserve('k2', 'akash', 2_000_000n)).toBe(false);
    const r = w.reconciler();
    await r.reconcile(`${NS}/team`);
    await r.reconcile(`${NS}/team`);
    expect(w.events.map((e) => e.reason)).toEqual(['BudgetAlmostSpent', 'BudgetExhausted']);
    expect(w.events[1]!.message).toContain('spent 8.00 and reserved 1.00 of 10.00 USD');
    expect(w.budget.status!.conditions!.find((c) => c.type === 'Exhausted')).toMatchObject({ status: 'True', reason: 'LimitReached' });
    // a restarted operator reads what the status already reported: nothing is sent twice
    await w.reconciler().reconcile(`${NS}/team`);
    expect(w.events).toHaveLength(2);
    // midnight UTC on 31 December: a new month; December's spending is no longer counted
    w.shards[1]!.status = { ...w.shards[1]!.status, phase: 'Succeeded', remoteCost: '1.00', completionTime: '2026-12-31T23:00:00Z' };
    w.now.t = Date.parse('2027-01-01T00:00:01Z');
    w.rooms.length = 0;
    await r.reconcile(`${NS}/team`);
    expect(w.budget.status).toMatchObject({ period: { start: '2027-01-01T00:00:00.000Z', end: '2027-02-01T00:00:00.000Z' }, spent: '0.00', remaining: '10.00' });
    expect(w.budget.status!.conditions!.find((c) => c.type === 'Exhausted')!.status).toBe('False');
    expect(w.rooms).toEqual([NS]);
    // a new period reports its own 80 %
    w.spend(2, '9.00', w.now.t);
    await r.reconcile(`${NS}/team`);
    expect(w.events.map((e) => e.reason)).toEqual(['BudgetAlmostSpent', 'BudgetExhausted', 'BudgetAlmostSpent']);
  });

  it('a deleted budget leaves the gauges', async () => {
    const w = world();
    const r = w.reconciler();
    await r.reconcile(`${NS}/team`);
    expect(w.gauges.has(`${NS}/team`)).toBe(true);
    const gone = new BudgetReconciler({ budgets: { get: () => undefined, byIndex: () => [] }, ledger: w.ledger, clock: { now: () => w.now.t }, writer: { patchStatus: async () => {} }, recorder: { event: () => {} }, metrics: { observe: () => {}, forget: (ns, b) => w.gauges.delete(`${ns}/${b}`) } });
    await gone.reconcile(`${NS}/team`);
    expect(w.gauges.has(`${NS}/team`)).toBe(false);
  });
});
