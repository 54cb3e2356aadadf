// What a job owes each provider, and the next on-chain step per (job, provider) escrow, as pure
// functions of the job, its RenderShards and the escrows recorded on its status. Nothing here talks
// to the chain: the controller (controller.ts) carries the step out idempotently and records it.
//
// Rules:
// - One escrow per (job, provider), opened when the job first places a shard there, funded for the
//   expected cost of the shards placed there (twice the estimate, so it is topped up only
//   log-many times), never beyond what the job's budget leaves after its other escrows.
// - Owed to a provider: for each of its remote shards that succeeded with a signed result whose
//   verification is Verified (spot check matched) or Skipped (not chosen; signature checked), the
//   smaller of what the attempt that produced the paid result cost (status.result.cost, USD; not
//   status.remoteCost, which sums every attempt of the shard, rejected ones elsewhere included) and
//   what the provider claimed in its signed result. A provider that failed a check in the job is owed nothing (Withheld). For a job
//   with sealed outputs, a shard counts only once delivered (checked against its CID and digest).
// - Released once the job is finished (Succeeded, Failed, or being deleted) and nothing of that
//   provider is still running or waiting for its spot check; for a Succeeded job, also not while
//   any shard of the job may still run again elsewhere (movingShards: a re-run could land here); the release names a digest over the
//   signed result digests it pays for. Nothing owed: the escrow is refunded instead.
// - Amounts: USD micro-units from the status, token units for the chain (a USD stablecoin: one
//   token is one USD); owed is rounded down, funding up.
import { createHash } from 'node:crypto';
import type { EscrowStatus, RenderJob } from '../../api/index.js';
import type { ShardRecord } from '../../api/index.js';
import { untrustedProviders } from '../../verification/index.js';
import { microsToUnits, parseMicros } from '../../money.js';

export interface ProviderLedger {
  provider: string;
  /** Shards of the job placed on the provider (any state). */
  placed: number;
  /** Remote attempts still running there. */
  live: number;
  /** Results of the provider waiting for their spot check, or for their bill (costPending). */
  checking: number;
  /** Succeeded shards whose bill could not be read yet. */
  costPending: number;
  /** Expected cost of what was placed there, USD micros: what succeeded cost, plus estimates for the rest. */
  expectedMicros: bigint;
  /** Owed, in token units. */
  owedUnits: bigint;
  /** Shard indexes paid for, and the digest over their signed result digests. */
  paidShards: number[];
  resultDigest: string;
  untrusted: boolean;
}

export const ZERO_DIGEST = `0x${'0'.repeat(64)}`;

export { microsToUnits };

/** '0x' + sha256 over "index:digest" lines of the paid shards, in index order (empty: zero digest). */
export function releaseDigest(parts: { index: number; digest: string }[]): string {
  if (parts.length === 0) return ZERO_DIGEST;
  const text = [...parts].sort((a, b) => a.index - b.index).map((p) => `${p.index}:${p.digest.toLowerCase()}`).join('\n');
  return `0x${createHash('sha256').update(text).digest('hex')}`;
}

export interface LedgerInput {
  records: ShardRecord[];
  tokenDecimals: number;
  /** Estimated cost of one remote shard on the provider, USD micros (price × GPUs × expected time). */
  estimateMicros(provider: string): bigint;
  /** Sealed jobs: true for a shard whose outputs are not delivered yet (it is not paid until they are). */
  undelivered?: (index: number) => boolean;
  /** Providers the job's status names untrusted (status.untrustedProviders), beyond the records'. */
  untrusted?: string[];
}

/**
 * What the attempt whose result is paid cost, USD micros: result.cost. status.remoteCost sums every
 * remote attempt of the shard, rejected ones at other providers included, so it is used only for a
 * record written before result.cost existed (the signed claim still caps what is paid).
 */
export function paidAttemptCost(st: ShardRecord['status']): bigint {
  const c = st.result?.cost ?? st.remoteCost;
  return c ? parseMicros(c) : 0n;
}

