// Plans a whole RenderJob from scratch, for `atelier plan`: how many shards would run locally and at
// each provider, when the job would finish and what it would cost — and the same for LocalOnly, for
// comparison. It replays the per-round planner (place.ts) over simulated time instead of inventing a
// second policy: at each event (shards finishing, the local GPUs that are busy now freeing up,
// waiting shards passing burstAfter) it asks planWithSlots what to start, and starts it. A shard
// takes the expected duration on the offer's GPU model at a provider (expectedShardMsByModel), the
// job-wide expected duration locally. It also lists, per offer, the expected seconds and cost per
// shard and how many shards the offer could finish by the deadline. Local GPUs: the free ones at the start, and
// after one expected duration all of them (free and busy), the same local-rate model the per-round
// deadline rule uses. Offers, prices and provider limits stay as they are at the start.
import { gpusPerShard, shardCount, type PlacementPolicy, type RenderJobSpec } from '../api/index.js';
import { costOfGpuMillis, parseMicros } from '../money.js';
import { canonicalGpuName, gpuInfo, selectGpuModels } from '../gpus/index.js';
import { DEFAULT_BURST_AFTER_MS, DEFAULT_SHARD_MS, parseGoDuration, shardMsByModel, type DurationsByModel } from './duration.js';
import { localSlots, planShards, planWithSlots, shardCostMicros, type LocalSlots } from './place.js';
import { BurstReason, type LocalCapacity, type OfferView, type PendingShard, type Plan, type PlanInput, type ProviderTotal, type ProviderView } from './types.js';

/** The planning parameters of a RenderJob spec, parsed once (money exact, durations in ms). */
export interface JobPlanParams {
  policy: PlacementPolicy;
  burstAfterMs: number;
  allowedProviders?: string[];
  /** gpu.models (canonical catalog names) narrowed by gpu.minMemory; undefined = any. */
  gpuModels?: string[];
  /** gpu.expectedShardSeconds in ms, by canonical model. */
  priorShardMs: Record<string, number>;
  gpusPerShard: number;
  maxPricePerGpuHourMicros?: bigint;
  /** budget.maxCost; undefined = no cap. */
  budgetMicros?: bigint;
  deadline?: number;
  parallelism?: number;
}

/** GPUs one shard asks for (template limits nvidia.com/gpu; the CRD admits integers >= 1). */
export const gpusPerShardOf = gpusPerShard;

/** Reads the planner's parameters from a RenderJob spec; throws with the field name on a bad value. */
export function planParamsFromSpec(spec: RenderJobSpec): JobPlanParams {
  const p = spec.placement ?? {};
  const field = <T>(name: string, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      throw new Error(`${name}: ${(e as Error).message}`);
    }
  };
  const params: JobPlanParams = {
    policy: p.policy ?? 'LocalOnly',
    burstAfterMs: p.burstAfter !== undefined ? field('placement.burstAfter', () => parseGoDuration(p.burstAfter!)) : DEFAULT_BURST_AFTER_MS,
    gpusPerShard: gpusPerShardOf(spec),
    priorShardMs: {},
  };
  if (p.providers?.length) params.allowedProviders = [...p.providers];
  const models = field('gpu.models', () => selectGpuModels(spec.gpu?.models, spec.gpu?.minMemory));
  if (models) {
    if (models.length === 0) throw new Error(`gpu.minMemory: no GPU model${spec.gpu?.models?.length ? ' in gpu.models' : ''} has ${spec.gpu!.minMemory} of memory`);
    params.gpuModels = models;
  }
  for (const [m, s] of Object.entries(spec.gpu?.expectedShardSeconds ?? {})) {
    if (!gpuInfo(m)) throw new Error(`gpu.expectedShardSeconds: unknown GPU model ${m}`);
    params.priorShardMs[canonicalGpuName(m)] = s * 1000;
  }
  if (p.maxPricePerGpuHour !== undefined) params.maxPricePerGpuHourMicros = field('placement.maxPricePerGpuHour', () => parseMicros(p.maxPricePerGpuHour!));
  if (spec.budget?.maxCost !== undefined) params.budgetMicros = field('budget.maxCost', () => parseMicros(spec.budget!.maxCost!));
  if (spec.deadline !== undefined) {
    const t = Date.parse(spec.deadline);
    if (Number.isNaN(t)) throw new Error(`deadline: not an RFC 3339 time: ${JSON.stringify(spec.deadline)}`);
    params.deadline = t;
  }
  if (spec.shards.parallelism !== undefined) params.parallelism = spec.shards.parallelism;
  return params;
}

