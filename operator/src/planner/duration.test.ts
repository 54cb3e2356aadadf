// Go durations as the CRD admits them, and the expected shard duration learned from finished shards.
import { DEFAULT_SHARD_MS, expectedShardDurationMs, parseGoDuration } from './duration.js';

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
