// `make bench BENCH=burst`: the burst path under load. BURST_JOBS x BURST_SHARDS ProviderOnly shards
// (2,000 by default) go to three provider contract fakes (test/fakes: Akash, Chutes as `bittensor`,
// Render), each answering every request BURST_LATENCY_MS (100) late, one provider per job in turn,
// on a fresh test-bed cluster with the operator from the build under test. Figures: time until every
// shard has its remote id recorded (submitted), until every job reports Succeeded; provider API calls
// per remote shard by operation (the fakes' own request logs, not the operator's counters); operator
// CPU seconds per 1,000 remote shards and peak RSS (/proc); the planner's time per decision
// (atelier_planner_decision_seconds). Not here yet: the subnet peer (a second control plane).
import path from 'node:path';
import { AkashFake } from '../fakes/akash.js';
import { ChutesFake } from '../fakes/chutes.js';
import { RenderFake } from '../fakes/render.js';
import type { FakeServer } from '../fakes/server.js';
import { clusterDown, clusterUp, round } from './cluster.js';
import { GROUP, RENDERJOBS, RENDERSHARDS, VERSION } from './contenders.js';
import { connect, createNamespace, listAll, pool, type Kube } from './kube.js';
import { applyCrds } from './load.js';
import { startOperator, waitReady, type Operator } from './operator.js';
import { histogram, quantile, type Sample } from './prom.js';

export interface BurstConfig {
  name: string;
  jobs: number;
  shards: number;
  latencyMs: number;
  /** How long each remote shard runs at the fake (ms). */
  shardMs: number;
  workers: number;
  timeoutMs: number;
  outDir: string;
  operatorCli: string;
  log(msg: string): void;
}

export interface BurstResult {
  shards: number;
  latencyMs: number;
  submitMs: number;
  allRemoteIdsMs: number;
  allSucceededMs: number;
  /** Provider API calls per remote shard, by provider and by operation ("METHOD /path/:id"). */
  callsPerShard: Record<string, { shards: number; total: number; byOperation: Record<string, number> }>;
  callsPerShardAll: number;
  operatorCpuSecondsPer1000: number;
  operatorPeakRssBytes: number;
  plannerDecision: { count: number; meanMs: number | null; p50Ms: number | null; p99Ms: number | null };
}

const NS = 'burst';
const SECRETS_NS = 'atelier-system';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface ProviderSetup { name: string; type: string; url: string; secret: string; options: Record<string, string>; server: FakeServer }

async function startFakes(cfg: BurstConfig): Promise<{ providers: ProviderSetup[]; stop(): Promise<void> }> {
  const many = cfg.jobs * cfg.shards;
  const akash = new AkashFake({ provisionMs: 300, jobDurationMs: cfg.shardMs, blockMs: 500, providers: [{ address: 'akash1provider0000000000000000000000000000a', gpuModels: ['h100'], pricePerBlock: '1000', capacity: many, bidDelayMs: 300 }] });
  const chuteId = '5f3a1c2e-0000-4000-8000-00000000c0de';
  const chutes = new ChutesFake({ claimDelayMs: 300, jobDurationMs: cfg.shardMs, uploadMs: 300, chutes: [{ chute_id: chuteId, name: 'atelier-sdxl', methods: ['render'], capacity: many, dailyQuota: many * 10 }] });
  const render = new RenderFake({ assignDelayMs: 300, startMs: 300, jobDurationMs: cfg.shardMs, gpus: { 'NVIDIA H100': many } });
  await Promise.all([akash.start(), chutes.start(), render.start()]);
  for (const f of [akash, chutes, render]) f.server.inject({ kind: 'latency', ms: cfg.latencyMs });
  return {
    providers: [
      { name: 'burst-akash', type: 'akash', url: akash.url, secret: akash.opts.apiKey, options: {}, server: akash.server },
      { name: 'burst-chutes', type: 'bittensor', url: chutes.url, secret: chutes.opts.apiKey, options: { chuteId, method: 'render' }, server: chutes.server },
      { name: 'burst-render', type: 'render', url: render.url, secret: `${render.opts.publicKey}:${render.opts.secretKey}`, options: { pricePerGpuHour: render.opts.usdPerGpuHour['NVIDIA H100']! }, server: render.server },
    ],
    stop: async () => { await Promise.all([akash.stop(), chutes.stop(), render.stop()]); },
  };
}

