// Remote shards: the steps that move one shard attempt through a provider, each safe to repeat and to
// interrupt. The intent (provider + idempotency key) is recorded on the RenderShard before anything
// is sent, conditionally on the record as the API server holds it; a submit asks the provider for that
// key first (findByKey) unless this process wrote the intent so and sends it for the first time (the
// proof is at freshIntents), so an attempt cut short by a crash is found again instead of sent twice;
// the remote id is recorded right after; the outcome
// (results, cost) is recorded before the attempt is forgotten (and before an Akash deployment is
// closed); a submission that cannot be confirmed cancelled is kept in `staleRemotes` and cancelled
// again, in the background, until the provider says it is gone. Status calls and searches are bounded
// by what is left of providerTimeout, so a provider that never answers is failed over in time.
import { API_VERSION, type RenderJob } from '../../api/index.js';
import { ProviderError, type ProviderAdapter, type ShardSpec } from '../../providers/index.js';
import { isInsufficientFunds, QuotaExceededError } from '../../providers/types.js';
import { nopJobMetrics, type JobMetrics } from '../../metrics/metrics.js';
import { formatMicros, parseMicros } from '../../money.js';
import { parseGoDuration } from '../../planner/duration.js';
import { retryDelayMs, type DecideOptions, type ShardRecord, type ShardRecordStatus } from './decide.js';
import { gpusOf } from './pods.js';
import { checkSignedResult, spotCheckSelected } from '../../verification/index.js';
import type { ResultDomain } from '../../settlement/results.js';
import type { Clock, Log as Logger, Recorder } from '../../runtime/index.js';

/** The adapter of a ComputeProvider by name, built with credentials read from its Secret. */
export interface AdapterSource {
  get(provider: string): Promise<ProviderAdapter | undefined>;
}

export interface RemoteConfig extends DecideOptions {
  /** How often a live remote shard's status is asked for. */
  pollIntervalMs: number;
  /** A provider that keeps failing to answer for this long has its shard failed over. */
  providerTimeoutMs: number;
}

/** How a job's remote results are checked when they come back. */
export interface ResultCheck {
  jobUid: string;
  /** verification.spotCheckFraction of the job. */
  spotCheckFraction?: number;
  /** Present when the job settles on-chain: results must be signed by the provider's payout key for this domain. */
  settle?: { domain: ResultDomain; payoutAddress(provider: string): string | undefined };
}

export type VerificationHook = (provider: string, result: 'verified' | 'failed' | 'skipped', message?: string) => void;

/**
 * Writes a RenderShard status patch (and remembers it against a stale cache). With `expect`, the write
 * is conditional (JobWriter.patchShardStatusIf): it is made only if the record as the API server holds
 * it passes `expect`, and no other write comes between that read and it; it resolves to true only
 * when it was made so.
 */
export type RecordFn = (recordName: string, status: ShardRecordStatus, expect?: (current: ShardRecordStatus) => boolean) => Promise<boolean | void>;

const iso = (ms: number) => new Date(ms).toISOString();

/** spec.shards.maxDuration in whole seconds (at least 1), or undefined when unset or unreadable (the schema checks it). */
export function maxDurationSecOf(job: RenderJob): number | undefined {
  const d = job.spec.shards.maxDuration;
  if (!d) return undefined;
  try {
    return Math.max(1, Math.ceil(parseGoDuration(d) / 1000));
  } catch {
    return undefined;
  }
}

/**
 * The shard as a provider gets it. `gpuModel`: the model of the offer the planner chose (the
 * attempt's status.gpuModel) — the submission asks for that model only, so the provider cannot
 * swap in a cheaper-per-hour but slower GPU the plan priced out.
 */
export function shardSpecFor(job: RenderJob, index: number, frames: { start: number; end: number } | undefined, total: number, gpuModel?: string): ShardSpec {
  const t = job.spec.template;
  const maxDurationSec = maxDurationSecOf(job);
  const env = (t.env ?? []).filter((e) => typeof e.value === 'string').map((e) => ({ name: e.name, value: e.value as string }));
  return {
    jobUid: job.metadata.uid!, jobNamespace: job.metadata.namespace!, jobName: job.metadata.name!,
    shardIndex: index, shardCount: total,
    image: t.image, command: t.command ?? [], args: t.args ?? [], env,
    gpuCount: gpusOf(t), gpuModels: gpuModel ? [gpuModel] : job.spec.gpu?.models ?? [],
    outputUri: job.spec.output?.uri ?? '',
    ...(frames ? { frames } : {}),
    ...(maxDurationSec ? { maxDurationSec } : {}),
  };
}

/** Stale cancels that failed are tried again after this long, doubling per failure up to the cap. */
const STALE_RETRY_MS = 5_000;
const STALE_RETRY_MAX_MS = 60_000;
/** How long a sweep waits for the cancels it started; slower ones finish in the background. */
const STALE_GRACE_MS = 1_000;

/** The runtime's Clock; with setTimer, provider calls in the remote steps are bounded in time. */
export type RemoteClock = Pick<Clock, 'now'> & Partial<Pick<Clock, 'setTimer'>>;

