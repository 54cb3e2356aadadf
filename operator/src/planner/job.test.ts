// planJob: whole-job plans for `atelier plan`, replaying the per-round planner over simulated time;
// and the spec parsing the controller shares with it.
import type { RenderJobSpec } from '../api/index.js';
import { GPUS } from '../gpus/index.js';
import { planJob, planParamsFromSpec, planRound, type JobPlanInput, type JobRoundInput } from './job.js';
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
      policy: 'Burst', burstAfterMs: 90 * MIN, allowedProviders: ['akash'], gpuModels: ['nvidia-h100'], priorShardMs: {}, gpusPerShard: 2,
      maxPricePerGpuHourMicros: 2_500_000n, budgetMicros: 500_000_000n, deadline: T0 + 90 * MIN,
    });
  });

  test('defaults: LocalOnly, burstAfter 60s, no caps', () => {
    const s = spec();
    delete s.placement;
    expect(planParamsFromSpec(s)).toEqual({ policy: 'LocalOnly', burstAfterMs: 60_000, gpusPerShard: 1, priorShardMs: {} });
  });

  test('a bad value names its field', () => {
    const s = spec();
    s.placement = { burstAfter: 'soon' };
    expect(() => planParamsFromSpec(s)).toThrow(/placement.burstAfter/);
    const t = spec({ budget: '1.2345678' });
    expect(() => planParamsFromSpec(t)).toThrow(/budget.maxCost/);
  });

  test('gpu: minMemory selects catalog models, node label values canonicalise, unknown names list the known ones', () => {
    const s = spec();
    s.gpu = { models: ['nvidia-rtx-4090', 'NVIDIA-H100-80GB-HBM3', 'nvidia-l40s'], minMemory: '48Gi', expectedShardSeconds: { 'NVIDIA-H100-80GB-HBM3': 300 } };
    expect(planParamsFromSpec(s)).toMatchObject({ gpuModels: ['nvidia-h100', 'nvidia-l40s'], priorShardMs: { 'nvidia-h100': 300_000 } });
    s.gpu = { minMemory: '100Gi' };
    expect(planParamsFromSpec(s).gpuModels).toEqual(['nvidia-b200', 'nvidia-h200']);
    s.gpu = { models: ['nvidia-rtx-4090'], minMemory: '48Gi' };
    expect(() => planParamsFromSpec(s)).toThrow(/gpu.minMemory: no GPU model in gpu.models has 48Gi/);
    s.gpu = { models: ['nvidia-x'] };
    expect(() => planParamsFromSpec(s)).toThrow(/gpu.models: unknown GPU model\(s\) nvidia-x; known: nvidia-b200, .*nvidia-h100/);
  });
});

