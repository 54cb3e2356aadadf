// One planning round for one job: which pending shards start on local GPUs, which burst to which
// provider offer, and which keep waiting — a pure function of a snapshot (PlanInput), written as
// numbered steps in the manner of Kueue's scheduler. The RenderJob controller calls it on every
// reconcile; `atelier plan` calls it repeatedly through planJob (job.ts).
//
// Rules (DESIGN.md "Flow", step 4):
// - LocalOnly never bursts; ProviderOnly never runs locally.
// - Burst runs locally first. A shard bursts when no local GPU is free for it (or its pod is
//   Unschedulable) AND it has waited longer than burstAfter; or when the local rate — all local
//   GPUs of the allowed models, free and busy, over the expected shard duration — cannot finish the
//   pending shards by the deadline, in which case as many as needed burst now.
// - Offers: lowest expected cost per shard first — price × GPUs × the expected shard duration on
//   the offer's GPU model (expectedShardMsByModel, else expectedShardMs), in exact micro-USD — so a
//   cheaper-per-hour GPU that is slower per shard loses to a dearer, faster one when it costs more
//   per shard (ties: lower price, higher reliability, then name). With a deadline, offers whose model
//   cannot finish a shard by it come after every offer that can. Filled up to the offer's free GPUs
//   and the provider's remaining concurrency, then spilling to the next — an ordered spillover, never
//   a race. Nothing above a price cap (job or provider) or beyond the remaining budget is chosen.
// - Shards that could not be placed keep waiting locally, and the plan says why.
//
// Optimality: every burst shard costs the same at a given offer (one model, one duration), and the
// capacities are laminar (offers nested in providers), so filling cheapest-first is a minimum-cost assignment for any number of burst
// shards and places the most shards any assignment can within the budget. optimality.test.ts checks
// this against brute force.
import { costOfGpuMillis, formatMicros } from '../money.js';
import {
  BurstReason,
  type BurstReasonCode,
  type OfferView,
  type PendingShard,
  type Plan,
  type PlanInput,
  type PlanReason,
  type ProviderTotal,
  type ProviderView,
  type ShardPlan,
} from './types.js';

/** Local shard slots for a job: `free` start now, `total` (free + busy) is the local rate per expected duration. */
export interface LocalSlots {
  free: number;
  total: number;
}

/** Slots of `gpusPerShard` GPUs on the allowed models (a shard never spans models). */
export function localSlots(local: PlanInput['local'], gpuModels: string[] | undefined, gpusPerShard: number): LocalSlots {
  const g = Math.max(1, gpusPerShard);
  let free = 0;
  let total = 0;
  for (const c of local) {
    if (gpuModels?.length && !gpuModels.includes(c.model)) continue;
    free += Math.floor(Math.max(0, c.free) / g);
    total += Math.floor(Math.max(0, c.allocatable) / g);
  }
  return { free, total: Math.max(total, free) };
}

/** Expected cost of one shard on an offer: price × GPUs × duration, rounded half up to a micro-USD. */
export function shardCostMicros(pricePerGpuHourMicros: bigint, gpusPerShard: number, expectedShardMs: number): bigint {
  return costOfGpuMillis(BigInt(Math.max(1, gpusPerShard)) * BigInt(Math.max(1, Math.round(expectedShardMs))), pricePerGpuHourMicros);
}

const INF = Number.POSITIVE_INFINITY;

interface Candidate {
  offer: OfferView;
  provider: ProviderView;
  cost: bigint;
  /** Expected shard wall time on the offer's model, ms. */
  ms: number;
  /** A deadline is set and one shard on this model would end after it. */
  late: boolean;
  /** Shards the offer can still take (its free GPUs / GPUs per shard). */
  room: number;
}

/** Why offers were left out, kept for the reason message. */
interface Exclusions {
  /** Per provider, why it (or every offer of it) was left out. */
  providers: Map<string, string>;
  /** Offers that passed every filter but a price cap. */
  overPrice: number;
  cheapestOverPrice?: bigint;
}

