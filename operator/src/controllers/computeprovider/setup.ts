// The ComputeProvider controller's setup: builds the registry (the planner's one view of providers,
// its in-flight counts read from the RenderShard cache's provider index) and the reconciler (probes,
// breaker, status), and registers its watches: ComputeProvider events, registry changes (breaker
// transitions, offers), and RenderShards whose in-flight provider changed, so IN-FLIGHT on the
// ComputeProvider is the live count.
import type { RenderShard } from '../../api/index.js';
import { INDEX_PROVIDER, inFlightAt } from '../../kube/cache.js';
import { defaultAdapterFor } from '../../providers/factory.js';
import { instrumentAdapter } from '../../providers/instrument.js';
import type { Controller } from '../../runtime/index.js';
import { controllerFor, type OperatorContext } from '../context.js';
import { apiProviderStatusWriter, secretReader } from './kube.js';
import { ComputeProviderReconciler } from './reconciler.js';
import { ProviderRegistry } from './registry.js';

export interface ComputeProviderSetup {
  controller: Controller;
  registry: ProviderRegistry;
}

/** Providers whose in-flight count an update of `s` changes. */
export function inFlightChanges(old: RenderShard | undefined, now: RenderShard | undefined): string[] {
  const a = old ? inFlightAt(old) : [];
  const b = now ? inFlightAt(now) : [];
  if (a[0] === b[0]) return [];
  return [...a, ...b];
}

export function setupComputeProviderController(ctx: OperatorContext): ComputeProviderSetup {
  const { caches, clock, cfg, metrics } = ctx;
  const registry = new ProviderRegistry({
    clock,
    inFlight: (provider) => caches.shards.reduce((n, i) => n + i.countByIndex(INDEX_PROVIDER, provider), 0),
  });
  const baseAdapterFor = defaultAdapterFor({ clock, clusterId: cfg.clusterName });
  const reconciler = new ComputeProviderReconciler({
    providers: { get: (n) => caches.providers.getByName(n), list: () => caches.providers.list() },
    adapterFor: (p, credential) => instrumentAdapter(baseAdapterFor(p, credential), p.metadata.name!, metrics.providerRequests),
    readSecret: secretReader(ctx.clients.core, ctx.cfg.secretsNamespace),
    writer: apiProviderStatusWriter(ctx.clients.custom),
    clock, recorder: ctx.recorder, log: ctx.log, registry,
    config: { probeIntervalMs: cfg.providerProbeMs },
  });
  const controller = controllerFor(ctx, 'computeprovider', 2, reconciler);
  const enqueue = (name: string | undefined) => { if (name) controller.enqueue(name); };
  caches.providers.addEventHandler({ add: (p) => enqueue(p.metadata.name), update: (_o, p) => enqueue(p.metadata.name), delete: (p) => enqueue(p.metadata.name) });
  registry.onChange(enqueue);
  for (const i of caches.shards) {
    i.addEventHandler({
      add: (s) => inFlightChanges(undefined, s).forEach(enqueue),
      update: (o, s) => inFlightChanges(o, s).forEach(enqueue),
      delete: (s) => inFlightChanges(s, undefined).forEach(enqueue),
    });
  }
  return { controller, registry };
}