async function createProviders(kube: Kube, providers: ProviderSetup[], maxConcurrent: number): Promise<void> {
  await createNamespace(kube, SECRETS_NS);
  for (const p of providers) {
    await kube.request('POST', `/api/v1/namespaces/${SECRETS_NS}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: p.name }, stringData: { credential: p.secret } }, { idempotent: true });
    await kube.request('POST', `/apis/${GROUP}/${VERSION}/computeproviders`, {
      apiVersion: `${GROUP}/${VERSION}`, kind: 'ComputeProvider', metadata: { name: p.name },
      spec: {
        type: p.type, endpoint: p.url, credentialsSecretRef: { namespace: SECRETS_NS, name: p.name, key: 'credential' },
        gpuModels: ['nvidia-h100'], options: p.options, maxConcurrentShards: maxConcurrent,
      },
    }, { idempotent: true });
  }
  const deadline = Date.now() + 120_000;
  for (;;) {
    const cps = await Promise.all(providers.map((p) => kube.request<{ status?: { offers?: { pricePerGpuHour?: string }[] } }>('GET', `/apis/${GROUP}/${VERSION}/computeproviders/${p.name}`)));
    if (cps.every((cp) => Number(cp.status?.offers?.[0]?.pricePerGpuHour) > 0)) return;
    if (Date.now() > deadline) throw new Error(`providers not probed within 120 s: ${JSON.stringify(cps.map((cp) => cp.status))}`);
    await sleep(500);
  }
}

function burstJob(name: string, provider: string, shards: number) {
  return {
    apiVersion: `${GROUP}/${VERSION}`, kind: 'RenderJob', metadata: { name, namespace: NS },
    spec: {
      template: { image: 'ghcr.io/acme/sdxl-batch:1.4', command: ['python', 'render.py'], resources: { limits: { 'nvidia.com/gpu': 1 } } },
      gpu: { models: ['nvidia-h100'] }, shards: { count: shards },
      placement: { policy: 'ProviderOnly', providers: [provider], maxPricePerGpuHour: '50.00' },
      output: { uri: `s3://renders/${name}/` },
    },
  };
}

/** "GET /v1/jobs/3f2a…" -> "GET /v1/jobs/:id": path segments with digits or long tokens become :id. */
export function operationOf(method: string, p: string): string {
  const pathOnly = p.split('?')[0]!;
  return `${method} ${pathOnly.split('/').map((s) => (/\d/.test(s) || s.length > 24 ? ':id' : s)).join('/')}`;
}

type Shard = { status?: { provider?: string; remoteId?: string; phase?: string } };

async function waitUntil(what: string, deadline: number, fn: () => Promise<boolean>): Promise<number> {
  for (;;) {
    if (await fn()) return performance.now();
    if (Date.now() > deadline) throw new Error(`burst: ${what} not reached before the timeout`);
    await sleep(250);
  }
}

function plannerFigures(after: Sample[], before: Sample[]): BurstResult['plannerDecision'] {
  const h = histogram(after, 'atelier_planner_decision_seconds', {}, before);
  const ms = (v: number | null) => (v === null ? null : round(v * 1000, 3));
  return { count: h.count, meanMs: h.count ? round((h.sum / h.count) * 1000, 3) : null, p50Ms: ms(quantile(h, 0.5)), p99Ms: ms(quantile(h, 0.99)) };
}

