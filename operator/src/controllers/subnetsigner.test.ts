// The subnet result signer against in-memory caches and a recording writer: what it signs (checked
// with verifyResult, the origin's own check), when it signs nothing, the exact token amount, and a
// payout key that never shows up in what it writes, logs or records. test/providers/subnet-signing
// runs it inside the real operator on a peer cluster.
import { Wallet, getAddress } from 'ethers';
import type { RenderJob, RenderShard, ShardResultSigned } from '../api/index.js';
import { outputsDigest } from '../providers/results.js';
import { SETTLEMENT_ANNOTATIONS } from '../providers/subnet/names.js';
import { verifyResult } from '../settlement/results.js';
import { SubnetSigner, loadPayoutWallet, needsSignature, tokenUnits } from './subnetsigner.js';

const KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';
const wallet = new Wallet(KEY);
const ESCROW = getAddress('0x' + '5f'.repeat(20));
const OUTPUTS = [{ uri: 's3://renders/b/0002.exr', sha256: 'b'.repeat(64) }, { uri: 's3://renders/b/0001.exr', sha256: 'a'.repeat(64) }];

function job(o: { annotations?: Record<string, string>; labels?: Record<string, string>; count?: number } = {}): RenderJob {
  return {
    apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderJob',
    metadata: {
      name: 'sweep-3-abc', namespace: 'shared', uid: 'peer-uid',
      labels: o.labels ?? { 'atelier.dev/origin-shard': '3' },
      annotations: o.annotations ?? {
        'atelier.dev/origin-job-uid': 'origin-uid', [SETTLEMENT_ANNOTATIONS.chainId]: '31337', [SETTLEMENT_ANNOTATIONS.escrow]: ESCROW.toLowerCase(), [SETTLEMENT_ANNOTATIONS.tokenDecimals]: '6',
      },
    },
    spec: { template: { image: 'x', resources: { limits: { 'nvidia.com/gpu': 1 } } }, shards: { count: o.count ?? 1 } },
  } as RenderJob;
}

function shard(o: { phase?: string; cost?: string; digest?: string; signed?: ShardResultSigned; index?: number } = {}): RenderShard {
  return {
    apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderShard',
    metadata: { name: 'sweep-3-abc-0', namespace: 'shared', uid: 'shard-uid', resourceVersion: '42' },
    spec: { jobName: 'sweep-3-abc', index: o.index ?? 0 },
    status: {
      phase: (o.phase ?? 'Succeeded') as 'Succeeded',
      result: { outputs: OUTPUTS, ...(o.digest ? { digest: o.digest } : {}), ...(o.signed ? { signed: o.signed } : {}) },
      ...('cost' in o ? (o.cost === undefined ? {} : { cost: o.cost }) : { cost: '0.001111' }),
    },
  } as RenderShard;
}

function setup(s: RenderShard | undefined, j: RenderJob | null = job()) {
  const writes: { ns: string; name: string; rv?: string; result: { digest: string; signed: ShardResultSigned } }[] = [];
  const events: string[] = [];
  const logs: string[] = [];
  const log = (level: string) => (m: string, f?: Record<string, unknown>) => { logs.push(`${level} ${m} ${JSON.stringify(f)}`); };
  const signer = new SubnetSigner({
    shards: { get: (_ns, n) => (s && s.metadata.name === n ? s : undefined) },
    jobs: { get: (_ns, n) => (j && j.metadata.name === n ? j : undefined) },
    signer: wallet, address: wallet.address,
    writer: { patchSignedResult: async (ns, name, rv, result) => { writes.push({ ns, name, ...(rv ? { rv } : {}), result }); } },
    recorder: { event: (_o, type, reason, message) => { events.push(`${type} ${reason} ${message}`); } },
    log: { error: log('error'), warn: log('warn'), info: log('info'), debug: log('debug') },
  });
  return { signer, writes, events, logs };
}

test('a Succeeded shard of a settled peer job is signed for the origin job and shard, at its cost in token units', async () => {
  const { signer, writes, events, logs } = setup(shard());
  expect(await signer.reconcile('shared/sweep-3-abc-0')).toEqual({});
  expect(writes).toHaveLength(1);
  const w = writes[0]!;
  expect(w).toMatchObject({ ns: 'shared', name: 'sweep-3-abc-0', rv: '42' });
  expect(w.result.digest).toBe(outputsDigest(OUTPUTS));
  expect(w.result.signed).toMatchObject({ jobUid: 'origin-uid', shardIndex: 3, resultDigest: `0x${outputsDigest(OUTPUTS)}`, amountClaimed: '1111', chainId: '31337', verifyingContract: ESCROW });
  const check = verifyResult(w.result.signed, wallet.address, { jobUid: 'origin-uid', shardIndex: 3, domain: { chainId: 31337n, verifyingContract: ESCROW }, outputs: OUTPUTS });
  expect(check).toEqual({ ok: true, signer: wallet.address });
  expect(events).toEqual([expect.stringMatching(/^Normal ResultSigned signed by 0x/)]);
  // deterministic: signing the same shard again gives the same bytes
  const again = setup(shard());
  await again.signer.reconcile('shared/sweep-3-abc-0');
  expect(again.writes[0]!.result.signed.signature).toBe(w.result.signed.signature);
  const all = JSON.stringify({ writes, events, logs });
  expect(all).not.toContain(KEY.slice(2));
});

