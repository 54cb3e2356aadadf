// Hostile provider answers at the HTTP layer every adapter shares, from a real node:http server on
// loopback: a 50 MiB body (JSON, error and file), a body that trickles a byte at a time past the
// per-attempt timeout, invalid JSON, a body cut off mid-way. Each ends as a ProviderError with a clear
// message (never a raw AbortError or an out-of-memory), within the timeout, without holding the bytes.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpClient, MAX_BYTES, MAX_JSON_BYTES, readTextLimited, retryPolicy } from './http.js';
import { ProviderError } from './types.js';

const MIB = 2 ** 20;
let server: Server;
let base = '';
const timers = new Set<NodeJS.Timeout>();

function big(res: ServerResponse, status: number, bytes: number, declare: boolean): void {
  res.writeHead(status, { 'content-type': 'application/json', ...(declare ? { 'content-length': String(bytes) } : {}) });
  const chunk = Buffer.alloc(MIB, 0x20);
  let sent = 0;
  const more = () => {
    while (sent < bytes) {
      const n = Math.min(MIB, bytes - sent);
      sent += n;
      if (!res.write(n === MIB ? chunk : chunk.subarray(0, n))) return void res.once('drain', more);
    }
    res.end();
  };
  res.on('error', () => undefined);
  more();
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '/';
    if (path === '/huge') return big(res, 200, 50 * MIB, true);
    if (path === '/huge-chunked') return big(res, 200, 50 * MIB, false);
    if (path === '/huge-error') return big(res, 500, 50 * MIB, false);
    if (path === '/invalid') { res.writeHead(200, { 'content-type': 'application/json' }); return void res.end('{"jobs": [1, 2,'); }
    if (path === '/ok') { res.writeHead(200, { 'content-type': 'application/json' }); return void res.end('{"ok":true}'); }
    if (path === '/trickle') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"status":"');
      const t = setInterval(() => res.write('a'), 100);
      timers.add(t);
      res.on('close', () => { clearInterval(t); timers.delete(t); });
      return;
    }
    if (path === '/cut') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"status":"RUN');
      setTimeout(() => res.destroy(), 50);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const t of timers) clearInterval(t);
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function client(timeoutMs = 1500): HttpClient {
  return new HttpClient({
    provider: 'render', endpoint: base, fetch: (i, init) => fetch(i, init), clock: { now: () => Date.now(), sleep: async () => undefined } as never,
    timeoutMs, retry: retryPolicy({ maxAttempts: 1 }), secrets: [], authHeaders: () => ({}),
  });
}

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p;
  } catch (e) {
    return e as ProviderError;
  }
  throw new Error('expected a failure');
}

test.each([
  { what: 'a 50 MiB JSON answer (declared length)', path: '/huge', message: new RegExp(`answer larger than ${MAX_JSON_BYTES} bytes`) },
  { what: 'a 50 MiB JSON answer (chunked)', path: '/huge-chunked', message: new RegExp(`answer larger than ${MAX_JSON_BYTES} bytes`) },
  { what: 'a body that trickles past the timeout', path: '/trickle', message: /no complete answer within 1500 ms/ },
  { what: 'invalid JSON', path: '/invalid', message: /unparseable JSON response/ },
  { what: 'a body cut off mid-way', path: '/cut', message: /answer cut off|no complete answer/ },
])('$what ends as a ProviderError', async ({ path, message }) => {
  const t0 = Date.now();
  const e = await failure(client().json({ method: 'GET', path, idempotent: true }));
  expect(e).toBeInstanceOf(ProviderError);
  expect(e.message).toMatch(message);
  expect(Date.now() - t0).toBeLessThan(10_000);
});

test('a 50 MiB error answer is classified by its status, its text bounded', async () => {
  const e = await failure(client().json({ method: 'GET', path: '/huge-error', idempotent: true }));
  expect(e).toBeInstanceOf(ProviderError);
  expect(e).toMatchObject({ kind: 'transient', status: 500 });
  expect(e.message.length).toBeLessThan(1000);
});

test('a file larger than the bytes() cap is refused; a normal answer still parses', async () => {
  expect(MAX_BYTES).toBeGreaterThan(MAX_JSON_BYTES);
  const e = await failure(client().bytes({ method: 'GET', path: '/huge-chunked', idempotent: true, maxBytes: 16 * MIB }));
  expect(e.message).toMatch(new RegExp(`answer larger than ${16 * MIB} bytes`));
  await expect(client().json({ method: 'GET', path: '/ok', idempotent: true })).resolves.toEqual({ ok: true });
});

test('what adapters fetch outside the API (Akash result agent, Vast.ai presigned log) is bounded too', async () => {
  await expect(fetch(`${base}/huge-chunked`).then((r) => readTextLimited(r))).rejects.toThrow('answer too large');
  await expect(fetch(`${base}/ok`).then((r) => readTextLimited(r))).resolves.toBe('{"ok":true}');
});
