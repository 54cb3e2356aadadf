// Contract fake of the Chutes API (Bittensor subnet 64) job surface. Follows `chutesai/chutes-api`
// api/job/router.py (POST /jobs/{chute_id}/{method} with a free-form JSON object as job_args, 404
// "Chute … not found", 429 "Daily job quota exceeded", `_disk_gb` checked 10 < x < 1000 -> 400;
// GET /jobs/{job_id} and DELETE /jobs/{job_id} -> 404 "Job not found, or does not belong to you";
// DELETE answers `{deleted: true, job_id}` and removes the job and its files; GET
// /jobs/{job_id}/download/{file_id}; status pending -> complete_pending_uploads -> complete, or
// partial_failure / error), api/job/response.py and api/job/schemas.py (JobResponse fields;
// output_files keyed by file_id = uuid5(job_id, filename); naive UTC datetimes; `status`, `result`,
// `error_detail`, `started_at` from the Job row), and api/payment/router.py (GET /pricing:
// tao_usd, compute_unit_estimate, gpu_price_estimates{gpu: {usd: {hour, second}, tao: {…}}}).
// FastAPI error shapes: `{detail: "…"}`, and 422 `{detail: [{loc, msg, type}]}` for a body that is
// not a JSON object. Auth is `Authorization: Bearer <key>`. The fake plays the chute's job method
// too: a finished job's `result` is `{"outputs":[{"uri","sha256","filename"}]}`, whose files are
// downloadable, so the adapter can verify bytes against hashes. Playing the shard (server.ts): the
// file is testRenderContent(seed, index) when job_args.env has ATELIER_TEST_RENDER_SEED; when that
// env carries the settlement domain, a successful `result` has `signed` next to `outputs`, by
// `payoutKey` (default keccak256("atelier-fake-chutes"), address
// 0xc206dA590239a648E4FA62ef96834E2A58B9FfB6), claiming /pricing's usd.hour for the chute's GPU x
// its GPU count x (finished_at - started_at) whole seconds (what the adapter's getCost reports), in
// token units. Per-job actions: fail, fail-uploads, corrupt (reported hash is not the bytes'), wrong
// (other bytes, hashed and signed as if right), vanish; `everyJob` applies one to every new job.

import { createHash } from 'node:crypto';
import { div, mul, rational, usd } from '../../operator/src/money.js';
import { FakeServer, ProviderFake, fakePayoutKey, realClock, renderContent } from './server.js';
import type { Fault, FakeClock, Reply, RequestContext, Route } from './server.js';

export interface FakeChute {
  chute_id: string;
  name: string;
  methods: string[];
  /** Concurrent jobs miners will take for this chute. */
  capacity: number;
  dailyQuota: number;
  /** Key in gpuHourlyUsd of the GPU the chute runs on (default `h100`), and how many (default 1). */
  gpu?: string;
  gpuCount?: number;
}

export interface ChutesFakeOptions {
  apiKey: string;
  chutes: FakeChute[];
  /** USD per GPU-hour by Chutes GPU key. */
  gpuHourlyUsd: Record<string, number>;
  taoUsd: number;
  claimDelayMs: number;
  jobDurationMs: number;
  uploadMs: number;
  clock: FakeClock;
  /** 0x private key the provider signs results with (a test key; default derived, see the header). */
  payoutKey: string;
  /** A per-job action (`wrong`, `fail`, …) applied to every job when it is created. */
  everyJob?: string;
}

type ChutesStatus = 'pending' | 'complete_pending_uploads' | 'complete' | 'partial_failure' | 'error';

interface FakeJob {
  job_id: string;
  chute: FakeChute;
  method: string;
  job_args: Record<string, unknown>;
  createdMs: number;
  claimedMs?: number;
  instanceId?: string;
  outcome: 'succeed' | 'fail' | 'partial';
  message?: string;
  corrupt: boolean;
  wrong: boolean;
  vanished: boolean;
  key?: string;
}

export class ChutesFake extends ProviderFake {
  readonly server: FakeServer;
  readonly opts: ChutesFakeOptions;
  private readonly jobsById = new Map<string, FakeJob>();
  private readonly order: FakeJob[] = [];
  private readonly submissions = new Map<string, number>();
  private seq = 0;