const noExclusions = (): Exclusions => ({ providers: new Map(), overPrice: 0 });

/** Step 5: the offers this job may use, cheapest first. */
function eligibleOffers(input: PlanInput, costPerShard: (price: bigint, ms: number) => bigint, msOf: (model: string) => number): { offers: Candidate[]; excluded: Exclusions } {
  const byName = new Map(input.providers.map((p) => [p.name, p]));
  const allow = input.allowedProviders?.length ? new Set(input.allowedProviders) : undefined;
  const models = input.gpuModels?.length ? new Set(input.gpuModels) : undefined;
  const g = Math.max(1, input.gpusPerShard);
  const excluded = noExclusions();
  const offers: Candidate[] = [];
  const offered = new Set<string>();
  const eligible = new Set<string>();
  const overPrice = new Set<string>();

  for (const p of input.providers) {
    if (allow && !allow.has(p.name)) excluded.providers.set(p.name, 'not in placement.providers');
    else if (p.allowedNamespaces?.length && !p.allowedNamespaces.includes(input.namespace)) excluded.providers.set(p.name, `does not allow namespace ${input.namespace}`);
    else if (p.paused) excluded.providers.set(p.name, `paused${p.pausedReason ? ` (${p.pausedReason})` : ''}`);
  }
  if (allow) for (const name of allow) if (!byName.has(name)) excluded.providers.set(name, 'no such ComputeProvider');

  for (const o of input.offers) {
    const p = byName.get(o.provider);
    if (!p || excluded.providers.has(p.name)) continue;
    offered.add(p.name);
    if (models && !models.has(o.gpuModel)) continue;
    if (p.gpuModels?.length && !p.gpuModels.includes(o.gpuModel)) continue;
    const room = o.available === undefined ? INF : Math.floor(Math.max(0, o.available) / g);
    if (room <= 0) continue;
    const jobCap = input.maxPricePerGpuHourMicros;
    const provCap = p.maxPricePerGpuHourMicros;
    if ((jobCap !== undefined && o.pricePerGpuHourMicros > jobCap) || (provCap !== undefined && o.pricePerGpuHourMicros > provCap)) {
      excluded.overPrice++;
      overPrice.add(p.name);
      if (excluded.cheapestOverPrice === undefined || o.pricePerGpuHourMicros < excluded.cheapestOverPrice) excluded.cheapestOverPrice = o.pricePerGpuHourMicros;
      continue;
    }
    eligible.add(p.name);
    const ms = msOf(o.gpuModel);
    offers.push({ offer: o, provider: p, cost: costPerShard(o.pricePerGpuHourMicros, ms), ms, late: input.deadline !== undefined && input.now + ms > input.deadline, room });
  }
  const wantModels = input.gpuModels?.length ? input.gpuModels.join('/') : 'GPU';
  for (const p of input.providers) {
    if (excluded.providers.has(p.name) || eligible.has(p.name)) continue;
    if (!offered.has(p.name)) excluded.providers.set(p.name, 'offers nothing');
    else if (overPrice.has(p.name)) excluded.providers.set(p.name, 'is above a price cap');
    else excluded.providers.set(p.name, `offers no free ${wantModels} for ${g} GPU(s) per shard`);
  }
  offers.sort((a, b) => {
    if (a.late !== b.late) return a.late ? 1 : -1;
    if (a.cost !== b.cost) return a.cost < b.cost ? -1 : 1;
    if (a.offer.pricePerGpuHourMicros !== b.offer.pricePerGpuHourMicros) return a.offer.pricePerGpuHourMicros < b.offer.pricePerGpuHourMicros ? -1 : 1;
    if (a.provider.reliability !== b.provider.reliability) return b.provider.reliability - a.provider.reliability;
    if (a.provider.name !== b.provider.name) return a.provider.name < b.provider.name ? -1 : 1;
    return a.offer.offerId < b.offer.offerId ? -1 : a.offer.offerId > b.offer.offerId ? 1 : 0;
  });
  return { offers, excluded };
}

