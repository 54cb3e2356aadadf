// The RenderJob controller's decision step, as a pure function: given a snapshot of one job (its
// spec, its RenderShard records and its shard pods, all from the informer caches) and the time, it
// says what is true (the status) and what to do next (create records and pods, record finished
// attempts, delete pods, requeue). Nothing here talks to the API server or reads the clock, so the
// rules that keep a shard from running twice are tested directly, table-driven.
//
// Invariants kept here:
// - at most one live pod per shard: a new attempt is started only when no pod of the shard is live
//   (a terminating pod counts as live until its containers have stopped, i.e. its phase is terminal);
// - pod names are deterministic per (job, shard, attempt), so a create repeated from a stale cache
//   fails with AlreadyExists instead of starting a second pod;
// - the pod is the record of a local attempt while it lives: it is created with the finalizer
//   atelier.dev/outcome, which is released only once its outcome is kept elsewhere. A first attempt
//   that succeeded without outputs is folded into the job's status.shardSets (no RenderShard at all);
//   any other outcome (a failure, outputs, a spot check, a peer's job) goes to the shard's RenderShard,
//   created with it if need be. So an outcome is never lost when a pod is deleted, and a finished
//   shard never runs again;
// - the outcome of an attempt is kept before the next attempt starts.
//
// Fair first pods: while new jobs wait for their first pod, the caller passes a small
// maxStartsPerReconcile; a job capped by it comes straight back (behind the new jobs) for the rest.

import { parseMicros, formatMicros, costOfGpuMillis } from '../../money.js';
import { shardRanges, type RenderJobSpec, type RenderShardStatus, type ShardOutput, type ShardRange, type ShardRecord } from '../../api/index.js';
import { compareSpotCheck, untrustedProviders } from '../../verification/index.js';

export type { ShardOutput, ShardRange };
export interface Frames { start: number; end: number }

export interface JobSnapshot {
  name: string;
  namespace: string;
  uid: string;
  generation: number;
  creationTimestamp: number; // ms
  deletionTimestamp?: number; // ms
  spec: {
    shards: RenderJobSpec['shards'];
    suspend?: boolean;
    deadline?: string;
    gpusPerShard: number;
  };
  /** Local shards folded into the job's status (status.shardSets): succeeded, and their GPU time. */
  folded?: { succeeded: Set<number>; gpuMillis: bigint };
  /** Providers the job's status already names untrusted (status.untrustedProviders). */
  untrusted?: string[];
  /** Every outcome goes to a RenderShard, none is folded (a subnet peer's job: the origin reads them). */
  keepsRecords?: boolean;
}

/** The RenderShard status as generated from the CRD (one source of truth). */
export type ShardRecordStatus = RenderShardStatus;

export type { ShardRecord };

export interface PodView {
  name: string;
  index: number;
  attempt: number;
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
  terminating: boolean;
  /** Carries the finalizer atelier.dev/outcome: its outcome is not kept anywhere else yet. */
  held?: boolean;
  /** Deleted before it was bound to a node (the API server binds no deleted pod): nothing of it ran. */
  neverRan?: boolean;
  nodeName?: string;
  unschedulable?: boolean; // PodScheduled=False, reason Unschedulable
  unschedulableSince?: number; // ms
  startedAt?: number; // ms, container start
  finishedAt?: number; // ms, container end
  exitCode?: number;
  reason?: string;
  message?: string; // termination message
}

export interface Decision {
  /** RenderShards to create before a remote intent (or with the pod, for a job that keeps records). */
  createRecords: ShardRange[];
  createPods: { index: number; attempt: number; name: string; frames?: Frames; waitedMs?: number }[];
  /**
   * Outcomes to write on RenderShards; `create`: the record does not exist yet and is created first;
   * `pod`: a held pod whose finalizer is released once the write returned.
   */
  recordOutcomes: { index: number; recordName: string; status: ShardRecordStatus; create?: ShardRange; pod?: string; event?: { type: 'Normal' | 'Warning'; reason: string; message: string } }[];
  /** First attempts that succeeded without outputs: into status.shardSets, then their pods are released. */
  fold: { index: number; pod: string; gpuMillis: bigint; held: boolean }[];
  /** Held pods whose outcome is already kept (folded, recorded) or no longer matters (job deleted): release. */
  release: string[];
  deletePods: string[];
  /** Remote attempts to start: the intent is recorded on the RenderShard before anything is submitted. */
  submitRemote: { index: number; recordName: string; attempt: number; provider: string; gpuModel?: string; idempotencyKey: string; waitedMs?: number }[];
  /** RenderShards with a live remote submission (tracked by the remote step). */
  remoteLive: ShardRecord[];
  /** Live remote submissions to cancel (job failed, suspended or being deleted). */
  cancelRemote: ShardRecord[];
  counts: { total: number; pending: number; running: number; succeeded: number; failed: number; local: number; remote: number };
  /** Remote results by verification state; `pending` spot checks keep the job from completing. */
  verification: { pending: number; verified: number; skipped: number; failed: number; failedMessage?: string };
  /** Providers this job no longer trusts (a result failed a spot check): no new shards, no payment. */
  untrusted: Set<string>;
  /** Per-provider aggregates of this job's remote shards (status.providers). */
  providers: Map<string, { running: number; succeeded: number; failed: number; costMicros: bigint }>;
  /** Running and succeeded shards split by placement (for metrics). */
  placed: { runningLocal: number; runningRemote: number; succeededLocal: number; succeededRemote: number };
  unschedulable: number;
  gpuMillis: bigint; // finished local GPU time of all recorded attempts
  remoteCostMicros: bigint; // recorded cost of remote attempts
  outcome: 'Running' | 'Succeeded' | 'Failed' | 'Suspended' | 'Pending';
  failure?: { reason: 'ShardFailed' | 'DeadlineExceeded'; message: string };
  requeueAfterMs?: number;
}

