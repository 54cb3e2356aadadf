// The RenderJob status as a function of one decision: aggregates only (a 10,000-shard job must stay
// far from etcd's object limit), conditions per Kubernetes conventions with lastTransitionTime moved
// only when a condition flips, the phase as a summary of the conditions, and `changed` so the
// reconciler writes nothing when nothing changed.
import { formatMicros } from '../../money.js';
import type { RenderJobStatus } from '../../api/index.js';
import type { Decision } from './decide.js';

export type Condition = NonNullable<RenderJobStatus['conditions']>[number];
/** The RenderJob status as generated from the CRD (one source of truth). */
export type JobStatus = RenderJobStatus;

type Want = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

function setConditions(prev: Condition[] | undefined, want: Want[], generation: number, nowIso: string): Condition[] {
  const old = new Map((prev ?? []).map((c) => [c.type, c]));
  const out: Condition[] = want.map((w) => {
    const o = old.get(w.type);
    return { ...w, observedGeneration: generation, lastTransitionTime: o && o.status === w.status ? o.lastTransitionTime : nowIso };
  });
  // Conditions owned by other parts of the operator (Bursting, Verified, Settled) are kept as they are.
  for (const c of prev ?? []) if (!want.some((w) => w.type === c.type)) out.push(c);
  return out;
}

export interface StatusInput {
  prev: JobStatus | undefined;
  /** Local shards folded into the job (decide: fold), as they are to be written. */
  shardSets?: JobStatus['shardSets'];
  generation: number;
  decision: Decision;
  suspended: boolean;
  localCostMicros: bigint;
  remoteCostMicros: bigint;
  now: number;
  invalid?: string; // a spec problem the schema could not catch
  /** Shards may not start yet (the data plane's inputs gate): Accepted=False with this reason. */
  held?: { reason: string; message: string };
  /** The planner's last word on bursting (Burst and ProviderOnly jobs). */
  bursting?: { status: 'True' | 'False'; reason: string; message: string };
  /** Conditions computed elsewhere (Verified, Settled). */
  extra?: Want[];
}

export function computeStatus(i: StatusInput): JobStatus {
  const d = i.decision;
  const nowIso = new Date(i.now).toISOString();
  const c = d.counts;
  const want: Want[] = [];
  want.push(i.invalid
    ? { type: 'Accepted', status: 'False', reason: 'InvalidSpec', message: i.invalid }
    : i.held ? { type: 'Accepted', status: 'False', ...i.held }
    : { type: 'Accepted', status: 'True', reason: 'Valid', message: `${c.total} shard(s)` });
  if (d.outcome === 'Succeeded') {
    want.push({ type: 'Scheduled', status: 'True', reason: 'AllShardsPlaced', message: `all ${c.total} shards ran` });
  } else if (i.suspended) {
    want.push({ type: 'Scheduled', status: 'False', reason: 'Suspended', message: 'the job is suspended; no shard runs' });
  } else if (d.unschedulable > 0) {
    want.push({ type: 'Scheduled', status: 'False', reason: 'Unschedulable', message: `${d.unschedulable} shard pod(s) wait for free nvidia.com/gpu on matching nodes` });
  } else {
    want.push({ type: 'Scheduled', status: 'True', reason: 'ShardsPlaced', message: `${c.running} running, ${c.pending} waiting` });
  }
  want.push(d.outcome === 'Succeeded'
    ? { type: 'Complete', status: 'True', reason: 'AllShardsSucceeded', message: `${c.succeeded}/${c.total} shards succeeded` }
    : { type: 'Complete', status: 'False', reason: 'InProgress', message: `${c.succeeded}/${c.total} shards succeeded` });
  want.push(d.failure
    ? { type: 'Failed', status: 'True', reason: d.failure.reason, message: d.failure.message }
    : { type: 'Failed', status: 'False', reason: 'NoFailure', message: '' });
  if (i.bursting) want.push({ type: 'Bursting', ...i.bursting });
  else if ((d.outcome === 'Succeeded' || d.failure || i.invalid) && i.prev?.conditions?.some((c) => c.type === 'Bursting')) {
    want.push({ type: 'Bursting', status: 'False', reason: 'JobFinished', message: 'the job is finished; nothing more bursts' });
  }
  for (const c of i.extra ?? []) want.push(c);
  want.push(i.suspended
    ? { type: 'Suspended', status: 'True', reason: 'SpecSuspended', message: 'spec.suspend is true' }
    : { type: 'Suspended', status: 'False', reason: 'NotSuspended', message: '' });

  const phase: JobStatus['phase'] = d.failure || i.invalid ? 'Failed' : d.outcome === 'Succeeded' ? 'Succeeded' : i.suspended ? 'Suspended' : d.outcome === 'Running' && !i.held ? 'Running' : 'Pending';
  const prev = i.prev ?? {};
  const terminal = phase === 'Succeeded' || phase === 'Failed';
  const started = c.running > 0 || c.succeeded > 0 || c.failed > 0 || d.createPods.length > 0;
  return {
    ...prev,
    phase,
    observedGeneration: i.generation,
    conditions: setConditions(prev.conditions, want, i.generation, nowIso),
    progress: `${c.succeeded}/${c.total}`,
    ...(d.providers.size ? { providers: [...d.providers].sort(([a], [b]) => a.localeCompare(b)).map(([name, p]) => ({ name, running: p.running, succeeded: p.succeeded, failed: p.failed, cost: formatMicros(p.costMicros) })) } : {}),
    shards: { ...c },
    cost: {
      local: formatMicros(i.localCostMicros),
      remote: formatMicros(i.remoteCostMicros),
      total: formatMicros(i.localCostMicros + i.remoteCostMicros),
      currency: 'USD',
    },
    startTime: prev.startTime ?? (started ? nowIso : undefined),
    completionTime: terminal ? (prev.completionTime ?? nowIso) : undefined,
    ...(i.bursting ? { lastScheduleMessage: i.bursting.message } : {}),
    ...(i.shardSets ? { shardSets: i.shardSets } : {}),
    // Once untrusted, always (a re-run elsewhere overwrites the failed shard's own verification).
    ...(d.untrusted.size ? { untrustedProviders: [...new Set([...(prev.untrustedProviders ?? []), ...d.untrusted])].sort() } : {}),
  };
}

/** Deep equality of two JSON-like values (status objects), ignoring undefined fields. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => sameJson(x, bb[i]));
  }
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