  constructor(options: Partial<ChutesFakeOptions> = {}) {
    const opts: ChutesFakeOptions = {
      apiKey: 'cpk_test_atelier_0000',
      chutes: [{ chute_id: '5f3a1c2e-0000-4000-8000-00000000c0de', name: 'atelier-sdxl', methods: ['render'], capacity: 4, dailyQuota: 1000 }],
      gpuHourlyUsd: { h100: 1.86, a100: 1.26, '4090': 0.35 },
      taoUsd: 400,
      claimDelayMs: 5_000,
      jobDurationMs: 60_000,
      uploadMs: 2_000,
      clock: realClock,
      payoutKey: fakePayoutKey('chutes'),
      ...options,
    };
    super(opts.payoutKey);
    this.opts = opts;
    this.server = new FakeServer({
      name: 'chutes',
      routes: this.routes(),
      authenticate: (ctx) => (ctx.headers.authorization === `Bearer ${this.opts.apiKey}` ? undefined : { status: 401, body: { detail: 'Invalid or missing credentials' } }),
      admin: {
        state: () => ({ running: this.running(), jobs: this.jobs(), submissions: this.submissionCounts() }),
        jobAction: (id, action) => this.jobAction(id, action),
        everyJob: (action) => this.setEveryJob(action),
      },
      errorReply: (status, message) => ({ status, body: { detail: message } }),
    });
  }

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

  // ---- introspection and per-job faults -------------------------------------------------------

  running(): number {
    return this.order.filter((j) => !j.vanished && this.jobsById.has(j.job_id) && this.isActive(j)).length;
  }

