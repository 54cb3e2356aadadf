import { decide, podName, retryDelayMs, type JobSnapshot, type PlaceInfo, type PodView, type ShardRecord, type ShardRecordStatus } from './decide.js';

const NOW = Date.parse('2026-11-24T12:00:00Z');

class JobBuilder {
  private j: JobSnapshot = { name: 'job', namespace: 'ns', uid: 'u1', generation: 1, creationTimestamp: NOW - 60_000, spec: { shards: { count: 4 }, gpusPerShard: 1 } };
  count(n: number) { this.j.spec.shards = { ...this.j.spec.shards, count: n }; return this; }
    parallelism(n: number) { this.j.spec.shards.parallelism = n; return this; }
  maxRetries(n: number) { this.j.spec.shards.maxRetries = n; return this; }
  suspend() { this.j.spec.suspend = true; return this; }
  deadline(iso: string) { this.j.spec.deadline = iso; return this; }
  folded(indexes: number[], gpuMillis = 0n) { this.j.folded = { succeeded: new Set(indexes), gpuMillis }; return this; }
  keepsRecords() { this.j.keepsRecords = true; return this; }
  deleting() { this.j.deletionTimestamp = NOW - 1000; return this; }
  obj() { return this.j; }
}
const job = () => new JobBuilder();
const records = (...rs: [number, ShardRecordStatus][]) => new Map<number, ShardRecord>(rs.map(([i, status]) => [i, { name: `job-${i}`, index: i, status }]));
const allRecords = (n: number) => records(...Array.from({ length: n }, (_, i) => [i, {}] as [number, ShardRecordStatus]));
function pod(index: number, attempt: number, phase: PodView['phase'], extra: Partial<PodView> = {}): PodView {
  return { name: podName('job', index, attempt), index, attempt, phase, terminating: false, startedAt: NOW - 30_000, finishedAt: phase === 'Succeeded' || phase === 'Failed' ? NOW - 1000 : undefined, ...extra };
}
const pods = (...ps: PodView[]) => {
  const m = new Map<number, PodView[]>();
  for (const p of ps) m.set(p.index, [...(m.get(p.index) ?? []), p]);
  return m;
};

test('a new job starts its local shards as pods alone (the pod is the record); a peer job gets a record with each pod', () => {
  const d1 = decide(job().count(3).obj(), new Map(), new Map(), NOW);
  expect(d1.createRecords).toEqual([]);
  expect(d1.createPods.map((p) => p.name)).toEqual(['job-0-1', 'job-1-1', 'job-2-1']);
  expect(d1.outcome).toBe('Running');
  const peer = decide(job().count(3).keepsRecords().obj(), new Map(), new Map(), NOW);
  expect(peer.createRecords.map((r) => r.index)).toEqual([0, 1, 2]);
  expect(peer.createPods.map((p) => p.name)).toEqual(['job-0-1', 'job-1-1', 'job-2-1']);
  const d2 = decide(job().count(3).obj(), allRecords(3), new Map(), NOW);
  expect(d2.createRecords).toEqual([]);
  expect(d2.createPods.map((p) => p.name)).toEqual(['job-0-1', 'job-1-1', 'job-2-1']);
});

test('starts per reconcile are capped, and the rest follow at once', () => {
  const d = decide(job().count(10).obj(), new Map(), new Map(), NOW, { retryBaseMs: 1000, retryMaxMs: 8000, localPricePerGpuHourMicros: 0n, maxStartsPerReconcile: 4 });
  expect(d.createPods.map((p) => p.index)).toEqual([0, 1, 2, 3]);
  expect(d.requeueAfterMs).toBe(1);
});

test('parallelism caps live pods across the job', () => {
  const d = decide(job().count(10).parallelism(3).obj(), allRecords(10), pods(pod(0, 1, 'Running')), NOW);
  expect(d.createPods.map((p) => p.index)).toEqual([1, 2]);
  expect(d.counts.running).toBe(1);
});

test('a shard with a live (or terminating) pod never gets a second pod', () => {
  const d = decide(job().count(2).obj(), allRecords(2), pods(pod(0, 1, 'Pending'), pod(1, 1, 'Failed', { terminating: true })), NOW);
  expect(d.createPods).toEqual([]);
});

