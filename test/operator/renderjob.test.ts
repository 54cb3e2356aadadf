// The RenderJob controller against the real test-bed: the operator runs as a child process (the
// built CLI) and every assertion reads the cluster's state — pods, RenderShards, job status,
// events — never the operator's internals.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { installCrds } from '../support/crds.js';
import { startOperator, type OperatorProcess } from '../support/operator.js';
import { clients, freshNamespace, repoRoot, testbed, waitFor, type Clients } from '../support/testbed.js';
import { cond, createJob, getJob, jobEvents, listPods, listShardRows, listShards, maxOverlap, renderJob, runIntervals } from './helpers.js';
import { runCli } from '../cli/helpers.js';

let c: Clients;
let op: OperatorProcess;
let ns: string;

beforeAll(async () => {
  c = clients();
  await installCrds();
  ns = await freshNamespace(c, 'rj');
  op = startOperator(testbed().kubeconfig, ['--namespace', `${ns},studio`, '--lease-name', 'atelier-rj-suite', '--local-gpu-hour-price', '1.80']);
  await op.waitForLog('became leader');
});

afterAll(async () => {
  await op?.kill('SIGTERM');
});

const finished = (name: string, phase = 'Succeeded', timeoutMs = 120000, namespace = ns) =>
  waitFor(`${name} ${phase}`, async () => {
    const j = await getJob(c, namespace, name);
    if (j.status?.phase === 'Failed' && phase !== 'Failed') throw new Error(`job failed: ${JSON.stringify(j.status.conditions)}`);
    return j.status?.phase === phase ? j : undefined;
  }, timeoutMs, 500);

test('kubectl apply of the 20-shard example: at most 8 shard pods at once, all succeed, status and events tell it', async () => {
  const kubectl = path.join(process.env.ATELIER_CACHE ?? path.join(process.env.HOME!, '.cache/atelier'), 'bin/current/kubectl');
  execFileSync(kubectl, ['--kubeconfig', testbed().kubeconfig, 'create', 'namespace', 'studio']);
  await waitFor('studio default SA', async () => { await c.core.readNamespacedServiceAccount({ name: 'default', namespace: 'studio' }); return true; });
  execFileSync(kubectl, ['--kubeconfig', testbed().kubeconfig, 'apply', '-f', path.join(repoRoot, 'examples/renderjob-count.yaml')]);
  const job = await finished('lighting-sweep', 'Succeeded', 180000, 'studio');
  const s = job.status!;
  expect(s.progress).toBe('20/20');
  expect(s.shards).toMatchObject({ total: 20, succeeded: 20, failed: 0, running: 0, pending: 0, local: 20, remote: 0 });
  expect(s.observedGeneration).toBe(job.metadata.generation);
  expect(cond(s, 'Complete')).toMatchObject({ status: 'True', reason: 'AllShardsSucceeded' });
  expect(cond(s, 'Failed')!.status).toBe('False');
  expect(cond(s, 'Accepted')!.status).toBe('True');
  expect(s.startTime).toBeDefined();
  expect(s.completionTime).toBeDefined();
  // 20 shards of ~1 s on 1 GPU each at 1.80 USD/GPU-hour: about 20 GPU-seconds, a cent
  expect(Number(s.cost!.local)).toBeGreaterThan(0);
  expect(Number(s.cost!.local)).toBeLessThan(0.05);

  const pods = await listPods(c, 'studio', 'lighting-sweep');
  expect(pods).toHaveLength(20); // one attempt per shard, nothing duplicated
  expect(new Set(pods.map((p) => p.metadata!.labels!['atelier.dev/shard'])).size).toBe(20);
  for (const p of pods) {
    expect(p.status!.phase).toBe('Succeeded');
    expect(p.spec!.restartPolicy).toBe('Never');
    expect(p.spec!.containers[0]!.resources!.limits!['nvidia.com/gpu']).toBe('1');
    expect(p.metadata!.ownerReferences![0]).toMatchObject({ kind: 'RenderJob', name: 'lighting-sweep', controller: true });
    const terms = p.spec!.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms;
    expect(terms[0]!.matchExpressions![0]).toMatchObject({ key: 'nvidia.com/gpu.product', operator: 'In', values: ['nvidia-h100', 'nvidia-rtx-4090'] });
    const env = Object.fromEntries(p.spec!.containers[0]!.env!.map((e) => [e.name, e.value]));
    expect(env.PROMPT).toBe('a glass atrium at dusk');
    expect(env.ATELIER_SHARD_INDEX).toBe(p.metadata!.labels!['atelier.dev/shard']);
    expect(env.ATELIER_SHARD_COUNT).toBe('20');
    expect(env.ATELIER_OUTPUT_URI).toBe('s3://renders/lighting-sweep/');
  }
  const iv = runIntervals(pods);
  expect(iv).toHaveLength(20);
  expect(maxOverlap(iv)).toBeLessThanOrEqual(8);
  expect(maxOverlap(iv)).toBeGreaterThanOrEqual(2); // they did run in parallel

  // Every shard as the user lists it: succeeded locally on its first attempt, on the node its pod ran on.
  const rows = await listShardRows(c, 'studio', 'lighting-sweep');
  expect(rows).toHaveLength(20);
  const nodeOf = new Map(pods.map((p) => [Number(p.metadata!.labels!['atelier.dev/shard']), p.spec!.nodeName]));
  for (const r of rows) expect(r).toMatchObject({ state: 'Succeeded', placement: 'Local', attempts: 1, where: nodeOf.get(r.index) });
  // They are kept in the job's status, so no RenderShard was needed, and no pod holds a finalizer.
  expect(await listShards(c, 'studio', 'lighting-sweep')).toEqual([]);
  expect((await getJob(c, 'studio', 'lighting-sweep')).status!.shardSets).toEqual({ succeeded: '0-19', localGpuSeconds: expect.any(Number) });
  await waitFor('pods released', async () => (await listPods(c, 'studio', 'lighting-sweep')).every((p) => !(p.metadata!.finalizers ?? []).length), 15_000);

  const reasons = (await jobEvents(c, 'studio', 'lighting-sweep')).map((e) => e.reason);
  expect(reasons).toEqual(expect.arrayContaining(['Started', 'Completed']));
});

