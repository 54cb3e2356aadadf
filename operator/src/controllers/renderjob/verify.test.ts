import { contentDigest, spotCheckSelected, untrustedProviders } from './verify.js';
import type { ShardOutput, ShardRecord, ShardRecordStatus } from './decide.js';

const H = (c: string) => c.repeat(64);
const selected = (uid: string, n: number, fraction: number | undefined) => Array.from({ length: n }, (_, i) => i).filter((i) => spotCheckSelected(uid, i, fraction));

describe('spotCheckSelected', () => {
  test('is a function of (uid, index, fraction): the same answer every time', () => {
    const a = selected('uid-a', 500, 0.3);
    const b = selected('uid-a', 500, 0.3);
    expect(a).toEqual(b);
    expect(a.length).toBeGreaterThan(0);
    expect(a.length).toBeLessThan(500);
  });

  test.each([
    ['zero', 0],
    ['undefined', undefined],
    ['negative', -0.5],
    ['NaN', Number.NaN],
  ])('a fraction of %s checks nothing', (_, fraction) => {
    expect(selected('uid-a', 1000, fraction)).toEqual([]);
  });

  test.each([1, 1.5])('a fraction of %s checks every shard', (fraction) => {
    expect(selected('uid-a', 1000, fraction)).toHaveLength(1000);
  });

  test('a fraction of 0.25 checks about a quarter of the shards', () => {
    const n = selected('uid-quarter', 4000, 0.25).length;
    expect(n).toBeGreaterThanOrEqual(800);
    expect(n).toBeLessThanOrEqual(1200);
  });

  test('a larger fraction checks a superset (the threshold only moves)', () => {
    const small = new Set(selected('uid-a', 2000, 0.1));
    const large = new Set(selected('uid-a', 2000, 0.5));
    for (const i of small) expect(large.has(i)).toBe(true);
    expect(large.size).toBeGreaterThan(small.size);
  });

  test('different jobs check different shards', () => {
    const a = selected('uid-a', 1000, 0.25);
    const b = selected('uid-b', 1000, 0.25);
    expect(a).not.toEqual(b);
    const overlap = a.filter((i) => b.includes(i)).length;
    // independent choices overlap by about a quarter, not wholesale
    expect(overlap).toBeLessThan(Math.min(a.length, b.length) * 0.5);
  });
});

describe('contentDigest', () => {
  test('is the same for the same content under other URIs and in another order', () => {
    const remote: ShardOutput[] = [{ uri: 's3://b/0.png', sha256: H('a') }, { uri: 's3://b/1.png', sha256: H('b') }];
    const local: ShardOutput[] = [{ uri: 'local:///x/1.png', sha256: H('b') }, { uri: 'local:///x/0.png', sha256: H('a') }];
    const a = contentDigest(remote);
    const b = contentDigest(local);
    expect(a).toBe(b);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
  });

  test('ignores the case of the digests', () => {
    expect(contentDigest([{ sha256: H('A') }, { sha256: 'Ab'.repeat(32) }])).toBe(contentDigest([{ sha256: H('a') }, { sha256: 'aB'.repeat(32) }]));
  });

  test('differs when one digest differs, or one output is missing or repeated', () => {
    const base = contentDigest([{ sha256: H('a') }, { sha256: H('b') }]);
    expect(contentDigest([{ sha256: H('a') }, { sha256: H('c') }])).not.toBe(base);
    expect(contentDigest([{ sha256: H('a') }])).not.toBe(base);
    expect(contentDigest([{ sha256: H('a') }, { sha256: H('b') }, { sha256: H('b') }])).not.toBe(base);
  });
});

describe('untrustedProviders', () => {
  const rec = (index: number, status: ShardRecordStatus): ShardRecord => ({ name: `job-${index}`, index, status });

  test('names the providers of failed checks only', () => {
    const out = untrustedProviders([
      rec(0, { placement: 'Local', phase: 'Succeeded', verification: { state: 'Failed', provider: 'akash' } }),
      rec(1, { placement: 'Remote', provider: 'render', phase: 'Succeeded', verification: { state: 'Verified', provider: 'render' } }),
      rec(2, { placement: 'Remote', provider: 'vast', phase: 'Succeeded', verification: { state: 'Skipped', provider: 'vast' } }),
      rec(3, { placement: 'Remote', provider: 'io', phase: 'Succeeded', verification: { state: 'Pending', provider: 'io' } }),
      rec(4, { placement: 'Local', phase: 'Succeeded', verification: { state: 'Failed' } }), // no provider: nobody to blame
      rec(5, { placement: 'Remote', provider: 'lambda', phase: 'Pending', verification: { state: 'Failed', provider: 'akash' } }),
      rec(6, {}),
    ]);
    expect([...out]).toEqual(['akash']);
  });

  test('is empty without records or failures', () => {
    expect(untrustedProviders([]).size).toBe(0);
    expect(untrustedProviders([rec(0, { phase: 'Succeeded' })]).size).toBe(0);
  });
});
