// The bridge from the RenderJob controller to the planner: builds the planner's snapshot for one job
// from the caches (local GPU capacity, provider offers and health, the job's spec, what it already
// spent) and turns the plan into per-shard placements, plus the job's `Bursting` condition. LocalOnly
// jobs never reach the planner.
import type { RenderJob } from '../../api/index.js';
import { DEFAULT_SHARD_MS, planParamsFromSpec, planShards, shardCostMicros, type OfferView, type PlanReason, type ProviderView } from '../../planner/index.js';
import type { ModelCapacity } from '../capacity.js';
import type { Candidate, PlaceInfo, Placement } from './decide.js';

/** Offers and provider health as the ComputeProvider controller last saw them. */
export interface ProviderSnapshot {
  offers(): OfferView[];
  providers(): ProviderView[];
}

export type PlacementContext = PlaceInfo;

export interface PlacementResult {
  placements: Map<number, Placement>;
  reason: PlanReason;
}

export type Placer = (job: RenderJob, candidates: Candidate[], room: number, ctx: PlacementContext) => PlacementResult | undefined;

export function makePlacer(deps: { capacity: () => Map<string, ModelCapacity>; providers: ProviderSnapshot; clock: { now(): number } }): Placer {
  return (job, candidates, room, ctx) => {
    const params = planParamsFromSpec(job.spec);
    if (params.policy === 'LocalOnly') return undefined;
    const now = deps.clock.now();
    // Providers that failed a check in this job get none of its shards.
    const offers = ctx.excludeProviders?.size ? deps.providers.offers().filter((o) => !ctx.excludeProviders.has(o.provider)) : deps.providers.offers();
    const expectedShardMs = ctx.expectedShardMs ?? DEFAULT_SHARD_MS;
    // Budget already committed: what was spent, plus the expected cost of attempts still running.
    let committed = ctx.remoteCostMicros;
    for (const [provider, n] of ctx.liveRemoteByProvider) {
      const prices = offers.filter((o) => o.provider === provider).map((o) => o.pricePerGpuHourMicros);
      if (prices.length) committed += BigInt(n) * shardCostMicros(prices.reduce((a, b) => (a > b ? a : b)), params.gpusPerShard, expectedShardMs);
    }
    const plan = planShards({
      now,
      namespace: job.metadata.namespace!,
      policy: params.policy,
      burstAfterMs: params.burstAfterMs,
      pending: candidates.map((c) => ({
        index: c.index,
        waitedMs: Math.max(0, now - c.waitingSinceMs),
        ...(c.unschedulablePod ? { localPod: { state: 'Unschedulable' as const, sinceMs: c.unschedulablePod.sinceMs } } : {}),
      })),
      runningLocal: ctx.runningLocal,
      runningRemote: ctx.runningRemote,
      local: [...deps.capacity().values()].map((m) => ({ model: m.model, free: m.free, allocatable: m.allocatable })),
      offers,
      providers: deps.providers.providers(),
      ...(params.allowedProviders ? { allowedProviders: params.allowedProviders } : {}),
      ...(params.gpuModels ? { gpuModels: params.gpuModels } : {}),
      gpusPerShard: params.gpusPerShard,
      ...(params.maxPricePerGpuHourMicros !== undefined ? { maxPricePerGpuHourMicros: params.maxPricePerGpuHourMicros } : {}),
      ...(params.budgetMicros !== undefined ? { budgetRemainingMicros: params.budgetMicros > committed ? params.budgetMicros - committed : 0n } : {}),
      ...(params.deadline !== undefined ? { deadline: params.deadline } : {}),
      expectedShardMs,
      maxStarts: room,
    });
    const placements = new Map<number, Placement>();
    for (const s of plan.shards) {
      placements.set(s.index, s.placement === 'Remote' ? { kind: 'Remote', provider: s.provider! } : s.placement === 'Local' ? { kind: 'Local' } : { kind: 'Wait' });
    }
    return { placements, reason: plan.reason };
  };
}
