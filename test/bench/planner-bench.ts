// Planner benchmark (a script, not a test): `node test/bench/planner-bench.ts [runs] [cases]`.
// Prints (1) the time of one planning round (planShards) for 10,000 pending shards over 20 offers,
// the median of several runs after a warm-up, plus planJob for the same job; and (2) the planner's
// expected cost over the brute-force optimum, on random small cases (<= 6 shards, <= 3 providers),
// for the same set of burst shards, and how often it bursts as many shards as any feasible assignment.
// Node runs this file directly (type stripping); the resolve hook maps the `.js` specifiers the
// TypeScript sources use to their `.ts` files, so no build step is needed.
import { registerHooks } from 'node:module';
import type { PlanInput } from '../../operator/src/planner/index.js';

registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (err) {
      if (specifier.startsWith('.') && specifier.endsWith('.js')) return nextResolve(`${specifier.slice(0, -3)}.ts`, context);
      throw err;
    }
  },
});

const { planShards, planJob } = await import('../../operator/src/planner/index.js');
const { bruteForce, makePlanInput, MIN, prng, randomCase, T0 } = await import('../../operator/src/planner/testing.js');

const runs = Number(process.argv[2] ?? 21);
const cases = Number(process.argv[3] ?? 2000);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function bigInput(): PlanInput {
  const rand = prng(7);
  const b = makePlanInput().local('nvidia-h100', 64, 256).local('nvidia-a100-80gb', 16, 64).budget('2500.00').maxPrice('3.50');
  for (let i = 0; i < 10_000; i++) b.shard({ index: i, waitedMs: Math.floor(rand() * 10 * MIN) });
  for (let p = 0; p < 20; p++) {
    const model = p % 3 === 0 ? 'nvidia-a100-80gb' : 'nvidia-h100';
    b.offer(`p${p}`, ((100 + Math.floor(rand() * 300)) / 100).toFixed(2), 50 + Math.floor(rand() * 400), model);
    b.provider(`p${p}`, { maxConcurrentShards: 100 + Math.floor(rand() * 400), inFlight: Math.floor(rand() * 50), reliability: Math.round(rand() * 100) / 100 });
  }
  return b.obj();
}

// (1) speed
const input = bigInput();
for (let i = 0; i < 5; i++) planShards(input); // warm-up
const times: number[] = [];
let last;
for (let i = 0; i < runs; i++) {
  const t = performance.now();
  last = planShards(input);
  times.push(performance.now() - t);
}
console.log(`planShards: 10,000 shards x 20 offers: median ${median(times).toFixed(2)} ms over ${runs} runs (min ${Math.min(...times).toFixed(2)}, max ${Math.max(...times).toFixed(2)}); placed local ${last!.counts.local}, remote ${last!.counts.remote}, wait ${last!.counts.wait} (${last!.reason.reason})`);

const spec = {
  template: { image: 'img', resources: { limits: { 'nvidia.com/gpu': 1 } } },
  shards: { count: 10_000 }, placement: { policy: 'Burst' as const, burstAfter: '60s' }, budget: { maxCost: '2500.00' },
};
const jobTimes: number[] = [];
let jobPlan;
for (let i = 0; i < Math.max(3, Math.floor(runs / 4)); i++) {
  const t = performance.now();
  jobPlan = planJob({ now: T0, namespace: 'studio', spec, local: input.local, offers: input.offers, providers: input.providers, expectedShardMs: 10 * MIN });
  jobTimes.push(performance.now() - t);
}
console.log(`planJob:    10,000 shards x 20 offers (whole job, simulated): median ${median(jobTimes).toFixed(1)} ms over ${jobTimes.length} runs; local ${jobPlan!.local}, remote ${jobPlan!.remote.reduce((a, r) => a + r.shards, 0)}, finish +${((jobPlan!.expectedFinish! - T0) / MIN).toFixed(1)} min vs LocalOnly +${((jobPlan!.localOnly.expectedFinish! - T0) / MIN).toFixed(1)} min`);

// (2) optimality
let compared = 0;
let worst = 1;
let sumRatio = 0;
let maximal = 0;
let assignments = 0;
for (let seed = 1; seed <= cases; seed++) {
  const c = randomCase(prng(1_000_000 + seed));
  const plan = planShards(c);
  const burst = new Set(plan.shards.filter((s) => s.placement === 'Remote').map((s) => s.index));
  const bf = bruteForce(c, burst, plan.burstWanted);
  assignments += bf.assignments;
  if (plan.counts.remote === bf.maxRemote) maximal++;
  if (burst.size === 0 || bf.minCostForSet === undefined || bf.minCostForSet === 0n) continue;
  const ratio = Number(plan.expectedCostMicros) / Number(bf.minCostForSet);
  compared++;
  sumRatio += ratio;
  worst = Math.max(worst, ratio);
}
console.log(`brute force: ${cases} random cases (<= 6 shards, <= 3 providers, ${assignments.toLocaleString('en-US')} assignments enumerated): cost ratio planner/optimum over ${compared} bursting cases: mean ${(sumRatio / Math.max(1, compared)).toFixed(6)}, worst ${worst.toFixed(6)}; bursts as many shards as the best feasible assignment in ${maximal}/${cases}`);
