// `make bench`: Atelier against the limit (pods created directly) and the Job controller on the same
// shards, each on its own fresh test-bed cluster, one after another; or, with BENCH=memory, the
// operator's memory and resync time with 10,000 finished jobs / 100,000 RenderShards kept. Prints a
// table, the targets, and writes test/bench/results/<timestamp>.json; a load run's output ends with
// the lines `atelier/limit: <ratio>` and `atelier/job-controller: <ratio>` (time until every shard
// pod has been Running). Settings come from the environment; see README.md.
import os from 'node:os';
import path from 'node:path';
import { activeClusters, clusterDownAllSync, round } from './cluster.js';
import { CONTENDERS, type ContenderName } from './contenders.js';
import { runContender, type ContenderResult, type LoadConfig } from './load.js';
import { runMemory, type MemoryResult } from './memory.js';
import { runBurst, type BurstResult } from './burst.js';
import { liveOperators, snapshotBuild, type OperatorBuild } from './operator.js';
import { fmtBytes, fmtMs, fmtNum, table, targetsTable, writeResults, type Target } from './report.js';

const env = process.env;
const int = (name: string, def: number) => {
  const v = env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return n;
};

const MiB = 2 ** 20;
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const resultsDir = path.join(import.meta.dirname, 'results');
const outDir = path.join(resultsDir, stamp);
const t0 = Date.now();
const log = (msg: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} +${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s ${msg}\n`);

function onSignal(sig: NodeJS.Signals) {
  process.stderr.write(`\nbench: ${sig}, stopping the operator and test-bed clusters (${[...activeClusters].join(', ') || 'none'})\n`);
  for (const p of liveOperators) p.kill('SIGKILL');
  clusterDownAllSync();
  process.exit(130);
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

function ratio(a: number | undefined, b: number | undefined): number | null {
  return a && b ? round(a / b, 3) : null;
}

async function load(): Promise<void> {
  const contenders = (env.CONTENDERS ?? CONTENDERS.join(',')).split(',').map((s) => s.trim()).filter(Boolean) as ContenderName[];
  for (const c of contenders) if (!CONTENDERS.includes(c)) throw new Error(`CONTENDERS: unknown ${c}; known: ${CONTENDERS.join(', ')}`);
  const build = contenders.includes('atelier') ? snapshotBuild(outDir) : undefined;
  if (build) log(`operator build ${build.sha256} (${build.source}, built ${build.builtAt}; git ${build.gitHead}, ${build.operatorFilesChanged} operator file(s) changed)`);
  const cfg: LoadConfig = {
    name: env.BENCH_NAME ?? 'bench',
    nodes: int('NODES', 250), gpusPerNode: int('BENCH_GPUS', 8),
    jobs: int('JOBS', 1000), shards: int('SHARDS', 10),
    duration: env.DURATION ?? '30s', concurrency: int('CONCURRENCY', 64), workers: int('WORKERS', 32),
    idle: int('IDLE', 10), timeoutMs: int('TIMEOUT', 1500) * 1000,
    outDir, operatorCli: build?.cli ?? '', profile: env.PROFILE === '1', log,
  };
  const total = cfg.jobs * cfg.shards;
  log(`bench: ${contenders.join(', ')}; ${cfg.nodes} nodes x ${cfg.gpusPerNode} GPUs = ${cfg.nodes * cfg.gpusPerNode} GPUs; ${cfg.jobs} jobs x ${cfg.shards} shards = ${total} shards of ${cfg.duration}; ${cfg.concurrency} requests in flight; operator --workers ${cfg.workers}`);

  const results: Partial<Record<ContenderName, ContenderResult>> = {};
  for (const c of contenders) {
    results[c] = await runContender(c, cfg);
  }

  const cols = contenders.filter((c) => results[c]);
  const R = (f: (r: ContenderResult) => string) => cols.map((c) => f(results[c]!));
  const rows: string[][] = [
    ['', ...cols],
    ['submit (create calls)', ...R((r) => fmtMs(r.submitMs))],
    ['every shard pod exists', ...R((r) => fmtMs(r.untilMs.exist))],
    ['every shard pod bound', ...R((r) => fmtMs(r.untilMs.bound))],
    ['every shard pod has run', ...R((r) => fmtMs(r.untilMs.running))],
    ['every shard pod finished', ...R((r) => fmtMs(r.untilMs.finished))],
    ['every job reports complete', ...R((r) => fmtMs(r.untilMs.parentsComplete))],
    ['first pod p50 (load)', ...R((r) => fmtMs(r.firstPodMs.load.p50))],
    ['first pod p99 (load)', ...R((r) => fmtMs(r.firstPodMs.load.p99))],
    ['first pod max (load)', ...R((r) => fmtMs(r.firstPodMs.load.max))],
    [`first pod p50 (idle, n=${cfg.idle})`, ...R((r) => fmtMs(r.firstPodMs.idle.p50))],
    [`first pod p99 (idle, n=${cfg.idle})`, ...R((r) => fmtMs(r.firstPodMs.idle.p99))],
    ['API writes/shard (all clients)', ...R((r) => fmtNum(r.apiWrites.perShard))],
    ['  incl. node leases/status', ...R((r) => fmtNum(r.apiWrites.perShardWithBackground))],
    ['  by the controller (incl. events)', ...R((r) => fmtNum(r.apiWrites.controllerPerShard))],
    ['  operator count (excl. events)', ...R((r) => fmtNum(r.operator?.writesPerShard))],
    ['control-plane CPU (s)', ...R((r) => fmtNum(Object.values(r.controlPlaneCpuSeconds).reduce((a, b) => a + b, 0), 1))],
    ['  kube-apiserver / etcd', ...R((r) => `${fmtNum(r.controlPlaneCpuSeconds['kube-apiserver'], 1)} / ${fmtNum(r.controlPlaneCpuSeconds.etcd, 1)}`)],
    ['  scheduler / kcm / kwok', ...R((r) => `${fmtNum(r.controlPlaneCpuSeconds['kube-scheduler'], 1)} / ${fmtNum(r.controlPlaneCpuSeconds['kube-controller-manager'], 1)} / ${fmtNum(r.controlPlaneCpuSeconds.kwok, 1)}`)],
    ['operator CPU (s)', ...R((r) => fmtNum(r.operator?.cpuSeconds, 1))],
    ['operator peak RSS', ...R((r) => fmtBytes(r.operator?.peakRssBytes))],
    ['reconcile p50 / p99', ...R((r) => (r.operator ? `${fmtMs(1000 * (r.operator.reconcileSeconds.p50 ?? NaN))} / ${fmtMs(1000 * (r.operator.reconcileSeconds.p99 ?? NaN))}` : '-'))],
    ['queue wait p50 / p99', ...R((r) => (r.operator ? `${fmtMs(1000 * (r.operator.queueSeconds.p50 ?? NaN))} / ${fmtMs(1000 * (r.operator.queueSeconds.p99 ?? NaN))}` : '-'))],
    ['reconciles (errors)', ...R((r) => (r.operator ? `${r.operator.reconciles} (${r.operator.reconcileErrors})` : '-'))],
    ['failed pods / client retries', ...R((r) => `${r.failedPods} / ${r.clientRetries}`)],
  ];
  const a = results.atelier;
  const ratios = {
    'atelier/limit': ratio(a?.untilMs.running, results.limit?.untilMs.running),
    'atelier/job-controller': ratio(a?.untilMs.running, results['job-controller']?.untilMs.running),
    finished: {
      'atelier/limit': ratio(a?.untilMs.finished, results.limit?.untilMs.finished),
      'atelier/job-controller': ratio(a?.untilMs.finished, results['job-controller']?.untilMs.finished),
    },
  };
  const targets: Target[] = [
    { name: 'every pod has run vs limit', target: '<= 1.3x', value: ratios['atelier/limit'] === null ? '-' : `${ratios['atelier/limit']}x`, ok: ratios['atelier/limit'] === null ? null : ratios['atelier/limit'] <= 1.3 },
    { name: 'every pod has run vs Job controller', target: '< 1x', value: ratios['atelier/job-controller'] === null ? '-' : `${ratios['atelier/job-controller']}x`, ok: ratios['atelier/job-controller'] === null ? null : ratios['atelier/job-controller'] < 1 },
    { name: 'first pod p99 under load', target: '< 1 s', value: fmtMs(a?.firstPodMs.load.p99), ok: a?.firstPodMs.load.p99 == null ? null : a.firstPodMs.load.p99 < 1000 },
    { name: 'first pod p99 idle', target: '< 100 ms', value: fmtMs(a?.firstPodMs.idle.p99), ok: a?.firstPodMs.idle.p99 == null ? null : a.firstPodMs.idle.p99 < 100 },
    { name: 'controller API writes per shard', target: '<= 4', value: fmtNum(a?.apiWrites.controllerPerShard), ok: a ? a.apiWrites.controllerPerShard <= 4 : null },
  ];

  const file = writeResults(resultsDir, stamp, {
    kind: 'load', startedAt: new Date(t0).toISOString(), durationS: round((Date.now() - t0) / 1000, 0),
    host: { cpus: os.cpus().length, memBytes: os.totalmem(), node: process.version, loadavg: os.loadavg() },
    params: { ...cfg, outDir: undefined, log: undefined, operatorCli: undefined, contenders },
    operatorBuild: build, results, ratios, targets,
  });
  process.stdout.write(`\nAtelier benchmark: ${cfg.jobs} jobs x ${cfg.shards} shards (${cfg.duration}) on ${cfg.nodes * cfg.gpusPerNode} GPUs; times from the start of submission\n\n`);
  process.stdout.write(`${table(rows)}\n\nTargets (Atelier):\n${targetsTable(targets)}\n\nresults: ${path.relative(process.cwd(), file)} (logs in ${path.relative(process.cwd(), outDir)})\n`);
  process.stdout.write(`atelier/limit: ${ratios['atelier/limit'] ?? 'n/a'}\natelier/job-controller: ${ratios['atelier/job-controller'] ?? 'n/a'}\n`);
}

async function memory(): Promise<void> {
  const jobs = int('MEM_JOBS', 10_000);
  const shards = int('MEM_SHARDS', 10);
  const build: OperatorBuild = snapshotBuild(outDir);
  log(`operator build ${build.sha256} (${build.source}, built ${build.builtAt}; git ${build.gitHead}, ${build.operatorFilesChanged} operator file(s) changed)`);
  const r: MemoryResult = await runMemory({
    name: env.BENCH_NAME ?? 'bench', jobs, shards, concurrency: int('CONCURRENCY', 64), workers: int('WORKERS', 32),
    outDir, operatorCli: build.cli, profile: env.PROFILE === '1', log,
  });
  const targets: Target[] = [
    { name: `operator RSS, ${jobs} jobs / ${r.shards} shards`, target: '< 500 MiB', value: fmtBytes(r.restart.peakRssBytes), ok: r.restart.peakRssBytes < 500 * MiB },
    { name: 'resync after restart (ready + drained)', target: '< 30 s', value: fmtMs(r.restart.drainedMs), ok: r.restart.drainedMs < 30_000 },
  ];
  const file = writeResults(resultsDir, stamp, {
    kind: 'memory', startedAt: new Date(t0).toISOString(), durationS: round((Date.now() - t0) / 1000, 0),
    host: { cpus: os.cpus().length, memBytes: os.totalmem(), node: process.version, loadavg: os.loadavg() },
    params: { jobs, shards }, operatorBuild: build, results: r, targets,
  });
  const S = (f: (s: MemoryResult['restart']) => string) => [f(r.firstStart), f(r.restart)];
  process.stdout.write(`\nAtelier memory benchmark: ${jobs} finished RenderJobs, ${r.shards} Succeeded RenderShards (seeded in ${fmtMs(r.seedMs)}, ${r.seedWritesPerSecond} writes/s)\n\n`);
  process.stdout.write(`${table([
    ['', 'first start', 'restart'],
    ['until /readyz OK', ...S((s) => fmtMs(s.readyMs))],
    ['until queue drained', ...S((s) => fmtMs(s.drainedMs))],
    ['API writes', ...S((s) => String(s.writes))],
    ['reconciles', ...S((s) => String(s.reconciles))],
    ['RSS when drained', ...S((s) => fmtBytes(s.rssBytes))],
    ['peak RSS (VmHWM)', ...S((s) => fmtBytes(s.peakRssBytes))],
    ['heap used when drained', ...S((s) => fmtBytes(s.heapUsedBytes))],
    ['CPU (s)', ...S((s) => fmtNum(s.cpuSeconds, 1))],
  ])}\n\nRSS 10 s after the restart drained: ${fmtBytes(r.settledRssBytes)} (heap used ${fmtBytes(r.settledHeapUsedBytes)})\n\n`);
  process.stdout.write(`Targets (Atelier):\n${targetsTable(targets)}\n\nresults: ${path.relative(process.cwd(), file)}\n`);
}

async function burst(): Promise<void> {
  const build: OperatorBuild = snapshotBuild(outDir);
  log(`operator build ${build.sha256} (${build.source}, built ${build.builtAt}; git ${build.gitHead}, ${build.operatorFilesChanged} operator file(s) changed)`);
  const r: BurstResult = await runBurst({
    name: env.BENCH_NAME ?? 'bench', jobs: int('BURST_JOBS', 20), shards: int('BURST_SHARDS', 100), latencyMs: int('BURST_LATENCY_MS', 100),
    shardMs: int('BURST_SHARD_MS', 10_000), workers: int('WORKERS', 32), timeoutMs: int('TIMEOUT', 1500) * 1000,
    outDir, operatorCli: build.cli, log,
  });
  const targets: Target[] = [
    { name: 'provider API calls per remote shard', target: '<= 6', value: fmtNum(r.callsPerShardAll), ok: r.callsPerShardAll <= 6 },
  ];
  const file = writeResults(resultsDir, stamp, {
    kind: 'burst', startedAt: new Date(t0).toISOString(), durationS: round((Date.now() - t0) / 1000, 0),
    host: { cpus: os.cpus().length, memBytes: os.totalmem(), node: process.version, loadavg: os.loadavg() },
    operatorBuild: build, results: r, targets,
  });
  process.stdout.write(`\nAtelier burst benchmark: ${r.shards} ProviderOnly shards over three provider fakes, ${r.latencyMs} ms per provider request\n\n`);
  process.stdout.write(`${table([
    ['', ''],
    ['submit (create calls)', fmtMs(r.submitMs)],
    ['every shard submitted (remote id recorded)', fmtMs(r.allRemoteIdsMs)],
    ['every job Succeeded', fmtMs(r.allSucceededMs)],
    ['provider API calls per remote shard', fmtNum(r.callsPerShardAll)],
    ['operator CPU s per 1,000 remote shards', fmtNum(r.operatorCpuSecondsPer1000)],
    ['operator peak RSS', fmtBytes(r.operatorPeakRssBytes)],
    ['planner decisions / mean / p50 / p99', `${r.plannerDecision.count} / ${fmtNum(r.plannerDecision.meanMs, 3)} ms / ${fmtNum(r.plannerDecision.p50Ms, 3)} ms / ${fmtNum(r.plannerDecision.p99Ms, 3)} ms`],
  ])}\n\n`);
  for (const [p, c] of Object.entries(r.callsPerShard)) {
    process.stdout.write(`${p}: ${c.shards} shards, ${c.total} calls per shard\n${Object.entries(c.byOperation).map(([o, n]) => `    ${String(n).padStart(6)}  ${o}`).join('\n')}\n`);
  }
  process.stdout.write(`\nhost load average (1, 5, 15 min): ${os.loadavg().map((v) => v.toFixed(2)).join(', ')}\n\nTargets (Atelier):\n${targetsTable(targets)}\n\nresults: ${path.relative(process.cwd(), file)}\n`);
}

const mode = env.BENCH || 'load';
try {
  if (mode === 'load') await load();
  else if (mode === 'memory') await memory();
  else if (mode === 'burst') await burst();
  else if (mode === 'delivery') await import('./delivery.js');
  else throw new Error(`BENCH must be load, memory, burst or delivery, got ${JSON.stringify(mode)}`);
} catch (e) {
  log(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  for (const p of liveOperators) p.kill('SIGKILL');
  clusterDownAllSync();
  process.exit(1);
}
