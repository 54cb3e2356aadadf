// Wires the operator together: API clients, informers (started on every replica so a new leader
// starts warm), the RenderJob controller (started only while this replica leads), metrics and
// health endpoints, events, and a graceful shutdown that drains work and releases the Lease.
import os from 'node:os';
import type * as k8s from '@kubernetes/client-node';
import type { OperatorConfig } from './config.js';
import { RenderJobReconciler, type RenderJobObject, type RenderShardObject } from './controllers/renderjob/reconciler.js';
import { LABEL_JOB, LABEL_MANAGED_BY, MANAGED_BY } from './controllers/renderjob/pods.js';
import { ApiJobWriter, GROUP, VERSION } from './controllers/renderjob/writer.js';
import type { ComputeProvider } from './api/index.js';
import { gpuCapacity } from './controllers/capacity.js';
import { apiProviderStatusWriter, ComputeProviderReconciler, defaultAdapterFor, ProviderRegistry, secretReader } from './controllers/computeprovider/index.js';
import { makePlacer } from './controllers/renderjob/placement.js';
import { instrumentAdapter } from './providers/instrument.js';
import { CachedProviders, INDEX_PROVIDER, inFlightAt } from './controllers/renderjob/providers.js';
import { RemoteShards } from './controllers/renderjob/remote.js';
import { createSubnetSigner } from './controllers/subnetsigner.js';
import { SettlementController } from './controllers/settlement/controller.js';
import { isNotFound, mergePatch } from './kube/client.js';
import { loadKubeConfig, makeClients } from './kube/client.js';
import { createMetrics } from './metrics/metrics.js';
import {
  Controller, coordinationLeaseClient, coreEventSink, createLogger, EventRecorder, Expectations, GracefulShutdown,
  Informer, LeaderElector, RuntimeServer, realClock, type Log,
} from './runtime/index.js';
import { parseMicros } from './money.js';

export const INDEX_JOB = 'job';

/** Only what the controller reads of a shard pod, so 100,000 cached pods stay small. */
export function slimPod(p: k8s.V1Pod): k8s.V1Pod {
  const cs = p.status?.containerStatuses?.[0];
  const scheduled = p.status?.conditions?.find((c) => c.type === 'PodScheduled');
  return {
    metadata: {
      name: p.metadata?.name, namespace: p.metadata?.namespace, uid: p.metadata?.uid, labels: p.metadata?.labels,
      resourceVersion: p.metadata?.resourceVersion, deletionTimestamp: p.metadata?.deletionTimestamp,
    },
    spec: { nodeName: p.spec?.nodeName, containers: [] },
    status: {
      phase: p.status?.phase, reason: p.status?.reason, message: p.status?.message, startTime: p.status?.startTime,
      conditions: scheduled ? [scheduled] : undefined,
      containerStatuses: cs ? [{ name: cs.name, image: '', imageID: '', ready: cs.ready, restartCount: cs.restartCount, state: cs.state }] : undefined,
    },
  };
}

/**
 * Custom objects as cached: without managedFields and the last-applied annotation (kubectl apply),
 * which the controller never reads and which are most of a small object's size; at 100,000
 * RenderShards that is about 100 MiB of heap.
 */
export function slimCustom<T extends k8s.KubernetesObject>(o: T): T {
  const m = o.metadata;
  if (!m || (!m.managedFields && !m.annotations?.[LAST_APPLIED])) return o;
  const { managedFields: _mf, ...meta } = m;
  if (meta.annotations?.[LAST_APPLIED]) {
    const { [LAST_APPLIED]: _la, ...rest } = meta.annotations;
    meta.annotations = Object.keys(rest).length ? rest : undefined;
  }
  return { ...o, metadata: meta };
}
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * One copy of each string that many cached objects repeat (namespaces, job names in labels and
 * spec.jobName, phases, placements, provider names): JSON parsing gives every object its own. Bounded:
 * the table starts over past 100,000 entries.
 */
