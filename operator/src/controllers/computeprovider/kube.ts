// The ComputeProvider controller's ties to the outside, kept apart from the reconciler so it can be
// tested with in-memory fakes: the status writer (merge patch of the status subresource, with
// removed fields sent as null), the Secret reader (one decoded key, nothing cached or logged), and
// the default adapter factory (subnet -> SubnetAdapter on the peer kubeconfig; akash, render and
// bittensor -> providers/index.ts createProviderAdapter).
import type * as k8s from '@kubernetes/client-node';
import { COMPUTE_PROVIDER_PLURAL, GROUP, VERSION, type ComputeProvider, type ComputeProviderStatus } from '../../api/index.js';
import { mergePatch } from '../../kube/client.js';
import { SUPPORTED_PROVIDER_TYPES, createProviderAdapter } from '../../providers/index.js';
import type { Clock, ProviderAdapter, ProviderType } from '../../providers/types.js';
import { createSubnetAdapter, type SubnetOptions } from '../../providers/subnet/adapter.js';
import type { SecretReader } from '../../runtime/index.js';
import type { AdapterFactory, ProviderStatusWriter } from './reconciler.js';

/** Annotation on a subnet ComputeProvider: what the peer charges per GPU-hour (USD decimal). */
export const SUBNET_PRICE_ANNOTATION = 'atelier.dev/price-per-gpu-hour';

export function apiProviderStatusWriter(custom: k8s.CustomObjectsApi): ProviderStatusWriter {
  return {
    async patchStatus(name: string, status: ComputeProviderStatus): Promise<void> {
      // null removes a field under merge-patch semantics (pausedReason once the breaker closes).
      const body = { status: Object.fromEntries(Object.entries(status).map(([k, v]) => [k, v === undefined ? null : v])) };
      for (const k of ['pausedReason', 'lastProbeTime'] as const) if (!(k in status)) (body.status as Record<string, unknown>)[k] = null;
      await custom.patchClusterCustomObjectStatus({ group: GROUP, version: VERSION, plural: COMPUTE_PROVIDER_PLURAL, name, body }, mergePatch());
    },
  };
}

export function secretReader(core: k8s.CoreV1Api): SecretReader {
  return async (namespace, name, key) => {
    const secret = await core.readNamespacedSecret({ namespace, name });
    const data = secret.data?.[key];
    if (data === undefined) throw new Error(`Secret ${namespace}/${name} has no key ${key}`);
    return Buffer.from(data, 'base64').toString('utf8');
  };
}

export interface AdapterFactoryOptions {
  clock?: Clock;
  /** Identifies this cluster on the peer's objects (subnet providers). */
  clusterId?: string;
  /** Defaults for subnet adapters; the price comes from the provider's SUBNET_PRICE_ANNOTATION. */
  subnet?: Partial<SubnetOptions>;
}

/** The adapter factory the manager passes to the reconciler, unless it brings its own. */
/**
 * spec.options arrive as strings (the CRD keeps them uniform). The adapters take numbers for some
 * keys, and a price table for providers that publish none (Render): `price.<gpu-model>` entries, or
 * `pricePerGpuHour` for every model in spec.gpuModels.
 */
export function typedOptions(o: Record<string, string> | undefined, gpuModels: string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const prices: Record<string, string> = {};
  for (const [k, v] of Object.entries(o ?? {})) {
    if (k.startsWith('price.')) prices[k.slice('price.'.length)] = v;
    else if (k === 'pricePerGpuHour') for (const m of gpuModels) prices[m] ??= v;
    else out[k] = /^(bidTimeoutMs|exposePort|cpu|memoryGi|storageGi|timeoutMs|findByKeyMaxPages|minRamGb|minStorageGb|defaultMaxRunMs)$/.test(k) ? Number(v) : v;
  }
  if (Object.keys(prices).length) out.prices = prices;
  return out;
}

export function defaultAdapterFor(options: AdapterFactoryOptions = {}): AdapterFactory {
  return (p: ComputeProvider, credentials: string): ProviderAdapter => {
    const type = p.spec.type;
    if (type === 'subnet') {
      if (!p.spec.subnet) throw new Error('spec.subnet is required for type subnet');
      const price = p.spec.options?.pricePerGpuHour ?? p.metadata.annotations?.[SUBNET_PRICE_ANNOTATION];
      return createSubnetAdapter(credentials, p.spec.subnet.namespace, {
        ...(options.subnet ?? {}),
        ...(options.clusterId ? { originCluster: options.clusterId } : {}),
        ...(price !== undefined ? { pricePerGpuHour: price } : {}),
      }, options.clock);
    }
    if (!(SUPPORTED_PROVIDER_TYPES as readonly string[]).includes(type)) throw new Error(`no adapter for provider type ${type} yet`);
    if (!p.spec.endpoint) throw new Error(`spec.endpoint is required for type ${type}`);
    return createProviderAdapter({ type: type as ProviderType, endpoint: p.spec.endpoint, credential: credentials, options: typedOptions(p.spec.options, p.spec.gpuModels), ...(options.clock ? { clock: options.clock } : {}) });
  };
}