test.each([
  ['the shard is not Succeeded', () => setup(shard({ phase: 'Running' }))],
  ['the result is already signed', () => setup(shard({ signed: { jobUid: 'x', shardIndex: 0, resultDigest: '0x', amountClaimed: '0', chainId: '1', verifyingContract: '0x', signature: '0x' } }))],
  ['the job asks for no signature', () => setup(shard(), job({ annotations: { 'atelier.dev/origin-job-uid': 'origin-uid' } }))],
  ['the cost is not recorded yet', () => setup(shard({ cost: undefined }))],
  ['the shard is gone', () => setup(undefined)],
])('nothing is written when %s', async (_what, make) => {
  const { signer, writes, events } = make();
  expect(await signer.reconcile('shared/sweep-3-abc-0')).toEqual({});
  expect(writes).toEqual([]);
  expect(events).toEqual([]);
});

test('a shard whose job is not cached yet is looked at again shortly', async () => {
  const { signer, writes } = setup(shard(), null);
  expect((await signer.reconcile('shared/sweep-3-abc-0')).requeueAfterMs).toBeGreaterThan(0);
  expect(writes).toEqual([]);
});

test.each([
  ['incomplete settlement annotations', () => setup(shard(), job({ annotations: { 'atelier.dev/origin-job-uid': 'u', [SETTLEMENT_ANNOTATIONS.chainId]: '1' } })), /incomplete/],
  ['an escrow with a bad checksum', () => setup(shard(), job({ annotations: { 'atelier.dev/origin-job-uid': 'u', [SETTLEMENT_ANNOTATIONS.chainId]: '1', [SETTLEMENT_ANNOTATIONS.escrow]: ESCROW.slice(0, 41) + (ESCROW.endsWith('F') ? 'f' : 'F'), [SETTLEMENT_ANNOTATIONS.tokenDecimals]: '6' } })), /escrowAddress/],
  ['a job with several shards', () => setup(shard({ index: 1 }), job({ count: 2 })), /exactly one shard/],
  ['a recorded digest that is not the outputs\'', () => setup(shard({ digest: 'f'.repeat(64) })), /not the outputs' digest/],
])('%s: not signed, with a Warning event', async (_what, make, why) => {
  const { signer, writes, events } = make();
  expect(await signer.reconcile('shared/sweep-3-abc-0')).toEqual({});
  expect(writes).toEqual([]);
  expect(events).toEqual([expect.stringMatching(why)]);
  expect(events[0]).toMatch(/^Warning ResultNotSigned/);
});

test.each([
  ['0.001111', 6, 1111n],
  ['2.50', 18, 2_500_000_000_000_000_000n],
  ['1.999999', 2, 199n],
  ['0.000001', 0, 0n],
  ['12.00', 0, 12n],
  ['0.00', 6, 0n],
])('tokenUnits(%s USD, %i decimals) = %s', (usd, decimals, want) => {
  expect(tokenUnits(usd, decimals)).toBe(want);
});

test('needsSignature: Succeeded and not yet signed', () => {
  expect(needsSignature(shard())).toBe(true);
  expect(needsSignature(shard({ phase: 'Running' }))).toBe(false);
  expect(needsSignature(shard({ signed: { jobUid: 'x', shardIndex: 0, resultDigest: '0x', amountClaimed: '0', chainId: '1', verifyingContract: '0x', signature: '0x' } }))).toBe(false);
});

describe('loadPayoutWallet', () => {
  const ref = { namespace: 'atelier-system', name: 'payout', key: 'privateKey' };
  test('with or without 0x, surrounding whitespace ignored', async () => {
    expect((await loadPayoutWallet(async () => `${KEY}\n`, ref)).address).toBe(wallet.address);
    expect((await loadPayoutWallet(async () => KEY.slice(2), ref)).address).toBe(wallet.address);
  });
  test('a value that is not a key is an error that does not quote it', async () => {
    const almost = KEY.slice(0, -1) + 'g';
    await expect(loadPayoutWallet(async () => almost, ref)).rejects.toThrow('Secret atelier-system/payout key privateKey does not hold a private key (32 bytes, hex)');
    await expect(loadPayoutWallet(async () => almost, ref)).rejects.not.toThrow(almost.slice(2, 20));
    await expect(loadPayoutWallet(async () => '0x' + '0'.repeat(64), ref)).rejects.toThrow(/does not hold a private key/);
  });
  test('a Secret that cannot be read names the Secret', async () => {
    await expect(loadPayoutWallet(async () => { throw new Error('HTTP 404: secrets "payout" not found'); }, ref)).rejects.toThrow('reading the payout key Secret atelier-system/payout: HTTP 404');
  });
});