test('a succeeded pod is recorded with its result and GPU time; the job completes when all are recorded', () => {
  const msg = JSON.stringify({ outputs: [{ uri: 's3://b/0.png', sha256: 'b'.repeat(64) }] });
  const d = decide(job().count(1).obj(), allRecords(1), pods(pod(0, 1, 'Succeeded', { message: msg })), NOW);
  expect(d.recordOutcomes).toHaveLength(1);
  const st = d.recordOutcomes[0]!.status;
  expect(st.phase).toBe('Succeeded');
  expect(st.result!.outputs).toEqual([{ uri: 's3://b/0.png', sha256: 'b'.repeat(64) }]);
  expect(st.gpuSeconds).toBe(29);
  expect(d.outcome).toBe('Succeeded');
  expect(d.gpuMillis).toBe(29_000n);
});

test('a failed attempt is recorded and retried after the backoff with the next attempt number', () => {
  const opts = { retryBaseMs: 1000, retryMaxMs: 8000, localPricePerGpuHourMicros: 3_600_000n, maxStartsPerReconcile: 500 };
  const d1 = decide(job().count(1).obj(), allRecords(1), pods(pod(0, 1, 'Failed', { exitCode: 2, message: 'boom' })), NOW, opts);
  const st = d1.recordOutcomes[0]!.status;
  expect(st).toMatchObject({ phase: 'Pending', attempts: 1, lastFailure: { message: 'attempt 1 exited 2: boom' } });
  expect(Date.parse(st.retryAfter!)).toBe(NOW + 1000);
  expect(d1.createPods).toEqual([]);
  expect(d1.recordOutcomes[0]!.event!.reason).toBe('ShardRetrying');
  // before the backoff expires: nothing; after: attempt 2
  const recs = records([0, st]);
  expect(decide(job().count(1).obj(), recs, pods(pod(0, 1, 'Failed')), NOW + 500, opts).createPods).toEqual([]);
  expect(decide(job().count(1).obj(), recs, pods(pod(0, 1, 'Failed')), NOW + 1000, opts).createPods.map((p) => p.name)).toEqual(['job-0-2']);
});

test('a record that lost the count still never reuses an existing pod name', () => {
  const d = decide(job().count(1).obj(), records([0, { attempts: 1 }]), pods(pod(0, 1, 'Failed'), pod(0, 3, 'Failed', { terminating: false })), NOW);
  // attempt 3 finished but is unrecorded: it is recorded first, no pod is created this round
  expect(d.recordOutcomes[0]!.status.attempts).toBe(3);
  expect(d.createPods).toEqual([]);
});

test('failing beyond maxRetries fails the shard and the job, and stops live pods', () => {
  const d = decide(job().count(2).maxRetries(1).obj(), records([0, { attempts: 1, phase: 'Pending' }], [1, {}]), pods(pod(0, 2, 'Failed', { exitCode: 1 }), pod(1, 1, 'Running')), NOW);
  expect(d.recordOutcomes[0]!.status.phase).toBe('Failed');
  expect(d.recordOutcomes[0]!.event!.reason).toBe('ShardFailed');
  expect(d.outcome).toBe('Failed');
  expect(d.failure!.reason).toBe('ShardFailed');
  expect(d.deletePods).toEqual(['job-1-1']);
  expect(d.createPods).toEqual([]);
});

test('suspend deletes live pods, keeps finished counts and starts nothing', () => {
  const d = decide(job().count(3).suspend().obj(), records([0, { phase: 'Succeeded', attempts: 1 }], [1, {}], [2, {}]), pods(pod(1, 1, 'Running')), NOW);
  expect(d.outcome).toBe('Suspended');
  expect(d.deletePods).toEqual(['job-1-1']);
  expect(d.counts.succeeded).toBe(1);
  expect(d.createPods).toEqual([]);
});

test('a passed deadline fails the job with DeadlineExceeded; a future one schedules a wake-up', () => {
  const past = decide(job().count(2).deadline('2026-11-24T11:00:00Z').obj(), allRecords(2), pods(pod(0, 1, 'Running')), NOW);
  expect(past.failure!.reason).toBe('DeadlineExceeded');
  expect(past.deletePods).toEqual(['job-0-1']);
  const future = decide(job().count(2).deadline('2026-11-24T12:05:00Z').obj(), allRecords(2), new Map(), NOW);
  expect(future.requeueAfterMs).toBe(300_000);
});

test('retryDelayMs doubles and caps', () => {
  expect([1, 2, 3, 10].map((n) => retryDelayMs(n))).toEqual([10_000, 20_000, 40_000, 360_000]);
});

