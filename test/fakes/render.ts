// Contract fake of the Render Compute Network (Dispersed) job API. Render publishes no server source;
// this follows its published pages (read 2026-12-05, provider-audit.md "Render"): otoyinc.mintlify.app
// api-reference/jobs/create-job (POST /v1/jobs body: task BATCH|PERSISTENT, title, max_timeout_run_ms
// >= 60000 for BATCH, max_timeout_assign_ms >= 300000 (default 5 minutes), max_retry_count (default 0),
// gpu_count, gpu_name, min_vram_gb, cpu_count, min_ram_gb, min_storage_gb, parameters {type: "docker",
// parameters {image, tag, env, ports, volumes}}; answer an `object: "job"` with `uuid` and `status`),
// api-reference/jobs/stop-job (PUT /v1/jobs/{uuid}/cancel with body {reason}; the job carries
// `started_at`, `completed_at` and `status_reason`), service-consumers/authenticate-requests (headers
// X-API-Key, X-Time ms, X-Nonce 32 hex, X-Signature = hex HMAC-SHA256 of
// `publicKey|timestamp|nonce|METHOD|pathname|sortedQuery|sha256(canonical JSON body)`, 5-minute
// window), service-consumers/job-monitoring (GET /v1/job-runs?filter[job_uuid]=; a run has exactly
// `uuid, status, started_at_ms, node_urls`, and GET /v1/job-runs/{uuid} adds its `logs`; lifecycle
// PENDING -> ASSIGNED -> RUNNING -> COMPLETED | FAILED, CANCELLING -> CANCELLED) and
// service-consumers/job-types (BATCH jobs are charged for actual execution time). Not published, so
// chosen here and marked as such: the error body `{statusCode, error, message}`, list pagination
// `{data, page, limit, total}` on /v1/jobs (newest first, limit <= 100) as on /v1/job-runs, ISO 8601
// strings for started_at/completed_at, nonce replay refusal, and a job that waits for GPUs longer than
// max_timeout_assign_ms ending FAILED with status_reason "no node assigned within
// max_timeout_assign_ms". Capacity is per GPU name; a job waits PENDING until enough GPUs are free. The
// fake keeps its own billing record (billing(): usdPerGpuHour[gpu_name] x gpu_count x (completed_at -
// started_at)). The fake plays the container too: a finished run's logs end with the
// `ATELIER_RESULT {…}` line the adapter reads. Playing the shard (server.ts): its bytes are
// testRenderContent(seed, index) when the job env has ATELIER_TEST_RENDER_SEED; when the env carries
// the settlement domain, the ATELIER_RESULT line has `signed`, by `payoutKey` (default
// keccak256("atelier-fake-render"), address 0xb0201C306a6044930033fF3266C5855F7b867f29), claiming what
// the billing record says, in token units. Per-job actions: fail, corrupt (reported hash is not the
// bytes'), wrong (other bytes, hashed and signed as if right), vanish; `everyJob` applies one to every
// new job.

import { createHash, createHmac } from 'node:crypto';
import { div, mul, usd } from '../../operator/src/money.js';
import { FakeServer, ProviderFake, check, fakePayoutKey, realClock, renderContent } from './server.js';
import type { FakeClock, Reply, RequestContext, Route } from './server.js';

export interface RenderFakeOptions {
  publicKey: string;
  secretKey: string;
  /** Free GPUs per gpu_name; names not listed are unknown (400). */
  gpus: Record<string, number>;
  assignDelayMs: number;
  startMs: number;
  jobDurationMs: number;
  clock: FakeClock;
  /** 0x private key the provider signs results with (a test key; default derived, see the header). */
  payoutKey: string;
  /** The provider's own USD per GPU-hour by gpu_name, for what a signed result claims. */
  usdPerGpuHour: Record<string, string>;
  /** A per-job action (`wrong`, `fail`, …) applied to every job when it is created. */
  everyJob?: string;
}

type RenderStatus = 'PENDING' | 'ASSIGNED' | 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLING' | 'CANCELLED';

interface FakeJob {
  uuid: string;
  runUuid: string;
  body: Record<string, unknown>;
  gpuName: string;
  gpuCount: number;
  createdMs: number;
  assignedMs?: number;
  /** Set when the job stopped early (cancel, failure, timeout). */
  stoppedMs?: number;
  stoppedAs?: RenderStatus;
  message?: string;
  /** The reason a cancel gave. */
  cancelReason?: string;
  outcome: 'succeed' | 'fail';
  corrupt: boolean;
  wrong: boolean;
  vanished: boolean;
  key?: string;
  env: Record<string, string>;
}

