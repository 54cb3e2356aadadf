// The shared machinery of the provider contract fakes: a real node:http server on 127.0.0.1 with a
// small router, JSON in and out, a controllable clock, a request log, and runtime fault injection
// (added latency, bursts of 5xx, 429 with Retry-After, requests that never get an answer), per-job
// fault actions and one applied to every new job. Each fake (akash.ts, render.ts, chutes.ts)
// supplies the routes and documents which upstream source it follows. Also what the fakes share when
// they play the shard: deterministic test render bytes (testRenderContent, so a local re-run can be
// compared), and signing the result with the fake provider's payout key when the shard env carries
// the settlement domain (ATELIER_JOB_UID, ATELIER_SHARD_INDEX, ATELIER_SETTLEMENT_CHAIN_ID,
// ATELIER_SETTLEMENT_ESCROW, ATELIER_SETTLEMENT_TOKEN_DECIMALS). Written in erasable TypeScript only,
// so `node test/fakes/run.ts` can run it directly.

import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Wallet, id } from 'ethers';
import { rational, toScaled } from '../../operator/src/money.js';
import { outputsDigest } from '../../operator/src/providers/results.js';
import { signResult } from '../../operator/src/settlement/results.js';
import type { SignedShardResult } from '../../operator/src/settlement/results.js';

/** Time as the fake sees it. Tests use ManualClock and advance it; standalone runs use real time. */
export interface FakeClock {
  now(): number;
}

export class ManualClock implements FakeClock {
  private t: number;
  constructor(start = Date.parse('2026-06-01T00:00:00Z')) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export const realClock: FakeClock = { now: () => Date.now() };

export interface RequestContext {
  method: string;
  path: string;
  /** Capture groups of the matched route pattern. */
  params: string[];
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  rawBody: string;
  /** Parsed JSON body; undefined when there was none. */
  body: unknown;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Bytes sent as-is (application/octet-stream) instead of JSON. */
  raw?: Uint8Array;
}

export interface Route {
  method: string;
  pattern: RegExp;
  /** Public routes skip the fake's authentication hook. */
  public?: boolean;
  handle(ctx: RequestContext): Reply | Promise<Reply>;
}

export interface FaultMatch {
  method?: string;
  /** Substring or pattern of the path. */
  path?: string | RegExp;
}

export type Fault =
  | { kind: 'status'; status: number; count: number; body?: unknown; match?: FaultMatch }
  | { kind: 'rateLimit'; retryAfterSec: number; count: number; match?: FaultMatch }
  | { kind: 'hang'; count: number; match?: FaultMatch }
  | { kind: 'latency'; ms: number; match?: FaultMatch };

export interface LoggedRequest {
  method: string;
  path: string;
  status: number | 'hung';
}

/** Test-only controls under /_fake/, for a fake running in another process (`make dev`, e2e). */
export interface FakeAdmin {
  state(): unknown;
  /** `fail` | `corrupt` | `vanish` | `wrong` (+ fake-specific actions); false when the job or action is unknown. */
  jobAction(id: string, action: string, body: unknown): boolean;
  /** Applies `action` to every job created from now on (undefined: stop); false for an unknown action. */
  everyJob?(action: string | undefined): boolean;
}

export interface FakeServerOptions {
  name: string;
  routes: Route[];
  admin?: FakeAdmin;
  /** Returns an error reply when the request is not authenticated. */
  authenticate?: (ctx: RequestContext) => Reply | undefined;
  /** The provider's own error shape. */
  errorReply: (status: number, message: string) => Reply;
}

export class FakeServer {
  readonly requests: LoggedRequest[] = [];
  private readonly opts: FakeServerOptions;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly hung = new Set<ServerResponse>();
  private faults: Fault[] = [];
  private baseUrl = '';