function effectiveWait(s: PendingShard, now: number): number {
  return Math.max(s.waitedMs, s.localPod ? now - s.localPod.sinceMs : 0);
}

/** Plans one round for one job. Pure: the same input always gives the same plan. */
export function planShards(input: PlanInput): Plan {
  return planWithSlots(input, localSlots(input.local, input.gpuModels, input.gpusPerShard));
}

/** planShards with the local slots given directly (planJob's simulation supplies them). */
export function planWithSlots(input: PlanInput, slots: LocalSlots): Plan {
  const { now, policy } = input;
  const D = Math.max(1, Math.round(input.expectedShardMs));
  const g = Math.max(1, input.gpusPerShard);
  const n = input.pending.length;

  // 1. Order: longest-waiting first, then by index. Ranks index back into input order.
  const waits = new Float64Array(n);
  for (let i = 0; i < n; i++) waits[i] = effectiveWait(input.pending[i]!, now);
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => waits[b]! - waits[a]! || input.pending[a]!.index - input.pending[b]!.index);

  const out: ShardPlan[] = input.pending.map((s) => ({ index: s.index, placement: 'Wait' }));
  let starts = input.maxStarts ?? INF;
  const isNewStart = (i: number) => input.pending[i]!.localPod === undefined;
  let parallelismBlocked = 0;

  // 2./3. Local first (not under ProviderOnly): free slots go to shards whose pod already waits to
  // bind, then to shards without a pod. Unschedulable pods get none: the scheduler already said no.
  let free = policy === 'ProviderOnly' ? 0 : slots.free;
  let localCount = 0;
  const blocked: number[] = []; // input positions, in priority order
  if (policy !== 'ProviderOnly') {
    for (const pass of [0, 1] as const) {
      for (const i of order) {
        const pod = input.pending[i]!.localPod;
        if (pass === 0 ? pod?.state !== 'Pending' : pod !== undefined) continue;
        if (free > 0 && (!isNewStart(i) || starts > 0)) {
          out[i]!.placement = 'Local';
          free--;
          localCount++;
          if (isNewStart(i)) starts--;
        } else if (free > 0) {
          parallelismBlocked++;
        }
      }
    }
    for (const i of order) if (out[i]!.placement !== 'Local') blocked.push(i);
  }

  // 4. Who should burst.
  let wanted: number[] = [];
  if (policy === 'ProviderOnly') {
    wanted = order;
  } else if (policy === 'Burst') {
    const overdue = new Set<number>();
    for (const i of blocked) if (waits[i]! > input.burstAfterMs) overdue.add(i);
    let needed = 0;
    if (input.deadline !== undefined && input.deadline - now >= D) {
      const waves = Math.floor((input.deadline - now) / D);
      const localCap = Math.max(0, slots.total * waves - (input.runningLocal ?? 0));
      needed = Math.max(0, n - localCap);
    }
    wanted = blocked.filter((i) => overdue.has(i));
    if (needed > wanted.length) {
      for (const i of blocked) {
        if (wanted.length >= needed) break;
        if (!overdue.has(i)) wanted.push(i);
      }
      wanted.sort((a, b) => waits[b]! - waits[a]! || input.pending[a]!.index - input.pending[b]!.index);
    }
  }

  // 5. Eligible offers, cheapest first; 6. fill them in order.
  const byModel = input.expectedShardMsByModel;
  const msOf = (model: string) => Math.max(1, Math.round(byModel?.[model] ?? D));
  const costPerShard = (price: bigint, ms: number) => shardCostMicros(price, g, ms);
  const { offers, excluded } = wanted.length > 0 ? eligibleOffers(input, costPerShard, msOf) : { offers: [] as Candidate[], excluded: noExclusions() };
  const providerRoom = new Map<string, number>();
  for (const c of offers) {
    if (!providerRoom.has(c.provider.name)) {
      const max = c.provider.maxConcurrentShards;
      providerRoom.set(c.provider.name, max === undefined ? INF : Math.max(0, max - c.provider.inFlight));
    }
  }
  let budget = input.budgetRemainingMicros;
  let k = 0;
  let stop: 'capacity' | 'budget' | undefined;
  let remoteCount = 0;
  let expectedCost = 0n;
  let remoteMs = 0;
  const totals = new Map<string, ProviderTotal>();
  for (const i of wanted) {
    if (isNewStart(i) && starts <= 0) { parallelismBlocked++; continue; }
    while (k < offers.length && (offers[k]!.room <= 0 || providerRoom.get(offers[k]!.provider.name)! <= 0)) k++;
    if (k >= offers.length) { stop = 'capacity'; break; }
    const c = offers[k]!;
    if (budget !== undefined && c.cost > budget) { stop = 'budget'; break; }
    if (budget !== undefined) budget -= c.cost;
    c.room--;
    providerRoom.set(c.provider.name, providerRoom.get(c.provider.name)! - 1);
    const s = out[i]!;
    s.placement = 'Remote';
    s.provider = c.provider.name;
    s.offer = c.offer;
    s.expectedCostMicros = c.cost;
    s.expectedShardMs = c.ms;
    if (c.ms > remoteMs) remoteMs = c.ms;
    if (input.pending[i]!.localPod) s.replacesLocalPod = true;
    if (isNewStart(i)) starts--;
    remoteCount++;
    expectedCost += c.cost;
    const t = totals.get(c.provider.name) ?? { provider: c.provider.name, shards: 0, costMicros: 0n };
    t.shards++;
    t.costMicros += c.cost;
    totals.set(c.provider.name, t);
  }

  // 7. Totals: remote shards end one expected duration from now; local ones drain at the local rate
  // (all local slots, free and busy, per expected duration). Waiting shards under ProviderOnly, or
  // with no local slot at all, have no expected end.
  const waitCount = n - localCount - remoteCount;
  const runningLocal = input.runningLocal ?? 0;
  let finish = now;
  let never = false;
  if ((input.runningRemote ?? 0) > 0) finish = now + D;
  if (remoteCount > 0) finish = Math.max(finish, now + remoteMs);
  const localQueue = runningLocal + localCount + (policy === 'ProviderOnly' ? 0 : waitCount);
  if (policy === 'ProviderOnly' && waitCount > 0) never = true;
  if (localQueue > 0) {
    if (slots.total > 0) finish = Math.max(finish, now + Math.ceil(localQueue / slots.total) * D);
    else if (policy !== 'ProviderOnly' && waitCount > 0) never = true;
    else finish = Math.max(finish, now + D);
  }
  const expectedFinish = never ? undefined : finish;

  const byProvider = [...totals.values()];
  const reason = explain({
    input, wanted: wanted.length, remoteCount, waitCount, blocked: blocked.length, stop, parallelismBlocked, offers, excluded,
    budget, byProvider, costPerShard,
  });
  return {
    shards: out,
    counts: { local: localCount, remote: remoteCount, wait: waitCount },
    byProvider,
    expectedCostMicros: expectedCost,
    ...(expectedFinish !== undefined ? { expectedFinish } : {}),
    ...(input.deadline !== undefined ? { meetsDeadline: expectedFinish !== undefined && expectedFinish <= input.deadline } : {}),
    burstWanted: wanted.length,
    reason,
  };
}

