// The RenderJob reconciler: reads one job, its RenderShards and its shard pods from the informer
// caches, asks `decide` what is true and what to do, acts (in an order that never loses an outcome
// and never starts a shard twice), and writes the job's status only when it changed, conditional on
// the resourceVersion it read. Outcomes folded into the status (status.shardSets) release their pods'
// finalizers only after that write returned. It returns when to look again; errors go back to the
// work queue, which backs off per job.
import type * as k8s from '@kubernetes/client-node';
import type { Expectations } from '../../runtime/expectations.js';
import { TerminalError, type Lister, type Log as Logger, type Recorder } from '../../runtime/index.js';
import type { JobMetrics } from '../../metrics/metrics.js';
import { costOfGpuMillis } from '../../money.js';
import { gpusPerShard, shardCount, type RenderJob, type RenderShard } from '../../api/index.js';
import { decide, recordName, type Candidate, type Decision, type DecideOptions, type JobSnapshot, type PlaceInfo, type Placement, type PodView, type ShardRecord, type ShardRecordStatus } from './decide.js';
import type { PlanReason } from '../../planner/index.js';
import type { Placer } from './placement.js';
import { maxDurationSecOf, shardSpecFor, type RecordFn, type RemoteShards, type ResultCheck, type VerificationHook } from './remote.js';
import type { SettlementView } from '../ports.js';
import { verifiedCondition } from '../../verification/index.js';
import { buildPod, podView, toMs } from './pods.js';
import { computeStatus, sameJson, type JobStatus } from './status.js';
import { noDataPlane, type DataHooks, type Hold } from '../../data/plane.js';
import { API_VERSION, FINALIZER, type JobWriter } from './writer.js';
import { formatIndexSet, parseIndexSet } from '../../api/indexset.js';
import { ORIGIN_ANNOTATIONS } from '../../providers/subnet/names.js';
import { isConflict } from '../../runtime/errors.js';

export type RenderJobObject = RenderJob;
export type RenderShardObject = RenderShard;

export type { Lister, Recorder };

export interface ReconcilerConfig extends DecideOptions {
  localPricePerGpuHourMicros: bigint;
  writeConcurrency: number;
  /** Progress-only status changes (counts, cost) are written at most this often per job; phase and condition flips at once. */
  statusMinIntervalMs: number;
}

export interface ReconcilerDeps {
  metrics?: JobMetrics;
  /** Remote shard steps; absent: the operator runs local shards only. */
  remote?: RemoteShards;
  /** Placement of Burst and ProviderOnly jobs (the planner); absent: every shard runs locally. */
  place?: Placer;
  /** On-chain settlement (absent: the operator has no settlement config). */
  settlement?: SettlementView;
  /** A spot check finished (verified, failed, skipped). */
  onVerification?: VerificationHook;
  /** The data plane's hooks (inputs gate, pod/spec decoration); absent: a job that needs it is held. */
  data?: DataHooks;
  /** Names of the ComputeProviders (to leave out those a settled job cannot pay). */
  providerNames?: () => string[];
  jobs: Lister<RenderJobObject>;
  shards: Lister<RenderShardObject>;
  pods: Lister<k8s.V1Pod>;
  writer: JobWriter;
  recorder: Recorder;
  clock: { now(): number };
  /** New jobs queued for their first reconcile (fair first pods); absent: none. */
  newJobsWaiting?: () => number;
  /** Pods created or deleted but not yet seen so by the cache (a stale cache never causes a second create). */
  expectations: Expectations;
  log: Logger;
  config: ReconcilerConfig;
}

export interface ReconcileResult { requeueAfterMs?: number }

const INDEX_JOB = 'job';
/** Shards a job may start per pass while new jobs wait for their first pod. */
export const FAIR_STARTS = 1;
const PLAN_POLL_MS = 2000;
/** A status write refused because the job changed since it was read: looked at again this soon. */
const CONFLICT_RETRY_MS = 200;
/** A job held by the inputs gate is looked at again this often (the CID may appear). */
const HELD_POLL_MS = 15_000;

/** Parses "<job>-<index>-<attempt>" from the end, since job names contain dashes. */
function parsePodName(name: string): { index: number; attempt: number } | undefined {
  const m = /-(\d+)-(\d+)$/.exec(name);
  return m ? { index: Number(m[1]), attempt: Number(m[2]) } : undefined;
}

async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  let firstErr: unknown;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      try { await fn(item); } catch (e) { firstErr ??= e; }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (firstErr !== undefined) throw firstErr;
}

/**
 * Conditions whose flips are progress too: whether every pod found a node right now (Scheduled)
 * and whether the planner is bursting at this moment change many times in a busy cluster.
 */
const PROGRESS_CONDITIONS = new Set(['Scheduled', 'Bursting']);