describe('mixed GPUs: cost per shard', () => {
  // Vast's RTX 4090 is cheaper per hour (0.40 vs 2.00 USD) but the job's shards take 30 min there
  // and 5 min on an H100: 0.20 USD per shard on the 4090, 0.1667 on the H100.
  const mixed = (s: RenderJobSpec, extra: Partial<JobRoundInput> = {}): JobRoundInput => ({
    now: T0, namespace: 'studio', spec: s, local: [], providers: [provider('vast'), provider('akash')],
    offers: [
      { provider: 'vast', offerId: 'vast-4090', gpuModel: 'nvidia-rtx-4090', pricePerGpuHourMicros: usd('0.40'), available: 8 },
      { provider: 'akash', offerId: 'akash-h100', gpuModel: 'nvidia-h100', pricePerGpuHourMicros: usd('2.00'), available: 2 },
    ],
    pending: [0, 1, 2, 3].map((index) => ({ index, waitedMs: 2 * MIN })),
    ...extra,
  });

  test('learned from finished shards: the slower, cheaper-per-hour GPU loses to the lower cost per shard', () => {
    const plan = planRound(mixed(spec({ policy: 'ProviderOnly', deadlineMin: 60 }), { finishedByModel: { 'nvidia-rtx-4090': [30 * MIN, 29 * MIN, 31 * MIN], 'nvidia-h100': [5 * MIN] } }));
    const remote = plan.shards.filter((x) => x.placement === 'Remote');
    // the H100 offer has 2 GPUs: two shards go there, the rest spill to the 4090
    expect(remote.map((x) => x.offer!.offerId)).toEqual(['akash-h100', 'akash-h100', 'vast-4090', 'vast-4090']);
    expect(remote[0]!.expectedCostMicros).toBe(usd('0.166667'));
    expect(remote[0]!.expectedShardMs).toBe(5 * MIN);
    expect(remote[2]!.expectedCostMicros).toBe(usd('0.20'));
    expect(plan.expectedCostMicros).toBe(usd('0.733334'));
    expect(plan.meetsDeadline).toBe(true);
    expect(plan.expectedFinish).toBe(T0 + 30 * MIN);
  });

  test('a deadline the slow GPU cannot meet: offers that finish in time come first', () => {
    // 4090 shards are cheaper per shard here (0.20 vs 0.33) but take 30 min; the deadline is in 20
    const s = spec({ policy: 'ProviderOnly', deadlineMin: 20 });
    const plan = planRound(mixed(s, { finishedByModel: { 'nvidia-rtx-4090': [30 * MIN], 'nvidia-h100': [10 * MIN] } }));
    const remote = plan.shards.filter((x) => x.placement === 'Remote').map((x) => x.offer!.offerId);
    expect(remote.slice(0, 2)).toEqual(['akash-h100', 'akash-h100']);
    const loose = planRound(mixed(spec({ policy: 'ProviderOnly' }), { finishedByModel: { 'nvidia-rtx-4090': [30 * MIN], 'nvidia-h100': [10 * MIN] } }));
    expect(loose.shards.filter((x) => x.placement === 'Remote').slice(0, 2).map((x) => x.offer!.offerId)).toEqual(['vast-4090', 'vast-4090']);
  });

  test('before any data: the spec prior, then the catalog relative speeds scale it', () => {
    const s = spec({ policy: 'ProviderOnly' });
    s.gpu = { expectedShardSeconds: { 'nvidia-h100': 300 } };
    const plan = planRound(mixed(s));
    const first = plan.shards.find((x) => x.placement === 'Remote')!;
    expect(first.offer!.offerId).toBe('akash-h100');
    expect(first.expectedShardMs).toBe(5 * MIN);
    const slow = plan.shards.find((x) => x.offer?.offerId === 'vast-4090')!;
    const speed = GPUS.find((g) => g.name === 'nvidia-rtx-4090')!.relativeSpeed;
    expect(slow.expectedShardMs).toBe(Math.round((5 * MIN) / speed));
    // without prior or data, every model takes the job-wide figure: the cheaper hour wins
    const flat = planRound(mixed(spec({ policy: 'ProviderOnly' }), { expectedShardMs: 10 * MIN }));
    expect(flat.shards.find((x) => x.placement === 'Remote')!.offer!.offerId).toBe('vast-4090');
  });

  test('planJob lists every offer with seconds and cost per shard and shards by the deadline, and meets the deadline', () => {
    const s = spec({ policy: 'ProviderOnly', count: 12, deadlineMin: 60 });
    s.gpu = { expectedShardSeconds: { 'nvidia-h100': 300, 'nvidia-rtx-4090': 1800 } };
    const plan = planJob({ now: T0, namespace: 'studio', spec: s, local: [], providers: mixed(s).providers, offers: mixed(s).offers, expectedShardMs: 10 * MIN });
    expect(plan.offers.map((o) => [o.offerId, o.expectedShardMs, o.costPerShardMicros, o.shardsByDeadline])).toEqual([
      ['akash-h100', 5 * MIN, usd('0.166667'), 2 * 12],
      ['vast-4090', 30 * MIN, usd('0.20'), 8 * 2],
    ]);
    expect(plan.meetsDeadline).toBe(true);
    expect(plan.unplaced).toBe(0);
    // all 12 go remote; the H100s take as many as they can in waves of 5 minutes before the 4090s are needed
    expect(plan.remote.find((r) => r.provider === 'akash')!.shards).toBeGreaterThanOrEqual(2);
  });
});

test('planRound: one round from the spec, the committed remote cost taken off the budget', () => {
  const s = spec({ budget: '1.00' });
  const base = { now: T0, namespace: 'studio', spec: s, local: [], offers: [offer('akash', '1.00')], providers: [provider('akash')], expectedShardMs: 10 * MIN, pending: [{ index: 0, waitedMs: 2 * MIN }, { index: 1, waitedMs: 2 * MIN }] };
  expect(planRound(base).counts.remote).toBe(2);
  expect(planRound({ ...base, committedRemoteMicros: usd('0.80') }).counts.remote).toBe(1);
  expect(planRound({ ...base, committedRemoteMicros: usd('5.00') }).reason.reason).toBe('BudgetExhausted');
});