export interface DecideOptions {
  retryBaseMs: number; // delay before the 2nd attempt; doubles per failure
  retryMaxMs: number;
  localPricePerGpuHourMicros: bigint; // for each shard's recorded cost
  /** Most shards started by one reconcile; the rest follow at once in the next (keeps reconciles short). */
  maxStartsPerReconcile: number;
  /** The GPU model (catalog name) of a node, recorded on a local shard's status.gpuModel. */
  nodeModel?: (nodeName: string) => string | undefined;
}
export const defaultDecideOptions: DecideOptions = { retryBaseMs: 10_000, retryMaxMs: 360_000, localPricePerGpuHourMicros: 0n, maxStartsPerReconcile: 500 };

/** Where a shard that may start now should go; the planner decides for Burst and ProviderOnly jobs. */
export type Placement = { kind: 'Local' } | { kind: 'Remote'; provider: string; gpuModel?: string } | { kind: 'Wait' };

/** A shard free to start: no live pod, no live remote submission, backoff over. */
export interface Candidate {
  index: number;
  attempt: number;
  /** Since when it has been waiting to run (job start, or the end of its last failed attempt). */
  waitingSinceMs: number;
  /** A live local pod that the scheduler could not place since this time (a pull-back candidate). */
  unschedulablePod?: { name: string; sinceMs: number };
}

/** What the planner may want to know about the job beyond its candidates. */
export interface PlaceInfo {
  runningLocal: number;
  runningRemote: number;
  /** Live remote attempts of this job per provider (their expected cost is committed budget). */
  liveRemoteByProvider: Map<string, number>;
  /** Providers the job must not use (a result of theirs failed verification). */
  excludeProviders: Set<string>;
  /** Mean wall time of the job's succeeded shards; undefined before the first one. */
  expectedShardMs?: number;
  /** Wall times (ms) of the job's succeeded shards per GPU model (their status.gpuModel). */
  finishedByModel?: Record<string, number[]>;
  remoteCostMicros: bigint;
}

/** Chooses placements for candidates (at most `room` may start). Absent: every shard runs locally. */
export type PlaceFn = (candidates: Candidate[], room: number, info: PlaceInfo) => Map<number, Placement>;

/** The idempotency key of one remote attempt: deterministic, so a retried submit finds the first. */
export function idempotencyKey(jobUid: string, index: number, attempt: number): string {
  return `${jobUid}-${index}-${attempt}`;
}

export function podName(job: string, index: number, attempt: number): string {
  return `${job}-${index}-${attempt}`;
}

export function recordName(job: string, index: number): string {
  return `${job}-${index}`;
}

/** Delay before attempt n+1 after n failed attempts: base, 2×base, 4×base, … capped (10s…6min by default, like Jobs). */
export function retryDelayMs(failedAttempts: number, o: DecideOptions = defaultDecideOptions): number {
  return Math.min(o.retryMaxMs, o.retryBaseMs * 2 ** Math.max(0, failedAttempts - 1));
}

const terminal = (p: PodView) => p.phase === 'Succeeded' || p.phase === 'Failed';
/** A pod whose containers may still run: not terminal (a deleted pod is live until its phase is), unless it never ran. */
const live = (p: PodView) => !terminal(p) && !p.neverRan;

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Parses a termination message of the form {"outputs":[{"uri","sha256"}]}; anything else gives no outputs. */
export function parseResult(message: string | undefined): ShardOutput[] | undefined {
  if (!message) return undefined;
  try {
    const v = JSON.parse(message) as { outputs?: unknown };
    if (!Array.isArray(v.outputs)) return undefined;
    const outs: ShardOutput[] = [];
    for (const o of v.outputs as Record<string, unknown>[]) {
      if (typeof o?.uri !== 'string' || typeof o?.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(o.sha256)) return undefined;
      outs.push(typeof o.cid === 'string' ? { uri: o.uri, sha256: o.sha256, cid: o.cid } : { uri: o.uri, sha256: o.sha256 });
    }
    return outs;
  } catch {
    return undefined;
  }
}

