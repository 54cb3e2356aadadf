import { checkSignedResult, compareSpotCheck, contentDigest, spotCheckSelected, untrustedProviders, verifiedCondition } from './index.js';
import type { ShardOutput, ShardRecord, RenderShardStatus as ShardRecordStatus } from '../api/index.js';

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

describe('compareSpotCheck', () => {
  test('matches by content, not by order or URI; no local outputs is not a match; different content is', () => {
    const a = [{ sha256: H('a') }, { sha256: H('b') }];
    expect(compareSpotCheck([{ sha256: H('B') }, { sha256: H('a') }], a).verdict).toBe('match');
    expect(compareSpotCheck([], a).verdict).toBe('noOutputs');
    const d = compareSpotCheck([{ sha256: H('c') }], a);
    expect(d.verdict).toBe('differs');
    if (d.verdict === 'differs') expect(d.remoteDigest).not.toBe(d.localDigest);
  });
});

describe('checkSignedResult', () => {
  const base = { provider: 'p', domain: { chainId: 31337, verifyingContract: `0x${'e'.repeat(40)}` }, jobUid: 'u', shardIndex: 0, outputs: [{ uri: 's3://x/0', sha256: H('a') }] };
  test('no payout address or no signature: refused with the reason', () => {
    expect(checkSignedResult({ ...base, signed: undefined, payoutAddress: undefined })).toMatchObject({ ok: false, reason: 'NoPayoutAddress' });
    expect(checkSignedResult({ ...base, signed: undefined, payoutAddress: `0x${'1'.repeat(40)}` })).toMatchObject({ ok: false, reason: 'Unsigned' });
  });
});

describe('verifiedCondition', () => {
  const counts = { pending: 0, verified: 0, skipped: 0, failed: 0 };
  test.each([
    [{ ...counts }, false, undefined],
    [{ ...counts }, true, 'NoRemoteResults'],
    [{ ...counts, pending: 1, verified: 1 }, true, 'SpotChecksRunning'],
    [{ ...counts, verified: 2, skipped: 1 }, true, 'Verified'],
    [{ ...counts, failed: 1, verified: 3 }, false, 'VerificationFailed'],
  ])('%j asked=%s -> %s', (c, asked, reason) => {
    expect(verifiedCondition(c, asked)?.reason).toBe(reason);
  });
});
