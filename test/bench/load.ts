// One contender's run on its own fresh cluster: bring the cluster up (and, for Atelier, the CRDs and
// the operator), measure creation-to-first-pod latency on the idle cluster, then submit JOBS x SHARDS
// shards and time every milestone, counting API writes (apiserver_request_total, before/after),
// control-plane CPU and, for Atelier, the operator's CPU, memory, writes, reconcile and queue latency.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { clusterDown, clusterUp, controlPlaneCpu, cpuDelta, repoRoot, round, type Cluster } from './cluster.js';
import { incompleteParents, submit, type Batch, type ContenderName } from './contenders.js';
import { connect, createNamespace, type Kube } from './kube.js';
import { BENCH_RUN_LABEL, PodTracker, type Milestone } from './observe.js';
import { queueCounters, startOperator, waitReady, type Operator } from './operator.js';
import { apiWrites, BACKGROUND_RESOURCES, controllerWrites, deltaMap, histogram, parseProm, quantile, resourceOf, sum, type Sample } from './prom.js';
import { dist, type Dist } from './report.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const NAMESPACE = 'bench';
const BIN = path.join(process.env.ATELIER_CACHE ?? path.join(process.env.HOME ?? '/root', '.cache/atelier'), 'bin/current');

export interface LoadConfig {
  name: string; // test-bed name prefix
  nodes: number;
  gpusPerNode: number;
  jobs: number;
  shards: number;
  duration: string;
  concurrency: number;
  workers: number;
  idle: number;
  timeoutMs: number;
  outDir: string; // logs and profiles
  operatorCli: string;
  profile: boolean;
  log: (msg: string) => void;
}

export interface OperatorFigures {
  cpuSeconds: number;
  peakRssBytes: number;
  rssBytes: number;
  heapUsedBytes: number;
  writes: Record<string, number>;
  writesPerShard: number;
  reconciles: number;
  reconcileErrors: number;
  reconcileSeconds: { p50: number | null; p99: number | null; mean: number | null };
  queueSeconds: { p50: number | null; p99: number | null; mean: number | null };
}

export interface ContenderResult {
  contender: ContenderName;
  shards: number;
  clusterUpMs: number;
  submitMs: number;
  /** From the start of submission until every shard pod ... (ms). */
  untilMs: Partial<Record<Milestone | 'parentsComplete', number>>;
  firstPodMs: { load: Dist; idle: Dist };
  apiWrites: {
    /** All clients, node heartbeats (leases, nodes) left out. */
    perShard: number;
    perShardWithBackground: number;
    /** What the job-to-pods controller itself wrote (see controllerWrites). */
    controllerPerShard: number;
    total: number;
    byKind: Record<string, number>;
  };
  controlPlaneCpuSeconds: Record<string, number>;
  failedPods: number;
  clientRetries: number;
  watchEvents: number;
  operator?: OperatorFigures;
}

export async function applyCrds(c: Cluster): Promise<void> {
  await run(path.join(BIN, 'kubectl'), ['--kubeconfig', c.kubeconfig, 'apply', '--server-side', '-f', path.join(repoRoot, 'crds')]);
  await run(path.join(BIN, 'kubectl'), ['--kubeconfig', c.kubeconfig, 'wait', '--for', 'condition=Established', '--timeout', '60s',
    'crd/renderjobs.atelier.dev', 'crd/rendershards.atelier.dev', 'crd/computeproviders.atelier.dev']);
}

function histQ(after: Sample[], before: Sample[], name: string) {
  const h = histogram(after, name, { name: 'renderjob' }, before);
  const r = (v: number | null) => (v === null ? null : round(v, 4));
  return { p50: r(quantile(h, 0.5)), p99: r(quantile(h, 0.99)), mean: h.count > 0 ? round(h.sum / h.count, 4) : null };
}