/** A provider call other than a status poll (results, cost, cancel) is given up after this long at most. */
const CALL_TIMEOUT_MS = 60_000;
/** A bill that could not be read is asked for again after this long, doubling per failure up to the cap. */
const COST_RETRY_MAX_MS = 60_000;
/** A running remote shard is looked at less often the longer it has run, up to this. */
const RUNNING_POLL_MAX_MS = 30_000;
/** Jobs whose remote run times are kept (runTimes). */
const RUN_TIMES_KEPT = 1024;

/**
 * When to look at a running remote shard again: every pollInterval at first, then an eighth of the
 * time it has run so far (its end is seen at most ~12% of its run time late, at most 30 s), never
 * past its maxDuration. Polling every few seconds made status calls most of the provider calls per
 * shard (burst benchmark: 6.6 of Akash's 13.8 per shard). `expectedMs`: how long its job's shards on
 * this provider took to be seen finished (RemoteShards.runTimes); a run not yet that old is looked at
 * when it should have ended (within the same 30 s), so a 10 s shard is not looked at twice while it
 * runs. A shard that fails early is seen at most that much later.
 */
export function runningPollMs(pollIntervalMs: number, ranMs: number, limitMs: number, expectedMs = 0): number {
  let wait = Math.max(pollIntervalMs, Math.min(RUNNING_POLL_MAX_MS, Math.floor(ranMs / 8)));
  if (expectedMs > ranMs) wait = Math.max(wait, Math.min(RUNNING_POLL_MAX_MS, expectedMs - ranMs));
  if (limitMs > 0 && ranMs < limitMs) wait = Math.min(wait, Math.max(pollIntervalMs, limitMs - ranMs + 1));
  return wait;
}

/** The key of a stale submission in this process's cancel table. */
const staleId = (s: { provider: string; remoteId?: string; idempotencyKey?: string }) => `${s.provider}/${s.remoteId ?? `key:${s.idempotencyKey}`}`;

/** A provider call given up on after its time budget. */
class NoAnswer extends Error {}

/** A RenderShard write that failed while tracking: the operator's error, not the provider's. */
class WriteFailed extends Error {
  constructor(override readonly cause: unknown) { super((cause as Error)?.message ?? String(cause)); }
}

interface StaleCancel {
  /** When a cancel may be tried (again). */
  at: number;
  failures: number;
  running?: Promise<void>;
  gone?: boolean;
}

export class RemoteShards {
  // Per attempt, keyed by its idempotency key (unique across jobs and attempts).
  private readonly nextPoll = new Map<string, number>();
  private readonly failingSince = new Map<string, number>();
  /** Per stale submission (`provider/remoteId`): its cancel, in flight, confirmed, or when to try again. */
  private readonly staleCancels = new Map<string, StaleCancel>();
  /** Keys whose intent this process recorded: only these may be submitted when findByKey finds nothing. */
  private readonly ownIntents = new Set<string>();
  /**
   * Keys whose intent this process wrote conditionally and has not tried to submit yet: their first
   * submit skips findByKey (a list scan at Render and Akash, one to many calls per shard). Why no
   * submission under such a key K = (job uid, shard, attempt n) can exist:
   *  1. a submission under K is only ever sent after a write of intent K (attempts = n) succeeded
   *     (start() then resolve(); resolve() submits on a miss only for ownIntents, and on a restart
   *     only what findByKey finds is tracked);
   *  2. a RenderShard's `attempts` never decreases (every status write keeps it or sets the next
   *     attempt), and the record lives as long as its job (keys carry the job's uid);
   *  3. our write of intent K was made at a resourceVersion at which the record had no live intent and
   *     attempts < n. Had any intent K been written before, attempts would be >= n there (2); written
   *     after our read by another process, our write would have failed with 409 (the precondition),
   *     and any later conditional write of K sees attempts = n and is refused.
   * So no other intent K, hence (1) no other submission under K, exists. The key leaves this set at
   * its first submit: a submit that failed or timed out may still have been made, so every later one
   * (track(), after a restart, the stale sweep) asks findByKey first as before.
   */
  private readonly freshIntents = new Set<string>();
  /** Failed reads of a bill in a row, per `cost/<provider>/<remoteId>`. */
  private readonly costFailures = new Map<string, number>();
  /** Keys of earlier processes' submissions this process has looked up once (track). */
  private readonly seenAgain = new Set<string>();
  /**
   * Per `jobUid/provider`: the shortest time from a remote run's start to its end being seen, over
   * the job's finished shards there (observed, so never shorter than the runs really were). Bounded:
   * the oldest jobs are dropped first.
   */
  private readonly runTimes = new Map<string, number>();

