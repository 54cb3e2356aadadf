// Unit tests for shard results: the canonical JSON and digest of an outputs list (order, case and
// formatting do not change it; content does; pinned to a literal), and EIP-712 signing: the type string
// is exactly the documented one, a signature recovers to its key, and verification rejects a wrong key,
// a tampered field, another deployment's domain, other outputs and an excessive claim.
import { describe, expect, it } from '@jest/globals';
import { TypedDataEncoder, Wallet, keccak256, toUtf8Bytes } from 'ethers';
import {
  SHARD_RESULT_TYPES,
  canonicalJson,
  canonicalOutputs,
  recoverResultSigner,
  resultDigest,
  signResult,
  verifyResult,
  type OutputRef,
  type ShardResult,
} from './results.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const outA = { uri: 's3://renders/a.png', sha256: A };
const outB = { uri: 's3://renders/b.png', sha256: B };

describe('canonicalJson', () => {
  it.each<[unknown, string]>([
    [{ b: 1, a: [true, null, 'x'] }, '{"a":[true,null,"x"],"b":1}'],
    [{ z: { y: 1, x: 2 }, é: 'ü', A: 1 }, '{"A":1,"z":{"x":2,"y":1},"é":"ü"}'],
    [{ a: undefined, b: 1.5e-7 }, '{"b":1.5e-7}'],
    [['\u2028', 'q"uote'], '["\u2028","q\\"uote"]'],
    [Object.assign(Object.create(null) as object, { k: 1 }), '{"k":1}'],
  ])('%j -> %s', (v, s) => {
    expect(canonicalJson(v)).toBe(s);
  });

  it.each([[NaN], [Infinity], [10n], [new Date(0)], [() => 1]])('rejects %p', (v) => {
    expect(() => canonicalJson(v)).toThrow();
  });
});

describe('resultDigest', () => {
  it('is sha256 over the canonical JSON of the outputs sorted by uri (pinned)', () => {
    expect(canonicalOutputs([outB, outA])).toBe(`[{"sha256":"${A}","uri":"s3://renders/a.png"},{"sha256":"${B}","uri":"s3://renders/b.png"}]`);
    expect(resultDigest([outB, outA])).toBe('0x5e4dfbf854d74f99b6c8f48644da66f9ff6b178598f607f623b6673b598864b7');
  });

  it('ignores list order, key order and hex case', () => {
    const reordered = [{ sha256: B.toUpperCase(), uri: outB.uri }, { sha256: A, uri: outA.uri }];
    expect(resultDigest(reordered)).toBe(resultDigest([outA, outB]));
  });

  it('sorts by UTF-16 code units, not locale', () => {
    const outs = [{ uri: 's3://r/a', sha256: A }, { uri: 's3://r/B', sha256: B }, { uri: 's3://r/Ä', sha256: A }];
    expect(JSON.parse(canonicalOutputs(outs)).map((o: OutputRef) => o.uri)).toEqual(['s3://r/B', 's3://r/a', 's3://r/Ä']);
  });

  it.each<[string, OutputRef[]]>([
    ['another hash', [outA, { ...outB, sha256: 'c'.repeat(64) }]],
    ['another uri', [outA, { ...outB, uri: 's3://renders/c.png' }]],
    ['a missing output', [outA]],
    ['an extra field', [outA, { ...outB, size: 10 } as OutputRef]],
  ])('changes with %s', (_what, outs) => {
    expect(resultDigest(outs)).not.toBe(resultDigest([outA, outB]));
  });

  it('covers the empty list', () => {
    expect(resultDigest([])).toBe('0x4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945'); // sha256("[]")
  });

  it.each<[string, unknown[]]>([
    ['a duplicate uri', [outA, { ...outA, sha256: B }]],
    ['a short hash', [{ uri: 'x', sha256: 'abc' }]],
    ['a 0x-prefixed hash', [{ uri: 'x', sha256: '0x' + A.slice(2) }]],
    ['an empty uri', [{ uri: '', sha256: A }]],
  ])('rejects %s', (_what, outs) => {
    expect(() => resultDigest(outs as OutputRef[])).toThrow();
  });
});

