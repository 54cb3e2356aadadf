// Builders for planner snapshots, in the manner of Kueue's MakeWorkload(...).Obj(): tests (ours and
// the RenderJob controller's) state only what a case is about and take defaults for the rest. Kept
// in erasable TypeScript so the benchmark script can load it without a build.
import { costOfGpuMillis, parseMicros } from '../money.js';
import type { LocalCapacity, OfferView, PendingShard, PlanInput, ProviderView } from './types.js';

export const T0 = Date.parse('2026-11-24T12:00:00Z');
export const MIN = 60_000;

/** `usd('2.50')` -> 2_500_000n micro-USD, for readable tables. */
export const usd = (s: string): bigint => parseMicros(s);

export class PlanInputBuilder {
  private i: PlanInput = {
    now: T0, namespace: 'studio', policy: 'Burst', burstAfterMs: MIN, pending: [], local: [], offers: [], providers: [],
    gpusPerShard: 1, expectedShardMs: 10 * MIN,
  };

  policy(p: PlanInput['policy']): this { this.i.policy = p; return this; }
  namespace(ns: string): this { this.i.namespace = ns; return this; }
  burstAfter(ms: number): this { this.i.burstAfterMs = ms; return this; }
  /** `count` shards without pods that have waited `waitedMs`, indices from `from`. */
  shards(count: number, waitedMs = 0, from = this.i.pending.length): this {
    for (let k = 0; k < count; k++) this.i.pending.push({ index: from + k, waitedMs });
    return this;
  }
  shard(s: PendingShard): this { this.i.pending.push(s); return this; }
  local(model: string, free: number, allocatable = free): this { this.i.local.push({ model, free, allocatable }); return this; }
  offer(provider: string, price: string, available?: number, gpuModel = 'nvidia-h100', offerId = `${provider}-${gpuModel}`): this {
    const o: OfferView = { provider, offerId, gpuModel, pricePerGpuHourMicros: usd(price) };
    if (available !== undefined) o.available = available;
    this.i.offers.push(o);
    if (!this.i.providers.some((p) => p.name === provider)) this.provider(provider);
    return this;
  }
  provider(name: string, p: Partial<Omit<ProviderView, 'name'>> = {}): this {
    const existing = this.i.providers.findIndex((x) => x.name === name);
    const v: ProviderView = { name, inFlight: 0, reliability: 1, paused: false, ...(existing >= 0 ? this.i.providers[existing] : {}), ...p };
    if (existing >= 0) this.i.providers[existing] = v;
    else this.i.providers.push(v);
    return this;
  }
  allowProviders(...names: string[]): this { this.i.allowedProviders = names; return this; }
  models(...models: string[]): this { this.i.gpuModels = models; return this; }
  gpus(n: number): this { this.i.gpusPerShard = n; return this; }
  maxPrice(p: string): this { this.i.maxPricePerGpuHourMicros = usd(p); return this; }
  budget(b: string): this { this.i.budgetRemainingMicros = usd(b); return this; }
  deadlineIn(ms: number): this { this.i.deadline = this.i.now + ms; return this; }
  duration(ms: number): this { this.i.expectedShardMs = ms; return this; }
  /** Expected shard time on one GPU model (offers of other models take `duration`). */
  modelDuration(model: string, ms: number): this { this.i.expectedShardMsByModel = { ...this.i.expectedShardMsByModel, [model]: ms }; return this; }
  runningLocal(n: number): this { this.i.runningLocal = n; return this; }
  runningRemote(n: number): this { this.i.runningRemote = n; return this; }
  maxStarts(n: number): this { this.i.maxStarts = n; return this; }
  obj(): PlanInput {
    return { ...this.i, pending: [...this.i.pending], local: [...this.i.local], offers: [...this.i.offers], providers: this.i.providers.map((p) => ({ ...p })) };
  }
}

export const makePlanInput = () => new PlanInputBuilder();

export type { LocalCapacity };

// ---------------------------------------------------------------------------------------------
// Random small cases and a brute-force optimum, shared by optimality.test.ts and the benchmark.

/** Deterministic PRNG (mulberry32), so a failing case can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random snapshot with <= maxShards shards, <= 3 providers and <= maxOffers offers (prices, caps, budget, limits all random). */
export function randomCase(rand: () => number, maxShards = 6, maxOffers = 4): PlanInput {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const cents = (lo: number, hi: number) => `${Math.floor(lo + rand() * (hi - lo))}.${String(Math.floor(rand() * 100)).padStart(2, '0')}`;
  const b = makePlanInput()
    .policy(rand() < 0.8 ? 'Burst' : 'ProviderOnly')
    .gpus(rand() < 0.7 ? 1 : 2)
    .duration(pick([5, 10, 37, 60]) * MIN);
  const n = 1 + Math.floor(rand() * maxShards);
  for (let i = 0; i < n; i++) b.shard({ index: i, waitedMs: rand() < 0.7 ? 2 * MIN : 10_000 });
  b.local('nvidia-h100', Math.floor(rand() * 3), 4);
  const providers = 1 + Math.floor(rand() * 3);
  let offers = 0;
  for (let p = 0; p < providers && offers < maxOffers; p++) {
    const name = `p${p}`;
    const k = Math.min(maxOffers - offers, rand() < 0.6 ? 1 : 2);
    for (let j = 0; j < k; j++) {
      b.offer(name, cents(0, 4), rand() < 0.3 ? undefined : Math.floor(rand() * 6), j === 0 ? 'nvidia-h100' : 'nvidia-a100-80gb', `${name}-o${j}`);
      offers++;
    }
    const extra: Partial<ProviderView> = { reliability: Math.round(rand() * 10) / 10, inFlight: Math.floor(rand() * 2) };
    if (rand() < 0.5) extra.maxConcurrentShards = 1 + Math.floor(rand() * 3);
    if (rand() < 0.2) extra.maxPricePerGpuHourMicros = parseMicros(cents(1, 4));
    if (rand() < 0.1) extra.paused = true;
    b.provider(name, extra);
  }
  if (rand() < 0.4) b.maxPrice(cents(1, 4));
  if (rand() < 0.6) b.budget(cents(0, 12));
  if (rand() < 0.2) b.models('nvidia-h100');
  // per-model durations: the second model is often slower (a cheaper hour may cost more per shard)
  if (rand() < 0.7) b.modelDuration('nvidia-a100-80gb', pick([3, 10, 20, 45, 90]) * MIN);
  if (rand() < 0.3) b.modelDuration('nvidia-h100', pick([4, 12, 30]) * MIN);
  return b.obj();
}

