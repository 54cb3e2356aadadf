// RenderBudgets at placement, in-process: two RenderJob reconcilers (one per job) run side by side
// through the real placer and one budget ledger, against a fake API store and a provider that keeps
// its own records and bills. The RenderShard view the ledger reads lags one round behind (a stale
// cache), so only the placer's in-memory reservations stand between the two jobs and the cap. The
// oracle is the provider's own records: what it ran and billed never passes the budget's limit.
import type * as k8s from '@kubernetes/client-node';
import { API_VERSION, type RenderBudget, type RenderJob, type RenderShard } from '../../api/index.js';
import { parseMicros } from '../../money.js';
import type { CostReport, ProviderAdapter, RemoteStatus, ShardSpec } from '../../providers/types.js';
import { FakeClock } from '../../runtime/clock.js';
import { Expectations } from '../../runtime/expectations.js';
import { nopLog } from '../../runtime/logger.js';
import type { Lister } from '../../runtime/types.js';
import { BudgetLedger } from '../budget/ledger.js';
import type { ShardRecordStatus } from './decide.js';
import { makePlacer } from './placement.js';
import { RenderJobReconciler } from './reconciler.js';
import { RemoteShards } from './remote.js';
import type { JobStatus } from './status.js';
import type { JobWriter, ObjectRef } from './writer.js';

const NS = 'studio';
const T0 = Date.parse('2026-12-10T12:00:00Z');
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

class Store implements JobWriter {
  readonly counts: Record<string, number> = {};
  readonly jobs = new Map<string, RenderJob>();
  readonly shards = new Map<string, RenderShard>();
  readonly pods = new Map<string, k8s.V1Pod>();
  async setFinalizer(job: ObjectRef, finalizers: string[]) { const j = this.jobs.get(job.name)!; j.metadata.finalizers = finalizers; return clone(j); }
  async releasePod() {}
  async createShardRecord(job: ObjectRef, index: number, frames?: { start: number; end: number }) {
    const name = `${job.name}-${index}`;
    if (!this.shards.has(name)) this.shards.set(name, { apiVersion: API_VERSION, kind: 'RenderShard', metadata: { name, namespace: job.namespace, uid: `uid-${name}` }, spec: { jobName: job.name, index, ...(frames ? { frames } : {}) } });
  }
  async patchShardStatus(_ns: string, name: string, status: ShardRecordStatus) {
    const s = this.shards.get(name)!;
    const merged: Record<string, unknown> = { ...(s.status ?? {}) };
    for (const [k, v] of Object.entries(status)) if (v === undefined) delete merged[k]; else merged[k] = clone(v);
    s.status = merged as RenderShard['status'];
  }
  async deleteShardRecords(_ns: string, jobName: string) { for (const [n, s] of this.shards) if (s.spec.jobName === jobName) this.shards.delete(n); }
  async createPod(pod: k8s.V1Pod) { this.pods.set(pod.metadata!.name!, pod); return 'created' as const; }
  async deletePod(_ns: string, name: string) { this.pods.delete(name); }
  async patchJobStatus(_ns: string, name: string, status: JobStatus) { const j = this.jobs.get(name); if (j) j.status = clone(status); return j && clone(j); }
  listers() {
    const jobs: Lister<RenderJob> = { get: (_ns, n) => this.jobs.get(n), byIndex: () => [] };
    const shards: Lister<RenderShard> = { get: (_ns, n) => this.shards.get(n), byIndex: (_i, key) => [...this.shards.values()].filter((s) => `${s.metadata.namespace}/${s.spec.jobName}` === key) };
    const pods: Lister<k8s.V1Pod> = { get: (_ns, n) => this.pods.get(n), byIndex: () => [] };
    return { jobs, shards, pods };
  }
  async patchShardStatusIf(ns: string, name: string, status: ShardRecordStatus, expect: (current: ShardRecordStatus) => boolean | Promise<boolean>) {
    if (!(await expect((this.shards.get(name)?.status ?? {}) as ShardRecordStatus))) return false;
    await this.patchShardStatus(ns, name, status);
    return true;
  }
}

