// The real Atelier operator as a child process (the built CLI, as it runs in production), with what
// the benchmark reads from it: its /metrics and /readyz, when its work queue has drained, and its
// CPU and memory from /proc. Logs go to a file beside the results; PROFILE=1 adds --cpu-prof and a
// heap snapshot on SIGUSR2 (written to the same directory).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { procStat, repoRoot, type ProcStat } from './cluster.js';
import { parseProm, sum, type Sample } from './prom.js';

export interface OperatorBuild {
  /** The CLI the benchmark runs: a copy of the build taken at the start, so a concurrent rebuild cannot change it mid-run. */
  cli: string;
  source: string;
  gitHead: string;
  /** Files under operator/ that differ from gitHead when the copy was taken. */
  operatorFilesChanged: number;
  builtAt: string;
  /** sha256 over the build's .js files, to tell two runs' operators apart. */
  sha256: string;
}

/**
 * Copies the operator build (dist/, or the directory holding ATELIER_CLI's dist/ when set, e.g. a
 * patched copy to try a fix) into dir and describes it. The copy sits inside the repository, so
 * its imports still resolve to the repository's node_modules and package.json.
 */
export function snapshotBuild(dir: string, atelierCli = process.env.ATELIER_CLI): OperatorBuild {
  const cli = atelierCli ? path.resolve(atelierCli) : path.join(repoRoot, 'dist/operator/src/cli.js');
  if (!existsSync(cli)) throw new Error(`${cli} missing: run \`make build\` (make bench does it)`);
  const distRoot = cli.slice(0, cli.lastIndexOf(`${path.sep}dist${path.sep}`) + 5);
  const copy = path.join(dir, 'dist');
  cpSync(distRoot, copy, { recursive: true, filter: (f) => !f.endsWith('.map') });
  const hash = createHash('sha256');
  const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : e.name.endsWith('.js') ? [path.join(d, e.name)] : [])).sort();
  for (const f of walk(copy)) hash.update(f.slice(copy.length)).update(readFileSync(f));
  const git = (...args: string[]) => { try { return execFileSync('git', ['-C', repoRoot, ...args], { encoding: 'utf8' }).trim(); } catch { return ''; } };
  return {
    cli: path.join(copy, path.relative(distRoot, cli)), source: cli,
    gitHead: git('rev-parse', '--short', 'HEAD'),
    operatorFilesChanged: git('status', '--porcelain', '--', 'operator').split('\n').filter(Boolean).length,
    builtAt: statSync(cli).mtime.toISOString(),
    sha256: hash.digest('hex').slice(0, 16),
  };
}

export interface OperatorOptions {
  /** The CLI to run (OperatorBuild.cli). */
  cli: string;
  kubeconfig: string;
  workers: number;
  logFile: string;
  /** --cpu-prof and --heapsnapshot-signal=SIGUSR2, output in this directory. */
  profileDir?: string;
  /** Further `run` flags (the burst variant: --remote-poll, --namespace, ...). */
  args?: string[];
}

