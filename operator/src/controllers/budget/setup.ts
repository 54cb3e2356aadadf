// The RenderBudget controller's setup: builds the budget ledger over the shared caches (budgets, jobs,
// the RenderShards' job index, the provider registry's prices) — the ledger the RenderJob placer
// reserves through — and the reconciler that writes each budget's status, and registers its watches:
// budgets themselves, RenderShards and RenderJobs of namespaces that have budgets (spent and reserved
// move with them), and the ledger's own changes (a reservation, a refusal at the cap).
import type * as k8s from '@kubernetes/client-node';
import { GROUP, RENDER_BUDGET_PLURAL, VERSION, type RenderBudget, type RenderBudgetStatus } from '../../api/index.js';
import { INDEX_JOB, MultiLister } from '../../kube/cache.js';
import { mergePatch } from '../../kube/client.js';
import type { Controller } from '../../runtime/index.js';
import type { ProviderSnapshot } from '../computeprovider/registry.js';
import { controllerFor, keyOf, type OperatorContext } from '../context.js';
import { BudgetLedger } from './ledger.js';
import { BudgetReconciler, type BudgetStatusWriter } from './reconciler.js';

export interface BudgetSetup {
  controller: Controller;
  /** What the RenderJob placer reserves through. */
  ledger: BudgetLedger;
  /** Called with a namespace whose budget has room again (or changed): its waiting jobs should look again. */
  onRoom(fn: (namespace: string) => void): void;
}

export function apiBudgetStatusWriter(custom: k8s.CustomObjectsApi): BudgetStatusWriter {
  return {
    async patchStatus(namespace, name, status: RenderBudgetStatus) {
      await custom.patchNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, plural: RENDER_BUDGET_PLURAL, namespace, name, body: { status } }, mergePatch());
    },
  };
}

export function setupBudgetController(ctx: OperatorContext, providers: ProviderSnapshot): BudgetSetup {
  const { caches, clock, recorder, metrics } = ctx;
  const informers = caches.budgets ?? [];
  const inNamespace = <T extends k8s.KubernetesObject>(list: { values(): Iterable<T> }[], ns: string): T[] => list.flatMap((i) => [...i.values()].filter((o) => o.metadata?.namespace === ns));
  const ledger = new BudgetLedger({
    clock,
    budgets: (ns) => inNamespace(informers, ns),
    jobs: (ns) => inNamespace(caches.jobs, ns),
    shardsOf: (ns, job) => caches.shardLister.byIndex(INDEX_JOB, `${ns}/${job}`),
    priceOf: (provider) => {
      let max: bigint | undefined;
      for (const o of providers.plannerView().offers) if (o.provider === provider && (max === undefined || o.pricePerGpuHourMicros > max)) max = o.pricePerGpuHourMicros;
      return max;
    },
  });
  const rooms: ((ns: string) => void)[] = [];
  const reconciler = new BudgetReconciler({
    budgets: new MultiLister(informers), ledger, writer: apiBudgetStatusWriter(ctx.clients.custom), recorder, clock, metrics: metrics.budgets,
    onRoom: (ns) => { for (const fn of rooms) fn(ns); },
  });
  const controller = controllerFor(ctx, 'renderbudget', 2, reconciler);
  const enqueueNamespace = (ns: string | undefined) => { if (ns) for (const b of inNamespace(informers, ns)) controller.enqueue(keyOf(b)); };
  for (const i of informers) i.addEventHandler({ add: (b) => controller.enqueue(keyOf(b)), update: (_o, b) => controller.enqueue(keyOf(b)), delete: (b) => controller.enqueue(keyOf(b)) });
  const onObject = { add: (o: k8s.KubernetesObject) => enqueueNamespace(o.metadata?.namespace), update: (_o: k8s.KubernetesObject, o: k8s.KubernetesObject) => enqueueNamespace(o.metadata?.namespace), delete: (o: k8s.KubernetesObject) => enqueueNamespace(o.metadata?.namespace) };
  for (const i of caches.shards) i.addEventHandler(onObject);
  for (const i of caches.jobs) i.addEventHandler(onObject);
  ledger.onChange((key) => controller.enqueue(key));
  return { controller, ledger, onRoom: (fn) => { rooms.push(fn); } };
}

export type { RenderBudget };