export async function runBurst(cfg: BurstConfig): Promise<BurstResult> {
  const total = cfg.jobs * cfg.shards;
  const clusterName = `${cfg.name}-burst`;
  cfg.log(`[burst] starting test-bed ${clusterName} and three provider fakes (${cfg.latencyMs} ms per request)`);
  const cluster = await clusterUp(clusterName, '1:8:nvidia-h100');
  const fakes = await startFakes(cfg);
  let op: Operator | undefined;
  try {
    const kube = await connect(cluster.kubeconfig, 64);
    await applyCrds(cluster);
    await createNamespace(kube, NS);
    op = await startOperator({
      cli: cfg.operatorCli, kubeconfig: cluster.kubeconfig, workers: cfg.workers, logFile: path.join(cfg.outDir, 'burst-operator.log'),
      args: ['--provider-probe', '5', '--namespace', NS], // the default --remote-poll (5 s)
    });
    await waitReady(op);
    await createProviders(kube, fakes.providers, total);
    const callsBefore = fakes.providers.map((p) => p.server.requests.length);
    const statBefore = op.stat()!;
    const metricsBefore = await op.metrics();
    cfg.log(`[burst] providers probed; submitting ${cfg.jobs} jobs x ${cfg.shards} shards, ProviderOnly, one provider per job in turn`);
    const t0 = performance.now();
    const names = Array.from({ length: cfg.jobs }, (_, i) => `burst-${String(i).padStart(4, '0')}`);
    await pool(names, 16, async (n, i) => { await kube.request('POST', RENDERJOBS(NS), burstJob(n, fakes.providers[i % fakes.providers.length]!.name, cfg.shards)); });
    const submitMs = performance.now() - t0;
    const deadline = Date.now() + cfg.timeoutMs;
    let shards: Shard[] = [];
    let lastLog = 0;
    const withIds = await waitUntil('every shard has a remote id', deadline, async () => {
      shards = (await listAll(kube, RENDERSHARDS(NS))).items as Shard[];
      const n = shards.filter((s) => s.status?.remoteId).length;
      if (Date.now() - lastLog > 15_000) { lastLog = Date.now(); cfg.log(`[burst] t=${((performance.now() - t0) / 1000).toFixed(0)}s ${n}/${total} shards submitted, ${shards.filter((s) => s.status?.phase === 'Succeeded').length} succeeded`); }
      return n + shards.filter((s) => s.status?.phase === 'Succeeded' && !s.status.remoteId).length >= total;
    });
    const done = await waitUntil('every job Succeeded', deadline, async () => {
      const jobs = (await listAll(kube, RENDERJOBS(NS))).items;
      if (Date.now() - lastLog > 15_000) { lastLog = Date.now(); cfg.log(`[burst] t=${((performance.now() - t0) / 1000).toFixed(0)}s ${jobs.filter((j) => j.status?.phase === 'Succeeded').length}/${cfg.jobs} jobs succeeded`); }
      return jobs.length === cfg.jobs && jobs.every((j) => j.status?.phase === 'Succeeded');
    });
    await sleep(3000); // trailing cleanup calls (deletes of finished deployments) land in the counts
    const statAfter = op.stat()!;
    const metricsAfter = await op.metrics();
    shards = (await listAll(kube, RENDERSHARDS(NS))).items as Shard[];
    const callsPerShard: BurstResult['callsPerShard'] = {};
    let allCalls = 0;
    fakes.providers.forEach((p, i) => {
      const n = shards.filter((s) => s.status?.provider === p.name).length;
      const byOp: Record<string, number> = {};
      for (const r of p.server.requests.slice(callsBefore[i])) byOp[operationOf(r.method, r.path)] = (byOp[operationOf(r.method, r.path)] ?? 0) + 1;
      const calls = Object.values(byOp).reduce((a, b) => a + b, 0);
      allCalls += calls;
      callsPerShard[p.name] = { shards: n, total: n ? round(calls / n, 2) : 0, byOperation: Object.fromEntries(Object.entries(byOp).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, n ? round(v / n, 2) : v])) };
    });
    return {
      shards: total, latencyMs: cfg.latencyMs, submitMs: round(submitMs, 1), allRemoteIdsMs: round(withIds - t0, 1), allSucceededMs: round(done - t0, 1),
      callsPerShard, callsPerShardAll: round(allCalls / total, 2),
      operatorCpuSecondsPer1000: round(((statAfter.cpuSeconds - statBefore.cpuSeconds) / total) * 1000, 2),
      operatorPeakRssBytes: statAfter.peakRssBytes,
      plannerDecision: plannerFigures(metricsAfter, metricsBefore),
    };
  } finally {
    await op?.stop();
    await fakes.stop();
    await clusterDown(clusterName);
  }
}
