// The chaos suite's fault kinds, one function each: what it breaks, for how long, and how it puts
// the world back (or leaves that to the system under test, as for a SIGKILLed operator). Each takes
// the run's Stage (test-bed handles, fakes, operators, chain) and a seeded random source, so a run
// is replayed by its printed seed.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Contract, type HDNodeWallet } from 'ethers';
import type { ChutesFake } from '../fakes/chutes.js';
import type { RenderFake } from '../fakes/render.js';
import type { OperatorProcess } from '../support/operator.js';
import { repoRoot, waitFor, type Clients } from '../support/testbed.js';
import { clusterDir, restartClusterProc } from './procs.js';
import type { TcpProxy } from '../support/tcpproxy.js';

const run = promisify(execFile);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Everything a fault can touch. */
export interface Stage {
  clusterA: string;
  clusterB: string;
  nodeSpecA: string;
  a: Clients;
  b: Clients;
  ns: string;
  /** Site A's operator replicas (two, with leader election); every process ever started is in `all`. */
  replicas: OperatorProcess[];
  all: OperatorProcess[];
  startReplica(): OperatorProcess;
  apiProxy: TcpProxy;
  rpcProxy: TcpProxy;
  render: RenderFake;
  chutes: ChutesFake;
  fakes: Record<string, RenderFake | ChutesFake>;
  /** Remote jobs broken on purpose (lost, corrupted): never a good run. */
  sabotaged: Set<string>;
  /** The payer's key held by a second sender (the test), and the escrow/token addresses. */
  secondSender: HDNodeWallet;
  tokenAddr: string;
  tokenAbi: unknown;
  escrowAddr: string;
  /** Restorations still running in the background (a deleted node comes back later). */
  pending: Promise<unknown>[];
  log(line: string): void;
}

export type Rand = () => number;
/** How a fault that found nothing to break ends what it says (it is then not counted). */
export const NOTHING = '(nothing injected)';
export type FaultFn = (s: Stage, rand: Rand) => Promise<string>;

const pick = <T>(xs: T[], rand: Rand): T => xs[Math.floor(rand() * xs.length)]!;
const ready = (c: Clients) => async () => { await c.core.listNamespace({ limit: 1 }); return true; };

function leader(s: Stage): OperatorProcess | undefined {
  const alive = s.replicas.filter((o) => o.proc.exitCode === null && o.proc.signalCode === null);
  return alive.find((o) => o.logs.some((l) => l.message === 'became leader')) ?? alive[0];
}

async function killReplica(s: Stage, op: OperatorProcess): Promise<void> {
  await op.kill('SIGKILL');
  s.replicas.splice(s.replicas.indexOf(op), 1);
  s.replicas.push(s.startReplica());
}

const operatorKill: FaultFn = async (s, rand) => {
  const op = leader(s);
  if (op) await killReplica(s, op);
  await sleep(rand() * 1000);
  return 'leader SIGKILLed';
};

/** Kills the leader, then the replica taking over, while it takes over (just after it wins the Lease). */
const handoverKill: FaultFn = async (s, rand) => {
  const first = leader(s);
  if (first) await killReplica(s, first);
  const next = await waitFor('a replica taking over', async () => s.replicas.find((o) => o !== first && o.logs.some((l) => l.message === 'became leader')), 60_000, 50).catch(() => undefined);
  await sleep(rand() * 1500);
  if (next) await killReplica(s, next);
  return 'leader SIGKILLed, then the new leader during handover';
};

const apiserverRestart: FaultFn = async (s, rand) => {
  await restartClusterProc(s.clusterA, 'kube-apiserver', rand() * 2000, ready(s.a));
  return 'site A kube-apiserver restarted';
};

const etcdRestart: FaultFn = async (s, rand) => {
  const port = /ETCD_PORT=(\d+)/.exec(readFileSync(path.join(clusterDir(s.clusterA), 'ports.env'), 'utf8'))![1];
  await restartClusterProc(s.clusterA, 'etcd', rand() * 2000, async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok);
  await waitFor('API server answers after etcd restart', ready(s.a), 120_000, 250);
  return 'site A etcd restarted';
};

const watchCut: FaultFn = async (s) => `${s.apiProxy.cut()} operator connections to the API server cut`;

const JOB_ROUTES = { render: { method: 'POST', path: '/v1/jobs' }, chutes: { method: 'POST', path: '/jobs/' } } as const;

function fakeNamed(s: Stage, rand: Rand): [string, RenderFake | ChutesFake] {
  return pick(Object.entries(s.fakes), rand);
}

const provider5xx: FaultFn = async (s, rand) => {
  const [name, f] = fakeNamed(s, rand);
  f.inject({ kind: 'status', status: pick([500, 502, 503], rand), count: 2 + Math.floor(rand() * 4) });
  return `${name} answers 5xx`;
};

const provider429: FaultFn = async (s, rand) => {
  const [name, f] = fakeNamed(s, rand);
  f.inject({ kind: 'rateLimit', retryAfterSec: 1, count: 2 + Math.floor(rand() * 3) });
  return `${name} answers 429`;
};

const providerHang: FaultFn = async (s, rand) => {
  const [name, f] = fakeNamed(s, rand);
  f.inject({ kind: 'hang', count: 1 + Math.floor(rand() * 2) });
  return `${name} leaves requests hanging`;
};

const provider402: FaultFn = async (s, rand) => {
  const [name, f] = fakeNamed(s, rand);
  const match = name.includes('render') ? JOB_ROUTES.render : JOB_ROUTES.chutes;
  f.inject({ kind: 'status', status: 402, count: 1 + Math.floor(rand() * 2), match });
  return `${name} answers 402 to submissions`;
};