/** Runs each submission for 30 s and bills 0.10 USD for it; its records are the test's oracle. */
class BillingProvider implements ProviderAdapter {
  readonly type = 'render' as const;
  readonly runs: { id: string; key: string; createdMs: number; usd: string }[] = [];
  constructor(private readonly clock: FakeClock) {}
  capabilities() {
    return { provider: 'render' as const, logs: 'none' as const, results: 'native' as const, resultChannel: 'test', billing: 'perSecond' as const, maxGpusPerJob: 8, endsByItself: true, findByKey: 'remote' as const, runsArbitraryImages: true };
  }
  async listOffers() { return []; }
  async submit(_spec: ShardSpec, opts: { idempotencyKey: string }) {
    const prior = this.runs.find((r) => r.key === opts.idempotencyKey);
    if (prior) return { remoteId: prior.id };
    const id = `r-${this.runs.length}`;
    this.runs.push({ id, key: opts.idempotencyKey, createdMs: this.clock.now(), usd: '0.10' });
    return { remoteId: id };
  }
  async findByKey(key: string) { return this.runs.find((r) => r.key === key)?.id; }
  async getStatus(id: string): Promise<RemoteStatus> {
    const r = this.runs.find((x) => x.id === id)!;
    return this.clock.now() >= r.createdMs + 30_000 ? { phase: 'Succeeded', raw: 'COMPLETED' } : { phase: 'Running', raw: 'RUNNING', startedAt: new Date(r.createdMs) };
  }
  async logs() { return []; }
  async getResults(id: string) { return { supported: true as const, outputs: [{ uri: `s3://out/${id}.exr`, sha256: 'a'.repeat(64) }], digest: 'd'.repeat(64), integrity: 'reported' as const }; }
  async cancel() {}
  async getCost(id: string): Promise<CostReport> {
    const r = this.runs.find((x) => x.id === id)!;
    return { amount: r.usd, currency: 'USD', usd: r.usd, basis: 'settled', seconds: 30 };
  }
  billedMicros(): bigint { return this.runs.reduce((a, r) => a + parseMicros(r.usd), 0n); }
}

function renderJob(name: string, count: number, policy: 'ProviderOnly' | 'LocalOnly' = 'ProviderOnly'): RenderJob {
  return {
    apiVersion: API_VERSION, kind: 'RenderJob',
    metadata: { name, namespace: NS, uid: `uid-${name}`, generation: 1, creationTimestamp: new Date(T0) as unknown as Date, labels: { team: 'fx' } },
    // maxDuration 100 s at 3.60 USD/GPU-hour: each reservation holds 0.10 USD, what the provider bills.
    spec: { template: { image: 'render:1', resources: { limits: { 'nvidia.com/gpu': 1 } } }, shards: { count, maxRetries: 1, maxDuration: '100s' }, placement: { policy } },
  } as RenderJob;
}

function world(limit: string, action: 'StopBursting' | 'Suspend', withLedger = true) {
  const clock = new FakeClock(T0);
  const store = new Store();
  const provider = new BillingProvider(clock);
  const budget: RenderBudget = { apiVersion: API_VERSION, kind: 'RenderBudget', metadata: { name: 'fx-month', namespace: NS, uid: 'uid-b' }, spec: { limit, period: 'Month', action, selector: { matchLabels: { team: 'fx' } } } } as RenderBudget;
  // The ledger's RenderShard cache: refreshed only between rounds, so it lags behind the writes.
  let cached: RenderShard[] = [];
  const refresh = () => { cached = clone([...store.shards.values()]); };
  const ledger = new BudgetLedger({
    clock, budgets: () => [budget], jobs: () => [...store.jobs.values()],
    shardsOf: (_ns, job) => cached.filter((s) => s.spec.jobName === job),
    priceOf: () => 3_600_000n,
  });
  const place = makePlacer({
    capacity: () => new Map(), clock,
    providers: { plannerView: () => ({ offers: [{ provider: 'prov', offerId: 'o1', gpuModel: 'nvidia-h100', pricePerGpuHourMicros: 3_600_000n }], providers: [{ name: 'prov', inFlight: 0, reliability: 1, paused: false }] }) },
    ...(withLedger ? { budgets: ledger } : {}),
  });
  const recorder = { event: () => {} };
  const cfg = { retryBaseMs: 1000, retryMaxMs: 10_000, localPricePerGpuHourMicros: 0n, maxStartsPerReconcile: 100, pollIntervalMs: 5000, providerTimeoutMs: 120_000 };
  const reconciler = () => new RenderJobReconciler({
    ...store.listers(), writer: store, recorder, clock, expectations: new Expectations({ clock }), log: nopLog, place,
    remote: new RemoteShards({ get: async () => provider }, clock, nopLog, recorder, cfg),
    config: { ...cfg, writeConcurrency: 1, statusMinIntervalMs: 0 },
  });
  return { clock, store, provider, budget, ledger, refresh, reconciler };
}