const TERMINAL: RenderStatus[] = ['COMPLETED', 'FAILED', 'CANCELLED'];

export class RenderFake extends ProviderFake {
  readonly server: FakeServer;
  readonly opts: RenderFakeOptions;
  private readonly jobsById = new Map<string, FakeJob>();
  private readonly order: FakeJob[] = [];
  private readonly submissions = new Map<string, number>();
  private readonly nonces = new Set<string>();
  private readonly objects = new Map<string, Buffer>();
  private seq = 0;

  constructor(options: Partial<RenderFakeOptions> = {}) {
    const opts: RenderFakeOptions = {
      publicKey: 'pk_test_atelier',
      secretKey: 'sk_test_render_secret',
      gpus: { 'NVIDIA H100': 4, 'NVIDIA RTX 4090': 8 },
      assignDelayMs: 10_000,
      startMs: 5_000,
      jobDurationMs: 60_000,
      clock: realClock,
      payoutKey: fakePayoutKey('render'),
      usdPerGpuHour: { 'NVIDIA H100': '2.20', 'NVIDIA RTX 4090': '0.69' },
      ...options,
    };
    super(opts.payoutKey);
    this.opts = opts;
    this.server = new FakeServer({
      name: 'render',
      routes: this.routes(),
      authenticate: (ctx) => this.authenticate(ctx),
      admin: {
        state: () => ({ running: this.running(), jobs: this.jobs(), submissions: this.submissionCounts() }),
        jobAction: (id, action) => this.jobAction(id, action),
        everyJob: (action) => this.setEveryJob(action),
      },
      errorReply: (status, message) => err(status, message),
    });
  }

  // ---- introspection and per-job faults -------------------------------------------------------

  running(): number {
    return this.order.filter((j) => !j.vanished && ['ASSIGNED', 'RUNNING', 'CANCELLING'].includes(this.status(j))).length;
  }

  jobs(): { id: string; key?: string; status: RenderStatus; gpuName: string }[] {
    return this.order.filter((j) => !j.vanished).map((j) => {
      const row: { id: string; key?: string; status: RenderStatus; gpuName: string } = { id: j.uuid, status: this.status(j), gpuName: j.gpuName };
      if (j.key) row.key = j.key;
      return row;
    });
  }

  submissionsFor(key: string): number {
    return this.submissions.get(key) ?? 0;
  }

  submissionCounts(): Record<string, number> {
    return Object.fromEntries(this.submissions);
  }

  failJob(uuid: string, message = 'container exited with code 1'): void {
    const j = this.mustGet(uuid);
    j.outcome = 'fail';
    j.message = message;
  }

  corruptResult(uuid: string): void {
    this.mustGet(uuid).corrupt = true;
  }

  /** A consistent but wrong render: other bytes, reported with their own hash and signed normally. */
  wrongResult(uuid: string): void {
    this.mustGet(uuid).wrong = true;
  }

  vanish(uuid: string): void {
    this.mustGet(uuid).vanished = true;
  }

  readObject(uri: string): Buffer | undefined {
    return this.objects.get(uri);
  }

  /**
   * What the job's run cost in USD, as the adapter's getCost reports it with the same prices:
   * usdPerGpuHour[gpu_name] x gpu_count x whole run seconds / 3600, rounded to micro-USD.
   */
  /** What each job that ran has been charged (its execution time so far), the fake's own ledger. */
  billing(): { uuid: string; key?: string; seconds: number; usd: string }[] {
    this.tick();
    return this.order
      .filter((j) => j.assignedMs !== undefined)
      .map((j) => {
        const start = (j.assignedMs as number) + this.opts.startMs;
        const end = Math.min(this.endMs(j) ?? this.now(), this.now());
        const row: { uuid: string; key?: string; seconds: number; usd: string } = { uuid: j.uuid, seconds: Math.max(0, Math.floor((end - start) / 1000)), usd: this.meteredUsdUntil(j, end) };
        if (j.key) row.key = j.key;
        return row;
      });
  }

