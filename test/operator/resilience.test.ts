// The operator under fire: SIGKILLed at random moments during a 200-shard job (every shard must still
// run exactly once), and two replicas with leader election (only the leader acts; when it dies the
// other takes over within the lease duration).
import { installCrds } from '../support/crds.js';
import { startOperator, type OperatorProcess } from '../support/operator.js';
import { clients, freshNamespace, testbed, waitFor, type Clients } from '../support/testbed.js';
import { createJob, getJob, listPods, listShardRows, listShards, maxOverlap, renderJob, runIntervals } from './helpers.js';

let c: Clients;
const running: OperatorProcess[] = [];

beforeAll(async () => {
  c = clients();
  await installCrds();
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((o) => o.kill('SIGKILL')));
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function reconciles(op: OperatorProcess): Promise<number> {
  const text = await (await fetch(`${await op.metricsUrl()}/metrics`)).text();
  return [...text.matchAll(/^atelier_controller_reconcile_total\{[^}]*\} (\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
}

test('killed at random moments during a 200-shard job, the operator still runs every shard exactly once', async () => {
  const ns = await freshNamespace(c, 'chaos');
  await createJob(c, ns, renderJob('chaos', { count: 200, models: ['nvidia-h100'], annotations: { 'testbed.atelier.dev/duration': '1s' } }));
  let kills = 0;
  const deadline = Date.now() + 300_000;
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (;;) {
    const op = startOperator(testbed().kubeconfig, ['--namespace', ns, '--leader-elect', 'false']);
    running.push(op);
    await sleep(300 + rand() * 2700);
    await op.kill('SIGKILL');
    running.splice(running.indexOf(op), 1);
    kills++;
    const job = await getJob(c, ns, 'chaos');
    if (job.status?.phase === 'Succeeded' || Date.now() > deadline) break;
  }
  // a last, uninterrupted run finishes whatever the kills left
  const last = startOperator(testbed().kubeconfig, ['--namespace', ns, '--leader-elect', 'false']);
  running.push(last);
  await waitFor('chaos job Succeeded', async () => (await getJob(c, ns, 'chaos')).status?.phase === 'Succeeded', 240_000, 500);
  console.log(`chaos: operator SIGKILLed ${kills} times during the 200-shard job`);
  expect(kills).toBeGreaterThanOrEqual(5);

  const job = await getJob(c, ns, 'chaos');
  expect(job.status!.progress).toBe('200/200');
  const pods = await listPods(c, ns, 'chaos');
  // exactly one pod per shard, all first attempts: nothing was ever created twice
  expect(pods).toHaveLength(200);
  expect(new Set(pods.map((p) => p.metadata!.labels!['atelier.dev/shard'])).size).toBe(200);
  expect(pods.every((p) => p.metadata!.name!.endsWith('-1') && p.status!.phase === 'Succeeded')).toBe(true);
  expect(maxOverlap(runIntervals(pods))).toBeLessThanOrEqual(8);
  // every shard as the user lists it (RenderShards, pods, the job's folded successes): succeeded on its first attempt
  const rows = await listShardRows(c, ns, 'chaos');
  expect(rows).toHaveLength(200);
  expect(rows.every((r) => r.state === 'Succeeded' && r.attempts === 1)).toBe(true);
  // none of them needed a RenderShard, and none was lost by a kill: the job's status holds all 200
  expect(await listShards(c, ns, 'chaos')).toEqual([]);
  expect(job.status!.shardSets?.succeeded).toBe('0-199');
});

test('two replicas: only the leader acts, and a killed leader is replaced within the lease duration', async () => {
  const ns = await freshNamespace(c, 'ha');
  const args = ['--namespace', ns, '--lease-name', `ha-${ns}`];
  const a = startOperator(testbed().kubeconfig, args);
  const b = startOperator(testbed().kubeconfig, args);
  running.push(a, b);
  const leader = await waitFor('a leader', async () => {
    if (a.logs.some((l) => l.message === 'became leader')) return a;
    if (b.logs.some((l) => l.message === 'became leader')) return b;
    return undefined;
  }, 30_000);
  const follower = leader === a ? b : a;
  await follower.metricsUrl();

  await createJob(c, ns, renderJob('ha', { count: 30, models: ['nvidia-h100'], annotations: { 'testbed.atelier.dev/duration': '2s' } }));
  await waitFor('ha running', async () => ((await getJob(c, ns, 'ha')).status?.shards?.succeeded ?? 0) >= 4, 60_000);
  expect(await reconciles(leader)).toBeGreaterThan(0);
  expect(await reconciles(follower)).toBe(0);
  expect(follower.logs.some((l) => l.message === 'became leader')).toBe(false);

  const killedAt = Date.now();
  await leader.kill('SIGKILL');
  await follower.waitForLog('became leader', 30_000);
  const handover = Date.now() - killedAt;
  console.log(`leader failover after SIGKILL: ${handover} ms (lease 15 s, retry 2 s)`);
  expect(handover).toBeLessThanOrEqual(15_000 + 2_000 + 1_000);

  await waitFor('ha Succeeded', async () => (await getJob(c, ns, 'ha')).status?.phase === 'Succeeded', 120_000, 500);
  expect(await reconciles(follower)).toBeGreaterThan(0);
  const pods = await listPods(c, ns, 'ha');
  expect(pods).toHaveLength(30);
  expect(pods.every((p) => p.metadata!.name!.endsWith('-1'))).toBe(true);
});

test('a replica stopped with SIGTERM releases the Lease, so the other leads at once', async () => {
  const ns = await freshNamespace(c, 'ha2');
  const args = ['--namespace', ns, '--lease-name', `ha-${ns}`];
  const a = startOperator(testbed().kubeconfig, args);
  running.push(a);
  await a.waitForLog('became leader');
  const b = startOperator(testbed().kubeconfig, args);
  running.push(b);
  await b.metricsUrl();
  const stoppedAt = Date.now();
  expect(await a.kill('SIGTERM')).toBe(0);
  await b.waitForLog('became leader', 10_000);
  const handover = Date.now() - stoppedAt;
  console.log(`leader handover after SIGTERM: ${handover} ms`);
  expect(handover).toBeLessThan(5_000);
});
