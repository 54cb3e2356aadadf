// Remote shards: the steps that move one shard attempt through a provider, each safe to repeat and to
// interrupt. The intent (provider + idempotency key) is recorded on the RenderShard before anything
// is sent; the submit always asks the provider for that key first (findByKey), so an attempt cut short
// by a crash is found again instead of sent twice; the remote id is recorded right after; the outcome
// (results, cost) is recorded before the attempt is forgotten; and a submission that cannot be
// confirmed cancelled is kept in `staleRemotes` and cancelled again until the provider says it is gone.
import type { RenderJob } from '../../api/index.js';
import { ProviderError, type ProviderAdapter, type ShardSpec } from '../../providers/index.js';
import { nopJobMetrics, type JobMetrics } from '../../metrics/metrics.js';
import { formatMicros, parseMicros } from '../../util/money.js';
import { retryDelayMs, type DecideOptions, type ShardRecord, type ShardRecordStatus } from './decide.js';
import { gpusOf } from './pods.js';
import type { Logger, Recorder } from './reconciler.js';

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

/** Writes a RenderShard status patch (and remembers it against a stale cache). */
export type RecordFn = (recordName: string, status: ShardRecordStatus) => Promise<void>;

const iso = (ms: number) => new Date(ms).toISOString();

export function shardSpecFor(job: RenderJob, index: number, frames: { start: number; end: number } | undefined, total: number): ShardSpec {
  const t = job.spec.template;
  const env = (t.env ?? []).filter((e) => typeof e.value === 'string').map((e) => ({ name: e.name, value: e.value as string }));
  return {
    jobUid: job.metadata.uid!, jobNamespace: job.metadata.namespace!, jobName: job.metadata.name!,
    shardIndex: index, shardCount: total,
    image: t.image, command: t.command ?? [], args: t.args ?? [], env,
    gpuCount: gpusOf(t), gpuModels: job.spec.gpu?.models ?? [],
    outputUri: job.spec.output?.uri ?? '',
    ...(frames ? { frames } : {}),
  };
}

export class RemoteShards {
  private readonly nextPoll = new Map<string, number>();
  private readonly failingSince = new Map<string, number>();

  constructor(
    private readonly adapters: AdapterSource,
    private readonly clock: { now(): number },
    private readonly log: Logger,
    private readonly recorder: Recorder,
    private readonly cfg: RemoteConfig,
    private readonly metrics: JobMetrics = nopJobMetrics,
    /** Tells the provider's circuit breaker and reliability how an attempt went. */
    private readonly onOutcome: (provider: string, ok: boolean, message?: string) => void = () => {},
  ) {}

  /** Records the intent of a new remote attempt, then submits it. */
  async start(record: RecordFn, prev: ShardRecordStatus, s: { recordName: string; attempt: number; provider: string; idempotencyKey: string }, spec: ShardSpec): Promise<void> {
    const intent: ShardRecordStatus = {
      ...prev, phase: 'Scheduled', placement: 'Remote', provider: s.provider, idempotencyKey: s.idempotencyKey,
      remoteId: undefined, attempts: s.attempt, retryAfter: undefined, podName: undefined,
    };
    await record(s.recordName, intent);
    await this.resolve(record, { name: s.recordName, index: spec.shardIndex, status: intent }, spec);
  }

  /** Finds the submission of a recorded intent, or makes it, and records its remote id. */
  private async resolve(record: RecordFn, rec: ShardRecord, spec: ShardSpec): Promise<string | undefined> {
    const st = rec.status;
    const adapter = await this.adapters.get(st.provider!);
    if (!adapter) throw new Error(`ComputeProvider ${st.provider} is not available`);
    let remoteId = await adapter.findByKey(st.idempotencyKey!);
    if (!remoteId) {
      remoteId = (await adapter.submit(spec, { idempotencyKey: st.idempotencyKey! })).remoteId;
      this.log.info('shard submitted', { shard: rec.name, provider: st.provider, remoteId });
    }
    await record(rec.name, { ...st, remoteId });
    this.nextPoll.set(rec.name, this.clock.now() + this.cfg.pollIntervalMs);
    return remoteId;
  }