/** One planning round for a job, straight from its spec: what the RenderJob controller calls per reconcile. */
export interface JobRoundInput {
  now: number;
  namespace: string;
  spec: RenderJobSpec;
  pending: PendingShard[];
  local: LocalCapacity[];
  offers: OfferView[];
  providers: ProviderView[];
  /** Learned with expectedShardDurationMs; default DEFAULT_SHARD_MS. */
  expectedShardMs?: number;
  /** Wall times (ms) of the job's finished shards per GPU model, for per-model expected durations. */
  finishedByModel?: DurationsByModel;
  /** Expected plus recorded cost of this job's remote attempts so far (subtracted from budget.maxCost). */
  committedRemoteMicros?: bigint;
  runningLocal?: number;
  runningRemote?: number;
  /** Room left under shards.parallelism (and any per-reconcile cap). */
  maxStarts?: number;
}

/** Local capacity and offers under the catalog's canonical model names (nodes may carry the GPU feature discovery label values). */
function canonical<T extends { model?: string; gpuModel?: string }>(xs: T[]): T[] {
  return xs.map((x) => {
    if (x.model !== undefined && canonicalGpuName(x.model) !== x.model) return { ...x, model: canonicalGpuName(x.model) };
    if (x.gpuModel !== undefined && canonicalGpuName(x.gpuModel) !== x.gpuModel) return { ...x, gpuModel: canonicalGpuName(x.gpuModel) };
    return x;
  });
}

/**
 * Expected shard time per GPU model for the offers' and the job's models: learned from finished
 * shards, else the job's prior, else scaled by the catalog's relative speeds (duration.ts).
 */
export function expectedShardMsByModelFor(params: JobPlanParams, offers: readonly OfferView[], finished: DurationsByModel = {}): Record<string, number> {
  const models = [...new Set([...offers.map((o) => o.gpuModel), ...(params.gpuModels ?? []), ...Object.keys(finished)])];
  const canonFinished: Record<string, number[]> = {};
  for (const [m, xs] of Object.entries(finished)) (canonFinished[canonicalGpuName(m)] ??= []).push(...xs);
  return shardMsByModel(models, canonFinished, params.priorShardMs, (m) => gpuInfo(m)?.relativeSpeed);
}

export function planRound(input: JobRoundInput): Plan {
  const params = planParamsFromSpec(input.spec);
  const budget = params.budgetMicros === undefined ? undefined : params.budgetMicros - (input.committedRemoteMicros ?? 0n);
  const offers = canonical(input.offers);
  return planShards({
    now: input.now, namespace: input.namespace, policy: params.policy, burstAfterMs: params.burstAfterMs,
    pending: input.pending, local: canonical(input.local), offers, providers: input.providers,
    gpusPerShard: params.gpusPerShard, expectedShardMs: input.expectedShardMs ?? DEFAULT_SHARD_MS,
    expectedShardMsByModel: expectedShardMsByModelFor(params, offers, input.finishedByModel),
    ...(params.allowedProviders ? { allowedProviders: params.allowedProviders } : {}),
    ...(params.gpuModels ? { gpuModels: params.gpuModels } : {}),
    ...(params.maxPricePerGpuHourMicros !== undefined ? { maxPricePerGpuHourMicros: params.maxPricePerGpuHourMicros } : {}),
    ...(budget !== undefined ? { budgetRemainingMicros: budget < 0n ? 0n : budget } : {}),
    ...(params.deadline !== undefined ? { deadline: params.deadline } : {}),
    ...(input.runningLocal !== undefined ? { runningLocal: input.runningLocal } : {}),
    ...(input.runningRemote !== undefined ? { runningRemote: input.runningRemote } : {}),
    ...(input.maxStarts !== undefined ? { maxStarts: input.maxStarts } : {}),
  });
}