interface ExplainInput {
  input: PlanInput;
  wanted: number;
  remoteCount: number;
  waitCount: number;
  blocked: number;
  stop: 'capacity' | 'budget' | undefined;
  parallelismBlocked: number;
  offers: Candidate[];
  excluded: Exclusions;
  budget: bigint | undefined;
  byProvider: ProviderTotal[];
  costPerShard: (price: bigint, ms: number) => bigint;
}

const MAX_MESSAGE = 900;

function clip(s: string): string {
  return s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE - 3)}...` : s;
}

/** Step 8: one reason code and message for the Bursting condition. */
function explain(e: ExplainInput): PlanReason {
  const { input } = e;
  const remoteNow = e.remoteCount + (input.runningRemote ?? 0);
  const status = remoteNow > 0 ? 'True' : 'False';
  const placed = e.byProvider.map((t) => `${t.provider} ${t.shards}`).join(', ');
  const head = e.remoteCount > 0 ? `burst ${e.remoteCount} shard(s) (${placed}, expected ${formatMicros(e.byProvider.reduce((a, t) => a + t.costMicros, 0n))} USD); ` : '';
  const mk = (reason: BurstReasonCode, message: string): PlanReason => ({ status, reason, message: clip(head + message) });

  if (input.policy === 'LocalOnly') return { status: 'False', reason: BurstReason.LocalOnly, message: 'placement.policy is LocalOnly: shards run on local GPUs only' };
  const unplaced = e.wanted - e.remoteCount;
  if (e.wanted === 0) {
    if (e.parallelismBlocked > 0) return mk(BurstReason.ParallelismLimit, `${e.parallelismBlocked} shard(s) could start on free local GPUs but shards.parallelism leaves no room`);
    if (e.blocked > 0) {
      return mk(BurstReason.WaitingForLocal, `${e.blocked} shard(s) wait for local GPUs; they burst once they have waited longer than ${Math.round(input.burstAfterMs / 1000)}s`);
    }
    return mk(remoteNow > 0 ? BurstReason.Bursting : BurstReason.NotNeeded, remoteNow > 0 ? `${remoteNow} shard(s) at providers; local GPUs take the rest` : 'local GPUs take every pending shard');
  }
  if (unplaced <= 0) return mk(BurstReason.Bursting, `${e.waitCount} shard(s) keep waiting locally`);
  const waiting = input.policy === 'ProviderOnly' ? `${unplaced} shard(s) wait for a provider` : `${unplaced} shard(s) keep waiting locally`;
  if (e.stop === 'budget') {
    const next = e.offers.find((c) => c.room > 0);
    return mk(BurstReason.BudgetExhausted, `${waiting}: remaining budget ${formatMicros(e.budget ?? 0n)} USD is less than the ${formatMicros(next?.cost ?? 0n)} USD one more shard is expected to cost`);
  }
  if (e.stop === 'capacity') {
    if (e.offers.length > 0) {
      return mk(BurstReason.ProvidersAtCapacity, `${waiting}: eligible providers (${[...new Set(e.offers.map((c) => c.provider.name))].join(', ')}) have no free GPUs or concurrency left`);
    }
    if (e.excluded.overPrice > 0) {
      const caps = [input.maxPricePerGpuHourMicros !== undefined ? `placement.maxPricePerGpuHour ${formatMicros(input.maxPricePerGpuHourMicros)}` : '', 'provider maxPricePerGpuHour'].filter(Boolean).join(' / ');
      return mk(BurstReason.PriceCapExceeded, `${waiting}: the cheapest offer, ${formatMicros(e.excluded.cheapestOverPrice ?? 0n)} USD/GPU-hour, is above the price cap (${caps})`);
    }
    const why = [...e.excluded.providers.entries()].map(([p, w]) => `${p} ${w}`).join('; ');
    return mk(BurstReason.NoEligibleOffer, `${waiting}: no eligible offer${why ? ` (${why})` : ' (no ComputeProvider offers GPUs)'}`);
  }
  return mk(BurstReason.ParallelismLimit, `${waiting}: shards.parallelism leaves no room to start more`);
}