/** Dark for less than --provider-timeout: every request 503, then back. */
const providerDark: FaultFn = async (s, rand) => {
  const [name, f] = fakeNamed(s, rand);
  f.inject({ kind: 'status', status: 503, count: 1_000_000 });
  await sleep(3000 + rand() * 5000);
  f.server.clearFaults();
  return `${name} dark for a few seconds`;
};

/** A live job of this run on some fake, waited for up to 20 s; undefined when none came. */
async function liveJob(s: Stage, rand: Rand, which?: string): Promise<[string, RenderFake | ChutesFake, string] | undefined> {
  return waitFor('a live remote job', async () => {
    const cands: [string, RenderFake | ChutesFake, string][] = [];
    for (const [name, f] of Object.entries(s.fakes)) {
      if (which && name !== which) continue;
      for (const j of f.jobs() as { id: string; key?: string; status?: string; finished?: boolean }[]) {
        const live = f === s.render ? ['PENDING', 'ASSIGNED', 'RUNNING'].includes(String(j.status)) : !j.finished;
        if (live && j.key && !s.sabotaged.has(j.id)) cands.push([name, f, j.id]);
      }
    }
    return cands.length ? pick(cands, rand) : undefined;
  }, 20_000, 100).catch(() => undefined);
}

const providerLosesJob: FaultFn = async (s, rand) => {
  const hit = await liveJob(s, rand);
  if (!hit) return `no live remote job to lose ${NOTHING}`;
  const [name, f, id] = hit;
  s.sabotaged.add(id);
  f.vanish(id);
  return `${name} lost job ${id}`;
};

/** Chutes: the adapter downloads the bytes, so a reported hash that does not match them is caught. */
const providerCorrupt: FaultFn = async (s, rand) => {
  const name = Object.keys(s.fakes).find((n) => s.fakes[n] === s.chutes)!;
  const hit = await liveJob(s, rand, name);
  if (!hit) return `no live Chutes job to corrupt ${NOTHING}`;
  s.sabotaged.add(hit[2]);
  s.chutes.corruptResult(hit[2]);
  return `${name} corrupts the result of ${hit[2]}`;
};

const peerRestart: FaultFn = async (s, rand) => {
  await restartClusterProc(s.clusterB, 'kube-apiserver', 2000 + rand() * 4000, ready(s.b));
  return 'subnet peer (site B) API server stopped and started again';
};

const rpcDown: FaultFn = async (s, rand) => {
  await s.rpcProxy.down();
  await sleep(2000 + rand() * 6000);
  await s.rpcProxy.up();
  return 'chain RPC down for a few seconds';
};

async function send(what: () => Promise<{ wait(): Promise<unknown> }>): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await (await what()).wait();
      return;
    } catch (e) {
      if (i >= 5) throw e;
      await sleep(300);
    }
  }
}

/** The payer's key used by a second sender: a transaction that takes the next nonce the operator may have planned. */
const nonceTaken: FaultFn = async (s) => {
  await send(() => s.secondSender.sendTransaction({ to: s.secondSender.address, value: 0n }));
  return 'a second sender took the payer wallet\'s next nonce';
};

/** The payer's allowance revoked by a second sender: the operator's next open reverts unless it approves again. */
const txReverted: FaultFn = async (s) => {
  const token = new Contract(s.tokenAddr, s.tokenAbi as never, s.secondSender);
  await send(() => token.getFunction('approve')(s.escrowAddr, 0n) as Promise<{ wait(): Promise<unknown> }>);
  return 'the escrow allowance revoked behind the operator (its next open reverts)';
};

/** Deletes a node that holds running shard pods; it comes back after the pod GC has removed them. */
const nodeDelete: FaultFn = async (s, rand) => {
  const running = async () => (await s.a.core.listNamespacedPod({ namespace: s.ns })).items.filter((p) => p.spec?.nodeName && p.status?.phase === 'Running');
  const pods = await waitFor('shard pods running on a node', async () => { const r = await running(); return r.length ? r : undefined; }, 30_000, 200).catch(() => running());
  const nodes = [...new Set(pods.map((p) => p.spec!.nodeName!))];
  const node = nodes.length ? pick(nodes, rand) : pick((await s.a.core.listNode({ labelSelector: 'type=kwok' })).items.map((n) => n.metadata!.name!), rand);
  await s.a.core.deleteNode({ name: node });
  s.pending.push((async () => {
    await waitFor(`pods of ${node} gone`, async () => !(await s.a.core.listNamespacedPod({ namespace: s.ns })).items.some((p) => p.spec?.nodeName === node), 180_000, 1000).catch(() => undefined);
    await run('bash', [path.join(repoRoot, 'test/testbed/cluster.sh'), 'nodes', s.clusterA], { env: { ...process.env, NODE_SPEC: s.nodeSpecA } });
  })());
  return `node ${node} deleted with ${pods.filter((p) => p.spec!.nodeName === node).length} running shard pods`;
};

export const FAULTS: Record<string, FaultFn> = {
  'operator-sigkill': operatorKill,
  'operator-sigkill-handover': handoverKill,
  'apiserver-restart': apiserverRestart,
  'etcd-restart': etcdRestart,
  'watch-cut': watchCut,
  'provider-5xx': provider5xx,
  'provider-429': provider429,
  'provider-hang': providerHang,
  'provider-loses-job': providerLosesJob,
  'provider-corrupt-result': providerCorrupt,
  'provider-dark': providerDark,
  'provider-402': provider402,
  'peer-restart': peerRestart,
  'chain-rpc-down': rpcDown,
  'tx-reverted': txReverted,
  'nonce-taken': nonceTaken,
  'node-delete': nodeDelete,
};