export function ledgers(i: LedgerInput): Map<string, ProviderLedger> {
  const untrusted = untrustedProviders(i.records, i.untrusted ?? []);
  const out = new Map<string, ProviderLedger>();
  const paid = new Map<string, { index: number; digest: string }[]>();
  const get = (p: string) => {
    let l = out.get(p);
    if (!l) {
      l = { provider: p, placed: 0, live: 0, checking: 0, costPending: 0, expectedMicros: 0n, owedUnits: 0n, paidShards: [], resultDigest: ZERO_DIGEST, untrusted: untrusted.has(p) };
      out.set(p, l);
    }
    return l;
  };
  for (const r of i.records) {
    const st = r.status;
    // Providers that ran an attempt of this shard before (the status keeps the last provider only).
    if (st.placement !== 'Remote' || !st.provider) {
      const v = st.verification;
      if (v?.provider) get(v.provider); // a result checked and found wrong: the escrow must still be closed
      continue;
    }
    const l = get(st.provider);
    l.placed++;
    if (st.idempotencyKey && st.phase !== 'Succeeded' && st.phase !== 'Failed') {
      l.live++;
      l.expectedMicros += i.estimateMicros(st.provider);
      continue;
    }
    if (st.phase !== 'Succeeded') continue;
    const v = st.verification;
    const cost = paidAttemptCost(st);
    l.expectedMicros += cost;
    if (v?.state === 'Pending') { l.checking++; continue; }
    // The provider's bill is not known yet: nothing is owed for it yet, and the escrow stays open.
    if (st.costPending) { l.checking++; l.costPending++; continue; }
    // A sealed job's shard is paid only once its outputs were delivered (data/paid.ts).
    if (i.undelivered?.(r.index) && v?.state !== 'Failed') { l.checking++; continue; }
    const signed = st.result?.signed;
    if (!signed || !(v?.state === 'Verified' || v?.state === 'Skipped')) continue;
    const costUnits = microsToUnits(cost, i.tokenDecimals, 'floor');
    const claimed = /^\d+$/.test(signed.amountClaimed) ? BigInt(signed.amountClaimed) : costUnits;
    l.owedUnits += claimed < costUnits ? claimed : costUnits;
    const list = paid.get(st.provider) ?? [];
    list.push({ index: r.index, digest: signed.resultDigest });
    paid.set(st.provider, list);
  }
  for (const l of out.values()) {
    if (l.untrusted) {
      l.owedUnits = 0n;
      continue;
    }
    const list = paid.get(l.provider) ?? [];
    l.paidShards = list.map((p) => p.index).sort((a, b) => a - b);
    l.resultDigest = releaseDigest(list);
  }
  return out;
}

/**
 * Shards of the job that may still run again, possibly at another provider: not ended (Succeeded or
 * Failed), waiting for their spot check or (sealed jobs) their delivery, or holding a result of a
 * provider found untrusted that is not discarded yet (it runs again elsewhere). A job whose status
 * says Succeeded is reopened by such a shard; an escrow released before that would leave the re-run
 * unpaid (found by test/data/burst.test.ts: a tampered output rejected after the job first succeeded).
 */
export function movingShards(i: Pick<LedgerInput, 'records' | 'undelivered' | 'untrusted'>): number {
  const untrusted = untrustedProviders(i.records, i.untrusted ?? []);
  let n = 0;
  for (const r of i.records) {
    const st = r.status;
    const v = st.verification?.state;
    if (st.phase !== 'Succeeded' && st.phase !== 'Failed') n++;
    else if (st.phase === 'Failed') continue;
    else if (v === 'Pending' || (i.undelivered?.(r.index) && v !== 'Failed')) n++;
    else if (st.placement === 'Remote' && st.provider && untrusted.has(st.provider) && v !== 'Verified') n++;
  }
  return n;
}

export type EscrowState = NonNullable<EscrowStatus['state']>;
export const CLOSED: ReadonlySet<EscrowState> = new Set(['Released', 'Refunded', 'Withheld']);

export type Step =
  | { kind: 'open'; provider: string; fundUnits: bigint }
  | { kind: 'topUp'; provider: string; fundUnits: bigint }
  | { kind: 'release'; provider: string; owedUnits: bigint; resultDigest: string }
  | { kind: 'refund'; provider: string; withheld: boolean };