test('a frames job 1-100 by 7 gives 15 shards with the right ranges in their env', async () => {
  await createJob(c, ns, renderJob('frames', { frames: { start: 1, end: 100, perShard: 7 } }));
  await finished('frames');
  const rows = await listShardRows(c, ns, 'frames');
  expect(rows).toHaveLength(15);
  expect(rows.every((r) => r.state === 'Succeeded')).toBe(true);
  const framePods = await listPods(c, ns, 'frames');
  const byIndex = new Map(framePods.map((p) => {
    const env = Object.fromEntries(p.spec!.containers[0]!.env!.map((e) => [e.name, e.value]));
    return [Number(env.ATELIER_SHARD_INDEX), { start: Number(env.ATELIER_FRAME_START), end: Number(env.ATELIER_FRAME_END) }];
  }));
  expect(byIndex.size).toBe(15);
  expect(byIndex.get(0)).toEqual({ start: 1, end: 7 });
  expect(byIndex.get(13)).toEqual({ start: 92, end: 98 });
  expect(byIndex.get(14)).toEqual({ start: 99, end: 100 });
  for (const p of framePods) {
    const env = Object.fromEntries(p.spec!.containers[0]!.env!.map((e) => [e.name, e.value]));
    const i = Number(env.ATELIER_SHARD_INDEX);
    expect(env.ATELIER_FRAME_START).toBe(String(1 + 7 * i));
    expect(env.ATELIER_FRAME_END).toBe(String(Math.min(100, 7 * i + 7)));
    expect(env.ATELIER_SHARD_COUNT).toBe('15');
  }
});