  constructor(
    private readonly adapters: AdapterSource,
    private readonly clock: RemoteClock,
    private readonly log: Logger,
    private readonly recorder: Recorder,
    private readonly cfg: RemoteConfig,
    private readonly metrics: JobMetrics = nopJobMetrics,
    /** Tells the provider's circuit breaker and reliability how an attempt went. */
    private readonly onOutcome: (provider: string, ok: boolean, message?: string) => void = () => {},
    /** A result was checked (failed: its signature was rejected; skipped: not chosen for a spot check). */
    private readonly onVerification: VerificationHook = () => {},
    /** The provider refused a submission for want of funds (402) or quota (until `until`): the planner stops sending there for a while. */
    private readonly onHold: (provider: string, reason: 'InsufficientFunds' | 'QuotaExceeded', message: string, until?: number) => void = () => {},
  ) {}

  /**
   * A submission refused with 402 (out of funds) or for a used-up quota made nothing at the
   * provider: the attempt is given up without charge (the shard is placed again, elsewhere while the
   * provider is held) and the provider is held. Such an answer to a later call is left to failover.
   */
  private async fundsOut(record: RecordFn, rec: ShardRecord, e: unknown): Promise<boolean> {
    const st = rec.status;
    if (st.remoteId || !(isInsufficientFunds(e) || e instanceof QuotaExceededError)) return false;
    if (e instanceof QuotaExceededError) this.onHold(st.provider!, 'QuotaExceeded', e.message, e.resetsAt.getTime());
    else this.onHold(st.provider!, 'InsufficientFunds', (e as Error).message);
    await record(rec.name, { ...st, phase: 'Pending', idempotencyKey: undefined, remoteId: undefined });
    this.forget(st.idempotencyKey!);
    this.log.warn('provider out of funds or quota: shard placed again', { shard: rec.name, provider: st.provider, error: (e as Error).message });
    return true;
  }

  /** Records the intent of a new remote attempt, then submits it. */
  async start(record: RecordFn, prev: ShardRecordStatus, s: { recordName: string; attempt: number; provider: string; gpuModel?: string; idempotencyKey: string }, spec: ShardSpec): Promise<void> {
    const intent: ShardRecordStatus = {
      ...prev, phase: 'Scheduled', placement: 'Remote', provider: s.provider, gpuModel: s.gpuModel, idempotencyKey: s.idempotencyKey,
      remoteId: undefined, attempts: s.attempt, retryAfter: undefined, podName: undefined,
    };
    // Only over a record that, fresh from the API server, has no live remote attempt and no attempt
    // numbered this one or later: a stale cache (another leader's writes not seen yet) writes nothing.
    const wrote = await record(s.recordName, intent, (cur) => !cur.idempotencyKey && (cur.attempts ?? 0) < s.attempt);
    if (wrote === false) {
      this.log.info('remote intent not written: the record moved on since the cache saw it', { shard: s.recordName, provider: s.provider, attempt: s.attempt });
      return;
    }
    this.ownIntents.add(s.idempotencyKey);
    if (wrote === true) this.freshIntents.add(s.idempotencyKey);
    const asked = this.clock.now();
    try {
      await this.resolve(record, { name: s.recordName, index: spec.shardIndex, status: intent }, spec);
    } catch (e) {
      // The intent is recorded, so track() takes it from here (findByKey, then submit, failed over
      // after providerTimeout): a provider in trouble must not fail the whole reconcile, which
      // would leave the job's other shards untracked until the work queue's backoff ends.
      if (!(e instanceof ProviderError || e instanceof NoAnswer)) throw e;
      if (await this.fundsOut(record, { name: s.recordName, index: spec.shardIndex, status: intent }, e)) return;
      this.failingSince.set(s.idempotencyKey, this.failingSince.get(s.idempotencyKey) ?? asked);
      this.log.warn('submit failed, will retry', { shard: s.recordName, provider: s.provider, error: e.message });
    }
  }

  /**
   * Finds the submission of a recorded intent, or makes it, and records its remote id. An intent
   * this process did not record (an earlier process died between recording it and recording the
   * remote id) is submitted only if findByKey finds it: when it finds nothing, the earlier process
   * may still have sent it (a provider that cannot be searched, an Akash deployment that findByKey
   * closes for its lost manifest), so sending it again would put a second submission under the
   * same key. Such an attempt is given up without charge, as stop() does, and the shard starts
   * again under the next attempt's key.
   */
  private async resolve(record: RecordFn, rec: ShardRecord, spec: ShardSpec, budgetMs = this.cfg.providerTimeoutMs): Promise<string | undefined> {
    const st = rec.status;
    const key = st.idempotencyKey!;
    const adapter = await this.adapters.get(st.provider!);
    if (!adapter) throw new NoAnswer(`ComputeProvider ${st.provider} is not available`);
    // The search is bounded like a status call; the submit is not: given up on while in flight, it
    // might still be made, and only findByKey can tell.
    // The spec lets an adapter that finds submissions by content (Akash's manifest version) find one an earlier process made.
    // A fresh intent (see freshIntents) has no submission to find; it stops being fresh right here.
    const fresh = this.freshIntents.delete(key);
    let remoteId = fresh ? undefined : await this.within(budgetMs, `${st.provider} findByKey`, adapter.findByKey(key, spec));
    if (!remoteId && !this.ownIntents.has(key)) {
      this.log.warn('submission of an earlier process not found: starting a new attempt', {
        shard: rec.name, provider: st.provider, attempt: st.attempts, searchable: adapter.capabilities().findByKey,
      });
      await record(rec.name, { ...st, phase: 'Pending', idempotencyKey: undefined, remoteId: undefined });
      this.forget(key);
      return undefined;
    }
    if (!remoteId) {
      remoteId = (await adapter.submit(spec, { idempotencyKey: key, ...(spec.maxDurationSec ? { maxDurationSec: spec.maxDurationSec } : {}) })).remoteId;
      this.log.info('shard submitted', { shard: rec.name, provider: st.provider, remoteId });
    }
    await record(rec.name, { ...st, remoteId });
    this.nextPoll.set(key, this.clock.now() + this.cfg.pollIntervalMs);
    return remoteId;
  }

