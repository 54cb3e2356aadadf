// EIP-712 result signatures checked by an independent implementation: every signature the operator
// accepts (verifyResult in operator/src/settlement/results.ts) is also recovered by viem
// (recoverTypedDataAddress, its own hashing and secp256k1 code, not ethers') to the same signer, and
// viem's typed-data hash equals the one ethers signs. It runs over every signing path: the operator's
// signResult, the provider fakes' signShardReport (test/fakes/server.ts, which Akash, Render and Chutes
// use) and the subnet peer's SubnetSigner (operator/src/controllers/subnetsigner.ts), across edge values
// (uint32 and uint256 bounds, unicode job uids, upper-case digests, chain ids beyond 2^53). Rejections
// agree too: a tampered field the operator refuses, viem does not recover to the payout address;
// a malleated (high-s) signature is refused.
import { describe, expect, it } from '@jest/globals';
import { Signature, TypedDataEncoder, Wallet, getAddress } from 'ethers';
import { hashTypedData, recoverTypedDataAddress, type Hex } from 'viem';
import type { RenderJob, RenderShard, ShardResultSigned } from '../../operator/src/api/index.js';
import { SubnetSigner } from '../../operator/src/controllers/subnetsigner.js';
import { outputsDigest } from '../../operator/src/providers/results.js';
import { SETTLEMENT_ANNOTATIONS } from '../../operator/src/providers/subnet/names.js';
import {
  RESULT_DOMAIN_NAME,
  RESULT_DOMAIN_VERSION,
  SHARD_RESULT_TYPES,
  resultDomain,
  signResult,
  verifyResult,
  type SignedShardResult,
} from '../../operator/src/settlement/results.js';
import { signShardReport } from './server.js';

// Deterministic keys (derived, not random), so a failure reproduces.
const wallets = Array.from({ length: 4 }, (_, i) => new Wallet('0x' + (i + 1).toString(16).padStart(2, '0').repeat(32)));
const ESCROWS = [getAddress('0x' + '5f'.repeat(20)), getAddress('0x' + 'e7'.repeat(20)), '0x000000000000000000000000000000000000dEaD'];
const OUTPUTS = [{ uri: 's3://renders/b/0002.exr', sha256: 'B'.repeat(64) }, { uri: 's3://renders/b/0001.exr', sha256: 'a'.repeat(64) }];
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** What viem makes of a signed result: the signer it recovers, and its EIP-712 hash. */
async function viemView(r: SignedShardResult): Promise<{ signer: string; hash: string }> {
  const typed = {
    domain: { name: RESULT_DOMAIN_NAME, version: RESULT_DOMAIN_VERSION, chainId: BigInt(r.chainId), verifyingContract: r.verifyingContract as Hex },
    types: { ShardResult: SHARD_RESULT_TYPES.ShardResult!.map((f) => ({ name: f.name, type: f.type })) },
    primaryType: 'ShardResult' as const,
    message: { jobUid: r.jobUid, shardIndex: r.shardIndex, resultDigest: r.resultDigest as Hex, amountClaimed: BigInt(r.amountClaimed) },
  };
  return { signer: getAddress(await recoverTypedDataAddress({ ...typed, signature: r.signature as Hex })), hash: hashTypedData(typed) };
}

function ethersHash(r: SignedShardResult): string {
  return TypedDataEncoder.hash(resultDomain({ chainId: BigInt(r.chainId), verifyingContract: r.verifyingContract }), SHARD_RESULT_TYPES, {
    jobUid: r.jobUid, shardIndex: r.shardIndex, resultDigest: r.resultDigest, amountClaimed: BigInt(r.amountClaimed),
  });
}

/** The operator accepts `r` from `payout`, and viem recovers the same signer from the same hash. */
async function expectBothAccept(r: SignedShardResult, payout: string): Promise<void> {
  const outcome = verifyResult(r, payout, { domain: { chainId: BigInt(r.chainId), verifyingContract: r.verifyingContract } });
  expect(outcome).toEqual({ ok: true, signer: getAddress(payout) });
  const v = await viemView(r);
  expect(v.signer).toBe(getAddress(payout));
  expect(v.hash).toBe(ethersHash(r));
}

const signedByOperatorCode: Array<[string, number, { chainId: bigint; escrow: string }, { jobUid: string; shardIndex: number; resultDigest: string; amountClaimed: bigint }]> = [
  ['an ordinary result', 0, { chainId: 31337n, escrow: ESCROWS[0]! }, { jobUid: '6f1c2a4e-8d0b-4c57-9a0e-2b1f3c4d5e6f', shardIndex: 7, resultDigest: '0x' + outputsDigest(OUTPUTS), amountClaimed: 1_250_000n }],
  ['the largest shard index and claim', 1, { chainId: 8453n, escrow: ESCROWS[1]! }, { jobUid: 'u', shardIndex: 0xffffffff, resultDigest: '0x' + 'f'.repeat(64), amountClaimed: (1n << 256n) - 1n }],
  ['shard 0 claiming nothing', 2, { chainId: 1n, escrow: ESCROWS[2]! }, { jobUid: 'job', shardIndex: 0, resultDigest: '0x' + '0'.repeat(64), amountClaimed: 0n }],
  ['a unicode job uid and an upper-case digest', 3, { chainId: 11155111n, escrow: ESCROWS[0]! }, { jobUid: 'rendu-é-✓-日本', shardIndex: 42, resultDigest: '0x' + 'AB'.repeat(32), amountClaimed: 10n ** 18n }],
  ['a chain id beyond 2^53', 0, { chainId: (1n << 60n) + 3n, escrow: ESCROWS[1]! }, { jobUid: 'x'.repeat(300), shardIndex: 65536, resultDigest: '0x' + '12'.repeat(32), amountClaimed: 123456789n }],
];

