// The budget ledger, table-driven over hand-built caches: what counts as spent in a period (shard
// completion time against the UTC period start), what is reserved (live attempts, unknown bills,
// in-memory reservations until the cache shows them or their TTL passes), selectors, and the gate's
// all-or-nothing reservation across several budgets.
import { describe, expect, it } from '@jest/globals';
import { API_VERSION, type RenderBudget, type RenderJob, type RenderShard } from '../../api/index.js';
import { BudgetLedger, reservationMicros, selects } from './ledger.js';

const NS = 'studio';
const NOW = Date.parse('2026-12-06T12:00:00Z');

const budget = (name: string, limit: string, extra: Partial<RenderBudget['spec']> = {}): RenderBudget => ({
  apiVersion: API_VERSION, kind: 'RenderBudget', metadata: { name, namespace: NS, uid: `uid-${name}` }, spec: { limit, period: 'Month', ...extra },
} as RenderBudget);
const job = (name: string, labels: Record<string, string> = {}, maxDuration?: string): RenderJob => ({
  apiVersion: API_VERSION, kind: 'RenderJob', metadata: { name, namespace: NS, uid: `uid-${name}`, labels },
  spec: { template: { image: 'x', resources: { limits: { 'nvidia.com/gpu': 2 } } }, shards: { count: 10, ...(maxDuration ? { maxDuration } : {}) }, placement: { policy: 'Burst' } },
} as RenderJob);
const shard = (jobName: string, index: number, status: NonNullable<RenderShard['status']>): RenderShard => ({
  apiVersion: API_VERSION, kind: 'RenderShard', metadata: { name: `${jobName}-${index}`, namespace: NS }, spec: { jobName, index }, status,
} as RenderShard);

function ledger(budgets: RenderBudget[], jobs: RenderJob[], shards: RenderShard[], now = { t: NOW }, prices: Record<string, string> = { akash: '3600000' }) {
  return new BudgetLedger({
    clock: { now: () => now.t },
    budgets: () => budgets, jobs: () => jobs,
    shardsOf: (_ns, j) => shards.filter((s) => s.spec.jobName === j),
    priceOf: (p) => (prices[p] !== undefined ? BigInt(prices[p]!) : undefined),
    reservationTtlMs: 60_000,
  });
}

describe('selects', () => {
  const cases: [string, RenderBudget['spec']['selector'], Record<string, string>, boolean][] = [
    ['absent selects all', undefined, { team: 'a' }, true],
    ['empty selects all', {}, {}, true],
    ['matchLabels equal', { matchLabels: { team: 'a' } }, { team: 'a', x: 'y' }, true],
    ['matchLabels differ', { matchLabels: { team: 'a' } }, { team: 'b' }, false],
    ['In', { matchExpressions: [{ key: 'team', operator: 'In', values: ['a', 'b'] }] }, { team: 'b' }, true],
    ['In missing', { matchExpressions: [{ key: 'team', operator: 'In', values: ['a'] }] }, {}, false],
    ['NotIn missing', { matchExpressions: [{ key: 'team', operator: 'NotIn', values: ['a'] }] }, {}, true],
    ['NotIn present', { matchExpressions: [{ key: 'team', operator: 'NotIn', values: ['a'] }] }, { team: 'a' }, false],
    ['Exists', { matchExpressions: [{ key: 'team', operator: 'Exists' }] }, { team: '' }, true],
    ['DoesNotExist', { matchExpressions: [{ key: 'team', operator: 'DoesNotExist' }] }, { team: 'a' }, false],
  ];
  it.each(cases)('%s', (_n, sel, labels, want) => expect(selects(sel, labels)).toBe(want));
});