export interface JobPlanInput {
  /** Injected clock value: when the job would start. */
  now: number;
  namespace: string;
  spec: RenderJobSpec;
  local: LocalCapacity[];
  offers: OfferView[];
  providers: ProviderView[];
  /** Expected shard wall time; default DEFAULT_SHARD_MS. */
  expectedShardMs?: number;
  /** Expected shard wall time per GPU model (duration.ts shardMsByModel). */
  expectedShardMsByModel?: Record<string, number>;
  /** Remote cost already committed by this job (subtracted from budget.maxCost). */
  committedRemoteMicros?: bigint;
  /** Price of a local GPU-hour (the operator's --local-gpu-hour-price), for the local cost figure. */
  localPricePerGpuHourMicros?: bigint;
  /** On-demand prices of a centralized cloud per GPU model (the catalog's reference table or its ConfigMap), for the comparison. */
  reference?: { source: string; asOf: string; illustrative: boolean; pricesPerGpuHourMicros: Record<string, bigint> };
}

/** The whole job's work (every shard) on one reference cloud GPU model. */
export interface ReferenceRow {
  gpuModel: string;
  pricePerGpuHourMicros: bigint;
  expectedShardMs: number;
  /** shards × GPUs per shard × expected time on the model × price. */
  costMicros: bigint;
}

export interface ReferenceComparison {
  source: string;
  asOf: string;
  illustrative: boolean;
  /** Cheapest first; only the models the job admits (gpu.models, minMemory) when any of them has a price. */
  rows: ReferenceRow[];
  /** The job's expected total (local + remote) under its own policy. */
  expectedTotalMicros: bigint;
  /** Cheapest reference row minus the job's expected total (negative: the cloud would be cheaper). */
  savingMicros?: bigint;
}

export interface JobPlanOutcome {
  policy: PlacementPolicy;
  shards: number;
  local: number;
  /** Per provider, cheapest first. */
  remote: ProviderTotal[];
  /** Shards that could never be placed under this policy with these offers (the job would not finish). */
  unplaced: number;
  /** Epoch ms; undefined when some shard is never placed. */
  expectedFinish?: number;
  expectedRemoteCostMicros: bigint;
  expectedLocalCostMicros: bigint;
  /** Set when the job has a deadline. */
  meetsDeadline?: boolean;
}

/** One offer as the job would see it: what a shard takes and costs there. */
export interface OfferEstimate {
  provider: string;
  offerId: string;
  gpuModel: string;
  pricePerGpuHourMicros: bigint;
  /** Expected wall time of one shard on this offer's model, ms. */
  expectedShardMs: number;
  /** price × GPUs per shard × expected time, exact micro-USD. */
  costPerShardMicros: bigint;
  /** Shards this offer alone could finish by the deadline (its free GPUs and the provider's concurrency, in waves); undefined without a deadline or a bound. */
  shardsByDeadline?: number;
  /** The job may not use it (filters, caps, paused provider), and why. */
  ineligible?: string;
}

export interface JobPlan extends JobPlanOutcome {
  expectedShardMs: number;
  /** Per GPU model, as used for the offers. */
  expectedShardMsByModel: Record<string, number>;
  /** Every offer, lowest expected cost per shard first. */
  offers: OfferEstimate[];
  /** The same work on a centralized cloud's on-demand GPUs, when reference prices were given. */
  reference?: ReferenceComparison;
  /** The first round's plan: what the controller would do right at the start, with its reason. */
  firstRound: Plan;
  /** The same job under LocalOnly, for comparison. */
  localOnly: JobPlanOutcome;
}

/** Plans a whole job from scratch under its own policy, and under LocalOnly for comparison. */
export function planJob(raw: JobPlanInput): JobPlan {
  const params = planParamsFromSpec(raw.spec);
  const offers = canonical(raw.offers);
  const input: JobPlanInput = {
    ...raw, offers, local: canonical(raw.local),
    expectedShardMsByModel: { ...expectedShardMsByModelFor(params, offers), ...(raw.expectedShardMsByModel ?? {}) },
  };
  const D = Math.max(1, Math.round(input.expectedShardMs ?? DEFAULT_SHARD_MS));
  const own = simulate(input, params, params.policy, D);
  const localOnly = params.policy === 'LocalOnly' ? own.outcome : simulate(input, params, 'LocalOnly', D).outcome;
  const byModel = input.expectedShardMsByModel ?? {};
  const plan: JobPlan = { ...own.outcome, expectedShardMs: D, expectedShardMsByModel: { ...byModel }, offers: offerEstimates(input, params, D), firstRound: own.first, localOnly };
  if (input.reference) plan.reference = referenceComparison(input, params, D, plan);
  return plan;
}

