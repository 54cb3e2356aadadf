// What a provider signs when it hands back a shard, and how the operator checks it before paying.
// The outputs a shard reports ({uri, sha256, ...} each) are reduced to one resultDigest: SHA-256 over
// the UTF-8 bytes of the canonical JSON (RFC 8785 style: no whitespace, object keys sorted by UTF-16
// code units, ECMAScript number and string forms) of the outputs list sorted by uri, with each sha256
// lower-cased. The provider signs an EIP-712 ShardResult(jobUid, shardIndex, resultDigest,
// amountClaimed) under the domain {name "Atelier", version "1", chainId, verifyingContract = escrow},
// so a signature is good for one job's shard on one escrow deployment only. verifyResult says yes only
// when the signer is the provider's payout address and every expectation given holds.
import { createHash } from 'node:crypto';
import { getAddress, isHexString, verifyTypedData, type Signer, type TypedDataDomain, type TypedDataField } from 'ethers';

/** One output. Further fields (cid, size, contentType...) are covered by the digest as they are. */
export interface OutputRef {
  uri: string;
  /** Hex SHA-256 of the object's bytes (64 hex digits, any case). */
  sha256: string;
}

/** RFC 8785-style canonical JSON of plain JSON data; throws on values JSON cannot carry exactly. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`canonicalJson: ${value} is not representable`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const proto: unknown = typeof value === 'object' ? Object.getPrototypeOf(value) : undefined;
  if (proto === Object.prototype || proto === null) {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort(byCodeUnits);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
  }
  throw new Error(`canonicalJson: cannot encode a ${typeof value}`);
}

// Plain < and > compare UTF-16 code units, which is what RFC 8785 asks for (localeCompare is not).
function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The outputs in digest form: validated, sha256 lower-cased, sorted by uri; duplicate uris are an error. */
export function canonicalOutputs(outputs: readonly OutputRef[]): string {
  const normal = outputs.map((o, i) => {
    if (!o || typeof o.uri !== 'string' || o.uri === '') throw new Error(`output ${i}: uri must be a non-empty string`);
    if (typeof o.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(o.sha256)) throw new Error(`output ${i} (${o.uri}): sha256 must be 64 hex digits`);
    return { ...o, sha256: o.sha256.toLowerCase() };
  });
  normal.sort((a, b) => byCodeUnits(a.uri, b.uri));
  for (let i = 1; i < normal.length; i++) {
    if (normal[i]!.uri === normal[i - 1]!.uri) throw new Error(`outputs: uri ${normal[i]!.uri} appears twice`);
  }
  return canonicalJson(normal);
}

/** 0x-prefixed SHA-256 of canonicalOutputs(outputs): the bytes32 that is signed and stored on release. */
export function resultDigest(outputs: readonly OutputRef[]): string {
  return '0x' + createHash('sha256').update(canonicalOutputs(outputs), 'utf8').digest('hex');
}

export const RESULT_DOMAIN_NAME = 'Atelier';
export const RESULT_DOMAIN_VERSION = '1';

export const SHARD_RESULT_TYPES: Record<string, TypedDataField[]> = {
  ShardResult: [
    { name: 'jobUid', type: 'string' },
    { name: 'shardIndex', type: 'uint32' },
    { name: 'resultDigest', type: 'bytes32' },
    { name: 'amountClaimed', type: 'uint256' },
  ],
};

export interface ResultDomain {
  chainId: bigint | number;
  /** The escrow contract's address. */
  verifyingContract: string;
}

export interface ShardResult {
  jobUid: string;
  shardIndex: number;
  /** bytes32 from resultDigest(outputs). */
  resultDigest: string;
  /** Token units (not a decimal string): a bigint, or its base-10 string for JSON transport. */
  amountClaimed: bigint | string;
}

export interface SignedShardResult extends ShardResult {
  chainId: bigint | number | string;
  verifyingContract: string;
  signature: string;
}

export function resultDomain(d: ResultDomain): TypedDataDomain {
  return { name: RESULT_DOMAIN_NAME, version: RESULT_DOMAIN_VERSION, chainId: BigInt(d.chainId), verifyingContract: getAddress(d.verifyingContract) };
}

