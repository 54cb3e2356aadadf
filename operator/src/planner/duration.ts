// Time figures the planner needs and the API states as text: Go-style durations (placement.burstAfter,
// e.g. "60s", "5m", "1h30m", the form the CRD admits) to milliseconds, and the expected duration of
// one shard, learned from the job's finished shards (their median, so one straggler or one instant
// failure does not swing the plan) with a default before any has finished — overall, and per GPU
// model (shardMsByModel), where the job's prior and the GPU catalog's relative speeds stand in until
// a model has data.

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/y;

/** Parses a Go duration ("0", "90s", "1h30m", "1.5h", "250ms") to whole milliseconds; throws on anything else. */
export function parseGoDuration(text: string): number {
  const s = text.trim();
  if (s === '0') return 0;
  if (s === '') throw new Error('empty duration');
  let ms = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < s.length) {
    const at = PART.lastIndex;
    const m = PART.exec(s);
    if (!m || m.index !== at) throw new Error(`not a duration such as 60s, 5m or 1h30m: ${JSON.stringify(text)}`);
    ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  }
  return Math.round(ms);
}

/** Default expected shard duration before any shard of the job has finished: 10 minutes. */
export const DEFAULT_SHARD_MS = 10 * 60_000;

/** placement.burstAfter's default, as in the CRD. */
export const DEFAULT_BURST_AFTER_MS = 60_000;

/**
 * Expected wall time of one shard: the median of the finished shards' durations (ms), or
 * `fallbackMs` when none has finished. Never below 1 ms, so rates stay finite.
 */
export function expectedShardDurationMs(finishedMs: readonly number[], fallbackMs: number = DEFAULT_SHARD_MS): number {
  const xs = finishedMs.filter((x) => Number.isFinite(x) && x > 0).sort((a, b) => a - b);
  if (xs.length === 0) return Math.max(1, Math.round(fallbackMs));
  const mid = xs.length >> 1;
  const median = xs.length % 2 === 1 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
  return Math.max(1, Math.round(median));
}

/** Finished shards of one job on one GPU model: their wall times in ms. */
export type DurationsByModel = Record<string, readonly number[]>;

/**
 * Expected shard wall time per GPU model for `models`, in this order:
 * 1. the median of the job's finished shards on that model;
 * 2. the job's prior, spec.gpu.expectedShardSeconds[model] (in ms here);
 * 3. scaled by relative speed (`speedOf`, the GPU catalog's) from the model with the most finished
 *    shards, or else from the fastest model with a prior: a model half as fast takes twice as long;
 * 4. nothing — the caller's job-wide figure applies (models the catalog cannot scale, or no anchor).
 */
export function shardMsByModel(models: readonly string[], finished: DurationsByModel, priorMs: Record<string, number>, speedOf: (model: string) => number | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  let anchor: { model: string; ms: number } | undefined;
  let anchorCount = 0;
  for (const [model, xs] of Object.entries(finished)) {
    const n = xs.filter((x) => Number.isFinite(x) && x > 0).length;
    if (n > anchorCount && speedOf(model) !== undefined) { anchorCount = n; anchor = { model, ms: expectedShardDurationMs(xs) }; }
  }
  if (!anchor) {
    for (const [model, ms] of Object.entries(priorMs)) {
      const s = speedOf(model);
      if (s === undefined || !(ms > 0)) continue;
      if (!anchor || s > speedOf(anchor.model)!) anchor = { model, ms };
    }
  }
  for (const m of models) {
    const xs = finished[m]?.filter((x) => Number.isFinite(x) && x > 0);
    if (xs?.length) out[m] = expectedShardDurationMs(xs);
    else if (priorMs[m] !== undefined && priorMs[m] > 0) out[m] = Math.max(1, Math.round(priorMs[m]));
    else if (anchor && speedOf(m) !== undefined) out[m] = Math.max(1, Math.round((anchor.ms * speedOf(anchor.model)!) / speedOf(m)!));
  }
  return out;
}
