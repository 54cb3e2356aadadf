// Provider adapters for the RenderJob controller, one per ComputeProvider: built from the provider's
// spec (type, endpoint, options) and the credential read from its Secret, and rebuilt when either
// changes. The credential is held only inside the adapter; it is never logged or put in an error.
import type { ComputeProvider } from '../../api/index.js';
import { createProviderAdapter, type ProviderAdapter } from '../../providers/index.js';
import type { AdapterSource } from './remote.js';

export type SecretReader = (namespace: string, name: string, key: string) => Promise<string | undefined>;
export type AdapterBuilder = (provider: ComputeProvider, credential: string) => ProviderAdapter;

/** Numbers in options arrive as strings (the CRD keeps them uniform); adapters expect numbers where they say so. */
function typedOptions(o: Record<string, string> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o ?? {})) out[k] = /^(bidTimeoutMs|exposePort|cpu|memoryGi|storageGi|timeoutMs)$/.test(k) ? Number(v) : v;
  return out;
}

/** The default builder: the HTTP adapters by type. (subnet is added by the caller's builder.) */
export const httpAdapterBuilder: AdapterBuilder = (p, credential) => {
  if (p.spec.type !== 'akash' && p.spec.type !== 'render' && p.spec.type !== 'bittensor') {
    throw new Error(`ComputeProvider ${p.metadata.name}: type ${p.spec.type} has no adapter in this operator`);
  }
  if (!p.spec.endpoint) throw new Error(`ComputeProvider ${p.metadata.name}: spec.endpoint is required for type ${p.spec.type}`);
  return createProviderAdapter({ type: p.spec.type, endpoint: p.spec.endpoint, credential, options: typedOptions(p.spec.options) });
};

export class ProviderAdapters implements AdapterSource {
  private readonly cache = new Map<string, { version: string; adapter: ProviderAdapter; at: number }>();

  constructor(
    private readonly providers: { get(name: string): ComputeProvider | undefined },
    private readonly readSecret: SecretReader,
    private readonly build: AdapterBuilder,
    private readonly clock: { now(): number },
    /** Credentials are read again after this long, so a rotated Secret is picked up. */
    private readonly refreshMs = 5 * 60_000,
  ) {}

  async get(name: string): Promise<ProviderAdapter | undefined> {
    const p = this.providers.get(name);
    if (!p) return undefined;
    const version = p.metadata.resourceVersion ?? '';
    const hit = this.cache.get(name);
    if (hit && hit.version === version && this.clock.now() - hit.at < this.refreshMs) return hit.adapter;
    const ref = p.spec.credentialsSecretRef ?? (p.spec.type === 'subnet' ? p.spec.subnet?.kubeconfigSecretRef : undefined);
    let credential = '';
    if (ref) {
      const v = await this.readSecret(ref.namespace, ref.name, ref.key);
      if (v === undefined) return undefined;
      credential = v;
    }
    const adapter = this.build(p, credential);
    this.cache.set(name, { version, adapter, at: this.clock.now() });
    return adapter;
  }

  /** Drops a cached adapter (the provider was deleted, or its credential was refused). */
  forget(name: string): void {
    this.cache.delete(name);
  }
}