  /**
   * One look at a live remote shard. Returns the delay until it should be looked at again, or
   * undefined when its outcome was recorded.
   */
  async track(record: RecordFn, ns: string, rec: ShardRecord, spec: ShardSpec, maxRetries: number): Promise<number | undefined> {
    const key = `${ns}/${rec.name}`;
    const st = rec.status;
    const now = this.clock.now();
    const adapter = await this.adapters.get(st.provider!);
    if (!adapter) {
      await this.failAttempt(record, rec, maxRetries, 'ProviderGone', `ComputeProvider ${st.provider} no longer exists or has no credentials`, true);
      return undefined;
    }
    try {
      if (!st.remoteId) {
        await this.resolve(record, rec, spec);
        this.failingSince.delete(key);
        return this.cfg.pollIntervalMs;
      }
      const due = this.nextPoll.get(key) ?? 0;
      if (due > now) return due - now;
      const status = await adapter.getStatus(st.remoteId);
      this.failingSince.delete(key);
      this.nextPoll.set(key, now + this.cfg.pollIntervalMs);
      switch (status.phase) {
        case 'Pending':
        case 'Provisioning':
        case 'Unknown':
          return this.cfg.pollIntervalMs;
        case 'Running':
          if (st.phase !== 'Running') await record(rec.name, { ...st, phase: 'Running', startTime: st.startTime ?? iso(status.startedAt?.getTime() ?? now) });
          return this.cfg.pollIntervalMs;
        case 'Succeeded':
          await this.succeed(record, rec, adapter, maxRetries);
          this.nextPoll.delete(key);
          return undefined;
        case 'Failed':
        case 'Cancelled':
          await this.failAttempt(record, rec, maxRetries, status.phase === 'Failed' ? 'RemoteFailed' : 'RemoteCancelled', `${st.provider} ${st.remoteId}: ${status.raw}${status.message ? `: ${status.message}` : ''}`, false, adapter);
          this.nextPoll.delete(key);
          return undefined;
      }
    } catch (e) {
      if (e instanceof ProviderError && e.kind === 'notFound' && st.remoteId) {
        await this.failAttempt(record, rec, maxRetries, 'RemoteVanished', `${st.provider} no longer knows ${st.remoteId}`, false);
        return undefined;
      }
      const since = this.failingSince.get(key) ?? now;
      this.failingSince.set(key, since);
      if (now - since >= this.cfg.providerTimeoutMs) {
        this.failingSince.delete(key);
        await this.failAttempt(record, rec, maxRetries, 'ProviderUnreachable', `${st.provider} did not answer for ${Math.round((now - since) / 1000)}s: ${(e as Error).message}`, true, adapter);
        return undefined;
      }
      const wait = e instanceof ProviderError && e.retryAfterMs ? e.retryAfterMs : this.cfg.pollIntervalMs;
      this.log.warn('provider call failed, will retry', { shard: rec.name, provider: st.provider, error: (e as Error).message });
      return wait;
    }
    return this.cfg.pollIntervalMs;
  }

