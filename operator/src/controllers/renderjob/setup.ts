// The RenderJob controller's setup: builds its reconciler (remote steps, planner bridge, writer,
// expectations) from the operator context and the two views it borrows — the provider registry and,
// when configured, the settlement view — and registers its own watches: RenderJobs (a new job goes
// ahead of the backlog), its RenderShards and shard pods (pod events settle expectations), and the
// registry's changes that can let waiting shards burst (offers, breaker transitions; not probes
// that change nothing).
import type * as k8s from '@kubernetes/client-node';
import { GPU_PRODUCT_LABEL, type RenderJob } from '../../api/index.js';
import { DataPlane } from '../../data/plane.js';
import { canonicalGpuName } from '../../gpus/index.js';
import { podJobKey } from '../../kube/cache.js';
import { parseMicros } from '../../money.js';
import { Expectations, type Controller } from '../../runtime/index.js';
import { gpuCapacity } from '../capacity.js';
import type { BudgetLedger } from '../budget/ledger.js';
import { secretReader } from '../computeprovider/kube.js';
import type { ProviderRegistry } from '../computeprovider/registry.js';
import { controllerFor, jobKeyOfShard, keyOf, type OperatorContext } from '../context.js';
import type { SettlementView } from '../ports.js';
import { Histogram } from 'prom-client';
import { makePlacer, type Placer } from './placement.js';
import { RenderJobReconciler } from './reconciler.js';
import { RemoteShards } from './remote.js';
import { ApiJobWriter } from './writer.js';

/** Pod status changes of one job within this window are taken by one reconcile. */
const POD_BATCH_MS = 1000;

export interface RenderJobSetup {
  controller: Controller;
  /** Looks at every unfinished job again (the chain became reachable, …). */
  requeueUnfinished(): void;
}

/** The placer, timed per decision (one planning round for one job): atelier_planner_decision_seconds. */
function timed(place: Placer, h: Histogram): Placer {
  return (job, candidates, room, ctx) => {
    const t0 = performance.now();
    try { return place(job, candidates, room, ctx); } finally { h.observe((performance.now() - t0) / 1000); }
  };
}

