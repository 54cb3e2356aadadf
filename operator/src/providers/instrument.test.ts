import { Histogram, Registry } from 'prom-client';
import { instrumentAdapter } from './instrument.js';
import { ProviderError, type ProviderAdapter } from './types.js';

test('calls are timed by provider, operation and result kind', async () => {
  const registry = new Registry();
  const h = new Histogram({ name: 'h', help: 'h', labelNames: ['provider', 'operation', 'result'], registers: [registry] });
  let t = 0;
  const fake = {
    type: 'akash',
    getStatus: async () => ({ phase: 'Running', raw: 'active' }),
    cancel: async () => { throw new ProviderError('akash', 'rateLimited', 'slow down'); },
  } as unknown as ProviderAdapter;
  const a = instrumentAdapter(fake, 'akash-east', h, () => (t += 250));
  expect(a.type).toBe('akash');
  await expect(a.getStatus('1')).resolves.toMatchObject({ phase: 'Running' });
  await expect(a.cancel('1')).rejects.toThrow('slow down');
  const text = await registry.metrics();
  expect(text).toContain('h_count{provider="akash-east",operation="getStatus",result="ok"} 1');
  expect(text).toContain('h_count{provider="akash-east",operation="cancel",result="rateLimited"} 1');
  expect(text).toContain('h_sum{provider="akash-east",operation="getStatus",result="ok"} 0.25');
});