test('a shard failing twice then succeeding is retried with new attempts', async () => {
  const digest = 'c'.repeat(64);
  await createJob(c, ns, renderJob('flaky', {
    count: 1, maxRetries: 3,
    annotations: { 'testbed.atelier.dev/fail-attempts': '2', 'testbed.atelier.dev/message': JSON.stringify({ outputs: [{ uri: 's3://renders/flaky/0.png', sha256: digest }] }) },
  }));
  const job = await finished('flaky');
  expect(job.status!.shards!.succeeded).toBe(1);
  const pods = await listPods(c, ns, 'flaky');
  expect(pods.map((p) => [p.metadata!.name, p.status!.phase]).sort()).toEqual([['flaky-0-1', 'Failed'], ['flaky-0-2', 'Failed'], ['flaky-0-3', 'Succeeded']]);
  const iv = runIntervals(pods).sort((a, b) => a.start - b.start);
  expect(maxOverlap(iv)).toBe(1);
  // the retry waits out its backoff (1 s, then 2 s with --retry-base 1; timestamps have 1 s resolution)
  expect(iv[1]!.start - iv[0]!.end).toBeGreaterThanOrEqual(1000);
  expect(iv[2]!.start - iv[1]!.end).toBeGreaterThanOrEqual(1000);
  const [shard] = await listShards(c, ns, 'flaky');
  expect(shard!.status).toMatchObject({ phase: 'Succeeded', attempts: 3, result: { outputs: [{ uri: 's3://renders/flaky/0.png', sha256: digest }] } });
  const reasons = (await jobEvents(c, ns, 'flaky-0')).map((e) => e.reason);
  expect(reasons).toContain('ShardRetrying');
});

test('`atelier status --shards` lists every shard in one command: state, placement, node, attempts and last failure', async () => {
  // The 'flaky' job above: one shard, two failed attempts, the third succeeded. The oracle is its pods.
  const pods = await listPods(c, ns, 'flaky');
  const last = pods.find((p) => p.metadata!.name === 'flaky-0-3')!;
  const run = await runCli(['status', 'rj/flaky', '-n', ns, '--kubeconfig', testbed().kubeconfig, '--shards']);
  expect(run.code).toBe(0);
  const table = run.stdout.slice(run.stdout.indexOf('SHARD')).trim().split('\n');
  expect(table).toHaveLength(2); // the header and the job's one shard
  const cells = table[1]!.split(/\s{2,}/);
  expect(cells.slice(0, 5)).toEqual(['0', 'Succeeded', 'Local', last.spec!.nodeName!, String(pods.length)]);
  expect(cells[5]).toMatch(/attempt 2 exited/);
});

test('a shard failing beyond maxRetries fails the job with a clear condition', async () => {
  await createJob(c, ns, renderJob('doomed', { count: 2, maxRetries: 1, annotations: { 'testbed.atelier.dev/fail-attempts': '99' } }));
  const job = await finished('doomed', 'Failed');
  const failed = cond(job.status, 'Failed')!;
  expect(failed).toMatchObject({ status: 'True', reason: 'ShardFailed' });
  expect(failed.message).toMatch(/failed beyond maxRetries=1/);
  expect(cond(job.status, 'Complete')!.status).toBe('False');
  // two attempts per shard (1 + maxRetries), never more
  const pods = await listPods(c, ns, 'doomed');
  expect(pods.length).toBeLessThanOrEqual(4);
  expect(pods.every((p) => Number(p.metadata!.labels!['atelier.dev/attempt']) <= 2)).toBe(true);
  const reasons = (await jobEvents(c, ns, 'doomed')).map((e) => e.reason);
  expect(reasons).toContain('ShardFailed');
});