export interface StepInput {
  job: RenderJob;
  ledgers: Map<string, ProviderLedger>;
  escrows: Map<string, EscrowStatus>;
  /** Funded so far per provider in token units, as recorded. */
  fundedUnits(provider: string): bigint;
  tokenDecimals: number;
  /** movingShards() of the job: while a Succeeded job has any, no trusted provider's escrow is closed. */
  moving?: number;
}

function emptyLedger(provider: string): ProviderLedger {
  return { provider, placed: 0, live: 0, checking: 0, costPending: 0, expectedMicros: 0n, owedUnits: 0n, paidShards: [], resultDigest: ZERO_DIGEST, untrusted: false };
}

/** The job is over for settlement: no new work will be placed. */
export function finished(job: RenderJob): boolean {
  return !!job.metadata.deletionTimestamp || job.status?.phase === 'Succeeded' || job.status?.phase === 'Failed';
}

/** The next step for each provider of the job (at most one each; the controller loops until none). */
export function nextSteps(i: StepInput): Step[] {
  const steps: Step[] = [];
  const over = finished(i.job);
  // A Succeeded job can still be reopened (a Failed or deleted one places nothing new): hold every
  // release until no shard may move to another provider, whose escrow must still be open then.
  const hold = over && !i.job.metadata.deletionTimestamp && i.job.status?.phase === 'Succeeded' && (i.moving ?? 0) > 0;
  const budget = i.job.spec.budget?.maxCost ? microsToUnits(parseMicros(i.job.spec.budget.maxCost), i.tokenDecimals, 'floor') : undefined;
  // An escrow whose provider no shard names any more (its attempts there failed or moved on, and a
  // record keeps only the last provider) is still the job's: it gets an empty ledger, so it is closed.
  const ledgersAll = new Map(i.ledgers);
  for (const p of i.escrows.keys()) if (!ledgersAll.has(p)) ledgersAll.set(p, emptyLedger(p));
  let fundedAll = 0n;
  for (const p of ledgersAll.keys()) fundedAll += i.fundedUnits(p);
  for (const l of [...ledgersAll.values()].sort((a, b) => a.provider.localeCompare(b.provider))) {
    const e = i.escrows.get(l.provider);
    const state = e?.state;
    if (state && CLOSED.has(state)) continue;
    const opened = state === 'Open' || state === 'Releasing' || state === 'Refunding';
    const funded = i.fundedUnits(l.provider);
    // Funding cap: the budget less what the other escrows hold; no budget, no cap.
    const cap = budget === undefined ? undefined : budget - (fundedAll - funded);
    const want = (units: bigint) => (cap === undefined ? units : units < cap ? units : cap);
    if (over) {
      if (l.live > 0 || l.checking > 0) continue; // wait for the outcome (a deletion cancels live work first)
      if (l.untrusted) {
        if (opened || state === 'Opening') steps.push({ kind: 'refund', provider: l.provider, withheld: true });
        continue;
      }
      if (hold) continue;
      if (l.owedUnits > 0n) {
        if (!opened) steps.push({ kind: 'open', provider: l.provider, fundUnits: l.owedUnits });
        else if (funded < l.owedUnits) steps.push({ kind: 'topUp', provider: l.provider, fundUnits: l.owedUnits });
        else steps.push({ kind: 'release', provider: l.provider, owedUnits: l.owedUnits, resultDigest: l.resultDigest });
      } else if (opened || state === 'Opening') {
        steps.push({ kind: 'refund', provider: l.provider, withheld: false });
      }
      continue;
    }
    if (l.untrusted || l.placed === 0) continue;
    const expected = microsToUnits(l.expectedMicros, i.tokenDecimals, 'ceil');
    if (!opened) {
      const fund = want(expected * 2n > 0n ? expected * 2n : 1n);
      if (fund > 0n) steps.push({ kind: 'open', provider: l.provider, fundUnits: fund });
    } else if (expected > funded) {
      const fund = want(expected * 2n);
      if (fund > funded) steps.push({ kind: 'topUp', provider: l.provider, fundUnits: fund });
    }
  }
  return steps;
}