function typedValue(r: ShardResult): Record<string, unknown> {
  if (typeof r.jobUid !== 'string' || r.jobUid === '') throw new Error('jobUid must be a non-empty string');
  if (!Number.isInteger(r.shardIndex) || r.shardIndex < 0 || r.shardIndex > 0xffffffff) throw new Error('shardIndex must be a uint32');
  if (!isHexString(r.resultDigest, 32)) throw new Error('resultDigest must be a 0x-prefixed bytes32');
  const amount = typeof r.amountClaimed === 'bigint' ? r.amountClaimed : /^\d+$/.test(r.amountClaimed) ? BigInt(r.amountClaimed) : -1n;
  if (amount < 0n || amount >= 1n << 256n) throw new Error('amountClaimed must be a uint256 (bigint or base-10 string)');
  return { jobUid: r.jobUid, shardIndex: r.shardIndex, resultDigest: r.resultDigest.toLowerCase(), amountClaimed: amount };
}

/** The provider side: signs `result` for the escrow deployment in `domain`. */
export async function signResult(signer: Signer, domain: ResultDomain, result: ShardResult): Promise<SignedShardResult> {
  const value = typedValue(result);
  const signature = await signer.signTypedData(resultDomain(domain), SHARD_RESULT_TYPES, value);
  return {
    jobUid: result.jobUid,
    shardIndex: result.shardIndex,
    resultDigest: value.resultDigest as string,
    amountClaimed: (value.amountClaimed as bigint).toString(),
    chainId: BigInt(domain.chainId).toString(),
    verifyingContract: getAddress(domain.verifyingContract),
    signature,
  };
}

/** The address whose key produced `signature` over `result` in `domain`. Throws on a malformed input. */
export function recoverResultSigner(domain: ResultDomain, result: ShardResult, signature: string): string {
  return getAddress(verifyTypedData(resultDomain(domain), SHARD_RESULT_TYPES, typedValue(result), signature));
}

export type VerifyFailure =
  | 'Malformed'
  | 'WrongDomain'
  | 'BadSignature'
  | 'WrongSigner'
  | 'WrongJob'
  | 'WrongShard'
  | 'DigestMismatch'
  | 'AmountTooHigh';

export type VerifyOutcome = { ok: true; signer: string } | { ok: false; reason: VerifyFailure; message: string };

export interface VerifyExpectations {
  /** Our chain and escrow; a result signed for another deployment is refused. Pass it in production. */
  domain?: ResultDomain;
  jobUid?: string;
  shardIndex?: number;
  /** The outputs actually received; their digest must be the signed one. */
  outputs?: readonly OutputRef[];
  /** The most this shard may claim, in token units. */
  maxAmountClaimed?: bigint;
}

/** Checks a signed result against the provider's payout address and whatever else is expected of it. */
export function verifyResult(result: SignedShardResult, payoutAddress: string, expect: VerifyExpectations = {}): VerifyOutcome {
  const fail = (reason: VerifyFailure, message: string): VerifyOutcome => ({ ok: false, reason, message });
  let domain: ResultDomain;
  let value: Record<string, unknown>;
  let payout: string;
  try {
    domain = { chainId: BigInt(result.chainId), verifyingContract: getAddress(result.verifyingContract) };
    value = typedValue(result);
    payout = getAddress(payoutAddress);
  } catch (err) {
    return fail('Malformed', err instanceof Error ? err.message : String(err));
  }
  if (expect.domain) {
    if (BigInt(expect.domain.chainId) !== domain.chainId || getAddress(expect.domain.verifyingContract) !== domain.verifyingContract) {
      return fail('WrongDomain', `signed for chain ${domain.chainId} escrow ${domain.verifyingContract}`);
    }
  }
  let signer: string;
  try {
    signer = recoverResultSigner(domain, result, result.signature);
  } catch (err) {
    return fail('BadSignature', err instanceof Error ? err.message : String(err));
  }
  if (signer !== payout) return fail('WrongSigner', `signed by ${signer}, payout address is ${payout}`);
  if (expect.jobUid !== undefined && result.jobUid !== expect.jobUid) return fail('WrongJob', `result is for job ${result.jobUid}`);
  if (expect.shardIndex !== undefined && result.shardIndex !== expect.shardIndex) return fail('WrongShard', `result is for shard ${result.shardIndex}`);
  if (expect.outputs !== undefined) {
    let digest: string;
    try {
      digest = resultDigest(expect.outputs);
    } catch (err) {
      return fail('Malformed', err instanceof Error ? err.message : String(err));
    }
    if (digest !== value.resultDigest) return fail('DigestMismatch', `outputs digest ${digest}, signed ${String(value.resultDigest)}`);
  }
  if (expect.maxAmountClaimed !== undefined && (value.amountClaimed as bigint) > expect.maxAmountClaimed) {
    return fail('AmountTooHigh', `claims ${String(value.amountClaimed)} units, at most ${expect.maxAmountClaimed} allowed`);
  }
  return { ok: true, signer };
}
