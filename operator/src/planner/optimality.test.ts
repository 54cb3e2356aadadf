// The planner against brute force on random small cases (<= 6 shards, <= 3 providers with <= 4
// offers of two GPU models with their own expected shard durations, random prices, caps, budgets,
// limits): for the set of shards the planner bursts, no
// feasible assignment of that set is cheaper; and no feasible assignment bursts more of the shards
// the planner wanted to burst. Seeds are fixed, so a failure names a replayable case.
import { planShards } from './place.js';
import { bruteForce, prng, randomCase } from './testing.js';

const CASES = 400;

test(`cheapest-first spillover is optimal on ${CASES} random small cases`, () => {
  let compared = 0;
  let short = 0;
  let priceOrderBeaten = 0;
  for (let seed = 1; seed <= CASES; seed++) {
    const input = randomCase(prng(seed));
    const plan = planShards(input);
    const burst = new Set(plan.shards.filter((s) => s.placement === 'Remote').map((s) => s.index));
    const bf = bruteForce(input, burst, plan.burstWanted);
    const ctx = `seed ${seed}: ${plan.reason.reason} ${plan.reason.message}`;
    // the planner's own assignment is feasible, so brute force finds at least one for the same set
    expect({ ctx, feasible: bf.minCostForSet !== undefined }).toEqual({ ctx, feasible: true });
    expect({ ctx, cost: plan.expectedCostMicros }).toEqual({ ctx, cost: bf.minCostForSet });
    expect({ ctx, remote: plan.counts.remote }).toEqual({ ctx, remote: bf.maxRemote });
    if (burst.size > 0) compared++;
    if (plan.counts.remote < plan.burstWanted) short++;
    // the first shard placed on an offer dearer per hour than the case's cheapest offer
    const placed = plan.shards.filter((s) => s.placement === 'Remote').map((s) => s.offer!.pricePerGpuHourMicros);
    const cheapestHour = input.offers.reduce((m, o) => (o.pricePerGpuHourMicros < m ? o.pricePerGpuHourMicros : m), 1n << 60n);
    if (placed.length && placed[0]! > cheapestHour) priceOrderBeaten++;
  }
  // the generator must exercise both sides: cases that burst, and cases limited by caps or budget
  expect(compared).toBeGreaterThan(CASES / 4);
  expect(short).toBeGreaterThan(CASES / 10);
  // and cases where per-model durations make a dearer hour the cheaper shard
  expect(priceOrderBeaten).toBeGreaterThan(CASES / 20);
});