test('suspend removes running pods and keeps counts; resume finishes the job', async () => {
  await createJob(c, ns, renderJob('pausable', { count: 6, parallelism: 2, annotations: { 'testbed.atelier.dev/duration': '3s' } }));
  // The pods, not the job's counts: progress in status is written at most every 30 s.
  await waitFor('2 running', async () => (await listPods(c, ns, 'pausable')).filter((p) => p.status?.phase === 'Running').length === 2);
  await c.custom.patchNamespacedCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'renderjobs', namespace: ns, name: 'pausable', body: [{ op: 'replace', path: '/spec/suspend', value: true }] });
  const suspended = await finished('pausable', 'Suspended');
  await waitFor('no live pods', async () => (await listPods(c, ns, 'pausable')).every((p) => ['Succeeded', 'Failed'].includes(p.status!.phase!)));
  expect(cond(suspended.status, 'Suspended')!.status).toBe('True');
  await c.custom.patchNamespacedCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'renderjobs', namespace: ns, name: 'pausable', body: [{ op: 'replace', path: '/spec/suspend', value: false }] });
  const done = await finished('pausable');
  expect(done.status!.progress).toBe('6/6');
  const reasons = (await jobEvents(c, ns, 'pausable')).map((e) => e.reason);
  expect(reasons).toEqual(expect.arrayContaining(['Suspended', 'Resumed', 'Completed']));
});

test('a passed deadline fails the job with DeadlineExceeded', async () => {
  const deadline = new Date(Date.now() + 4000).toISOString().replace(/\.\d+Z$/, 'Z');
  await createJob(c, ns, renderJob('late', { count: 3, parallelism: 1, deadline, annotations: { 'testbed.atelier.dev/duration': '30s' } }));
  const job = await finished('late', 'Failed', 60000);
  expect(cond(job.status, 'Failed')!.reason).toBe('DeadlineExceeded');
  await waitFor('pods stopped', async () => (await listPods(c, ns, 'late')).length === 0);
});

test('deleting a running job leaves no pods and no RenderShards behind', async () => {
  await createJob(c, ns, renderJob('doomed-delete', { count: 6, annotations: { 'testbed.atelier.dev/duration': '120s' } }));
  await waitFor('pods running', async () => (await getJob(c, ns, 'doomed-delete')).status?.shards?.running === 6);
  const j = await getJob(c, ns, 'doomed-delete');
  expect(j.metadata.finalizers).toContain('atelier.dev/cleanup');
  await c.custom.deleteNamespacedCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'renderjobs', namespace: ns, name: 'doomed-delete' });
  await waitFor('job gone', async () => {
    try { await getJob(c, ns, 'doomed-delete'); return false; } catch { return true; }
  }, 60000);
  // the finalizer waited for the pods, so they are gone the moment the job is
  expect(await listPods(c, ns, 'doomed-delete')).toHaveLength(0);
  await waitFor('shards gone', async () => (await listShards(c, ns, 'doomed-delete')).length === 0, 30000);
});

test('API writes per local shard stay small', async () => {
  const writes = async () => {
    const text = await (await fetch(`${await op.metricsUrl()}/metrics`)).text();
    return Object.fromEntries([...text.matchAll(/^atelier_api_writes_total\{kind="([^"]+)"\} (\d+)/gm)].map((m) => [m[1]!, Number(m[2])]));
  };
  const before = await writes();
  await createJob(c, ns, renderJob('counted', { count: 40, models: ['nvidia-h100'], annotations: { 'testbed.atelier.dev/duration': '1s' } }));
  await finished('counted');
  await new Promise((r) => setTimeout(r, 1500)); // a coalesced status write may still be due
  const after = await writes();
  const delta = Object.fromEntries(Object.keys(after).map((k) => [k, after[k]! - (before[k] ?? 0)]));
  const total = Object.values(delta).reduce((a, n) => a + n, 0);
  console.log(`API writes for a 40-shard job: ${JSON.stringify(delta)}; ${(total / 40).toFixed(2)} per shard`);
  // per shard: its pod's create and the removal of its finalizer once its success is in the job's
  // status, and no RenderShard (create, status) at all; plus a share of the job's status writes
  expect(delta.podCreate).toBe(40);
  expect(delta.podRelease).toBe(40);
  expect(delta.shardCreate ?? 0).toBe(0);
  expect(delta.shardStatus ?? 0).toBe(0);
  expect(total / 40).toBeLessThanOrEqual(2.5);
});