  /** Drops what this process keeps about an attempt that ended. */
  private forget(key: string): void {
    this.nextPoll.delete(key);
    this.failingSince.delete(key);
    this.ownIntents.delete(key);
    this.freshIntents.delete(key);
    this.seenAgain.delete(key);
  }

  /**
   * One look at a live remote shard. Returns the delay until it should be looked at again, or
   * undefined when its outcome was recorded.
   */
  async track(recordRaw: RecordFn, ns: string, rec: ShardRecord, spec: ShardSpec, maxRetries: number, check?: ResultCheck): Promise<number | undefined> {
    const record: RecordFn = (name, status) => recordRaw(name, status).catch((e: unknown) => { throw new WriteFailed(e); });
    const st = rec.status;
    const key = st.idempotencyKey!;
    const now = this.clock.now();
    const silentSince = this.failingSince.get(key);
    // What is left of providerTimeout bounds each call, so a provider that never answers is failed
    // over after that long, not after the adapter's own timeouts and retries (a minute and more).
    const budget = Math.max(this.cfg.pollIntervalMs, this.cfg.providerTimeoutMs - (silentSince === undefined ? 0 : now - silentSince));
    const adapter = await this.adapters.get(st.provider!);
    if (!adapter) {
      // No adapter is not proof that the provider is gone: right after a (re)start the ComputeProvider
      // controller may not have built it yet, and failing the attempt then would abandon a submission
      // that is running fine and start the shard a second time. It counts as a provider that does not
      // answer, and fails over after providerTimeout like one.
      const since = this.failingSince.get(key) ?? now;
      this.failingSince.set(key, since);
      if (now - since < this.cfg.providerTimeoutMs) return this.cfg.pollIntervalMs;
      this.forget(key);
      await this.failAttempt(record, ns, rec, maxRetries, 'ProviderGone', `ComputeProvider ${st.provider} no longer exists or has no credentials`, true);
      return undefined;
    }
    try {
      if (!st.remoteId) {
        await this.resolve(record, rec, spec, budget);
        this.failingSince.delete(key);
        return this.cfg.pollIntervalMs;
      }
      const due = this.nextPoll.get(key) ?? 0;
      if (due > now) return due - now;
      if (!this.ownIntents.has(key) && !this.seenAgain.has(key)) {
        // A submission an earlier process made: the adapter is told of it once (findByKey with the
        // shard's spec), so one that keeps state per submission (Akash: the manifest to re-send) has it
        // again before the first status call.
        await this.within(budget, `${st.provider} findByKey`, adapter.findByKey(key, spec));
        this.seenAgain.add(key);
      }
      const status = await this.within(budget, `${st.provider} status of ${st.remoteId}`, adapter.getStatus(st.remoteId));
      this.failingSince.delete(key);
      this.nextPoll.set(key, now + this.cfg.pollIntervalMs);
      switch (status.phase) {
        case 'Pending':
        case 'Provisioning':
        case 'Unknown': {
          // Started (Akash: leased) but not running yet: looked at when a run begun then should be over.
          const wait = runningPollMs(this.cfg.pollIntervalMs, 0, 0, status.startedAt ? this.expectedMs(spec, st.provider!) - (now - status.startedAt.getTime()) : 0);
          this.nextPoll.set(key, now + wait);
          return wait;
        }
        case 'Running':
          return await this.running(record, ns, rec, adapter, spec, maxRetries, status.startedAt);
        case 'Succeeded':
          this.learnRunTime(spec, st, status.startedAt);
          await this.succeed(record, ns, rec, adapter, maxRetries, budget, check, status.startedAt);
          this.forget(key);
          return undefined;
        case 'Failed':
        case 'Cancelled':
          await this.failAttempt(record, ns, rec, maxRetries, status.phase === 'Failed' ? 'RemoteFailed' : 'RemoteCancelled', `${st.provider} ${st.remoteId}: ${status.raw}${status.message ? `: ${status.message}` : ''}`, false, adapter);
          this.forget(key);
          return undefined;
      }
    } catch (e) {
      return this.trackFailed(record, ns, rec, adapter, maxRetries, e);
    }
    return this.cfg.pollIntervalMs;
  }