  private meteredUsdUntil(j: FakeJob, end: number): string {
    const price = this.opts.usdPerGpuHour[j.gpuName];
    if (price === undefined) throw new Error(`no price for ${j.gpuName}`);
    const start = j.assignedMs === undefined ? end : j.assignedMs + this.opts.startMs;
    const seconds = Math.max(0, Math.floor((end - start) / 1000));
    return usd(div(mul(price, j.gpuCount, seconds), 3600));
  }

  meteredUsd(uuid: string): string {
    const j = this.mustGet(uuid);
    const price = this.opts.usdPerGpuHour[j.gpuName];
    if (price === undefined) throw new Error(`no price for ${j.gpuName}`);
    const start = j.assignedMs === undefined ? undefined : j.assignedMs + this.opts.startMs;
    const end = this.endMs(j);
    const seconds = start !== undefined && end !== undefined ? Math.max(0, Math.floor((end - start) / 1000)) : 0;
    return usd(div(mul(price, j.gpuCount, seconds), 3600));
  }


  // ---- simulation ---------------------------------------------------------------------------

  private now(): number {
    return this.opts.clock.now();
  }

  private mustGet(uuid: string): FakeJob {
    const j = this.jobsById.get(uuid);
    if (!j) throw new Error(`no job ${uuid}`);
    return j;
  }

  private endMs(j: FakeJob): number | undefined {
    if (j.stoppedMs !== undefined) return j.stoppedMs;
    if (j.assignedMs === undefined) return undefined;
    const runLimit = Number(j.body.max_timeout_run_ms ?? Infinity);
    return j.assignedMs + this.opts.startMs + Math.min(this.opts.jobDurationMs, runLimit);
  }

  /** Assigns pending jobs FIFO at the earliest moment enough GPUs of their kind were free. */
  private tick(): void {
    const now = this.now();
    for (const j of this.order) {
      if (j.assignedMs !== undefined || j.stoppedMs !== undefined || j.vanished) continue;
      const capacity = this.opts.gpus[j.gpuName] ?? 0;
      let t = j.createdMs + this.opts.assignDelayMs;
      const holders = this.order.filter((o) => o !== j && !o.vanished && o.gpuName === j.gpuName && o.assignedMs !== undefined);
      const ends = holders.map((o) => this.endMs(o) ?? Infinity).sort((a, b) => a - b);
      const used = (at: number): number => holders.filter((o) => (o.assignedMs as number) <= at && (this.endMs(o) ?? Infinity) > at).reduce((s, o) => s + o.gpuCount, 0);
      while (t <= now && used(t) + j.gpuCount > capacity) {
        const next = ends.find((e) => e > t);
        if (next === undefined) {
          t = Infinity;
          break;
        }
        t = next;
      }
      const deadline = j.createdMs + Number(j.body.max_timeout_assign_ms ?? 300_000);
      if (t <= now && t <= deadline && j.gpuCount <= capacity) j.assignedMs = t;
      else if (now > deadline && (t > deadline || j.gpuCount > capacity)) {
        j.stoppedAs = 'FAILED';
        j.stoppedMs = deadline;
        j.message = 'no node assigned within max_timeout_assign_ms';
      }
    }
  }

  private status(j: FakeJob): RenderStatus {
    this.tick();
    const now = this.now();
    if (j.stoppedMs !== undefined && j.stoppedAs && now >= j.stoppedMs) return j.stoppedAs;
    if (j.stoppedAs === 'CANCELLED') return 'CANCELLING';
    if (j.assignedMs === undefined) return 'PENDING';
    const t = now - j.assignedMs;
    if (t < this.opts.startMs) return 'ASSIGNED';
    const runLimit = Number(j.body.max_timeout_run_ms ?? Infinity);
    if (t < this.opts.startMs + Math.min(this.opts.jobDurationMs, runLimit)) return 'RUNNING';
    if (this.opts.jobDurationMs > runLimit) return 'FAILED';
    return j.outcome === 'fail' ? 'FAILED' : 'COMPLETED';
  }

  private files(j: FakeJob): { uri: string; content: Buffer }[] {
    const uri = `${(j.env.ATELIER_OUTPUT_URI ?? 's3://unknown/').replace(/\/?$/, '/')}shard-${j.env.ATELIER_SHARD_INDEX ?? '0'}.exr`;
    return [{ uri, content: renderContent(j.env, `render frame data for job ${j.uuid}`, j.wrong) }];
  }