function referenceComparison(input: JobPlanInput, params: JobPlanParams, D: number, plan: JobPlan): ReferenceComparison {
  const ref = input.reference!;
  const g = BigInt(Math.max(1, params.gpusPerShard));
  const priced = Object.keys(ref.pricesPerGpuHourMicros).map(canonicalGpuName);
  const admitted = params.gpuModels?.length ? priced.filter((m) => params.gpuModels!.includes(m)) : [];
  const models = admitted.length ? admitted : priced;
  // the reference models' times: the same rule as the offers' (learned, prior, catalog speeds), else the job-wide figure
  const times = { ...expectedShardMsByModelFor(params, models.map((gpuModel) => ({ provider: '', offerId: '', gpuModel, pricePerGpuHourMicros: 0n }))), ...(input.expectedShardMsByModel ?? {}) };
  const rows = models.map((gpuModel): ReferenceRow => {
    const price = ref.pricesPerGpuHourMicros[gpuModel] ?? Object.entries(ref.pricesPerGpuHourMicros).find(([k]) => canonicalGpuName(k) === gpuModel)![1];
    const ms = Math.max(1, Math.round(times[gpuModel] ?? D));
    return { gpuModel, pricePerGpuHourMicros: price, expectedShardMs: ms, costMicros: costOfGpuMillis(BigInt(plan.shards) * g * BigInt(ms), price) };
  }).sort((a, b) => (a.costMicros < b.costMicros ? -1 : a.costMicros > b.costMicros ? 1 : a.gpuModel < b.gpuModel ? -1 : 1));
  const total = plan.expectedLocalCostMicros + plan.expectedRemoteCostMicros;
  return {
    source: ref.source, asOf: ref.asOf, illustrative: ref.illustrative, rows, expectedTotalMicros: total,
    ...(rows.length && plan.unplaced === 0 ? { savingMicros: rows[0]!.costMicros - total } : {}),
  };
}

function offerEstimates(input: JobPlanInput, params: JobPlanParams, D: number): OfferEstimate[] {
  const g = Math.max(1, params.gpusPerShard);
  const provs = new Map(input.providers.map((p) => [p.name, p]));
  const out = input.offers.map((o): OfferEstimate => {
    const ms = Math.max(1, Math.round(input.expectedShardMsByModel?.[o.gpuModel] ?? D));
    const p = provs.get(o.provider);
    const e: OfferEstimate = {
      provider: o.provider, offerId: o.offerId, gpuModel: o.gpuModel, pricePerGpuHourMicros: o.pricePerGpuHourMicros,
      expectedShardMs: ms, costPerShardMicros: shardCostMicros(o.pricePerGpuHourMicros, g, ms),
    };
    const why = !p ? 'no such ComputeProvider'
      : params.allowedProviders?.length && !params.allowedProviders.includes(p.name) ? 'not in placement.providers'
      : p.allowedNamespaces?.length && !p.allowedNamespaces.includes(input.namespace) ? `does not allow namespace ${input.namespace}`
      : p.paused ? 'paused'
      : params.gpuModels?.length && !params.gpuModels.includes(o.gpuModel) ? 'GPU model not in gpu.models'
      : p.gpuModels?.length && !p.gpuModels.includes(o.gpuModel) ? 'GPU model not in the provider\'s gpuModels'
      : (params.maxPricePerGpuHourMicros !== undefined && o.pricePerGpuHourMicros > params.maxPricePerGpuHourMicros) || (p.maxPricePerGpuHourMicros !== undefined && o.pricePerGpuHourMicros > p.maxPricePerGpuHourMicros) ? 'above a price cap'
      : undefined;
    if (why) e.ineligible = why;
    if (params.deadline !== undefined) {
      const waves = Math.max(0, Math.floor((params.deadline - input.now) / ms));
      const slots = Math.min(o.available === undefined ? Infinity : Math.floor(Math.max(0, o.available) / g), p?.maxConcurrentShards === undefined ? Infinity : Math.max(0, p.maxConcurrentShards - p.inFlight));
      const n = waves === 0 ? 0 : slots * waves;
      if (Number.isFinite(n)) e.shardsByDeadline = why ? 0 : n;
    }
    return e;
  });
  return out.sort((a, b) => (a.ineligible === undefined) !== (b.ineligible === undefined) ? (a.ineligible === undefined ? -1 : 1)
    : a.costPerShardMicros !== b.costPerShardMicros ? (a.costPerShardMicros < b.costPerShardMicros ? -1 : 1)
    : a.provider < b.provider ? -1 : a.provider > b.provider ? 1 : 0);
}