export interface BruteForceResult {
  /** Cheapest feasible assignment of exactly the shards in `burst` to offers; undefined if none is feasible. */
  minCostForSet?: bigint;
  /** Most shards (at most `cap`) that any feasible assignment places at providers. */
  maxRemote: number;
  assignments: number;
}

/**
 * Enumerates every assignment of the shards to {local (run or wait here)} ∪ offers and checks each
 * against the rules written out independently of the planner: provider exists, not paused, on the
 * job's allow-list, allows the namespace, GPU model allowed, price within both caps, offer free GPUs,
 * provider concurrency, and total expected cost (price × GPUs × the expected time on the offer's
 * model) within the budget.
 */
export function bruteForce(input: PlanInput, burst: ReadonlySet<number>, cap: number): BruteForceResult {
  const g = Math.max(1, input.gpusPerShard);
  const provs = new Map(input.providers.map((p) => [p.name, p]));
  const ok = input.offers.filter((o) => {
    const p = provs.get(o.provider);
    if (!p || p.paused) return false;
    if (input.allowedProviders?.length && !input.allowedProviders.includes(p.name)) return false;
    if (p.allowedNamespaces?.length && !p.allowedNamespaces.includes(input.namespace)) return false;
    if (input.gpuModels?.length && !input.gpuModels.includes(o.gpuModel)) return false;
    if (p.gpuModels?.length && !p.gpuModels.includes(o.gpuModel)) return false;
    if (input.maxPricePerGpuHourMicros !== undefined && o.pricePerGpuHourMicros > input.maxPricePerGpuHourMicros) return false;
    if (p.maxPricePerGpuHourMicros !== undefined && o.pricePerGpuHourMicros > p.maxPricePerGpuHourMicros) return false;
    return true;
  });
  const all = input.offers;
  const n = input.pending.length;
  const k = all.length;
  const eligible = all.map((o) => ok.includes(o));
  const msOf = (model: string) => Math.round(input.expectedShardMsByModel?.[model] ?? input.expectedShardMs);
  const offerCost = all.map((o) => costOfGpuMillis(BigInt(g) * BigInt(msOf(o.gpuModel)), o.pricePerGpuHourMicros));
  const provNames = [...provs.keys()];
  const provOf = all.map((o) => provNames.indexOf(o.provider));
  const provRoom = provNames.map((name) => {
    const p = provs.get(name)!;
    return p.maxConcurrentShards === undefined ? Infinity : p.maxConcurrentShards - p.inFlight;
  });
  const offerRoom = all.map((o) => (o.available === undefined ? Infinity : Math.floor(o.available / g)));
  const inBurst = input.pending.map((s) => burst.has(s.index));
  const choice = new Int32Array(n); // 0 = local; j+1 = offer j
  const perOffer = new Int32Array(k);
  const perProv = new Int32Array(provNames.length);
  let minCostForSet: bigint | undefined;
  let maxRemote = 0;
  let assignments = 0;
  for (;;) {
    assignments++;
    perOffer.fill(0);
    perProv.fill(0);
    let feasible = true;
    let total = 0n;
    let remote = 0;
    let sameSet = true;
    for (let i = 0; i < n; i++) {
      const c = choice[i]!;
      if ((c > 0) !== inBurst[i]) sameSet = false;
      if (c === 0) continue;
      const j = c - 1;
      if (!eligible[j] || ++perOffer[j]! > offerRoom[j]! || ++perProv[provOf[j]!]! > provRoom[provOf[j]!]!) { feasible = false; break; }
      total += offerCost[j]!;
      remote++;
    }
    if (feasible && input.budgetRemainingMicros !== undefined && total > input.budgetRemainingMicros) feasible = false;
    if (feasible) {
      if (remote <= cap && remote > maxRemote) maxRemote = remote;
      if (sameSet && (minCostForSet === undefined || total < minCostForSet)) minCostForSet = total;
    }
    let i = 0;
    while (i < n && ++choice[i]! > k) choice[i++] = 0;
    if (i === n) break;
  }
  return { ...(minCostForSet !== undefined ? { minCostForSet } : {}), maxRemote, assignments };
}
