// The chaos run: a mixed load (settled Burst jobs: local shards on site A, the rest on Render, Chutes
// and the subnet peer, spot checks on) kept flowing while faults are injected at seeded random
// moments, first one kind at a time, then several together, until the wanted number is reached.
// Then the load drains, and the world (pods on both sites, the fakes' records, the chain) is checked
// against the invariants, the secrets are looked for everywhere, and the report ends with
// `faults injected: …` and `violations: N`.
import type * as k8s from '@kubernetes/client-node';
import { createJob, getJob, listShards, renderJob } from '../operator/helpers.js';
import { waitFor } from '../support/testbed.js';
import { parseMicros } from '../../operator/src/money.js';
import { FAULTS, NOTHING, sleep, type Rand } from './faults.js';
import { scanSecrets } from './secrets.js';
import { PROVIDERS, type World } from './stage.js';
import { checkWorld, chutesRuns, PodHistory, readChain, renderRuns, type Run } from './world.js';

const SEED_TEXT = 'chaos-seed';

export function rng(seed: number): Rand {
  let s = seed >>> 0 || 1;
  return () => {
    // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function chaosJob(name: string, count: number): Record<string, unknown> {
  const j = renderJob(name, { count, models: ['nvidia-h100'], maxRetries: 20, annotations: { 'testbed.atelier.dev/duration': '3s', 'testbed.atelier.dev/render-seed': SEED_TEXT } }) as { spec: Record<string, unknown> & { template: Record<string, unknown> } };
  j.spec.template.env = [{ name: 'ATELIER_TEST_RENDER_SEED', value: SEED_TEXT }];
  j.spec.placement = { policy: 'Burst', burstAfter: '2s', providers: Object.values(PROVIDERS), maxPricePerGpuHour: '9.00' };
  j.spec.verification = { spotCheckFraction: 0.25 };
  j.spec.settlement = { enabled: true };
  j.spec.budget = { maxCost: '200.00' };
  return j as unknown as Record<string, unknown>;
}

/** Keeps `concurrent` jobs of `count` shards in flight until stopped. */
class Load {
  readonly jobs: string[] = [];
  private stopped = false;
  private loop?: Promise<void>;
  constructor(private readonly w: World, private readonly concurrent: number, private readonly count: number) {}
  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        const active = await this.active().catch(() => this.concurrent);
        for (let i = active; i < this.concurrent && !this.stopped; i++) {
          const name = `load-${this.jobs.length + 1}`;
          try { await createJob(this.w.a, this.w.ns, chaosJob(name, this.count)); this.jobs.push(name); } catch { break; }
        }
        await sleep(1000);
      }
    })();
  }
  private async active(): Promise<number> {
    let n = 0;
    for (const name of this.jobs) {
      const p = (await getJob(this.w.a, this.w.ns, name)).status?.phase;
      if (p !== 'Succeeded' && p !== 'Failed') n++;
    }
    return n;
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

/** Polls the world every 500 ms: site A's shard pods, site B's pods of peer jobs (with their origin). */
class Observer {
  readonly local: PodHistory;
  readonly peer: PodHistory;
  /** peer job name → origin shard, and the peer shard's cost (micro-USD) as site B records it. */
  readonly peerJobs = new Map<string, { shard: string; costMicros?: bigint }>();
  private timer?: NodeJS.Timeout;
  private busy = false;
  constructor(private readonly w: World) {
    this.local = new PodHistory(w.a, w.ns, (p) => {
      const uid = p.metadata?.ownerReferences?.[0]?.uid, i = p.metadata?.labels?.['atelier.dev/shard'];
      return uid && i !== undefined ? `${uid}/${i}` : undefined;
    });
    this.peer = new PodHistory(w.b, w.peerNs, (p: k8s.V1Pod) => this.peerJobs.get(p.metadata?.labels?.['atelier.dev/job'] ?? '')?.shard);
  }
  async poll(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await this.local.poll().catch(() => undefined);
      await this.pollPeerJobs().catch(() => undefined);
      await this.peer.poll().catch(() => undefined);
    } finally { this.busy = false; }
  }
  private async pollPeerJobs(): Promise<void> {
    const jobs = (await this.w.b.custom.listNamespacedCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'renderjobs', namespace: this.w.peerNs })) as { items: { metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> } }[] };
    for (const j of jobs.items) {
      const uid = j.metadata.annotations?.['atelier.dev/origin-job-uid'], i = j.metadata.labels?.['atelier.dev/origin-shard'];
      if (uid && i !== undefined && !this.peerJobs.has(j.metadata.name)) this.peerJobs.set(j.metadata.name, { shard: `${uid}/${i}` });
    }
    const shards = (await this.w.b.custom.listNamespacedCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'rendershards', namespace: this.w.peerNs })) as { items: { metadata: { labels?: Record<string, string> }; status?: { cost?: string } }[] };
    for (const s of shards.items) {
      const pj = this.peerJobs.get(s.metadata.labels?.['atelier.dev/job'] ?? '');
      if (pj && s.status?.cost !== undefined) pj.costMicros = parseMicros(s.status.cost);
    }
  }
  start(): void { this.timer = setInterval(() => void this.poll(), 500); }
  stop(): void { clearInterval(this.timer); }
  /** Peer pods as provider runs: the peer job's one good pod carries the shard's cost as B billed it. */
  peerRuns(): Run[] {
    return this.peer.runs(PROVIDERS.peer).map((r) => ({ ...r, provider: PROVIDERS.peer, billedMicros: r.good ? (this.peerJobs.get(r.group ?? '')?.costMicros ?? 0n) : 0n }));
  }
}

