// The two networks added beside Akash, Render and Chutes, as the rest of the operator sees them:
// the factory builds Nosana and Vast.ai adapters from a bare API key, the ComputeProvider's string
// options reach them typed (the controller's typedOptions, then each adapter's own parsing), their
// capabilities say what each can do, and a 402 from any provider is an InsufficientFundsError that
// is not retried. Adapter behaviour against the fakes is in test/fakes/{nosana,vastai}.test.ts.

import { typedOptions } from './factory.js';
import { HttpClient, retryPolicy } from './http.js';
import { SUPPORTED_PROVIDER_TYPES, createProviderAdapter } from './index.js';
import { nosanaOptions } from './nosana/adapter.js';
import { InsufficientFundsError, ProviderError, isInsufficientFunds } from './types.js';
import { vastOptions } from './vastai/adapter.js';

describe('Nosana and Vast.ai in the factory', () => {
  test('both are supported types, built from a bare API key, with honest capabilities', () => {
    expect(SUPPORTED_PROVIDER_TYPES).toEqual(expect.arrayContaining(['nosana', 'vastai']));
    const nosana = createProviderAdapter({ type: 'nosana', endpoint: 'https://dashboard.k8s.prd.nos.ci/api', credential: ' nos_key \n' });
    const vast = createProviderAdapter({ type: 'vastai', endpoint: 'https://console.vast.ai', credential: 'vast_key' });
    expect(nosana.capabilities()).toMatchObject({ provider: 'nosana', findByKey: 'remote', endsByItself: true, billing: 'perSecond', maxGpusPerJob: 1 });
    expect(vast.capabilities()).toMatchObject({ provider: 'vastai', findByKey: 'remote', endsByItself: false, billing: 'perSecond' });
    expect(() => createProviderAdapter({ type: 'vastai', endpoint: 'https://console.vast.ai', credential: '  ' })).toThrow(ProviderError);
  });

  test('ComputeProvider options (strings) reach the adapters typed', () => {
    const fromCr = typedOptions({ pricePerGpuHour: '1.90', 'market.nvidia-h100': 'MarketAddr', timeoutMinutes: '45' }, ['nvidia-h100']);
    expect(nosanaOptions(fromCr)).toEqual({ markets: { 'nvidia-h100': 'MarketAddr' }, prices: { 'nvidia-h100': '1.90' }, timeoutMinutes: 45 });
    expect(vastOptions(typedOptions({ diskGb: '50', logTail: 'x' }))).toMatchObject({ diskGb: 50, logTail: 1000 });
  });
});

describe('402 from a provider', () => {
  test('is an InsufficientFundsError: named, status 402, not retried, secrets redacted', async () => {
    let calls = 0;
    const http = new HttpClient({
      provider: 'vastai',
      endpoint: 'http://provider.test',
      fetch: async () => {
        calls++;
        return new Response(JSON.stringify({ success: false, error: 'insufficient_credit', msg: 'balance too low for key sk_live_secret' }), { status: 402 });
      },
      clock: { now: () => 0, sleep: async () => {} },
      timeoutMs: 1000,
      retry: retryPolicy(),
      secrets: ['sk_live_secret'],
      authHeaders: () => ({}),
    });
    const err = await http.json({ method: 'GET', path: '/x', idempotent: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InsufficientFundsError);
    expect(isInsufficientFunds(err)).toBe(true);
    expect(err).toMatchObject({ name: 'InsufficientFundsError', provider: 'vastai', status: 402, kind: 'insufficientFunds' });
    expect((err as InsufficientFundsError).retryable).toBe(false);
    expect((err as Error).message).toContain('balance too low');
    expect((err as Error).message).not.toContain('sk_live_secret');
    expect(calls).toBe(1);
    expect(isInsufficientFunds(new ProviderError('vastai', 'fatal', 'other'))).toBe(false);
  });
});