/**
 * Decides one reconcile of a job. `records` and `pods` are the job's RenderShards and shard pods
 * from the caches (pods that were just created and not yet seen are included by the caller through
 * expectations, as live Pending pods).
 */
/** What decide() carries across its steps while it walks a job's shards. */
interface Scan {
  job: JobSnapshot;
  records: Map<number, ShardRecord>;
  pods: Map<number, PodView[]>;
  now: number;
  opts: DecideOptions;
  d: Decision;
  maxRetries: number;
  untrustedAtStart: Set<string>;
  /** Shards free to start now (no live pod or remote attempt, backoff over). */
  startable: ShardRange[];
  /** Live local pods the scheduler could not place: candidates to move elsewhere. */
  pullBack: Candidate[];
  doneMs: number;
  doneCount: number;
  doneByModel: Record<string, number[]>;
  liveByProvider: Map<string, number>;
  liveCount: number;
  firstFailure?: string;
  livePods: PodView[];
  /** Spot checks that need a local re-run now (they go before new shards, within parallelism). */
  checks: { index: number; attempt: number; frames?: Frames }[];
  /** Held pods that were deleted and stopped: a failure of the shard, unless the whole job stops. */
  killed: Set<string>;
  wake(ms: number): void;
}

export function decide(job: JobSnapshot, records: Map<number, ShardRecord>, pods: Map<number, PodView[]>, now: number, opts: DecideOptions = defaultDecideOptions, place?: PlaceFn): Decision {
  const ranges = shardRanges(job.spec);
  const sc = newScan(job, records, pods, now, opts, ranges.length);
  for (const range of ranges) scanShard(sc, range);
  if (concludeOutcome(sc)) return sc.d;
  planStarts(sc, ranges, place);
  return sc.d;
}

function newScan(job: JobSnapshot, records: Map<number, ShardRecord>, pods: Map<number, PodView[]>, now: number, opts: DecideOptions, total: number): Scan {
  const d: Decision = {
    createRecords: [], createPods: [], recordOutcomes: [], fold: [], release: [], deletePods: [], submitRemote: [], remoteLive: [], cancelRemote: [],
    counts: { total, pending: 0, running: 0, succeeded: 0, failed: 0, local: 0, remote: 0 },
    placed: { runningLocal: 0, runningRemote: 0, succeededLocal: 0, succeededRemote: 0 },
    providers: new Map(),
    verification: { pending: 0, verified: 0, skipped: 0, failed: 0 },
    untrusted: untrustedProviders(records.values(), job.untrusted ?? []),
    unschedulable: 0, gpuMillis: job.folded?.gpuMillis ?? 0n, remoteCostMicros: 0n, outcome: 'Pending',
  };
  return {
    job, records, pods, now, opts, d, maxRetries: job.spec.shards.maxRetries ?? 3, untrustedAtStart: new Set(d.untrusted),
    startable: [], pullBack: [], doneMs: 0, doneCount: 0, doneByModel: {}, liveByProvider: new Map(), liveCount: 0, livePods: [], checks: [], killed: new Set(),
    wake: (ms) => { if (ms > 0 && (d.requeueAfterMs === undefined || ms < d.requeueAfterMs)) d.requeueAfterMs = ms; },
  };
}

