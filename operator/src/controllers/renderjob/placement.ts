// The bridge from the RenderJob controller to the planner: builds one planning round for a job from
// the caches (local GPU capacity, the registry's live view of providers, what the job already spent
// and has running) and turns the plan into per-shard placements, plus the job's `Bursting` reason.
// It calls planner/job.ts planRound, the one path from a spec to a plan (the CLI's `atelier plan`
// replays the same planner). LocalOnly jobs never reach the planner.
// With a budget ledger (RenderBudgets, controllers/budget/ledger.ts), the round also stays within the
// budgets that select the job: the planner gets the smaller of the job's own and the budgets'
// remaining, every Remote placement reserves its cost in the same synchronous call (or waits), and an
// exhausted Suspend budget holds every new shard of the job, LocalOnly jobs included.
import type { RenderJob } from '../../api/index.js';
import { DEFAULT_SHARD_MS, parseGoDuration, planParamsFromSpec, planRound, shardCostMicros, type PlanReason } from '../../planner/index.js';
import type { ModelCapacity } from '../capacity.js';
import type { ProviderSnapshot } from '../computeprovider/registry.js';
import { formatMicros } from '../../money.js';
import type { BudgetLedger } from '../budget/ledger.js';
import { reservationMicros } from '../budget/ledger.js';
import { idempotencyKey, type Candidate, type PlaceInfo, type Placement } from './decide.js';

export type { ProviderSnapshot };
export type PlacementContext = PlaceInfo;

export interface PlacementResult {
  placements: Map<number, Placement>;
  reason: PlanReason;
}

export type Placer = (job: RenderJob, candidates: Candidate[], room: number, ctx: PlacementContext) => PlacementResult | undefined;

export function makePlacer(deps: { capacity: () => Map<string, ModelCapacity> | undefined; providers: ProviderSnapshot; clock: { now(): number }; budgets?: BudgetLedger }): Placer {
  return (job, candidates, room, ctx) => {
    const params = planParamsFromSpec(job.spec);
    const gate = deps.budgets?.gate(job);
    const suspendedBy = gate?.suspendedBy;
    if (gate && suspendedBy) {
      return { placements: new Map(candidates.map((c) => [c.index, { kind: 'Wait' as const }])), reason: { status: ctx.runningRemote > 0 ? 'True' : 'False', reason: 'BudgetExhausted', message: gate.message(suspendedBy) } };
    }
    if (params.policy === 'LocalOnly') return undefined;
    // Local capacity is counted by a watch opened on demand: until it has synced, nothing is placed.
    const local = deps.capacity();
    if (!local) {
      return { placements: new Map(candidates.map((c) => [c.index, { kind: 'Wait' as const }])), reason: { status: ctx.runningRemote > 0 ? 'True' : 'False', reason: 'WaitingForLocal', message: 'counting local GPUs (the capacity watch is starting)' } };
    }
    const now = deps.clock.now();
    // One look at the providers per round: breaker state and in-flight counts as of now.
    const view = deps.providers.plannerView();
    // Providers that failed a check in this job get none of its shards.
    const offers = ctx.excludeProviders?.size ? view.offers.filter((o) => !ctx.excludeProviders.has(o.provider)) : view.offers;
    // An attempt never runs past shards.maxDuration (the operator cancels it), so no longer is expected of it.
    const maxMs = job.spec.shards.maxDuration ? parseGoDuration(job.spec.shards.maxDuration) : Number.POSITIVE_INFINITY;
    const expectedShardMs = Math.min(ctx.expectedShardMs ?? DEFAULT_SHARD_MS, maxMs);
    // Budget already committed: what was spent, plus the expected cost of attempts still running.
    let committed = ctx.remoteCostMicros;
    for (const [provider, n] of ctx.liveRemoteByProvider) {
      const prices = offers.filter((o) => o.provider === provider).map((o) => o.pricePerGpuHourMicros);
      if (prices.length) committed += BigInt(n) * shardCostMicros(prices.reduce((a, b) => (a > b ? a : b)), params.gpusPerShard, expectedShardMs);
    }
    // The budgets' remaining caps the job's own: the planner sees maxCost' = min(maxCost, committed + remaining).
    let spec = job.spec;
    let teamBinds = false;
    if (gate) {
      const teamCap = committed + gate.remainingMicros;
      teamBinds = params.budgetMicros === undefined || teamCap < params.budgetMicros;
      const cap = teamBinds ? teamCap : params.budgetMicros!;
      spec = { ...job.spec, budget: { ...job.spec.budget, maxCost: formatMicros(cap, 0) } };
    }
    const plan = planRound({
      now, namespace: job.metadata.namespace!, spec,
      pending: candidates.map((c) => ({
        index: c.index,
        waitedMs: Math.max(0, now - c.waitingSinceMs),
        ...(c.unschedulablePod ? { localPod: { state: 'Unschedulable' as const, sinceMs: c.unschedulablePod.sinceMs } } : {}),
      })),
      runningLocal: ctx.runningLocal, runningRemote: ctx.runningRemote,
      local: [...local.values()].map((m) => ({ model: m.model, free: m.free, allocatable: m.allocatable })),
      offers, providers: view.providers, expectedShardMs, committedRemoteMicros: committed, maxStarts: room,
      ...(ctx.finishedByModel ? { finishedByModel: ctx.finishedByModel } : {}),
    });
    const placements = new Map<number, Placement>();
    const attempts = new Map(candidates.map((c) => [c.index, c.attempt]));
    let refused = 0;
    for (const s of plan.shards) {
      if (s.placement === 'Remote' && gate) {
        // Reserved now, before the intent is recorded: a shard the budgets cannot hold waits.
        const amount = reservationMicros(job, s.offer?.pricePerGpuHourMicros ?? 0n, s.expectedCostMicros, expectedShardMs);
        if (!gate.tryReserve(idempotencyKey(job.metadata.uid ?? '', s.index, attempts.get(s.index) ?? 1), s.provider!, amount)) {
          placements.set(s.index, { kind: 'Wait' });
          refused++;
          continue;
        }
      }
      placements.set(s.index, s.placement === 'Remote' ? { kind: 'Remote', provider: s.provider!, gpuModel: s.offer!.gpuModel } : s.placement === 'Local' ? { kind: 'Local' } : { kind: 'Wait' });
    }
    if (gate && teamBinds && refused === 0 && plan.reason.reason === 'BudgetExhausted' && offers.length > 0) {
      // The planner found the budgets too short for even one shard: the budgets hear of it (their Exhausted condition).
      const cheapest = offers.reduce((a, o) => (o.pricePerGpuHourMicros < a ? o.pricePerGpuHourMicros : a), offers[0]!.pricePerGpuHourMicros);
      gate.refuseShort(reservationMicros(job, cheapest, undefined, expectedShardMs));
    }
    const short = gate?.usages.find((u) => u.exhausted) ?? gate?.usages[0];
    if (gate && short && (refused > 0 || (plan.reason.reason === 'BudgetExhausted' && teamBinds))) {
      return { placements, reason: { status: ctx.runningRemote > 0 || plan.counts.remote > refused ? 'True' : 'False', reason: 'BudgetExhausted', message: gate.message(short) } };
    }
    return { placements, reason: plan.reason };
  };
}