describe('operator signResult', () => {
  it.each(signedByOperatorCode)('%s: the operator and viem agree on the signer', async (_what, w, d, result) => {
    const wallet = wallets[w]!;
    const signed = await signResult(wallet, { chainId: d.chainId, verifyingContract: d.escrow }, result);
    await expectBothAccept(signed, wallet.address);
  });
});

describe('provider fakes signShardReport (Akash, Render, Chutes)', () => {
  it.each([
    ['6-decimal token', '6', '0.004321', 4321n],
    ['18-decimal token', '18', '1.5', 1_500_000_000_000_000_000n],
    ['0-decimal token', '0', '3.99', 3n],
  ])('%s: signed with the fake payout key, accepted by both', async (_what, decimals, cost, units) => {
    const wallet = wallets[2]!;
    const env = {
      ATELIER_JOB_UID: 'origin-job-uid', ATELIER_SHARD_INDEX: '12', ATELIER_SETTLEMENT_CHAIN_ID: '31337',
      ATELIER_SETTLEMENT_ESCROW: ESCROWS[0]!.toLowerCase(), ATELIER_SETTLEMENT_TOKEN_DECIMALS: decimals,
    };
    const signed = await signShardReport(wallet, env, OUTPUTS, () => cost);
    expect(signed).toBeDefined();
    expect(BigInt(signed!.amountClaimed)).toBe(units);
    expect(verifyResult(signed!, wallet.address, { jobUid: 'origin-job-uid', shardIndex: 12, outputs: OUTPUTS }).ok).toBe(true);
    await expectBothAccept(signed!, wallet.address);
  });
});

describe('subnet peer SubnetSigner', () => {
  it('signs a settled peer shard; the origin (verifyResult) and viem agree on the signer', async () => {
    const wallet = wallets[3]!;
    const job = {
      apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderJob',
      metadata: {
        name: 'sweep-3-abc', namespace: 'shared', uid: 'peer-uid', labels: { 'atelier.dev/origin-shard': '3' },
        annotations: { 'atelier.dev/origin-job-uid': 'origin-uid', [SETTLEMENT_ANNOTATIONS.chainId]: '8453', [SETTLEMENT_ANNOTATIONS.escrow]: ESCROWS[1]!, [SETTLEMENT_ANNOTATIONS.tokenDecimals]: '6' },
      },
      spec: { template: { image: 'x', resources: { limits: { 'nvidia.com/gpu': 1 } } }, shards: { count: 1 } },
    } as RenderJob;
    const shard = {
      apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderShard',
      metadata: { name: 'sweep-3-abc-0', namespace: 'shared', uid: 'shard-uid', resourceVersion: '7' },
      spec: { jobName: 'sweep-3-abc', index: 0 },
      status: { phase: 'Succeeded', result: { outputs: OUTPUTS }, cost: '2.500001' },
    } as RenderShard;
    const written: ShardResultSigned[] = [];
    const quiet = () => undefined;
    const signer = new SubnetSigner({
      shards: { get: (_ns, n) => (n === shard.metadata.name ? shard : undefined) },
      jobs: { get: (_ns, n) => (n === job.metadata.name ? job : undefined) },
      signer: wallet, address: wallet.address,
      writer: { patchSignedResult: async (_ns, _n, _rv, result) => void written.push(result.signed) },
      recorder: { event: quiet },
      log: { error: quiet, warn: quiet, info: quiet, debug: quiet },
    });
    await signer.reconcile('shared/sweep-3-abc-0');
    expect(written).toHaveLength(1);
    const signed = written[0]! as SignedShardResult;
    expect(signed).toMatchObject({ jobUid: 'origin-uid', shardIndex: 3, amountClaimed: '2500001', chainId: '8453' });
    expect(verifyResult(signed, wallet.address, { jobUid: 'origin-uid', shardIndex: 3, outputs: OUTPUTS }).ok).toBe(true);
    await expectBothAccept(signed, wallet.address);
  });
});

describe('rejections agree', () => {
  const base = async () => signResult(wallets[0]!, { chainId: 31337n, verifyingContract: ESCROWS[0]! }, signedByOperatorCode[0]![3]);

  it.each<[string, (s: SignedShardResult) => SignedShardResult]>([
    ['a raised claim', (s) => ({ ...s, amountClaimed: (BigInt(s.amountClaimed) + 1n).toString() })],
    ['another shard', (s) => ({ ...s, shardIndex: s.shardIndex + 1 })],
    ['another job', (s) => ({ ...s, jobUid: s.jobUid + 'x' })],
    ['another digest', (s) => ({ ...s, resultDigest: '0x' + 'c'.repeat(64) })],
    ['another escrow', (s) => ({ ...s, verifyingContract: ESCROWS[1]! })],
    ['another chain', (s) => ({ ...s, chainId: '1' })],
  ])('%s: the operator refuses it and viem recovers someone else', async (_what, tamper) => {
    const payout = wallets[0]!.address;
    const t = tamper(await base());
    expect(verifyResult(t, payout).ok).toBe(false);
    expect((await viemView(t)).signer).not.toBe(payout);
  });

  it('a malleated (high-s) signature of a good result is refused by the operator', async () => {
    const s = await base();
    const sig = Signature.from(s.signature);
    const highS = (SECP256K1_N - BigInt(sig.s)).toString(16).padStart(64, '0');
    const malleated = sig.r + highS + (sig.v === 27 ? '1c' : '1b');
    // The same point, so an implementation that allows high s (EIP-2 forbids it) recovers the payout key.
    expect(verifyResult({ ...s, signature: malleated }, wallets[0]!.address).ok).toBe(false);
  });
});