export interface ChaosOptions { faults: number; seed: number; concurrentJobs: number; shardsPerJob: number; drainMs: number }

/** The fault schedule: each kind once in a seeded order, then groups of 2–3 kinds at once. */
export function schedule(total: number, rand: Rand, singlesFirst = true): string[][] {
  const kinds = Object.keys(FAULTS);
  const order = [...kinds].sort(() => rand() - 0.5);
  const out: string[][] = singlesFirst ? order.slice(0, total).map((k) => [k]) : [];
  let n = out.length;
  while (n < total) {
    const size = Math.min(total - n, 2 + Math.floor(rand() * 2));
    const group = new Set<string>();
    while (group.size < size) group.add(kinds[Math.floor(rand() * kinds.length)]!);
    out.push([...group]);
    n += group.size;
  }
  return out;
}

async function heap(w: World): Promise<number> {
  const op = w.replicas.find((o) => o.proc.exitCode === null && o.logs.some((l) => l.message === 'became leader')) ?? w.replicas[0]!;
  const text = await (await fetch(`${await op.metricsUrl()}/metrics`)).text();
  return Number(/^atelier_nodejs_heap_size_used_bytes (\S+)/m.exec(text)?.[1] ?? 0);
}

async function inject(w: World, total: number, rand: Rand, counts: Record<string, number>, skipped: Record<string, number>): Promise<void> {
  const injected = () => Object.values(counts).reduce((a, b) => a + b, 0);
  // The schedule is drawn again while skipped faults leave the count short of the wanted total.
  for (let plan = schedule(total, rand); injected() < total; plan = schedule(total - injected(), rand, false)) await injectPlan(w, plan, rand, counts, skipped);
}

