// planJob: whole-job plans for `atelier plan`, replaying the per-round planner over simulated time;
// and the spec parsing the controller shares with it.
import type { RenderJobSpec } from '../api/index.js';
import { planJob, planParamsFromSpec, planRound, type JobPlanInput } from './job.js';
import { MIN, T0, usd } from './testing.js';
import type { OfferView, ProviderView } from './types.js';

function spec(o: { count?: number; policy?: 'LocalOnly' | 'Burst' | 'ProviderOnly'; budget?: string; deadlineMin?: number; parallelism?: number; gpus?: number } = {}): RenderJobSpec {
  return {
    template: { image: 'img', resources: { limits: { 'nvidia.com/gpu': o.gpus ?? 1 } } },
    shards: { count: o.count ?? 20, ...(o.parallelism ? { parallelism: o.parallelism } : {}) },
    placement: { policy: o.policy ?? 'Burst', burstAfter: '60s' },
    ...(o.budget ? { budget: { maxCost: o.budget } } : {}),
    ...(o.deadlineMin ? { deadline: new Date(T0 + o.deadlineMin * MIN).toISOString() } : {}),
  };
}
const offer = (provider: string, price: string, available?: number): OfferView => ({ provider, offerId: `${provider}-h100`, gpuModel: 'nvidia-h100', pricePerGpuHourMicros: usd(price), ...(available !== undefined ? { available } : {}) });
const provider = (name: string, p: Partial<ProviderView> = {}): ProviderView => ({ name, inFlight: 0, reliability: 1, paused: false, ...p });

function input(s: RenderJobSpec, extra: Partial<JobPlanInput> = {}): JobPlanInput {
  return {
    now: T0, namespace: 'studio', spec: s, expectedShardMs: 10 * MIN,
    local: [{ model: 'nvidia-h100', free: 4, allocatable: 4 }],
    offers: [offer('akash', '1.00', 100)], providers: [provider('akash')],
    ...extra,
  };
}

describe('planJob', () => {
  test('LocalOnly: waves of local slots', () => {
    const p = planJob(input(spec({ policy: 'LocalOnly' }), { localPricePerGpuHourMicros: usd('1.80') }));
    expect(p).toMatchObject({ policy: 'LocalOnly', shards: 20, local: 20, remote: [], unplaced: 0, expectedFinish: T0 + 50 * MIN, expectedRemoteCostMicros: 0n });
    // 20 shards x 1 GPU x 10 min at 1.80 = 6.00
    expect(p.expectedLocalCostMicros).toBe(6_000_000n);
    expect(p.localOnly).toEqual({ ...p.localOnly, expectedFinish: T0 + 50 * MIN });
    expect(p.firstRound.reason.reason).toBe('LocalOnly');
  });

  test('Burst: local first, the rest bursts once it has waited longer than burstAfter', () => {
    const p = planJob(input(spec()));
    expect(p.local).toBe(4);
    expect(p.remote).toEqual([{ provider: 'akash', shards: 16, costMicros: 16n * 166_667n }]);
    expect(p.expectedRemoteCostMicros).toBe(2_666_672n);
    expect(p.expectedFinish).toBe(T0 + MIN + 1 + 10 * MIN);
    expect(p.localOnly).toMatchObject({ local: 20, expectedFinish: T0 + 50 * MIN, expectedRemoteCostMicros: 0n });
    expect(p.firstRound.counts).toEqual({ local: 4, remote: 0, wait: 16 });
    expect(p.firstRound.reason.reason).toBe('WaitingForLocal');
  });

  test('Burst within a budget: what the budget cannot pay for runs locally', () => {
    const p = planJob(input(spec({ budget: '1.00' })));
    // 0.166667 per shard: 5 fit in 1.00, 6 would not
    expect(p.remote).toEqual([{ provider: 'akash', shards: 5, costMicros: 833_335n }]);
    expect(p.local).toBe(15);
    // 4 at once, then 11 more in waves of 4 after the first 10 minutes
    expect(p.expectedFinish).toBe(T0 + 40 * MIN);
    expect(p.expectedRemoteCostMicros).toBeLessThanOrEqual(usd('1.00'));
  });

  test('ProviderOnly: provider concurrency sets the waves; nothing local', () => {
    const p = planJob(input(spec({ count: 12, policy: 'ProviderOnly' }), { providers: [provider('akash', { maxConcurrentShards: 5 })] }));
    expect(p.local).toBe(0);
    expect(p.remote[0]!.shards).toBe(12);
    expect(p.expectedFinish).toBe(T0 + 30 * MIN);
  });

  test('ProviderOnly with no offer never finishes, and says so', () => {
    const p = planJob(input(spec({ count: 12, policy: 'ProviderOnly' }), { offers: [], providers: [] }));
    expect(p.unplaced).toBe(12);
    expect(p.expectedFinish).toBeUndefined();
    expect(p.firstRound.reason.reason).toBe('NoEligibleOffer');
  });

  test('deadline: bursts at once what the local rate cannot finish in time', () => {
    const p = planJob(input(spec({ count: 10, deadlineMin: 30 }), { local: [{ model: 'nvidia-h100', free: 2, allocatable: 2 }] }));
    expect(p.firstRound.counts).toEqual({ local: 2, remote: 4, wait: 4 });
    expect(p.meetsDeadline).toBe(true);
    expect(p.localOnly.meetsDeadline).toBe(false);
    expect(p.localOnly.expectedFinish).toBe(T0 + 50 * MIN);
  });

  test('busy local GPUs count after one expected duration', () => {
    const p = planJob(input(spec({ count: 8, policy: 'LocalOnly' }), { local: [{ model: 'nvidia-h100', free: 0, allocatable: 4 }] }));
    expect(p.expectedFinish).toBe(T0 + 30 * MIN);
  });

  test('parallelism caps shards running anywhere', () => {
    const p = planJob(input(spec({ count: 8, policy: 'ProviderOnly', parallelism: 2 })));
    expect(p.expectedFinish).toBe(T0 + 40 * MIN);
  });

  test('10,000 shards over 20 offers plans quickly', () => {
    const offers = Array.from({ length: 20 }, (_, i) => offer(`p${i}`, `${1 + i / 10}`, 50));
    const t = performance.now();
    const p = planJob(input(spec({ count: 10_000, budget: '300.00' }), { offers, providers: offers.map((o) => provider(o.provider, { maxConcurrentShards: 40 })) }));
    expect(performance.now() - t).toBeLessThan(5000);
    expect(p.local + p.remote.reduce((a, r) => a + r.shards, 0)).toBe(10_000);
    expect(p.expectedRemoteCostMicros).toBeLessThanOrEqual(usd('300.00'));
  });
});

