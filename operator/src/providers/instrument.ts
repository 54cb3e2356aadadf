// Wraps a provider adapter so every API call is timed and counted in
// atelier_provider_request_duration_seconds{provider, operation, result}, where result is `ok` or
// the ProviderError kind. The adapter itself stays unaware of metrics.
import type { Histogram } from 'prom-client';
import { ProviderError, type ProviderAdapter } from './types.js';

const OPERATIONS = new Set(['listOffers', 'submit', 'findByKey', 'getStatus', 'logs', 'getResults', 'cancel', 'getCost']);

export function instrumentAdapter(adapter: ProviderAdapter, provider: string, histogram: Histogram<'provider' | 'operation' | 'result'>, now: () => number = () => performance.now()): ProviderAdapter {
  return new Proxy(adapter, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof prop !== 'string' || !OPERATIONS.has(prop) || typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        const t0 = now();
        let result = 'ok';
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } catch (e) {
          result = e instanceof ProviderError ? e.kind : 'error';
          throw e;
        } finally {
          histogram.observe({ provider, operation: prop, result }, (now() - t0) / 1000);
        }
      };
    },
  });
}
