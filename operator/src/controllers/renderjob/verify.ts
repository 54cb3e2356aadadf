// Checks on remote results, as pure functions: which remote shards are spot-checked (re-run here and
// compared), how two results are compared, and which providers a job no longer trusts.
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
import type { ShardOutput } from '../../api/index.js';
import type { ShardRecord } from './decide.js';

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
export function untrustedProviders(records: Iterable<ShardRecord>): Set<string> {
  const out = new Set<string>();
  for (const r of records) {
    const v = r.status.verification;
    if (v?.state === 'Failed' && v.provider) out.add(v.provider);
  }
  return out;
}