async function injectPlan(w: World, plan: string[][], rand: Rand, counts: Record<string, number>, skipped: Record<string, number>): Promise<void> {
  for (const group of plan) {
    await sleep(500 + rand() * 2500);
    const t0 = Date.now();
    // Only what was really injected counts: a fault that found nothing to break says so and is skipped.
    const said = await Promise.all(group.map(async (k) => {
      try {
        const what = await FAULTS[k]!(w, rand);
        if (what.endsWith(NOTHING)) skipped[k] = (skipped[k] ?? 0) + 1;
        else counts[k] = (counts[k] ?? 0) + 1;
        return `${k}: ${what}`;
      } catch (e) { skipped[k] = (skipped[k] ?? 0) + 1; return `${k}: injection failed: ${String(e).slice(0, 200)}`; }
    }));
    w.log(`fault at ${new Date(t0).toISOString()} ${said.join(' | ')} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  }
}

async function drain(w: World, load: Load, timeoutMs: number): Promise<void> {
  await Promise.allSettled(w.pending);
  for (const f of Object.values(w.fakes)) f.server.clearFaults();
  await w.rpcProxy.up();
  await waitFor('every job finished and settled, every fake idle', async () => {
    for (const name of load.jobs) {
      const s = (await getJob(w.a, w.ns, name)).status;
      if (s?.phase !== 'Succeeded' && s?.phase !== 'Failed') return false;
      const settled = s.conditions?.find((c) => c.type === 'Settled');
      if (settled && settled.status !== 'True' && s.phase === 'Succeeded') return false;
    }
    return Object.values(w.fakes).every((f) => f.running() === 0) && (await peerJobsLeft(w)).length === 0;
  }, timeoutMs, 2000).catch((e) => w.log(`drain: ${String(e).slice(0, 300)}`));
}

/** RenderJobs still on site B (the subnet peer) and the origin job uid each ran for. */
async function peerJobsLeft(w: World): Promise<{ name: string; origin?: string }[]> {
  const jobs = (await w.b.custom.listNamespacedCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'renderjobs', namespace: w.peerNs })) as { items: { metadata: { name: string; annotations?: Record<string, string> } }[] };
  return jobs.items.map((j) => ({ name: j.metadata.name, ...(j.metadata.annotations?.['atelier.dev/origin-job-uid'] ? { origin: j.metadata.annotations['atelier.dev/origin-job-uid'] } : {}) }));
}

async function jobsInfo(w: World, load: Load) {
  const jobs = new Map<string, { name: string; failedReason?: string }>();
  const recorded = new Map<string, string>();
  for (const name of load.jobs) {
    const j = await getJob(w.a, w.ns, name);
    const failed = j.status?.conditions?.find((c) => c.type === 'Failed' && c.status === 'True');
    const fraction = (j.spec.verification as { spotCheckFraction?: number } | undefined)?.spotCheckFraction;
    jobs.set(j.metadata.uid!, { name, ...(fraction !== undefined ? { spotCheckFraction: fraction } : {}), ...(j.status?.phase === 'Failed' ? { failedReason: failed?.reason ?? 'Failed' } : {}) });
    for (const s of await listShards(w.a, w.ns, name)) if (s.status?.provider && s.status.remoteId) recorded.set(`${j.metadata.uid}/${s.spec.index}`, `${String(s.status.provider)}/${String(s.status.remoteId)}`);
  }
  return { jobs, recorded };
}

/** Runs the chaos suite on a built world; returns the report's lines and the violation count. */
export async function runChaos(w: World, o: ChaosOptions): Promise<{ lines: string[]; violations: number; injected: number; exceptions: number }> {
  const rand = rng(o.seed);
  w.log(`chaos: seed ${o.seed} (replay: CHAOS_SEED=${o.seed}), ${o.faults} faults: each kind once, then two or three together`);
  await waitFor('a leader', async () => w.replicas.some((r) => r.logs.some((l) => l.message === 'became leader')), 90_000, 200);
  const observer = new Observer(w);
  observer.start();
  const load = new Load(w, o.concurrentJobs, o.shardsPerJob);
  load.start();
  await sleep(8000);
  const baseline = await heap(w);
  const counts: Record<string, number> = {};
  const skipped: Record<string, number> = {};
  const t0 = Date.now();
  await inject(w, o.faults, rand, counts, skipped);
  const faultSecs = (Date.now() - t0) / 1000;
  await load.stop();
  await drain(w, load, o.drainMs);
  await observer.poll();
  observer.stop();
  const end = await heap(w).catch(() => 0);
  const { jobs, recorded } = await jobsInfo(w, load);
  const runs = [...observer.local.runs('site-a'), ...observer.peerRuns(), ...renderRuns(PROVIDERS.render, w.render, w.sabotaged), ...chutesRuns(PROVIDERS.chutes, w.chutes, w.sabotaged)];
  const chain = await readChain(w.payer.provider as never, w.escrowAddr, w.escrowAbi, w.payer.address);
  const report = checkWorld({ jobs, runs, chain, payees: w.payees, noFindByKey: new Set([PROVIDERS.chutes]), recordedRun: (s) => recorded.get(s), memory: { baseline, end } });
  const leaks = await scanSecrets(w);
  // Every origin job is finished and settled by now: the peer keeps none of their RenderJobs.
  const left = (await peerJobsLeft(w)).filter((j) => j.origin && jobs.has(j.origin)).map((j) => `peer RenderJob ${w.peerNs}/${j.name} left on site B after its origin job ${jobs.get(j.origin!)!.name} finished and settled`);
  const violations = [...report.violations, ...left, ...leaks];
  const injected = Object.values(counts).reduce((a, b) => a + b, 0);
  const outcome = [...jobs.values()].reduce((m, j) => ((m[j.failedReason ? 'failed' : 'succeeded'] += 1), m), { succeeded: 0, failed: 0 });
  const lines = [
    `chaos: seed ${o.seed}; ${load.jobs.length} jobs (${outcome.succeeded} succeeded, ${outcome.failed} failed) of ${o.shardsPerJob} shards; faults over ${faultSecs.toFixed(0)}s`,
    ...report.lines,
    ...violations.map((v) => `VIOLATION ${v}`),
    ...report.exceptions.map((e) => `known exception: ${e}`),
    `known exceptions (a provider that cannot look a job up by key, killed between request and record): ${report.exceptions.length}`,
    `faults drawn but not injected (nothing live to break): ${Object.entries(skipped).sort().map(([k, v]) => `${k}=${v}`).join(' ') || 'none'}`,
    `faults injected: ${injected} (${Object.entries(counts).sort().map(([k, v]) => `${k}=${v}`).join(' ')})`,
    `violations: ${violations.length}`,
  ];
  return { lines, violations: violations.length, injected, exceptions: report.exceptions.length };
}
