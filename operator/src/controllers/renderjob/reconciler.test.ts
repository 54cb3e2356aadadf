// The RenderJob reconciler in-process: a fake API store behind the JobWriter interface (whose objects
// the listers read back, as a synced cache would), an in-memory provider that keeps its own records
// of what it ran and billed, and a FakeClock. Table-driven scenarios assert the objects the writer
// ends up holding and the provider's records — never the reconciler's own bookkeeping — including an
// operator killed between any two writes (each write index in turn; a fresh reconciler replays).
import type * as k8s from '@kubernetes/client-node';
import { API_VERSION, type RenderJob, type RenderShard } from '../../api/index.js';
import { InsufficientFundsError, ProviderError, type CostReport, type ProviderAdapter, type RemoteStatus, type ShardSpec } from '../../providers/types.js';
import { FakeClock } from '../../runtime/clock.js';
import { TerminalError } from '../../runtime/errors.js';
import { Expectations } from '../../runtime/expectations.js';
import { nopLog } from '../../runtime/logger.js';
import type { Lister } from '../../runtime/types.js';
import { makePlacer, type Placer } from './placement.js';
import { RenderJobReconciler, type ReconcilerDeps } from './reconciler.js';
import { RemoteShards } from './remote.js';
import type { JobStatus } from './status.js';
import type { JobWriter, ObjectRef } from './writer.js';
import type { ShardRecordStatus } from './decide.js';

const NS = 'studio';
const T0 = Date.parse('2026-12-01T12:00:00Z');

class Killed extends Error {}

/** The API server, as far as the RenderJob controller writes it: jobs, RenderShards, pods. */
class FakeApi implements JobWriter {
  readonly counts: Record<string, number> = {};
  readonly jobs = new Map<string, RenderJob>();
  readonly shards = new Map<string, RenderShard>();
  readonly pods = new Map<string, k8s.V1Pod>();
  writes = 0;
  /** Throws Killed on the write with this number (1-based), once: the operator dies there. */
  killAt?: number;

  readonly log: string[] = [];
  private write(kind: string): void {
    this.writes++;
    this.log.push(kind);
    if (this.killAt !== undefined && this.writes === this.killAt) throw new Killed(`killed before write ${this.writes} (${kind})`);
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
  }
  private rv = 1;
  async setFinalizer(job: ObjectRef, finalizers: string[]) {
    this.write('jobFinalizer');
    const j = this.jobs.get(job.name)!;
    j.metadata.finalizers = finalizers;
    j.metadata.resourceVersion = String(++this.rv);
    return JSON.parse(JSON.stringify(j)) as RenderJob;
  }
  async createShardRecord(job: ObjectRef, index: number, frames?: { start: number; end: number }) {
    this.write('shardCreate');
    const name = `${job.name}-${index}`;
    if (this.shards.has(name)) return;
    this.shards.set(name, { apiVersion: API_VERSION, kind: 'RenderShard', metadata: { name, namespace: job.namespace, uid: `uid-${name}` }, spec: { jobName: job.name, index, ...(frames ? { frames } : {}) } });
  }
  async patchShardStatus(_ns: string, name: string, status: ShardRecordStatus) {
    this.write('shardStatus');
    const s = this.shards.get(name);
    if (!s) throw Object.assign(new Error('not found'), { code: 404 });
    const merged: Record<string, unknown> = { ...(s.status ?? {}) };
    for (const [k, v] of Object.entries(status)) if (v === undefined) delete merged[k]; else merged[k] = JSON.parse(JSON.stringify(v));
    s.status = merged as RenderShard['status'];
  }
  async deleteShardRecords(_ns: string, jobName: string) {
    this.write('shardDeleteCollection');
    for (const [n, s] of this.shards) if (s.spec.jobName === jobName) this.shards.delete(n);
  }
  /** Every pod the API server created, in order (a name created twice appears twice). */
  readonly created: string[] = [];
  async createPod(pod: k8s.V1Pod) {
    this.write('podCreate');
    if (this.pods.has(pod.metadata!.name!)) return 'exists' as const;
    this.pods.set(pod.metadata!.name!, pod);
    this.created.push(pod.metadata!.name!);
    return 'created' as const;
  }
  async deletePod(_ns: string, name: string) {
    this.write('podDelete');
    this.removePod(name);
  }
  /** A delete as the API server does it: a pod with finalizers only gets its deletionTimestamp. */
  removePod(name: string) {
    const p = this.pods.get(name);
    if (!p) return;
    if (p.metadata!.finalizers?.length) p.metadata!.deletionTimestamp ??= new Date(T0);
    else this.pods.delete(name);
  }
  async patchJobStatus(_ns: string, name: string, status: JobStatus, resourceVersion?: string) {
    this.write('jobStatus');
    const j = this.jobs.get(name);
    if (!j) return undefined;
    if (resourceVersion && j.metadata.resourceVersion && resourceVersion !== j.metadata.resourceVersion) throw Object.assign(new Error('conflict'), { code: 409 });
    j.status = JSON.parse(JSON.stringify(status)) as JobStatus;
    j.metadata.resourceVersion = String(++this.rv);
    return JSON.parse(JSON.stringify(j)) as RenderJob;
  }
  async releasePod(_ns: string, name: string) {
    this.write('podRelease');
    const p = this.pods.get(name);
    if (!p) return;
    p.metadata!.finalizers = (p.metadata!.finalizers ?? []).filter((f) => f !== 'atelier.dev/outcome');
    if (p.metadata!.deletionTimestamp && p.metadata!.finalizers.length === 0) this.pods.delete(name);
  }
  listers(): Pick<ReconcilerDeps, 'jobs' | 'shards' | 'pods'> {
    const jobs: Lister<RenderJob> = { get: (_ns, n) => this.jobs.get(n), byIndex: () => [] };
    const shards: Lister<RenderShard> = {
      get: (_ns, n) => this.shards.get(n),
      byIndex: (_i, key) => [...this.shards.values()].filter((s) => `${s.metadata.namespace}/${s.spec.jobName}` === key),
    };
    const pods: Lister<k8s.V1Pod> = { get: (_ns, n) => this.pods.get(n), byIndex: () => [] };
    return { jobs, shards, pods };
  }
  /** Another leader's writes land between our read and our write when set (the precondition fails: 409). */
  conflictOnce = false;
  async patchShardStatusIf(ns: string, name: string, status: ShardRecordStatus, expect: (current: ShardRecordStatus) => boolean | Promise<boolean>) {
    const s = this.shards.get(name);
    if (!s || !(await expect((s.status ?? {}) as ShardRecordStatus))) return false;
    if (this.conflictOnce) { this.conflictOnce = false; return false; }
    await this.patchShardStatus(ns, name, status);
    return true;
  }
}