describe('EIP-712 shard results', () => {
  const provider = new Wallet(keccak256(toUtf8Bytes('atelier test provider key')));
  const impostor = new Wallet(keccak256(toUtf8Bytes('atelier test impostor key')));
  const domain = { chainId: 31337, verifyingContract: '0x5FbDB2315678afecb367f032d93F642f64180aa3' };
  const result: ShardResult = { jobUid: 'uid-1', shardIndex: 7, resultDigest: resultDigest([outA, outB]), amountClaimed: 2_500_000n };

  it('uses exactly the documented type', () => {
    expect(TypedDataEncoder.from(SHARD_RESULT_TYPES).encodeType('ShardResult')).toBe(
      'ShardResult(string jobUid,uint32 shardIndex,bytes32 resultDigest,uint256 amountClaimed)',
    );
  });

  it('recovers the signing key and verifies against the payout address', async () => {
    const signed = await signResult(provider, domain, result);
    expect(signed).toMatchObject({ amountClaimed: '2500000', chainId: '31337', verifyingContract: domain.verifyingContract });
    expect(recoverResultSigner(domain, signed, signed.signature)).toBe(provider.address);
    expect(verifyResult(signed, provider.address.toLowerCase(), { domain, jobUid: 'uid-1', shardIndex: 7, outputs: [outB, outA], maxAmountClaimed: 2_500_000n }))
      .toEqual({ ok: true, signer: provider.address });
    // The signed form survives JSON transport.
    expect(verifyResult(JSON.parse(JSON.stringify(signed)), provider.address).ok).toBe(true);
  });

  it('rejects a signature by the wrong key', async () => {
    const forged = await signResult(impostor, domain, result);
    expect(verifyResult(forged, provider.address)).toMatchObject({ ok: false, reason: 'WrongSigner' });
  });

  it.each<[string, object]>([
    ['amount', { amountClaimed: '2500001' }],
    ['shard', { shardIndex: 8 }],
    ['job', { jobUid: 'uid-2' }],
    ['digest', { resultDigest: resultDigest([outA]) }],
    ['chain', { chainId: '1' }],
  ])('rejects a tampered %s', async (_what, change) => {
    const signed = await signResult(provider, domain, result);
    expect(verifyResult({ ...signed, ...change }, provider.address)).toMatchObject({ ok: false, reason: 'WrongSigner' });
  });

  it('checks the expectations it is given', async () => {
    const signed = await signResult(provider, domain, result);
    const check = (expect_: Parameters<typeof verifyResult>[2]) => verifyResult(signed, provider.address, expect_);
    expect(check({ domain: { ...domain, verifyingContract: '0x' + '12'.repeat(20) } })).toMatchObject({ ok: false, reason: 'WrongDomain' });
    expect(check({ domain: { ...domain, chainId: 1 } })).toMatchObject({ ok: false, reason: 'WrongDomain' });
    expect(check({ jobUid: 'uid-9' })).toMatchObject({ ok: false, reason: 'WrongJob' });
    expect(check({ shardIndex: 0 })).toMatchObject({ ok: false, reason: 'WrongShard' });
    expect(check({ outputs: [outA] })).toMatchObject({ ok: false, reason: 'DigestMismatch' });
    expect(check({ maxAmountClaimed: 2_499_999n })).toMatchObject({ ok: false, reason: 'AmountTooHigh' });
  });

  it('reports malformed input and garbage signatures without throwing', async () => {
    const signed = await signResult(provider, domain, result);
    expect(verifyResult({ ...signed, shardIndex: -1 }, provider.address)).toMatchObject({ ok: false, reason: 'Malformed' });
    expect(verifyResult({ ...signed, amountClaimed: '1.5' }, provider.address)).toMatchObject({ ok: false, reason: 'Malformed' });
    expect(verifyResult(signed, 'not-an-address')).toMatchObject({ ok: false, reason: 'Malformed' });
    expect(verifyResult({ ...signed, signature: '0x1234' }, provider.address)).toMatchObject({ ok: false, reason: 'BadSignature' });
  });

  it('refuses to sign what it could not verify', async () => {
    await expect(signResult(provider, domain, { ...result, shardIndex: 2 ** 32 })).rejects.toThrow('uint32');
  });
});
