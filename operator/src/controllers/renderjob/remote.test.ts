// Remote attempts in-process: when a running remote shard is looked at again (runningPollMs: every
// poll interval at first, then an eighth of its run time so far, at most 30 s, never past its
// maxDuration); and the intent and the submit (below).
import { ProviderError, type ProviderAdapter, type RemoteStatus, type ResultSet, type ResultsUnsupported, type ShardSpec } from '../../providers/types.js';
import { FakeClock } from '../../runtime/clock.js';
import { nopLog } from '../../runtime/logger.js';
import { RemoteShards, runningPollMs, type RecordFn } from './remote.js';
import type { ShardRecordStatus } from './decide.js';

test.each([
  // [poll interval, ran so far, maxDuration (0: none), next look]
  [5000, 0, 0, 5000],
  [5000, 20_000, 0, 5000],
  [5000, 80_000, 0, 10_000],
  [5000, 600_000, 0, 30_000],
  [5000, 3_600_000, 0, 30_000],
  [5000, 590_000, 600_000, 10_001], // ten seconds before its limit: looked at right after it
  [5000, 599_000, 600_000, 5000], // never sooner than the poll interval
  [60_000, 600_000, 0, 60_000], // a longer configured interval stays the floor
])('interval %i ms, ran %i ms, limit %i ms: next look in %i ms', (poll, ran, limit, want) => {
  expect(runningPollMs(poll, ran, limit)).toBe(want);
});

test.each([
  // [poll interval, ran so far, maxDuration (0: none), expected run (0: none known), next look]
  [5000, 0, 0, 15_000, 15_000], // looked at when its job's shards were seen to end
  [5000, 12_000, 0, 15_000, 5000], // never sooner than the poll interval
  [5000, 0, 0, 600_000, 30_000], // never later than the 30 s cap
  [5000, 20_000, 0, 15_000, 5000], // past the expected end: the usual cadence
  [5000, 0, 12_000, 15_000, 12_001], // never past its maxDuration
])('interval %i ms, ran %i ms, limit %i ms, expected %i ms: next look in %i ms', (poll, ran, limit, expected, want) => {
  expect(runningPollMs(poll, ran, limit, expected)).toBe(want);
});

// The intent and the submit (RemoteShards.start/track) against a store that behaves as the API
// server does for the conditional write (a fresh read, then a write refused if anything came between)
// and a provider that keeps its own records: what it ran under each key and how often it was searched.
// The oracles are the provider's records and the store's objects, never RemoteShards' own memory.

class Store {
  readonly records = new Map<string, ShardRecordStatus>();
  /** Another writer's status write lands between the next conditional write's read and its write (409). */
  conflictNext = false;
  /** The process dies right after this many more successful writes. */
  dieAfter?: number;
  record(): RecordFn {
    return async (name, status, expect) => {
      if (this.dieAfter === 0) throw new Error('killed');
      const cur = this.records.get(name) ?? {};
      if (expect && !expect(cur)) return false;
      if (expect && this.conflictNext) { this.conflictNext = false; return false; }
      const merged: Record<string, unknown> = { ...cur };
      for (const [k, v] of Object.entries(status)) if (v === undefined) delete merged[k]; else merged[k] = v;
      this.records.set(name, merged as ShardRecordStatus);
      if (this.dieAfter !== undefined) this.dieAfter--;
      return true;
    };
  }
}

class Provider implements ProviderAdapter {
  readonly type = 'render' as const;
  readonly runs: { id: string; key: string }[] = [];
  searches = 0;
  /** The next submission is made but its answer is lost. */
  loseAnswer = false;
  capabilities() {
    return { provider: 'render' as const, logs: 'none' as const, results: 'native' as const, resultChannel: 'test', billing: 'perSecond' as const, maxGpusPerJob: 8, endsByItself: true, findByKey: 'remote' as const, runsArbitraryImages: true };
  }
  async listOffers() { return []; }
  async submit(_spec: ShardSpec, opts: { idempotencyKey: string }) {
    const id = `r-${this.runs.length}`;
    this.runs.push({ id, key: opts.idempotencyKey });
    if (this.loseAnswer) { this.loseAnswer = false; throw new ProviderError('render', 'transient', 'socket hang up'); }
    return { remoteId: id };
  }
  async findByKey(key: string) { this.searches++; return this.runs.find((r) => r.key === key)?.id; }
  async getStatus(_id: string): Promise<RemoteStatus> { return { phase: 'Running', raw: 'RUNNING' }; }
  async logs() { return []; }
  async getResults(_id: string): Promise<ResultSet | ResultsUnsupported> { return { supported: false, reason: 'test' }; }
  async cancel() {}
  async getCost() { return { amount: '0', currency: 'USD', usd: '0', basis: 'settled' as const, seconds: 0 }; }
}

