// The chaos suite's hands on real processes: restarting one process of a test-bed cluster (etcd,
// kube-apiserver) with the exact command line it was started with (read back from /proc, so
// cluster.sh stays the one place that knows the flags), and a TCP proxy that can cut every
// connection through it (watches to the API server, JSON-RPC to anvil) or refuse new ones for a while.
import { spawn } from 'node:child_process';
import { openSync, readFileSync, writeFileSync, closeSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, waitFor } from '../support/testbed.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** Dir of a test-bed cluster, as cluster.sh lays it out. */
export function clusterDir(cluster: string): string {
  return path.join(process.env.TESTBED_DIR ?? path.join(repoRoot, '.testbed'), cluster);
}

/**
 * Stops one process of a cluster (SIGKILL to its process group: a crash, not a clean stop), waits
 * `downMs`, then starts it again with the same argv in its own session, appending to its log and
 * recording the new pid where cluster.sh's `down` finds it. Resolves once `ready()` answers true.
 */
export async function restartClusterProc(cluster: string, proc: 'etcd' | 'kube-apiserver', downMs: number, ready: () => Promise<boolean>): Promise<void> {
  const dir = clusterDir(cluster);
  const pidFile = path.join(dir, 'pids', proc);
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  // Empty arguments are real (etcd's --listen-metrics-urls ""): only the terminating NUL is dropped.
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  if (argv.at(-1) === '') argv.pop();
  try { process.kill(-pid, 'SIGKILL'); } catch { try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ } }
  await waitFor(`${cluster}/${proc} gone`, async () => !alive(pid), 30_000, 50);
  await sleep(downMs);
  const log = openSync(path.join(dir, 'logs', `${proc}.log`), 'a');
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  child.unref();
  writeFileSync(pidFile, `${child.pid}\n`);
  await waitFor(`${cluster}/${proc} ready again`, async () => (await ready().catch(() => false)) || undefined, 120_000, 250);
}


/** A copy of a kubeconfig whose server goes through `port` on 127.0.0.1 (the API server's cert names 127.0.0.1). */
export function kubeconfigVia(kubeconfig: string, port: number, out: string): string {
  const text = readFileSync(kubeconfig, 'utf8').replace(/server: https:\/\/127\.0\.0\.1:\d+/, `server: https://127.0.0.1:${port}`);
  writeFileSync(out, text, { mode: 0o600 });
  return out;
}

/** The API server port of a kubeconfig written by cluster.sh. */
export function apiPort(kubeconfig: string): number {
  const m = /server: https:\/\/127\.0\.0\.1:(\d+)/.exec(readFileSync(kubeconfig, 'utf8'));
  if (!m) throw new Error(`no loopback server in ${kubeconfig}`);
  return Number(m[1]);
}
