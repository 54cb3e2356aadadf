// Test-bed clusters for the benchmark, one fresh cluster per contender (test/testbed/cluster.sh,
// stopped first so a leftover from a crashed run is never reused), and what a process costs: CPU
// seconds and resident memory from /proc, for the operator and for each control-plane component.
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const repoRoot = path.resolve(import.meta.dirname, '../..');
const clusterScript = path.join(repoRoot, 'test/testbed/cluster.sh');
const testbedDir = process.env.TESTBED_DIR ?? path.join(repoRoot, '.testbed');

export interface Cluster {
  name: string;
  kubeconfig: string;
  /** Control-plane processes by component name (etcd, kube-apiserver, ...). */
  pids: Record<string, number>;
  upMs: number;
}

/** Clusters this process started and has not stopped yet (stopped on SIGINT/SIGTERM by run.ts). */
export const activeClusters = new Set<string>();

export async function clusterUp(name: string, nodeSpec: string): Promise<Cluster> {
  await clusterDown(name);
  activeClusters.add(name);
  const t0 = Date.now();
  const { stdout } = await run('bash', [clusterScript, 'up', name], {
    env: { ...process.env, NODE_SPEC: nodeSpec },
    maxBuffer: 64 * 1024 * 1024,
    timeout: 15 * 60_000,
  });
  const kubeconfig = stdout.trim().split('\n').pop()!;
  const pidDir = path.join(testbedDir, name, 'pids');
  const pids: Record<string, number> = {};
  for (const f of readdirSync(pidDir)) pids[f] = Number(readFileSync(path.join(pidDir, f), 'utf8').trim());
  return { name, kubeconfig, pids, upMs: Date.now() - t0 };
}

export async function clusterDown(name: string): Promise<void> {
  await run('bash', [clusterScript, 'down', name], { timeout: 120_000 }).catch(() => undefined);
  activeClusters.delete(name);
}

/** Stops every cluster still in activeClusters, synchronously (for signal handlers). */
export function clusterDownAllSync(): void {
  for (const name of activeClusters) {
    try { execFileSync('bash', [clusterScript, 'down', name], { stdio: 'ignore', timeout: 60_000 }); } catch { /* best effort */ }
  }
  activeClusters.clear();
}

let ticks: number | undefined;
function clockTicks(): number {
  ticks ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  return ticks;
}

export interface ProcStat {
  cpuSeconds: number; // user + system
  rssBytes: number;
  peakRssBytes: number; // VmHWM
}

/** CPU and memory of a live process; undefined once it has gone. */
export function procStat(pid: number): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may contain spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuSeconds = (Number(f[11]) + Number(f[12])) / clockTicks(); // utime, stime (fields 14, 15)
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { cpuSeconds, rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** CPU seconds of each control-plane component. */
export function controlPlaneCpu(c: Cluster): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, pid] of Object.entries(c.pids)) out[name] = procStat(pid)?.cpuSeconds ?? NaN;
  return out;
}

export function cpuDelta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, round(v - (before[k] ?? 0), 2)]));
}

export function round(v: number, digits = 3): number {
  const m = 10 ** digits;
  return Math.round(v * m) / m;
}