const spec: ShardSpec = { jobUid: 'uid-job', jobNamespace: 'studio', jobName: 'job', shardIndex: 0, image: 'render:1', command: [], args: [], env: [], gpuCount: 1, gpuModels: [], outputUri: '' };
const cfg = { retryBaseMs: 1000, retryMaxMs: 10_000, localPricePerGpuHourMicros: 0n, maxStartsPerReconcile: 100, pollIntervalMs: 5000, providerTimeoutMs: 120_000 };
const start = { recordName: 'job-0', attempt: 1, provider: 'prov', idempotencyKey: 'uid-job-0-1' };

function world() {
  const clock = new FakeClock(Date.parse('2026-12-01T12:00:00Z'));
  const store = new Store();
  const provider = new Provider();
  /** A fresh operator process: nothing in memory. */
  const process = () => new RemoteShards({ get: async () => provider }, clock, nopLog, { event: () => {} }, cfg);
  const track = (r: RemoteShards) => r.track(store.record(), 'studio', { name: 'job-0', index: 0, status: store.records.get('job-0')! }, spec, 2);
  return { clock, store, provider, process, track };
}

describe('remote intent and submit: findByKey only where a submission may exist', () => {
  test('an intent this process wrote conditionally is submitted once, without a search', async () => {
    const w = world();
    await w.process().start(w.store.record(), {}, start, spec);
    expect(w.provider.runs.map((r) => r.key)).toEqual(['uid-job-0-1']);
    expect(w.provider.searches).toBe(0);
    expect(w.store.records.get('job-0')).toMatchObject({ idempotencyKey: 'uid-job-0-1', remoteId: 'r-0', attempts: 1 });
  });

  test('killed after the submit, before its remote id was recorded: the restarted process finds it and submits nothing', async () => {
    const w = world();
    w.store.dieAfter = 1; // the intent is written; the write of the remote id dies
    await expect(w.process().start(w.store.record(), {}, start, spec)).rejects.toThrow('killed');
    expect(w.store.records.get('job-0')?.remoteId).toBeUndefined();
    w.store.dieAfter = undefined;
    await w.track(w.process());
    expect(w.provider.runs).toHaveLength(1);
    expect(w.provider.searches).toBe(1);
    expect(w.store.records.get('job-0')).toMatchObject({ idempotencyKey: 'uid-job-0-1', remoteId: 'r-0' });
  });

  test('killed between the intent and the submit: the restarted process finds nothing and sends nothing under that key', async () => {
    const w = world();
    const first = new RemoteShards({ get: async () => { throw new Error('killed'); } }, w.clock, nopLog, { event: () => {} }, cfg);
    await expect(first.start(w.store.record(), {}, start, spec)).rejects.toThrow('killed');
    expect(w.store.records.get('job-0')).toMatchObject({ idempotencyKey: 'uid-job-0-1' });
    await w.track(w.process());
    expect(w.provider.runs).toHaveLength(0);
    expect(w.provider.searches).toBe(1);
    expect(w.store.records.get('job-0')).toMatchObject({ phase: 'Pending', attempts: 1 });
    expect(w.store.records.get('job-0')?.idempotencyKey).toBeUndefined();
  });

  test('a submit whose answer was lost is looked up before any second submit: one run under the key', async () => {
    const w = world();
    w.provider.loseAnswer = true;
    const p = w.process();
    await p.start(w.store.record(), {}, start, spec);
    expect(w.store.records.get('job-0')?.remoteId).toBeUndefined();
    w.clock.advance(5000);
    await w.track(p);
    expect(w.provider.runs).toHaveLength(1);
    expect(w.provider.searches).toBe(1);
    expect(w.store.records.get('job-0')).toMatchObject({ remoteId: 'r-0' });
  });

  test.each([
    ['another leader already recorded this attempt (a stale cache)', (w: ReturnType<typeof world>) => { w.store.records.set('job-0', { phase: 'Scheduled', attempts: 1, idempotencyKey: 'uid-job-0-1', provider: 'prov' }); }],
    ['the record is past this attempt', (w: ReturnType<typeof world>) => { w.store.records.set('job-0', { phase: 'Pending', attempts: 1 }); }],
    ['a write lands between the read and the write (409)', (w: ReturnType<typeof world>) => { w.store.conflictNext = true; }],
  ])('%s: the intent is not written and nothing is submitted', async (_name, arrange) => {
    const w = world();
    arrange(w);
    const before = JSON.stringify(w.store.records.get('job-0') ?? null);
    await w.process().start(w.store.record(), {}, start, spec);
    expect(w.provider.runs).toHaveLength(0);
    expect(JSON.stringify(w.store.records.get('job-0') ?? null)).toBe(before);
  });

  test('an unconditional record (no precondition support) keeps the search before the submit', async () => {
    const w = world();
    const plain: RecordFn = async (name, status) => { await w.store.record()(name, status); };
    await w.process().start(plain, {}, start, spec);
    expect(w.provider.runs).toHaveLength(1);
    expect(w.provider.searches).toBe(1);
  });
});