/** One shard: its costs and per-provider aggregates, then what is true of it and what it needs. */
function scanShard(sc: Scan, range: ShardRange): void {
  const { d } = sc;
  const rec = sc.records.get(range.index);
  const st = rec?.status ?? {};
  const all = sc.pods.get(range.index) ?? [];
  releaseKept(sc, range.index, rec, all);
  // A pod deleted before it was bound has no outcome: the shard is as if it never existed.
  const shardPods = all.some((p) => p.neverRan) ? all.filter((p) => !p.neverRan) : all;
  const alive = shardPods.filter(live);
  sc.livePods.push(...alive);
  if (!rec && sc.job.folded?.succeeded.has(range.index)) return foldedSucceeded(sc, shardPods);
  d.gpuMillis += BigInt(Math.round((st.gpuSeconds ?? 0) * 1000));
  if (st.remoteCost) d.remoteCostMicros += parseMicros(st.remoteCost);
  const placedRemote = st.placement === 'Remote';
  if (placedRemote && st.provider) {
    const agg = d.providers.get(st.provider) ?? { running: 0, succeeded: 0, failed: 0, costMicros: 0n };
    if (st.phase === 'Succeeded') agg.succeeded++;
    else if (st.phase === 'Failed') agg.failed++;
    else if (st.idempotencyKey) agg.running++;
    if (st.remoteCost) agg.costMicros += parseMicros(st.remoteCost);
    d.providers.set(st.provider, agg);
  }
  if (rec && placedRemote && st.provider && st.phase === 'Succeeded') {
    if (st.verification?.state !== 'Verified' && d.untrusted.has(st.provider)) return discardUntrusted(sc, range, rec);
    if (st.verification?.state === 'Pending') return spotCheck(sc, range, rec, shardPods);
  }
  countVerification(sc, st);
  if (st.phase === 'Succeeded') {
    if (st.startTime && st.completionTime) {
      const ms = Date.parse(st.completionTime) - Date.parse(st.startTime);
      sc.doneMs += ms;
      sc.doneCount++;
      if (st.gpuModel) (sc.doneByModel[st.gpuModel] ??= []).push(ms);
    }
    d.counts.succeeded++;
    if (placedRemote) { d.counts.remote++; d.placed.succeededRemote++; } else { d.counts.local++; d.placed.succeededLocal++; }
    return;
  }
  if (st.phase === 'Failed') { d.counts.failed++; sc.firstFailure ??= `shard ${range.index}: ${st.lastFailure?.message ?? 'failed'}`; return; }
  if (placedRemote && st.idempotencyKey && rec) return liveRemote(sc, rec);
  if (alive.length > 0) return liveLocal(sc, range, alive);
  waitingOrFinished(sc, range, rec, shardPods);
}

/** A result of a provider that failed a check in this job is not used: the shard runs again. */
function discardUntrusted(sc: Scan, range: ShardRange, rec: ShardRecord): void {
  const st = rec.status;
  const message = `result of ${st.provider} discarded: a result of ${st.provider} for this job failed its spot check`;
  sc.d.recordOutcomes.push({
    index: range.index, recordName: rec.name,
    status: {
      ...st, phase: 'Pending', result: undefined, idempotencyKey: undefined, remoteId: undefined, retryAfter: undefined, completionTime: undefined,
      lastFailure: { reason: 'VerificationFailed', message }, verification: { state: 'Failed', provider: st.provider, message },
    },
    event: { type: 'Warning', reason: 'ResultDiscarded', message },
  });
  sc.d.counts.pending++;
  sc.wake(1);
}

/** A spot-checked remote result: re-run here, then compare by content (verification/compareSpotCheck). */
function spotCheck(sc: Scan, range: ShardRange, rec: ShardRecord, shardPods: PodView[]): void {
  const { d } = sc;
  const st = rec.status;
  const v = st.verification!;
  const checked = Math.max(st.attempts ?? 0, v.attempt ?? 0);
  const checkPods = shardPods.filter((p) => p.attempt > (st.attempts ?? 0));
  if (checkPods.some(live)) {
    sc.liveCount++;
    d.counts.running++;
    d.verification.pending++;
    return;
  }
  const finished = checkPods.filter((p) => p.attempt > checked).sort((a, b) => b.attempt - a.attempt)[0];
  if (!finished) {
    d.counts.running++;
    d.verification.pending++;
    sc.checks.push({ index: range.index, attempt: Math.max(checked, ...shardPods.map((p) => p.attempt)) + 1, ...(range.frameStart !== undefined ? { frames: { start: range.frameStart, end: range.frameEnd! } } : {}) });
    return;
  }
  const o = checkOutcome(finished, st, v, st.provider!, sc.maxRetries, sc.job.spec.gpusPerShard, sc.now, sc.opts);
  d.recordOutcomes.push({ index: range.index, recordName: rec.name, status: o.status, event: o.event, ...(finished.held ? { pod: finished.name } : {}) });
  d.gpuMillis += BigInt(Math.round(((o.status.gpuSeconds ?? 0) - (st.gpuSeconds ?? 0)) * 1000));
  const state = o.status.verification?.state;
  if (state === 'Pending') { d.counts.running++; d.verification.pending++; sc.wake(retryDelayMs(o.checks, sc.opts)); return; }
  if (state === 'Failed') {
    d.untrusted.add(st.provider!);
    d.verification.failed++;
    d.verification.failedMessage ??= o.status.verification?.message;
  } else if (state === 'Verified') d.verification.verified++;
  else d.verification.skipped++;
  d.counts.succeeded++;
  if (o.status.placement === 'Remote') { d.counts.remote++; d.placed.succeededRemote++; } else { d.counts.local++; d.placed.succeededLocal++; }
}

