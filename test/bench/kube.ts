// The benchmark's own Kubernetes client: one keep-alive HTTPS agent with a fixed number of sockets,
// JSON requests with a small retry on overload, a watch stream that stamps each event with its
// arrival time, and raw text reads (the API server's /metrics). It is deliberately thin: the
// "limit" contender must measure the API server, not a client library, and every contender submits
// through this same client so that none of them is slowed by another's tooling.
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import * as k8s from '@kubernetes/client-node';

export class ApiError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface Kube {
  /** The API server's URL, e.g. https://127.0.0.1:6443. */
  readonly server: string;
  /** Sends a JSON request; 409 AlreadyExists on POST counts as success when idempotent is set. */
  request<T = unknown>(method: string, path: string, body?: unknown, opts?: { contentType?: string; idempotent?: boolean }): Promise<T>;
  /** GET as text (e.g. /metrics). */
  text(path: string): Promise<string>;
  /**
   * Streams a watch until the server closes it or signal aborts; onEvent gets each event with the
   * performance.now() of its arrival. Resolves with the last resourceVersion seen.
   */
  watch(path: string, onEvent: (type: WatchEventType, obj: KObject, at: number) => void, signal: AbortSignal): Promise<string | undefined>;
  /** Requests retried after 429/5xx (overload) so far. */
  retries(): number;
  close(): void;
}

export interface KObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; labels?: Record<string, string>; creationTimestamp?: string; finalizers?: string[] };
  spec?: Record<string, unknown> & { nodeName?: string };
  status?: Record<string, unknown> & { phase?: string };
  [k: string]: unknown;
}

export interface KList { metadata: { resourceVersion?: string; continue?: string }; items: KObject[] }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A client for the cluster in kubeconfigPath with at most maxSockets requests on the wire. */
export async function connect(kubeconfigPath: string, maxSockets = 64): Promise<Kube> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error(`${kubeconfigPath}: no current cluster`);
  const tls: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(tls);
  const url = new URL(cluster.server);
  const authHeaders = Object.fromEntries(Object.entries(tls.headers ?? {}).map(([k, v]) => [k, String(v)]));
  const agentOpts = { ca: tls.ca, cert: tls.cert, key: tls.key };
  const agent = new https.Agent({ ...agentOpts, keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  // Watches hold their connection for minutes: they get their own agent so they never take a request socket.
  const watchAgent = new https.Agent({ ...agentOpts, keepAlive: false });
  let retried = 0;

  const send = (method: string, path: string, body: string | undefined, headers: Record<string, string>, a: https.Agent) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = https.request({ host: url.hostname, port: url.port, path, method, agent: a, headers: { ...authHeaders, ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });

  const request = async <T>(method: string, path: string, body?: unknown, opts: { contentType?: string; idempotent?: boolean } = {}): Promise<T> => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (payload !== undefined) headers['Content-Type'] = opts.contentType ?? 'application/json';
    for (let attempt = 0; ; attempt++) {
      let res: { status: number; text: string };
      try {
        res = await send(method, path, payload, headers, agent);
      } catch (e) {
        // A connection reset under load: retry a few times like client-go would.
        if (attempt < 5) { retried++; await sleep(100 * 2 ** attempt); continue; }
        throw e;
      }
      if (res.status < 300) return (res.text ? JSON.parse(res.text) : undefined) as T;
      let status: { reason?: string; message?: string } = {};
      try { status = JSON.parse(res.text) as typeof status; } catch { status = { message: res.text }; }
      if (res.status === 409 && opts.idempotent && status.reason === 'AlreadyExists') return undefined as T;
      if ((res.status === 429 || res.status >= 500) && attempt < 8) {
        retried++;
        await sleep(Math.min(5000, 50 * 2 ** attempt));
        continue;
      }
      throw new ApiError(res.status, status.reason ?? '', `${method} ${path}: ${res.status} ${status.message ?? ''}`);
    }
  };

  const text = async (path: string): Promise<string> => {
    const res = await send('GET', path, undefined, { Accept: 'text/plain' }, agent);
    if (res.status !== 200) throw new ApiError(res.status, '', `GET ${path}: ${res.status} ${res.text.slice(0, 200)}`);
    return res.text;
  };

  const watch = (path: string, onEvent: (type: WatchEventType, obj: KObject, at: number) => void, signal: AbortSignal) =>
    new Promise<string | undefined>((resolve, reject) => {
      let rv: string | undefined;
      const req = https.request({ host: url.hostname, port: url.port, path, method: 'GET', agent: watchAgent, headers: { ...authHeaders, Accept: 'application/json' } }, (res) => {
        if (res.statusCode !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => reject(new ApiError(res.statusCode ?? 0, '', `watch ${path}: ${res.statusCode} ${Buffer.concat(chunks).toString('utf8').slice(0, 200)}`)));
          return;
        }
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const at = performance.now();
          buf += chunk;
          let i: number;
          while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 1);
            if (!line) continue;
            const ev = JSON.parse(line) as { type: WatchEventType; object: KObject };
            if (ev.type === 'ERROR') {
              const st = ev.object as unknown as { code?: number; reason?: string; message?: string };
              req.destroy();
              reject(new ApiError(st.code ?? 0, st.reason ?? '', `watch ${path}: ${st.message ?? 'error'}`));
              return;
            }
            rv = ev.object.metadata?.resourceVersion ?? rv;
            onEvent(ev.type, ev.object, at);
          }
        });
        res.on('end', () => resolve(rv));
        res.on('error', (e) => (signal.aborted ? resolve(rv) : reject(e)));
      });
      const onAbort = () => { req.destroy(); resolve(rv); };
      if (signal.aborted) { onAbort(); return; }
      signal.addEventListener('abort', onAbort, { once: true });
      req.on('error', (e) => (signal.aborted ? resolve(rv) : reject(e)));
      req.on('close', () => signal.removeEventListener('abort', onAbort));
      req.end();
    });

  return {
    server: cluster.server,
    request,
    text,
    watch,
    retries: () => retried,
    close: () => { agent.destroy(); watchAgent.destroy(); },
  };
}

/** Runs fn over items with at most n in flight; the first error is thrown after all settle. */
export async function pool<T>(items: readonly T[], n: number, fn: (t: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let firstErr: unknown;
  const worker = async () => {
    while (next < items.length && firstErr === undefined) {
      const i = next++;
      try { await fn(items[i]!, i); } catch (e) { firstErr ??= e; }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (firstErr !== undefined) throw firstErr;
}

/** Lists a collection (all pages). */
export async function listAll(kube: Kube, path: string, pageSize = 500): Promise<KList> {
  const items: KObject[] = [];
  let cont: string | undefined;
  let rv: string | undefined;
  const sep = path.includes('?') ? '&' : '?';
  do {
    const page = await kube.request<KList>('GET', `${path}${sep}limit=${pageSize}${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
    items.push(...page.items);
    rv = page.metadata.resourceVersion;
    cont = page.metadata.continue || undefined;
  } while (cont);
  return { metadata: { resourceVersion: rv }, items };
}

/** Creates a namespace and waits for its default ServiceAccount (pods are refused until it exists). */
export async function createNamespace(kube: Kube, name: string): Promise<void> {
  await kube.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }, { idempotent: true });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await kube.request('GET', `/api/v1/namespaces/${name}/serviceaccounts/default`);
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(200);
    }
  }
}