describe('BudgetLedger.usage', () => {
  it('counts shards finished in the period and unfinished ones, not those finished before it', () => {
    const shards = [
      shard('a', 0, { phase: 'Succeeded', placement: 'Remote', provider: 'akash', idempotencyKey: 'k0', remoteCost: '1.25', completionTime: '2026-12-02T00:00:00Z' }),
      shard('a', 1, { phase: 'Succeeded', placement: 'Remote', provider: 'akash', idempotencyKey: 'k1', remoteCost: '4.00', completionTime: '2026-11-30T23:59:59Z' }),
      shard('a', 2, { phase: 'Pending', placement: 'Remote', provider: 'chutes', remoteCost: '0.50' }), // a failed attempt, retry pending
      shard('b', 0, { phase: 'Succeeded', placement: 'Local', cost: '9.00', completionTime: '2026-12-02T00:00:00Z' }), // local cost is not budgeted
    ];
    const u = ledger([budget('team', '10.00')], [job('a'), job('b')], shards).usage(budget('team', '10.00'));
    expect(u.spentMicros).toBe(1_750_000n);
    expect(u.reservedMicros).toBe(0n);
    expect(u.remainingMicros).toBe(8_250_000n);
    expect(Object.fromEntries([...u.byProvider].map(([p, v]) => [p, v.spentMicros]))).toEqual({ akash: 1_250_000n, chutes: 500_000n });
    expect(new Date(u.window.end).toISOString()).toBe('2027-01-01T00:00:00.000Z');
  });

  const live = (key: string, provider = 'akash') => shard('a', Number(key.replace(/\D/g, '')), { phase: 'Running', placement: 'Remote', provider, idempotencyKey: key });
  it.each([
    // [what, job maxDuration, shards, expected reserved micros]
    ['a live attempt with maxDuration: price × GPUs × maxDuration', '30m', [live('k1')], 3_600_000n], // 3.60/h × 2 GPUs × 0.5 h
    ['a live attempt without: price × GPUs × the default expected time (10 min)', undefined, [live('k1')], 1_200_000n],
    ['a finished attempt with its bill unknown stays reserved', '30m', [shard('a', 1, { phase: 'Succeeded', placement: 'Remote', provider: 'akash', idempotencyKey: 'k1', costPending: true })], 3_600_000n],
    ['a provider without a price reserves 0 (nothing known to hold)', '30m', [live('k1', 'gone')], 0n],
    ['… or at the job\'s price cap when it has one', 'cap', [live('k1', 'gone')], 2_000_000n], // 4.00/h × 2 GPUs × 15 min
  ] as [string, string | undefined, RenderShard[], bigint][])('%s', (_n, maxDuration, shards, want) => {
    const j = job('a', {}, maxDuration === 'cap' ? '15m' : maxDuration);
    if (maxDuration === 'cap') j.spec.placement = { policy: 'Burst', maxPricePerGpuHour: '4.00' };
    const u = ledger([budget('team', '10.00')], [j], shards).usage(budget('team', '10.00'));
    expect(u.reservedMicros).toBe(want);
  });

  it('an in-memory reservation counts until the cache shows its attempt finished, or its TTL passes unseen', () => {
    const now = { t: NOW };
    const shards: RenderShard[] = [];
    const b = budget('team', '10.00');
    const l = ledger([b], [job('a', {}, '30m')], shards, now);
    const g = l.gate(job('a', {}, '30m'))!;
    expect(g.tryReserve('k1', 'akash', 3_000_000n)).toBe(true);
    expect(g.tryReserve('k2', 'akash', 3_000_000n)).toBe(true);
    expect(l.usage(b).reservedMicros).toBe(6_000_000n);
    // k1 appears live in the cache: counted once, at the reserved amount
    shards.push(shard('a', 1, { phase: 'Running', placement: 'Remote', provider: 'akash', idempotencyKey: 'k1' }));
    expect(l.usage(b).reservedMicros).toBe(6_000_000n);
    // k1 finished and billed: spent replaces reserved
    shards[0]!.status = { phase: 'Succeeded', placement: 'Remote', provider: 'akash', idempotencyKey: 'k1', remoteCost: '2.00', completionTime: '2026-12-06T12:00:30Z' };
    expect([l.usage(b).spentMicros, l.usage(b).reservedMicros]).toEqual([2_000_000n, 3_000_000n]);
    // k2 never shows up (its submission was not made): released after the TTL
    now.t += 61_000;
    expect(l.usage(b).reservedMicros).toBe(0n);
    expect(l.usage(b).remainingMicros).toBe(8_000_000n);
  });
});

describe('BudgetGate', () => {
  it('reserves in every budget selecting the job or in none, and the smaller remaining applies', () => {
    const team = budget('team', '10.00', { selector: { matchLabels: { team: 'fx' } } });
    const all = budget('all', '5.00');
    const other = budget('other', '0.01', { selector: { matchLabels: { team: 'lighting' } } });
    const l = ledger([team, all, other], [job('a', { team: 'fx' })], []);
    const g = l.gate(job('a', { team: 'fx' }))!;
    expect(g.usages.map((u) => u.name).sort()).toEqual(['all', 'team']);
    expect(g.remainingMicros).toBe(5_000_000n);
    expect(g.tryReserve('k1', 'akash', 4_000_000n)).toBe(true);
    expect(g.tryReserve('k2', 'akash', 2_000_000n)).toBe(false); // 'all' has 1.00 left
    expect(g.remainingMicros).toBe(1_000_000n);
    // the refusal marks 'all' exhausted (it cannot pay the next shard asked of it); 'team' is not
    expect(l.usage(all).exhausted).toBe(true);
    expect(l.usage(team).exhausted).toBe(false);
    expect(l.usage(team).reservedMicros).toBe(4_000_000n);
    // a later gate sees the reservation made by the first: two reads never both get the same money
    const g2 = l.gate(job('a', { team: 'fx' }))!;
    expect(g2.remainingMicros).toBe(1_000_000n);
    expect(g2.tryReserve('k3', 'akash', 1_000_000n)).toBe(true);
    expect(l.gate(job('a', { team: 'fx' }))!.remainingMicros).toBe(0n);
  });

  it('a Suspend budget holds the job once exhausted; a raised limit applies at the next look', () => {
    const b = budget('team', '1.00', { action: 'Suspend' });
    const budgets = [b];
    const l = ledger(budgets, [job('a')], [shard('a', 0, { phase: 'Succeeded', placement: 'Remote', provider: 'akash', remoteCost: '1.00', completionTime: '2026-12-06T11:00:00Z' })]);
    expect(l.gate(job('a'))!.suspendedBy?.name).toBe('team');
    budgets[0] = budget('team', '2.00', { action: 'Suspend' });
    expect(l.gate(job('a'))!.suspendedBy).toBeUndefined();
  });

  it('reservationMicros: the maxDuration bound when set, else the expected cost', () => {
    expect(reservationMicros(job('a', {}, '1h'), 2_000_000n, 123n)).toBe(4_000_000n);
    expect(reservationMicros(job('a'), 2_000_000n, 123n)).toBe(123n);
  });
});