function countVerification(sc: Scan, st: ShardRecordStatus): void {
  const v = st.verification;
  if (v?.state === 'Failed') {
    sc.d.verification.failed++;
    sc.d.verification.failedMessage ??= v.message;
  } else if (st.placement === 'Remote' && st.phase === 'Succeeded') {
    if (v?.state === 'Verified') sc.d.verification.verified++;
    else if (v?.state === 'Skipped') sc.d.verification.skipped++;
  }
}

/** A remote attempt is live from the moment its intent is recorded until its outcome is. */
function liveRemote(sc: Scan, rec: ShardRecord): void {
  const { d } = sc;
  const st = rec.status;
  sc.liveCount++;
  d.counts.running++;
  d.counts.remote++;
  d.placed.runningRemote++;
  d.remoteLive.push(rec);
  if (st.provider && d.untrusted.has(st.provider)) d.cancelRemote.push(rec);
  sc.liveByProvider.set(st.provider ?? '', (sc.liveByProvider.get(st.provider ?? '') ?? 0) + 1);
}

function liveLocal(sc: Scan, range: ShardRange, alive: PodView[]): void {
  const { d } = sc;
  sc.liveCount++;
  d.counts.running++;
  d.counts.local++;
  d.placed.runningLocal++;
  const stuck = alive.find((p) => p.unschedulable && !p.terminating);
  if (stuck) {
    d.unschedulable++;
    sc.pullBack.push({ index: range.index, attempt: stuck.attempt, waitingSinceMs: stuck.unschedulableSince ?? sc.now, unschedulablePod: { name: stuck.name, sinceMs: stuck.unschedulableSince ?? sc.now } });
  }
}

/** No live pod: record the newest finished attempt that the record does not know yet, or wait for the backoff, or start. */
function waitingOrFinished(sc: Scan, range: ShardRange, rec: ShardRecord | undefined, shardPods: PodView[]): void {
  const { d } = sc;
  const st = rec?.status ?? {};
  const recorded = st.attempts ?? 0;
  const finished = shardPods.filter((p) => !live(p) && p.attempt > recorded).sort((a, b) => b.attempt - a.attempt)[0];
  if (finished && !rec && foldable(sc, finished)) return fold(sc, range, finished);
  if (finished) {
    if (finished.terminating && finished.phase === 'Failed' && finished.held) sc.killed.add(finished.name);
    const status = outcomeOf(finished, st, sc.maxRetries, sc.job.spec.gpusPerShard, sc.now, sc.opts);
    d.recordOutcomes.push({
      index: range.index, recordName: rec?.name ?? recordName(sc.job.name, range.index), status: status.status, event: status.event,
      ...(rec ? {} : { create: range }), ...(finished.held ? { pod: finished.name } : {}),
    });
    d.gpuMillis += BigInt(Math.round(((status.status.gpuSeconds ?? 0) - (st.gpuSeconds ?? 0)) * 1000));
    if (status.status.phase === 'Succeeded') { d.counts.succeeded++; d.counts.local++; d.placed.succeededLocal++; return; }
    if (status.status.phase === 'Failed') { d.counts.failed++; sc.firstFailure ??= `shard ${range.index}: ${status.status.lastFailure?.message}`; return; }
    d.counts.pending++;
    sc.wake(retryDelayMs(status.status.attempts ?? 1, sc.opts));
    return;
  }
  d.counts.pending++;
  const retryAt = st.retryAfter ? Date.parse(st.retryAfter) : 0;
  if (retryAt > sc.now) { sc.wake(retryAt - sc.now); return; }
  sc.startable.push(range);
}

/** A finished first attempt folds into the job's status when it succeeded with nothing a user reads later. */
function foldable(sc: Scan, pod: PodView): boolean {
  return !sc.job.keepsRecords && pod.phase === 'Succeeded' && !(parseResult(pod.message)?.length);
}

/** How long a finished pod's container ran (0 when its times are unknown). */
function ranMs(pod: PodView): number {
  return pod.startedAt !== undefined && pod.finishedAt !== undefined ? Math.max(0, pod.finishedAt - pod.startedAt) : 0;
}

/** Wall time of a local success, for the planner's duration estimates. */
function countDone(sc: Scan, pod: PodView): void {
  if (pod.startedAt === undefined || pod.finishedAt === undefined) return;
  const ms = ranMs(pod);
  sc.doneMs += ms;
  sc.doneCount++;
  const model = pod.nodeName ? sc.opts.nodeModel?.(pod.nodeName) : undefined;
  if (model) (sc.doneByModel[model] ??= []).push(ms);
}