  /** What the shard reports: each output's sha256 (of other bytes when corrupt) and, when it sealed them, its CID. */
  private outputs(j: FakeJob): { uri: string; sha256: string; cid?: string }[] {
    return this.withCids(j.uuid, this.files(j).map(({ uri, content }) => {
      this.objects.set(uri, content);
      return { uri, sha256: createHash('sha256').update(j.corrupt ? Buffer.from('tampered') : content).digest('hex') };
    }));
  }

  // ---- wire shapes ----------------------------------------------------------------------------

  private jobJson(j: FakeJob): Record<string, unknown> {
    const b = j.body;
    return {
      object: 'job',
      uuid: j.uuid,
      created_at: new Date(j.createdMs).toISOString(),
      updated_at: new Date(this.now()).toISOString(),
      status: this.status(j),
      task: b.task,
      title: b.title,
      description: b.description ?? null,
      cpu_count: b.cpu_count ?? 0,
      gpu_count: j.gpuCount,
      gpu_name: j.gpuName,
      min_ram_gb: b.min_ram_gb ?? 0,
      min_vram_gb: b.min_vram_gb ?? 0,
      min_storage_gb: b.min_storage_gb ?? 0,
      max_timeout_run_ms: b.max_timeout_run_ms ?? null,
      max_timeout_assign_ms: b.max_timeout_assign_ms ?? 300_000,
      max_retry_count: b.max_retry_count ?? 0,
      parameters: b.parameters,
      started_at: j.assignedMs === undefined ? null : new Date(j.assignedMs + this.opts.startMs).toISOString(),
      completed_at: this.completedMs(j) === undefined ? null : new Date(this.completedMs(j) as number).toISOString(),
      status_reason: this.statusReason(j),
    };
  }

  /** When the job reached its terminal state, once it has. */
  private completedMs(j: FakeJob): number | undefined {
    if (!TERMINAL.includes(this.status(j))) return undefined;
    return this.endMs(j) ?? j.stoppedMs ?? this.now();
  }

  private statusReason(j: FakeJob): string | null {
    const status = this.status(j);
    if (status === 'CANCELLED' || status === 'CANCELLING') return j.cancelReason ?? 'cancelled by the consumer';
    if (status !== 'FAILED') return null;
    if (j.message) return j.message;
    return 'run exceeded max_timeout_run_ms';
  }

  private runJson(j: FakeJob, withLogs: boolean): Record<string, unknown> | undefined {
    if (j.assignedMs === undefined) return undefined;
    const status = this.status(j);
    const run: Record<string, unknown> = {
      uuid: j.runUuid,
      status,
      started_at_ms: j.assignedMs + this.opts.startMs,
      node_urls: [],
    };
    if (withLogs) {
      const lines = [`pulling ${String((j.body.parameters as { parameters: { image: string } }).parameters.image)}`, 'render started'];
      if (status === 'COMPLETED') {
        const signed = this.signedResult(j.uuid);
        lines.push(`ATELIER_RESULT ${JSON.stringify(signed ? { state: 'succeeded', outputs: this.outputs(j), signed } : { state: 'succeeded', outputs: this.outputs(j) })}`);
      }
      if (status === 'FAILED') lines.push(`error: ${this.statusReason(j) ?? 'failed'}`);
      run.logs = lines.join('\n');
    }
    return run;
  }

  // ---- auth -----------------------------------------------------------------------------------

  private authenticate(ctx: RequestContext): Reply | undefined {
    const h = ctx.headers;
    const key = h['x-api-key'];
    const time = h['x-time'];
    const nonce = h['x-nonce'];
    const signature = h['x-signature'];
    if (typeof key !== 'string' || typeof time !== 'string' || typeof nonce !== 'string' || typeof signature !== 'string') return err(401, 'Missing authentication headers');
    if (key !== this.opts.publicKey) return err(401, 'Invalid API key');
    if (!/^[0-9a-f]{32}$/.test(nonce)) return err(401, 'X-Nonce must be 32 hex characters');
    if (!/^\d+$/.test(time) || Math.abs(Number(time) - this.now()) > 5 * 60_000) return err(401, 'X-Time outside the allowed window');
    if (this.nonces.has(nonce)) return err(401, 'Nonce already used');
    const query = [...ctx.query.entries()]
      .sort(([ka, va], [kb, vb]) => (ka < kb ? -1 : ka > kb ? 1 : va < vb ? -1 : va > vb ? 1 : 0))
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
      .join('&');
    const body = ctx.rawBody === '' ? '' : canonical(ctx.body);
    const canonicalString = [key, time, nonce, ctx.method, ctx.path, query, createHash('sha256').update(body).digest('hex')].join('|');
    const expected = createHmac('sha256', this.opts.secretKey).update(canonicalString).digest('hex');
    if (expected !== signature) return err(401, 'Invalid signature');
    this.nonces.add(nonce);
    return undefined;
  }

