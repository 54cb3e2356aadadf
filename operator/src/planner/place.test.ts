// Table-driven tests of one planning round (planShards): each row builds a snapshot with the
// builders in testing.ts and states the placement of every shard (L/R/W in pending order), where
// the remote ones went, and the reason the Bursting condition would show.
import { planShards } from './place.js';
import { makePlanInput, MIN, T0, usd, type PlanInputBuilder } from './testing.js';
import { BurstReason, type Plan } from './types.js';

const letters = (p: Plan) => p.shards.map((s) => s.placement[0]).join('');
const where = (p: Plan) => p.shards.filter((s) => s.placement === 'Remote').map((s) => s.provider).join(',');

interface Row {
  name: string;
  input: PlanInputBuilder;
  placements: string;
  remote?: string;
  reason: string;
  status?: 'True' | 'False';
  costMicros?: bigint;
}

const late = 2 * MIN; // longer than the default burstAfter of 1 min

const rows: Row[] = [
  {
    name: 'LocalOnly never bursts, however long shards wait',
    input: makePlanInput().policy('LocalOnly').local('nvidia-h100', 1).shards(3, 60 * MIN).offer('akash', '0.10'),
    placements: 'LWW', reason: BurstReason.LocalOnly, status: 'False',
  },
  {
    name: 'Burst: free local GPUs first; the rest wait until burstAfter',
    input: makePlanInput().local('nvidia-h100', 2, 8).shards(4, 30_000).offer('akash', '1.00'),
    placements: 'LLWW', reason: BurstReason.WaitingForLocal, status: 'False',
  },
  {
    name: 'Burst: waiting exactly burstAfter is not longer than it',
    input: makePlanInput().local('nvidia-h100', 0, 8).shards(1, MIN).offer('akash', '1.00'),
    placements: 'W', reason: BurstReason.WaitingForLocal,
  },
  {
    name: 'Burst: shards that waited out burstAfter with no local GPU burst to the cheapest offer',
    input: makePlanInput().local('nvidia-h100', 1, 8).shards(3, late).offer('render', '2.00').offer('akash', '1.50'),
    placements: 'LRR', remote: 'akash,akash', reason: BurstReason.Bursting, status: 'True',
  },
  {
    name: 'Burst: nothing bursts while local GPUs are free',
    input: makePlanInput().local('nvidia-h100', 4).shards(3, late).offer('akash', '0.50'),
    placements: 'LLL', reason: BurstReason.NotNeeded, status: 'False',
  },
  {
    name: 'ProviderOnly never runs locally, even with free GPUs and no wait',
    input: makePlanInput().policy('ProviderOnly').local('nvidia-h100', 8).shards(2, 0).offer('akash', '1.00'),
    placements: 'RR', remote: 'akash,akash', reason: BurstReason.Bursting, status: 'True',
  },
  {
    name: 'ordered spillover: cheapest filled to its free GPUs, then the next',
    input: makePlanInput().shards(5, late).offer('a', '2.00', 2).offer('b', '1.00', 1).offer('c', '3.00', 10),
    placements: 'RRRRR', remote: 'b,a,a,c,c', reason: BurstReason.Bursting,
  },
  {
    name: 'equal prices: the more reliable provider first',
    input: makePlanInput().shards(2, late).offer('a', '1.00', 1).offer('b', '1.00', 5).provider('a', { reliability: 0.5 }).provider('b', { reliability: 0.9 }),
    placements: 'RR', remote: 'b,b', reason: BurstReason.Bursting,
  },
  {
    name: 'provider concurrency: maxConcurrentShards minus in flight',
    input: makePlanInput().shards(3, late).offer('a', '1.00').provider('a', { maxConcurrentShards: 3, inFlight: 2 }).offer('b', '2.00'),
    placements: 'RRR', remote: 'a,b,b', reason: BurstReason.Bursting,
  },
  {
    name: 'one provider, two models: its concurrency caps both offers together',
    input: makePlanInput().shards(3, late).offer('a', '1.00', 5, 'nvidia-h100').offer('a', '1.20', 5, 'nvidia-a100-80gb').provider('a', { maxConcurrentShards: 2 }).offer('b', '5.00'),
    placements: 'RRR', remote: 'a,a,b', reason: BurstReason.Bursting,
  },
  {
    name: 'job price cap: offers above placement.maxPricePerGpuHour are never chosen',
    input: makePlanInput().shards(2, late).maxPrice('1.50').offer('a', '1.50', 1).offer('b', '1.51'),
    placements: 'RW', remote: 'a', reason: BurstReason.ProvidersAtCapacity, status: 'True',
  },
  {
    name: 'every offer above a cap: PriceCapExceeded',
    input: makePlanInput().shards(2, late).maxPrice('1.00').offer('a', '2.71').offer('b', '1.71'),
    placements: 'WW', reason: BurstReason.PriceCapExceeded, status: 'False',
  },
  {
    name: 'provider price cap applies too',
    input: makePlanInput().shards(1, late).offer('a', '2.71').provider('a', { maxPricePerGpuHourMicros: usd('2.00') }),
    placements: 'W', reason: BurstReason.PriceCapExceeded,
  },
  {
    name: 'budget: bursts only what it can pay for (2.71/h x 10 min = 0.451667 each)',
    input: makePlanInput().shards(3, late).budget('1.00').offer('akash', '2.71'),
    placements: 'RRW', remote: 'akash,akash', reason: BurstReason.BudgetExhausted, status: 'True', costMicros: 903_334n,
  },
  {
    name: 'no budget left at all',
    input: makePlanInput().shards(1, late).budget('0').offer('akash', '0.01'),
    placements: 'W', reason: BurstReason.BudgetExhausted, status: 'False',
  },
  {
    name: 'budget exactly enough for one shard',
    input: makePlanInput().shards(2, late).budget('0.451667').offer('akash', '2.71'),
    placements: 'RW', reason: BurstReason.BudgetExhausted, costMicros: 451_667n,
  },
  {
    name: 'paused provider is skipped, and the reason names it',
    input: makePlanInput().shards(1, late).offer('akash', '1.00').provider('akash', { paused: true, pausedReason: 'CircuitOpen' }),
    placements: 'W', reason: BurstReason.NoEligibleOffer, status: 'False',
  },
  {
    name: 'placement.providers allow-list',
    input: makePlanInput().shards(2, late).offer('cheap', '0.10').offer('studio-b', '1.00').allowProviders('studio-b'),
    placements: 'RR', remote: 'studio-b,studio-b', reason: BurstReason.Bursting,
  },
  {
    name: "provider's allowedNamespaces",
    input: makePlanInput().namespace('other').shards(1, late).offer('a', '1.00').provider('a', { allowedNamespaces: ['studio'] }),
    placements: 'W', reason: BurstReason.NoEligibleOffer,
  },
  {
    name: 'allowed GPU models: an offer of another model is not eligible',
    input: makePlanInput().models('nvidia-h100').shards(2, late).offer('a', '0.50', 8, 'nvidia-a100-80gb').offer('b', '2.00', 8, 'nvidia-h100'),
    placements: 'RR', remote: 'b,b', reason: BurstReason.Bursting,
  },
  {
    name: 'local capacity of other models does not count for the job',
    input: makePlanInput().models('nvidia-h100').local('nvidia-rtx-4090', 4).shards(1, late).offer('b', '2.00'),
    placements: 'R', remote: 'b', reason: BurstReason.Bursting,
  },
  {
    name: 'multi-GPU shards: slots and offer room are whole shards',
    input: makePlanInput().gpus(2).local('nvidia-h100', 3, 8).shards(3, late).offer('a', '1.00', 3).offer('b', '2.00', 4),
    placements: 'LRR', remote: 'a,b', reason: BurstReason.Bursting,
  },
  {
    name: 'all offers used up: ProvidersAtCapacity',
    input: makePlanInput().shards(3, late).offer('a', '1.00', 1).offer('b', '1.00', 0),
    placements: 'RWW', reason: BurstReason.ProvidersAtCapacity,
  },
  {
    name: 'no providers at all',
    input: makePlanInput().policy('ProviderOnly').shards(1, 0),
    placements: 'W', reason: BurstReason.NoEligibleOffer,
  },
  {
    name: 'a pod Unschedulable for longer than burstAfter bursts even when GPUs look free',
    input: makePlanInput().local('nvidia-h100', 1).shard({ index: 0, waitedMs: 0, localPod: { state: 'Unschedulable', sinceMs: T0 - late } }).offer('a', '1.00'),
    placements: 'R', remote: 'a', reason: BurstReason.Bursting,
  },
  {
    name: 'a pod waiting to bind keeps its free GPU before a shard without a pod',
    input: makePlanInput().local('nvidia-h100', 1).shards(1, late).shard({ index: 1, waitedMs: 0, localPod: { state: 'Pending', sinceMs: T0 - 1000 } }).offer('a', '1.00'),
    placements: 'RL', remote: 'a', reason: BurstReason.Bursting,
  },
  {
    name: 'longest-waiting shards go first',
    input: makePlanInput().local('nvidia-h100', 1).shards(1, late).shards(1, 5 * MIN).offer('a', '1.00', 1),
    placements: 'RL', remote: 'a', reason: BurstReason.Bursting,
  },
  {
    name: 'deadline: the local rate cannot finish in time, so bursts start before burstAfter',
    // 2 local slots x 3 waves of 10 min before the deadline = 6 shards; 10 pending -> 4 burst now
    input: makePlanInput().local('nvidia-h100', 2, 2).shards(10, 0).deadlineIn(30 * MIN).offer('a', '1.00'),
    placements: 'LLRRRRWWWW', remote: 'a,a,a,a', reason: BurstReason.Bursting,
  },
  {
    name: 'deadline the local rate meets: nothing bursts early',
    input: makePlanInput().local('nvidia-h100', 2, 4).shards(10, 0).deadlineIn(30 * MIN).offer('a', '1.00'),
    placements: 'LLWWWWWWWW', reason: BurstReason.WaitingForLocal,
  },
  {
    name: 'parallelism room limits new starts, local first',
    input: makePlanInput().local('nvidia-h100', 1).shards(3, late).offer('a', '1.00').maxStarts(2),
    placements: 'LRW', remote: 'a', reason: BurstReason.ParallelismLimit, status: 'True',
  },
  {
    name: 'parallelism room used up with local GPUs free',
    input: makePlanInput().local('nvidia-h100', 4).shards(2, 0).maxStarts(0),
    placements: 'WW', reason: BurstReason.ParallelismLimit, status: 'False',
  },
  {
    name: 'shards already at providers keep Bursting True with nothing new to place',
    input: makePlanInput().local('nvidia-h100', 2).shards(1, 0).runningRemote(3),
    placements: 'L', reason: BurstReason.Bursting, status: 'True',
  },
];

