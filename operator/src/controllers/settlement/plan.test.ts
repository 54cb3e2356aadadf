import { createHash } from 'node:crypto';
import { API_VERSION, type EscrowStatus, type RenderJob } from '../../api/index.js';
import type { RenderShardStatus as ShardRecordStatus, ShardRecord } from '../../api/index.js';
import { finished, ledgers, microsToUnits, movingShards, nextSteps, releaseDigest, ZERO_DIGEST, type ProviderLedger, type StepInput } from './plan.js';

const D = (c: string) => `0x${c.repeat(64)}`;
const rec = (index: number, status: ShardRecordStatus): ShardRecord => ({ name: `job-${index}`, index, status });
const signed = (index: number, digest: string, amountClaimed: string) => ({
  jobUid: 'u1', shardIndex: index, resultDigest: digest, amountClaimed, chainId: '31337', verifyingContract: `0x${'e'.repeat(40)}`, signature: '0xsig',
});
/** A remote shard at `provider` that succeeded, costing `cost` USD, with a signed claim (unless claimed is undefined). */
function done(index: number, provider: string, cost: string, state: 'Verified' | 'Skipped' | 'Pending' | undefined, claimed?: string, digest = D(String(index % 10))): ShardRecord {
  return rec(index, {
    placement: 'Remote', provider, phase: 'Succeeded', attempts: 1, idempotencyKey: `u1-${index}-1`, remoteCost: cost,
    result: { outputs: [{ uri: `s3://x/${index}`, sha256: 'a'.repeat(64) }], ...(claimed !== undefined ? { signed: signed(index, digest, claimed) } : {}) },
    ...(state ? { verification: { state, provider } } : {}),
  });
}
const liveAt = (index: number, provider: string): ShardRecord =>
  rec(index, { placement: 'Remote', provider, phase: 'Running', attempts: 1, idempotencyKey: `u1-${index}-1`, remoteId: `r-${index}` });

describe('microsToUnits', () => {
  test.each([
    // [micros, decimals, floor, ceil]
    [1_234_567n, 6, 1_234_567n, 1_234_567n],
    [0n, 6, 0n, 0n],
    [1n, 18, 1_000_000_000_000n, 1_000_000_000_000n],
    [2_500_000n, 18, 2_500_000n * 10n ** 12n, 2_500_000n * 10n ** 12n],
    [1_234_567n, 2, 123n, 124n],
    [1_230_000n, 2, 123n, 123n],
    [9_999n, 2, 0n, 1n],
    [0n, 2, 0n, 0n],
    [1_500_001n, 0, 1n, 2n],
  ])('%s micros at %s decimals: floor %s, ceil %s', (micros, decimals, floor, ceil) => {
    expect(microsToUnits(micros, decimals, 'floor')).toBe(floor);
    expect(microsToUnits(micros, decimals, 'ceil')).toBe(ceil);
  });
});

describe('releaseDigest', () => {
  test('does not depend on the order of its input, and is the sha256 of index:digest lines', () => {
    const parts = [{ index: 2, digest: D('b') }, { index: 0, digest: D('a') }, { index: 10, digest: D('c') }];
    const a = releaseDigest(parts);
    expect(releaseDigest([...parts].reverse())).toBe(a);
    expect(releaseDigest([parts[1]!, parts[2]!, parts[0]!])).toBe(a);
    const text = `0:${D('a')}\n2:${D('b')}\n10:${D('c')}`; // numeric order, not lexical
    expect(a).toBe(`0x${createHash('sha256').update(text).digest('hex')}`);
  });

  test('is case-insensitive in the digests and changes with any part', () => {
    const a = releaseDigest([{ index: 0, digest: D('a') }]);
    expect(releaseDigest([{ index: 0, digest: D('A') }])).toBe(a);
    expect(releaseDigest([{ index: 1, digest: D('a') }])).not.toBe(a);
    expect(releaseDigest([{ index: 0, digest: D('b') }])).not.toBe(a);
  });

  test('is the zero digest for nothing paid', () => {
    expect(releaseDigest([])).toBe(ZERO_DIGEST);
    expect(ZERO_DIGEST).toMatch(/^0x0{64}$/);
  });
});