  constructor(opts: FakeServerOptions) {
    this.opts = opts;
    this.server = createServer((req, res) => {
      void this.dispatch(req, res);
    });
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  get url(): string {
    return this.baseUrl;
  }

  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve());
    });
    const addr = this.server.address() as AddressInfo;
    this.baseUrl = `http://${host}:${addr.port}`;
    return this.baseUrl;
  }

  async stop(): Promise<void> {
    for (const res of this.hung) res.destroy();
    this.hung.clear();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Adds a fault; count-based faults are consumed by matching requests, latency stays until cleared. */
  inject(fault: Fault): void {
    this.faults.push({ ...fault });
  }

  clearFaults(): void {
    this.faults = [];
  }

  private takeFault(method: string, path: string): Fault[] {
    const hit: Fault[] = [];
    for (const f of this.faults) {
      if (!matches(f.match, method, path)) continue;
      if (f.kind === 'latency') {
        hit.push(f);
        continue;
      }
      if (f.count > 0 && !hit.some((h) => h.kind !== 'latency')) {
        f.count -= 1;
        hit.push({ ...f });
      }
    }
    this.faults = this.faults.filter((f) => f.kind === 'latency' || f.count > 0);
    return hit;
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = (req.method ?? 'GET').toUpperCase();
    const path = url.pathname;
    const rawBody = await readBody(req);
    const faults = path.startsWith('/_fake/') ? [] : this.takeFault(method, path);
    for (const f of faults) if (f.kind === 'latency') await sleep(f.ms);
    const fault = faults.find((f) => f.kind !== 'latency');
    if (fault?.kind === 'hang') {
      this.requests.push({ method, path, status: 'hung' });
      this.hung.add(res);
      return;
    }
    let reply: Reply;
    if (fault?.kind === 'status') {
      reply = fault.body === undefined ? this.opts.errorReply(fault.status, 'injected fault') : { status: fault.status, body: fault.body };
    } else if (fault?.kind === 'rateLimit') {
      reply = this.opts.errorReply(429, 'rate limit exceeded');
      reply.headers = { ...(reply.headers ?? {}), 'retry-after': String(fault.retryAfterSec) };
    } else {
      reply = await this.route(method, path, url.searchParams, req.headers, rawBody);
    }
    this.requests.push({ method, path, status: reply.status });
    send(res, reply);
  }

  /**
   * POST /_fake/faults {kind, count, status?, retryAfterSec?, ms?, match?: {method?, path?}} adds a
   * fault; DELETE /_fake/faults clears them; GET /_fake/state shows jobs, running count and
   * submissions per marker; POST /_fake/jobs/{id}/{action} applies a per-job fault;
   * POST /_fake/every-job/{action} applies it to every job created afterwards (the fake's `everyJob`
   * option at runtime), DELETE /_fake/every-job stops that.
   */
  private adminRoutes(): Route[] {
    const admin = this.opts.admin;
    return [
      {
        method: 'POST',
        pattern: /^\/_fake\/faults$/,
        public: true,
        handle: (ctx) => {
          const f = ctx.body as Fault | undefined;
          if (!f || !['status', 'rateLimit', 'hang', 'latency'].includes(f.kind)) return { status: 400, body: { message: 'kind must be status|rateLimit|hang|latency' } };
          this.inject(f);
          return { status: 204 };
        },
      },
      { method: 'DELETE', pattern: /^\/_fake\/faults$/, public: true, handle: () => (this.clearFaults(), { status: 204 }) },
      { method: 'GET', pattern: /^\/_fake\/state$/, public: true, handle: () => ({ status: 200, body: admin ? admin.state() : {} }) },
      {
        method: 'POST',
        pattern: /^\/_fake\/jobs\/([^/]+)\/([a-z-]+)$/,
        public: true,
        handle: (ctx) => (admin?.jobAction(ctx.params[0] ?? '', ctx.params[1] ?? '', ctx.body) ? { status: 204 } : { status: 404, body: { message: 'unknown job or action' } }),
      },
      {
        method: 'POST',
        pattern: /^\/_fake\/every-job\/([a-z-]+)$/,
        public: true,
        handle: (ctx) => (admin?.everyJob?.(ctx.params[0] ?? '') ? { status: 204 } : { status: 404, body: { message: 'unknown action' } }),
      },
      { method: 'DELETE', pattern: /^\/_fake\/every-job$/, public: true, handle: () => (admin?.everyJob?.(undefined), { status: 204 }) },
    ];
  }

  private async route(method: string, path: string, query: URLSearchParams, headers: IncomingMessage['headers'], rawBody: string): Promise<Reply> {
    let pathMatched = false;
    for (const route of [...this.adminRoutes(), ...this.opts.routes]) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (route.method !== method) continue;
      let body: unknown;
      if (rawBody.trim() !== '') {
        try {
          body = JSON.parse(rawBody);
        } catch {
          return this.opts.errorReply(400, 'request body is not valid JSON');
        }
      }
      const ctx: RequestContext = { method, path, params: m.slice(1).map((p) => decodeURIComponent(p ?? '')), query, headers, rawBody, body };
      if (!route.public && this.opts.authenticate) {
        const denied = this.opts.authenticate(ctx);
        if (denied) return denied;
      }
      try {
        return await route.handle(ctx);
      } catch (err) {
        return this.opts.errorReply(500, `fake ${this.opts.name} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return this.opts.errorReply(pathMatched ? 405 : 404, pathMatched ? 'method not allowed' : 'not found');
  }
}

function matches(match: FaultMatch | undefined, method: string, path: string): boolean {
  if (!match) return true;
  if (match.method && match.method.toUpperCase() !== method) return false;
  if (match.path instanceof RegExp) return match.path.test(path);
  if (typeof match.path === 'string') return path.includes(match.path);
  return true;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(''));
  });
}

function send(res: ServerResponse, reply: Reply): void {
  const headers: Record<string, string> = { ...(reply.headers ?? {}) };
  if (reply.raw) {
    headers['content-type'] ??= 'application/octet-stream';
    res.writeHead(reply.status, headers);
    res.end(Buffer.from(reply.raw));
    return;
  }
  if (reply.body === undefined) {
    res.writeHead(reply.status, headers);
    res.end();
    return;
  }
  headers['content-type'] = 'application/json';
  res.writeHead(reply.status, headers);
  res.end(JSON.stringify(reply.body));
}

/** Runs a named per-job fault (the /_fake/jobs/{id}/{action} admin route); false for an unknown action or job. */
export function runJobAction(actions: Record<string, (id: string) => void>, id: string, action: string): boolean {
  const act = Object.hasOwn(actions, action) ? actions[action] : undefined;
  if (!act) return false;
  try {
    act(id);
    return true;
  } catch {
    return false;
  }
}

/** True when `action` names one of the fake's per-job actions (for the everyJob option and route). */
export function isJobAction(actions: Record<string, (id: string) => void>, action: string): boolean {
  return Object.hasOwn(actions, action);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Small validation helpers the fakes share; each returns an error text or undefined. */
export const check = {
  string(v: unknown, name: string, opts: { min?: number; max?: number } = {}): string | undefined {
    if (typeof v !== 'string') return `${name}: expected string`;
    if (opts.min !== undefined && v.length < opts.min) return `${name}: must not be empty`;
    if (opts.max !== undefined && v.length > opts.max) return `${name}: longer than ${opts.max}`;
    return undefined;
  },
  int(v: unknown, name: string, opts: { min?: number; max?: number } = {}): string | undefined {
    if (typeof v !== 'number' || !Number.isInteger(v)) return `${name}: expected integer`;
    if (opts.min !== undefined && v < opts.min) return `${name}: must be >= ${opts.min}`;
    if (opts.max !== undefined && v > opts.max) return `${name}: must be <= ${opts.max}`;
    return undefined;
  },
  object(v: unknown, name: string): string | undefined {
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? undefined : `${name}: expected object`;
  },
};

/** sha256 hex, and the canonical output-report helpers fakes use to play a shard. */
export { createHash } from 'node:crypto';

// ---- playing the shard: deterministic renders and signed results ----------------------------------

/**
 * The bytes of a deterministic test render: UTF-8 of `atelier test render seed=<seed> shard=<i>`. A
 * fake whose shard env has ATELIER_TEST_RENDER_SEED outputs exactly these, and so does the KWOK pod
 * stage for a pod annotated testbed.atelier.dev/render-seed, so a local re-run of a remote shard
 * yields the same sha256 unless the provider lied.
 */
export function testRenderContent(seed: string, shardIndex: number): Buffer {
  return Buffer.from(`atelier test render seed=${seed} shard=${shardIndex}`, 'utf8');
}

/** Suffix of a `wrong` render: consistent (hashes as reported, signed) but not what the seed gives. */
export const WRONG_RENDER_SUFFIX = ' (wrong)';

/**
 * The output bytes a fake's shard writes: the seeded test render when the env asks for one, else the
 * fake's own per-job bytes; with WRONG_RENDER_SUFFIX appended for the `wrong` action.
 */
export function renderContent(env: Record<string, string | undefined>, ownContent: string, wrong: boolean): Buffer {
  const seed = env.ATELIER_TEST_RENDER_SEED;
  const base = seed !== undefined ? testRenderContent(seed, Number(env.ATELIER_SHARD_INDEX ?? '0')) : Buffer.from(ownContent, 'utf8');
  return wrong ? Buffer.concat([base, Buffer.from(WRONG_RENDER_SUFFIX, 'utf8')]) : base;
}

/**
 * A fake provider's default payout key: keccak256 of `atelier-fake-<name>`. Test keys only, derived
 * from public strings, never funded anywhere real.
 */
export function fakePayoutKey(name: string): string {
  return id(`atelier-fake-${name}`);
}

/** The settlement domain and identity a shard's env carries, when it carries all of it. */
export interface SettlementEnv {
  jobUid: string;
  shardIndex: number;
  chainId: string;
  escrow: string;
  tokenDecimals: number;
}

export function settlementEnv(env: Record<string, unknown> | undefined): SettlementEnv | undefined {
  if (!env) return undefined;
  const { ATELIER_JOB_UID: jobUid, ATELIER_SHARD_INDEX: index, ATELIER_SETTLEMENT_CHAIN_ID: chainId, ATELIER_SETTLEMENT_ESCROW: escrow, ATELIER_SETTLEMENT_TOKEN_DECIMALS: decimals } = env;
  if (typeof jobUid !== 'string' || jobUid === '' || typeof chainId !== 'string' || !/^\d+$/.test(chainId) || typeof escrow !== 'string') return undefined;
  if (typeof index !== 'string' || !/^\d+$/.test(index) || typeof decimals !== 'string' || !/^\d{1,2}$/.test(decimals)) return undefined;
  return { jobUid, shardIndex: Number(index), chainId, escrow, tokenDecimals: Number(decimals) };
}

/** floor(usd x 10^decimals), exactly (usd is a decimal string such as the fake's cost report). */
export function usdToTokenUnits(usd: string, decimals: number): bigint {
  return toScaled(rational(usd), decimals, 'floor');
}

/**
 * Signs a finished shard's result as the provider: ShardResult {jobUid, shardIndex, resultDigest =
 * '0x' + outputsDigest(outputs), amountClaimed = the provider's cost in token units}. Undefined when
 * the env has no settlement domain; throws on a domain that cannot be signed for (a bad address).
 */
export async function signShardReport(wallet: Wallet, env: Record<string, unknown> | undefined, outputs: { uri: string; sha256: string }[], costUsd: () => string): Promise<SignedShardResult | undefined> {
  const s = settlementEnv(env);
  if (!s) return undefined;
  return signResult(wallet, { chainId: BigInt(s.chainId), verifyingContract: s.escrow }, {
    jobUid: s.jobUid,
    shardIndex: s.shardIndex,
    resultDigest: '0x' + outputsDigest(outputs),
    amountClaimed: usdToTokenUnits(costUsd(), s.tokenDecimals),
  });
}

/** What a fake signs for a finished shard: its env (for the settlement domain), outputs and cost. */
export interface ShardReport {
  env: Record<string, unknown> | undefined;
  outputs: { uri: string; sha256: string }[];
  costUsd: () => string;
}

/**
 * What the three provider fakes share when they play the shard, beyond their routes: signing a
 * settled shard's result with the fake's payout key (signShardReport), once per job, keeping the
 * answer, so every read of a finished job's report carries the same `signed` (a signature that cannot
 * be made, e.g. for a malformed escrow address, is kept as none); and the per-job actions by name, for
 * one job (the /_fake/jobs/{id}/{action} admin route) or for every new one (`everyJob`).
 */
export abstract class ProviderFake {
  abstract readonly opts: { payoutKey: string; everyJob?: string };
  /** The HTTP server speaking the provider's API (each fake builds it with its routes). */
  abstract readonly server: FakeServer;

  start(port = 0): Promise<string> {
    return this.server.start(port);
  }

  stop(): Promise<void> {
    return this.server.stop();
  }

  get url(): string {
    return this.server.url;
  }

  inject(fault: Fault): void {
    this.server.inject(fault);
  }

  private readonly wallet: Wallet;
  private readonly signed = new Map<string, SignedShardResult | undefined>();
  private readonly signing = new Map<string, Promise<void>>();

  /** Throws when payoutKey is not a private key. */
  constructor(payoutKey: string) {
    this.wallet = new Wallet(payoutKey);
  }

  /** The address results are signed by (the ComputeProvider's payoutAddress). */
  get payoutAddress(): string {
    return this.wallet.address;
  }

  /** The job fails (with the fake's own failure message). */
  abstract failJob(id: string): void;
  /** The reported hash is not the bytes'. */
  abstract corruptResult(id: string): void;
  /** A consistent but wrong render: other bytes, reported with their own hash and signed normally. */
  abstract wrongResult(id: string): void;
  /** The job disappears: every route answers 404 for it. */
  abstract vanish(id: string): void;

  /** The fake's per-job faults besides fail, corrupt, wrong and vanish, by name. */
  protected moreActions(): Record<string, (id: string) => void> {
    return {};
  }

  private actions(): Record<string, (id: string) => void> {
    return { fail: (i) => this.failJob(i), corrupt: (i) => this.corruptResult(i), wrong: (i) => this.wrongResult(i), vanish: (i) => this.vanish(i), ...this.moreActions() };
  }

  /** Per-job faults by name, for the /_fake/jobs/{id}/{action} admin route. */
  jobAction(id: string, action: string): boolean {
    return runJobAction(this.actions(), id, action);
  }

  /** Sets (or with undefined clears) the action applied to every new job; false if unknown. */
  setEveryJob(action: string | undefined): boolean {
    if (action !== undefined && !isJobAction(this.actions(), action)) return false;
    this.opts.everyJob = action;
    return true;
  }

  /** Applies the `everyJob` action, if one is set, to a job just created. */
  protected applyEveryJob(id: string): void {
    if (this.opts.everyJob) this.jobAction(id, this.opts.everyJob);
  }

  /**
   * The IPFS RPC API (the test-bed's Kubo node) where a shard whose env carries ATELIER_ENCRYPT_TO
   * publishes its outputs sealed to that age recipient, as `atelier shard` does on a real node.
   * Unset: outputs are reported without a CID, as before.
   */
  ipfsApi?: string;
  private readonly cids = new Map<string, string>();

  /** Seals each output to the shard's recipient and adds it to IPFS, once per job and uri. */
  protected async publishSealed(jobId: string, env: Record<string, string | undefined> | undefined, files: { uri: string; content: Buffer }[]): Promise<void> {
    const to = env?.ATELIER_ENCRYPT_TO;
    if (!to || !this.ipfsApi) return;
    const { Encrypter } = await import('age-encryption');
    for (const f of files) {
      const key = `${jobId} ${f.uri}`;
      if (this.cids.has(key)) continue;
      const e = new Encrypter();
      for (const r of to.split(',')) e.addRecipient(r);
      const form = new FormData();
      form.append('file', new Blob([await e.encrypt(f.content)]), 'f');
      const res = await fetch(`${this.ipfsApi}/api/v0/add?cid-version=1&raw-leaves=true&hash=sha2-256&chunker=size-262144&quieter=true`, { method: 'POST', body: form });
      if (!res.ok) throw new Error(`IPFS add answered ${res.status}`);
      this.cids.set(key, ((await res.json()) as { Hash: string }).Hash);
    }
  }

  /** The outputs with the CIDs publishSealed gave them. */
  protected withCids<T extends { uri: string }>(jobId: string, outputs: T[]): (T & { cid?: string })[] {
    return outputs.map((o) => { const cid = this.cids.get(`${jobId} ${o.uri}`); return cid ? { ...o, cid } : o; });
  }

  /** The job's cached signed result, if it has been signed. */
  protected signedResult(jobId: string): SignedShardResult | undefined {
    return this.signed.get(jobId);
  }

  /**
   * Signs the finished job's result with the payout key (signShardReport of what `report` gives) the
   * first time it is asked for, then answers the kept one; undefined when the env has no settlement
   * domain.
   */
  protected async signResult(jobId: string, report: () => ShardReport): Promise<SignedShardResult | undefined> {
    let p = this.signing.get(jobId);
    if (!p) {
      const { env, outputs, costUsd } = report();
      p = signShardReport(this.wallet, env, outputs, costUsd).then(
        (signed) => void this.signed.set(jobId, signed),
        () => void this.signed.set(jobId, undefined),
      );
      this.signing.set(jobId, p);
    }
    await p;
    return this.signed.get(jobId);
  }
}

export { Wallet };