const interned = new Map<string, string>();
function intern<T extends string | undefined>(s: T): T {
  if (s === undefined) return s;
  const hit = interned.get(s);
  if (hit !== undefined) return hit as T;
  if (interned.size >= 100_000) interned.clear();
  interned.set(s, s);
  return s;
}

/**
 * A RenderShard as cached: what the controllers read (name, uid, labels, spec, status), without
 * owner references, timestamps and managed fields, with repeated strings shared. 100,000 of them are
 * what a 10,000-job history keeps in memory.
 */
export function slimShard(s: RenderShardObject & k8s.KubernetesObject): RenderShardObject & k8s.KubernetesObject {
  const m = s.metadata ?? {};
  const labels = m.labels ? Object.fromEntries(Object.entries(m.labels).map(([k, v]) => [k, intern(v)])) : undefined;
  const st = s.status;
  return {
    apiVersion: s.apiVersion, kind: s.kind,
    metadata: {
      name: m.name, namespace: intern(m.namespace), uid: m.uid, resourceVersion: m.resourceVersion,
      ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}), ...(labels ? { labels } : {}),
    },
    spec: { ...s.spec, jobName: intern(s.spec?.jobName) },
    ...(st ? { status: { ...st, ...(st.phase ? { phase: intern(st.phase) } : {}), ...(st.placement ? { placement: intern(st.placement) } : {}), ...(st.provider ? { provider: intern(st.provider) } : {}) } } : {}),
  } as RenderShardObject & k8s.KubernetesObject;
}

/** What capacity accounting reads of any pod: where it runs, its phase and the GPUs it holds. */
export function gpuPod(p: k8s.V1Pod): k8s.V1Pod {
  const gpus = (p.spec?.containers ?? []).reduce((n, c) => n + (Number(c.resources?.limits?.['nvidia.com/gpu'] ?? c.resources?.requests?.['nvidia.com/gpu'] ?? 0) || 0), 0);
  return {
    metadata: { name: p.metadata?.name, namespace: p.metadata?.namespace, uid: p.metadata?.uid, resourceVersion: p.metadata?.resourceVersion },
    spec: { nodeName: p.spec?.nodeName, containers: gpus ? [{ name: 'gpu', resources: { limits: { 'nvidia.com/gpu': String(gpus) } } }] : [] },
    status: { phase: p.status?.phase },
  };
}

/** Only what capacity accounting reads of a Node. */
export function slimNode(n: k8s.V1Node): k8s.V1Node {
  return {
    metadata: { name: n.metadata?.name, uid: n.metadata?.uid, resourceVersion: n.metadata?.resourceVersion, labels: n.metadata?.labels },
    spec: { unschedulable: n.spec?.unschedulable },
    status: { allocatable: n.status?.allocatable, conditions: n.status?.conditions?.filter((c) => c.type === 'Ready') },
  };
}

function paths(namespaces: string[], resource: string, group?: string): string[] {
  const base = group ? `/apis/${group}/${VERSION}` : '/api/v1';
  return namespaces.length === 0 ? [`${base}/${resource}`] : namespaces.map((ns) => `${base}/namespaces/${ns}/${resource}`);
}

/** Several informers (one per watched namespace) read as one cache. */
class MultiLister<T extends k8s.KubernetesObject> {
  constructor(private readonly informers: Informer<T>[]) {}
  get(namespace: string, name: string): T | undefined {
    for (const i of this.informers) {
      const o = i.getByName(name, namespace);
      if (o) return o;
    }
    return undefined;
  }
  byIndex(index: string, value: string): T[] {
    return this.informers.length === 1 ? this.informers[0]!.byIndex(index, value) : this.informers.flatMap((i) => i.byIndex(index, value));
  }
}

