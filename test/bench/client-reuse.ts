// Diagnostic micro-benchmark for one finding of the load benchmark: @kubernetes/client-node 2.x
// builds a new undici Agent (so a new TCP + TLS connection) for every API request, in
// KubeConfig.applySecurityAuthentication; nothing is reused and the old connections linger. This
// measures N sequential and N concurrent requests through the operator's own clients (makeClients)
// as they are, and with the dispatcher memoised, reporting time per request, CPU, RSS and the number
// of TCP connections the process holds to the API server afterwards.
//   node test/bench/run.mjs client-reuse.ts KUBECONFIG [N]
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { loadKubeConfig, makeClients } from '../../operator/src/kube/client.js';

const [kubeconfig, nArg] = process.argv.slice(2);
if (!kubeconfig) throw new Error('usage: client-reuse.ts KUBECONFIG [N]');
const n = Number(nArg ?? 400);
const port = new URL(loadKubeConfig(kubeconfig).getCurrentCluster()!.server).port;

/** TCP connections of this process to the API server port (from /proc/self/fd and /proc/net/tcp). */
function connections(): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try { const l = readlinkSync(`/proc/self/fd/${fd}`); if (l.startsWith('socket:[')) inodes.add(l.slice(8, -1)); } catch { /* closed meanwhile */ }
  }
  const hexPort = Number(port).toString(16).toUpperCase().padStart(4, '0');
  let c = 0;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 9 && f[2]?.endsWith(`:${hexPort}`) && f[3] === '01' && inodes.has(f[9]!)) c++;
  }
  return c;
}

async function measure(label: string, memoise: boolean) {
  const kc = loadKubeConfig(kubeconfig);
  if (memoise) {
    // The proposed fix: one dispatcher (connection pool) per KubeConfig, made on first use.
    const k = kc as unknown as { createDispatcher: (...a: unknown[]) => unknown };
    const orig = k.createDispatcher.bind(kc);
    let cached: unknown;
    k.createDispatcher = (...a: unknown[]) => (cached ??= orig(...a));
  }
  const { core } = makeClients(kc);
  const cpu0 = process.cpuUsage();
  let t = performance.now();
  for (let i = 0; i < n; i++) await core.readNamespace({ name: 'default' });
  const seqMs = (performance.now() - t) / n;
  t = performance.now();
  await Promise.all(Array.from({ length: n }, () => core.readNamespace({ name: 'default' })));
  const parMs = performance.now() - t;
  const cpu = process.cpuUsage(cpu0);
  const out = {
    label, requests: 2 * n, sequentialMsPerRequest: +seqMs.toFixed(2), concurrentTotalMs: +parMs.toFixed(0),
    cpuMsPerRequest: +((cpu.user + cpu.system) / 1000 / (2 * n)).toFixed(2),
    openConnections: connections(), rssMiB: +(process.memoryUsage().rss / 2 ** 20).toFixed(0),
  };
  console.log(JSON.stringify(out));
}

await measure('memoised dispatcher (proposed)', true);
await measure('client-node as is (operator today)', false);
process.exit(0);