/** True when next differs from prev only in progress (counts, cost, Scheduled/Bursting), not in phase or outcome conditions. */
function progressOnly(prev: JobStatus | undefined, next: JobStatus): boolean {
  if (!prev || prev.phase !== next.phase || prev.observedGeneration !== next.observedGeneration) return false;
  // Shards newly stuck with nowhere to go (no offer, over the price cap, out of budget) are news, not progress.
  const stuck = (st: JobStatus) => st.conditions?.find((c) => c.type === 'Bursting' && STUCK_REASONS.has(c.reason))?.reason;
  if (stuck(next) !== undefined && stuck(next) !== stuck(prev)) return false;
  const flips = (a?: JobStatus['conditions'], b?: JobStatus['conditions']) =>
    (a ?? []).length !== (b ?? []).length || (b ?? []).some((c) => !PROGRESS_CONDITIONS.has(c.type) && (a ?? []).find((x) => x.type === c.type)?.status !== c.status);
  return !flips(prev.conditions, next.conditions);
}

/** The status fields the RenderJob controller owns: without status.settlement, and without Settled when the settlement controller writes it. */
export function ownStatus(status: JobStatus | undefined, settlementOwnsSettled: boolean): JobStatus | undefined {
  if (!status) return undefined;
  // status.delivery and the Delivered condition are the delivery controller's (data/setup.ts).
  const { settlement: _theirs, delivery: _delivery, ...rest } = status;
  const mine = rest.conditions?.some((c) => c.type === 'Delivered') ? { ...rest, conditions: rest.conditions.filter((c) => c.type !== 'Delivered') } : rest;
  return settlementOwnsSettled && mine.conditions?.some((c) => c.type === 'Settled')
    ? { ...mine, conditions: mine.conditions.filter((c) => c.type !== 'Settled') }
    : mine;
}

/** A spec no shard can be made of. */
class SpecError extends Error {}

/** What one reconcile pass of a job carries from step to step. */
interface Pass {
  key: string;
  job: RenderJobObject;
  namespace: string;
  now: number;
  deleting: boolean;
  generation: number;
  records: Map<number, ShardRecord>;
  pods: Map<number, PodView[]>;
  settles: boolean;
  domain: ReturnType<SettlementView['domain']>;
  check: ResultCheck | undefined;
  decision: Decision;
  total: number;
  planReason?: PlanReason;
  invalid?: string;
  /** Why no shard may start yet (the data plane's inputs gate). */
  held?: Hold;
  /** Remote stops not yet confirmed (the job may not finish deletion). */
  remoteStopping: number;
  /** The soonest a remote step asked to be looked at again. */
  remoteWake?: number;
  /** Writes a RenderShard status and remembers it against a stale cache. */
  record: RecordFn;
  /** The job's status.shardSets as read (its own last write, when the cache has not caught up). */
  folded: { succeeded: Set<number>; gpuMillis: bigint };
  wake(ms: number | undefined): void;
}


/** Bursting reasons under which shards wait with nowhere to go (planner/types.ts BurstReason). */
const STUCK_REASONS = new Set(['NoEligibleOffer', 'PriceCapExceeded', 'BudgetExhausted']);
export class RenderJobReconciler {
  private readonly lastStatusWrite = new Map<string, number>();
  /** Jobs (key -> uid) whose finalizer this process added and the cache may not show yet. */
  private readonly finalized = new Map<string, string>();
  /** Shard outcomes written but maybe not yet in the cache: a stale cache must not record them twice. */
  private readonly written = new Map<string, ShardRecordStatus>();
  /** RenderShards this process created that the cache may not show yet (job key -> job uid and shard indexes). */
  private readonly createdRecords = new Map<string, { uid: string; indexes: Set<number> }>();
  /** Jobs in a pass that starts their first shards (fair first pods: others hold back meanwhile). */
  private readonly firstPasses = new Set<string>();
  /**
   * The job as this process last wrote it, and the resourceVersions its writes superseded: a cache
   * still at one of those has not seen the write yet, and the written job is read instead (so the next
   * conditional write is not refused, and a fold is never read back as missing).
   */
  private readonly wroteJob = new Map<string, { stale: Set<string>; job: RenderJobObject }>();
  /** Pods whose finalizer this process removed and the cache may still show (job key -> pod names). */
  private readonly released = new Map<string, Set<string>>();
  /** The last parsed status.shardSets.succeeded per job (big jobs keep one long string). */
  private readonly parsedSets = new Map<string, { text: string; set: Set<number> }>();
  constructor(private readonly d: ReconcilerDeps) {}