test('a recorded local outcome carries its cost at the local price', () => {
  const d = decide(job().count(1).obj(), allRecords(1), pods(pod(0, 1, 'Succeeded')), NOW, { retryBaseMs: 1000, retryMaxMs: 8000, localPricePerGpuHourMicros: 3_600_000n, maxStartsPerReconcile: 500 });
  // 29 GPU-seconds at 3.60 USD/GPU-hour
  expect(d.recordOutcomes[0]!.status.cost).toBe('0.029');
});

describe('remote placement', () => {
  const remote = (provider: string) => () => new Map([[0, { kind: 'Remote' as const, provider }], [1, { kind: 'Local' as const }]]);

  test('the planner sends a shard remote: an intent with a deterministic key, no pod', () => {
    const d = decide(job().count(3).obj(), allRecords(3), new Map(), NOW, undefined, (cands) => new Map(cands.map((c) => [c.index, c.index === 0 ? { kind: 'Remote' as const, provider: 'akash' } : c.index === 1 ? { kind: 'Local' as const } : { kind: 'Wait' as const }])));
    expect(d.submitRemote).toEqual([{ index: 0, recordName: 'job-0', attempt: 1, provider: 'akash', idempotencyKey: 'u1-0-1', waitedMs: 60_000 }]);
    expect(d.createPods.map((p) => p.index)).toEqual([1]);
  });

  test('a live remote submission counts as running remote, is never started again, and uses parallelism', () => {
    const recs = records([0, { placement: 'Remote', provider: 'akash', idempotencyKey: 'u1-0-1', attempts: 1, phase: 'Running' }], [1, {}]);
    const d = decide(job().count(2).parallelism(1).obj(), recs, new Map(), NOW, undefined, remote('akash'));
    expect(d.remoteLive.map((r) => r.index)).toEqual([0]);
    expect(d.counts).toMatchObject({ running: 1, remote: 1, local: 0 });
    expect(d.submitRemote).toEqual([]);
    expect(d.createPods).toEqual([]); // parallelism 1 is taken by the remote shard
  });

  test('a failed remote attempt (intent cleared) retries with the next attempt number', () => {
    const recs = records([0, { placement: 'Remote', provider: 'akash', attempts: 1, phase: 'Pending', lastFailure: { reason: 'RemoteFailed', message: 'x' } }]);
    const d = decide(job().count(1).obj(), recs, new Map(), NOW, undefined, remote('render'));
    expect(d.submitRemote[0]).toMatchObject({ attempt: 2, provider: 'render', idempotencyKey: 'u1-0-2' });
  });

  test('succeeded remote shards count as remote and add their cost', () => {
    const recs = records([0, { placement: 'Remote', provider: 'akash', attempts: 1, phase: 'Succeeded', remoteCost: '0.25' }], [1, { phase: 'Succeeded', attempts: 1 }]);
    const d = decide(job().count(2).obj(), recs, new Map(), NOW);
    expect(d.counts).toMatchObject({ succeeded: 2, remote: 1, local: 1 });
    expect(d.remoteCostMicros).toBe(250_000n);
    expect(d.outcome).toBe('Succeeded');
  });

  test('suspend cancels live remote submissions', () => {
    const recs = records([0, { placement: 'Remote', provider: 'akash', idempotencyKey: 'u1-0-1', attempts: 1 }]);
    const d = decide(job().count(1).suspend().obj(), recs, new Map(), NOW);
    expect(d.cancelRemote.map((r) => r.index)).toEqual([0]);
  });

  test('a stuck unschedulable pod that the planner sends remote is deleted first', () => {
    const stuck = pod(0, 1, 'Pending', { unschedulable: true, unschedulableSince: NOW - 120_000 });
    const d = decide(job().count(1).obj(), allRecords(1), pods(stuck), NOW, undefined, remote('akash'));
    expect(d.deletePods).toEqual(['job-0-1']);
    expect(d.submitRemote).toEqual([]); // not before the pod is gone
  });
});

