// Unit tests for the hand-written API helpers: how shards.count / shards.frames become numbered
// shards, including the edges the CRD admits (one frame, ranges not starting at 1, the shard cap).
import { MAX_SHARDS, shardCount, shardRanges, type ShardsSpec } from './index.js';

const job = (shards: ShardsSpec) => ({ shards });

describe('shardRanges', () => {
  it('numbers count jobs 0..count-1 without frames', () => {
    const r = shardRanges(job({ count: 20 }));
    expect(r).toHaveLength(20);
    expect(r[0]).toEqual({ index: 0 });
    expect(r[19]).toEqual({ index: 19 });
    expect(r.every((s) => s.frameStart === undefined && s.frameEnd === undefined)).toBe(true);
  });

  it('splits frames 1..100 perShard 7 into 15 shards, the last 99..100', () => {
    const r = shardRanges(job({ frames: { start: 1, end: 100, perShard: 7 } }));
    expect(r).toHaveLength(15);
    expect(r[0]).toEqual({ index: 0, frameStart: 1, frameEnd: 7 });
    expect(r[1]).toEqual({ index: 1, frameStart: 8, frameEnd: 14 });
    expect(r[14]).toEqual({ index: 14, frameStart: 99, frameEnd: 100 });
  });

  it('covers every frame exactly once, in order', () => {
    for (const [start, end, perShard] of [[1, 100, 7], [0, 0, 1], [10, 10, 5], [5, 24, 4], [0, 999, 1000], [3, 1002, 1]] as const) {
      const r = shardRanges(job({ frames: { start, end, perShard } }));
      const frames = r.flatMap((s) => Array.from({ length: s.frameEnd! - s.frameStart! + 1 }, (_, i) => s.frameStart! + i));
      expect(frames).toEqual(Array.from({ length: end - start + 1 }, (_, i) => start + i));
      expect(r.map((s) => s.index)).toEqual(r.map((_, i) => i));
    }
  });

  it('defaults perShard to 1', () => {
    expect(shardRanges(job({ frames: { start: 3, end: 5 } }))).toEqual([
      { index: 0, frameStart: 3, frameEnd: 3 },
      { index: 1, frameStart: 4, frameEnd: 4 },
      { index: 2, frameStart: 5, frameEnd: 5 },
    ]);
  });
});

describe('shardCount', () => {
  it.each<[string, ShardsSpec, number]>([
    ['count', { count: 400 }, 400],
    ['frames, exact multiple', { frames: { start: 1, end: 2400, perShard: 6 } }, 400],
    ['frames, remainder', { frames: { start: 1, end: 100, perShard: 7 } }, 15],
    ['frames at the cap', { frames: { start: 0, end: MAX_SHARDS * 2 - 1, perShard: 2 } }, MAX_SHARDS],
  ])('%s', (_name, shards, n) => {
    expect(shardCount(job(shards))).toBe(n);
  });

  it.each<[string, ShardsSpec, RegExp]>([
    ['neither', {}, /exactly one/],
    ['both', { count: 2, frames: { start: 1, end: 2 } }, /exactly one/],
    ['zero count', { count: 0 }, /outside/],
    ['too many', { count: MAX_SHARDS + 1 }, /outside/],
    ['reversed frames', { frames: { start: 5, end: 4 } }, /not a range/],
    ['perShard 0', { frames: { start: 1, end: 4, perShard: 0 } }, />= 1/],
    ['frames over the cap', { frames: { start: 0, end: MAX_SHARDS } }, /more than/],
  ])('rejects %s', (_name, shards, message) => {
    expect(() => shardCount(job(shards))).toThrow(message);
  });
});
