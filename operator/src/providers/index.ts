// The one place that builds provider adapters: given a ComputeProvider's type, endpoint and options
// and the credential value the caller read from its Secret, returns a ProviderAdapter. Controllers
// call this and then hold only the interface (types.ts). The credential value is parsed here per
// provider (a bare API key for Akash, Chutes, Nosana and Vast.ai; `{"publicKey","secretKey"}` JSON or
// `publicKey:secretKey` for Render) and never echoed in an error. Keep one adapter per
// ComputeProvider for the life of the process: adapters hold process-local state (Akash manifests
// awaiting a lease, the Chutes submission journal) that a fresh instance per call would lose.

import { AkashAdapter } from './akash/adapter.js';
import type { AkashOptions } from './akash/adapter.js';
import { ChutesAdapter } from './bittensor/adapter.js';
import type { ChutesOptions } from './bittensor/adapter.js';
import { NosanaAdapter } from './nosana/adapter.js';
import type { NosanaOptions } from './nosana/adapter.js';
import { RenderAdapter } from './render/adapter.js';
import type { RenderOptions } from './render/adapter.js';
import { VastAdapter } from './vastai/adapter.js';
import type { VastOptions } from './vastai/adapter.js';
import { ProviderError } from './types.js';
import type { Clock, FetchLike, ProviderAdapter, ProviderType, RetryPolicy, SubmissionJournal } from './types.js';

export * from './types.js';
export { AkashAdapter, ChutesAdapter, NosanaAdapter, RenderAdapter, VastAdapter };
export type { AkashOptions, ChutesOptions, NosanaOptions, RenderOptions, VastOptions };

export interface ProviderConfig {
  type: ProviderType;
  endpoint: string;
  /** The Secret's value for credentialsSecretRef.key, as read by the caller. */
  credential: string;
  options?: Record<string, unknown>;
  fetch?: FetchLike;
  clock?: Clock;
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Chutes only: a durable key -> job id store. */
  journal?: SubmissionJournal;
}

export const SUPPORTED_PROVIDER_TYPES: readonly ProviderType[] = ['akash', 'render', 'bittensor', 'nosana', 'vastai'];

export function createProviderAdapter(cfg: ProviderConfig): ProviderAdapter {
  const common = { endpoint: cfg.endpoint, ...(cfg.fetch ? { fetch: cfg.fetch } : {}), ...(cfg.clock ? { clock: cfg.clock } : {}), ...(cfg.timeoutMs ? { timeoutMs: cfg.timeoutMs } : {}), ...(cfg.retry ? { retry: cfg.retry } : {}) };
  const credential = cfg.credential.trim();
  if (!credential) throw new ProviderError(cfg.type, 'auth', 'empty credential');
  switch (cfg.type) {
    case 'akash':
      return new AkashAdapter({ ...common, credentials: { apiKey: credential }, options: (cfg.options ?? {}) as Partial<AkashOptions> });
    case 'render':
      return new RenderAdapter({ ...common, credentials: parseRenderCredential(credential), options: (cfg.options ?? {}) as Partial<RenderOptions> });
    case 'bittensor':
      return new ChutesAdapter({ ...common, credentials: { apiKey: credential }, options: (cfg.options ?? {}) as Partial<ChutesOptions>, ...(cfg.journal ? { journal: cfg.journal } : {}) });
    case 'nosana':
      return new NosanaAdapter({ ...common, credentials: { apiKey: credential }, options: (cfg.options ?? {}) as Partial<NosanaOptions> });
    case 'vastai':
      return new VastAdapter({ ...common, credentials: { apiKey: credential }, options: (cfg.options ?? {}) as Partial<VastOptions> });
    default:
      throw new ProviderError(cfg.type, 'invalid', `unsupported provider type ${JSON.stringify(cfg.type)}`);
  }
}

function parseRenderCredential(value: string): { publicKey: string; secretKey: string } {
  if (value.startsWith('{')) {
    try {
      const o = JSON.parse(value) as { publicKey?: unknown; secretKey?: unknown };
      if (typeof o.publicKey === 'string' && typeof o.secretKey === 'string') return { publicKey: o.publicKey, secretKey: o.secretKey };
    } catch {
      // Fall through to the error below, which must not quote the value.
    }
    throw new ProviderError('render', 'auth', 'render credential JSON needs string publicKey and secretKey');
  }
  const colon = value.indexOf(':');
  if (colon <= 0 || colon === value.length - 1) throw new ProviderError('render', 'auth', 'render credential must be "publicKey:secretKey" or JSON');
  return { publicKey: value.slice(0, colon), secretKey: value.slice(colon + 1) };
}