describe('spot checks and untrusted providers', () => {
  const H = 'a'.repeat(64);
  const OTHER = 'c'.repeat(64);
  const remoteOutputs = [{ uri: 's3://akash-bucket/0.png', sha256: H }];
  /** A remote result at `provider`, succeeded at attempt 1, with the given verification. */
  const remoteDone = (verification: ShardRecordStatus['verification'], provider = 'akash', extra: ShardRecordStatus = {}): ShardRecordStatus => ({
    placement: 'Remote', provider, phase: 'Succeeded', attempts: 1, idempotencyKey: `u1-x-1`, remoteId: 'r-1', remoteCost: '0.40',
    result: { outputs: remoteOutputs }, ...(verification ? { verification } : {}), ...extra,
  });
  const pendingCheck = (attempt?: number): ShardRecordStatus['verification'] => ({ state: 'Pending', spotCheck: true, provider: 'akash', ...(attempt ? { attempt } : {}) });
  const resultMessage = (sha256: string) => JSON.stringify({ outputs: [{ uri: 'local://x', sha256 }] });
  const localOnly = () => new Map<number, { kind: 'Local' }>();

  test('a remote result pending its spot check starts a local re-run with the next attempt number', () => {
    const d = decide(job().count(1).obj(), records([0, remoteDone(pendingCheck())]), new Map(), NOW);
    expect(d.createPods.map((p) => p.name)).toEqual([podName('job', 0, 2)]);
    expect(d.createRecords).toEqual([]);
    expect(d.submitRemote).toEqual([]);
    expect(d.outcome).not.toBe('Succeeded');
    expect(d.counts).toMatchObject({ running: 1, succeeded: 0, pending: 0 });
    expect(d.verification).toMatchObject({ pending: 1, verified: 0, skipped: 0, failed: 0 });
  });

  test('a frames job re-runs the check with the shard\'s frames', () => {
    const j = job().obj();
    j.spec.shards = { frames: { start: 1, end: 8, perShard: 4 } } as never;
    const d = decide(j, records([0, {}], [1, remoteDone(pendingCheck())]), pods(pod(0, 1, 'Running')), NOW);
    expect(d.createPods).toEqual([{ index: 1, attempt: 2, name: 'job-1-2', frames: { start: 5, end: 8 } }]);
  });

  test('a live check pod is not started twice and counts as running', () => {
    const d = decide(job().count(1).obj(), records([0, remoteDone(pendingCheck())]), pods(pod(0, 2, 'Running')), NOW);
    expect(d.createPods).toEqual([]);
    expect(d.counts.running).toBe(1);
    expect(d.verification.pending).toBe(1);
    expect(d.outcome).toBe('Running');
  });

  test.each([
    // [parallelism, other live pods, expected creates]
    [1, true, []],
    [1, false, ['job-0-2']],
    [2, true, ['job-0-2']],
  ])('check pods respect the parallelism room (parallelism %s, another shard live %s)', (parallelism, otherLive, want) => {
    const recs = records([0, remoteDone(pendingCheck())], [1, otherLive ? { attempts: 1 } : { phase: 'Succeeded', attempts: 1 }], [2, { phase: 'Succeeded', attempts: 1 }]);
    const d = decide(job().count(3).parallelism(parallelism).obj(), recs, otherLive ? pods(pod(1, 1, 'Running')) : new Map(), NOW);
    expect(d.createPods.map((p) => p.name)).toEqual(want);
  });

  test('check pods go before new shards', () => {
    const recs = records([0, {}], [1, {}], [2, remoteDone(pendingCheck())]);
    const d = decide(job().count(3).parallelism(2).obj(), recs, new Map(), NOW);
    expect(d.createPods.map((p) => p.name)).toEqual(['job-2-2', 'job-0-1']);
  });

  test('a matching re-run verifies the remote result: same content under another URI', () => {
    const d = decide(job().count(1).obj(), records([0, remoteDone(pendingCheck())]), pods(pod(0, 2, 'Succeeded', { message: resultMessage(H) })), NOW);
    expect(d.recordOutcomes).toHaveLength(1);
    const st = d.recordOutcomes[0]!.status;
    expect(st.verification).toMatchObject({ state: 'Verified', attempt: 2, provider: 'akash' });
    expect(st.placement).toBe('Remote');
    expect(st.provider).toBe('akash');
    expect(st.phase).toBe('Succeeded');
    expect(st.result!.outputs).toEqual(remoteOutputs); // the remote result stands
    expect(st.lastFailure).toBeUndefined();
    expect(d.recordOutcomes[0]!.event).toBeUndefined();
    expect(d.counts).toMatchObject({ succeeded: 1, remote: 1, local: 0, running: 0 });
    expect(d.verification).toMatchObject({ pending: 0, verified: 1, failed: 0 });
    expect(d.untrusted.size).toBe(0);
    expect(d.outcome).toBe('Succeeded');
  });

  test('upper-case remote digests still match the re-run', () => {
    const st0 = remoteDone(pendingCheck(), 'akash', { result: { outputs: [{ uri: 's3://x/0.png', sha256: H.toUpperCase() }] } });
    const d = decide(job().count(1).obj(), records([0, st0]), pods(pod(0, 2, 'Succeeded', { message: resultMessage(H) })), NOW);
    expect(d.recordOutcomes[0]!.status.verification!.state).toBe('Verified');
  });

  test('a re-run with other content fails the check: the local result replaces the remote one and akash loses trust', () => {
    const d = decide(job().count(1).obj(), records([0, remoteDone(pendingCheck())]), pods(pod(0, 2, 'Succeeded', { message: resultMessage(OTHER) })), NOW);
    const o = d.recordOutcomes[0]!;
    expect(o.status.verification).toMatchObject({ state: 'Failed', provider: 'akash', attempt: 2 });
    expect(o.status.placement).toBe('Local');
    expect(o.status.phase).toBe('Succeeded');
    expect(o.status.podName).toBe('job-0-2');
    expect(o.status.attempts).toBe(2);
    expect(o.status.result).toEqual({ outputs: [{ uri: 'local://x', sha256: OTHER }] });
    expect(o.status.lastFailure!.reason).toBe('VerificationFailed');
    expect(o.event).toMatchObject({ type: 'Warning', reason: 'VerificationFailed' });
    expect([...d.untrusted]).toEqual(['akash']);
    expect(d.verification).toMatchObject({ failed: 1, pending: 0 });
    expect(d.verification.failedMessage).toContain('akash');
    expect(d.counts).toMatchObject({ succeeded: 1, local: 1, remote: 0 });
    expect(d.outcome).toBe('Succeeded'); // nothing else of akash's to discard: the local result completes the job
  });

  test('a re-run that reports no outputs cannot check: Skipped, the provider is not blamed', () => {
    const d = decide(job().count(1).obj(), records([0, remoteDone(pendingCheck())]), pods(pod(0, 2, 'Succeeded', { message: 'done' })), NOW);
    const o = d.recordOutcomes[0]!;
    expect(o.status.verification!.state).toBe('Skipped');
    expect(o.status.placement).toBe('Remote');
    expect(o.event!.reason).toBe('SpotCheckSkipped');
    expect(d.untrusted.size).toBe(0);
  });

  test('a failed check pod is retried until the checks exceed maxRetries, then the check is Skipped', () => {
    const j = job().count(1).maxRetries(1).obj();
    // first re-run fails: recorded, still Pending, no new pod in the same pass
    const d1 = decide(j, records([0, remoteDone(pendingCheck())]), pods(pod(0, 2, 'Failed', { exitCode: 3 })), NOW);
    const st1 = d1.recordOutcomes[0]!.status;
    expect(st1.verification).toMatchObject({ state: 'Pending', attempt: 2 });
    expect(st1.phase).toBe('Succeeded');
    expect(st1.placement).toBe('Remote');
    expect(d1.recordOutcomes[0]!.event).toBeUndefined();
    expect(d1.createPods).toEqual([]);
    expect(d1.verification.pending).toBe(1);
    expect(d1.counts.running).toBe(1);
    expect(d1.outcome).not.toBe('Succeeded');
    expect(d1.requeueAfterMs).toBeGreaterThan(0);
    // recorded: the next pass starts re-run 3
    const d2 = decide(j, records([0, st1]), pods(pod(0, 2, 'Failed')), NOW + 60_000);
    expect(d2.recordOutcomes).toEqual([]);
    expect(d2.createPods.map((p) => p.name)).toEqual(['job-0-3']);
    // it fails too: 2 checks > maxRetries=1, Skipped
    const d3 = decide(j, records([0, st1]), pods(pod(0, 2, 'Failed'), pod(0, 3, 'Failed', { exitCode: 3 })), NOW + 120_000);
    const o3 = d3.recordOutcomes[0]!;
    expect(o3.status.verification).toMatchObject({ state: 'Skipped', attempt: 3, provider: 'akash' });
    expect(o3.event).toMatchObject({ type: 'Warning', reason: 'SpotCheckSkipped' });
    expect(o3.status.placement).toBe('Remote');
    expect(d3.untrusted.size).toBe(0);
    expect(d3.verification).toMatchObject({ skipped: 1, pending: 0 });
    expect(d3.outcome).toBe('Succeeded');
  });

  test('an untrusted provider\'s unverified results are discarded and its live attempts cancelled; verified ones stand', () => {
    const failedHere: ShardRecordStatus = {
      placement: 'Local', phase: 'Succeeded', attempts: 2, podName: 'job-0-2', result: { outputs: [{ uri: 'local://x', sha256: OTHER }] },
      verification: { state: 'Failed', provider: 'akash', attempt: 2, message: 'differs' }, lastFailure: { reason: 'VerificationFailed', message: 'differs' },
    };
    const recs = records(
      [0, failedHere],
      [1, remoteDone({ state: 'Skipped', spotCheck: false, provider: 'akash' })],
      [2, { placement: 'Remote', provider: 'akash', phase: 'Running', attempts: 1, idempotencyKey: 'u1-2-1', remoteId: 'r-2' }],
      [3, remoteDone({ state: 'Verified', spotCheck: true, provider: 'akash', attempt: 2 })],
      [4, remoteDone({ state: 'Skipped', spotCheck: false, provider: 'render' }, 'render')],
      [5, remoteDone(pendingCheck())],
    );
    const d = decide(job().count(6).obj(), recs, new Map(), NOW);
    expect([...d.untrusted]).toEqual(['akash']);
    expect(d.recordOutcomes.map((o) => o.index)).toEqual([1, 5]);
    for (const o of d.recordOutcomes) {
      expect(o.status.phase).toBe('Pending');
      expect(o.status.result).toBeUndefined();
      expect(o.status.idempotencyKey).toBeUndefined();
      expect(o.status.lastFailure!.reason).toBe('VerificationFailed');
      expect(o.status.verification!.state).toBe('Failed');
      expect(o.event).toMatchObject({ type: 'Warning', reason: 'ResultDiscarded' });
    }
    expect(d.cancelRemote.map((r) => r.index)).toEqual([2]);
    expect(d.createPods).toEqual([]); // the discarded shards start again once recorded
    expect(d.counts).toMatchObject({ succeeded: 3, pending: 2, running: 1 });
    expect(d.verification.pending).toBe(0);
    expect(d.outcome).toBe('Running');
    expect(d.requeueAfterMs).toBe(1);
  });

  test('the planner is told to avoid untrusted providers', () => {
    const recs = records(
      [0, { placement: 'Local', phase: 'Succeeded', attempts: 2, verification: { state: 'Failed', provider: 'akash' } }],
      [1, remoteDone({ state: 'Skipped', provider: 'akash' })],
      [2, {}],
    );
    let seen: PlaceInfo | undefined;
    let cands: number[] = [];
    decide(job().count(3).obj(), recs, new Map(), NOW, undefined, (c, _room, info) => { seen = info; cands = c.map((x) => x.index); return localOnly(); });
    expect(seen).toBeDefined();
    expect([...seen!.excludeProviders]).toEqual(['akash']);
    expect(cands).toEqual([2]);
  });

  test('a check that fails in this pass excludes the provider from this pass\'s placements', () => {
    let seen: PlaceInfo | undefined;
    decide(job().count(2).obj(), records([0, remoteDone(pendingCheck())], [1, {}]), pods(pod(0, 2, 'Succeeded', { message: resultMessage(OTHER) })), NOW, undefined, (_c, _room, info) => { seen = info; return localOnly(); });
    expect(seen!.excludeProviders.has('akash')).toBe(true);
  });

  test('a check that fails in this pass does not let the job complete on another unchecked result of the provider', () => {
    // shard 0 (akash, not chosen) is counted before shard 1's check fails: the job must not complete on it
    const recs = records([0, remoteDone({ state: 'Skipped', spotCheck: false, provider: 'akash' })], [1, remoteDone(pendingCheck())]);
    const d = decide(job().count(2).obj(), recs, pods(pod(1, 2, 'Succeeded', { message: resultMessage(OTHER) })), NOW);
    expect(d.untrusted.has('akash')).toBe(true);
    expect(d.outcome).not.toBe('Succeeded');
    expect(d.requeueAfterMs).toBe(1);
    // the next pass, with the failure recorded, discards shard 0
    const next = records([0, recs.get(0)!.status], [1, d.recordOutcomes[0]!.status]);
    const d2 = decide(job().count(2).obj(), next, pods(pod(1, 2, 'Succeeded')), NOW);
    expect(d2.recordOutcomes.map((o) => [o.index, o.event?.reason])).toEqual([[0, 'ResultDiscarded']]);
    expect(d2.outcome).not.toBe('Succeeded');
  });

  test('a job waits for its pending spot checks before it completes', () => {
    const recs = records([0, { phase: 'Succeeded', attempts: 1 }], [1, remoteDone(pendingCheck())]);
    const d = decide(job().count(2).obj(), recs, pods(pod(1, 2, 'Pending')), NOW);
    expect(d.outcome).toBe('Running');
    expect(d.counts).toMatchObject({ succeeded: 1, running: 1 });
  });
});

