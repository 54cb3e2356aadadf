// The memory variant (BENCH=memory): the operator's footprint and resync time with many finished jobs
// kept. Running 100,000 shards to completion for real would take most of an hour here, so the
// history is written directly, the way the operator leaves it:
//   1. RenderJobs (with the operator's finalizer already on) and, per shard, a RenderShard owned by
//      its job whose status (status subresource) says Succeeded, attempt 1, with a result; the shard
//      pods are absent (as after pod garbage collection);
//   2. the operator starts once and writes each job's status itself (Succeeded, from its records),
//      so the job status is exactly what the operator writes, not a copy of it;
//   3. it is stopped (SIGTERM) and started again: the figures are from this restart — time until
//      /readyz is OK (informers synced), time until the work queue has drained (every job
//      reconciled once), API writes made by the resync (should be none), RSS and heap.
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { CLEANUP_FINALIZER } from '../../operator/src/api/index.js';
import { clusterDown, clusterUp, round } from './cluster.js';
import { RENDERJOBS, RENDERSHARDS, renderJob, type Batch } from './contenders.js';
import { connect, createNamespace, listAll, pool, type KObject } from './kube.js';
import { applyCrds, NAMESPACE } from './load.js';
import { queueCounters, startOperator, waitDrained, waitReady, type Operator } from './operator.js';
import { sum } from './prom.js';

export interface MemoryConfig {
  name: string;
  jobs: number;
  shards: number;
  concurrency: number;
  workers: number;
  outDir: string;
  operatorCli: string;
  profile: boolean;
  log: (msg: string) => void;
}

export interface StartFigures {
  readyMs: number;
  drainedMs: number;
  writes: number;
  reconciles: number;
  rssBytes: number;
  peakRssBytes: number;
  heapUsedBytes: number;
  cpuSeconds: number;
}