describe('RenderBudget at placement (two jobs, one ledger)', () => {
  test('two jobs reconciled concurrently, in interleaved order, never reserve or spend past the cap', async () => {
    const w = world('0.35', 'StopBursting');
    w.store.jobs.set('a', renderJob('a', 3));
    w.store.jobs.set('b', renderJob('b', 3));
    const ra = w.reconciler();
    const rb = w.reconciler();
    const over: string[] = [];
    for (let round = 0; round < 40; round++) {
      // Both reconciles in flight at once; which runs first alternates.
      const order = round % 2 === 0 ? [[ra, 'a'], [rb, 'b']] as const : [[rb, 'b'], [ra, 'a']] as const;
      await Promise.all(order.map(([r, k]) => r.reconcile(`${NS}/${k}`)));
      // The provider's own records: everything it ever ran is billed at 0.10, and must fit the cap.
      if (w.provider.billedMicros() > 350_000n) over.push(`round ${round}: ${w.provider.runs.length} runs`);
      w.refresh();
      w.clock.advance(5000);
    }
    expect(over).toEqual([]);
    // The cap was used, not just respected: three 0.10 shards fit 0.35, a fourth does not.
    expect(w.provider.runs).toHaveLength(3);
    expect(new Set(w.provider.runs.map((r) => r.key)).size).toBe(3);
    const u = w.ledger.usage(w.budget);
    expect([u.spentMicros, u.reservedMicros]).toEqual([300_000n, 0n]);
    expect(u.exhausted).toBe(true);
    const reasons = ['a', 'b'].map((j) => w.store.jobs.get(j)!.status?.conditions?.find((c) => c.type === 'Bursting')?.reason);
    expect(reasons).toContain('BudgetExhausted');
  });

  test('without the ledger the same two jobs run all six shards (the cap is what stops them)', async () => {
    const w = world('0.35', 'StopBursting', false);
    w.store.jobs.set('a', renderJob('a', 3));
    w.store.jobs.set('b', renderJob('b', 3));
    const ra = w.reconciler();
    const rb = w.reconciler();
    for (let round = 0; round < 10; round++) {
      await Promise.all([ra.reconcile(`${NS}/a`), rb.reconcile(`${NS}/b`)]);
      w.clock.advance(5000);
    }
    expect(w.provider.runs).toHaveLength(6);
  });

  test('Suspend: once exhausted, a new job of the budget starts nothing, not even locally; a raised limit lets it go', async () => {
    const w = world('0.10', 'Suspend');
    w.store.jobs.set('a', renderJob('a', 2));
    const ra = w.reconciler();
    for (let round = 0; round < 12; round++) { await ra.reconcile(`${NS}/a`); w.refresh(); w.clock.advance(5000); }
    expect(w.provider.runs).toHaveLength(1);
    w.store.jobs.set('local', renderJob('local', 2, 'LocalOnly'));
    const rl = w.reconciler();
    await rl.reconcile(`${NS}/local`);
    expect([...w.store.pods.values()].filter((p) => p.metadata!.name!.startsWith('local-'))).toHaveLength(0);
    expect(w.store.jobs.get('local')!.status?.conditions?.find((c) => c.type === 'Bursting')).toMatchObject({ reason: 'BudgetExhausted' });
    w.budget.spec.limit = '1.00';
    await rl.reconcile(`${NS}/local`);
    expect([...w.store.pods.values()].filter((p) => p.metadata!.name!.startsWith('local-'))).toHaveLength(2);
  });
});
