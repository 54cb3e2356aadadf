// What every controller's setup receives from the manager: configuration, API clients, the shared
// caches (informers and their listers), the clock, logger, Event recorder and metrics. A setup builds
// its reconciler from these, registers its own watches and event filters, and returns a started-on-
// demand Controller. Nothing here is specific to one controller, so no controller imports another.
import type * as k8s from '@kubernetes/client-node';
import type { ComputeProvider, RenderBudget, RenderJob, RenderShard } from '../api/index.js';
import type { OperatorConfig } from '../config.js';
import type { OnDemandInformer } from '../kube/cache.js';
import type { KubeClients } from '../kube/client.js';
import type { OperatorMetrics as Metrics } from '../metrics/metrics.js';
import { Controller, type Clock, type EventRecorder, type Informer, type Lister, type Log, type ReconcileResult } from '../runtime/index.js';

export interface Caches {
  jobs: Informer<RenderJob & k8s.KubernetesObject>[];
  shards: Informer<RenderShard & k8s.KubernetesObject>[];
  pods: Informer<k8s.V1Pod>[];
  nodes: Informer<k8s.V1Node>;
  /** Every unfinished pod of the cluster, slimmed to its GPUs (capacity accounting); watched only while read (a job can burst). */
  busyPods: OnDemandInformer<k8s.V1Pod>;
  providers: Informer<ComputeProvider>;
  /** RenderBudgets, one informer per watched namespace (absent: no budgets are enforced). */
  budgets?: Informer<RenderBudget & k8s.KubernetesObject>[];
  /** The per-namespace informers read as one. */
  jobLister: Lister<RenderJob & k8s.KubernetesObject>;
  shardLister: Lister<RenderShard & k8s.KubernetesObject>;
  podLister: Lister<k8s.V1Pod>;
}

export interface OperatorContext {
  cfg: OperatorConfig;
  clients: KubeClients;
  caches: Caches;
  clock: Clock;
  log: Log;
  recorder: EventRecorder;
  metrics: Metrics;
}

/** What a reconciler returns: when to look again (ms), if at all. */
export interface Reconciler {
  reconcile(key: string, signal?: AbortSignal): Promise<{ requeueAfterMs?: number }>;
}

/** A Controller over `r` with the operator's queue and reconcile metrics; errors go through the runtime's error policy. */
export function controllerFor(ctx: OperatorContext, name: string, workers: number, r: Reconciler): Controller {
  return new Controller({
    name, workers, logger: ctx.log, clock: ctx.clock,
    queueMetrics: ctx.metrics.queues.forQueue(name), metrics: ctx.metrics.controllers.forController(name),
    reconcile: async (key, signal): Promise<ReconcileResult> => {
      const res = await r.reconcile(key, signal);
      return res.requeueAfterMs !== undefined ? { requeueAfter: res.requeueAfterMs } : {};
    },
  });
}

/** "namespace/name" of a namespaced object. */
export const keyOf = (o: k8s.KubernetesObject): string => `${o.metadata!.namespace}/${o.metadata!.name}`;

/** The job key of a RenderShard, if it names its job. */
export const jobKeyOfShard = (s: RenderShard): string | undefined => (s.spec?.jobName ? `${s.metadata.namespace}/${s.spec.jobName}` : undefined);