/** Run ends, as (end time, count) batches kept in end order (runs on different GPU models last differently). */
class Ends {
  private ends: number[] = [];
  private counts: number[] = [];
  private head = 0;
  running = 0;
  add(end: number, count: number): void {
    if (count <= 0) return;
    let at = this.ends.length;
    while (at > this.head && this.ends[at - 1]! > end) at--;
    if (at > this.head && this.ends[at - 1] === end) this.counts[at - 1]! += count;
    else {
      this.ends.splice(at, 0, end);
      this.counts.splice(at, 0, count);
    }
    this.running += count;
  }
  retire(t: number): void {
    while (this.head < this.ends.length && this.ends[this.head]! <= t) this.running -= this.counts[this.head++]!;
  }
  next(): number | undefined {
    return this.head < this.ends.length ? this.ends[this.head] : undefined;
  }
}

const STATIC_BLOCKERS = new Set<string>([BurstReason.NoEligibleOffer, BurstReason.PriceCapExceeded, BurstReason.BudgetExhausted, BurstReason.ProvidersAtCapacity]);

function simulate(input: JobPlanInput, params: JobPlanParams, policy: PlacementPolicy, D: number): { outcome: JobPlanOutcome; first: Plan } {
  const total = shardCount(input.spec);
  const t0 = input.now;
  const slots0: LocalSlots = localSlots(input.local, params.gpuModels, params.gpusPerShard);
  const g = params.gpusPerShard;
  const capacityAt = (t: number) => (t < t0 + D ? slots0.free : slots0.total);
  const local = new Ends();
  const remoteByOffer = new Map<string, Ends>();
  const offerKey = (o: OfferView) => `${o.provider}\u0000${o.offerId}`;
  const remoteByProvider = new Map<string, Ends>();
  const totals = new Map<string, ProviderTotal>();
  let budget = params.budgetMicros === undefined ? undefined : params.budgetMicros - (input.committedRemoteMicros ?? 0n);
  let remoteCost = 0n;
  let localCount = 0;
  let lastEnd = t0;
  let first: Plan | undefined;
  let pending: PendingShard[] = Array.from({ length: total }, (_, index) => ({ index, waitedMs: 0 }));
  let t = t0;
  let unplaced = 0;

  const remoteRunning = () => { let n = 0; for (const e of remoteByProvider.values()) n += e.running; return n; };
  const room = () => (params.parallelism === undefined ? undefined : Math.max(0, params.parallelism - local.running - remoteRunning()));

  for (let guard = 0; pending.length > 0; guard++) {
    if (guard > 10 * total + 1000) throw new Error('planJob: simulation did not converge');
    local.retire(t);
    for (const e of remoteByOffer.values()) e.retire(t);
    for (const e of remoteByProvider.values()) e.retire(t);
    for (const s of pending) s.waitedMs = t - t0;

    const slots: LocalSlots = { free: Math.max(0, capacityAt(t) - local.running), total: slots0.total };
    const planInput: PlanInput = {
      now: t, namespace: input.namespace, policy, burstAfterMs: params.burstAfterMs, pending,
      runningLocal: local.running, runningRemote: remoteRunning(), local: input.local,
      offers: input.offers.map((o) => (o.available === undefined ? o : { ...o, available: o.available - g * (remoteByOffer.get(offerKey(o))?.running ?? 0) })),
      providers: input.providers.map((p) => ({ ...p, inFlight: p.inFlight + (remoteByProvider.get(p.name)?.running ?? 0) })),
      gpusPerShard: g, expectedShardMs: D,
      ...(input.expectedShardMsByModel ? { expectedShardMsByModel: input.expectedShardMsByModel } : {}),
      ...(params.allowedProviders ? { allowedProviders: params.allowedProviders } : {}),
      ...(params.gpuModels ? { gpuModels: params.gpuModels } : {}),
      ...(params.maxPricePerGpuHourMicros !== undefined ? { maxPricePerGpuHourMicros: params.maxPricePerGpuHourMicros } : {}),
      ...(budget !== undefined ? { budgetRemainingMicros: budget } : {}),
      ...(params.deadline !== undefined ? { deadline: params.deadline } : {}),
      ...(room() !== undefined ? { maxStarts: room() } : {}),
    };
    const plan = planWithSlots(planInput, slots);
    first ??= plan;

    const still: PendingShard[] = [];
    for (let i = 0; i < pending.length; i++) {
      const s = plan.shards[i]!;
      if (s.placement === 'Local') {
        local.add(t + D, 1);
        localCount++;
        lastEnd = Math.max(lastEnd, t + D);
      } else if (s.placement === 'Remote') {
        const key = offerKey(s.offer!);
        const end = t + (s.expectedShardMs ?? D);
        if (!remoteByOffer.has(key)) remoteByOffer.set(key, new Ends());
        remoteByOffer.get(key)!.add(end, 1);
        if (!remoteByProvider.has(s.provider!)) remoteByProvider.set(s.provider!, new Ends());
        remoteByProvider.get(s.provider!)!.add(end, 1);
        const tot = totals.get(s.provider!) ?? { provider: s.provider!, shards: 0, costMicros: 0n };
        tot.shards++;
        tot.costMicros += s.expectedCostMicros!;
        totals.set(s.provider!, tot);
        remoteCost += s.expectedCostMicros!;
        if (budget !== undefined) budget -= s.expectedCostMicros!;
        lastEnd = Math.max(lastEnd, end);
      } else {
        still.push(pending[i]!);
      }
    }
    pending = still;
    if (pending.length === 0) break;

    // Nothing at a provider can change any more (the blocker is static and nothing there is ours):
    // the rest drains through local GPUs, in waves, without asking the planner each time.
    const staticallyBlocked = plan.counts.remote === 0 && plan.burstWanted > 0 && STATIC_BLOCKERS.has(plan.reason.reason) && remoteRunning() === 0 && t > t0 + params.burstAfterMs;
    if (policy === 'LocalOnly' || (policy === 'Burst' && staticallyBlocked)) {
      const drained = drainLocal(pending.length, t, t0, D, slots0, local, params.parallelism);
      localCount += drained.placed;
      lastEnd = Math.max(lastEnd, drained.lastEnd);
      unplaced = pending.length - drained.placed;
      pending = [];
      break;
    }

    const next = [local.next(), ...[...remoteByProvider.values()].map((e) => e.next())].filter((x): x is number => x !== undefined && x > t);
    if (t < t0 + D && slots0.total > slots0.free) next.push(t0 + D);
    if (policy === 'Burst' && t <= t0 + params.burstAfterMs) next.push(t0 + params.burstAfterMs + 1);
    if (next.length === 0) {
      unplaced = pending.length;
      break;
    }
    t = Math.min(...next);
  }

  const remote = [...totals.values()];
  const expectedFinish = unplaced > 0 ? undefined : lastEnd;
  const localGpuMillis = BigInt(localCount) * BigInt(g) * BigInt(D);
  return {
    first: first!,
    outcome: {
      policy,
      shards: total,
      local: localCount,
      remote,
      unplaced,
      ...(expectedFinish !== undefined ? { expectedFinish } : {}),
      expectedRemoteCostMicros: remoteCost,
      expectedLocalCostMicros: input.localPricePerGpuHourMicros !== undefined ? costOfGpuMillis(localGpuMillis, input.localPricePerGpuHourMicros) : 0n,
      ...(params.deadline !== undefined ? { meetsDeadline: expectedFinish !== undefined && expectedFinish <= params.deadline } : {}),
    },
  };
}

/** Runs `count` shards through local slots in waves from time t; returns how many it placed and the last end. */
function drainLocal(count: number, t: number, t0: number, D: number, slots0: LocalSlots, local: Ends, parallelism: number | undefined): { placed: number; lastEnd: number } {
  let left = count;
  let lastEnd = t;
  for (;;) {
    local.retire(t);
    const cap = t < t0 + D ? slots0.free : slots0.total;
    let take = Math.min(left, Math.max(0, cap - local.running));
    if (parallelism !== undefined) take = Math.min(take, Math.max(0, parallelism - local.running));
    if (take > 0) {
      local.add(t + D, take);
      left -= take;
      lastEnd = t + D;
    }
    if (left === 0) break;
    const candidates = [local.next()].filter((x): x is number => x !== undefined && x > t);
    if (t < t0 + D && slots0.total > slots0.free) candidates.push(t0 + D);
    if (candidates.length === 0) break;
    t = Math.min(...candidates);
  }
  return { placed: count - left, lastEnd };
}
