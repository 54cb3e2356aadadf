// The peer job reaper against in-memory caches and a recording adapter: a subnet shard's peer job
// is deleted only once the origin has its result and bill and its job is finished (and settled, when
// it settles on-chain); never for other providers or unfinished shards; once per process; and a
// failed delete is an error for the work queue's backoff, tried again on the next reconcile.
import type { ProviderAdapter } from '../providers/types.js';
import type { RenderJob, RenderShard } from '../api/index.js';
import { nopLog } from '../runtime/index.js';
import { PeerReaper, createPeerReaper, reapBlocker } from './peerreaper.js';

const NOW = Date.parse('2026-12-06T03:00:00Z');
type JobOpts = { phase?: string; settles?: boolean; settled?: 'True' | 'False' };
type ShardOpts = { phase?: string; placement?: string; provider?: string; remoteId?: string; cost?: string; remoteCost?: string; costPending?: boolean };

function job(o: JobOpts = {}): RenderJob {
  return {
    apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderJob', metadata: { name: 'sweep', namespace: 'studio', uid: 'u1' },
    spec: { template: { image: 'x' }, shards: { count: 2 }, ...(o.settles ? { settlement: { enabled: true } } : {}) },
    status: { phase: (o.phase ?? 'Succeeded') as 'Succeeded', completionTime: new Date(NOW - 60_000).toISOString(), conditions: o.settled ? [{ type: 'Settled', status: o.settled, reason: 'R', message: 'm' }] : [] },
  } as unknown as RenderJob;
}

function shard(o: ShardOpts = {}): RenderShard {
  const has = (k: keyof ShardOpts) => k in o;
  return {
    apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderShard', metadata: { name: 'sweep-1', namespace: 'studio' }, spec: { jobName: 'sweep', index: 1 },
    status: {
      phase: (o.phase ?? 'Succeeded') as 'Succeeded', placement: (o.placement ?? 'Remote') as 'Remote', provider: o.provider ?? 'site-b', remoteId: has('remoteId') ? o.remoteId : 'sweep-1-9f2c',
      ...(has('cost') ? (o.cost ? { cost: o.cost } : {}) : { cost: '0.004000' }), ...(o.remoteCost ? { remoteCost: o.remoteCost } : {}), ...(o.costPending ? { costPending: true } : {}),
    },
  } as unknown as RenderShard;
}

function world(j: RenderJob | undefined, s: RenderShard, opts: { failCancel?: number; ttlMs?: number } = {}) {
  const cancels: string[] = [];
  let failures = opts.failCancel ?? 0;
  const adapter = { async cancel(id: string) { if (failures-- > 0) throw new Error('peer unreachable'); cancels.push(id); } } as unknown as ProviderAdapter;
  const reaper = new PeerReaper({
    shards: { get: (ns, n) => (ns === 'studio' && n === s.metadata.name ? s : undefined), byIndex: () => [s] },
    jobs: { get: () => j },
    providerType: (n) => ({ 'site-b': 'subnet', akash: 'akash' } as Record<string, string>)[n],
    adapter: async (n) => (n === 'site-b' ? adapter : undefined),
    log: nopLog, clock: { now: () => NOW }, ttlMs: opts.ttlMs ?? 0,
  });
  return { reaper, cancels };
}

test.each([
  { what: 'finished, billed, no settlement', j: job(), s: shard(), deleted: true },
  { what: 'finished, billed, settled', j: job({ settles: true, settled: 'True' }), s: shard(), deleted: true },
  { what: 'billed through remoteCost only', j: job(), s: shard({ cost: undefined, remoteCost: '0.004000' }), deleted: true },
  { what: 'settling job whose escrow is still open', j: job({ settles: true, settled: 'False' }), s: shard(), deleted: false },
  { what: 'settling job with no Settled condition yet', j: job({ settles: true }), s: shard(), deleted: false },
  { what: 'bill not read yet (costPending)', j: job(), s: shard({ costPending: true }), deleted: false },
  { what: 'no cost recorded', j: job(), s: shard({ cost: undefined }), deleted: false },
  { what: 'job still running', j: job({ phase: 'Running' }), s: shard(), deleted: false },
  { what: 'job not in the cache', j: undefined, s: shard(), deleted: false },
  { what: 'shard still running on the peer', j: job(), s: shard({ phase: 'Running' }), deleted: false },
  { what: 'shard ran locally', j: job(), s: shard({ placement: 'Local', provider: undefined as unknown as string, remoteId: undefined }), deleted: false },
  { what: 'shard on a provider that is not a subnet', j: job(), s: shard({ provider: 'akash' }), deleted: false },
  { what: 'failed job, billed shard', j: job({ phase: 'Failed' }), s: shard(), deleted: true },
])('$what: peer job deleted = $deleted', async ({ j, s, deleted }) => {
  const { reaper, cancels } = world(j, s);
  await reaper.reconcile('studio/sweep-1');
  expect(cancels).toEqual(deleted ? ['sweep-1-9f2c'] : []);
});

test('a deleted peer job is deleted once per process; an unreachable peer is retried', async () => {
  const { reaper, cancels } = world(job(), shard(), { failCancel: 1 });
  await expect(reaper.reconcile('studio/sweep-1')).rejects.toThrow('peer unreachable');
  expect(cancels).toEqual([]);
  await reaper.reconcile('studio/sweep-1');
  await reaper.reconcile('studio/sweep-1');
  expect(cancels).toEqual(['sweep-1-9f2c']);
});

test('the peer job stays for --peer-job-ttl after the job finished, then goes', async () => {
  const early = world(job(), shard(), { ttlMs: 300_000 });
  expect(await early.reaper.reconcile('studio/sweep-1')).toEqual({ requeueAfterMs: 240_000 });
  expect(early.cancels).toEqual([]);
  const late = world(job(), shard(), { ttlMs: 60_000 });
  await late.reaper.reconcile('studio/sweep-1');
  expect(late.cancels).toEqual(['sweep-1-9f2c']);
});

test('reapBlocker says why a peer job stays', () => {
  expect(reapBlocker(job({ settles: true, settled: 'False' }), shard())).toBe('the job is not settled yet');
  expect(reapBlocker(job(), shard({ costPending: true }))).toBe('the peer\'s bill is not recorded yet');
});

test('a job finishing re-queues its subnet shards; unfinished jobs and local shards queue nothing', () => {
  const remote = shard();
  const local = { ...shard({ placement: 'Local' }), metadata: { name: 'sweep-0', namespace: 'studio' } } as RenderShard;
  const { controller, jobHandler } = createPeerReaper({ shards: { get: () => undefined, byIndex: () => [] }, jobs: { get: () => undefined }, providerType: () => 'subnet', adapter: async () => undefined, log: nopLog, clock: { now: () => NOW }, ttlMs: 0 }, () => [remote, local]);
  const added: string[] = [];
  controller.enqueue = (k: string) => void added.push(k);
  jobHandler.update!(job({ phase: 'Running' }), job({ phase: 'Running' }));
  expect(added).toEqual([]);
  jobHandler.update!(job({ phase: 'Running' }), job({ phase: 'Succeeded' }));
  expect(added).toEqual(['studio/sweep-1']);
});