describe('planParamsFromSpec', () => {
  test('parses money exactly, durations and the deadline', () => {
    const s = spec({ budget: '500.00', deadlineMin: 90, gpus: 2 });
    s.placement = { policy: 'Burst', burstAfter: '1h30m', providers: ['akash'], maxPricePerGpuHour: '2.50' };
    s.gpu = { models: ['nvidia-h100'] };
    expect(planParamsFromSpec(s)).toEqual({
      policy: 'Burst', burstAfterMs: 90 * MIN, allowedProviders: ['akash'], gpuModels: ['nvidia-h100'], gpusPerShard: 2,
      maxPricePerGpuHourMicros: 2_500_000n, budgetMicros: 500_000_000n, deadline: T0 + 90 * MIN,
    });
  });

  test('defaults: LocalOnly, burstAfter 60s, no caps', () => {
    const s = spec();
    delete s.placement;
    expect(planParamsFromSpec(s)).toEqual({ policy: 'LocalOnly', burstAfterMs: 60_000, gpusPerShard: 1 });
  });

  test('a bad value names its field', () => {
    const s = spec();
    s.placement = { burstAfter: 'soon' };
    expect(() => planParamsFromSpec(s)).toThrow(/placement.burstAfter/);
    const t = spec({ budget: '1.2345678' });
    expect(() => planParamsFromSpec(t)).toThrow(/budget.maxCost/);
  });
});

test('planRound: one round from the spec, the committed remote cost taken off the budget', () => {
  const s = spec({ budget: '1.00' });
  const base = { now: T0, namespace: 'studio', spec: s, local: [], offers: [offer('akash', '1.00')], providers: [provider('akash')], expectedShardMs: 10 * MIN, pending: [{ index: 0, waitedMs: 2 * MIN }, { index: 1, waitedMs: 2 * MIN }] };
  expect(planRound(base).counts.remote).toBe(2);
  expect(planRound({ ...base, committedRemoteMicros: usd('0.80') }).counts.remote).toBe(1);
  expect(planRound({ ...base, committedRemoteMicros: usd('5.00') }).reason.reason).toBe('BudgetExhausted');
});