export function setupRenderJobController(ctx: OperatorContext, registry: ProviderRegistry, settlement?: SettlementView, budgets?: BudgetLedger): RenderJobSetup {
  const { cfg, caches, clock, log, metrics, recorder } = ctx;
  const remoteConfig = {
    retryBaseMs: cfg.retryBaseMs, retryMaxMs: Math.max(cfg.retryBaseMs, 360_000), localPricePerGpuHourMicros: parseMicros(cfg.localPricePerGpuHour),
    maxStartsPerReconcile: 500,
    nodeModel: (node: string) => { const m = caches.nodes.getByName(node)?.metadata?.labels?.[GPU_PRODUCT_LABEL]; return m ? canonicalGpuName(m) : undefined; },
    pollIntervalMs: cfg.remotePollMs, providerTimeoutMs: cfg.providerTimeoutMs,
  };
  const onVerification = (provider: string, result: 'verified' | 'failed' | 'skipped', message?: string) => {
    metrics.settlement.verification(provider, result);
    if (result === 'failed') registry.recordVerificationFailure(provider, message ?? 'verification failed');
  };
  const remote = new RemoteShards(registry, clock, log, recorder, remoteConfig, metrics.jobs, (provider, ok, message) => registry.recordOutcome(provider, ok, message), onVerification,
    (provider, reason, message, until) => registry.hold(provider, reason, message, until));
  // Undefined until the capacity watch (opened by this very read) has synced: the planner waits.
  const plannerSeconds = new Histogram({
    name: 'atelier_planner_decision_seconds', help: 'Time of one placement decision (a planning round for one job\'s startable shards).',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25], registers: [metrics.registry],
  });
  const capacity = () => { const busy = caches.busyPods.use(); return busy ? gpuCapacity(caches.nodes.values(), busy.values()) : undefined; };
  const expectations = new Expectations({ clock, onExpired: (owner, kind, name) => log.warn('expectation expired: an informer event was lost', { job: owner, kind, pod: name }) });
  let newJobsWaiting = () => 0; // the controller's urgent lane, once it exists
  const reconciler = new RenderJobReconciler({
    newJobsWaiting: () => newJobsWaiting(),
    jobs: caches.jobLister, shards: caches.shardLister, pods: caches.podLister,
    writer: new ApiJobWriter(ctx.clients, (kind) => metrics.apiWrites.inc({ kind })),
    recorder, clock, expectations, log, metrics: metrics.jobs, remote, onVerification,
    place: timed(makePlacer({ capacity, providers: registry, clock, ...(budgets ? { budgets } : {}) }), plannerSeconds),
    ...(settlement ? { settlement } : {}),
    ...(cfg.data ? { data: new DataPlane(cfg.data, secretReader(ctx.clients.core, cfg.secretsNamespace), cfg.secretsNamespace) } : {}),
    providerNames: () => caches.providers.list().map((p) => p.metadata.name!),
    // Progress-only status changes are written at most every 30 s per job (phase and outcome at once):
    // at 5 s a 10-shard job under load still wrote its status 11 times (benchmark, 4.22 writes/shard);
    // at 10 s, 9.4 times for 30 s shards in three waves (0.94 writes/shard, smoke size).
    config: { ...remoteConfig, writeConcurrency: 32, statusMinIntervalMs: 30_000 },
  });
  const controller = controllerFor(ctx, 'renderjob', cfg.workers, reconciler);
  newJobsWaiting = () => controller.urgentWaiting();
  const enqueue = (key: string | undefined) => { if (key) controller.enqueue(key); };
  for (const i of caches.jobs) {
    i.addEventHandler({
      // A job nobody has looked at yet goes ahead of the backlog: its first pods should not wait
      // behind the pod events of jobs already running.
      add: (j) => (j.status?.observedGeneration === undefined ? controller.enqueueUrgent(keyOf(j)) : enqueue(keyOf(j))),
      update: (_o, j) => enqueue(keyOf(j)),
      delete: (j) => enqueue(keyOf(j)),
    });
  }
  for (const i of caches.shards) i.addEventHandler({ add: (s) => enqueue(jobKeyOfShard(s)), update: (_o, s) => enqueue(jobKeyOfShard(s)), delete: (s) => enqueue(jobKeyOfShard(s)) });
  for (const i of caches.pods) {
    i.addEventHandler({
      add: (p: k8s.V1Pod) => { const k = podJobKey(p)[0]; if (k) { expectations.observeCreate(k, p.metadata!.name!); enqueue(k); } },
      // A pod's status changes come in bursts across a job's pods (started, finished): one reconcile
      // per job per POD_BATCH_MS takes them all, as the Job controller batches its syncs.
      update: (_o, p) => { const k = podJobKey(p)[0]; if (k) controller.enqueueAfter(k, POD_BATCH_MS); },
      delete: (p) => { const k = podJobKey(p)[0]; if (k) { expectations.observeDelete(k, p.metadata!.name!); enqueue(k); } },
    });
  }
  const unfinished = (j: RenderJob) => j.status?.phase !== 'Succeeded' && j.status?.phase !== 'Failed';
  const requeueUnfinished = () => { for (const i of caches.jobs) for (const j of i.values()) if (unfinished(j)) enqueue(keyOf(j)); };
  // New offers, a breaker transition or a provider coming back may let waiting shards burst. A probe
  // that changes nothing the planner sees does not come through here (registry.recordProbe).
  registry.onChange(requeueUnfinished);
  // A ComputeProvider's spec (paused, caps, payout address) may change what a job may do.
  caches.providers.addEventHandler({
    add: requeueUnfinished, delete: requeueUnfinished,
    update: (o, p) => { if ((o.metadata.generation ?? 0) !== (p.metadata.generation ?? 0)) requeueUnfinished(); },
  });
  return { controller, requeueUnfinished };
}