export interface MemoryResult {
  jobs: number;
  shards: number;
  seedMs: number;
  seedWritesPerSecond: number;
  firstStart: StartFigures;
  restart: StartFigures;
  /** RSS 10 s after the restart drained (after the start-up garbage has had a chance to go). */
  settledRssBytes: number;
  settledHeapUsedBytes: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hex64 = (s: string) => Buffer.from(s.padEnd(32, '.')).subarray(0, 32).toString('hex');

async function measureStart(op: Operator, jobs: number, log: (m: string) => void, label: string): Promise<StartFigures> {
  const ready = await waitReady(op);
  log(`[memory] ${label}: ready after ${((ready - op.startedAt) / 1000).toFixed(2)}s`);
  const drained = await waitDrained(op, jobs);
  const m = await op.metrics();
  const q = queueCounters(m);
  const st = op.stat();
  log(`[memory] ${label}: drained after ${((drained - op.startedAt) / 1000).toFixed(2)}s, ${q.writes} writes, RSS ${((st?.rssBytes ?? 0) / 2 ** 20).toFixed(0)} MiB`);
  return {
    readyMs: round(ready - op.startedAt, 1), drainedMs: round(drained - op.startedAt, 1),
    writes: q.writes, reconciles: q.reconciles,
    rssBytes: st?.rssBytes ?? NaN, peakRssBytes: st?.peakRssBytes ?? NaN,
    heapUsedBytes: sum(m, 'atelier_nodejs_heap_size_used_bytes'), cpuSeconds: round(st?.cpuSeconds ?? NaN, 2),
  };
}

export async function runMemory(cfg: MemoryConfig): Promise<MemoryResult> {
  const clusterName = `${cfg.name}-memory`;
  cfg.log(`[memory] starting test-bed ${clusterName}`);
  const cluster = await clusterUp(clusterName, '2:8:nvidia-h100');
  const kube = await connect(cluster.kubeconfig, cfg.concurrency);
  const ops: Operator[] = [];
  try {
    await createNamespace(kube, NAMESPACE);
    await applyCrds(cluster);

    const b: Batch = {
      namespace: NAMESPACE, run: 'memory', shards: cfg.shards, duration: '30s', concurrency: cfg.concurrency,
      jobs: Array.from({ length: cfg.jobs }, (_, i) => `job-${String(i).padStart(5, '0')}`),
    };
    cfg.log(`[memory] writing ${cfg.jobs} finished RenderJobs and ${cfg.jobs * cfg.shards} Succeeded RenderShards`);
    const t0 = performance.now();
    const started = new Date(Date.now() - 3600_000).toISOString();
    const finished = new Date(Date.now() - 3570_000).toISOString();
    let done = 0;
    let lastLog = Date.now();
    // Each job in flight has its shards in flight too, so jobs run at concurrency / shards at a time.
    await pool(b.jobs, Math.max(2, Math.ceil(cfg.concurrency / cfg.shards)), async (job) => {
      const created = await kube.request<KObject>('POST', RENDERJOBS(NAMESPACE), renderJob(b, job, { finalizers: [CLEANUP_FINALIZER] }));
      const uid = created.metadata.uid!;
      await Promise.all(Array.from({ length: cfg.shards }, async (_, index) => {
        const name = `${job}-${index}`;
        await kube.request('POST', RENDERSHARDS(NAMESPACE), {
          apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderShard',
          metadata: {
            name, namespace: NAMESPACE,
            labels: { 'atelier.dev/job': job, 'atelier.dev/shard': String(index), 'app.kubernetes.io/managed-by': 'atelier' },
            ownerReferences: [{ apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderJob', name: job, uid, controller: true, blockOwnerDeletion: true }],
          },
          spec: { jobName: job, index },
        }, { idempotent: true });
        await kube.request('PATCH', `${RENDERSHARDS(NAMESPACE)}/${name}/status`, {
          status: {
            phase: 'Succeeded', placement: 'Local', podName: `${job}-${index}-1`, attempts: 1, gpuSeconds: 30,
            startTime: started, completionTime: finished,
            result: { outputs: [{ uri: `s3://renders/${job}/shard-${index}.exr`, sha256: hex64(name) }] },
          },
        }, { contentType: 'application/merge-patch+json' });
      }));
      done++;
      if (Date.now() - lastLog > 15_000) {
        lastLog = Date.now();
        cfg.log(`[memory] ${done}/${cfg.jobs} jobs written (${((performance.now() - t0) / 1000).toFixed(0)}s)`);
      }
    });
    const seedMs = performance.now() - t0;
    const seedWrites = cfg.jobs * (1 + 2 * cfg.shards);
    cfg.log(`[memory] seeded in ${(seedMs / 1000).toFixed(1)}s (${(seedWrites / (seedMs / 1000)).toFixed(0)} writes/s)`);

    const opts = (n: string) => ({
      cli: cfg.operatorCli, kubeconfig: cluster.kubeconfig, workers: cfg.workers, logFile: path.join(cfg.outDir, `memory-operator-${n}.log`),
      profileDir: cfg.profile ? path.join(cfg.outDir, `profile-memory-${n}`) : undefined,
    });
    const first = await startOperator(opts('first'));
    ops.push(first);
    const firstStart = await measureStart(first, cfg.jobs, cfg.log, 'first start (writes every job status)');
    const left = (await listAll(kube, `${RENDERJOBS(NAMESPACE)}?labelSelector=${encodeURIComponent('bench.atelier.dev/run=memory')}`)).items.filter((j) => j.status?.phase !== 'Succeeded').length;
    if (left > 0) throw new Error(`${left} RenderJobs are not Succeeded after the first start`);
    await first.stop('SIGTERM');

    const second = await startOperator(opts('restart'));
    ops.push(second);
    const restart = await measureStart(second, cfg.jobs, cfg.log, 'restart');
    await sleep(10_000);
    const st = second.stat();
    const m = await second.metrics();
    if (cfg.profile) {
      cfg.log('[memory] writing a heap snapshot');
      await second.heapSnapshot();
    }
    return {
      jobs: cfg.jobs, shards: cfg.jobs * cfg.shards, seedMs: round(seedMs, 0), seedWritesPerSecond: round(seedWrites / (seedMs / 1000), 0),
      firstStart, restart,
      settledRssBytes: st?.rssBytes ?? NaN, settledHeapUsedBytes: sum(m, 'atelier_nodejs_heap_size_used_bytes'),
    };
  } finally {
    for (const op of ops) await op.stop().catch(() => undefined);
    kube.close();
    await clusterDown(clusterName);
  }
}
