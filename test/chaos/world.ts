// What the world says happened during a chaos run, never what the operator says: every run of every
// shard, from the API servers (site A's shard pods, polled so that pods removed with a deleted node
// keep their history; site B's pods of the peer RenderJobs it ran for site A), from the provider
// fakes' own records (their jobs, run times and billing), and from the chain (EscrowOpened /
// EscrowReleased / EscrowRefunded events and each escrow's state). checkWorld() turns that into the
// suite's invariants and counts every breach as a violation.
import type * as k8s from '@kubernetes/client-node';
import { Contract, type JsonRpcProvider } from 'ethers';
import type { ChutesFake } from '../fakes/chutes.js';
import type { RenderFake } from '../fakes/render.js';
import { parseMicros } from '../../operator/src/money.js';
import { spotCheckSelected } from '../../operator/src/verification/index.js';
import type { Clients } from '../support/testbed.js';

/** One execution of one shard somewhere, with when it ran (ms) as far as the world shows. */
export interface Run {
  place: string;
  /** `<origin job uid>/<shard index>` */
  shard: string;
  start?: number;
  end?: number;
  /** Ran to a good end with an honest result. */
  good: boolean;
  live: boolean;
  /** A provider run: who (ComputeProvider name) and what it billed for it (micro-USD). */
  provider?: string;
  billedMicros?: bigint;
  /** The pod's `atelier.dev/job` label (on site B: the peer job). */
  group?: string;
}

const ms = (v: unknown) => (v instanceof Date ? v.getTime() : Date.parse(String(v)));

interface PodSeen { shard: string; job?: string; pod?: string; node?: string; phases?: string[]; start?: number; end?: number; succeeded: boolean; failed: boolean; gone: boolean; lastSeen: number }

/** Polls shard pods of one cluster (site A, or site B for the peer jobs) and keeps each pod's history. */
export class PodHistory {
  readonly pods = new Map<string, PodSeen>();
  constructor(private readonly c: Clients, private readonly namespace: string, private readonly shardOf: (p: k8s.V1Pod) => string | undefined) {}

  async poll(now = Date.now()): Promise<void> {
    const list = (await this.c.core.listNamespacedPod({ namespace: this.namespace })).items;
    const seen = new Set<string>();
    for (const p of list) {
      const shard = this.shardOf(p);
      if (!shard) continue;
      const key = p.metadata!.uid!;
      seen.add(key);
      const cs = p.status?.containerStatuses?.[0]?.state;
      const rec = this.pods.get(key) ?? { shard, job: p.metadata?.labels?.['atelier.dev/job'], succeeded: false, failed: false, gone: false, lastSeen: now };
      const started = cs?.running?.startedAt ?? cs?.terminated?.startedAt;
      if (started && rec.start === undefined) rec.start = ms(started);
      if (cs?.terminated?.finishedAt) rec.end = ms(cs.terminated.finishedAt);
      rec.pod = p.metadata!.name!;
      if (p.spec?.nodeName) rec.node = p.spec.nodeName;
      const phase = `${p.status?.phase ?? 'Pending'}${p.metadata?.deletionTimestamp ? '/deleting' : ''}`;
      if (rec.phases?.at(-1) !== phase) rec.phases = [...(rec.phases ?? []), phase];
      rec.succeeded = p.status?.phase === 'Succeeded';
      rec.failed = p.status?.phase === 'Failed';
      rec.lastSeen = now;
      this.pods.set(key, rec);
    }
    // A pod that disappeared while running (its node deleted, or removed) ran until at most now.
    for (const [key, rec] of this.pods) if (!seen.has(key) && !rec.gone) { rec.gone = true; if (rec.start !== undefined && rec.end === undefined) rec.end = now; }
  }

  runs(place: string): Run[] {
    return [...this.pods.entries()].filter(([, r]) => r.start !== undefined).map(([uid, r]) => ({
      // pod name, node and the phases seen: enough to tell a resumed pod of a deleted node from a second attempt
      place: `${place}/${r.pod ?? uid.slice(0, 8)}@${r.node ?? '?'}[${(r.phases ?? []).join('>')}]`, shard: r.shard, start: r.start, ...(r.end !== undefined ? { end: r.end } : {}),
      good: r.succeeded, live: !r.gone && !r.succeeded && !r.failed, ...(r.job ? { group: r.job } : {}),
    }));
  }
}

type Internal = Record<string, unknown>;

/** Runs on the Render fake: billed from assignment + start delay to its end (its own ledger). */
export function renderRuns(name: string, fake: RenderFake, sabotaged: Set<string>): Run[] {
  const f = fake as unknown as { order: Internal[]; endMs(j: Internal): number | undefined; status(j: Internal): string };
  const out: Run[] = [];
  for (const j of f.order) {
    const key = j.key as string | undefined;
    if (!key || j.assignedMs === undefined) continue;
    const status = f.status.call(fake, j);
    const id = String(j.uuid);
    const end = f.endMs.call(fake, j);
    const live = !j.vanished && ['ASSIGNED', 'RUNNING', 'CANCELLING'].includes(status);
    out.push({
      place: `${name}/${id}`, shard: shardOfKey(key), start: (j.assignedMs as number) + fake.opts.startMs, ...(end !== undefined && !live ? { end } : {}),
      good: status === 'COMPLETED' && !j.vanished && !sabotaged.has(id), live, provider: name, billedMicros: parseMicros(fake.meteredUsd(id)),
    });
  }
  return out;
}