  jobs(): { id: string; key?: string; status: ChutesStatus; active: boolean }[] {
    return this.order
      .filter((j) => !j.vanished && this.jobsById.has(j.job_id))
      .map((j) => {
        const row: { id: string; key?: string; status: ChutesStatus; active: boolean } = { id: j.job_id, status: this.status(j), active: this.isActive(j) };
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

  failJob(id: string, message = 'CUDA error: out of memory'): void {
    const j = this.mustGet(id);
    j.outcome = 'fail';
    j.message = message;
  }

  /** Some output files never arrive: partial_failure. */
  failUploads(id: string): void {
    this.mustGet(id).outcome = 'partial';
  }

  corruptResult(id: string): void {
    this.mustGet(id).corrupt = true;
  }

  /** A consistent but wrong render: other bytes, reported with their own hash and signed normally. */
  wrongResult(id: string): void {
    this.mustGet(id).wrong = true;
  }

  vanish(id: string): void {
    this.mustGet(id).vanished = true;
  }

  protected override moreActions(): Record<string, (id: string) => void> {
    return { 'fail-uploads': (i) => this.failUploads(i) };
  }

  /**
   * What the finished job cost in USD, as the adapter's getCost reports it: gpuHourlyUsd[chute gpu]
   * (as /pricing serves it) x the chute's GPU count x whole seconds from started_at to finished_at.
   */
  meteredUsd(id: string): string {
    const j = this.mustGet(id);
    const gpu = j.chute.gpu ?? 'h100';
    const hour = this.opts.gpuHourlyUsd[gpu];
    if (hour === undefined) throw new Error(`no price for GPU ${gpu}`);
    const done = this.doneMs(j);
    const seconds = j.claimedMs !== undefined && done !== undefined ? Math.max(0, Math.floor((done - j.claimedMs) / 1000)) : 0;
    return usd(div(mul(rational(hour), j.chute.gpuCount ?? 1, seconds), 3600));
  }


  // ---- simulation ---------------------------------------------------------------------------

  private now(): number {
    return this.opts.clock.now();
  }

  private mustGet(id: string): FakeJob {
    const j = this.jobsById.get(id);
    if (!j) throw new Error(`no job ${id}`);
    return j;
  }

  private finishMs(j: FakeJob): number | undefined {
    return j.claimedMs === undefined ? undefined : j.claimedMs + this.opts.jobDurationMs;
  }

  private doneMs(j: FakeJob): number | undefined {
    const f = this.finishMs(j);
    return f === undefined ? undefined : f + (j.outcome === 'fail' ? 0 : this.opts.uploadMs);
  }

  /** Miners claim pending jobs FIFO per chute when a slot is free. */
  private tick(): void {
    const now = this.now();
    for (const j of this.order) {
      if (j.claimedMs !== undefined || j.vanished || !this.jobsById.has(j.job_id)) continue;
      const holders = this.order.filter((o) => o !== j && o.chute === j.chute && !o.vanished && this.jobsById.has(o.job_id) && o.claimedMs !== undefined);
      const used = (at: number): number => holders.filter((o) => (o.claimedMs as number) <= at && (this.doneMs(o) ?? Infinity) > at).length;
      const ends = holders.map((o) => this.doneMs(o) ?? Infinity).sort((a, b) => a - b);
      let t = j.createdMs + this.opts.claimDelayMs;
      while (t <= now && used(t) >= j.chute.capacity) {
        const next = ends.find((e) => e > t);
        t = next ?? Infinity;
      }
      if (t > now) continue;
      j.claimedMs = t;
      j.instanceId = uuidFrom(`instance-${j.job_id}`);
    }
  }

  private isActive(j: FakeJob): boolean {
    this.tick();
    const finish = this.finishMs(j);
    return finish !== undefined && this.now() < finish;
  }

  private status(j: FakeJob): ChutesStatus {
    this.tick();
    const finish = this.finishMs(j);
    if (finish === undefined || this.now() < finish) return 'pending';
    if (j.outcome === 'fail') return 'error';
    if (this.now() < finish + this.opts.uploadMs) return 'complete_pending_uploads';
    return j.outcome === 'partial' ? 'partial_failure' : 'complete';
  }

  private files(j: FakeJob): { fileId: string; filename: string; content: Buffer }[] {
    const filename = `shard-${String((j.job_args.atelier as { shard_index?: number } | undefined)?.shard_index ?? 0)}.png`;
    return [{ fileId: uuidFrom(`${j.job_id}/${filename}`), filename, content: renderContent(this.env(j), `chutes image bytes for ${j.job_id}`, j.wrong) }];
  }

  /** The shard env the adapter sends in job_args.env (string values only). */
  private env(j: FakeJob): Record<string, string> {
    const raw = j.job_args.env;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return {};
    return Object.fromEntries(Object.entries(raw as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'));
  }

  private outputs(j: FakeJob): { uri: string; filename: string; sha256: string }[] {
    return this.files(j).map((f) => ({
      uri: `chutes://jobs/${j.job_id}/files/${f.fileId}`,
      filename: f.filename,
      sha256: createHash('sha256').update(j.corrupt ? Buffer.from('tampered') : f.content).digest('hex'),
    }));
  }

  /** A successful job's result is signed once, when first read after the job finished. */
  private async ensureSigned(j: FakeJob): Promise<void> {
    this.tick();
    const finish = this.finishMs(j);
    if (j.outcome !== 'succeed' || finish === undefined || this.now() < finish) return;
    await this.signResult(j.job_id, () => ({ env: this.env(j), outputs: this.outputs(j), costUsd: () => this.meteredUsd(j.job_id) }));
  }

  // ---- wire shapes ----------------------------------------------------------------------------

  private jobJson(j: FakeJob): Record<string, unknown> {
    const status = this.status(j);
    const finish = this.finishMs(j);
    const finished = status !== 'pending' && finish !== undefined;
    const files = this.files(j);
    const uploaded = status === 'complete' || status === 'partial_failure';
    let result: Record<string, unknown> | null = null;
    if (finished && status !== 'error') {
      result = { outputs: this.outputs(j) };
      const signed = this.signedResult(j.job_id);
      if (signed) result.signed = signed;
    }
    return {
      job_id: j.job_id,
      user_id: 'c0ffee00-0000-4000-8000-000000000001',
      chute_id: j.chute.chute_id,
      version: 'a1b2c3',
      chutes_version: '0.3.40',
      method: j.method,
      instance_id: this.isActive(j) ? (j.instanceId ?? null) : null,
      active: this.isActive(j),
      verified: finished,
      last_queried_at: null,
      created_at: naive(j.createdMs),
      updated_at: finished ? naive(finish) : null,
      started_at: j.claimedMs === undefined ? null : naive(j.claimedMs),
      finished_at: finished ? naive(status === 'error' ? finish : (this.doneMs(j) as number)) : null,
      job_args: j.job_args,
      status,
      result,
      final_result: result,
      error_detail: status === 'error' ? (j.message ?? 'error') : status === 'partial_failure' ? `Failed to upload files: ${files.map((f) => f.filename).join(', ')}` : null,
      output_files: finished && status !== 'error' ? Object.fromEntries(files.map((f) => [f.fileId, { filename: f.filename, path: `jobs/${j.chute.chute_id}/${naive(j.createdMs).slice(0, 10)}/${j.job_id}/outputs/${f.filename}`, uploaded: uploaded && j.outcome !== 'partial' }])) : {},
      port_mappings: [],
      chute: { chute_id: j.chute.chute_id, name: j.chute.name, public: true },
      instance: null,
      output_storage_urls: {},
    };
  }

  // ---- routes -------------------------------------------------------------------------------

  private find(id: string): FakeJob | undefined {
    const j = this.jobsById.get(id);
    return j && !j.vanished ? j : undefined;
  }

  private routes(): Route[] {
    const notFound: Reply = { status: 404, body: { detail: 'Job not found, or does not belong to you' } };
    return [
      { method: 'GET', pattern: /^\/pricing$/, public: true, handle: () => this.pricing() },
      { method: 'GET', pattern: /^\/jobs\/([^/]+)\/download\/([^/]+)$/, handle: (ctx) => this.download(ctx) },
      { method: 'POST', pattern: /^\/jobs\/([^/]+)\/([^/]+)$/, handle: (ctx) => this.createJob(ctx) },
      {
        method: 'GET',
        pattern: /^\/jobs\/([^/]+)$/,
        handle: async (ctx) => {
          const j = this.find(ctx.params[0] ?? '');
          if (!j) return notFound;
          await this.ensureSigned(j);
          return { status: 200, body: this.jobJson(j) };
        },
      },
      { method: 'DELETE', pattern: /^\/jobs\/([^/]+)$/, handle: (ctx) => this.deleteJob(ctx) },
    ];
  }

  private pricing(): Reply {
    const estimates: Record<string, unknown> = {};
    for (const [gpu, usd] of Object.entries(this.opts.gpuHourlyUsd)) {
      const tao = usd / this.opts.taoUsd;
      estimates[gpu] = { usd: { hour: usd, second: usd / 3600 }, tao: { hour: tao, second: tao / 3600 } };
    }
    const cu = 0.0001;
    return {
      status: 200,
      body: {
        tao_usd: this.opts.taoUsd,
        first_payment_bonus: { minimum_payment_usd: 50, bonus_amount_usd: 10 },
        compute_unit_estimate: { usd: cu, tao: cu / this.opts.taoUsd, description: "a single compute unit is considered one second of compute time on the 'worst' currently supported GPU" },
        gpu_price_estimates: estimates,
      },
    };
  }

  private createJob(ctx: RequestContext): Reply {
    const [chuteId = '', method = ''] = ctx.params;
    const chute = this.opts.chutes.find((c) => c.chute_id === chuteId && c.methods.includes(method));
    if (!chute) return { status: 404, body: { detail: `Chute ${chuteId} not found` } };
    const today = this.order.filter((j) => j.chute === chute && naive(j.createdMs).slice(0, 10) === naive(this.now()).slice(0, 10)).length;
    if (today >= chute.dailyQuota) return { status: 429, body: { detail: `Daily job quota exceeded: chute_job_count=${today} of job_quota=${chute.dailyQuota}` } };
    const args = ctx.body;
    if (!args || typeof args !== 'object' || Array.isArray(args)) {
      return { status: 422, body: { detail: [{ loc: ['body'], msg: 'Input should be a valid dictionary', type: 'dict_type' }] } };
    }
    const jobArgs = { ...(args as Record<string, unknown>) };
    const disk = jobArgs._disk_gb;
    if (disk !== undefined && disk !== null && (typeof disk !== 'number' || !(disk > 10 && disk < 1000))) {
      return { status: 400, body: { detail: `Invalid disk size specified: ${String(disk)}` } };
    }
    jobArgs._disk_gb = typeof disk === 'number' && disk ? Math.trunc(disk) : 10;
    this.seq += 1;
    const j: FakeJob = { job_id: uuidFrom(`job-${this.seq}`), chute, method, job_args: jobArgs, createdMs: this.now(), outcome: 'succeed', corrupt: false, wrong: false, vanished: false };
    const key = jobArgs._atelier_idempotency_key;
    if (typeof key === 'string') {
      j.key = key;
      this.submissions.set(key, (this.submissions.get(key) ?? 0) + 1);
    }
    this.jobsById.set(j.job_id, j);
    this.order.push(j);
    this.applyEveryJob(j.job_id);
    return { status: 200, body: this.jobJson(j) };
  }

  private deleteJob(ctx: RequestContext): Reply {
    const id = ctx.params[0] ?? '';
    const j = this.find(id);
    if (!j) return { status: 404, body: { detail: `Job ${id} not found or does not belong to you` } };
    this.jobsById.delete(id);
    return { status: 200, body: { deleted: true, job_id: id } };
  }

  private download(ctx: RequestContext): Reply {
    const [id = '', fileId = ''] = ctx.params;
    const j = this.find(id);
    if (!j) return { status: 404, body: { detail: 'Job not found, or does not belong to you' } };
    const file = this.status(j) === 'complete' ? this.files(j).find((f) => f.fileId === fileId) : undefined;
    if (!file) return { status: 404, body: { detail: `Job output file not found job_id='${id}' file_id='${fileId}'` } };
    return { status: 200, raw: file.content, headers: { 'content-disposition': `attachment; filename="${file.filename}"` } };
  }
}

/** Pydantic serialises the naive UTC datetimes of the Job row without a zone. */
function naive(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '');
}

function uuidFrom(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-9${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