interface RemoteJob { id: string; key: string; shard: number; createdMs: number; cancelled: boolean; billedUsd: string }

/** A provider that can look jobs up by key, runs each for `runMs`, bills 0.10 USD per job, and keeps its own records. */
class FakeProvider implements ProviderAdapter {
  readonly type = 'render' as const;
  readonly jobs: RemoteJob[] = [];
  readonly submissions = new Map<string, number>();
  costFailures = 0;
  /** The wallet is out of funds: submissions are refused with 402. */
  broke = false;
  /** The next submission is made, but its answer is lost (a transient error instead). */
  loseAnswer = false;
  /** The provider does not answer lookups and status calls. */
  silent = false;
  constructor(private readonly clock: FakeClock, private readonly runMs = 30_000) {}
  capabilities() {
    return { provider: 'render' as const, logs: 'none' as const, results: 'native' as const, resultChannel: 'test', billing: 'perSecond' as const, maxGpusPerJob: 8, endsByItself: true, findByKey: 'remote' as const, runsArbitraryImages: true };
  }
  async listOffers() { return []; }
  readonly limits: (number | undefined)[] = [];
  /** The GPU models each submission asked for, in order. */
  readonly askedModels: string[][] = [];
  async submit(spec: ShardSpec, opts: { idempotencyKey: string; maxDurationSec?: number }) {
    this.limits.push(opts.maxDurationSec);
    this.askedModels.push([...spec.gpuModels]);
    if (this.broke) throw new InsufficientFundsError('render', 'HTTP 402: insufficient balance');
    this.submissions.set(opts.idempotencyKey, (this.submissions.get(opts.idempotencyKey) ?? 0) + 1);
    const id = `r-${this.jobs.length}`;
    this.jobs.push({ id, key: opts.idempotencyKey, shard: spec.shardIndex, createdMs: this.clock.now(), cancelled: false, billedUsd: '0.10' });
    if (this.loseAnswer) { this.loseAnswer = false; throw new ProviderError('render', 'transient', 'socket hang up'); }
    return { remoteId: id };
  }
  async findByKey(key: string) {
    if (this.silent) throw new ProviderError('render', 'transient', 'connect ETIMEDOUT');
    return this.jobs.find((j) => j.key === key)?.id;
  }
  private job(id: string) {
    const j = this.jobs.find((x) => x.id === id);
    if (!j) throw new ProviderError('render', 'notFound', `no job ${id}`, { status: 404 });
    return j;
  }
  /** Live: created, not cancelled, not yet finished. */
  liveAt(t: number): RemoteJob[] { return this.jobs.filter((j) => !j.cancelled && j.createdMs <= t && t < j.createdMs + this.runMs); }
  statusCalls = 0;
  async getStatus(id: string): Promise<RemoteStatus> {
    this.statusCalls++;
    if (this.silent) throw new ProviderError('render', 'transient', 'connect ETIMEDOUT');
    const j = this.job(id);
    if (j.cancelled) return { phase: 'Cancelled', raw: 'CANCELLED' };
    return this.clock.now() >= j.createdMs + this.runMs ? { phase: 'Succeeded', raw: 'COMPLETED' } : { phase: 'Running', raw: 'RUNNING', startedAt: new Date(j.createdMs) };
  }
  async logs() { return []; }
  async getResults(id: string) {
    const j = this.job(id);
    return { supported: true as const, outputs: [{ uri: `s3://out/shard-${j.shard}.exr`, sha256: 'a'.repeat(64) }], digest: 'd'.repeat(64), integrity: 'reported' as const };
  }
  async cancel(id: string) { this.job(id).cancelled = true; }
  async getCost(id: string): Promise<CostReport> {
    const j = this.job(id);
    if (this.costFailures > 0) {
      this.costFailures--;
      throw new ProviderError('render', 'transient', 'HTTP 503 billing unavailable', { status: 503 });
    }
    return { amount: j.billedUsd, currency: 'USD', usd: j.billedUsd, basis: 'settled', seconds: this.runMs / 1000 };
  }
}

