// The origin side of a private subnetwork's housekeeping: a shard that a subnet peer ran for this
// site leaves a RenderJob on the peer, and nothing else ever removes it. This controller deletes it
// (the subnet adapter's cancel: delete, then confirm gone) once this site no longer needs it: the
// shard Succeeded here with its result and its bill recorded (the subnet bill is read from the peer
// job, so not before: costPending, or no cost yet, blocks), its job is finished, and, for a job that
// settles on-chain, the job is Settled (escrows released or refunded: the signed claim was already
// read from the peer), and then `ttlMs` more (the job's completionTime + the --peer-job-ttl, so
// people can still read the peer for a while). A peer job that is already gone counts as deleted. Deletions are remembered
// per process; after a restart each finished subnet shard costs one DELETE (404) to find that out.
import type { ProviderAdapter } from '../providers/types.js';
import type { RenderJob, RenderShard } from '../api/index.js';
import { Controller, errorMessage, splitKey, type ControllerMetrics, type Handler, type Lister, type Log, type QueueMetrics } from '../runtime/index.js';

export interface PeerReaperDeps {
  shards: Lister<RenderShard>;
  jobs: Pick<Lister<RenderJob>, 'get'>;
  /** The ComputeProvider's type and adapter (the provider registry). */
  providerType(name: string): string | undefined;
  adapter(name: string): Promise<ProviderAdapter | undefined>;
  log: Log;
  clock: { now(): number };
  /** Kept this long after the job's completionTime. */
  ttlMs: number;
}

const FINISHED = new Set(['Succeeded', 'Failed']);
const ADAPTER_RETRY_MS = 30_000;

/** A shard that ran on a peer and may leave a job there: Succeeded, remote, with its remote id. */
export function peerCandidate(s: RenderShard): boolean {
  const st = s.status;
  return st?.phase === 'Succeeded' && st.placement === 'Remote' && !!st.provider && !!st.remoteId;
}

/** Why the peer job of this shard must stay for now, or undefined when it may go. */
export function reapBlocker(job: RenderJob | undefined, shard: RenderShard): string | undefined {
  const st = shard.status ?? {};
  if (!job) return 'job not in the cache';
  if (st.costPending || (st.remoteCost === undefined && st.cost === undefined)) return 'the peer\'s bill is not recorded yet';
  if (!FINISHED.has(job.status?.phase ?? '')) return 'the job is not finished';
  if (job.spec.settlement?.enabled && job.status?.conditions?.find((c) => c.type === 'Settled')?.status !== 'True') return 'the job is not settled yet';
  return undefined;
}

export class PeerReaper {
  private readonly deleted = new Set<string>();
  constructor(private readonly d: PeerReaperDeps) {}

  /** Reconciles one RenderShard ("namespace/name"). */
  async reconcile(key: string): Promise<{ requeueAfterMs?: number }> {
    const { namespace, name } = splitKey(key);
    const shard = namespace ? this.d.shards.get(namespace, name) : undefined;
    if (!shard || !peerCandidate(shard)) return {};
    const st = shard.status!;
    const peerKey = `${st.provider}/${st.remoteId}`;
    if (this.deleted.has(peerKey) || this.d.providerType(st.provider!) !== 'subnet') return {};
    // Job and shard updates enqueue the shard again, so a blocked shard waits for them.
    const job = this.d.jobs.get(namespace!, shard.spec.jobName);
    if (reapBlocker(job, shard) !== undefined) return {};
    const due = (Date.parse(job!.status?.completionTime ?? '') || this.d.clock.now()) + this.d.ttlMs;
    if (due > this.d.clock.now()) return { requeueAfterMs: due - this.d.clock.now() };
    const adapter = await this.d.adapter(st.provider!);
    if (!adapter) return { requeueAfterMs: ADAPTER_RETRY_MS };
    await adapter.cancel(st.remoteId!);
    this.deleted.add(peerKey);
    this.d.log.info('peer job deleted: the origin has its result and bill', { shard: key, provider: st.provider, peerJob: st.remoteId });
    return {};
  }
}

export interface PeerReaperOptions extends PeerReaperDeps {
  queueMetrics?: QueueMetrics;
  metrics?: ControllerMetrics;
}

/** The controller, and the handlers for the RenderShard and RenderJob informers (a job's change re-queues its shards). */
export function createPeerReaper(o: PeerReaperOptions, shardsOfJob: (namespace: string, job: string) => RenderShard[]): { controller: Controller; shardHandler: Handler<RenderShard>; jobHandler: Handler<RenderJob> } {
  const reaper = new PeerReaper(o);
  const controller = new Controller({
    name: 'peerreaper', workers: 2, logger: o.log,
    ...(o.queueMetrics ? { queueMetrics: o.queueMetrics } : {}), ...(o.metrics ? { metrics: o.metrics } : {}),
    reconcile: async (key) => {
      try {
        const r = await reaper.reconcile(key);
        return r.requeueAfterMs !== undefined ? { requeueAfter: r.requeueAfterMs } : {};
      } catch (e) {
        o.log.warn('peer job not deleted yet', { shard: key, error: errorMessage(e) });
        throw e;
      }
    },
  });
  const enqueue = (s: RenderShard) => { if (peerCandidate(s)) controller.enqueue(`${s.metadata.namespace}/${s.metadata.name}`); };
  const onJob = (j: RenderJob) => { if (FINISHED.has(j.status?.phase ?? '')) for (const s of shardsOfJob(j.metadata.namespace!, j.metadata.name!)) enqueue(s); };
  return { controller, shardHandler: { add: enqueue, update: (_o, s) => enqueue(s) }, jobHandler: { add: onJob, update: (_o, j) => onJob(j) } };
}