describe('ledgers', () => {
  const estimate = (p: string) => (p === 'akash' ? 500_000n : 250_000n);

  test('owes the smaller of cost and claim for verified and skipped signed results only', () => {
    const rs = [
      done(0, 'akash', '1.00', 'Verified', '800000'), // claim below cost: 0.80
      done(1, 'akash', '0.50', 'Skipped', '900000'), // cost below claim: 0.50
      done(2, 'akash', '0.30', 'Pending', '300000'), // waiting for its check: not owed
      done(3, 'akash', '0.20', 'Skipped'), // unsigned: not owed
      done(4, 'akash', '0.10', undefined, '100000'), // signed but no verification recorded: not owed
      liveAt(5, 'akash'), // running: estimated
      rec(6, { placement: 'Local', phase: 'Succeeded', attempts: 1 }),
      rec(7, { placement: 'Remote', provider: 'akash', phase: 'Pending', attempts: 1, remoteCost: '0.05' }), // failed attempt, waiting to retry
      rec(8, {}),
    ];
    const l = ledgers({ records: rs, tokenDecimals: 6, estimateMicros: estimate }).get('akash')!;
    expect(l).toMatchObject({ provider: 'akash', placed: 7, live: 1, checking: 1, untrusted: false });
    expect(l.owedUnits).toBe(1_300_000n);
    expect(l.paidShards).toEqual([0, 1]);
    expect(l.resultDigest).toBe(releaseDigest([{ index: 1, digest: D('1') }, { index: 0, digest: D('0') }]));
    // succeeded costs (1.00 + 0.50 + 0.30 + 0.20 + 0.10) plus one live estimate (0.50)
    expect(l.expectedMicros).toBe(2_600_000n);
  });

  test('a provider the job status names untrusted is owed nothing, though no record shows its failed check any more', () => {
    // Its failed shard ran again elsewhere: that record's verification now names the other provider.
    const rs = [done(0, 'akash', '1.00', 'Verified', '800000'), done(1, 'akash', '0.50', 'Skipped', '900000')];
    expect(ledgers({ records: rs, tokenDecimals: 6, estimateMicros: estimate }).get('akash')!).toMatchObject({ untrusted: false, owedUnits: 1_300_000n });
    const l = ledgers({ records: rs, tokenDecimals: 6, estimateMicros: estimate, untrusted: ['akash'] }).get('akash')!;
    expect(l.untrusted).toBe(true);
    expect(l.owedUnits).toBe(0n);
  });

  test('owed is rounded down to token units and compared with the claim in token units', () => {
    const rs = [done(0, 'akash', '0.123456', 'Verified', '99999999'), done(1, 'akash', '0.019999', 'Verified', '1')];
    expect(ledgers({ records: rs, tokenDecimals: 2, estimateMicros: estimate }).get('akash')!.owedUnits).toBe(12n + 1n);
    const at18 = ledgers({ records: [done(0, 'akash', '1.00', 'Verified', '5')], tokenDecimals: 18, estimateMicros: estimate }).get('akash')!;
    expect(at18.owedUnits).toBe(5n);
  });

  test('an unreadable claim falls back to the cost', () => {
    const l = ledgers({ records: [done(0, 'akash', '0.75', 'Verified', 'lots')], tokenDecimals: 6, estimateMicros: estimate }).get('akash')!;
    expect(l.owedUnits).toBe(750_000n);
  });

  test('a provider that failed a check is owed nothing, but keeps a ledger so its escrow is closed', () => {
    const rs = [
      rec(0, { placement: 'Local', phase: 'Succeeded', attempts: 2, verification: { state: 'Failed', provider: 'akash' } }),
      done(1, 'akash', '1.00', 'Verified', '1000000'),
      done(2, 'render', '1.00', 'Skipped', '1000000'),
    ];
    const m = ledgers({ records: rs, tokenDecimals: 6, estimateMicros: estimate });
    const akash = m.get('akash')!;
    expect(akash.untrusted).toBe(true);
    expect(akash.owedUnits).toBe(0n);
    expect(akash.paidShards).toEqual([]);
    expect(akash.resultDigest).toBe(ZERO_DIGEST);
    expect(m.get('render')).toMatchObject({ untrusted: false, owedUnits: 1_000_000n, paidShards: [2] });
    // the failing shard alone still makes a ledger
    const only = ledgers({ records: [rs[0]!], tokenDecimals: 6, estimateMicros: estimate });
    expect(only.get('akash')).toMatchObject({ placed: 0, untrusted: true, owedUnits: 0n });
  });

  test('live attempts are counted and estimated per provider', () => {
    const m = ledgers({ records: [liveAt(0, 'akash'), liveAt(1, 'akash'), liveAt(2, 'render'), rec(3, { placement: 'Remote', provider: 'render', phase: 'Pending', attempts: 1, idempotencyKey: 'u1-3-1' })], tokenDecimals: 6, estimateMicros: estimate });
    expect(m.get('akash')).toMatchObject({ live: 2, placed: 2, expectedMicros: 1_000_000n, owedUnits: 0n });
    expect(m.get('render')).toMatchObject({ live: 2, placed: 2, expectedMicros: 500_000n });
  });

  describe('a shard is paid for the attempt whose result is paid, not for every attempt it had (found by test/data/burst.test.ts)', () => {
    // Shard 0 of burst-s ran first at burst-tamper (rejected: 0.000278 at its configured 1.00/h), then
    // at burst-honest (0.000556 at 2.00/h), which claimed 611 units (its own 2.20/h). remoteCost sums
    // both attempts (0.000834), so min(remoteCost, claim) paid the honest provider 611, not 556.
    const rerun = (resultCost: string | undefined, claimed: string, remoteCost = '0.000834') => {
      const r = done(0, 'honest', remoteCost, 'Skipped', claimed);
      r.status.attempts = 2;
      if (resultCost !== undefined) r.status.result = { ...r.status.result, cost: resultCost };
      return r;
    };
    test.each([
      // [case, shard's remoteCost (all attempts), the paid attempt's cost, claim, owed, expected]
      ['re-run after a rejected attempt elsewhere, claim above the attempt', '0.000834', '0.000556', '611', 556n, 556n],
      ['re-run after a rejected attempt elsewhere, claim below the attempt', '0.000834', '0.000556', '500', 500n, 556n],
      ['one attempt: both costs agree', '0.000556', '0.000556', '611', 556n, 556n],
      ['a record from before result.cost (no attempt cost): the shard total, capped by the claim', '0.000834', undefined, '611', 611n, 834n],
    ])('%s', (_case, remoteCost, resultCost, claimed, owed, expected) => {
      const l = ledgers({ records: [rerun(resultCost as string | undefined, claimed as string, remoteCost as string)], tokenDecimals: 6, estimateMicros: estimate }).get('honest')!;
      expect({ owed: l.owedUnits, expected: l.expectedMicros, paid: l.paidShards }).toEqual({ owed, expected, paid: [0] });
    });

    test('the provider of the rejected attempt gets no ledger from this shard; the honest one is owed its own attempts only', () => {
      const m = ledgers({ records: [rerun('0.000556', '611'), done(1, 'honest', '0.000556', 'Skipped', '611')], tokenDecimals: 6, estimateMicros: estimate });
      expect([...m.keys()]).toEqual(['honest']);
      expect(m.get('honest')!.owedUnits).toBe(1112n);
    });
  });

  test('no remote shards: no ledgers', () => {
    expect(ledgers({ records: [rec(0, { placement: 'Local', phase: 'Succeeded' })], tokenDecimals: 6, estimateMicros: estimate }).size).toBe(0);
  });
});

