// The operator's view of the Atelier API: the types generated from crds/ (re-exported from
// generated.ts) plus the few hand-written names every layer shares — labels, the finalizer, the
// environment handed to shards — and shardRanges(), the one definition of how a RenderJob's
// shards.count / shards.frames becomes numbered shards. Keeping that arithmetic here, pure and
// tested, means the controller, the planner and the remote adapters can never disagree about it.
import type { RenderJobSpec, RenderShardStatus } from './generated.js';

export * from './generated.js';

/** Label on every RenderShard and shard pod: the owning RenderJob's name. */
export const JOB_LABEL = 'atelier.dev/job';
/** Label on every RenderShard and shard pod: the shard index (decimal). */
export const SHARD_LABEL = 'atelier.dev/shard';
/** Finalizer that cancels remote work and refunds escrow before a RenderJob goes away. */
export const CLEANUP_FINALIZER = 'atelier.dev/cleanup';

/** Environment variables the operator sets on every shard, wherever it runs. */
export const SHARD_ENV = {
  index: 'ATELIER_SHARD_INDEX',
  count: 'ATELIER_SHARD_COUNT',
  frameStart: 'ATELIER_FRAME_START',
  frameEnd: 'ATELIER_FRAME_END',
  outputUri: 'ATELIER_OUTPUT_URI',
} as const;

/** Extended resource name of a GPU, required in a RenderJob template's limits. */
export const GPU_RESOURCE = 'nvidia.com/gpu';
/** Node label carrying the GPU model, matched against spec.gpu.models. */
export const GPU_PRODUCT_LABEL = 'nvidia.com/gpu.product';

/**
 * GPUs one shard asks for: the template's `nvidia.com/gpu` limit (the CRD admits integers >= 1; a
 * value that slipped past the schema counts as 1). The one definition: pods, the planner, the
 * settlement estimate, capacity accounting and the remote shard spec all read it from here.
 */
export function gpusPerShard(spec: Pick<RenderJobSpec, 'template'>): number {
  return gpusOfLimits(spec.template.resources?.limits);
}

/** GPUs in a container's limits (0 when it asks for none). */
export function gpusOfLimits(limits: Record<string, unknown> | undefined, missing = 1): number {
  const v = limits?.[GPU_RESOURCE];
  if (v === undefined) return missing;
  const n = Number(v);
  return Number.isInteger(n) && n >= 1 ? n : missing;
}

/** Upper bound on shards per job, the same bound the CRD enforces. */
export const MAX_SHARDS = 100000;

/** A RenderShard as the controllers read it: its name, index and status (from the cache). */
export interface ShardRecord {
  name: string;
  index: number;
  status: RenderShardStatus;
}

/** One shard of a job: its 0-based index and, for frames jobs, its inclusive frame range. */
export interface ShardRange {
  index: number;
  frameStart?: number;
  frameEnd?: number;
}

/**
 * How many shards a job has. Throws when the spec is not one the CRD admits (neither or both of
 * count/frames, an empty range, perShard < 1), so a bad object never turns into a silent zero.
 */
export function shardCount(spec: Pick<RenderJobSpec, 'shards'>): number {
  const { count, frames } = spec.shards;
  if ((count === undefined) === (frames === undefined)) {
    throw new Error('shards: set exactly one of count or frames');
  }
  if (count !== undefined) {
    if (!Number.isInteger(count) || count < 1 || count > MAX_SHARDS) throw new Error(`shards.count ${count} is outside 1..${MAX_SHARDS}`);
    return count;
  }
  const { start, end } = frames!;
  const perShard = frames!.perShard ?? 1;
  if (!Number.isInteger(start) || !Number.isInteger(end) || end < start) throw new Error(`shards.frames ${start}..${end} is not a range`);
  if (!Number.isInteger(perShard) || perShard < 1) throw new Error(`shards.frames.perShard ${perShard} must be >= 1`);
  const n = Math.ceil((end - start + 1) / perShard);
  if (n > MAX_SHARDS) throw new Error(`shards.frames yields ${n} shards, more than ${MAX_SHARDS}`);
  return n;
}

/**
 * The shards of a job in index order. Count jobs get indices 0..count-1 without frames; frames jobs
 * get consecutive chunks of perShard frames, the last one possibly shorter
 * (frames 1..100 perShard 7 → 15 shards, the last 99..100).
 */
export function shardRanges(spec: Pick<RenderJobSpec, 'shards'>): ShardRange[] {
  const n = shardCount(spec);
  const frames = spec.shards.frames;
  const out: ShardRange[] = new Array(n);
  for (let index = 0; index < n; index++) {
    if (!frames) {
      out[index] = { index };
      continue;
    }
    const per = frames.perShard ?? 1;
    const frameStart = frames.start + index * per;
    out[index] = { index, frameStart, frameEnd: Math.min(frames.end, frameStart + per - 1) };
  }
  return out;
}
