// The bridge from the RenderJob controller to the planner: builds one planning round for a job from
// the caches (local GPU capacity, the registry's live view of providers, what the job already spent
// and has running) and turns the plan into per-shard placements, plus the job's `Bursting` reason.
// It calls planner/job.ts planRound, the one path from a spec to a plan (the CLI's `atelier plan`
// replays the same planner). LocalOnly jobs never reach the planner.
import type { RenderJob } from '../../api/index.js';
import { DEFAULT_SHARD_MS, planParamsFromSpec, planRound, shardCostMicros, type PlanReason } from '../../planner/index.js';
import type { ModelCapacity } from '../capacity.js';
import type { ProviderSnapshot } from '../computeprovider/registry.js';
import type { Candidate, PlaceInfo, Placement } from './decide.js';

export type { ProviderSnapshot };
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
    // One look at the providers per round: breaker state and in-flight counts as of now.
    const view = deps.providers.plannerView();
    // Providers that failed a check in this job get none of its shards.
    const offers = ctx.excludeProviders?.size ? view.offers.filter((o) => !ctx.excludeProviders.has(o.provider)) : view.offers;
    const expectedShardMs = ctx.expectedShardMs ?? DEFAULT_SHARD_MS;
    // Budget already committed: what was spent, plus the expected cost of attempts still running.
    let committed = ctx.remoteCostMicros;
    for (const [provider, n] of ctx.liveRemoteByProvider) {
      const prices = offers.filter((o) => o.provider === provider).map((o) => o.pricePerGpuHourMicros);
      if (prices.length) committed += BigInt(n) * shardCostMicros(prices.reduce((a, b) => (a > b ? a : b)), params.gpusPerShard, expectedShardMs);
    }
    const plan = planRound({
      now, namespace: job.metadata.namespace!, spec: job.spec,
      pending: candidates.map((c) => ({
        index: c.index,
        waitedMs: Math.max(0, now - c.waitingSinceMs),
        ...(c.unschedulablePod ? { localPod: { state: 'Unschedulable' as const, sinceMs: c.unschedulablePod.sinceMs } } : {}),
      })),
      runningLocal: ctx.runningLocal, runningRemote: ctx.runningRemote,
      local: [...deps.capacity().values()].map((m) => ({ model: m.model, free: m.free, allocatable: m.allocatable })),
      offers, providers: view.providers, expectedShardMs, committedRemoteMicros: committed, maxStarts: room,
      ...(ctx.finishedByModel ? { finishedByModel: ctx.finishedByModel } : {}),
    });
    const placements = new Map<number, Placement>();
    for (const s of plan.shards) {
      placements.set(s.index, s.placement === 'Remote' ? { kind: 'Remote', provider: s.provider!, gpuModel: s.offer!.gpuModel } : s.placement === 'Local' ? { kind: 'Local' } : { kind: 'Wait' });
    }
    return { placements, reason: plan.reason };
  };
}
