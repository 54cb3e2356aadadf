// RuntimeServer: /healthz, /readyz with checks (and verbose listing), /metrics from a Registry,
// address parsing, close().
import { Counter, Registry } from 'prom-client';
import { parseAddress, RuntimeServer } from './server.js';

describe('parseAddress', () => {
  it.each([
    [':8080', { host: undefined, port: 8080 }],
    ['0.0.0.0:9090', { host: '0.0.0.0', port: 9090 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    ['[::1]:8443', { host: '::1', port: 8443 }],
  ])('%s', (addr, want) => {
    expect(parseAddress(addr)).toEqual(want);
  });

  it('rejects garbage', () => {
    expect(() => parseAddress('8080')).toThrow(/invalid listen address/);
  });
});

describe('RuntimeServer', () => {
  let server: RuntimeServer;
  afterEach(async () => server?.close());

  it('serves health, readiness and metrics', async () => {
    const registry = new Registry();
    new Counter({ name: 'atelier_test_total', help: 'test', registers: [registry] }).inc(3);
    let synced = false;
    server = new RuntimeServer({ address: '127.0.0.1:0', registry, readyChecks: { informers: () => synced } });
    server.addReadyCheck('leader', async () => true);
    const { port } = await server.start();
    const get = async (path: string) => {
      const r = await fetch(`http://127.0.0.1:${port}${path}`);
      return { status: r.status, body: await r.text(), type: r.headers.get('content-type') };
    };
    expect((await get('/healthz')).status).toBe(200);
    const notReady = await get('/readyz');
    expect(notReady.status).toBe(503);
    expect(notReady.body).toContain('[-]informers failed');
    expect(notReady.body).not.toContain('leader');
    synced = true;
    const ready = await get('/readyz?verbose');
    expect(ready.status).toBe(200);
    expect(ready.body).toBe('[+]informers ok\n[+]leader ok\nok\n');
    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('atelier_test_total 3');
    expect(metrics.type).toContain('text/plain');
    expect((await get('/nope')).status).toBe(404);
  });

  it('fails a check that throws or hangs', async () => {
    server = new RuntimeServer({
      address: '127.0.0.1:0',
      checkTimeoutMs: 50,
      readyChecks: { broken: () => { throw new Error('cache lost'); }, hung: () => new Promise(() => undefined) },
    });
    const { port } = await server.start();
    const r = await fetch(`http://127.0.0.1:${port}/readyz`);
    const body = await r.text();
    expect(r.status).toBe(503);
    expect(body).toContain('[-]broken failed: cache lost');
    expect(body).toContain('[-]hung failed: timed out after 50 ms');
  });

  it('closes with keep-alive connections open', async () => {
    server = new RuntimeServer({ address: '127.0.0.1:0' });
    const { port } = await server.start();
    await (await fetch(`http://127.0.0.1:${port}/healthz`)).text();
    await server.close();
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });
});
