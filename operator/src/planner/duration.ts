// Time figures the planner needs and the API states as text: Go-style durations (placement.burstAfter,
// e.g. "60s", "5m", "1h30m", the form the CRD admits) to milliseconds, and the expected duration of
// one shard, learned from the job's finished shards (their median, so one straggler or one instant
// failure does not swing the plan) with a default before any has finished.

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