  /**
   * One pass over a job, in named steps: finalizer first; read the snapshot; decide; then act in an
   * order that never loses an outcome and never starts a shard twice (record outcomes, stop what must
   * stop, start shards, track remote attempts); then finish a deletion or write the status.
   */
  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace, name] = key.split('/') as [string, string];
    const job = this.freshest(key, this.d.jobs.get(namespace, name));
    if (!job) return this.forgetJob(key);
    const deleting = !!job.metadata.deletionTimestamp;
    if (deleting && !(job.metadata.finalizers ?? []).includes(FINALIZER)) return {};
    // The finalizer comes before any effect outside the cluster; local pods (owned by the job, so
    // garbage-collected with it) may go out while its patch is in flight: a new job's first pod waits
    // for one round trip, not two. Anything remote waits for the patch.
    const finalized = this.ensureFinalizer(key, job);
    finalized.catch(() => {}); // awaited below
    try {
      return await this.act(key, job, deleting, finalized);
    } finally {
      this.firstPasses.delete(key);
    }
  }

  private async act(key: string, job: RenderJobObject, deleting: boolean, finalized: Promise<void>): Promise<ReconcileResult> {
    let pass: Pass;
    try {
      pass = this.decideNow(key, job);
    } catch (e) {
      await finalized;
      if (e instanceof SpecError) return this.rejectSpec(job, e);
      throw e;
    }
    pass.held = deleting ? undefined : await (this.d.data ? this.d.data.gate(job) : noDataPlane(job));
    const d = pass.decision;
    if (d.submitRemote.length > 0 || d.cancelRemote.length > 0 || d.remoteLive.length > 0 || d.recordOutcomes.length > 0 || deleting) await finalized;
    await this.recordOutcomes(pass);
    await this.release(pass.key, pass.namespace, d.release);
    await this.stopWhatMustStop(pass);
    if (!pass.held) await this.startShards(pass);
    await this.trackRemote(pass);
    await finalized;
    if (deleting) return this.finishDeletion(pass);
    return this.writeStatus(pass);
  }

  /**
   * A spec the schema let through but no shard can be made of (e.g. a shard count out of range):
   * Accepted=False InvalidSpec and an Event, then a TerminalError — retrying cannot fix it; a new
   * spec (a watch event) brings the job back.
   */
  private async rejectSpec(job: RenderJobObject, e: SpecError): Promise<never> {
    const prev = ownStatus(job.status, !!this.d.settlement);
    const now = new Date(this.d.clock.now()).toISOString();
    const was = prev?.conditions?.find((c) => c.type === 'Accepted');
    const accepted = { type: 'Accepted', status: 'False' as const, reason: 'InvalidSpec', message: e.message, observedGeneration: job.metadata.generation ?? 0, lastTransitionTime: was?.status === 'False' ? was.lastTransitionTime : now };
    const next: JobStatus = { ...prev, phase: 'Failed', observedGeneration: job.metadata.generation ?? 0, conditions: [accepted, ...(prev?.conditions ?? []).filter((c) => c.type !== 'Accepted')] };
    if (!sameJson(prev, next)) {
      await this.d.writer.patchJobStatus(job.metadata.namespace!, job.metadata.name!, next, job.metadata.resourceVersion);
      this.d.recorder.event({ apiVersion: API_VERSION, kind: 'RenderJob', metadata: job.metadata }, 'Warning', 'InvalidSpec', e.message);
    }
    throw new TerminalError(`renderjob ${job.metadata.namespace}/${job.metadata.name}: ${e.message}`);
  }

  /** The cached job, or this process's own last write of it when the cache has not seen that yet. */
  private freshest(key: string, cached: RenderJobObject | undefined): RenderJobObject | undefined {
    const mine = this.wroteJob.get(key);
    if (!mine || !cached) return cached;
    const rv = cached.metadata.resourceVersion ?? '';
    if (mine.job.metadata.uid === cached.metadata.uid && (mine.stale.has(rv) || rv === mine.job.metadata.resourceVersion)) return mine.job;
    this.wroteJob.delete(key); // the cache has a newer version than this process wrote
    return cached;
  }

  /** Remembers a job this process wrote (based on `basedOn`), until the cache shows a newer version. */
  private wrote(key: string, basedOn: string | undefined, job: RenderJobObject | undefined): void {
    if (!job || !basedOn) return;
    const prev = this.wroteJob.get(key);
    const stale = prev && prev.job.metadata.uid === job.metadata.uid ? prev.stale : new Set<string>();
    if (basedOn !== job.metadata.resourceVersion) stale.add(basedOn);
    this.wroteJob.set(key, { stale, job });
  }

  /** A job gone from the cache: its pods still held (a job removed without our cleanup) are released, and its memory dropped. */
  private async forgetJob(key: string): Promise<ReconcileResult> {
    const held = this.d.pods.byIndex(INDEX_JOB, key).map((p) => podView(p)).filter((v) => v?.held);
    const namespace = key.split('/')[0]!;
    await pool(held, this.d.config.writeConcurrency, (v) => this.d.writer.releasePod(namespace, v!.name));
    this.released.delete(key);
    this.wroteJob.delete(key);
    this.parsedSets.delete(key);
    this.d.expectations.deleteOwner(key);
    this.lastStatusWrite.delete(key);
    this.finalized.delete(key);
    this.createdRecords.delete(key);
    this.d.data?.forget(key);
    this.d.metrics?.forgetJob(key);
    return {};
  }

  /** Finalizer first, before any pod exists or anything is sent, so deletion always passes through cleanup. */
  private async ensureFinalizer(key: string, job: RenderJobObject): Promise<void> {
    const meta = job.metadata;
    const finalizers = meta.finalizers ?? [];
    if (finalizers.includes(FINALIZER)) { this.finalized.delete(key); return; }
    if (meta.deletionTimestamp || this.finalized.get(key) === meta.uid) return;
    // The patch is conditional on the resourceVersion read; once it succeeded the same pass goes on
    // (no round trip through the watch), and a cache that has not seen it yet does not patch again.
    this.wrote(key, meta.resourceVersion, await this.d.writer.setFinalizer(this.refOf(job), [...finalizers, FINALIZER]));
    this.finalized.set(key, meta.uid!);
  }

  private refOf(job: RenderJobObject) {
    const m = job.metadata;
    return { namespace: m.namespace!, name: m.name!, uid: m.uid!, resourceVersion: m.resourceVersion };
  }

  /** The job's RenderShard records as this process last knows them (its own writes the cache may not show yet win). */
  private readRecords(key: string, namespace: string, jobName: string, uid: string): Map<number, ShardRecord> {
    const records = new Map<number, ShardRecord>();
    for (const r of this.d.shards.byIndex(INDEX_JOB, key)) {
      const rname = r.metadata.name!;
      let status = r.status ?? {};
      const mine = this.written.get(`${namespace}/${rname}`);
      if (mine) {
        const caughtUp = (status.attempts ?? 0) >= (mine.attempts ?? 0) && status.phase === mine.phase && status.verification?.state === mine.verification?.state;
        if (caughtUp) this.written.delete(`${namespace}/${rname}`);
        else status = mine;
      }
      records.set(r.spec.index, { name: rname, index: r.spec.index, status });
    }
    // Records created by this process that the cache does not show yet exist all the same: a stale
    // cache must neither create them again nor take their pods for pods without a record.
    const created = this.createdRecords.get(key);
    if (created && created.uid !== uid) this.createdRecords.delete(key);
    else if (created) {
      for (const index of created.indexes) {
        if (records.has(index)) { created.indexes.delete(index); continue; }
        const name = recordName(jobName, index);
        records.set(index, { name, index, status: this.written.get(`${namespace}/${name}`) ?? {} });
      }
    }
    return records;
  }

  /** The job's shard pods from the cache, plus creates and deletes this process expects but the cache does not show yet. */
  private readPods(key: string): Map<number, PodView[]> {
    const pods = new Map<number, PodView[]>();
    const seen = new Set<string>();
    const pending = this.d.expectations.pending(key);
    const deletesPending = new Set(pending.deletes);
    const addPod = (v: PodView) => {
      const list = pods.get(v.index);
      if (list) list.push(v); else pods.set(v.index, [v]);
    };
    const released = this.released.get(key);
    for (const p of this.d.pods.byIndex(INDEX_JOB, key)) {
      const v = podView(p);
      if (!v) continue;
      seen.add(v.name);
      if (deletesPending.has(v.name)) v.terminating = true;
      // A finalizer this process removed that the cache still shows is not removed twice.
      if (released?.has(v.name)) {
        if (v.held) v.held = false; else released.delete(v.name);
      }
      addPod(v);
    }
    if (released) for (const n of released) if (!seen.has(n)) released.delete(n);
    for (const podName of pending.creates) {
      if (seen.has(podName)) { this.d.expectations.observeCreate(key, podName); continue; }
      const parsed = parsePodName(podName);
      if (parsed) addPod({ name: podName, ...parsed, phase: 'Pending', terminating: false, held: true });
    }
    return pods;
  }

  /** Reads the snapshot and asks decide() (with the planner for Burst and ProviderOnly jobs) what is true and what to do. */
  private decideNow(key: string, job: RenderJobObject): Pass {
    const { clock } = this.d;
    const meta = job.metadata;
    const namespace = meta.namespace!;
    const now = clock.now();
    const deleting = !!meta.deletionTimestamp;
    const snapshot: JobSnapshot = {
      name: meta.name!, namespace, uid: meta.uid!, generation: meta.generation ?? 0,
      creationTimestamp: toMs(meta.creationTimestamp as unknown as string) ?? now,
      deletionTimestamp: deleting ? toMs(meta.deletionTimestamp as unknown as string) : undefined,
      spec: { shards: job.spec.shards, suspend: job.spec.suspend, deadline: job.spec.deadline, gpusPerShard: gpusPerShard(job.spec) },
      folded: this.foldedOf(key, job),
      ...(job.status?.untrustedProviders?.length ? { untrusted: job.status.untrustedProviders } : {}),
      // A subnet peer's job (one shard of another cluster's job): the origin and the signer read its RenderShard.
      ...(meta.annotations?.[ORIGIN_ANNOTATIONS.key] ? { keepsRecords: true } : {}),
    };
    let total: number;
    try {
      total = shardCount(job.spec);
    } catch (e) {
      throw new SpecError((e as Error).message);
    }
    const records = this.readRecords(key, namespace, meta.name!, meta.uid!);
    const pods = this.readPods(key);
    if (records.size === 0 && pods.size === 0 && !deleting) this.firstPasses.add(key);
    // A settled job bursts only where results can be signed and paid: the chain must have been
    // reached (the signing domain is known) and the provider must have a payout address.
    const settles = !!job.spec.settlement?.enabled;
    const domain = settles ? this.d.settlement?.domain() : undefined;
    const check: ResultCheck | undefined = settles || job.spec.verification?.spotCheckFraction
      ? { jobUid: meta.uid!, spotCheckFraction: job.spec.verification?.spotCheckFraction, ...(domain ? { settle: { domain, payoutAddress: (p: string) => this.d.settlement?.payoutAddress(p) } } : {}) }
      : undefined;
    const pass: Pass = {
      key, job, namespace, now, deleting, generation: snapshot.generation, records, pods, settles, domain, check, folded: snapshot.folded!,
      decision: undefined as unknown as Decision, total, remoteStopping: 0,
      record: async (recordName, status, expect) => {
        const made = expect ? await this.d.writer.patchShardStatusIf(namespace, recordName, status, expect) : (await this.d.writer.patchShardStatus(namespace, recordName, status), true);
        if (!made) return false;
        this.written.set(`${namespace}/${recordName}`, status);
        return true;
      },
      wake: (ms) => { if (ms !== undefined && (pass.remoteWake === undefined || ms < pass.remoteWake)) pass.remoteWake = ms; },
    };
    pass.decision = decide(snapshot, records, pods, now, this.decideOptions(key), this.d.place ? (cands, room, info) => this.placeFor(pass, cands, room, info) : undefined);
    return pass;
  }

  /** The job's folded local shards (status.shardSets), parsed once per change of the set. */
  private foldedOf(key: string, job: RenderJobObject): { succeeded: Set<number>; gpuMillis: bigint } {
    const sets = job.status?.shardSets;
    const text = sets?.succeeded ?? '';
    let memo = this.parsedSets.get(key);
    if (!memo || memo.text !== text) {
      memo = { text, set: parseIndexSet(text) };
      this.parsedSets.set(key, memo);
    }
    return { succeeded: memo.set, gpuMillis: BigInt(Math.round((sets?.localGpuSeconds ?? 0) * 1000)) };
  }

  /**
   * Fair first pods: while new jobs wait for their first reconcile, a job starts at most
   * FAIR_STARTS shards per pass and comes back behind them for the rest, so every new job gets its
   * first pod before any job takes more than its share of the free GPUs.
   */
  private decideOptions(key: string): DecideOptions {
    const { config } = this.d;
    const waiting = (this.d.newJobsWaiting?.() ?? 0) + this.firstPasses.size - (this.firstPasses.has(key) ? 1 : 0);
    return waiting > 0 && config.maxStartsPerReconcile > FAIR_STARTS ? { ...config, maxStartsPerReconcile: FAIR_STARTS } : config;
  }

  /** The planner's placements for this pass; records the Bursting reason, or the spec problem the planner found. */
  private placeFor(pass: Pass, cands: Candidate[], room: number, info: PlaceInfo): Map<number, Placement> {
    try {
      const excluded = pass.settles ? { ...info, excludeProviders: new Set([...info.excludeProviders, ...this.unpayable()]) } : info;
      let r = this.d.place!(pass.job, cands, room, excluded);
      if (r && pass.settles && !pass.domain) {
        // Not connected to the chain yet (or not configured): nothing bursts until it is.
        r = { ...r, placements: new Map([...r.placements].map(([i, p]) => [i, p.kind === 'Remote' ? { kind: 'Wait' as const } : p])) };
      }
      if (!r) return new Map(cands.map((c) => [c.index, { kind: 'Local' as const }]));
      pass.planReason = r.reason;
      return r.placements;
    } catch (e) {
      // A spec value the schema let through but the planner cannot read: say so, run nothing new.
      pass.invalid = (e as Error).message;
      return new Map();
    }
  }

  /** 1. Outcomes of finished attempts are recorded before anything else happens to their shards. */
  private async recordOutcomes(pass: Pass): Promise<void> {
    const { config } = this.d;
    await pool(pass.decision.recordOutcomes, config.writeConcurrency, async (o) => {
      // A local outcome that cannot fold (a failure, outputs) gets its record now, with it.
      if (o.create) await this.createRecord(pass, o.create);
      await pass.record(o.recordName, o.status);
      if (o.pod) await this.release(pass.key, pass.namespace, [o.pod]);
      const gs = (o.status.gpuSeconds ?? 0) - (pass.records.get(o.index)?.status.gpuSeconds ?? 0);
      this.d.metrics?.attemptEnded('local', 'local', gs, Number(costOfGpuMillis(BigInt(Math.round(gs * 1000)), config.localPricePerGpuHourMicros)) / 1e6);
      const was = pass.records.get(o.index)?.status.verification;
      const now = o.status.verification;
      if (was?.state === 'Pending' && now && now.state !== 'Pending' && now.provider) {
        this.d.onVerification?.(now.provider, now.state === 'Verified' ? 'verified' : now.state === 'Failed' ? 'failed' : 'skipped', now.message);
      }
      if (o.event) this.d.recorder.event({ apiVersion: API_VERSION, kind: 'RenderShard', metadata: { name: o.recordName, namespace: pass.namespace, uid: this.d.shards.get(pass.namespace, o.recordName)?.metadata.uid } }, o.event.type, o.event.reason, o.event.message);
    });
  }

  /** 2. Pods that must stop are deleted; remote shards that must stop are cancelled, and the cancellation confirmed. */
  private async stopWhatMustStop(pass: Pass): Promise<void> {
    const { config, expectations, writer } = this.d;
    await pool(pass.decision.deletePods, config.writeConcurrency, async (podName) => {
      expectations.expectDelete(pass.key, podName);
      try {
        await writer.deletePod(pass.namespace, podName);
      } catch (e) {
        expectations.observeDelete(pass.key, podName);
        throw e;
      }
    });
    const remote = this.d.remote;
    if (!remote) return;
    await pool(pass.decision.cancelRemote, config.writeConcurrency, async (r) => {
      if (!(await remote.stop(pass.record, r, this.specFor(pass.job, r.index, this.framesOf(pass, r.index), pass.total, pass.domain, r.status.gpuModel)))) { pass.remoteStopping++; pass.wake(2000); }
    });
  }

  /** 3. Shards that start now, each as one sequence: its record (if new), then its pod or its remote intent. */
  private async startShards(pass: Pass): Promise<void> {
    const d = pass.decision;
    const newRecords = new Map(d.createRecords.map((r) => [r.index, r]));
    const ensureRecord = async (index: number) => {
      const r = newRecords.get(index);
      if (r) await this.createRecord(pass, r);
    };
    type Start = { local: Decision['createPods'][number] } | { remote: Decision['submitRemote'][number] };
    const starts: Start[] = [...d.createPods.map((p) => ({ local: p })), ...(this.d.remote ? d.submitRemote.map((r) => ({ remote: r })) : [])];
    await pool(starts, this.d.config.writeConcurrency, async (st) => {
      if ('local' in st) {
        // A local shard's pod is its record; a job that keeps records (a peer's) gets the record
        // with it, in the same round trip. An outcome finding no record creates it (recordOutcomes).
        const [rec, pod] = await Promise.allSettled([ensureRecord(st.local.index), this.startPod(pass, st.local)]);
        if (rec.status === 'rejected') throw rec.reason;
        if (pod.status === 'rejected') throw pod.reason;
      } else {
        const s = st.remote;
        await ensureRecord(s.index);
        const range = newRecords.get(s.index);
        const frames = range?.frameStart !== undefined ? { start: range.frameStart, end: range.frameEnd! } : this.framesOf(pass, s.index);
        await this.d.remote!.start(pass.record, pass.records.get(s.index)?.status ?? {}, s, this.specFor(pass.job, s.index, frames, pass.total, pass.domain, s.gpuModel));
        this.d.metrics?.shardStarted('remote', s.provider, (s.waitedMs ?? 0) / 1000);
        pass.wake(2000);
      }
    });
  }

  /** Creates a shard's RenderShard and remembers it until the cache shows it. */
  private async createRecord(pass: Pass, r: Decision['createRecords'][number]): Promise<void> {
    await this.d.writer.createShardRecord(this.refOf(pass.job), r.index, r.frameStart !== undefined ? { start: r.frameStart, end: r.frameEnd! } : undefined);
    const mine = this.createdRecords.get(pass.key);
    if (mine && mine.uid === pass.job.metadata.uid) mine.indexes.add(r.index);
    else this.createdRecords.set(pass.key, { uid: pass.job.metadata.uid!, indexes: new Set([r.index]) });
  }

  /** Removes the outcome finalizer of pods whose outcome is kept (or no longer matters); remembered against a stale cache. */
  private async release(key: string, namespace: string, pods: string[]): Promise<void> {
    await pool(pods, this.d.config.writeConcurrency, async (name) => {
      await this.d.writer.releasePod(namespace, name);
      const set = this.released.get(key);
      if (set) set.add(name); else this.released.set(key, new Set([name]));
    });
  }

  private async startPod(pass: Pass, p: Decision['createPods'][number]): Promise<void> {
    const { expectations } = this.d;
    const job = pass.job;
    const maxDurationSec = maxDurationSecOf(job);
    expectations.expectCreate(pass.key, p.name);
    this.d.metrics?.shardStarted('local', 'local', (p.waitedMs ?? 0) / 1000);
    try {
      const pod = buildPod({
        job: { name: job.metadata.name!, namespace: pass.namespace, uid: job.metadata.uid!, apiVersion: API_VERSION, kind: 'RenderJob' },
        template: job.spec.template, gpuModels: job.spec.gpu?.models, outputUri: job.spec.output?.uri,
        index: p.index, attempt: p.attempt, total: pass.total, frames: p.frames,
        ...(maxDurationSec ? { maxDurationSec } : {}),
      });
      await this.d.writer.createPod(this.d.data ? this.d.data.decoratePod(pod, job) : pod);
    } catch (e) {
      expectations.observeCreate(pass.key, p.name); // it was never created
      throw e;
    }
  }

  private framesOf(pass: Pass, index: number) {
    return this.d.shards.get(pass.namespace, `${pass.job.metadata.name}-${index}`)?.spec.frames;
  }

  /** 4. Live remote attempts are tracked to their outcome; stale submissions are cancelled; unread bills are asked for again. */
  private async trackRemote(pass: Pass): Promise<void> {
    const remote = this.d.remote;
    if (!remote) return;
    const d = pass.decision;
    const cancelling = new Set(d.cancelRemote);
    // A settled job's results are accepted only once they can be checked against the chain's domain.
    const trackable = pass.settles && !pass.domain ? [] : d.remoteLive.filter((r) => !cancelling.has(r));
    if (pass.settles && !pass.domain && d.remoteLive.length > 0) pass.wake(2000);
    const maxRetries = pass.job.spec.shards.maxRetries ?? 3;
    await pool(trackable, this.d.config.writeConcurrency, async (r) => {
      pass.wake(await remote.track(pass.record, pass.namespace, r, this.specFor(pass.job, r.index, this.framesOf(pass, r.index), pass.total, pass.domain, r.status.gpuModel), maxRetries, pass.check));
    });
    let stale = 0;
    for (const snap of pass.records.values()) {
      // The status as this pass left it: a shard started again above has a new intent recorded that
      // the snapshot does not show, and writing the snapshot back would lose it.
      const r = { ...snap, status: this.written.get(`${pass.namespace}/${snap.name}`) ?? snap.status };
      if (r.status.staleRemotes?.length && !(await remote.sweepStale(pass.record, r))) stale++;
      if (r.status.costPending) pass.wake(await remote.retryCost(pass.record, pass.namespace, r));
    }
    if (stale > 0) { pass.remoteStopping += stale; pass.wake(5000); }
  }

  /** A job being deleted: once nothing runs and no escrow is open, its records go and the finalizer is removed. */
  private async finishDeletion(pass: Pass): Promise<ReconcileResult> {
    const { key, job, namespace } = pass;
    // Stopped pods were released in this pass (decide: releaseAll).
    // Deleted pods are waited for until they are gone (released above once stopped), so the job's pods are gone when it is.
    const live = [...pass.pods.values()].flat().filter((p) => p.terminating || (p.phase !== 'Succeeded' && p.phase !== 'Failed'));
    if (live.length > 0 || pass.decision.deletePods.length > 0 || pass.remoteStopping > 0) return { requeueAfterMs: pass.remoteWake ?? 1000 };
    // Open escrows are released (verified work) or refunded before the job may go.
    if (pass.settles && this.d.settlement?.blocksDeletion(key, job)) return { requeueAfterMs: 2000 };
    await this.d.writer.deleteShardRecords(namespace, job.metadata.name!);
    for (const k of this.written.keys()) if (k.startsWith(`${namespace}/${job.metadata.name}-`)) this.written.delete(k);
    this.createdRecords.delete(key);
    this.released.delete(key);
    await this.d.writer.setFinalizer(this.refOf(this.freshest(key, job) ?? job), (job.metadata.finalizers ?? []).filter((f) => f !== FINALIZER));
    this.d.expectations.deleteOwner(key);
    this.d.log.info('renderjob cleaned up', { job: key });
    return {};
  }

  /** The status as it is now, written only when it changed (progress-only changes coalesced); and when to look again. */
  private async writeStatus(pass: Pass): Promise<ReconcileResult> {
    const { key, decision, now } = pass;
    const job = this.freshest(key, pass.job) ?? pass.job; // after this pass's own finalizer patch
    const { config } = this.d;
    // What this controller owns of the status: all but status.settlement and (with a settlement
    // controller) the Settled condition, which the settlement controller applies itself.
    const prev = ownStatus(job.status, !!this.d.settlement);
    const folds = decision.fold;
    const shardSets = folds.length === 0 ? prev?.shardSets : {
      succeeded: formatIndexSet([...pass.folded.succeeded, ...folds.map((f) => f.index)]),
      localGpuSeconds: Number(pass.folded.gpuMillis + folds.reduce((a, f) => a + f.gpuMillis, 0n)) / 1000,
    };
    const next = computeStatus({
      shardSets,
      prev, generation: pass.generation, decision, suspended: !!job.spec.suspend,
      localCostMicros: costOfGpuMillis(decision.gpuMillis, config.localPricePerGpuHourMicros),
      remoteCostMicros: decision.remoteCostMicros, now, invalid: pass.invalid, ...(pass.held ? { held: pass.held } : {}),
      ...(pass.planReason ? { bursting: pass.planReason } : {}),
      extra: this.extraConditions(job, decision, pass.settles, pass.records),
    });
    this.d.metrics?.observeJob(key, next.phase, { pending: decision.counts.pending, failed: decision.counts.failed, ...decision.placed });
    let requeue = decision.requeueAfterMs ?? (decision.counts.running > 0 ? 60_000 : undefined);
    if (pass.remoteWake !== undefined) requeue = requeue === undefined ? pass.remoteWake : Math.min(requeue, pass.remoteWake);
    // Shards the planner held back wait for burstAfter, new offers or free GPUs: look again soon.
    if (pass.planReason && decision.counts.pending > 0) requeue = Math.min(requeue ?? PLAN_POLL_MS, PLAN_POLL_MS);
    if (pass.held) requeue = Math.min(requeue ?? HELD_POLL_MS, HELD_POLL_MS);
    if (!sameJson(prev, next)) {
      const since = now - (this.lastStatusWrite.get(key) ?? 0);
      if (progressOnly(prev, next) && since < config.statusMinIntervalMs) {
        // Coalesce: many pod events in a burst become one status write.
        const wait = config.statusMinIntervalMs - since;
        requeue = requeue === undefined ? wait : Math.min(requeue, wait);
      } else {
        // Conditional on the version read: a stale view is refused (409) and looked at again at
        // once, so a fold is never overwritten by a status computed without it.
        let written: RenderJobObject | undefined;
        try {
          written = await this.d.writer.patchJobStatus(pass.namespace, job.metadata.name!, next, job.metadata.resourceVersion);
        } catch (e) {
          if (!isConflict(e)) throw e;
          this.d.log.debug('renderjob status conflict, looking again', { job: key });
          return { requeueAfterMs: CONFLICT_RETRY_MS };
        }
        this.wrote(key, job.metadata.resourceVersion, written);
        this.lastStatusWrite.set(key, now);
        this.emitTransitions(job, prev, next);
        // The fold is kept: only now may its pods go.
        for (const f of folds) this.d.metrics?.attemptEnded('local', 'local', Number(f.gpuMillis) / 1000, Number(costOfGpuMillis(f.gpuMillis, config.localPricePerGpuHourMicros)) / 1e6);
        await this.release(key, pass.namespace, folds.filter((f) => f.held).map((f) => f.pod));
      }
    }
    // A job with live shards is looked at again even without events, as a safety net.
    return requeue !== undefined ? { requeueAfterMs: requeue } : {};
  }

  /** Providers a settled job cannot pay: no payout address on their ComputeProvider. */
  private unpayable(): string[] {
    const s = this.d.settlement;
    if (!s) return [];
    return this.d.providerNames?.().filter((p) => !s.payoutAddress(p)) ?? [];
  }

  private specFor(job: RenderJobObject, index: number, frames: { start: number; end: number } | undefined, total: number, domain: ReturnType<SettlementView['domain']>, gpuModel?: string) {
    const plain = shardSpecFor(job, index, frames, total, gpuModel);
    const spec = this.d.data ? this.d.data.decorateSpec(plain, job) : plain;
    return domain ? { ...spec, settlement: { chainId: String(domain.chainId), escrowAddress: domain.escrowAddress, tokenDecimals: domain.tokenDecimals } } : spec;
  }

  /** Verified (spot checks and signatures) and Settled (escrows), when the job asks for them. */
  private extraConditions(job: RenderJobObject, d: Decision, settles: boolean, records: Map<number, ShardRecord>): { type: string; status: 'True' | 'False' | 'Unknown'; reason: string; message: string }[] {
    const out: { type: string; status: 'True' | 'False' | 'Unknown'; reason: string; message: string }[] = [];
    const verified = verifiedCondition(d.verification, settles || !!job.spec.verification?.spotCheckFraction);
    if (verified) out.push(verified);
    // A bill that could not be read is surfaced until it is (and the condition stays, True, after).
    const costPending = [...records.values()].filter((r) => r.status.costPending).length;
    if (costPending > 0) out.push({ type: 'CostsKnown', status: 'False', reason: 'CostUnavailable', message: `the bill of ${costPending} remote shard(s) could not be read from the provider yet; asking again, and nothing is paid for them until it is known` });
    else if (job.status?.conditions?.some((c) => c.type === 'CostsKnown')) out.push({ type: 'CostsKnown', status: 'True', reason: 'CostsRead', message: 'every remote shard\'s bill was read from its provider' });
    // Settled is the settlement controller's to write; without a settlement configuration there is
    // no such controller, so this one says why a settled job does not burst.
    if (settles && !this.d.settlement) {
      out.push({ type: 'Settled', status: 'False', reason: 'NotConfigured', message: 'the operator has no settlement configuration (--settlement-* / ATELIER_SETTLEMENT_*); nothing bursts until it has' });
    }
    return out;
  }

  private emitTransitions(job: RenderJobObject, prev: JobStatus | undefined, next: JobStatus) {
    const obj = { apiVersion: API_VERSION, kind: 'RenderJob', metadata: job.metadata };
    const held = next.conditions?.find((c) => c.type === 'Accepted' && c.status === 'False' && c.reason !== 'InvalidSpec');
    const heldBefore = prev?.conditions?.find((c) => c.type === 'Accepted');
    if (held && (heldBefore?.reason !== held.reason || heldBefore.message !== held.message)) this.d.recorder.event(obj, 'Warning', held.reason, held.message);
    // Shards that cannot go anywhere (no eligible provider, over the price cap, out of budget): a
    // Warning beside the condition, once per reason, so `kubectl describe` says why nothing moves.
    const stuck = (st: JobStatus | undefined) => st?.conditions?.find((c) => c.type === 'Bursting' && STUCK_REASONS.has(c.reason));
    const b = stuck(next);
    if (b && b.reason !== stuck(prev)?.reason) this.d.recorder.event(obj, 'Warning', b.reason, b.message);
    const was = prev?.phase;
    if (was === next.phase) return;
    const s = next.shards!;
    switch (next.phase) {
      case 'Running':
        this.d.recorder.event(obj, 'Normal', was === 'Suspended' ? 'Resumed' : 'Started', `running ${s.total} shard(s)`);
        break;
      case 'Suspended':
        this.d.recorder.event(obj, 'Normal', 'Suspended', `suspended with ${s.succeeded}/${s.total} shards done`);
        break;
      case 'Succeeded':
        this.d.recorder.event(obj, 'Normal', 'Completed', `all ${s.total} shards succeeded (local cost ${next.cost?.local} USD)`);
        break;
      case 'Failed': {
        const f = next.conditions?.find((c) => c.type === 'Failed' && c.status === 'True') ?? next.conditions?.find((c) => c.type === 'Accepted' && c.status === 'False');
        this.d.recorder.event(obj, 'Warning', f?.reason ?? 'Failed', f?.message ?? 'job failed');
        break;
      }
      default:
        break;
    }
  }
}