export interface Operator {
  proc: ChildProcess;
  pid: number;
  startedAt: number; // performance.now()
  metricsUrl: string;
  metrics(): Promise<Sample[]>;
  ready(): Promise<boolean>;
  stat(): ProcStat | undefined;
  /** Writes a heap snapshot (PROFILE only) and resolves once the file should be complete. */
  heapSnapshot(): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Operator processes still running (killed on SIGINT/SIGTERM by run.ts). */
export const liveOperators = new Set<ChildProcess>();

function get(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

export async function startOperator(o: OperatorOptions): Promise<Operator> {
  mkdirSync(path.dirname(o.logFile), { recursive: true });
  const nodeArgs: string[] = [];
  if (o.profileDir) {
    mkdirSync(o.profileDir, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${o.profileDir}`, '--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${o.profileDir}`);
  }
  const startedAt = performance.now();
  const proc = spawn(process.execPath, [...nodeArgs, o.cli, 'run', '--kubeconfig', o.kubeconfig, '--metrics-addr', '127.0.0.1:0', '--leader-elect', 'false', '--workers', String(o.workers), ...(o.args ?? [])], {
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: o.profileDir ?? repoRoot,
  });
  const log = createWriteStream(o.logFile);
  const tail: string[] = [];
  let address: string | undefined;
  let buf = '';
  const onData = (chunk: Buffer) => {
    log.write(chunk);
    buf += chunk.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      tail.push(line);
      if (tail.length > 20) tail.shift();
      if (!address && line.includes('serving health and metrics')) {
        try { address = String((JSON.parse(line) as { address?: string }).address); } catch { /* not JSON */ }
      }
    }
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  liveOperators.add(proc);
  const exited = new Promise<void>((resolve) => proc.on('exit', () => { liveOperators.delete(proc); log.end(); resolve(); }));

  const deadline = Date.now() + 60_000;
  while (!address) {
    if (proc.exitCode !== null) throw new Error(`operator exited ${proc.exitCode}:\n${tail.join('\n')}`);
    if (Date.now() > deadline) throw new Error(`operator did not log its metrics address within 60s:\n${tail.join('\n')}`);
    await sleep(20);
  }
  const metricsUrl = `http://${address}`;
  const pid = proc.pid!;
  return {
    proc, pid, startedAt, metricsUrl,
    metrics: async () => parseProm((await get(`${metricsUrl}/metrics`)).text),
    ready: async () => (await get(`${metricsUrl}/readyz`).catch(() => ({ status: 0 }))).status === 200,
    stat: () => procStat(pid),
    async heapSnapshot() {
      if (!o.profileDir) return;
      proc.kill('SIGUSR2');
      // The snapshot is written synchronously by the operator's main thread: wait until it answers again.
      await sleep(500);
      for (let i = 0; i < 600; i++) {
        if (await get(`${metricsUrl}/healthz`).then((r) => r.status === 200, () => false)) return;
        await sleep(200);
      }
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Polls until the operator's /readyz answers 200; returns performance.now() at that moment. */
export async function waitReady(op: Operator, timeoutMs = 600_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await op.ready()) return performance.now();
    if (op.proc.exitCode !== null) throw new Error(`operator exited ${op.proc.exitCode}`);
    if (Date.now() > deadline) throw new Error('operator not ready in time');
    await sleep(50);
  }
}

/** Reconcile and work-queue counters of the renderjob controller. */
export function queueCounters(m: Sample[]) {
  return {
    depth: sum(m, 'atelier_workqueue_depth', { name: 'renderjob' }),
    adds: sum(m, 'atelier_workqueue_adds_total', { name: 'renderjob' }),
    started: sum(m, 'atelier_workqueue_queue_duration_seconds_count', { name: 'renderjob' }),
    done: sum(m, 'atelier_workqueue_work_duration_seconds_count', { name: 'renderjob' }),
    reconciles: sum(m, 'atelier_controller_reconcile_total', { name: 'renderjob' }),
    errors: sum(m, 'atelier_controller_reconcile_total', { name: 'renderjob', result: 'error' }),
    writes: sum(m, 'atelier_api_writes_total'),
  };
}

/**
 * Waits until the queue has drained: nothing queued, every key added has been reconciled, and at
 * least minReconciles reconciles happened (so the informers' initial adds have all gone through).
 * Returns performance.now() at the first poll that saw it drained.
 */
export async function waitDrained(op: Operator, minReconciles: number, timeoutMs = 900_000, pollMs = 100): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = queueCounters(await op.metrics());
    if (c.depth === 0 && c.done >= c.adds && c.reconciles >= minReconciles) return performance.now();
    if (op.proc.exitCode !== null) throw new Error(`operator exited ${op.proc.exitCode}`);
    if (Date.now() > deadline) throw new Error(`queue did not drain: ${JSON.stringify(c)}`);
    await sleep(pollMs);
  }
}
