// Builds a provider adapter from a ComputeProvider and the credential read from its Secret: the one
// place that maps a provider type to its adapter (subnet -> SubnetAdapter on the peer kubeconfig;
// the HTTP networks -> createProviderAdapter in index.ts) and turns spec.options (strings) into the
// adapter's typed options. The ComputeProvider controller calls it; nothing else builds adapters.
import type { ComputeProvider } from '../api/index.js';
import { SUPPORTED_PROVIDER_TYPES, createProviderAdapter } from './index.js';
import type { Clock, ProviderAdapter, ProviderType } from './types.js';
import { createSubnetAdapter, type SubnetOptions } from './subnet/adapter.js';

/** Annotation on a subnet ComputeProvider: what the peer charges per GPU-hour (USD decimal). */
export const SUBNET_PRICE_ANNOTATION = 'atelier.dev/price-per-gpu-hour';

/** Builds the adapter of a provider from its spec and the credential value read from its Secret. */
export type AdapterFactory = (provider: ComputeProvider, credentials: string) => ProviderAdapter;

export interface AdapterFactoryOptions {
  clock?: Clock;
  /** Identifies this cluster on the peer's objects (subnet providers). */
  clusterId?: string;
  /** Defaults for subnet adapters; the price comes from the provider's SUBNET_PRICE_ANNOTATION. */
  subnet?: Partial<SubnetOptions>;
}

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
