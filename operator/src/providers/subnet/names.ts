// How a shard sent to a peer cluster is named and marked there: the peer RenderJob's deterministic
// name (`<job>-<index>-<hash of the idempotency key>`, at most 63 characters so it can also be the
// peer's `atelier.dev/job` label value), the labels and annotations that name its origin, and the
// label-value sanitising they need; and, for a shard of a job that settles on-chain, the annotations
// naming what the peer signs its result for and how the peer reads them back (signingRequest). Pure,
// so the submit path, findByKey and the peer's signer can never disagree.
import { createHash } from 'node:crypto';
import { isAddress } from 'ethers';

/** Labels on a peer RenderJob (label values: <= 63 chars of [A-Za-z0-9._-]). */
export const ORIGIN_LABELS = {
  cluster: 'atelier.dev/origin-cluster',
  namespace: 'atelier.dev/origin-namespace',
  job: 'atelier.dev/origin-job',
  shard: 'atelier.dev/origin-shard',
  /** sha256 of the idempotency key (first 32 hex digits); findByKey selects on it. */
  keyHash: 'atelier.dev/idempotency-key-hash',
  createdBy: 'app.kubernetes.io/created-by',
} as const;

/** Annotations on a peer RenderJob: values too long or too free-form for labels. */
export const ORIGIN_ANNOTATIONS = {
  /** The full idempotency key, compared on AlreadyExists and in findByKey. */
  key: 'atelier.dev/idempotency-key',
  jobUid: 'atelier.dev/origin-job-uid',
  /** `<cluster>/<namespace>/<job>/<shard>`, for people reading the peer. */
  origin: 'atelier.dev/origin',
} as const;

/**
 * Annotations on the peer RenderJob of a shard whose origin job settles on-chain: the EIP-712 domain
 * (chain id, escrow address) and the token's decimals the peer's payout key signs the shard's
 * ShardResult under (controllers/subnetsigner.ts). The origin job uid and shard index it signs for
 * are ORIGIN_ANNOTATIONS.jobUid and the ORIGIN_LABELS.shard label.
 */
export const SETTLEMENT_ANNOTATIONS = {
  chainId: 'atelier.dev/settlement-chain-id',
  escrow: 'atelier.dev/settlement-escrow',
  tokenDecimals: 'atelier.dev/settlement-token-decimals',
} as const;

/** Token decimals accepted for amountClaimed (ERC-20 tokens use 0..18; 36 leaves room, 10^36 stays exact). */
export const MAX_TOKEN_DECIMALS = 36;

export interface SettlementTerms {
  chainId: string;
  escrowAddress: string;
  tokenDecimals: number;
}

/** Why a settlement is refused, or undefined when it is well-formed. */
export function settlementProblem(s: SettlementTerms): string | undefined {
  if (typeof s.chainId !== 'string' || !/^[1-9][0-9]{0,77}$/.test(s.chainId)) return `settlement chainId must be a positive decimal integer, got ${JSON.stringify(s.chainId)}`;
  // isAddress also refuses a mixed-case address whose EIP-55 checksum is wrong (a mistyped digit).
  if (typeof s.escrowAddress !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(s.escrowAddress) || !isAddress(s.escrowAddress)) return `settlement escrowAddress must be 0x and 40 hex digits (with a valid checksum when mixed-case), got ${JSON.stringify(s.escrowAddress)}`;
  if (!Number.isInteger(s.tokenDecimals) || s.tokenDecimals < 0 || s.tokenDecimals > MAX_TOKEN_DECIMALS) return `settlement tokenDecimals must be an integer in 0..${MAX_TOKEN_DECIMALS}, got ${s.tokenDecimals}`;
  return undefined;
}

/** The SETTLEMENT_ANNOTATIONS for a shard's settlement terms. */
export function settlementAnnotations(s: SettlementTerms): Record<string, string> {
  return {
    [SETTLEMENT_ANNOTATIONS.chainId]: s.chainId,
    [SETTLEMENT_ANNOTATIONS.escrow]: s.escrowAddress,
    [SETTLEMENT_ANNOTATIONS.tokenDecimals]: String(s.tokenDecimals),
  };
}

/** What a peer signs a shard result for: the origin's job and shard, and the settlement terms. */
export interface SigningRequest extends SettlementTerms {
  jobUid: string;
  shardIndex: number;
}

/**
 * Reads a peer RenderJob's metadata: undefined when it asks for no signature (no settlement
 * annotations), `{problem}` when it asks but something is missing or malformed.
 */
export function signingRequest(meta: { labels?: Record<string, string>; annotations?: Record<string, string> }): SigningRequest | { problem: string } | undefined {
  const a = meta.annotations ?? {};
  const present = Object.values(SETTLEMENT_ANNOTATIONS).filter((k) => a[k] !== undefined);
  if (present.length === 0) return undefined;
  if (present.length < 3) return { problem: `settlement annotations incomplete: needs ${Object.values(SETTLEMENT_ANNOTATIONS).join(', ')}` };
  const decimals = a[SETTLEMENT_ANNOTATIONS.tokenDecimals]!;
  const terms: SettlementTerms = { chainId: a[SETTLEMENT_ANNOTATIONS.chainId]!, escrowAddress: a[SETTLEMENT_ANNOTATIONS.escrow]!, tokenDecimals: /^[0-9]{1,2}$/.test(decimals) ? Number(decimals) : NaN };
  const problem = settlementProblem(terms);
  if (problem) return { problem };
  const jobUid = a[ORIGIN_ANNOTATIONS.jobUid];
  if (!jobUid) return { problem: `annotation ${ORIGIN_ANNOTATIONS.jobUid} is missing` };
  const shard = meta.labels?.[ORIGIN_LABELS.shard];
  if (shard === undefined || !/^(0|[1-9][0-9]{0,9})$/.test(shard) || Number(shard) > 0xffffffff) return { problem: `label ${ORIGIN_LABELS.shard} must be a shard index, got ${JSON.stringify(shard ?? '')}` };
  return { ...terms, jobUid, shardIndex: Number(shard) };
}

export const CREATED_BY = 'atelier-subnet';

export function keyHash(idempotencyKey: string): string {
  return createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 32);
}

/** A valid label value made from any text: invalid characters become '-', cut to 63, alphanumeric at both ends. */
export function labelValue(text: string): string {
  let v = text.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 63);
  v = v.replace(/^[^A-Za-z0-9]+/, '').replace(/[^A-Za-z0-9]+$/, '');
  return v;
}

/**
 * The peer RenderJob's name for one submission: `<job>-<index>-<10 hex of sha256(key)>`, lower case,
 * DNS-1123 label characters only, at most 63 characters (the job part is shortened to fit).
 */
export function subnetJobName(jobName: string, shardIndex: number, idempotencyKey: string): string {
  const suffix = `-${shardIndex}-${keyHash(idempotencyKey).slice(0, 10)}`;
  let base = jobName.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 63 - suffix.length).replace(/-+$/, '').replace(/^-+/, '');
  if (!base) base = 'shard'.slice(0, 63 - suffix.length);
  return `${base}${suffix}`;
}