/** Creation-to-first-pod latency on the idle cluster: n single-shard jobs, one at a time. */
async function idleLatency(kube: Kube, c: ContenderName, cfg: LoadConfig): Promise<number[]> {
  if (cfg.idle <= 0) return [];
  const b: Batch = { namespace: NAMESPACE, run: 'idle', jobs: [], shards: 1, duration: '1s', concurrency: 1 };
  const tracker = new PodTracker(kube, NAMESPACE, `${BENCH_RUN_LABEL}=idle`, cfg.idle);
  await tracker.start();
  const samples: number[] = [];
  try {
    for (let i = 0; i < cfg.idle; i++) {
      const job = `idle-${String(i).padStart(3, '0')}`;
      let t0 = 0;
      await submit(kube, c, { ...b, jobs: [job] }, (_j, at) => (t0 = at));
      const deadline = Date.now() + 30_000;
      while (!tracker.firstPod.has(job)) {
        if (Date.now() > deadline) throw new Error(`idle: no pod for ${job} within 30s`);
        await sleep(2);
      }
      samples.push(tracker.firstPod.get(job)! - t0);
      await sleep(200);
    }
    await tracker.waitFor('finished', 60_000).catch(() => undefined); // free the GPUs before the load
  } finally {
    await tracker.stop();
  }
  return samples;
}