/** A first attempt that succeeded without outputs: folded into status.shardSets, its pod released after. */
function fold(sc: Scan, range: ShardRange, pod: PodView): void {
  const { d } = sc;
  const gpuMillis = BigInt(Math.round(ranMs(pod) * sc.job.spec.gpusPerShard));
  d.fold.push({ index: range.index, pod: pod.name, gpuMillis, held: !!pod.held });
  d.gpuMillis += gpuMillis;
  countDone(sc, pod);
  d.counts.succeeded++; d.counts.local++; d.placed.succeededLocal++;
}

/** A shard already folded into the job's status: succeeded, locally (its pod may still be cached). */
function foldedSucceeded(sc: Scan, shardPods: PodView[]): void {
  const { d } = sc;
  const done = shardPods.filter((p) => p.phase === 'Succeeded').sort((a, b) => b.attempt - a.attempt)[0];
  if (done) countDone(sc, done);
  d.counts.succeeded++; d.counts.local++; d.placed.succeededLocal++;
}

/** Held pods whose outcome is kept already (folded, or on the record): their finalizer goes. */
function releaseKept(sc: Scan, index: number, rec: ShardRecord | undefined, shardPods: PodView[]): void {
  const st = rec?.status;
  const kept = Math.max(st?.attempts ?? 0, st?.verification?.attempt ?? 0);
  const folded = !rec && !!sc.job.folded?.succeeded.has(index);
  for (const p of shardPods) {
    if (p.held && (p.neverRan || (!live(p) && (folded || p.attempt <= kept)))) sc.d.release.push(p.name);
  }
}

/** A job being deleted: its outcomes no longer matter; every stopped pod is released. */
function releaseAll(sc: Scan): void {
  const released = new Set(sc.d.release);
  for (const list of sc.pods.values()) {
    for (const p of list) if (p.held && !live(p) && !released.has(p.name)) sc.d.release.push(p.name);
  }
}

/** The job's outcome from the shards' states; true when nothing new may start (finished, failed, suspended, deleting). */
function concludeOutcome(sc: Scan): boolean {
  const { d, job, now, records } = sc;
  // A check that failed in this pass makes its provider untrusted only from that shard on: its
  // unverified results at lower indexes were counted as succeeded above. The job does not complete
  // on them; the next pass (at once) discards them.
  const failedNow = [...d.untrusted].filter((p) => !sc.untrustedAtStart.has(p));
  const recorded = new Map(d.recordOutcomes.map((o) => [o.index, o.status]));
  const unverifiedOfFailed = failedNow.length > 0 && [...records.values()].some((r) => {
    const s = recorded.get(r.index) ?? r.status;
    return s.placement === 'Remote' && s.phase === 'Succeeded' && !!s.provider && failedNow.includes(s.provider) && s.verification?.state !== 'Verified';
  });
  if (unverifiedOfFailed) sc.wake(1);
  if (d.counts.succeeded === d.counts.total && !unverifiedOfFailed) {
    d.outcome = 'Succeeded';
    return true;
  }
  const deadline = job.spec.deadline ? Date.parse(job.spec.deadline) : undefined;
  if (sc.firstFailure !== undefined) {
    d.outcome = 'Failed';
    d.failure = { reason: 'ShardFailed', message: `${d.counts.failed} shard(s) failed beyond maxRetries=${sc.maxRetries}; first: ${sc.firstFailure}` };
  } else if (deadline !== undefined && now >= deadline) {
    d.outcome = 'Failed';
    d.failure = { reason: 'DeadlineExceeded', message: `deadline ${job.spec.deadline} passed with ${d.counts.succeeded}/${d.counts.total} shards done` };
  }
  if (d.outcome === 'Failed' || job.spec.suspend || job.deletionTimestamp !== undefined) {
    // Stop everything that runs; counts of finished shards are kept.
    for (const p of sc.livePods) if (!p.terminating) d.deletePods.push(p.name);
    // Pods stopped because the job stops were not failures of their shards: released, not recorded.
    // (A kill that used up the shard's last retry stays recorded: it is what failed the job.)
    if (sc.killed.size > 0) {
      const stopped = (o: Decision['recordOutcomes'][number]) => !!o.pod && sc.killed.has(o.pod) && o.status.phase === 'Pending';
      d.release.push(...d.recordOutcomes.filter(stopped).map((o) => o.pod!));
      d.recordOutcomes = d.recordOutcomes.filter((o) => !stopped(o));
    }
    if (job.deletionTimestamp !== undefined) releaseAll(sc);
    d.cancelRemote = [...d.remoteLive];
    if (d.outcome !== 'Failed') d.outcome = job.deletionTimestamp !== undefined ? 'Running' : 'Suspended';
    return true;
  }
  d.outcome = sc.liveCount > 0 || d.counts.succeeded > 0 || d.recordOutcomes.length > 0 ? 'Running' : 'Pending';
  return false;
}

