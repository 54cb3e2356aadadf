// Metrics as a platform team sees them: a real Prometheus (Debian's package) scrapes the operator
// during a job, and PromQL queries return what happened — jobs by phase, shards by state and
// placement, API writes, GPU-seconds, leadership.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { installCrds } from '../support/crds.js';
import { startOperator, type OperatorProcess } from '../support/operator.js';
import { clients, freshNamespace, testbed, waitFor, type Clients } from '../support/testbed.js';
import { createJob, getJob, renderJob } from '../operator/helpers.js';

let c: Clients;
let op: OperatorProcess;
let prom: ChildProcess | undefined;
let promUrl: string;
let dir: string;

const freePort = () => new Promise<number>((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const port = (s.address() as net.AddressInfo).port;
    s.close(() => resolve(port));
  });
});

async function query(q: string): Promise<number | undefined> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
  const body = (await res.json()) as { status: string; data: { result: { value: [number, string] }[] } };
  if (body.status !== 'success') throw new Error(`query ${q} failed`);
  const v = body.data.result[0]?.value[1];
  return v === undefined ? undefined : Number(v);
}

beforeAll(async () => {
  c = clients();
  await installCrds();
  const ns = await freshNamespace(c, 'metrics');
  op = startOperator(testbed().kubeconfig, ['--namespace', ns, '--lease-name', `metrics-${ns}`]);
  const target = new URL(await op.metricsUrl()).host;
  dir = mkdtempSync(path.join(os.tmpdir(), 'atelier-prom-'));
  writeFileSync(path.join(dir, 'prometheus.yml'), `global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n- job_name: atelier\n  static_configs: [{targets: ['${target}']}]\n`);
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  prom = spawn('prometheus', [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
  prom.on('error', (e) => { throw new Error(`cannot start prometheus (make test installs Debian's package): ${e.message}`); });
  await waitFor('prometheus ready', async () => (await fetch(`${promUrl}/-/ready`)).ok, 60_000, 500);
  await waitFor('first scrape', async () => (await query('up{job="atelier"}')) === 1, 60_000, 500);
  (globalThis as { __ns?: string }).__ns = ns;
}, 120_000);

afterAll(async () => {
  prom?.kill('SIGTERM');
  await op?.kill('SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('Prometheus sees the job, its shards, the writes, the GPU time and the leader', async () => {
  const ns = (globalThis as { __ns?: string }).__ns!;
  await createJob(c, ns, renderJob('observed', { count: 6, models: ['nvidia-h100'], annotations: { 'testbed.atelier.dev/duration': '2s' } }));
  await waitFor('observed Succeeded', async () => (await getJob(c, ns, 'observed')).status?.phase === 'Succeeded', 120_000, 500);
  // after the final status, one more scrape
  await waitFor('Prometheus saw the job finish', async () => (await query('atelier_renderjobs{phase="Succeeded"}')) === 1, 30_000, 500);
  expect(await query('atelier_renderjobs{phase="Running"}')).toBe(0);
  expect(await query('atelier_shards{state="succeeded",placement="local"}')).toBe(6);
  expect(await query('atelier_shards{state="running",placement="local"}')).toBe(0);
  expect(await query('atelier_api_writes_total{kind="podCreate"}')).toBe(6);
  expect(await query('atelier_api_writes_total{kind="shardCreate"}')).toBe(6);
  expect(await query('atelier_leader')).toBe(1);
  const gpuSeconds = (await query('atelier_gpu_seconds_total{placement="local"}'))!;
  // 6 shards of ~2 s on 1 GPU each (KWOK's timestamps have 1 s resolution)
  expect(gpuSeconds).toBeGreaterThanOrEqual(6);
  expect(gpuSeconds).toBeLessThanOrEqual(24);
  expect(await query('sum(atelier_shard_queue_wait_seconds_count{placement="local"})')).toBe(6);
  expect(await query('sum(atelier_controller_reconcile_total{name="renderjob"})')).toBeGreaterThan(0);
});