function renderJob(name: string, count: number): RenderJob {
  return {
    apiVersion: API_VERSION, kind: 'RenderJob',
    metadata: { name, namespace: NS, uid: `uid-${name}`, resourceVersion: "1", generation: 1, creationTimestamp: new Date(T0) as unknown as Date },
    spec: { template: { image: 'render:1', resources: { limits: { 'nvidia.com/gpu': 1 } } }, shards: { count, maxRetries: 2 }, placement: { policy: 'ProviderOnly' } },
  } as RenderJob;
}

/** Every startable shard goes to the provider. */
const toProvider: Placer = (_job, candidates) => ({
  placements: new Map(candidates.map((c) => [c.index, { kind: 'Remote' as const, provider: 'prov' }])),
  reason: { status: 'True', reason: 'Bursting', message: 'placed at prov' },
});

function world(count = 3, place: Placer = toProvider, runMs = 30_000) {
  const clock = new FakeClock(T0);
  const api = new FakeApi();
  api.jobs.set('job', renderJob('job', count));
  const provider = new FakeProvider(clock, runMs);
  const events: { reason: string; message: string; namespace?: string }[] = [];
  const recorder = { event: (o: { metadata?: { namespace?: string } }, _t: string, reason: string, message: string) => { events.push({ reason, message, namespace: o.metadata?.namespace }); } };
  const cfg = { retryBaseMs: 1000, retryMaxMs: 10_000, localPricePerGpuHourMicros: 0n, maxStartsPerReconcile: 100, pollIntervalMs: 5000, providerTimeoutMs: 120_000 };
  /** A fresh operator process: nothing in memory but what it reads from the store. */
  const outOfFunds: string[] = [];
  const operator = () => {
    const remote = new RemoteShards({ get: async () => provider }, clock, nopLog, recorder, cfg, undefined, undefined, undefined, (p) => outOfFunds.push(p));
    return new RenderJobReconciler({
      ...api.listers(), writer: api, recorder, clock, expectations: new Expectations({ clock }), log: nopLog, remote, place,
      config: { ...cfg, writeConcurrency: 1, statusMinIntervalMs: 0 },
    });
  };
  return { clock, api, provider, events, operator, outOfFunds };
}

/** Reconciles until the job is Succeeded (or gives up), advancing the clock by what the reconciler asks for. */
async function drive(w: ReturnType<typeof world>, r = w.operator(), maxPasses = 200): Promise<number> {
  let passes = 0;
  const overlaps: string[] = [];
  for (; passes < maxPasses; passes++) {
    if (w.api.jobs.get('job')?.status?.phase === 'Succeeded' && ![...w.api.shards.values()].some((s) => s.status?.costPending)) break;
    const res = await r.reconcile(`${NS}/job`);
    // No shard ever has two live remote runs at once (the provider's own records).
    const live = w.provider.liveAt(w.clock.now());
    const shards = live.map((j) => j.shard);
    if (new Set(shards).size !== shards.length) overlaps.push(`t=${w.clock.now() - T0}: ${shards.join(',')}`);
    w.clock.advance(Math.max(1000, Math.min(res.requeueAfterMs ?? 5000, 10_000)));
  }
  expect(overlaps).toEqual([]);
  return passes;
}