/** Test-only fault injection: SIGKILL this process right after broadcasting one of `actions` (comma list). */
function killAfterSend(actions: string, log: Log): (action: string) => void {
  const set = new Set(actions.split(',').map((s) => s.trim()));
  return (action) => {
    if (!set.has(action) && !set.has('*')) return;
    log.warn('ATELIER_TEST_KILL_AFTER_SEND: killing the operator after broadcasting a transaction', { action });
    process.kill(process.pid, 'SIGKILL');
  };
}

export async function runOperator(cfg: OperatorConfig): Promise<void> {
  const log: Log = createLogger({ level: cfg.logLevel, component: 'atelier', fields: { identity: cfg.identity } });
  const kc = loadKubeConfig(cfg.kubeconfig);
  const clients = makeClients(kc);
  const metrics = createMetrics();
  const clock = realClock;

  const jobInformers = paths(cfg.namespaces, 'renderjobs', GROUP).map((path) => new Informer<RenderJobObject & k8s.KubernetesObject>({ path, kubeConfig: kc, logger: log, name: 'renderjobs', transform: slimCustom }));
  const shardInformers = paths(cfg.namespaces, 'rendershards', GROUP).map((path) => new Informer<RenderShardObject & k8s.KubernetesObject>({
    path, kubeConfig: kc, logger: log, name: 'rendershards', transform: slimShard,
    indexers: { [INDEX_JOB]: (s) => (s.spec?.jobName ? [`${s.metadata!.namespace}/${s.spec.jobName}`] : []), [INDEX_PROVIDER]: inFlightAt },
  }));
  const providerInformer = new Informer<ComputeProvider>({ path: `/apis/${GROUP}/${VERSION}/computeproviders`, kubeConfig: kc, logger: log, name: 'computeproviders' });
  const podInformers = paths(cfg.namespaces, 'pods').map((path) => new Informer<k8s.V1Pod>({
    path, kubeConfig: kc, logger: log, name: 'pods', labelSelector: `${LABEL_MANAGED_BY}=${MANAGED_BY}`,
    transform: slimPod,
    indexers: { [INDEX_JOB]: (p) => (p.metadata?.labels?.[LABEL_JOB] ? [`${p.metadata.namespace}/${p.metadata.labels[LABEL_JOB]}`] : []) },
  }));
  // Local GPU capacity (free nvidia.com/gpu per model) is read from every Node and every unfinished pod.
  const nodeInformer = new Informer<k8s.V1Node>({ path: '/api/v1/nodes', kubeConfig: kc, logger: log, name: 'nodes', transform: slimNode });
  const busyPodInformer = new Informer<k8s.V1Pod>({
    path: '/api/v1/pods', kubeConfig: kc, logger: log, name: 'gpu-pods', transform: gpuPod,
    fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed',
  });
  const capacity = () => gpuCapacity(nodeInformer.values(), busyPodInformer.values());
  const informers = [...jobInformers, ...shardInformers, ...podInformers, nodeInformer, busyPodInformer, providerInformer] as Informer<k8s.KubernetesObject>[];

  const recorder = new EventRecorder({ sink: coreEventSink(clients.core), component: 'atelier', instance: os.hostname(), logger: log });
  // Bursting: adapters per ComputeProvider (credentials from Secrets), the remote steps, the planner.
  // One adapter per ComputeProvider, built (credentials from its Secret) and probed by the
  // ComputeProvider controller; the RenderJob controller reaches them through the registry.
  const registry = new ProviderRegistry({ clock });
  const baseAdapterFor = defaultAdapterFor({ clock, clusterId: cfg.clusterName });
  const providerReconciler = new ComputeProviderReconciler({
    providers: { get: (n) => providerInformer.getByName(n), list: () => providerInformer.list() },
    adapterFor: (p, credential) => instrumentAdapter(baseAdapterFor(p, credential), p.metadata.name!, metrics.providerRequests),
    readSecret: secretReader(clients.core),
    writer: apiProviderStatusWriter(clients.custom),
    clock, recorder, log, registry,
    config: { probeIntervalMs: cfg.providerProbeMs },
  });
  const adapters = registry;
  const remoteConfig = { retryBaseMs: cfg.retryBaseMs, retryMaxMs: Math.max(cfg.retryBaseMs, 360_000), localPricePerGpuHourMicros: parseMicros(cfg.localPricePerGpuHour), maxStartsPerReconcile: 500, pollIntervalMs: cfg.remotePollMs, providerTimeoutMs: cfg.providerTimeoutMs };
  const onVerification = (provider: string, result: 'verified' | 'failed' | 'skipped', message?: string) => {
    metrics.settlement.verification(provider, result);
    if (result === 'failed') registry.recordVerificationFailure(provider, message ?? 'verification failed');
  };
  const remote = new RemoteShards(adapters, clock, log, recorder, remoteConfig, metrics.jobs, (provider, ok, message) => registry.recordOutcome(provider, ok, message), onVerification);
  // On-chain settlement of jobs with spec.settlement.enabled: one step at a time (one wallet).
  let enqueueJob: (key: string) => void = () => {};
  const settlement = cfg.settlement ? new SettlementController({
    cfg: cfg.settlement, jobs: new MultiLister(jobInformers), shards: new MultiLister(shardInformers),
    providers: { get: (n) => providerInformer.getByName(n) }, readSecret: secretReader(clients.core),
    writeSettlement: async (namespace, name, body) => {
      metrics.apiWrites.inc({ kind: 'jobSettlement' });
      await clients.custom.patchNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, plural: 'renderjobs', namespace, name, body: { status: { settlement: body } } }, mergePatch())
        .catch((e) => { if (!isNotFound(e)) throw e; });
    },
    recorder, log, metrics: metrics.settlement, clock, onChange: (key) => enqueueJob(key),
    ...(process.env.ATELIER_TEST_KILL_AFTER_SEND ? { afterBroadcast: killAfterSend(process.env.ATELIER_TEST_KILL_AFTER_SEND, log) } : {}),
  }) : undefined;
  const shardsInFlight = (provider: string) => shardInformers.reduce((n, i) => n + i.countByIndex(INDEX_PROVIDER, provider), 0);
  const place = makePlacer({ capacity, providers: new CachedProviders(() => providerInformer.values(), shardsInFlight), clock });

  const expectations = new Expectations({ onExpired: (owner, kind, name) => log.warn('expectation expired: an informer event was lost', { job: owner, kind, pod: name }) });
  const writer = new ApiJobWriter(clients, (kind) => metrics.apiWrites.inc({ kind }));
  const reconciler = new RenderJobReconciler({
    jobs: new MultiLister(jobInformers), shards: new MultiLister(shardInformers), pods: new MultiLister(podInformers),
    writer, recorder, clock, expectations, log, metrics: metrics.jobs, remote, place, onVerification,
    ...(settlement ? { settlement } : {}), providerNames: () => providerInformer.list().map((p) => p.metadata.name!),
    // Progress-only status changes are written at most every 10 s per job (phase and outcome at once):
    // at 5 s a 10-shard job under load still wrote its status 11 times (benchmark, 4.22 writes/shard).
    config: { ...remoteConfig, writeConcurrency: 32, statusMinIntervalMs: 10_000 },
  });
  const controller = new Controller({
    name: 'renderjob', workers: cfg.workers, logger: log,
    queueMetrics: metrics.queues.forQueue('renderjob'), metrics: metrics.controllers.forController('renderjob'),
    reconcile: async (key) => {
      const r = await reconciler.reconcile(key);
      return r.requeueAfterMs !== undefined ? { requeueAfter: r.requeueAfterMs } : {};
    },
  });
  enqueueJob = (key) => controller.enqueue(key);
  const settlementController = settlement ? new Controller({
    name: 'settlement', workers: 1, logger: log,
    queueMetrics: metrics.queues.forQueue('settlement'), metrics: metrics.controllers.forController('settlement'),
    reconcile: async (key) => {
      const r = await settlement.reconcile(key);
      return r.requeueAfterMs !== undefined ? { requeueAfter: r.requeueAfterMs } : {};
    },
  }) : undefined;
  const providerController = new Controller({
    name: 'computeprovider', workers: 2, logger: log,
    queueMetrics: metrics.queues.forQueue('computeprovider'), metrics: metrics.controllers.forController('computeprovider'),
    reconcile: async (name) => {
      const r = await providerReconciler.reconcile(name);
      return r.requeueAfterMs !== undefined ? { requeueAfter: r.requeueAfterMs } : {};
    },
  });
  const enqueueProvider = (p: ComputeProvider) => providerController.enqueue(p.metadata.name!);
  providerInformer.addEventHandler({ add: enqueueProvider, update: (_o, p) => enqueueProvider(p), delete: enqueueProvider });
  registry.onChange((name) => providerController.enqueue(name));
  const enqueue = (key: string | undefined) => { if (key) controller.enqueue(key); };
  const jobKeyOfPod = (p: k8s.V1Pod) => (p.metadata?.labels?.[LABEL_JOB] ? `${p.metadata.namespace}/${p.metadata.labels[LABEL_JOB]}` : undefined);
  for (const i of jobInformers) {
    i.addEventHandler({
      // A job nobody has looked at yet goes ahead of the backlog: its first pods should not wait
      // behind the pod events of jobs already running.
      add: (j) => { const k = `${j.metadata!.namespace}/${j.metadata!.name}`; if ((j as RenderJobObject).status?.observedGeneration === undefined) controller.enqueueUrgent(k); else enqueue(k); },
      update: (_o, j) => enqueue(`${j.metadata!.namespace}/${j.metadata!.name}`),
      delete: (j) => enqueue(`${j.metadata!.namespace}/${j.metadata!.name}`),
    });
  }
  for (const i of shardInformers) {
    const k = (s: RenderShardObject) => (s.spec?.jobName ? `${s.metadata.namespace}/${s.spec.jobName}` : undefined);
    i.addEventHandler({ add: (s) => enqueue(k(s)), update: (_o, s) => enqueue(k(s)), delete: (s) => enqueue(k(s)) });
  }
  if (settlementController) {
    // Settled jobs only: their job and shard changes are what moves escrows.
    const jobs = new MultiLister(jobInformers);
    const settles = (key: string | undefined) => {
      if (!key) return;
      const [ns, n] = key.split('/') as [string, string];
      if (jobs.get(ns, n)?.spec.settlement?.enabled) settlementController.enqueue(key);
    };
    for (const i of jobInformers) {
      const k = (j: k8s.KubernetesObject) => `${j.metadata!.namespace}/${j.metadata!.name}`;
      i.addEventHandler({ add: (j) => settles(k(j)), update: (_o, j) => settles(k(j)), delete: (j) => settlementController.enqueue(k(j)) });
    }
    for (const i of shardInformers) {
      const k = (s: RenderShardObject) => (s.spec?.jobName ? `${s.metadata.namespace}/${s.spec.jobName}` : undefined);
      i.addEventHandler({ add: (s) => settles(k(s)), update: (_o, s) => settles(k(s)), delete: (s) => settles(k(s)) });
    }
  }
  // New offers or a provider coming back may let waiting shards burst: look at unfinished jobs again.
  const requeueUnfinished = () => {
    for (const i of jobInformers) for (const j of i.values()) if (j.status?.phase !== 'Succeeded' && j.status?.phase !== 'Failed') enqueue(`${j.metadata!.namespace}/${j.metadata!.name}`);
  };
  providerInformer.addEventHandler({ add: requeueUnfinished, update: requeueUnfinished, delete: requeueUnfinished });
  for (const i of podInformers) {
    i.addEventHandler({
      add: (p) => { const k = jobKeyOfPod(p); if (k) { expectations.observeCreate(k, p.metadata!.name!); enqueue(k); } },
      update: (_o, p) => enqueue(jobKeyOfPod(p)),
      delete: (p) => { const k = jobKeyOfPod(p); if (k) { expectations.observeDelete(k, p.metadata!.name!); enqueue(k); } },
    });
  }

  // [subnet signer] With --payout-key-secret: sign the results of settled shards peers send here (controllers/subnetsigner.ts).
  const signer = cfg.payoutKeySecret ? await createSubnetSigner({
    ref: cfg.payoutKeySecret, readSecret: secretReader(clients.core), custom: clients.custom, shards: new MultiLister(shardInformers), jobs: new MultiLister(jobInformers),
    recorder, log, queueMetrics: metrics.queues.forQueue('subnetsigner'), metrics: metrics.controllers.forController('subnetsigner'),
  }) : undefined;
  if (signer) for (const i of shardInformers) i.addEventHandler(signer.handler);
  // [/subnet signer]

  const server = new RuntimeServer({
    address: cfg.metricsAddr, registry: metrics.registry, logger: log,
    readyChecks: { informers: () => informers.every((i) => i.hasSynced()) },
  });
  await server.start(); // logs "serving health and metrics" with the bound address

  for (const i of informers) i.start();
  const shutdown = new GracefulShutdown({ timeoutMs: cfg.shutdownTimeoutMs, logger: log });
  let controllerRun: Promise<void> | undefined;
  const startController = async () => {
    await Promise.all(informers.map((i) => i.waitForSync()));
    const gpus = Object.fromEntries([...capacity().values()].map((m) => [m.model, `${m.free}/${m.allocatable}`]));
    log.info('caches synced, starting controllers', { workers: cfg.workers, freeGpusByModel: gpus });
    if (settlement) {
      // Reach the chain early, so settled jobs can burst (their shards carry the signing domain).
      void (async () => {
        for (let i = 0; !shutdown.signal.aborted; i++) {
          try { await settlement.ensureConnected(); requeueUnfinished(); return; } catch (e) {
            if (i === 0) log.warn('settlement chain not reachable yet, retrying', { error: (e as Error).message });
            await new Promise((r) => setTimeout(r, Math.min(30_000, 1000 * 2 ** Math.min(i, 5))));
          }
        }
      })();
    }
    controllerRun = Promise.all([controller.start(), providerController.start(), signer?.controller.start(), settlementController?.start()]).then(() => undefined); // [subnet signer]
  };

  let elector: LeaderElector | undefined;
  if (cfg.leaderElect) {
    elector = new LeaderElector({
      client: coordinationLeaseClient(clients.coordination),
      namespace: cfg.leaseNamespace, name: cfg.leaseName, identity: cfg.identity, logger: log,
      onStartedLeading: async () => {
        metrics.leader.set(1); // the elector logs "became leader"
        await startController();
      },
      onStoppedLeading: () => {
        metrics.leader.set(0);
        if (!shutdown.signal.aborted) {
          // Another replica may already act: stop at once rather than race it (as controller-runtime does).
          log.error('lost leadership, exiting', {});
          process.exit(1);
        }
      },
      onNewLeader: (id) => log.info('leader observed', { leader: id ?? '' }),
    });
    void elector.run();
  } else {
    metrics.leader.set(1);
    log.info('became leader', { lease: 'disabled' });
    await startController();
  }

  shutdown
    .add({ name: 'controller', run: async () => { await Promise.all([controller.stop(cfg.shutdownTimeoutMs), providerController.stop(cfg.shutdownTimeoutMs), signer?.controller.stop(cfg.shutdownTimeoutMs), settlementController?.stop(cfg.shutdownTimeoutMs)]); await controllerRun; } })
    .add({ name: 'leader-election', run: async () => { await elector?.stop(); }, onlyIfClean: true })
    .add({ name: 'events', run: () => recorder.flush() })
    .add({ name: 'informers', run: () => Promise.all(informers.map((i) => i.stop())) })
    .add({ name: 'server', run: () => server.close() })
    .install();
}