  /** A running remote attempt: its start recorded once; past shards.maxDuration on a provider that does not stop it, cancelled (ShardTimeout). */
  private async running(record: RecordFn, ns: string, rec: ShardRecord, adapter: ProviderAdapter, spec: ShardSpec, maxRetries: number, startedAt?: Date): Promise<number | undefined> {
    const st = rec.status;
    const now = this.clock.now();
    const startTime = st.startTime ?? iso(startedAt?.getTime() ?? now);
    if (st.phase !== 'Running') await record(rec.name, { ...st, phase: 'Running', startTime });
    const limitMs = (spec.maxDurationSec ?? 0) * 1000;
    const ranMs = now - Date.parse(startTime);
    if (limitMs > 0 && adapter.capabilities().maxDuration !== 'provider' && ranMs > limitMs) {
      this.forget(st.idempotencyKey!);
      await this.failAttempt(record, ns, { ...rec, status: { ...st, phase: 'Running', startTime } }, maxRetries, 'ShardTimeout', `${st.provider} ${st.remoteId}: ran longer than shards.maxDuration (${spec.maxDurationSec}s); cancelled`, false, adapter);
      return undefined;
    }
    const wait = runningPollMs(this.cfg.pollIntervalMs, ranMs, limitMs, this.expectedMs(spec, st.provider!));
    this.nextPoll.set(st.idempotencyKey!, now + wait);
    return wait;
  }

  /**
   * A provider call of track() failed. Only the provider's silence or errors are the provider's: a
   * failed API write (a conflict, the API server down) goes back to the work queue as an error and
   * counts nothing against the provider. Out of funds or quota: placed again. A remote id the
   * provider no longer knows: the attempt failed. Silence past providerTimeout: failed over.
   */
  private async trackFailed(record: RecordFn, ns: string, rec: ShardRecord, adapter: ProviderAdapter, maxRetries: number, e: unknown): Promise<number | undefined> {
    const st = rec.status;
    const key = st.idempotencyKey!;
    const now = this.clock.now();
    if (e instanceof WriteFailed) throw e.cause;
    if (await this.fundsOut(record, rec, e)) return undefined;
    if (e instanceof ProviderError && e.kind === 'notFound' && st.remoteId) {
      this.forget(key);
      await this.failAttempt(record, ns, rec, maxRetries, 'RemoteVanished', `${st.provider} no longer knows ${st.remoteId}`, false);
      return undefined;
    }
    // Silent since the start of the first call that failed, measured now that this one gave up
    // (a call that hangs until its timeouts counts in full).
    const since = this.failingSince.get(key) ?? now;
    this.failingSince.set(key, since);
    const silentMs = this.clock.now() - since;
    if (silentMs >= this.cfg.providerTimeoutMs) {
      this.forget(key);
      await this.failAttempt(record, ns, rec, maxRetries, 'ProviderUnreachable', `${st.provider} did not answer for ${Math.round(silentMs / 1000)}s: ${(e as Error).message}`, true, adapter);
      return undefined;
    }
    const wait = e instanceof ProviderError && e.retryAfterMs ? e.retryAfterMs : this.cfg.pollIntervalMs;
    this.log.warn('provider call failed, will retry', { shard: rec.name, provider: st.provider, error: (e as Error).message });
    return wait;
  }

  /** How long this job's shards on this provider took to be seen finished (0: none finished yet). */
  private expectedMs(spec: ShardSpec, provider: string): number {
    return this.runTimes.get(`${spec.jobUid}/${provider}`) ?? 0;
  }

  private learnRunTime(spec: ShardSpec, st: ShardRecordStatus, startedAt?: Date): void {
    const started = st.startTime ? Date.parse(st.startTime) : startedAt?.getTime();
    if (started === undefined || Number.isNaN(started)) return;
    const id = `${spec.jobUid}/${st.provider}`;
    const ran = Math.max(0, this.clock.now() - started);
    const known = this.runTimes.get(id);
    this.runTimes.delete(id); // re-inserted: most recently used last
    this.runTimes.set(id, known === undefined ? ran : Math.min(known, ran));
    if (this.runTimes.size > RUN_TIMES_KEPT) this.runTimes.delete(this.runTimes.keys().next().value as string);
  }