describe('planShards', () => {
  test.each(rows)('$name', (row) => {
    const plan = planShards(row.input.obj());
    expect(letters(plan)).toBe(row.placements);
    if (row.remote !== undefined) expect(where(plan)).toBe(row.remote);
    expect(plan.reason.reason).toBe(row.reason);
    if (row.status) expect(plan.reason.status).toBe(row.status);
    if (row.costMicros !== undefined) expect(plan.expectedCostMicros).toBe(row.costMicros);
    expect(plan.counts.local + plan.counts.remote + plan.counts.wait).toBe(plan.shards.length);
    expect(plan.reason.message.length).toBeGreaterThan(0);
    expect(plan.reason.message.length).toBeLessThanOrEqual(900);
  });

  test('expected cost is price x GPUs x expected duration, exact, summed per provider', () => {
    const plan = planShards(makePlanInput().gpus(4).duration(90 * MIN).shards(3, late).offer('akash', '2.71', 8).offer('b', '3.333333').obj());
    // akash: 2.71 x 4 x 1.5 h = 16.26 (two shards, 8 GPUs); b: 3.333333 x 4 x 1.5 = 19.999998
    expect(plan.byProvider).toEqual([
      { provider: 'akash', shards: 2, costMicros: 32_520_000n },
      { provider: 'b', shards: 1, costMicros: 19_999_998n },
    ]);
    expect(plan.expectedCostMicros).toBe(52_519_998n);
    expect(plan.shards[0]!.expectedCostMicros).toBe(16_260_000n);
  });

  test('the reason names why each provider was left out', () => {
    const plan = planShards(makePlanInput().shards(1, late).offer('akash', '1.00').provider('akash', { paused: true, pausedReason: 'CircuitOpen' })
      .offer('render', '1.00').allowProviders('akash', 'studio-b').obj());
    expect(plan.reason.message).toContain('akash paused (CircuitOpen)');
    expect(plan.reason.message).toContain('render not in placement.providers');
    expect(plan.reason.message).toContain('studio-b no such ComputeProvider');
  });

  test('a Remote shard that had a local pod is marked for the pod to go first', () => {
    const plan = planShards(makePlanInput().shard({ index: 7, waitedMs: 0, localPod: { state: 'Unschedulable', sinceMs: T0 - late } }).offer('a', '1.00').obj());
    expect(plan.shards[0]).toMatchObject({ index: 7, placement: 'Remote', replacesLocalPod: true, provider: 'a', offer: { offerId: 'a-nvidia-h100' } });
  });

  test('expected finish: remote shards take one duration, local ones drain at the local rate', () => {
    const p = planShards(makePlanInput().local('nvidia-h100', 1, 2).shards(5, 0).obj());
    // 5 shards over 2 slots: 3 waves of 10 min
    expect(p.expectedFinish).toBe(T0 + 30 * MIN);
    const q = planShards(makePlanInput().policy('ProviderOnly').shards(2, 0).offer('a', '1.00').obj());
    expect(q.expectedFinish).toBe(T0 + 10 * MIN);
    const never = planShards(makePlanInput().policy('ProviderOnly').shards(2, 0).obj());
    expect(never.expectedFinish).toBeUndefined();
    const withDeadline = planShards(makePlanInput().local('nvidia-h100', 1, 1).shards(3, 0).deadlineIn(20 * MIN).obj());
    expect(withDeadline.meetsDeadline).toBe(false);
  });

  test('pure: the same snapshot gives the same plan, and the input is not modified', () => {
    const input = makePlanInput().local('nvidia-h100', 1).shards(20, late).offer('a', '1.00', 5).offer('b', '1.10', 5).budget('3.00').obj();
    const copy = structuredClone(input);
    const a = planShards(input);
    const b = planShards(input);
    expect(a).toEqual(b);
    expect(input).toEqual(copy);
  });
});