/** Runs each submission for runMs from its submit; counts status calls per remote id. */
class TimedProvider extends Provider {
  readonly created = new Map<string, number>();
  readonly statusCalls = new Map<string, number>();
  constructor(private readonly clock: FakeClock, private readonly runMs: number) { super(); }
  override async submit(spec: ShardSpec, opts: { idempotencyKey: string }) {
    const r = await super.submit(spec, opts);
    this.created.set(r.remoteId, this.clock.now());
    return r;
  }
  override async getStatus(id: string): Promise<RemoteStatus> {
    this.statusCalls.set(id, (this.statusCalls.get(id) ?? 0) + 1);
    const t0 = this.created.get(id)!;
    return this.clock.now() >= t0 + this.runMs
      ? { phase: 'Succeeded' as const, raw: 'COMPLETED', startedAt: new Date(t0) }
      : { phase: 'Running' as const, raw: 'RUNNING', startedAt: new Date(t0) };
  }
  override async getResults(): Promise<ResultSet> {
    return { supported: true, outputs: [{ uri: 's3://out/x.exr', sha256: 'a'.repeat(64) }], digest: 'd'.repeat(64), integrity: 'reported' };
  }
}

test('a job\'s later shards are looked at when its earlier ones were seen to end: one status call fewer per 12 s shard, same outcome', async () => {
  const clock = new FakeClock(Date.parse('2026-12-01T12:00:00Z'));
  const store = new Store();
  const provider = new TimedProvider(clock, 12_000);
  const remote = new RemoteShards({ get: async () => provider }, clock, nopLog, { event: () => {} }, cfg);
  const runShard = async (index: number) => {
    const name = `job-${index}`;
    const s = { ...spec, shardIndex: index };
    await remote.start(store.record(), {}, { recordName: name, attempt: 1, provider: 'prov', idempotencyKey: `uid-job-${index}-1` }, s);
    for (let i = 0; i < 20 && store.records.get(name)?.phase !== 'Succeeded'; i++) {
      const wait = await remote.track(store.record(), 'studio', { name, index, status: store.records.get(name)! }, s, 2);
      clock.advance(wait ?? 1000);
    }
    return store.records.get(name)!;
  };
  expect(await runShard(0)).toMatchObject({ phase: 'Succeeded', remoteId: 'r-0' });
  expect(await runShard(1)).toMatchObject({ phase: 'Succeeded', remoteId: 'r-1' });
  // Every 5 s: seen running at 5 and 10 s, finished at 15 s. Then: running at 5 s, next look at 15 s.
  expect(provider.statusCalls.get('r-0')).toBe(3);
  expect(provider.statusCalls.get('r-1')).toBe(2);
  expect(provider.runs).toHaveLength(2);
});
