// Go durations as the CRD admits them, and the expected shard duration learned from finished shards.
import { DEFAULT_SHARD_MS, expectedShardDurationMs, parseGoDuration, shardMsByModel } from './duration.js';

test.each([
  ['0', 0], ['60s', 60_000], ['5m', 300_000], ['1h30m', 5_400_000], ['1.5h', 5_400_000], ['250ms', 250], ['1m30.5s', 90_500], ['100us', 0],
])('parseGoDuration(%s) = %d ms', (text, ms) => {
  expect(parseGoDuration(text)).toBe(ms);
});

test.each(['', '60', 's', '1d', '-5s', '5 m', '1h x'])('parseGoDuration rejects %j', (text) => {
  expect(() => parseGoDuration(text)).toThrow();
});

test('expected duration: median of finished shards, default before any', () => {
  expect(expectedShardDurationMs([])).toBe(DEFAULT_SHARD_MS);
  expect(expectedShardDurationMs([], 5000)).toBe(5000);
  expect(expectedShardDurationMs([1000, 9_000_000, 2000])).toBe(2000);
  expect(expectedShardDurationMs([1000, 2000, 3000, 4000])).toBe(2500);
  expect(expectedShardDurationMs([0, -1, Number.NaN, 3000])).toBe(3000);
});

describe('shardMsByModel', () => {
  const speed: Record<string, number> = { h100: 1, l40s: 0.5, r4090: 0.25 };
  const speedOf = (m: string) => speed[m];
  test('learned medians first, then the prior, then scaled from the model with most data', () => {
    const got = shardMsByModel(['h100', 'l40s', 'r4090', 'mystery'], { h100: [100, 120, 5000], l40s: [300] }, { r4090: 999, h100: 1 }, speedOf);
    expect(got).toEqual({ h100: 120, l40s: 300, r4090: 999 });
    // r4090 without a prior: scaled from h100 (3 finished shards) by 1 / 0.25
    expect(shardMsByModel(['r4090'], { h100: [100, 120, 5000], l40s: [300] }, {}, speedOf)).toEqual({ r4090: 480 });
  });
  test('no data: scaled from the fastest prior; no anchor at all: nothing (the job-wide figure applies)', () => {
    expect(shardMsByModel(['h100', 'l40s', 'r4090'], {}, { l40s: 600 }, speedOf)).toEqual({ h100: 300, l40s: 600, r4090: 1200 });
    expect(shardMsByModel(['h100', 'l40s'], {}, {}, speedOf)).toEqual({});
  });
});