test('a finished local pod records its node\'s GPU model; finished shards reach the planner per model', () => {
  const opts = { retryBaseMs: 1000, retryMaxMs: 8000, localPricePerGpuHourMicros: 0n, maxStartsPerReconcile: 100, nodeModel: (n: string) => (n === 'gpu-a' ? 'nvidia-h100' : undefined) };
  const d = decide(job().count(2).obj(), allRecords(2), pods(pod(0, 1, 'Succeeded', { nodeName: 'gpu-a' }), pod(1, 1, 'Succeeded', { nodeName: 'cpu-b' })), NOW, opts);
  const byIndex = new Map(d.recordOutcomes.map((o) => [o.index, o.status]));
  expect(byIndex.get(0)!.gpuModel).toBe('nvidia-h100');
  expect(byIndex.get(1)!.gpuModel).toBeUndefined();
  // recorded shards on two models: the planner is told each model's wall times
  let seen: PlaceInfo | undefined;
  const done = (gpuModel: string, ms: number): ShardRecordStatus => ({ phase: 'Succeeded', placement: 'Remote', provider: 'p', gpuModel, startTime: new Date(NOW - ms).toISOString(), completionTime: new Date(NOW).toISOString() });
  decide(job().count(4).obj(), records([0, done('nvidia-h100', 300_000)], [1, done('nvidia-rtx-4090', 1_800_000)], [2, done('nvidia-h100', 320_000)], [3, {}]), new Map(), NOW, opts, (_c, _r, info) => { seen = info; return new Map(); });
  expect(seen?.finishedByModel).toEqual({ 'nvidia-h100': [300_000, 320_000], 'nvidia-rtx-4090': [1_800_000] });
});