  // ---- routes -------------------------------------------------------------------------------

  private find(uuid: string): FakeJob | undefined {
    const j = this.jobsById.get(uuid);
    return j && !j.vanished ? j : undefined;
  }

  private routes(): Route[] {
    return [
      { method: 'POST', pattern: /^\/v1\/jobs$/, handle: (ctx) => this.createJob(ctx) },
      { method: 'GET', pattern: /^\/v1\/jobs$/, handle: (ctx) => this.listJobs(ctx) },
      { method: 'GET', pattern: /^\/v1\/jobs\/([^/]+)$/, handle: (ctx) => this.getJob(ctx) },
      { method: 'PUT', pattern: /^\/v1\/jobs\/([^/]+)\/cancel$/, handle: (ctx) => this.cancelJob(ctx) },
      { method: 'GET', pattern: /^\/v1\/job-runs$/, handle: (ctx) => this.listRuns(ctx) },
      { method: 'GET', pattern: /^\/v1\/job-runs\/([^/]+)$/, handle: (ctx) => this.getRun(ctx) },
    ];
  }

  private createJob(ctx: RequestContext): Reply {
    const b = ctx.body as Record<string, unknown> | undefined;
    if (!b || typeof b !== 'object' || Array.isArray(b)) return err(400, 'body must be a JSON object');
    const p = b.parameters as Record<string, unknown> | undefined;
    const inner = p?.parameters as Record<string, unknown> | undefined;
    const problem =
      (b.task !== 'BATCH' && b.task !== 'PERSISTENT' ? 'task must be one of BATCH, PERSISTENT' : undefined) ??
      check.string(b.title, 'title', { min: 1, max: 255 }) ??
      (b.task === 'BATCH' ? check.int(b.max_timeout_run_ms, 'max_timeout_run_ms', { min: 60_000 }) : undefined) ??
      (b.max_timeout_assign_ms !== undefined ? check.int(b.max_timeout_assign_ms, 'max_timeout_assign_ms', { min: 300_000 }) : undefined) ??
      (b.max_retry_count !== undefined ? check.int(b.max_retry_count, 'max_retry_count', { min: 0 }) : undefined) ??
      (b.description !== undefined ? check.string(b.description, 'description', { max: 2000 }) : undefined) ??
      check.int(b.gpu_count ?? 0, 'gpu_count', { min: 0 }) ??
      check.int(b.cpu_count ?? 0, 'cpu_count', { min: 0 }) ??
      check.int(b.min_vram_gb ?? 0, 'min_vram_gb', { min: 0 }) ??
      check.int(b.min_ram_gb ?? 0, 'min_ram_gb', { min: 0 }) ??
      check.int(b.min_storage_gb ?? 0, 'min_storage_gb', { min: 0 }) ??
      (b.gpu_name !== undefined && b.gpu_registry_uuid !== undefined ? 'gpu_name and gpu_registry_uuid are mutually exclusive' : undefined) ??
      (b.gpu_name !== undefined && (typeof b.gpu_name !== 'string' || !(b.gpu_name in this.opts.gpus)) ? `gpu_name: unknown GPU ${JSON.stringify(b.gpu_name)}` : undefined) ??
      check.object(p, 'parameters') ??
      (p?.type !== 'docker' ? 'parameters.type must be "docker"' : undefined) ??
      check.object(inner, 'parameters.parameters') ??
      check.string(inner?.image, 'parameters.parameters.image', { min: 1 }) ??
      (inner?.tag !== undefined ? check.string(inner.tag, 'parameters.parameters.tag', { min: 1 }) : undefined) ??
      (inner?.env !== undefined && (check.object(inner.env, 'env') || Object.values(inner.env as object).some((v) => typeof v !== 'string')) ? 'parameters.parameters.env must map names to strings' : undefined);
    if (problem) return err(400, problem);
    this.seq += 1;
    const uuid = uuidFrom(`job-${this.seq}`);
    const env = (inner?.env ?? {}) as Record<string, string>;
    const j: FakeJob = {
      uuid,
      runUuid: uuidFrom(`run-${this.seq}`),
      body: b,
      gpuName: (b.gpu_name as string | undefined) ?? Object.keys(this.opts.gpus)[0] ?? 'NVIDIA H100',
      gpuCount: (b.gpu_count as number | undefined) ?? 1,
      createdMs: this.now(),
      outcome: 'succeed',
      corrupt: false,
      wrong: false,
      vanished: false,
      env,
    };
    const key = env.ATELIER_IDEMPOTENCY_KEY;
    if (key) {
      j.key = key;
      this.submissions.set(key, (this.submissions.get(key) ?? 0) + 1);
    }
    this.jobsById.set(uuid, j);
    this.order.push(j);
    this.applyEveryJob(uuid);
    return { status: 201, body: this.jobJson(j) };
  }

