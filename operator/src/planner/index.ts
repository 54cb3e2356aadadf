// The planner's public surface: one planning round for the RenderJob controller (planShards), the
// whole-job plan for `atelier plan` (planJob), the spec parsing both share, and the vocabulary.
// Everything here is pure — snapshot in, plan out, clock value injected — so it is tested table-driven
// and benchmarked (test/bench/planner-bench.ts) without a cluster.
export * from './types.js';
export { DEFAULT_BURST_AFTER_MS, DEFAULT_SHARD_MS, expectedShardDurationMs, parseGoDuration, shardMsByModel, type DurationsByModel } from './duration.js';
export { localSlots, planShards, planWithSlots, shardCostMicros, type LocalSlots } from './place.js';
export { expectedShardMsByModelFor, gpusPerShardOf, planJob, planParamsFromSpec, planRound, type JobPlan, type JobPlanInput, type JobPlanOutcome, type JobPlanParams, type JobRoundInput, type OfferEstimate, type ReferenceComparison, type ReferenceRow } from './job.js';