  private async succeed(record: RecordFn, rec: ShardRecord, adapter: ProviderAdapter, maxRetries: number): Promise<void> {
    const st = rec.status;
    const results = await adapter.getResults(st.remoteId!);
    const cost = await adapter.getCost(st.remoteId!).catch(() => undefined);
    const attemptCost = cost ? parseMicros(cost.usd) : 0n;
    const remoteCost = (st.remoteCost ? parseMicros(st.remoteCost) : 0n) + attemptCost;
    this.metrics.attemptEnded('remote', st.provider!, cost?.seconds ?? 0, Number(attemptCost) / 1e6);
    if (!adapter.capabilities().endsByItself) await adapter.cancel(st.remoteId!);
    if (!results.supported || results.integrity === 'mismatch') {
      const why = !results.supported ? `no results: ${results.reason}` : `outputs do not match their digests (${(results.mismatches ?? []).join(', ')})`;
      await this.failAttempt(record, { ...rec, status: { ...st, remoteCost: formatMicros(remoteCost) } }, maxRetries, 'ResultRejected', `${st.provider} ${st.remoteId}: ${why}`, false);
      return;
    }
    const localCost = st.cost && st.remoteCost ? parseMicros(st.cost) - parseMicros(st.remoteCost) : st.cost ? parseMicros(st.cost) : 0n;
    await record(rec.name, {
      ...st, phase: 'Succeeded', idempotencyKey: st.idempotencyKey, remoteId: st.remoteId,
      result: { outputs: results.outputs, digest: results.digest, ...(results.signature ? { signature: results.signature } : {}) },
      remoteCost: formatMicros(remoteCost), cost: formatMicros(localCost + remoteCost),
      completionTime: iso(this.clock.now()), retryAfter: undefined,
    });
    this.onOutcome(st.provider!, true);
    this.log.info('remote shard succeeded', { shard: rec.name, provider: st.provider, remoteId: st.remoteId, cost: formatMicros(remoteCost) });
  }

  /** Ends the attempt as failed; the intent is cleared so the shard can start again (or fail for good). */
  private async failAttempt(record: RecordFn, rec: ShardRecord, maxRetries: number, reason: string, message: string, unconfirmed: boolean, adapter?: ProviderAdapter): Promise<void> {
    const st = rec.status;
    let stale = st.staleRemotes ?? [];
    if (st.remoteId && adapter) {
      const gone = await this.cancelConfirmed(adapter, st.remoteId).catch(() => false);
      if (!gone) unconfirmed = true;
    }
    if (unconfirmed && st.remoteId) stale = [...stale, { provider: st.provider!, remoteId: st.remoteId, reason }].slice(-32);
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
    this.recorder.event({ apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderShard', metadata: { name: rec.name } }, 'Warning', final ? 'ShardFailed' : 'ShardRetrying', `${message}; ${final ? `no retries left (maxRetries=${maxRetries})` : `retrying in ${(delay / 1000).toFixed(1)}s`}`);
  }

  /** Cancels and confirms: true once the provider reports the submission terminal or gone. */
  private async cancelConfirmed(adapter: ProviderAdapter, remoteId: string): Promise<boolean> {
    try {
      await adapter.cancel(remoteId);
      const s = await adapter.getStatus(remoteId);
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
  async stop(record: RecordFn, rec: ShardRecord): Promise<boolean> {
    const st = rec.status;
    const adapter = await this.adapters.get(st.provider!);
    if (!adapter) return false;
    const remoteId = st.remoteId ?? (await adapter.findByKey(st.idempotencyKey!));
    if (remoteId && !(await this.cancelConfirmed(adapter, remoteId))) return false;
    // The attempt number stays used: its idempotency key names a cancelled submission now.
    await record(rec.name, { ...st, phase: 'Pending', idempotencyKey: undefined, remoteId: undefined });
    this.nextPoll.delete(rec.name);
    return true;
  }

  /** Cancels earlier submissions kept in staleRemotes; drops each once confirmed. */
  async sweepStale(record: RecordFn, rec: ShardRecord): Promise<boolean> {
    const stale = rec.status.staleRemotes ?? [];
    if (stale.length === 0) return true;
    const left: typeof stale = [];
    for (const s of stale) {
      const adapter = await this.adapters.get(s.provider);
      const gone = adapter ? await this.cancelConfirmed(adapter, s.remoteId).catch(() => false) : false;
      if (!gone) left.push(s);
    }
    if (left.length !== stale.length) await record(rec.name, { ...rec.status, staleRemotes: left.length ? left : undefined });
    return left.length === 0;
  }
}