/** Runs on the Chutes fake: its instance's lifetime, as billed. */
export function chutesRuns(name: string, fake: ChutesFake, sabotaged: Set<string>): Run[] {
  const f = fake as unknown as { order: Internal[]; instanceStopMs(j: Internal): number | undefined };
  const rows = new Map(fake.jobs().map((r) => [r.id, r]));
  const out: Run[] = [];
  for (const j of f.order) {
    const key = (j.key as string | undefined);
    if (!key || j.claimedMs === undefined) continue;
    const id = String(j.job_id);
    const stop = f.instanceStopMs.call(fake, j);
    const row = rows.get(id);
    const live = !!row?.running;
    out.push({
      place: `${name}/${id}`, shard: shardOfKey(key), start: j.claimedMs as number, ...(stop !== undefined && !live ? { end: stop } : {}),
      good: row?.status === 'complete' && !j.vanished && !sabotaged.has(id), live, provider: name, billedMicros: parseMicros(fake.meteredUsd(id)),
    });
  }
  return out;
}

/** `<uid>-<index>-<attempt>` → `<uid>/<index>` */
export function shardOfKey(key: string): string {
  const parts = key.split('-');
  const index = parts[parts.length - 2];
  return `${parts.slice(0, -2).join('-')}/${index}`;
}

export interface ChainView {
  opened: Map<string, { provider: string; amount: bigint }>;
  released: Map<string, { provider: string; toProvider: bigint; count: number }>;
  refunded: Map<string, number>;
  states: Map<string, number>;
}

/** Every escrow the payer opened on the chain, what each released or refunded, and its state now. */
export async function readChain(provider: JsonRpcProvider, escrowAddr: string, abi: unknown, payer: string): Promise<ChainView> {
  const escrow = new Contract(escrowAddr, abi as never, provider);
  const view: ChainView = { opened: new Map(), released: new Map(), refunded: new Map(), states: new Map() };
  for (const l of await escrow.queryFilter(escrow.filters.EscrowOpened!(null, payer), 0)) {
    const a = (l as unknown as { args: unknown[] }).args;
    view.opened.set(String(a[0]), { provider: String(a[2]), amount: BigInt(a[4] as bigint) });
  }
  for (const l of await escrow.queryFilter(escrow.filters.EscrowReleased!(), 0)) {
    const a = (l as unknown as { args: unknown[] }).args;
    const id = String(a[0]);
    if (!view.opened.has(id)) continue;
    const prev = view.released.get(id);
    view.released.set(id, { provider: String(a[1]), toProvider: (prev?.toProvider ?? 0n) + BigInt(a[2] as bigint), count: (prev?.count ?? 0) + 1 });
  }
  for (const l of await escrow.queryFilter(escrow.filters.EscrowRefunded!(), 0)) {
    const id = String((l as unknown as { args: unknown[] }).args[0]);
    if (view.opened.has(id)) view.refunded.set(id, (view.refunded.get(id) ?? 0) + 1);
  }
  for (const id of view.opened.keys()) {
    const e = (await escrow.getFunction('escrows').staticCall(id)) as unknown[];
    view.states.set(id, Number(e[5]));
  }
  return view;
}

export interface WorldInput {
  /** Every origin job: uid → {name, failed with a reason (from the API server's object)}. */
  jobs: Map<string, { name: string; failedReason?: string; spotCheckFraction?: number }>;
  runs: Run[];
  chain: ChainView;
  /** Payout address (lower case) → ComputeProvider name. */
  payees: Map<string, string>;
  /** Providers that cannot find a job by its key (Chutes): extra runs there are the known exception. */
  noFindByKey: Set<string>;
  /** The run each shard recorded, consulted only to attribute the known exception's payment. */
  recordedRun?: (shard: string) => string | undefined;
  /** Operator heap at baseline and at the end (bytes). */
  memory: { baseline: number; end: number };
}

export interface WorldReport { violations: string[]; exceptions: string[]; lines: string[] }

// A pod's startedAt/finishedAt are whole seconds (RFC 3339), truncated: its true start is up to 999 ms
// later than recorded. Only what is certain is counted, so a pod run is taken to start that much later.
const POD_CLOCK_MS = 999;
const startOf = (r: Run) => (r.start ?? 0) + (r.provider && !r.group ? 0 : POD_CLOCK_MS);
const overlaps = (a: Run, b: Run, now: number) => startOf(a) < (b.end ?? now) && startOf(b) < (a.end ?? now);

