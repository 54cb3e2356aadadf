// Verification, in one module: which remote shards are spot-checked (re-run here and compared), how a
// re-run and a remote result are compared, whether a signed result is accepted for payment, which
// providers a job no longer trusts, and the job's Verified condition. Pure functions; the RenderJob
// controller calls them (decide.ts for spot checks, remote.ts for signatures) and settlement reads
// trust from here. The EIP-712 codec itself is settlement/results.ts, shared with the signers.
//
// - Selection is a function of (job uid, shard index) only, so a restarted operator, or a second
//   replica, picks the same shards: shard i is checked when the first 8 bytes of
//   sha256("atelier.spotcheck.v1/<uid>/<i>") as a fraction of 2^64 fall below spotCheckFraction.
//   About that fraction of the remote shards is checked; 1 checks every one, 0 none.
// - A local re-run and a remote result are compared by the content of their outputs (the multiset
//   of sha256 digests), not by their URIs: the same frame written to s3:// and to a local path is
//   the same frame.
// - A provider whose result failed a check (a spot check that did not match) is not trusted for the
//   rest of the job: its unverified results are discarded and re-run elsewhere, it gets no new
//   shards of the job, and nothing of the job is paid to it.
import { createHash } from 'node:crypto';
import type { RenderShardStatus, ShardOutput, ShardRecord } from '../api/index.js';
import { verifyResult, type OutputRef, type ResultDomain, type SignedShardResult } from '../settlement/results.js';

export const SPOT_CHECK_DOMAIN = 'atelier.spotcheck.v1';

export function spotCheckSelected(jobUid: string, index: number, fraction: number | undefined): boolean {
  if (!fraction || !(fraction > 0)) return false;
  if (fraction >= 1) return true;
  const h = createHash('sha256').update(`${SPOT_CHECK_DOMAIN}/${jobUid}/${index}`).digest();
  return Number(h.readBigUInt64BE(0) >> 11n) / 2 ** 53 < fraction;
}

/** sha256 over the sorted, lower-cased content digests of the outputs: equal for equal content. */
export function contentDigest(outputs: readonly Pick<ShardOutput, 'sha256'>[]): string {
  const hashes = outputs.map((o) => (o.sha256 ?? '').toLowerCase()).sort();
  return createHash('sha256').update(hashes.join('\n')).digest('hex');
}

/** Providers with a failed check among a job's records (their name is on the verification). */
export function untrustedProviders(records: Iterable<ShardRecord>, known: Iterable<string> = []): Set<string> {
  const out = new Set<string>(known);
  for (const r of records) {
    const v = r.status.verification;
    if (v?.state === 'Failed' && v.provider) out.add(v.provider);
  }
  return out;
}

/** How a local re-run compares with a remote result, by content. */
export type SpotCheckVerdict =
  | { verdict: 'match'; localDigest: string }
  | { verdict: 'noOutputs'; localDigest: string }
  | { verdict: 'differs'; localDigest: string; remoteDigest: string };

export function compareSpotCheck(local: readonly Pick<ShardOutput, 'sha256'>[], remote: readonly Pick<ShardOutput, 'sha256'>[]): SpotCheckVerdict {
  const localDigest = contentDigest(local);
  if (local.length === 0) return { verdict: 'noOutputs', localDigest };
  const remoteDigest = contentDigest(remote);
  return localDigest === remoteDigest ? { verdict: 'match', localDigest } : { verdict: 'differs', localDigest, remoteDigest };
}

export type SignedVerdict = { ok: true; signed: NonNullable<NonNullable<RenderShardStatus['result']>['signed']> } | { ok: false; reason: string; message: string };

/**
 * Whether a settled job accepts a remote result for payment: signed by the provider's payout key, for
 * this job's shard, on our chain and escrow, over exactly the outputs received.
 */
export function checkSignedResult(i: {
  signed: SignedShardResult | undefined; payoutAddress: string | undefined; provider: string;
  domain: ResultDomain; jobUid: string; shardIndex: number; outputs: readonly OutputRef[];
}): SignedVerdict {
  if (!i.payoutAddress) return { ok: false, reason: 'NoPayoutAddress', message: `ComputeProvider ${i.provider} has no spec.payoutAddress` };
  if (!i.signed) return { ok: false, reason: 'Unsigned', message: 'the result carries no signature' };
  const verdict = verifyResult(i.signed, i.payoutAddress, { domain: i.domain, jobUid: i.jobUid, shardIndex: i.shardIndex, outputs: i.outputs.map((o) => ({ ...o })) });
  if (!verdict.ok) return verdict;
  const r = i.signed;
  return {
    ok: true,
    signed: {
      jobUid: r.jobUid, shardIndex: r.shardIndex, resultDigest: r.resultDigest.toLowerCase(), amountClaimed: String(r.amountClaimed),
      chainId: String(r.chainId), verifyingContract: r.verifyingContract, signature: r.signature, signer: verdict.signer,
    },
  };
}

/** Remote results of a job by verification state (decide.ts counts them). */
export interface VerificationCounts { pending: number; verified: number; skipped: number; failed: number; failedMessage?: string }

/** The job's Verified condition, when the job asks for checks (settlement or spot checks) or a check failed. */
export function verifiedCondition(v: VerificationCounts, asked: boolean): { type: 'Verified'; status: 'True' | 'False' | 'Unknown'; reason: string; message: string } | undefined {
  if (!asked && v.failed === 0) return undefined;
  if (v.failed > 0) return { type: 'Verified', status: 'False', reason: 'VerificationFailed', message: v.failedMessage ?? `${v.failed} remote result(s) failed verification` };
  if (v.pending > 0) return { type: 'Verified', status: 'False', reason: 'SpotChecksRunning', message: `${v.pending} spot check(s) running; ${v.verified} verified` };
  if (v.verified + v.skipped === 0) return { type: 'Verified', status: 'Unknown', reason: 'NoRemoteResults', message: 'no remote result to check yet' };
  return { type: 'Verified', status: 'True', reason: 'Verified', message: `${v.verified} remote result(s) matched a local re-run, ${v.skipped} not chosen for a spot check` };
}