/** What starts now, within parallelism: spot-check re-runs first, then new attempts where the planner (or local) puts them. */
function planStarts(sc: Scan, ranges: ShardRange[], place?: PlaceFn): void {
  const { d, job, now, opts, records, pods } = sc;
  const parallelRoom = Math.max(0, (job.spec.shards.parallelism ?? d.counts.total) - sc.liveCount);
  let room = Math.min(parallelRoom, opts.maxStartsPerReconcile);
  for (const c of sc.checks) {
    if (room === 0) break;
    d.createPods.push({ index: c.index, attempt: c.attempt, name: podName(job.name, c.index, c.attempt), ...(c.frames ? { frames: c.frames } : {}) });
    room--;
  }
  const nextAttempt = (index: number) => Math.max(records.get(index)?.status.attempts ?? 0, ...(pods.get(index) ?? []).map((p) => p.attempt)) + 1;
  const candidates: Candidate[] = sc.startable.map((r) => {
    const st = records.get(r.index)?.status;
    return { index: r.index, attempt: nextAttempt(r.index), waitingSinceMs: st?.retryAfter ? Date.parse(st.retryAfter) : job.creationTimestamp };
  });
  const placements = place
    ? place([...candidates, ...sc.pullBack], room, {
      runningLocal: d.placed.runningLocal, runningRemote: d.placed.runningRemote, remoteCostMicros: d.remoteCostMicros, liveRemoteByProvider: sc.liveByProvider, excludeProviders: d.untrusted,
      ...(sc.doneCount > 0 ? { expectedShardMs: sc.doneMs / sc.doneCount } : {}),
      ...(Object.keys(sc.doneByModel).length > 0 ? { finishedByModel: sc.doneByModel } : {}),
    })
    : undefined;
  // A stuck local pod that the planner sends elsewhere is deleted first; the shard moves once it is gone.
  for (const c of sc.pullBack) {
    if (placements?.get(c.index)?.kind === 'Remote') d.deletePods.push(c.unschedulablePod!.name);
  }
  const byIndex = new Map(ranges.map((r) => [r.index, r]));
  for (const c of candidates) {
    if (room === 0) break;
    const range = byIndex.get(c.index)!;
    const where = placements?.get(c.index) ?? (placements ? { kind: 'Wait' as const } : { kind: 'Local' as const });
    if (where.kind === 'Wait') continue;
    // A remote attempt's record is created before its intent; a local shard's pod is its record
    // (a job that keeps records gets one with the pod, in the same step).
    if (!records.get(c.index) && (where.kind === 'Remote' || job.keepsRecords)) d.createRecords.push(range);
    if (where.kind === 'Remote') {
      d.submitRemote.push({ index: c.index, recordName: recordName(job.name, c.index), attempt: c.attempt, provider: where.provider, ...(where.gpuModel ? { gpuModel: where.gpuModel } : {}), idempotencyKey: idempotencyKey(job.uid, c.index, c.attempt), waitedMs: now - c.waitingSinceMs });
    } else {
      d.createPods.push({ index: c.index, attempt: c.attempt, name: podName(job.name, c.index, c.attempt), waitedMs: now - c.waitingSinceMs, ...(range.frameStart !== undefined ? { frames: { start: range.frameStart, end: range.frameEnd! } } : {}) });
    }
    room--;
  }
  // Capped by maxStartsPerReconcile, not by parallelism: come straight back for the rest.
  if (room === 0 && parallelRoom > opts.maxStartsPerReconcile && candidates.length > opts.maxStartsPerReconcile) sc.wake(1);
  if (d.submitRemote.length > 0 || d.createPods.length > 0 || d.createRecords.length > 0) d.outcome = 'Running';
  const deadline = job.spec.deadline ? Date.parse(job.spec.deadline) : undefined;
  if (deadline !== undefined) sc.wake(deadline - now);
}

/**
 * The outcome of a spot check's local re-run of a remote result. Same content: Verified. Different
 * content: Failed, the provider loses the job's trust, and the local result (which is trusted) becomes
 * the shard's. A re-run that fails is tried again up to maxRetries times, then the check is Skipped
 * (the local side could not check; the provider is not blamed for it).
 */