/** The invariants, checked from the world; each breach is one line in `violations`. */
export function checkWorld(w: WorldInput, now = Date.now()): WorldReport {
  const violations: string[] = [];
  const exceptions: string[] = [];
  const byShard = new Map<string, Run[]>();
  for (const r of w.runs) byShard.set(r.shard, [...(byShard.get(r.shard) ?? []), r]);
  let shardsOk = 0;
  const owed = new Map<string, bigint>();
  for (const [shard, runs] of byShard) {
    const uid = shard.split('/')[0]!;
    const job = w.jobs.get(uid);
    if (!job) continue;
    // The spot check's re-run: on a shard the published rule selects (verification.spotCheckSelected),
    // local runs after its good remote run ended, at most one of them good. Any other run is an execution.
    const remoteGood = runs.filter((r) => r.good && r.provider);
    const selected = spotCheckSelected(uid, Number(shard.split('/')[1]), job.spotCheckFraction);
    const after = (r: Run) => !r.provider && remoteGood.some((g) => g.end !== undefined && startOf(r) >= g.end);
    const checks = selected ? runs.filter(after) : [];
    const verifyRuns = [...checks.filter((r) => !r.good), ...checks.filter((r) => r.good).slice(0, 1)];
    const executions = runs.filter((r) => !verifyRuns.includes(r));
    let good = executions.filter((r) => r.good);
    const extra = good.filter((r) => r.provider && w.noFindByKey.has(r.provider));
    if (good.length > 1 && extra.length > 0) {
      const keep = w.recordedRun?.(shard);
      const dropped = good.filter((r) => r.provider && w.noFindByKey.has(r.provider) && r.place !== keep).slice(0, good.length - 1);
      for (const d of dropped) exceptions.push(`${job.name} shard ${shard.split('/')[1]}: ${d.place} ran unrecorded (no lookup by key on ${d.provider})`);
      good = good.filter((r) => !dropped.includes(r));
    }
    if (good.length > 1) violations.push(`${job.name} shard ${shard.split('/')[1]} succeeded ${good.length} times: ${good.map((r) => r.place).join(', ')}`);
    else if (good.length === 0 && !job.failedReason) violations.push(`${job.name} shard ${shard.split('/')[1]} never succeeded and the job did not fail with a reason`);
    else shardsOk++;
    for (const g of good) if (g.provider) owed.set(g.provider, (owed.get(g.provider) ?? 0n) + (g.billedMicros ?? 0n));
    for (let i = 0; i < executions.length; i++) {
      for (let j = i + 1; j < executions.length; j++) {
        const a = executions[i]!, b = executions[j]!;
        if (overlaps(a, b, now)) violations.push(`${job.name} shard ${shard.split('/')[1]} ran in two places at once: ${a.place} and ${b.place}`);
      }
    }
    for (const r of runs) if (r.live) violations.push(`${job.name} shard ${shard.split('/')[1]}: ${r.place} still running`);
  }
  const paid = new Map<string, bigint>();
  for (const [id, o] of w.chain.opened) {
    const state = w.chain.states.get(id);
    if (state !== 2 && state !== 3) violations.push(`escrow ${id.slice(0, 10)} of ${w.payees.get(o.provider.toLowerCase()) ?? o.provider} neither released nor refunded (state ${state})`);
    const rel = w.chain.released.get(id);
    if (rel && rel.count > 1) violations.push(`escrow ${id.slice(0, 10)} released ${rel.count} times`);
    if (rel) {
      const name = w.payees.get(rel.provider.toLowerCase()) ?? rel.provider;
      paid.set(name, (paid.get(name) ?? 0n) + rel.toProvider);
    }
  }
  for (const name of new Set([...paid.keys(), ...owed.keys()])) {
    const p = paid.get(name) ?? 0n, o = owed.get(name) ?? 0n;
    if (p !== o) violations.push(`${name} was paid ${p} token units, its own billing for its verified shards says ${o}`);
  }
  const { baseline, end } = w.memory;
  if (end > baseline * 1.5 + 32 * 2 ** 20) violations.push(`operator heap ${(end / 2 ** 20).toFixed(1)} MiB at the end, baseline ${(baseline / 2 ** 20).toFixed(1)} MiB`);
  const lines = [
    `shards: ${byShard.size} with runs, ${shardsOk} succeeded exactly once or failed with their job; runs ${w.runs.length}`,
    `escrows: ${w.chain.opened.size} opened, ${[...w.chain.states.values()].filter((s) => s === 2).length} released, ${[...w.chain.states.values()].filter((s) => s === 3).length} refunded`,
    `paid (token units): ${[...paid.entries()].map(([n, v]) => `${n}=${v}`).join(' ') || 'none'}; owed by the providers' own billing: ${[...owed.entries()].map(([n, v]) => `${n}=${v}`).join(' ') || 'none'}`,
    `operator heap: baseline ${(baseline / 2 ** 20).toFixed(1)} MiB, end ${(end / 2 ** 20).toFixed(1)} MiB`,
  ];
  return { violations, exceptions, lines };
}