  private async succeed(record: RecordFn, ns: string, rec: ShardRecord, adapter: ProviderAdapter, maxRetries: number, budgetMs: number, check?: ResultCheck, startedAt?: Date): Promise<void> {
    const st = rec.status;
    const results = await this.within(Math.min(budgetMs, this.callTimeoutMs()), `${st.provider} results of ${st.remoteId}`, adapter.getResults(st.remoteId!));
    // A bill that cannot be read now is not a bill of 0: the shard is recorded with costPending, the
    // bill is asked for again (retryCost), and settlement pays nothing for it until it is known.
    const cost = await this.readCost(ns, rec, adapter);
    const attemptCost = cost ? parseMicros(cost.usd) : 0n;
    const remoteCost = (st.remoteCost ? parseMicros(st.remoteCost) : 0n) + attemptCost;
    this.metrics.attemptEnded('remote', st.provider!, cost?.seconds ?? 0, Number(attemptCost) / 1e6);
    const endsByItself = adapter.capabilities().endsByItself;
    if (!results.supported || results.integrity === 'mismatch') {
      const why = !results.supported ? `no results: ${results.reason}` : `outputs do not match their digests (${(results.mismatches ?? []).join(', ')})`;
      await this.failAttempt(record, ns, { ...rec, status: { ...st, remoteCost: formatMicros(remoteCost) } }, maxRetries, 'ResultRejected', `${st.provider} ${st.remoteId}: ${why}`, false, endsByItself ? undefined : adapter);
      return;
    }
    // A settled job pays only for results signed by the provider's payout key, for this job's shard,
    // on our chain and escrow, over exactly the outputs received.
    let signed: NonNullable<ShardRecordStatus['result']>['signed'];
    if (check?.settle) {
      const verdict = checkSignedResult({
        signed: results.signed, payoutAddress: check.settle.payoutAddress(st.provider!), provider: st.provider!,
        domain: check.settle.domain, jobUid: check.jobUid, shardIndex: rec.index, outputs: results.outputs,
      });
      if (!verdict.ok) {
        const message = `${st.provider} ${st.remoteId}: result signature rejected (${verdict.reason}): ${verdict.message}`;
        this.onVerification(st.provider!, 'failed', `shard ${rec.name}: ${message}`);
        await this.failAttempt(record, ns, { ...rec, status: { ...st, remoteCost: formatMicros(remoteCost) } }, maxRetries, 'ResultRejected', message, false, endsByItself ? undefined : adapter);
        return;
      }
      signed = verdict.signed;
    }
    const spot = check ? spotCheckSelected(check.jobUid, rec.index, check.spotCheckFraction) : false;
    const verification: ShardRecordStatus['verification'] = spot
      ? { state: 'Pending', spotCheck: true, provider: st.provider!, message: 'chosen for a spot check: re-run locally and compared' }
      : (signed || check?.spotCheckFraction) ? { state: 'Skipped', spotCheck: false, provider: st.provider!, message: signed ? `signed by ${signed.signer}; not chosen for a spot check` : 'not chosen for a spot check' } : undefined;
    // The outcome is recorded before a workload that does not end by itself (Akash) is closed: closed
    // first, a crash before the record would leave a submission that reads as cancelled after the
    // restart, and the finished shard would run again. Until the close is confirmed, the submission
    // is kept in staleRemotes, so the sweep closes it if this process does not get to.
    const stale = st.staleRemotes ?? [];
    const toClose = endsByItself ? stale : [...stale, { provider: st.provider!, remoteId: st.remoteId!, reason: 'Finished' }].slice(-32);
    const localCost = st.cost && st.remoteCost ? parseMicros(st.cost) - parseMicros(st.remoteCost) : st.cost ? parseMicros(st.cost) : 0n;
    const done: ShardRecordStatus = {
      ...st, phase: 'Succeeded', idempotencyKey: st.idempotencyKey, remoteId: st.remoteId,
      // result.cost: this attempt's bill alone, what settlement weighs against the signed claim.
      result: { outputs: results.outputs, digest: results.digest, ...(results.signature ? { signature: results.signature } : {}), ...(signed ? { signed } : {}), ...(cost ? { cost: formatMicros(attemptCost) } : {}) },
      ...(verification ? { verification } : {}),
      remoteCost: formatMicros(remoteCost), cost: formatMicros(localCost + remoteCost), costPending: cost ? undefined : true,
      completionTime: iso(this.clock.now()), retryAfter: undefined, staleRemotes: toClose.length ? toClose : undefined,
      // Not seen running (its first look after the start found it finished): the provider's start.
      ...(!st.startTime && startedAt ? { startTime: iso(startedAt.getTime()) } : {}),
    };
    await record(rec.name, done);
    if (verification?.state === 'Skipped') this.onVerification(st.provider!, 'skipped');
    if (!endsByItself && (await this.cancelConfirmed(adapter, st.remoteId!).catch(() => false))) {
      await record(rec.name, { ...done, staleRemotes: stale.length ? stale : undefined });
    }
    this.onOutcome(st.provider!, true);
    this.log.info('remote shard succeeded', { shard: rec.name, provider: st.provider, remoteId: st.remoteId, cost: formatMicros(remoteCost) });
  }

  private callTimeoutMs(): number {
    return Math.min(this.cfg.providerTimeoutMs, CALL_TIMEOUT_MS);
  }

  /** The provider's bill for the shard's remote attempt, or undefined (counted, logged and an Event) when it cannot be read now. */
  private async readCost(ns: string, rec: ShardRecord, adapter: ProviderAdapter): Promise<{ usd: string; seconds?: number } | undefined> {
    const st = rec.status;
    try {
      return await this.within(this.callTimeoutMs(), `${st.provider} cost of ${st.remoteId}`, adapter.getCost(st.remoteId!));
    } catch (e) {
      const message = (e as Error).message.slice(0, 256);
      this.metrics.costReadFailed(st.provider!);
      this.log.warn('provider bill could not be read, will ask again', { shard: rec.name, provider: st.provider, remoteId: st.remoteId, error: message });
      this.recorder.event({ apiVersion: API_VERSION, kind: 'RenderShard', metadata: { name: rec.name, namespace: ns } }, 'Warning', 'CostUnavailable',
        `${st.provider} ${st.remoteId}: the bill could not be read (${message}); asking again, nothing is paid for this shard until it is known`);
      return undefined;
    }
  }

