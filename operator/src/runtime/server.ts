// The operator's HTTP endpoint for the kubelet and Prometheus: /healthz answers while the process
// (its event loop) is alive, /readyz while every readiness check passes (informer caches synced,
// plus whatever the wiring adds), /metrics renders a prom-client Registry. `?verbose` lists each
// check. Checks run with a timeout so a hung dependency reads as "not ready" rather than a hung probe.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { errorMessage } from './errors.js';
import { type Log, nopLog } from './logger.js';

/** True/undefined = passing; false or a thrown error = failing. */
export type HealthCheck = () => boolean | void | Promise<boolean | void>;

export interface RuntimeServerOptions {
  /** "host:port", ":port" (all interfaces) or "[::1]:port"; port 0 picks a free one. Default ":8080". */
  address?: string;
  registry?: Registry;
  readyChecks?: Record<string, HealthCheck>;
  liveChecks?: Record<string, HealthCheck>;
  /** Per-check timeout; default 5 s. */
  checkTimeoutMs?: number;
  logger?: Log;
}

export function parseAddress(address: string): { host?: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*))?:(\d+)$/.exec(address.trim());
  if (!m) throw new Error(`invalid listen address ${JSON.stringify(address)}: want host:port or :port`);
  const host = m[1] ?? (m[2] || undefined);
  return { host, port: Number(m[3]) };
}

interface CheckResult {
  name: string;
  ok: boolean;
  error?: string;
}

export class RuntimeServer {
  private readonly opts: RuntimeServerOptions;
  private readonly log: Log;
  private readonly ready = new Map<string, HealthCheck>();
  private readonly live = new Map<string, HealthCheck>();
  private server: Server | undefined;

  constructor(options: RuntimeServerOptions = {}) {
    this.opts = options;
    this.log = options.logger ?? nopLog;
    for (const [n, c] of Object.entries(options.readyChecks ?? {})) this.ready.set(n, c);
    for (const [n, c] of Object.entries(options.liveChecks ?? {})) this.live.set(n, c);
  }

  addReadyCheck(name: string, check: HealthCheck): void {
    this.ready.set(name, check);
  }

  addLiveCheck(name: string, check: HealthCheck): void {
    this.live.set(name, check);
  }

  /** Starts listening; resolves with the bound address (useful with port 0). */
  async start(): Promise<AddressInfo> {
    if (this.server) return this.server.address() as AddressInfo;
    const { host, port } = parseAddress(this.opts.address ?? ':8080');
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        this.log.error('http handler failed', { path: req.url, error: errorMessage(err) });
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address() as AddressInfo;
    this.log.info('serving health and metrics', { address: `${addr.address}:${addr.port}` });
    return addr;
  }

  /** Stops listening and closes open (keep-alive) connections. */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    switch (url.pathname) {
      case '/healthz':
      case '/livez':
        return this.respondChecks(res, this.live, url.searchParams.has('verbose'));
      case '/readyz':
        return this.respondChecks(res, this.ready, url.searchParams.has('verbose'));
      case '/metrics': {
        const registry = this.opts.registry;
        if (!registry) {
          res.writeHead(404).end();
          return;
        }
        const body = await registry.metrics();
        res.writeHead(200, { 'Content-Type': registry.contentType }).end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      default:
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    }
  }

  private async respondChecks(res: ServerResponse, checks: Map<string, HealthCheck>, verbose: boolean): Promise<void> {
    const results = await Promise.all([...checks].map(([name, check]) => this.runCheck(name, check)));
    const ok = results.every((r) => r.ok);
    const lines = results
      .filter((r) => verbose || !r.ok)
      .map((r) => `[${r.ok ? '+' : '-'}]${r.name} ${r.ok ? 'ok' : `failed${r.error ? `: ${r.error}` : ''}`}`);
    lines.push(ok ? 'ok' : 'failed');
    res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' }).end(`${lines.join('\n')}\n`);
  }

  private async runCheck(name: string, check: HealthCheck): Promise<CheckResult> {
    const timeoutMs = this.opts.checkTimeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        Promise.resolve().then(check),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      return { name, ok: result !== false };
    } catch (err) {
      return { name, ok: false, error: errorMessage(err) };
    } finally {
      clearTimeout(timer);
    }
  }
}