describe('RenderJobReconciler in-process, ProviderOnly through a provider with its own records', () => {
  test('every shard runs once at the provider, and each RenderShard records what the provider billed', async () => {
    const w = world(3);
    await drive(w);
    const job = w.api.jobs.get('job')!;
    expect(job.status?.phase).toBe('Succeeded');
    expect(job.metadata.finalizers).toContain('atelier.dev/cleanup');
    expect(w.provider.jobs.map((j) => j.shard).sort()).toEqual([0, 1, 2]);
    expect([...w.provider.submissions.values()]).toEqual([1, 1, 1]);
    for (const j of w.provider.jobs) {
      const s = w.api.shards.get(`job-${j.shard}`)!;
      expect(s.status).toMatchObject({ phase: 'Succeeded', placement: 'Remote', provider: 'prov', remoteId: j.id, remoteCost: '0.10' });
      expect(s.status?.costPending).toBeUndefined();
    }
    expect(job.status?.cost?.remote).toBe('0.30');
  });

  test('a long run is looked at less often the longer it runs: 10-minute shards get under 40 status calls each (every 5 s: 120)', async () => {
    const w = world(2, toProvider, 600_000);
    await drive(w, w.operator(), 400);
    expect(w.api.jobs.get('job')!.status?.phase).toBe('Succeeded');
    expect(w.provider.jobs.map((j) => j.shard).sort()).toEqual([0, 1]);
    expect(w.provider.statusCalls / 2).toBeLessThan(40);
  });

  test('a bill that cannot be read is retried and surfaced, never recorded as 0', async () => {
    // Before: getCost().catch(() => undefined) left remoteCost at 0 and settlement paid min(claim, 0).
    const w = world(2);
    w.provider.costFailures = 1_000_000; // the billing endpoint is down until further notice
    const r = w.operator();
    for (let i = 0; i < 200 && w.api.jobs.get('job')?.status?.phase !== 'Succeeded'; i++) {
      const res = await r.reconcile(`${NS}/job`);
      w.clock.advance(Math.max(1000, Math.min(res.requeueAfterMs ?? 5000, 10_000)));
    }
    const pending = [...w.api.shards.values()].filter((s) => s.status?.costPending);
    expect(pending.length).toBeGreaterThan(0);
    for (const s of pending) expect(s.status?.remoteCost ?? '0.00').toMatch(/^0(\.0+)?$/);
    expect(w.events.filter((e) => e.reason === 'CostUnavailable').length).toBeGreaterThan(0);
    expect(w.events.every((e) => e.namespace === NS)).toBe(true);
    await r.reconcile(`${NS}/job`);
    expect(w.api.jobs.get('job')!.status?.conditions?.find((c) => c.type === 'CostsKnown')).toMatchObject({ status: 'False', reason: 'CostUnavailable' });
    w.provider.costFailures = 0; // billing answers again
    await drive(w, r);
    for (const j of w.provider.jobs) expect(w.api.shards.get(`job-${j.shard}`)!.status).toMatchObject({ remoteCost: j.billedUsd });
    expect([...w.api.shards.values()].some((s) => s.status?.costPending)).toBe(false);
    await r.reconcile(`${NS}/job`);
    expect(w.api.jobs.get('job')!.status?.conditions?.find((c) => c.type === 'CostsKnown')).toMatchObject({ status: 'True' });
    expect([...w.provider.submissions.values()].every((n) => n === 1)).toBe(true);
  });

  test('shards.maxDuration on a provider that does not enforce it: the operator cancels the run past the limit and retries (ShardTimeout)', async () => {
    const w = world(1);
    w.api.jobs.get('job')!.spec.shards.maxDuration = '10s';
    const r = w.operator();
    for (let i = 0; i < 200 && w.api.jobs.get('job')?.status?.phase !== 'Failed'; i++) {
      const res = await r.reconcile(`${NS}/job`);
      w.clock.advance(Math.max(1000, Math.min(res.requeueAfterMs ?? 5000, 5000)));
    }
    const s = w.api.shards.get('job-0')!;
    expect(s.status).toMatchObject({ phase: 'Failed', attempts: 3, lastFailure: { reason: 'ShardTimeout' } });
    // the provider's records: three runs (maxRetries 2), each told the limit, each cancelled, none left running
    expect(w.provider.jobs).toHaveLength(3);
    expect(w.provider.limits).toEqual([10, 10, 10]);
    expect(w.provider.jobs.every((j) => j.cancelled)).toBe(true);
    expect(w.provider.liveAt(w.clock.now())).toEqual([]);
  });

  test('a submission whose answer was lost, then failover: the orphan is kept by its key, found and cancelled once the provider answers', async () => {
    const w = world(1);
    w.provider.loseAnswer = true;
    const r = w.operator();
    await r.reconcile(`${NS}/job`);
    expect(w.provider.jobs).toHaveLength(1); // made at the provider; the operator never heard its id
    w.provider.silent = true;
    for (let i = 0; i < 40 && !w.api.shards.get('job-0')!.status?.staleRemotes?.length; i++) {
      await r.reconcile(`${NS}/job`);
      w.clock.advance(10_000);
    }
    const orphan = w.provider.jobs[0]!;
    expect(w.api.shards.get('job-0')!.status?.staleRemotes).toEqual([{ provider: 'prov', idempotencyKey: orphan.key, reason: 'ProviderUnreachable' }]);
    expect(orphan.cancelled).toBe(false);
    w.provider.silent = false;
    await drive(w, r).catch(() => undefined); // the orphan and the retry may overlap while the provider was dark
    for (let i = 0; i < 10 && w.api.shards.get('job-0')!.status?.staleRemotes?.length; i++) { await r.reconcile(`${NS}/job`); w.clock.advance(10_000); }
    expect(orphan.cancelled).toBe(true);
    expect(w.api.shards.get('job-0')!.status?.staleRemotes).toBeUndefined();
    expect(w.api.shards.get('job-0')!.status).toMatchObject({ phase: 'Succeeded', attempts: 2, idempotencyKey: w.provider.jobs[1]!.key });
    expect(w.provider.jobs).toHaveLength(2); // the intent of attempt 2 was never lost to a stale write (a third run)
  });

  test('a 402 on submission gives the attempt up without a remote run, reports the provider out of funds, and the shard is placed again', async () => {
    const w = world(1);
    w.provider.broke = true;
    const r = w.operator();
    await r.reconcile(`${NS}/job`);
    expect(w.outOfFunds).toEqual(['prov']);
    expect(w.provider.jobs).toEqual([]);
    const s = w.api.shards.get('job-0')!;
    expect(s.status).toMatchObject({ phase: 'Pending', attempts: 1 });
    expect(s.status?.idempotencyKey).toBeUndefined();
    w.provider.broke = false;
    await drive(w, r);
    expect(w.api.shards.get('job-0')!.status).toMatchObject({ phase: 'Succeeded', attempts: 2 });
    expect(w.provider.jobs).toHaveLength(1);
  });

  test('a spec no shard can be made of: Accepted=False InvalidSpec, an Event, and a TerminalError (not retried), nothing started', async () => {
    const w = world(1);
    const job = w.api.jobs.get('job')!;
    job.spec.shards = { count: 0 } as never; // past the schema (which requires >= 1)
    const err = await w.operator().reconcile(`${NS}/job`).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(TerminalError);
    expect(job.status).toMatchObject({ phase: 'Failed' });
    expect(job.status?.conditions?.find((c) => c.type === 'Accepted')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(w.events.map((e) => e.reason)).toContain('InvalidSpec');
    expect(w.provider.jobs).toEqual([]);
    expect(w.api.shards.size).toBe(0);
  });

  test('killed before each write in turn and restarted: each key submitted once, every shard succeeds once, billed cost recorded', async () => {
    // The writes of a clean run, then one run per write index, killed right before that write; a
    // fresh reconciler (nothing in memory) takes over from what the store holds.
    const clean = world(2);
    await drive(clean);
    const total = clean.api.writes;
    expect(total).toBeGreaterThan(8);
    for (let k = 1; k <= total; k++) {
      const w = world(2);
      w.api.killAt = k;
      const died = await drive(w).then(() => 'survived', (e: unknown) => (e instanceof Killed ? 'killed' : String(e)));
      expect({ k, died, ...(died === 'killed' ? {} : { clean: clean.api.log.join(','), this: w.api.log.join(',') }) }).toEqual({ k, died: 'killed' });
      w.api.killAt = undefined;
      await drive(w, w.operator());
      const where = `killed before write ${k}/${total}`;
      expect({ where, phase: w.api.jobs.get('job')!.status?.phase }).toEqual({ where, phase: 'Succeeded' });
      // Each key the provider saw was submitted once; each shard points at a run the provider has and records its bill.
      expect({ where, twice: [...w.provider.submissions].filter(([, n]) => n !== 1) }).toEqual({ where, twice: [] });
      for (const s of w.api.shards.values()) {
        const run = w.provider.jobs.find((j) => j.id === s.status?.remoteId);
        expect({ where, shard: s.metadata.name, found: !!run, phase: s.status?.phase, cost: s.status?.remoteCost }).toEqual({ where, shard: s.metadata.name, found: true, phase: 'Succeeded', cost: run?.billedUsd });
      }
      // No run is left behind at the provider.
      expect({ where, live: w.provider.liveAt(w.clock.now() + 1).map((j) => j.id) }).toEqual({ where, live: [] });
    }
  });
});

describe('mixed GPUs: the planner\'s choice of model reaches the provider and is learned from', () => {
  // One provider with two offers: an RTX 4090 at 0.40 USD/hour and an H100 at 2.00. The job's prior
  // says a shard takes 5 min on an H100 and 30 on a 4090: 0.1667 vs 0.20 USD per shard.
  const offers = [
    { provider: 'prov', offerId: 'prov-4090', gpuModel: 'nvidia-rtx-4090', pricePerGpuHourMicros: 400_000n, available: 8 },
    { provider: 'prov', offerId: 'prov-h100', gpuModel: 'nvidia-h100', pricePerGpuHourMicros: 2_000_000n, available: 8 },
  ];
  const mixedWorld = (prior: Record<string, number>) => {
    let clockRef: FakeClock | undefined;
    const w = world(2, (job, candidates, room, ctx) => makePlacer({
      capacity: () => new Map(), clock: clockRef!,
      providers: { plannerView: () => ({ offers, providers: [{ name: 'prov', inFlight: 0, reliability: 1, paused: false }] }) },
    })(job, candidates, room, ctx));
    clockRef = w.clock;
    w.api.jobs.get('job')!.spec.gpu = { models: ['nvidia-rtx-4090', 'nvidia-h100'], expectedShardSeconds: prior };
    return w;
  };

  test('the lower cost per shard wins over the lower hourly price; the submission asks for that model only and the shard records it', async () => {
    const w = mixedWorld({ 'nvidia-h100': 300, 'nvidia-rtx-4090': 1800 });
    await drive(w);
    expect(w.api.jobs.get('job')!.status?.phase).toBe('Succeeded');
    // the provider's own records: both submissions asked for an H100 and nothing else
    expect(w.provider.askedModels).toEqual([['nvidia-h100'], ['nvidia-h100']]);
    for (const j of w.provider.jobs) expect(w.api.shards.get(`job-${j.shard}`)!.status).toMatchObject({ phase: 'Succeeded', gpuModel: 'nvidia-h100' });
  });

  test('a GPU model the catalog does not know (past the schema): Accepted=False InvalidSpec naming the known ones, nothing submitted', async () => {
    const w = mixedWorld({});
    w.api.jobs.get('job')!.spec.gpu = { models: ['nvidia-x'] };
    await w.operator().reconcile(`${NS}/job`);
    const accepted = w.api.jobs.get('job')!.status?.conditions?.find((c) => c.type === 'Accepted');
    expect(accepted).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(accepted?.message).toMatch(/gpu.models: unknown GPU model\(s\) nvidia-x; known: nvidia-b200, .*nvidia-rtx-4090/);
    expect(w.provider.jobs).toEqual([]);
  });

  test('when the 4090 is cheaper per shard, it is the one asked for', async () => {
    const w = mixedWorld({ 'nvidia-h100': 300, 'nvidia-rtx-4090': 600 });
    await drive(w);
    expect(w.provider.askedModels).toEqual([['nvidia-rtx-4090'], ['nvidia-rtx-4090']]);
  });
});

describe('local shards: the pod is the record, outcomes fold into the job status, fair first pods', () => {
  /**
   * The world with a LocalOnly job, whose pods the listers read back (by the atelier.dev/job label).
   * `lag`: the jobs cache shows the job as it was that many reconciles ago (a watch behind the writes).
   */
  function localWorld(count: number, waiting: () => number = () => 0, opts: { lag?: number; maxRetries?: number } = {}) {
    const w = world(count, () => undefined);
    w.api.jobs.get('job')!.spec.placement = { policy: 'LocalOnly' } as RenderJob['spec']['placement'];
    if (opts.maxRetries !== undefined) w.api.jobs.get('job')!.spec.shards.maxRetries = opts.maxRetries;
    const base = w.api.listers();
    const history: RenderJob[] = [];
    const jobs: Lister<RenderJob> = {
      get: (_ns, n) => {
        const now = w.api.jobs.get(n);
        if (!opts.lag || !now) return now;
        history.push(JSON.parse(JSON.stringify(now)) as RenderJob);
        return history[Math.max(0, history.length - 1 - opts.lag)];
      },
      byIndex: () => [],
    };
    const pods: Lister<k8s.V1Pod> = { get: base.pods.get, byIndex: (_i, key) => [...w.api.pods.values()].filter((p) => `${p.metadata!.namespace}/${p.metadata!.labels!['atelier.dev/job']}` === key) };
    const operator = () => new RenderJobReconciler({
      ...base, jobs, pods, writer: w.api, recorder: { event: () => {} }, clock: w.clock, expectations: new Expectations({ clock: w.clock }), log: nopLog, newJobsWaiting: waiting,
      config: { retryBaseMs: 1000, retryMaxMs: 10_000, localPricePerGpuHourMicros: 0n, maxStartsPerReconcile: 100, writeConcurrency: 4, statusMinIntervalMs: 0 },
    });
    return { ...w, operator };
  }
  const finish = (p: k8s.V1Pod, exitCode = 0) => {
    p.spec = { ...p.spec!, nodeName: 'gpu-node-1' };
    p.status = { phase: exitCode === 0 ? 'Succeeded' : 'Failed', containerStatuses: [{ name: 'shard', image: '', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode, startedAt: new Date(T0), finishedAt: new Date(T0 + 30_000) } } }] };
  };
  /** The kubelet runs every pod to success; pod GC then deletes every finished pod (as soon as it can). */
  const kubeletAndGc = (w: ReturnType<typeof localWorld>, created: Map<string, number>) => {
    for (const [n, p] of w.api.pods) {
      created.set(n, created.get(n) ?? 1);
      if (!p.status?.phase || p.status.phase === 'Pending') finish(p);
      else w.api.removePod(n);
    }
  };

  test('while new jobs wait for their first pod, a job starts one shard per pass and comes straight back for the rest', async () => {
    let waiting = 3;
    const w = localWorld(5, () => waiting);
    const r = w.operator();
    const first = await r.reconcile(`${NS}/job`);
    expect([...w.api.pods.keys()]).toEqual(['job-0-1']);
    expect(first.requeueAfterMs).toBe(1);
    await r.reconcile(`${NS}/job`);
    expect(w.api.pods.size).toBe(2);
    waiting = 0; // the new jobs got theirs: the rest start at once
    await r.reconcile(`${NS}/job`);
    expect([...w.api.pods.keys()].sort()).toEqual(['job-0-1', 'job-1-1', 'job-2-1', 'job-3-1', 'job-4-1']);
    expect(w.api.shards.size).toBe(0); // the pods are the records
    for (const p of w.api.pods.values()) expect(p.metadata!.finalizers).toEqual(['atelier.dev/outcome']);
  });

  test('10 shards that succeed: per shard a pod create and a finalizer release, no RenderShard; the job status holds them', async () => {
    const w = localWorld(10);
    const r = w.operator();
    await r.reconcile(`${NS}/job`);
    for (const p of w.api.pods.values()) finish(p);
    for (let i = 0; i < 5 && w.api.jobs.get('job')!.status?.phase !== 'Succeeded'; i++) await r.reconcile(`${NS}/job`);
    const job = w.api.jobs.get('job')!;
    expect(job.status).toMatchObject({ phase: 'Succeeded', progress: '10/10', shardSets: { succeeded: '0-9', localGpuSeconds: 300 } });
    expect(w.api.counts).toMatchObject({ podCreate: 10, podRelease: 10 });
    expect(w.api.counts.shardCreate ?? 0).toBe(0);
    expect(w.api.counts.shardStatus ?? 0).toBe(0);
    for (const p of w.api.pods.values()) expect(p.metadata!.finalizers).toEqual([]);
  });

  // Every write in turn is where the operator dies; a fresh process carries on. Pod GC deletes each
  // finished pod as soon as the API lets it. Oracle: the pods the API server was asked to create.
  test.each(Array.from({ length: 12 }, (_, i) => i + 1))('killed before write %i, finished pods garbage-collected at once: every shard runs exactly once', async (killAt) => {
    const w = localWorld(4);
    w.api.killAt = killAt;
    const created = new Map<string, number>();
    let r = w.operator();
    for (let pass = 0; pass < 30 && w.api.jobs.get('job')!.status?.phase !== 'Succeeded'; pass++) {
      try {
        await r.reconcile(`${NS}/job`);
      } catch (e) {
        if (!(e instanceof Killed)) throw e;
        r = w.operator();
      }
      kubeletAndGc(w, created);
    }
    expect(w.api.jobs.get('job')!.status).toMatchObject({ phase: 'Succeeded', shardSets: { succeeded: '0-3' } });
    await r.reconcile(`${NS}/job`); // the pod events after a kill bring the job back: held pods of folded shards go
    kubeletAndGc(w, created);
    expect([...w.api.created].sort()).toEqual(['job-0-1', 'job-1-1', 'job-2-1', 'job-3-1']);
    expect(w.api.pods.size).toBe(0); // every finalizer released
  });

  test('a jobs cache two writes behind never loses a fold: no shard runs again after its pod is collected', async () => {
    const w = localWorld(6, () => 0, { lag: 2 });
    const r = w.operator();
    for (let pass = 0; pass < 40; pass++) { // on past the job's success: a stale view must not undo it
      await r.reconcile(`${NS}/job`);
      // the kubelet finishes one pod per pass (folds come one by one); GC takes each released pod
      const next = [...w.api.pods.values()].find((p) => !p.status?.phase);
      if (next) finish(next);
      for (const [n, p] of w.api.pods) if (p.status?.phase && p.status.phase !== 'Pending' && p !== next) w.api.removePod(n);
    }
    expect(w.api.jobs.get('job')!.status).toMatchObject({ phase: 'Succeeded', shardSets: { succeeded: '0-5' } });
    expect([...w.api.created].sort()).toEqual(['job-0-1', 'job-1-1', 'job-2-1', 'job-3-1', 'job-4-1', 'job-5-1']);
  });

  test('a status written by someone else in between is not overwritten: the write is refused (409) and made again on the new version', async () => {
    const w = localWorld(2);
    const r = w.operator();
    await r.reconcile(`${NS}/job`);
    for (const p of w.api.pods.values()) finish(p);
    const job = w.api.jobs.get('job')!;
    const stale = JSON.parse(JSON.stringify(job)) as RenderJob;
    job.metadata.resourceVersion = '999'; // e.g. the settlement controller applied its fields
    const jobs: Lister<RenderJob> = { get: () => stale, byIndex: () => [] };
    const r2 = new RenderJobReconciler({ ...w.api.listers(), jobs, pods: { get: () => undefined, byIndex: () => [...w.api.pods.values()] }, writer: w.api, recorder: { event: () => {} }, clock: w.clock, expectations: new Expectations({ clock: w.clock }), log: nopLog,
      config: { retryBaseMs: 1000, retryMaxMs: 10_000, localPricePerGpuHourMicros: 0n, maxStartsPerReconcile: 100, writeConcurrency: 4, statusMinIntervalMs: 0 } });
    const res = await r2.reconcile(`${NS}/job`);
    expect(res.requeueAfterMs).toBe(200);
    expect(w.api.counts.podRelease ?? 0).toBe(0); // nothing released on a refused fold
    for (const p of w.api.pods.values()) expect(p.metadata!.finalizers).toEqual(['atelier.dev/outcome']);
    await r.reconcile(`${NS}/job`); // the up-to-date view folds and releases
    expect(w.api.jobs.get('job')!.status?.shardSets?.succeeded).toBe('0-1');
    expect(w.api.counts.podRelease).toBe(2);
  });

  test('a failure goes to a RenderShard created with it; the retry runs; the pod is released after the record', async () => {
    const w = localWorld(1, () => 0, { maxRetries: 2 });
    const r = w.operator();
    await r.reconcile(`${NS}/job`);
    finish(w.api.pods.get('job-0-1')!, 3);
    await r.reconcile(`${NS}/job`);
    expect(w.api.shards.get('job-0')!.status).toMatchObject({ phase: 'Pending', attempts: 1, lastFailure: { reason: 'Error' } });
    expect(w.api.pods.get('job-0-1')!.metadata!.finalizers).toEqual([]);
    w.clock.advance(2000);
    await r.reconcile(`${NS}/job`);
    expect(w.api.pods.has('job-0-2')).toBe(true);
    finish(w.api.pods.get('job-0-2')!);
    await r.reconcile(`${NS}/job`);
    await r.reconcile(`${NS}/job`);
    // a retried shard keeps its record (attempts, the failure); it does not fold
    expect(w.api.shards.get('job-0')!.status).toMatchObject({ phase: 'Succeeded', attempts: 2 });
    expect(w.api.jobs.get('job')!.status?.phase).toBe('Succeeded');
    expect(w.api.jobs.get('job')!.status?.shardSets).toBeUndefined();
    expect(w.api.pods.get('job-0-2')!.metadata!.finalizers).toEqual([]);
  });

  test('a job being deleted releases its pods before its own finalizer goes', async () => {
    const w = localWorld(2);
    const r = w.operator();
    await r.reconcile(`${NS}/job`);
    finish(w.api.pods.get('job-0-1')!);
    Object.assign(w.api.jobs.get('job')!.metadata, { deletionTimestamp: new Date(T0), resourceVersion: '100' }); // a delete is a new version
    await r.reconcile(`${NS}/job`); // the running pod is deleted; the finished one released
    expect(w.api.pods.get('job-1-1')!.metadata!.deletionTimestamp).toBeDefined();
    finish(w.api.pods.get('job-1-1')!, 137); // the kubelet stopped it
    await r.reconcile(`${NS}/job`); // released; the job waits until the cache shows it gone
    expect(w.api.jobs.get('job')!.metadata.finalizers).toContain('atelier.dev/cleanup');
    await r.reconcile(`${NS}/job`);
    expect(w.api.pods.has('job-1-1')).toBe(false); // deleted: gone once released
    for (const p of w.api.pods.values()) expect(p.metadata!.finalizers).toEqual([]); // the rest go with the job (GC)
    expect(w.api.jobs.get('job')!.metadata.finalizers ?? []).not.toContain('atelier.dev/cleanup');
  });
});