  /**
   * Asks again for the bill of a succeeded remote shard whose cost could not be read (costPending),
   * with a backoff. Returns when to look again, or undefined once the cost is recorded.
   */
  async retryCost(record: RecordFn, ns: string, rec: ShardRecord): Promise<number | undefined> {
    const st = rec.status;
    if (!st.costPending || !st.remoteId || !st.provider) return undefined;
    const id = `cost/${st.provider}/${st.remoteId}`;
    const now = this.clock.now();
    const due = this.nextPoll.get(id) ?? 0;
    if (due > now) return due - now;
    const adapter = await this.adapters.get(st.provider);
    const cost = adapter ? await this.readCost(ns, rec, adapter) : undefined;
    if (!cost) {
      const failures = (this.costFailures.get(id) ?? 0) + 1;
      this.costFailures.set(id, failures);
      const wait = Math.min(COST_RETRY_MAX_MS, this.cfg.pollIntervalMs * 2 ** Math.min(failures - 1, 10));
      this.nextPoll.set(id, now + wait);
      return wait;
    }
    const attempt = parseMicros(cost.usd);
    this.metrics.attemptEnded('remote', st.provider, 0, Number(attempt) / 1e6);
    await record(rec.name, {
      ...st, costPending: undefined, ...(st.result ? { result: { ...st.result, cost: formatMicros(attempt) } } : {}),
      remoteCost: formatMicros((st.remoteCost ? parseMicros(st.remoteCost) : 0n) + attempt),
      cost: formatMicros((st.cost ? parseMicros(st.cost) : 0n) + attempt),
    });
    this.nextPoll.delete(id);
    this.costFailures.delete(id);
    this.log.info('provider bill read', { shard: rec.name, provider: st.provider, remoteId: st.remoteId, cost: cost.usd });
    return undefined;
  }

  /** Ends the attempt as failed; the intent is cleared so the shard can start again (or fail for good). */
  private async failAttempt(record: RecordFn, ns: string, rec: ShardRecord, maxRetries: number, reason: string, message: string, unconfirmed: boolean, adapter?: ProviderAdapter): Promise<void> {
    const st = rec.status;
    let stale = st.staleRemotes ?? [];
    if (st.remoteId && adapter && unconfirmed) {
      // The provider has not been answering: one short try, then the cancel goes on in the
      // background and the submission waits in staleRemotes for the sweep.
      const c = this.startCancel(st.provider!, st.remoteId);
      if (c.running) await this.within(STALE_GRACE_MS, 'cancel', c.running).catch(() => undefined);
      if (c.gone) {
        this.staleCancels.delete(`${st.provider}/${st.remoteId}`);
        unconfirmed = false;
      }
    } else if (st.remoteId && adapter) {
      const gone = await this.cancelConfirmed(adapter, st.remoteId).catch(() => false);
      if (!gone) unconfirmed = true;
    }
    if (unconfirmed && st.remoteId) stale = [...stale, { provider: st.provider!, remoteId: st.remoteId, reason }].slice(-32);
    // A submission whose answer never came (no remote id): it may exist at the provider. It is kept
    // by its idempotency key, so the sweep finds it (findByKey) once the provider answers, and cancels it.
    else if (unconfirmed && st.idempotencyKey && adapter && adapter.capabilities().findByKey !== 'process') stale = [...stale, { provider: st.provider!, idempotencyKey: st.idempotencyKey, reason }].slice(-32);
    this.onOutcome(st.provider!, false, `${reason}: ${message}`);
    const attempts = st.attempts ?? 1;
    const final = attempts > maxRetries;
    const delay = retryDelayMs(attempts, this.cfg);
    await record(rec.name, {
      ...st, phase: final ? 'Failed' : 'Pending', idempotencyKey: undefined, remoteId: undefined,
      lastFailure: { reason, message: message.slice(0, 1024) }, staleRemotes: stale.length ? stale : undefined,
      retryAfter: final ? undefined : iso(this.clock.now() + delay),
      completionTime: final ? iso(this.clock.now()) : undefined,
    });
    // The shard's namespace: without it the event lands in `default`, away from the job it is about.
    this.recorder.event({ apiVersion: API_VERSION, kind: 'RenderShard', metadata: { name: rec.name, namespace: ns } }, 'Warning', final ? 'ShardFailed' : 'ShardRetrying', `${message}; ${final ? `no retries left (maxRetries=${maxRetries})` : `retrying in ${(delay / 1000).toFixed(1)}s`}`);
  }

