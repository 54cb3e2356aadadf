// Wires the operator together and starts it: API clients, the shared informer caches (started on
// every replica, so a new leader starts warm), each controller's setup (which owns its reconciler,
// watches and event filters: controllers/*/setup.ts), the metrics and health endpoints, leader
// election, and a graceful shutdown that drains work and releases the Lease. Nothing here reconciles.
import os from 'node:os';
import type * as k8s from '@kubernetes/client-node';
import { GROUP, VERSION, type ComputeProvider, type RenderBudget, type RenderJob, type RenderShard } from './api/index.js';
import { setupBudgetController } from './controllers/budget/setup.js';
import type { OperatorConfig } from './config.js';
import { gpuCapacity } from './controllers/capacity.js';
import { secretReader } from './controllers/computeprovider/kube.js';
import { setupComputeProviderController } from './controllers/computeprovider/setup.js';
import type { Caches, OperatorContext } from './controllers/context.js';
import { setupRenderJobController } from './controllers/renderjob/setup.js';
import { setupSettlementController } from './controllers/settlement/setup.js';
import { setupDeliveryController } from './data/setup.js';
import { createSubnetSigner } from './controllers/subnetsigner.js';
import { createPeerReaper } from './controllers/peerreaper.js';
import { gpuPod, INDEX_JOB, OnDemandInformer, INDEX_PROVIDER, inFlightAt, MultiLister, paths, podJobKey, shardJobKey, slimCustom, slimNode, slimPod, slimShard } from './kube/cache.js';
import { loadKubeConfig, makeClients } from './kube/client.js';
import { createMetrics } from './metrics/metrics.js';
import { LABEL_MANAGED_BY, MANAGED_BY } from './controllers/renderjob/pods.js';
import { coreEventSink, createLogger, EventRecorder, GracefulShutdown, Informer, LeaderElector, RuntimeServer, coordinationLeaseClient, realClock, type Log } from './runtime/index.js';

/** How long the capacity watch stays open after the last read. */
const CAPACITY_WATCH_IDLE_MS = 60_000;
/** Set once the RenderJob controller exists: jobs waiting for the capacity count look again. */
let onCapacitySynced = (): void => {};