function checkOutcome(pod: PodView, st: ShardRecordStatus, v: NonNullable<ShardRecordStatus['verification']>, provider: string, maxRetries: number, gpus: number, now: number, opts: DecideOptions): { status: ShardRecordStatus; checks: number; event?: Decision['recordOutcomes'][number]['event'] } {
  const gpuSeconds = (st.gpuSeconds ?? 0) + (ranMs(pod) * gpus) / 1000;
  const localCost = costOfGpuMillis(BigInt(Math.round(gpuSeconds * 1000)), opts.localPricePerGpuHourMicros);
  const checks = pod.attempt - (st.attempts ?? 0);
  const base: ShardRecordStatus = { ...st, gpuSeconds, cost: formatMicros(localCost + (st.remoteCost ? parseMicros(st.remoteCost) : 0n)) };
  if (pod.phase !== 'Succeeded') {
    const why = `local re-run ${pod.name} exited ${pod.exitCode ?? '?'}${pod.message ? `: ${pod.message.slice(0, 256)}` : ''}`;
    if (checks <= maxRetries) return { checks, status: { ...base, verification: { ...v, attempt: pod.attempt, message: `${why}; trying again` } } };
    return {
      checks,
      status: { ...base, verification: { ...v, state: 'Skipped', attempt: pod.attempt, message: `${why}; not checked after ${checks} re-runs` } },
      event: { type: 'Warning', reason: 'SpotCheckSkipped', message: `shard ${pod.index}: ${why}; the result of ${provider} stands unchecked` },
    };
  }
  const local = parseResult(pod.message) ?? [];
  const cmp = compareSpotCheck(local, st.result?.outputs ?? []);
  const localDigest = cmp.localDigest;
  if (cmp.verdict === 'match') {
    return { checks, status: { ...base, verification: { ...v, state: 'Verified', attempt: pod.attempt, localDigest, message: `local re-run ${pod.name} produced the same ${local.length} output(s)` } } };
  }
  const message = cmp.verdict === 'noOutputs'
    ? `local re-run ${pod.name} reported no outputs to compare with ${provider}'s result`
    : `${provider}'s result for shard ${pod.index} differs from local re-run ${pod.name} (content ${cmp.remoteDigest.slice(0, 12)} vs ${localDigest.slice(0, 12)})`;
  if (cmp.verdict === 'noOutputs') {
    return { checks, status: { ...base, verification: { ...v, state: 'Skipped', attempt: pod.attempt, message } }, event: { type: 'Warning', reason: 'SpotCheckSkipped', message } };
  }
  return {
    checks,
    status: {
      ...base, phase: 'Succeeded', placement: 'Local', podName: pod.name, attempts: pod.attempt,
      result: { outputs: local }, completionTime: iso(pod.finishedAt ?? now),
      lastFailure: { reason: 'VerificationFailed', message },
      verification: { ...v, state: 'Failed', attempt: pod.attempt, localDigest, provider, message },
    },
    event: { type: 'Warning', reason: 'VerificationFailed', message: `${message}; nothing of this job is paid to ${provider}, its unchecked results run again elsewhere` },
  };
}

function outcomeOf(pod: PodView, st: ShardRecordStatus, maxRetries: number, gpus: number, now: number, opts: DecideOptions): { status: ShardRecordStatus; event?: Decision['recordOutcomes'][number]['event'] } {
  const gpuSeconds = (st.gpuSeconds ?? 0) + (ranMs(pod) * gpus) / 1000;
  const localCost = costOfGpuMillis(BigInt(Math.round(gpuSeconds * 1000)), opts.localPricePerGpuHourMicros);
  const base: ShardRecordStatus = {
    ...st,
    cost: formatMicros(localCost + (st.remoteCost ? parseMicros(st.remoteCost) : 0n)),
    placement: 'Local',
    podName: pod.name,
    attempts: pod.attempt,
    gpuSeconds,
    startTime: st.startTime ?? (pod.startedAt !== undefined ? iso(pod.startedAt) : undefined),
  };
  const model = pod.nodeName ? opts.nodeModel?.(pod.nodeName) : undefined;
  if (model) base.gpuModel = model;
  else delete base.gpuModel; // not the model of an earlier remote attempt
  if (pod.phase === 'Succeeded') {
    const outputs = parseResult(pod.message);
    return {
      status: { ...base, phase: 'Succeeded', result: { outputs: outputs ?? [] }, completionTime: iso(pod.finishedAt ?? now), retryAfter: undefined },
    };
  }
  const message = `attempt ${pod.attempt} exited ${pod.exitCode ?? '?'}${pod.message ? `: ${pod.message.slice(0, 512)}` : ''}`;
  const lastFailure = { reason: pod.reason ?? 'Error', message };
  if (pod.attempt > maxRetries) {
    return {
      status: { ...base, phase: 'Failed', lastFailure, completionTime: iso(pod.finishedAt ?? now), retryAfter: undefined },
      event: { type: 'Warning', reason: 'ShardFailed', message: `${message}; no retries left (maxRetries=${maxRetries})` },
    };
  }
  const delay = retryDelayMs(pod.attempt, opts);
  return {
    status: { ...base, phase: 'Pending', lastFailure, retryAfter: iso(now + delay) },
    event: { type: 'Warning', reason: 'ShardRetrying', message: `${message}; retrying in ${(delay / 1000).toFixed(1)}s` },
  };
}
