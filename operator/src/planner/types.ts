// The planner's vocabulary: the snapshot it decides over (a job's pending shards, local GPU capacity,
// provider offers and limits, price caps, budget, deadline, expected shard duration per GPU model) and the plan it
// returns (per shard Local / Remote / Wait, totals, and a reason fit for the job's `Bursting`
// condition). Plain data only — money as bigint micro-USD (money.ts), time as epoch/duration
// milliseconds — so a snapshot can be built from informer caches, from a test builder, or from a
// benchmark generator alike, and the planner never performs I/O or reads the clock.
import type { PlacementPolicy } from '../api/index.js';

export type { PlacementPolicy };

/** One shard of the job that has not started anywhere yet (or only has a local pod that is not running). */
export interface PendingShard {
  index: number;
  /** How long the shard has been startable and not running, in ms. */
  waitedMs: number;
  /** Its local pod, when one exists and is not running: Pending (accepted, waiting to bind) or Unschedulable (the scheduler said no). */
  localPod?: { state: 'Pending' | 'Unschedulable'; sinceMs: number };
}

/** Local GPUs of one model (as controllers/capacity.ts computes them from Nodes and Pods). */
export interface LocalCapacity {
  model: string;
  /** GPUs not requested by any bound, unfinished pod. */
  free: number;
  /** All schedulable GPUs of this model (free + busy). */
  allocatable: number;
}

/** What a provider offers for one GPU model, normalised to exact micro-USD per GPU-hour. */
export interface OfferView {
  provider: string;
  offerId: string;
  gpuModel: string;
  pricePerGpuHourMicros: bigint;
  /** GPUs of this model free at the provider; undefined = the provider does not say (no cap but its concurrency). */
  available?: number;
}

/** A ComputeProvider as the planner sees it: its limits and health, from spec and the registry. */
export interface ProviderView {
  name: string;
  /** spec.maxConcurrentShards; undefined = no cap. */
  maxConcurrentShards?: number;
  /** Shards of all jobs in flight there now. */
  inFlight: number;
  /** Recent success ratio 0..1; breaks price ties. */
  reliability: number;
  /** spec.maxPricePerGpuHour in micro-USD. */
  maxPricePerGpuHourMicros?: bigint;
  /** spec.allowedNamespaces; empty or undefined = all. */
  allowedNamespaces?: string[];
  /** spec.gpuModels; empty or undefined = whatever its offers say. */
  gpuModels?: string[];
  /** spec.paused, or paused by the circuit breaker. */
  paused: boolean;
  pausedReason?: string;
}

/** Everything one planning round needs. */
export interface PlanInput {
  /** Injected clock value (epoch ms). */
  now: number;
  /** The job's namespace (matched against providers' allowedNamespaces). */
  namespace: string;
  policy: PlacementPolicy;
  /** placement.burstAfter in ms. */
  burstAfterMs: number;
  pending: PendingShard[];
  /** Shards of this job running locally now (they hold local slots in the deadline arithmetic). */
  runningLocal?: number;
  /** Shards of this job running at providers now. */
  runningRemote?: number;
  local: LocalCapacity[];
  offers: OfferView[];
  providers: ProviderView[];
  /** placement.providers; empty or undefined = every eligible provider. */
  allowedProviders?: string[];
  /** gpu.models; empty or undefined = any. */
  gpuModels?: string[];
  gpusPerShard: number;
  /** placement.maxPricePerGpuHour in micro-USD. */
  maxPricePerGpuHourMicros?: bigint;
  /** budget.maxCost minus remote cost already committed; undefined = no budget set (no cap). */
  budgetRemainingMicros?: bigint;
  /** spec.deadline as epoch ms. */
  deadline?: number;
  /** Expected wall time of one shard (see expectedShardDurationMs); local GPUs and models without their own figure. */
  expectedShardMs: number;
  /** Expected wall time of one shard per GPU model (see shardMsByModel); offers of these models use it. */
  expectedShardMsByModel?: Record<string, number>;
  /** Most new starts (local pod creations plus remote submissions of shards without a pod) this round; undefined = no cap. */
  maxStarts?: number;
}

export type Placement = 'Local' | 'Remote' | 'Wait';

export interface ShardPlan {
  index: number;
  placement: Placement;
  provider?: string;
  offer?: OfferView;
  /** Expected cost of the remote run: price × GPUs × expected duration on the offer's model, exact micro-USD. */
  expectedCostMicros?: bigint;
  /** Expected wall time of the remote run on the offer's GPU model, ms. */
  expectedShardMs?: number;
  /** A Remote shard that has a local pod: the pod must be deleted (and gone) before the submission is recorded. */
  replacesLocalPod?: boolean;
}

/** CamelCase reasons for the RenderJob `Bursting` condition. */
export const BurstReason = {
  /** placement.policy LocalOnly: the job never bursts. */
  LocalOnly: 'LocalOnly',
  /** Local GPUs take every pending shard (or none are pending). */
  NotNeeded: 'NotNeeded',
  /** Shards wait for local GPUs and have not waited burstAfter yet. */
  WaitingForLocal: 'WaitingForLocal',
  /** Every shard that had to burst was placed. */
  Bursting: 'Bursting',
  /** No provider passes the job's and providers' filters (allow-lists, namespaces, GPU models, paused). */
  NoEligibleOffer: 'NoEligibleOffer',
  /** Eligible providers exist but every offer is above a price cap. */
  PriceCapExceeded: 'PriceCapExceeded',
  /** Offers within the caps exist but the remaining budget cannot pay for one more shard. */
  BudgetExhausted: 'BudgetExhausted',
  /** Offers within caps and budget exist but their concurrency or free GPUs are used up. */
  ProvidersAtCapacity: 'ProvidersAtCapacity',
  /** shards.parallelism leaves no room to start more shards. */
  ParallelismLimit: 'ParallelismLimit',
} as const;
export type BurstReasonCode = (typeof BurstReason)[keyof typeof BurstReason];

export interface PlanReason {
  /** For the Bursting condition: True while the job has shards placed (or running) at providers. */
  status: 'True' | 'False';
  reason: BurstReasonCode;
  message: string;
}

export interface ProviderTotal {
  provider: string;
  shards: number;
  costMicros: bigint;
}

export interface Plan {
  /** One entry per pending shard, in the order given. */
  shards: ShardPlan[];
  counts: { local: number; remote: number; wait: number };
  /** Remote placements per provider, cheapest first. */
  byProvider: ProviderTotal[];
  /** Sum of expectedCostMicros over Remote placements. */
  expectedCostMicros: bigint;
  /** When every pending and running shard is expected to be done (epoch ms); undefined = never at current capacity. */
  expectedFinish?: number;
  /** Set when the job has a deadline. */
  meetsDeadline?: boolean;
  /** Shards the policy wanted to burst this round (waited out, deadline, or ProviderOnly). */
  burstWanted: number;
  reason: PlanReason;
}