export async function runContender(c: ContenderName, cfg: LoadConfig): Promise<ContenderResult> {
  const total = cfg.jobs * cfg.shards;
  const clusterName = `${cfg.name}-${c}`;
  cfg.log(`[${c}] starting test-bed ${clusterName}: ${cfg.nodes} nodes x ${cfg.gpusPerNode} GPUs`);
  const cluster = await clusterUp(clusterName, `${cfg.nodes}:${cfg.gpusPerNode}:nvidia-h100`);
  let kube: Kube | undefined;
  let op: Operator | undefined;
  try {
    kube = await connect(cluster.kubeconfig, cfg.concurrency);
    await createNamespace(kube, NAMESPACE);
    if (c === 'atelier') {
      await applyCrds(cluster);
      op = await startOperator({
        cli: cfg.operatorCli, kubeconfig: cluster.kubeconfig, workers: cfg.workers,
        logFile: path.join(cfg.outDir, `${c}-operator.log`),
        profileDir: cfg.profile ? path.join(cfg.outDir, 'profile-load') : undefined,
      });
      await waitReady(op);
    }
    cfg.log(`[${c}] cluster up in ${(cluster.upMs / 1000).toFixed(1)}s; idle latency (${cfg.idle} single-shard jobs)`);
    const idle = await idleLatency(kube, c, cfg);

    const batch: Batch = {
      namespace: NAMESPACE, run: 'load', shards: cfg.shards, duration: cfg.duration, concurrency: cfg.concurrency,
      jobs: Array.from({ length: cfg.jobs }, (_, i) => `job-${String(i).padStart(5, '0')}`),
    };
    const tracker = new PodTracker(kube, NAMESPACE, `${BENCH_RUN_LABEL}=load`, total);
    await tracker.start();
    const apiBefore = parseProm(await kube.text('/metrics'));
    const cpuBefore = controlPlaneCpu(cluster);
    const opBefore = op ? await op.metrics() : [];
    const opStatBefore = op?.stat();

    cfg.log(`[${c}] submitting ${cfg.jobs} jobs x ${cfg.shards} shards (${total} pods, ${cfg.concurrency} in flight, ${cfg.duration} each)`);
    const jobStart = new Map<string, number>();
    const t0 = performance.now();
    await submit(kube, c, batch, (job, at) => jobStart.set(job, at));
    const submitMs = performance.now() - t0;
    cfg.log(`[${c}] submitted in ${(submitMs / 1000).toFixed(1)}s`);

    let lastTick = Date.now();
    const progress = () => {
      if (Date.now() - lastTick < 15_000) return;
      lastTick = Date.now();
      cfg.log(`[${c}] t=${((performance.now() - t0) / 1000).toFixed(0)}s exist ${tracker.count('exist')} bound ${tracker.count('bound')} running ${tracker.count('running')} finished ${tracker.count('finished')} / ${total}`);
    };
    const deadline = Date.now() + cfg.timeoutMs;
    const until: ContenderResult['untilMs'] = {};
    for (const m of ['exist', 'bound', 'running', 'finished'] as Milestone[]) {
      until[m] = round((await tracker.waitFor(m, Math.max(0, deadline - Date.now()), progress)) - t0, 1);
    }
    if (c !== 'limit') {
      for (;;) {
        const left = await incompleteParents(kube, c, batch);
        if (left === 0) break;
        if (Date.now() > deadline) throw new Error(`${left} parent(s) not complete before the timeout`);
        await sleep(500);
      }
      until.parentsComplete = round(performance.now() - t0, 1);
    }
    await sleep(1500); // let trailing writes (final status patches, events) land before counting
    cfg.log(`[${c}] all ${total} shards finished after ${((until.finished ?? 0) / 1000).toFixed(1)}s`);

    const apiAfter = parseProm(await kube.text('/metrics'));
    const cpuAfter = controlPlaneCpu(cluster);
    const byKind = deltaMap(apiWrites(apiAfter), apiWrites(apiBefore));
    const all = [...byKind.values()].reduce((a, b) => a + b, 0);
    const fg = [...byKind.entries()].filter(([k]) => !BACKGROUND_RESOURCES.has(resourceOf(k))).reduce((a, [, v]) => a + v, 0);

    const firstPod = [...jobStart.entries()].flatMap(([job, at]) => (tracker.firstPod.has(job) ? [tracker.firstPod.get(job)! - at] : []));
    const result: ContenderResult = {
      contender: c, shards: total, clusterUpMs: cluster.upMs, submitMs: round(submitMs, 1), untilMs: until,
      firstPodMs: { load: dist(firstPod), idle: dist(idle) },
      apiWrites: {
        perShard: round(fg / total), perShardWithBackground: round(all / total), controllerPerShard: round(controllerWrites(byKind) / total), total: all,
        byKind: Object.fromEntries([...byKind.entries()].sort((a, b) => b[1] - a[1])),
      },
      controlPlaneCpuSeconds: cpuDelta(cpuAfter, cpuBefore),
      failedPods: tracker.failedPods, clientRetries: kube.retries(), watchEvents: tracker.events,
    };
    await tracker.stop();

    if (op) {
      const after = await op.metrics();
      const st = op.stat();
      const w = (m: Sample[]) => {
        const out: Record<string, number> = {};
        for (const s of m) if (s.name === 'atelier_api_writes_total') out[s.labels.kind ?? ''] = s.value;
        return out;
      };
      const wa = w(after);
      const wb = w(opBefore);
      const writes = Object.fromEntries(Object.entries(wa).map(([k, v]) => [k, v - (wb[k] ?? 0)]));
      const q = queueCounters(after);
      const qb = queueCounters(opBefore);
      result.operator = {
        cpuSeconds: round((st?.cpuSeconds ?? NaN) - (opStatBefore?.cpuSeconds ?? 0), 2),
        peakRssBytes: st?.peakRssBytes ?? NaN,
        rssBytes: st?.rssBytes ?? NaN,
        heapUsedBytes: sum(after, 'atelier_nodejs_heap_size_used_bytes'),
        writes,
        writesPerShard: round(Object.values(writes).reduce((a, b) => a + b, 0) / total),
        reconciles: q.reconciles - qb.reconciles,
        reconcileErrors: q.errors - qb.errors,
        reconcileSeconds: histQ(after, opBefore, 'atelier_controller_reconcile_duration_seconds'),
        queueSeconds: histQ(after, opBefore, 'atelier_workqueue_queue_duration_seconds'),
      };
    }
    return result;
  } finally {
    await op?.stop().catch(() => undefined);
    kube?.close();
    await clusterDown(clusterName);
  }
}