  private listJobs(ctx: RequestContext): Reply {
    const page = Number(ctx.query.get('page') ?? '1');
    const limit = Number(ctx.query.get('limit') ?? '20');
    if (!Number.isInteger(page) || page < 1 || !Number.isInteger(limit) || limit < 1 || limit > 100) return err(400, 'page >= 1 and 1 <= limit <= 100');
    const all = this.order.filter((j) => !j.vanished).reverse();
    return { status: 200, body: { data: all.slice((page - 1) * limit, page * limit).map((j) => this.jobJson(j)), page, limit, total: all.length } };
  }

  private getJob(ctx: RequestContext): Reply {
    const j = this.find(ctx.params[0] ?? '');
    return j ? { status: 200, body: this.jobJson(j) } : err(404, 'Job not found');
  }

  private cancelJob(ctx: RequestContext): Reply {
    const j = this.find(ctx.params[0] ?? '');
    if (!j) return err(404, 'Job not found');
    const status = this.status(j);
    if (TERMINAL.includes(status)) return err(409, `Job is already ${status}`);
    const reason = (ctx.body as { reason?: unknown } | undefined)?.reason;
    if (reason !== undefined && typeof reason !== 'string') return err(400, 'reason must be a string');
    if (status !== 'CANCELLING') {
      if (typeof reason === 'string') j.cancelReason = reason;
      j.stoppedAs = 'CANCELLED';
      // Cancelling takes a moment once a node holds the job.
      j.stoppedMs = this.now() + (j.assignedMs === undefined ? 0 : 2_000);
    }
    return { status: 200, body: this.jobJson(j) };
  }

  private listRuns(ctx: RequestContext): Reply {
    const uuid = ctx.query.get('filter[job_uuid]');
    const jobs = uuid ? [this.find(uuid)].filter((j): j is FakeJob => j !== undefined) : this.order.filter((j) => !j.vanished);
    this.tick();
    const data = jobs.map((j) => this.runJson(j, false)).filter((r) => r !== undefined);
    return { status: 200, body: { data, page: 1, limit: 20, total: data.length } };
  }

  private async getRun(ctx: RequestContext): Promise<Reply> {
    const j = this.order.find((o) => o.runUuid === ctx.params[0] && !o.vanished);
    this.tick();
    // The container signs its result once, when it completes; runJson shows the cached signature.
    if (j && this.status(j) === 'COMPLETED') await this.publishSealed(j.uuid, j.env, this.files(j));
    if (j && this.status(j) === 'COMPLETED') await this.signResult(j.uuid, () => ({ env: j.env, outputs: this.outputs(j), costUsd: () => this.meteredUsd(j.uuid) }));
    const run = j ? this.runJson(j, true) : undefined;
    return run ? { status: 200, body: run } : err(404, 'Job run not found');
  }
}

function err(status: number, message: string): Reply {
  const names: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict', 429: 'Too Many Requests' };
  return { status, body: { statusCode: status, error: names[status] ?? (status >= 500 ? 'Internal Server Error' : 'Error'), message } };
}

/** Sorted keys, no whitespace, non-ASCII escaped: the body the signature covers. */
function canonical(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort((v as Record<string, unknown>)[k])]));
    return v;
  };
  return JSON.stringify(sort(value)).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function uuidFrom(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
