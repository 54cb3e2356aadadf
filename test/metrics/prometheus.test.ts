// Metrics as a platform team sees them: a real Prometheus (Debian's package) scrapes the operator
// during a job, and PromQL queries return what happened — jobs by phase, shards by state and
// placement, API writes, GPU-seconds, leadership. Prometheus's own promtool then checks the contract:
// `promtool check metrics` lints the operator's /metrics exposition, and every query of the Grafana
// dashboard (charts/atelier/dashboards/atelier.json) names only metrics the operator exposes, passes
// `promtool check rules` (as recording rules, offline) and runs with `promtool query instant` against
// the data this Prometheus recorded of the job, the panels a local job feeds returning series.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { installCrds } from '../support/crds.js';
import { startOperator, type OperatorProcess } from '../support/operator.js';
import { clients, freshNamespace, testbed, waitFor, type Clients } from '../support/testbed.js';
import { createJob, getJob, renderJob } from '../operator/helpers.js';
import { repoRoot } from '../support/testbed.js';
import { run } from '../install/tools.js';

let c: Clients;
let op: OperatorProcess;
let prom: ChildProcess | undefined;
let promUrl: string;
let dir: string;
let metricsUrl: string;

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
  metricsUrl = await op.metricsUrl();
  const target = new URL(metricsUrl).host;
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
  // each shard's success folds into the job's status (no RenderShard), then its pod is released
  await waitFor('Prometheus saw the 6 pods released', async () => (await query('atelier_api_writes_total{kind="podRelease"}')) === 6, 30_000, 500);
  expect((await query('atelier_api_writes_total{kind="shardCreate"}')) ?? 0).toBe(0);
  expect(await query('atelier_leader')).toBe(1);
  const gpuSeconds = (await query('atelier_gpu_seconds_total{placement="local"}'))!;
  // 6 shards of ~2 s on 1 GPU each (KWOK's timestamps have 1 s resolution)
  expect(gpuSeconds).toBeGreaterThanOrEqual(6);
  expect(gpuSeconds).toBeLessThanOrEqual(24);
  expect(await query('sum(atelier_shard_queue_wait_seconds_count{placement="local"})')).toBe(6);
  expect(await query('sum(atelier_controller_reconcile_total{name="renderjob"})')).toBeGreaterThan(0);
});

/** Every query of the dashboard, with its panel title, Grafana's variables replaced by PromQL values. */
function dashboardQueries(): { title: string; expr: string }[] {
  const dash = JSON.parse(readFileSync(path.join(repoRoot, 'charts/atelier/dashboards/atelier.json'), 'utf8')) as { panels: Panel[] };
  interface Panel { title?: string; panels?: Panel[]; targets?: { expr?: string }[] }
  const out: { title: string; expr: string }[] = [];
  const walk = (ps: Panel[]) => {
    for (const p of ps) {
      if (p.panels) walk(p.panels);
      for (const t of p.targets ?? []) {
        if (!t.expr) continue;
        // $namespace is the ServiceMonitor's target label (absent here: ".*" matches its absence).
        const expr = t.expr.replaceAll('$namespace', '.*').replaceAll('$__rate_interval', '1m').replaceAll('$__range', '10m');
        out.push({ title: p.title ?? '', expr });
      }
    }
  };
  walk(dash.panels);
  return out;
}

// The panels a local-only job feeds; the burst, spend and settlement panels have no series here.
const FED_BY_A_LOCAL_JOB = ['Leader', 'Running jobs', 'Succeeded shards', 'Reconciles / s', 'API writes / s', 'RenderJobs by phase',
  'Shards by state', 'Reconcile latency', 'Queue depth', 'Queue latency', 'Shard wait before start', 'GPU-hours / h'];

// prom-client's default metrics (collectDefaultMetrics in operator/src/metrics/metrics.ts) include
// three gauges whose upstream names end in _total, which promtool flags; they are exposed as prom-client
// names them. Any other finding fails this test.
const PROM_CLIENT_DEFAULT_GAUGES_NAMED_TOTAL = ['active_handles_total', 'active_requests_total', 'active_resources_total']
  .map((n) => `atelier_nodejs_${n} non-counter metrics should not have "_total" suffix`);

test('promtool check metrics finds nothing in /metrics beyond prom-client\'s own default gauge names', async () => {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  expect(text).toContain('# TYPE atelier_renderjobs gauge');
  const r = await run('promtool', ['check', 'metrics'], text);
  const problems = (r.stdout + r.stderr).split('\n').map((l) => l.trim()).filter(Boolean);
  expect(problems.filter((p) => !PROM_CLIENT_DEFAULT_GAUGES_NAMED_TOTAL.includes(p))).toEqual([]);
  // promtool exits 3 for lint findings only (1 would be a parse error of the exposition).
  expect(r.code).toBe(problems.length === 0 ? 0 : 3);
});

test('every dashboard query names exposed metrics, passes promtool check rules and runs on the recorded data', async () => {
  const queries = dashboardQueries();
  expect(queries.length).toBeGreaterThan(20);
  const exposition = await (await fetch(`${metricsUrl}/metrics`)).text();
  const exposed = new Set([...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) =>
    type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name!]));
  for (const q of queries) {
    for (const [name] of q.expr.matchAll(/\batelier_[a-z0-9_]+/g)) expect({ panel: q.title, metric: name, exposed: exposed.has(name) }).toEqual({ panel: q.title, metric: name, exposed: true });
  }

  const rules = path.join(dir, 'dashboard-rules.yml');
  writeFileSync(rules, `groups:\n- name: dashboard\n  rules:\n${queries.map((q, i) => `  - record: dashboard:query_${i}\n    expr: ${JSON.stringify(q.expr)}\n`).join('')}`);
  const check = await run('promtool', ['check', 'rules', rules]);
  expect({ code: check.code, out: check.stdout + check.stderr }).toEqual({ code: 0, out: expect.stringContaining(`SUCCESS: ${queries.length} rules found`) });

  const returned = new Map<string, boolean>();
  for (const q of queries) {
    const r = await run('promtool', ['query', 'instant', '-o', 'json', promUrl, q.expr]);
    expect({ panel: q.title, expr: q.expr, code: r.code, stderr: r.stderr }).toEqual({ panel: q.title, expr: q.expr, code: 0, stderr: '' });
    const series = JSON.parse(r.stdout) as unknown[];
    returned.set(q.title, (returned.get(q.title) ?? false) || series.length > 0);
  }
  for (const title of FED_BY_A_LOCAL_JOB) expect({ panel: title, hasSeries: returned.get(title) }).toEqual({ panel: title, hasSeries: true });
});