  /** Cancels a stale submission, finding it by key first when its remote id was never known. */
  private async cancelStale(adapter: ProviderAdapter, remoteId: string | undefined, key: string | undefined): Promise<boolean> {
    const id = remoteId ?? (key ? await this.within(this.callTimeoutMs(), 'findByKey', adapter.findByKey(key)) : undefined);
    if (!id) return true; // the provider answers and knows no such submission
    return this.cancelConfirmed(adapter, id);
  }

  /** Cancels and confirms: true once the provider reports the submission terminal or gone. */
  private async cancelConfirmed(adapter: ProviderAdapter, remoteId: string): Promise<boolean> {
    try {
      await this.within(this.callTimeoutMs(), `cancel ${remoteId}`, adapter.cancel(remoteId));
      if (adapter.capabilities().cancelConfirms) return true;
      const s = await this.within(this.callTimeoutMs(), `status of ${remoteId}`, adapter.getStatus(remoteId));
      return s.phase === 'Cancelled' || s.phase === 'Failed' || s.phase === 'Succeeded';
    } catch (e) {
      if (e instanceof ProviderError && e.kind === 'notFound') return true;
      throw e;
    }
  }

  /**
   * Stops a live remote shard without charging an attempt (suspend, job failure, deletion). Returns
   * true once it is confirmed stopped and the intent cleared.
   */
  async stop(record: RecordFn, rec: ShardRecord, spec?: ShardSpec): Promise<boolean> {
    const st = rec.status;
    const adapter = await this.adapters.get(st.provider!);
    if (!adapter) return false;
    const remoteId = st.remoteId ?? (await this.within(this.callTimeoutMs(), `${st.provider} findByKey`, adapter.findByKey(st.idempotencyKey!, spec)));
    if (remoteId && !(await this.cancelConfirmed(adapter, remoteId))) return false;
    // The attempt number stays used: its idempotency key names a cancelled submission now.
    await record(rec.name, { ...st, phase: 'Pending', idempotencyKey: undefined, remoteId: undefined });
    this.forget(st.idempotencyKey!);
    return true;
  }

  /**
   * Cancels earlier submissions kept in staleRemotes; drops each once confirmed. The cancels run
   * in the background and a sweep waits for them only briefly: a provider that does not answer
   * (or answers only after its HTTP timeouts and retries) must not hold up every reconcile of the
   * job, whose other shards still need tracking. A cancel that fails is tried again after a backoff
   * (5 s, doubling, at most a minute); whatever finished is recorded by this sweep or the next.
   */
  async sweepStale(record: RecordFn, rec: ShardRecord): Promise<boolean> {
    const stale = rec.status.staleRemotes ?? [];
    if (stale.length === 0) return true;
    const started: Promise<void>[] = [];
    for (const s of stale) {
      const before = this.staleCancels.get(staleId(s))?.running;
      const c = this.startCancel(s.provider, s.remoteId, s.idempotencyKey);
      if (c.running && c.running !== before) started.push(c.running);
    }
    if (started.length > 0) await this.within(STALE_GRACE_MS, 'stale cancels', Promise.all(started)).catch(() => undefined);
    const left = stale.filter((s) => !this.staleCancels.get(staleId(s))?.gone);
    if (left.length !== stale.length) {
      await record(rec.name, { ...rec.status, staleRemotes: left.length ? left : undefined });
      for (const s of stale) if (!left.includes(s)) this.staleCancels.delete(staleId(s));
    }
    return left.length === 0;
  }

  /**
   * Starts the cancel of a stale submission unless it is confirmed, in flight, or backing off. One
   * known only by its key is looked up first: not found (the provider answering) means it was never
   * made, or is gone.
   */
  private startCancel(provider: string, remoteId: string | undefined, key?: string): StaleCancel {
    const id = staleId({ provider, remoteId, idempotencyKey: key });
    const c = this.staleCancels.get(id) ?? { at: 0, failures: 0 };
    this.staleCancels.set(id, c);
    if (c.gone || c.running || c.at > this.clock.now()) return c;
    c.running = (async () => {
      const adapter = await this.adapters.get(provider);
      const gone = adapter ? await this.cancelStale(adapter, remoteId, key).catch(() => false) : false;
      c.running = undefined;
      if (gone) c.gone = true;
      else {
        c.failures += 1;
        c.at = this.clock.now() + Math.min(STALE_RETRY_MAX_MS, STALE_RETRY_MS * 2 ** (c.failures - 1));
      }
    })();
    return c;
  }

  /**
   * The call's outcome, or a rejection once ms pass without one (the call goes on; what it returns
   * later is ignored). Without a timer in the clock, just the call.
   */
  private within<T>(ms: number, what: string, call: Promise<T>): Promise<T> {
    const setTimer = this.clock.setTimer?.bind(this.clock);
    if (!setTimer) return call;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimer(Math.max(0, ms), () => reject(new NoAnswer(`${what}: no answer within ${(ms / 1000).toFixed(1)}s`)));
      call.then((v) => { timer.cancel(); resolve(v); }, (e: unknown) => { timer.cancel(); reject(e); });
    });
  }
}