test('a provider the job status names untrusted stays untrusted after the shard it failed ran again elsewhere', () => {
  const j = job().count(2).obj();
  j.untrusted = ['tamper'];
  const recs = records([0, { phase: 'Succeeded', placement: 'Remote', provider: 'honest', attempts: 2, verification: { state: 'Verified', provider: 'honest' } }]);
  let seen: PlaceInfo | undefined;
  const d = decide(j, recs, new Map(), NOW, undefined, (cands, _room, info) => { seen = info; return new Map(cands.map((c) => [c.index, { kind: 'Remote' as const, provider: 'honest' }])); });
  expect([...d.untrusted]).toEqual(['tamper']);
  expect(seen?.excludeProviders.has('tamper')).toBe(true);
});

describe('the pod as the record of a local attempt (finalizer atelier.dev/outcome)', () => {
  const held = { held: true };
  test('a first attempt that succeeded without outputs folds into the job status; its pod is released only after the write', () => {
    const d = decide(job().count(2).obj(), new Map(), pods(pod(0, 1, 'Succeeded', held), pod(1, 1, 'Running', held)), NOW);
    expect(d.fold).toEqual([{ index: 0, pod: 'job-0-1', gpuMillis: 29_000n, held: true }]);
    expect(d.release).toEqual([]); // not before the fold is written (the reconciler releases it then)
    expect(d.recordOutcomes).toEqual([]);
    expect(d.createRecords).toEqual([]);
    expect(d.counts).toMatchObject({ succeeded: 1, running: 1, local: 2 });
    expect(d.gpuMillis).toBe(29_000n);
  });

  test('a folded shard is succeeded and never runs again, with or without its pod; a held pod of it is released', () => {
    const gone = decide(job().count(2).folded([0], 29_000n).obj(), new Map(), new Map(), NOW);
    expect(gone.createPods.map((p) => p.index)).toEqual([1]);
    expect(gone.counts.succeeded).toBe(1);
    expect(gone.gpuMillis).toBe(29_000n);
    const still = decide(job().count(1).folded([0], 29_000n).obj(), new Map(), pods(pod(0, 1, 'Succeeded', held)), NOW);
    expect(still.release).toEqual(['job-0-1']);
    expect(still.fold).toEqual([]);
    expect(still.gpuMillis).toBe(29_000n); // not counted twice
    expect(still.outcome).toBe('Succeeded');
  });

  test('an outcome that cannot fold goes to a RenderShard created with it, and the pod is released after that write', () => {
    const msg = JSON.stringify({ outputs: [{ uri: 's3://b/0.png', sha256: 'b'.repeat(64) }] });
    const out = decide(job().count(1).obj(), new Map(), pods(pod(0, 1, 'Succeeded', { ...held, message: msg })), NOW);
    expect(out.fold).toEqual([]);
    expect(out.recordOutcomes).toHaveLength(1);
    expect(out.recordOutcomes[0]).toMatchObject({ index: 0, recordName: 'job-0', pod: 'job-0-1', create: { index: 0 } });
    expect(out.recordOutcomes[0]!.status.result?.outputs).toHaveLength(1);
    const failed = decide(job().count(1).obj(), new Map(), pods(pod(0, 1, 'Failed', { ...held, exitCode: 3 })), NOW);
    expect(failed.recordOutcomes[0]).toMatchObject({ create: { index: 0 }, pod: 'job-0-1', status: { phase: 'Pending', attempts: 1 } });
    expect(failed.createPods).toEqual([]); // backoff
    const peer = decide(job().count(1).keepsRecords().obj(), new Map(), pods(pod(0, 1, 'Succeeded', held)), NOW);
    expect(peer.fold).toEqual([]);
    expect(peer.recordOutcomes[0]).toMatchObject({ create: { index: 0 }, status: { phase: 'Succeeded' } });
  });

  test('held pods whose outcome the record keeps are released; a live one never is', () => {
    const d = decide(job().count(1).obj(), records([0, { phase: 'Pending', attempts: 1, retryAfter: new Date(NOW + 5000).toISOString() }]),
      pods(pod(0, 1, 'Failed', held), pod(0, 2, 'Running', held)), NOW);
    expect(d.release).toEqual(['job-0-1']);
    expect(d.recordOutcomes).toEqual([]);
  });

  test('a pod deleted before it was bound never ran: released, no outcome, the shard starts again under a new name', () => {
    const d = decide(job().count(1).obj(), new Map(), pods(pod(0, 1, 'Pending', { ...held, terminating: true, neverRan: true })), NOW);
    expect(d.release).toEqual(['job-0-1']);
    expect(d.recordOutcomes).toEqual([]);
    expect(d.createPods.map((p) => p.name)).toEqual(['job-0-2']);
  });

  test('a deleted pod whose containers may still run is live: nothing new starts for its shard', () => {
    const d = decide(job().count(1).obj(), new Map(), pods(pod(0, 1, 'Running', { ...held, terminating: true, nodeName: 'n1' })), NOW);
    expect(d.createPods).toEqual([]);
    expect(d.release).toEqual([]);
  });

  test('pods killed because the job stops (suspend, delete, deadline) are released, not recorded as failures', () => {
    const killed = pod(0, 1, 'Failed', { ...held, terminating: true, nodeName: 'n1', exitCode: 137 });
    const suspended = decide(job().count(2).suspend().obj(), new Map(), pods(killed, pod(1, 1, 'Running', held)), NOW);
    expect(suspended.recordOutcomes).toEqual([]);
    expect(suspended.release).toEqual(['job-0-1']);
    expect(suspended.deletePods).toEqual(['job-1-1']);
    // in a running job, the same kill (a user, an eviction) is a failed attempt of its shard
    const running = decide(job().count(1).obj(), new Map(), pods(killed), NOW);
    expect(running.recordOutcomes[0]).toMatchObject({ pod: 'job-0-1', create: { index: 0 }, status: { phase: 'Pending', attempts: 1 } });
  });

  test('a job being deleted releases every stopped pod and deletes the running ones', () => {
    const d = decide(job().count(3).deleting().obj(), new Map(), pods(pod(0, 1, 'Succeeded', held), pod(1, 1, 'Failed', held), pod(2, 1, 'Running', held)), NOW);
    expect(d.release.sort()).toEqual(['job-0-1', 'job-1-1']);
    expect(d.deletePods).toEqual(['job-2-1']);
  });
});
