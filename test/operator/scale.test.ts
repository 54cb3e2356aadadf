// Scale: one RenderJob of 10,000 shards on a 100-node × 8-GPU cluster of its own. Every shard runs
// exactly once, the job's own object stays small (aggregates only), and the operator's API writes per
// shard stay within budget. Figures are printed for the issue note; no timing is asserted.
import { startOperator, type OperatorProcess } from '../support/operator.js';
import { installCrds } from '../support/crds.js';
import { clients, freshNamespace, startCluster, stopCluster, testbed, waitFor, type Clients } from '../support/testbed.js';
import { createJob, getJob, renderJob } from './helpers.js';

const SHARDS = Number(process.env.ATELIER_SCALE_SHARDS ?? 10_000);
let c: Clients;
let kubeconfig: string;
let op: OperatorProcess | undefined;
const cluster = `${testbed().name}-scale`;

beforeAll(async () => {
  kubeconfig = await startCluster(cluster, '100:8:nvidia-h100');
  c = clients(kubeconfig);
  await installCrds(kubeconfig);
}, 180_000);

afterAll(async () => {
  await op?.kill('SIGTERM');
  await stopCluster(cluster);
});

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${await op!.metricsUrl()}/metrics`)).text();
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'gm'))].reduce((a, m) => a + Number(m[1]), 0);
}

test(`a ${SHARDS}-shard job completes with every shard run exactly once`, async () => {
  const ns = await freshNamespace(c, 'scale');
  op = startOperator(kubeconfig, ['--namespace', ns, '--leader-elect', 'false', '--workers', '4']);
  await op.waitForLog('caches synced, starting controllers');
  const t0 = Date.now();
  await createJob(c, ns, renderJob('big', { count: SHARDS, annotations: { 'testbed.atelier.dev/duration': '1s' } }));
  let lastLog = 0;
  await waitFor('big Succeeded', async () => {
    const j = await getJob(c, ns, 'big');
    if (Date.now() - lastLog > 30_000) { lastLog = Date.now(); console.log(`scale: ${j.status?.progress ?? '-'} after ${Math.round((Date.now() - t0) / 1000)}s`); }
    if (j.status?.phase === 'Failed') throw new Error(JSON.stringify(j.status.conditions));
    return j.status?.phase === 'Succeeded' ? j : undefined;
  }, 1_500_000, 2000);
  const elapsed = (Date.now() - t0) / 1000;
  const job = await getJob(c, ns, 'big');
  expect(job.status!.progress).toBe(`${SHARDS}/${SHARDS}`);
  expect(job.status!.shards).toMatchObject({ total: SHARDS, succeeded: SHARDS, failed: 0, local: SHARDS });
  // aggregates only: far from etcd's 1.5 MiB object limit
  const size = JSON.stringify(job).length;
  expect(size).toBeLessThan(16 * 1024);

  const pods = (await c.core.listNamespacedPod({ namespace: ns, labelSelector: 'atelier.dev/job=big' })).items;
  expect(pods).toHaveLength(SHARDS);
  expect(pods.every((p) => p.metadata!.name!.endsWith('-1') && p.status!.phase === 'Succeeded')).toBe(true);
  const writes = await metric('atelier_api_writes_total');
  const rss = await metric('atelier_process_resident_memory_bytes');
  const cpu = await metric('atelier_process_cpu_seconds_total');
  console.log(`scale: ${SHARDS} shards done in ${elapsed.toFixed(0)}s; job object ${size} bytes; ${(writes / SHARDS).toFixed(2)} API writes per shard; operator RSS ${(rss / 2 ** 20).toFixed(0)} MiB, CPU ${cpu.toFixed(1)} s`);
  expect(writes / SHARDS).toBeLessThanOrEqual(4);
}, 1_800_000);