describe('nextSteps', () => {
  function renderJob(o: { phase?: 'Running' | 'Succeeded' | 'Failed'; maxCost?: string; deleting?: boolean } = {}): RenderJob {
    return {
      apiVersion: API_VERSION, kind: 'RenderJob',
      metadata: { name: 'job', namespace: 'ns', uid: 'u1', ...(o.deleting ? { deletionTimestamp: new Date('2026-11-24T12:00:00Z') } : {}) },
      spec: { template: { image: 'r', resources: { limits: { 'nvidia.com/gpu': '1' } } }, shards: { count: 4 }, ...(o.maxCost ? { budget: { maxCost: o.maxCost } } : {}) },
      status: { phase: o.phase ?? 'Running' },
    };
  }
  const ledger = (provider: string, x: Partial<ProviderLedger> = {}): ProviderLedger => ({
    provider, placed: 1, live: 0, checking: 0, costPending: 0, expectedMicros: 0n, owedUnits: 0n, paidShards: [], resultDigest: ZERO_DIGEST, untrusted: false, ...x,
  });
  const escrow = (provider: string, state: EscrowStatus['state']): EscrowStatus => ({ provider, state });
  function steps(job: RenderJob, ls: ProviderLedger[], escrows: EscrowStatus[] = [], funded: Record<string, bigint> = {}, tokenDecimals = 6) {
    const i: StepInput = {
      job, tokenDecimals,
      ledgers: new Map(ls.map((l) => [l.provider, l])),
      escrows: new Map(escrows.map((e) => [e.provider, e])),
      fundedUnits: (p) => funded[p] ?? 0n,
    };
    return nextSteps(i);
  }

  describe('an escrow whose provider no shard names any more (found by the chaos suite)', () => {
    // A shard placed at render opened render's escrow; render lost the job and the shard finished
    // elsewhere, so no shard record names render: its escrow must still be closed.
    test('is refunded once the job is finished', () => {
      expect(steps(renderJob({ phase: 'Succeeded' }), [ledger('chutes', { owedUnits: 5n })], [escrow('chutes', 'Open'), escrow('render', 'Open')], { chutes: 9n, render: 7n }))
        .toEqual([{ kind: 'release', provider: 'chutes', owedUnits: 5n, resultDigest: ZERO_DIGEST }, { kind: 'refund', provider: 'render', withheld: false }]);
      expect(steps(renderJob({ phase: 'Failed' }), [], [escrow('render', 'Opening')])).toEqual([{ kind: 'refund', provider: 'render', withheld: false }]);
    });

    test('is left alone while the job runs, and once closed', () => {
      expect(steps(renderJob(), [], [escrow('render', 'Open')], { render: 7n })).toEqual([]);
      expect(steps(renderJob({ phase: 'Succeeded' }), [], [escrow('render', 'Refunded')])).toEqual([]);
    });
  });

  describe('while the job runs', () => {
    test('a provider with shards and no escrow gets one opened for twice the expected cost', () => {
      expect(steps(renderJob(), [ledger('akash', { live: 1, expectedMicros: 1_000_000n })])).toEqual([{ kind: 'open', provider: 'akash', fundUnits: 2_000_000n }]);
    });

    test('funding is rounded up to token units', () => {
      expect(steps(renderJob(), [ledger('akash', { live: 1, expectedMicros: 1_234_567n })], [], {}, 2)).toEqual([{ kind: 'open', provider: 'akash', fundUnits: 248n }]);
    });

    test('funding is capped by the budget less what the other escrows hold', () => {
      const ls = [ledger('akash', { live: 1, expectedMicros: 1_000_000n }), ledger('render', { live: 1, expectedMicros: 400_000n })];
      // budget 1.50, render holds 1.00 (enough for its 0.40): akash may get 0.50
      expect(steps(renderJob({ maxCost: '1.50' }), ls, [escrow('render', 'Open')], { render: 1_000_000n })).toEqual([{ kind: 'open', provider: 'akash', fundUnits: 500_000n }]);
      // no other escrow: capped at the budget
      expect(steps(renderJob({ maxCost: '1.50' }), [ls[0]!])).toEqual([{ kind: 'open', provider: 'akash', fundUnits: 1_500_000n }]);
      // budget exhausted by the others: nothing to open with
      expect(steps(renderJob({ maxCost: '1.00' }), ls, [escrow('render', 'Open')], { render: 1_000_000n })).toEqual([]);
    });

    test('an open escrow below the expected cost is topped up to twice it; one at or above is left alone', () => {
      const l = ledger('akash', { live: 2, expectedMicros: 1_000_000n });
      expect(steps(renderJob(), [l], [escrow('akash', 'Open')], { akash: 900_000n })).toEqual([{ kind: 'topUp', provider: 'akash', fundUnits: 2_000_000n }]);
      expect(steps(renderJob(), [l], [escrow('akash', 'Open')], { akash: 1_000_000n })).toEqual([]);
      expect(steps(renderJob({ maxCost: '1.20' }), [l], [escrow('akash', 'Open')], { akash: 900_000n })).toEqual([{ kind: 'topUp', provider: 'akash', fundUnits: 1_200_000n }]);
    });

    test('an escrow still being opened gets the (idempotent) open step again, never a top-up', () => {
      const s = steps(renderJob(), [ledger('akash', { live: 1, expectedMicros: 1_000_000n })], [escrow('akash', 'Opening')]);
      expect(s).toEqual([{ kind: 'open', provider: 'akash', fundUnits: 2_000_000n }]);
    });

    test('no escrow for an untrusted provider or one with nothing placed', () => {
      expect(steps(renderJob(), [ledger('akash', { untrusted: true, live: 1, expectedMicros: 1_000_000n }), ledger('render', { placed: 0 })])).toEqual([]);
    });

    test('one step per provider, in provider order', () => {
      const s = steps(renderJob(), [ledger('vast', { live: 1, expectedMicros: 1n }), ledger('akash', { live: 1, expectedMicros: 1n })]);
      expect(s.map((x) => x.provider)).toEqual(['akash', 'vast']);
    });
  });

  describe('once the job is finished', () => {
    const owed = (x: Partial<ProviderLedger> = {}) => ledger('akash', { owedUnits: 1_300_000n, paidShards: [0, 1], resultDigest: D('d'), ...x });

    test.each([
      ['Succeeded', renderJob({ phase: 'Succeeded' })],
      ['Failed', renderJob({ phase: 'Failed' })],
      ['being deleted', renderJob({ phase: 'Running', deleting: true })],
    ])('%s: a funded open escrow is released with the ledger\'s digest', (_, job) => {
      expect(finished(job)).toBe(true);
      expect(steps(job, [owed()], [escrow('akash', 'Open')], { akash: 2_000_000n })).toEqual([{ kind: 'release', provider: 'akash', owedUnits: 1_300_000n, resultDigest: D('d') }]);
    });

    test('a running job is not finished', () => {
      expect(finished(renderJob())).toBe(false);
    });

    test('owed more than funded: topped up to what is owed first', () => {
      expect(steps(renderJob({ phase: 'Succeeded' }), [owed()], [escrow('akash', 'Open')], { akash: 1_000_000n })).toEqual([{ kind: 'topUp', provider: 'akash', fundUnits: 1_300_000n }]);
    });

    test('owed with no escrow yet: opened for what is owed', () => {
      expect(steps(renderJob({ phase: 'Succeeded' }), [owed()])).toEqual([{ kind: 'open', provider: 'akash', fundUnits: 1_300_000n }]);
    });

    test('a release that was started is carried on', () => {
      expect(steps(renderJob({ phase: 'Succeeded' }), [owed()], [escrow('akash', 'Releasing')], { akash: 2_000_000n })).toEqual([{ kind: 'release', provider: 'akash', owedUnits: 1_300_000n, resultDigest: D('d') }]);
    });

    test('nothing owed: the escrow is refunded; without one nothing happens', () => {
      const l = ledger('akash', { placed: 2 });
      expect(steps(renderJob({ phase: 'Succeeded' }), [l], [escrow('akash', 'Open')], { akash: 2_000_000n })).toEqual([{ kind: 'refund', provider: 'akash', withheld: false }]);
      expect(steps(renderJob({ phase: 'Succeeded' }), [l], [escrow('akash', 'Opening')])).toEqual([{ kind: 'refund', provider: 'akash', withheld: false }]);
      expect(steps(renderJob({ phase: 'Succeeded' }), [l])).toEqual([]);
    });

    test('an untrusted provider\'s escrow is refunded as withheld, whatever its ledger says', () => {
      const l = owed({ untrusted: true });
      expect(steps(renderJob({ phase: 'Succeeded' }), [l], [escrow('akash', 'Open')], { akash: 2_000_000n })).toEqual([{ kind: 'refund', provider: 'akash', withheld: true }]);
      expect(steps(renderJob({ phase: 'Succeeded' }), [l])).toEqual([]);
    });

    test.each([
      ['a live attempt', { live: 1 }],
      ['a pending spot check', { checking: 1 }],
    ])('%s at the provider holds its settlement', (_, x) => {
      const s = steps(renderJob({ phase: 'Succeeded', deleting: true }), [owed(x), ledger('render', { owedUnits: 5n, resultDigest: D('e') })], [escrow('akash', 'Open'), escrow('render', 'Open')], { akash: 2_000_000n, render: 5n });
      expect(s).toEqual([{ kind: 'release', provider: 'render', owedUnits: 5n, resultDigest: D('e') }]);
    });

    test.each(['Released', 'Refunded', 'Withheld'] as const)('a %s escrow gets no further step', (state) => {
      expect(steps(renderJob({ phase: 'Succeeded' }), [owed()], [escrow('akash', state)], { akash: 2_000_000n })).toEqual([]);
      expect(steps(renderJob({ phase: 'Succeeded' }), [owed({ untrusted: true })], [escrow('akash', state)], { akash: 2_000_000n })).toEqual([]);
      expect(steps(renderJob(), [ledger('akash', { live: 1, expectedMicros: 9_000_000n })], [escrow('akash', state)], { akash: 1n })).toEqual([]);
    });
  });

  test('from records to steps: the ledger\'s owed amount and digest are what is released', () => {
    const rs = [done(0, 'akash', '1.00', 'Verified', '800000'), done(1, 'akash', '0.50', 'Skipped', '900000'), done(2, 'akash', '0.50', 'Skipped')];
    const led = ledgers({ records: rs, tokenDecimals: 6, estimateMicros: () => 0n });
    const s = steps(renderJob({ phase: 'Succeeded' }), [...led.values()], [escrow('akash', 'Open')], { akash: 4_000_000n });
    expect(s).toEqual([{ kind: 'release', provider: 'akash', owedUnits: 1_300_000n, resultDigest: releaseDigest([{ index: 0, digest: D('0') }, { index: 1, digest: D('1') }]) }]);
    // while akash still has a spot check pending, nothing is released
    const checking = ledgers({ records: [...rs, done(3, 'akash', '0.50', 'Pending', '500000')], tokenDecimals: 6, estimateMicros: () => 0n });
    expect(steps(renderJob({ phase: 'Succeeded' }), [...checking.values()], [escrow('akash', 'Open')], { akash: 4_000_000n })).toEqual([]);
  });

  test('a shard whose bill could not be read is owed nothing yet and keeps the escrow open (never released on a cost of 0)', () => {
    // Before: getCost failures were swallowed, remoteCost stayed 0, and release paid min(claim, 0) = 0.
    const pending = rec(3, { ...done(3, 'akash', '0', 'Skipped', '700000').status, costPending: true });
    const rs = [done(0, 'akash', '1.00', 'Verified', '800000'), pending];
    const led = ledgers({ records: rs, tokenDecimals: 6, estimateMicros: () => 0n }).get('akash')!;
    expect(led).toMatchObject({ checking: 1, costPending: 1, owedUnits: 800_000n, paidShards: [0] });
    expect(steps(renderJob({ phase: 'Succeeded' }), [led], [escrow('akash', 'Open')], { akash: 4_000_000n })).toEqual([]);
    expect(steps(renderJob({ phase: 'Succeeded', deleting: true }), [led], [escrow('akash', 'Open')], { akash: 4_000_000n })).toEqual([]);
    // once the bill is read, the shard is paid the smaller of its cost and its claim
    const known = rec(3, { ...pending.status, costPending: undefined, remoteCost: '0.60' });
    const after = ledgers({ records: [rs[0]!, known], tokenDecimals: 6, estimateMicros: () => 0n }).get('akash')!;
    expect(after).toMatchObject({ checking: 0, owedUnits: 800_000n + 600_000n, paidShards: [0, 3] });
  });

  describe('a Succeeded job whose shards may still run elsewhere closes no trusted escrow (found by test/data/burst.test.ts)', () => {
    // burst-s under load: both shards Succeeded (shard 0 at tamper, shard 1 at honest), the job
    // Succeeded; then shard 0's sealed output was rejected on delivery (verification Failed at tamper),
    // discarded and run again at honest. honest's escrow, released at 556 for shard 1 alone before the
    // re-run, stayed closed: the re-run was never paid (paid 556 of 1112).
    const sealed = (delivered: number[]) => (index: number) => !delivered.includes(index);
    const tamperRejected = rec(0, { ...done(0, 'tamper', '0.000278', undefined, '611').status, verification: { state: 'Failed', provider: 'tamper', message: 'output rejected on delivery' } });
    const honest1 = done(1, 'honest', '0.000556', 'Skipped', '611');
    const discarded = rec(0, { ...tamperRejected.status, phase: 'Pending', result: undefined, idempotencyKey: undefined });
    const rerunLive = rec(0, { ...discarded.status, provider: 'honest', phase: 'Running', idempotencyKey: 'u1-0-2', remoteId: 'r-2', verification: undefined });
    const rerunDone = rec(0, { ...done(0, 'honest', '0.000834', 'Skipped', '611').status, result: { ...done(0, 'honest', '0.000834', 'Skipped', '611').status.result, cost: '0.000556' } });
    test.each([
      // [case, shard 0's record, delivered indexes, moving shards, steps for honest]
      ['shard 0 rejected on delivery, not yet discarded (the job status still says Succeeded)', tamperRejected, [1], 1, []],
      ['shard 0 discarded, Pending again (the job status not updated yet)', discarded, [1], 1, []],
      ['shard 0 running again at honest', rerunLive, [1], 1, []],
      ['shard 0 done at honest, not delivered yet', rerunDone, [1], 1, []],
      ['shard 0 done at honest and delivered: both runs released', rerunDone, [0, 1], 0, [{ kind: 'release', provider: 'honest', owedUnits: 1112n }]],
    ])('%s', (_case, shard0, delivered, moving, want) => {
      const records = [shard0 as ShardRecord, honest1];
      const undelivered = sealed(delivered as number[]);
      expect(movingShards({ records, undelivered })).toBe(moving);
      const led = ledgers({ records, tokenDecimals: 6, estimateMicros: () => 556n, undelivered });
      const i: StepInput = {
        job: renderJob({ phase: 'Succeeded' }), tokenDecimals: 6, ledgers: led, moving: moving as number,
        escrows: new Map([['honest', escrow('honest', 'Open')], ['tamper', escrow('tamper', 'Open')]]), fundedUnits: () => 2224n,
      };
      const got = nextSteps(i);
      expect(got.filter((x) => x.provider === 'honest').map((x) => ({ kind: x.kind, provider: x.provider, ...('owedUnits' in x ? { owedUnits: x.owedUnits } : {}) }))).toEqual(want);
    });

    test('a Failed or deleted job places nothing new: its escrows close as before', () => {
      const led = ledgers({ records: [tamperRejected, honest1], tokenDecimals: 6, estimateMicros: () => 0n });
      for (const job of [renderJob({ phase: 'Failed' }), renderJob({ phase: 'Succeeded', deleting: true })]) {
        const got = nextSteps({ job, tokenDecimals: 6, ledgers: led, moving: 1, escrows: new Map([['honest', escrow('honest', 'Open')]]), fundedUnits: () => 2224n });
        expect(got).toEqual([expect.objectContaining({ kind: 'release', provider: 'honest', owedUnits: 556n })]);
      }
    });

    test('one unreadable bill does not hold the other providers (it is not a shard that moves)', () => {
      const pending = rec(0, { ...done(0, 'akash', '0', 'Skipped', '700000').status, costPending: true });
      expect(movingShards({ records: [pending, honest1] })).toBe(0);
    });
  });
});