/** The informers every controller reads from, one per watched namespace where namespaced. */
function makeCaches(cfg: OperatorConfig, kc: k8s.KubeConfig, log: Log): Caches {
  const common = { kubeConfig: kc, logger: log };
  const jobs = paths(cfg.namespaces, 'renderjobs', GROUP).map((path) => new Informer<RenderJob & k8s.KubernetesObject>({ ...common, path, name: 'renderjobs', transform: slimCustom }));
  const shards = paths(cfg.namespaces, 'rendershards', GROUP).map((path) => new Informer<RenderShard & k8s.KubernetesObject>({
    ...common, path, name: 'rendershards', transform: slimShard, indexers: { [INDEX_JOB]: shardJobKey, [INDEX_PROVIDER]: inFlightAt },
  }));
  const pods = paths(cfg.namespaces, 'pods').map((path) => new Informer<k8s.V1Pod>({
    ...common, path, name: 'pods', labelSelector: `${LABEL_MANAGED_BY}=${MANAGED_BY}`, transform: slimPod, indexers: { [INDEX_JOB]: podJobKey },
  }));
  // Local GPU capacity (free nvidia.com/gpu per model) is read from every Node and every unfinished pod.
  const nodes = new Informer<k8s.V1Node>({ ...common, path: '/api/v1/nodes', name: 'nodes', transform: slimNode });
  // ...but the all-pods watch runs only while the burst planner reads it (kube/cache.ts OnDemandInformer):
  // a cluster of LocalOnly jobs never opens it, and it closes a minute after the last burst decision.
  const busyPods = new OnDemandInformer<k8s.V1Pod>(
    () => new Informer<k8s.V1Pod>({ ...common, path: '/api/v1/pods', name: 'gpu-pods', transform: gpuPod, fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed' }),
    realClock, CAPACITY_WATCH_IDLE_MS, () => onCapacitySynced(),
  );
  const providers = new Informer<ComputeProvider>({ ...common, path: `/apis/${GROUP}/${VERSION}/computeproviders`, name: 'computeproviders' });
  const budgets = paths(cfg.namespaces, 'renderbudgets', GROUP).map((path) => new Informer<RenderBudget & k8s.KubernetesObject>({ ...common, path, name: 'renderbudgets' }));
  return { jobs, shards, pods, nodes, busyPods, providers, budgets, jobLister: new MultiLister(jobs), shardLister: new MultiLister(shards), podLister: new MultiLister(pods) };
}

export async function runOperator(cfg: OperatorConfig): Promise<void> {
  const log: Log = createLogger({ level: cfg.logLevel, component: 'atelier', fields: { identity: cfg.identity } });
  const kc = loadKubeConfig(cfg.kubeconfig);
  const clients = makeClients(kc);
  const caches = makeCaches(cfg, kc, log);
  const recorder = new EventRecorder({ sink: coreEventSink(clients.core), component: 'atelier', instance: os.hostname(), logger: log });
  const ctx: OperatorContext = { cfg, clients, caches, clock: realClock, log, recorder, metrics: createMetrics() };
  const informers = [...caches.jobs, ...caches.shards, ...caches.pods, caches.nodes, caches.providers, ...caches.budgets!] as Informer<k8s.KubernetesObject>[];

  const providers = setupComputeProviderController(ctx);
  const settlement = cfg.settlement ? setupSettlementController(ctx, cfg.settlement) : undefined;
  const budgets = setupBudgetController(ctx, providers.registry);
  const renderjobs = setupRenderJobController(ctx, providers.registry, settlement?.settlement, budgets.ledger);
  budgets.onRoom(renderjobs.requeueUnfinished);
  onCapacitySynced = renderjobs.requeueUnfinished;
  // With --payout-key-secret: sign the results of settled shards peers send here (controllers/subnetsigner.ts).
  const signer = cfg.payoutKeySecret ? await createSubnetSigner({
    ref: cfg.payoutKeySecret, readSecret: secretReader(clients.core, cfg.secretsNamespace), custom: clients.custom, shards: caches.shardLister, jobs: caches.jobLister,
    recorder, log, queueMetrics: ctx.metrics.queues.forQueue('subnetsigner'), metrics: ctx.metrics.controllers.forController('subnetsigner'),
  }) : undefined;
  if (signer) for (const i of caches.shards) i.addEventHandler(signer.handler);
  const delivery = cfg.data ? setupDeliveryController(ctx, cfg.data) : undefined;
  // Peer RenderJobs of finished, billed (and settled) subnet shards are deleted (controllers/peerreaper.ts).
  const reaper = createPeerReaper({
    shards: caches.shardLister, jobs: caches.jobLister, providerType: (n) => providers.registry.state(n)?.spec.type, adapter: (n) => providers.registry.get(n), log, clock: realClock, ttlMs: cfg.peerJobTtlMs ?? 300_000,
    queueMetrics: ctx.metrics.queues.forQueue('peerreaper'), metrics: ctx.metrics.controllers.forController('peerreaper'),
  }, (ns, job) => caches.shardLister.byIndex(INDEX_JOB, `${ns}/${job}`));
  for (const i of caches.shards) i.addEventHandler(reaper.shardHandler);
  for (const i of caches.jobs) i.addEventHandler(reaper.jobHandler);
  const controllers = [renderjobs.controller, providers.controller, budgets.controller, settlement?.controller, signer?.controller, reaper.controller, delivery].filter((c) => c !== undefined);

  const server = new RuntimeServer({ address: cfg.metricsAddr, registry: ctx.metrics.registry, logger: log, readyChecks: { informers: () => informers.every((i) => i.hasSynced()) } });
  await server.start(); // logs "serving health and metrics" with the bound address
  for (const i of informers) i.start();
  const shutdown = new GracefulShutdown({ timeoutMs: cfg.shutdownTimeoutMs, logger: log });
  let controllerRun: Promise<void> | undefined;
  const startControllers = async () => {
    await Promise.all(informers.map((i) => i.waitForSync()));
    // Allocatable only: what is in use is counted by the capacity watch, opened when a job can burst.
    const gpus = Object.fromEntries([...gpuCapacity(caches.nodes.values(), []).values()].map((m) => [m.model, m.allocatable]));
    log.info('caches synced, starting controllers', { workers: cfg.workers, gpusByModel: gpus });
    // Reach the chain early, so settled jobs can burst (their shards carry the signing domain).
    void settlement?.connect(shutdown.signal, () => {
      renderjobs.requeueUnfinished();
      for (const i of caches.jobs) for (const j of i.values()) if (j.spec.settlement?.enabled) settlement.controller.enqueue(`${j.metadata!.namespace}/${j.metadata!.name}`);
    });
    controllerRun = Promise.all(controllers.map((c) => c.start())).then(() => undefined);
  };

  const elector = cfg.leaderElect ? new LeaderElector({
    client: coordinationLeaseClient(clients.coordination), namespace: cfg.leaseNamespace, name: cfg.leaseName, identity: cfg.identity, logger: log,
    onStartedLeading: async () => { ctx.metrics.leader.set(1); await startControllers(); }, // the elector logs "became leader"
    onStoppedLeading: () => {
      ctx.metrics.leader.set(0);
      // Another replica may already act: stop at once rather than race it (as controller-runtime does).
      if (!shutdown.signal.aborted) { log.error('lost leadership, exiting', {}); process.exit(1); }
    },
    onNewLeader: (id) => log.info('leader observed', { leader: id ?? '' }),
    // The Lease's namespace missing (or the Lease forbidden): say how to fix it and exit, not loop.
    onFatal: (e) => { log.error('leader election cannot proceed, exiting', { error: e.message }); process.exit(2); },
  }) : undefined;
  if (elector) void elector.run();
  else { ctx.metrics.leader.set(1); log.info('became leader', { lease: 'disabled' }); await startControllers(); }

  shutdown
    .add({ name: 'controller', run: async () => { await Promise.all(controllers.map((c) => c.stop(cfg.shutdownTimeoutMs))); await controllerRun; } })
    .add({ name: 'leader-election', run: async () => { await elector?.stop(); }, onlyIfClean: true })
    .add({ name: 'events', run: () => recorder.flush() })
    .add({ name: 'informers', run: () => Promise.all([...informers.map((i) => i.stop()), caches.busyPods.stop()]) })
    .add({ name: 'server', run: () => server.close() })
    .install();
}
