// Contract fake of the Chutes API (Bittensor subnet 64) job surface. Follows `chutesai/chutes-api` @
// d390a53bc4888a180da7acea326772173848c1d8 and the SDK `chutesai/chutes` @ 08d79872854a664de16b32b14cd0bf947e427517:
// - api/job/response.py:12-41 `JobResponse`, the only fields any job route sends (job_id, user_id,
//   chute_id, version, chutes_version, method, instance_id, active, verified, last_queried_at,
//   created_at, updated_at, finished_at, job_args, result, output_files, host, port_mappings, chute,
//   instance, output_storage_urls). No `status`, `started_at` or `error_detail`: those live only on the
//   database row (api/job/schemas.py:45-57) and are kept here as internal state. `active` is never set
//   on a job row (its default False, schemas.py:40), so it stays false. Datetimes are naive UTC.
// - api/job/router.py: POST /jobs/{chute_id}/{method} (80-206): 404 "Chute … not found"; 429
//   "Daily job quota exceeded: …" with no Retry-After, counted since 00:00 UTC (114-134); `_disk_gb`
//   checked 10 < x < 1000 -> 400, else set to 10 (140-151). GET /jobs/{id} (420-446) -> 404 "Job not
//   found, or does not belong to you". GET /jobs/{id}/download/{file_id} (449-474). DELETE /jobs/{id}
//   (209-262): deletes the stored files, tells the miner to shut the instance down, and then returns
//   `{deleted, job_id}` against `response_model=JobResponse`, which fails response validation: the
//   answer is 500 "Internal Server Error" (plain text, Starlette) and the row deletion is rolled back
//   by get_db_session (api/database/__init__.py:67-77), while the files stay deleted. The miner's
//   instance deletion then ends a running job (api/instance/router.py:1213-1219: finished_at set,
//   result untouched). A job whose SDK reported failure stores result = "error" (router.py:287), which
//   `result: Optional[dict]` cannot carry: every GET of it answers 500 too. Finish protocol
//   (router.py:265-417): the SDK posts {status, result|detail, output_filenames}; output_files keyed by
//   uuid5(job_id, filename) = {filename, path, uploaded:false}; uploads flip `uploaded`; the final PUT
//   sets finished_at and deletes the instance (instance_id -> null). The SDK (chute/job.py:196-247)
//   returns the job function's value as `result` and always uploads `_chute.log` besides the outputs.
// - api/instance/router.py:630-643,1060 (a claimed job gets instance_id when the miner's instance
//   launches; `instance.last_verified_at` is when it was verified and started);
//   api/instance/response.py:29-34 (MinimalInstanceResponse), api/chute/response.py:15-23
//   (MinimalChuteResponse), api/image/response.py:12-17 (MinimalImageResponse).
// - Billing (api/migrations/20250829115200_instance_billing.sql:43-50): a job's instance is billed
//   hourly_rate x (deletion - activated_at) when it is deleted. The fake keeps these records
//   (billing()), its own ledger, which is what tests compare the adapter's cost against.
// - api/payment/router.py:113-152 (GET /pricing: tao_usd, compute_unit_estimate,
//   gpu_price_estimates{gpu: {usd: {hour, second}, tao: {hour, second}}}).
// FastAPI error shapes: `{detail: "…"}`, 422 `{detail: [{loc, msg, type}]}`. Auth `Authorization:
// Bearer <key>` (api/user/service.py). The fake plays the chute's job too: a successful job's result is
// `{"outputs":[{"uri","sha256","filename"}]}` (plus `signed` when the shard env carries the settlement
// domain: signed by `payoutKey`, default keccak256("atelier-fake-chutes"), address
// 0xc206dA590239a648E4FA62ef96834E2A58B9FfB6, claiming what its instance is billed, in token units).
// The file is testRenderContent(seed, index) when job_args.env has ATELIER_TEST_RENDER_SEED. Per-job
// actions: fail, fail-uploads, corrupt, wrong, vanish; `everyJob` applies one to every new job. Every
// DELETE is recorded (deletes()) with whether the job had finished, which the real server would
// have answered by destroying its outputs.

import { createHash } from 'node:crypto';
import { div, mul, rational, usd } from '../../operator/src/money.js';
import { FakeServer, ProviderFake, fakePayoutKey, realClock, renderContent } from './server.js';
import type { FakeClock, Reply, RequestContext, Route } from './server.js';

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

/** The database row's `status` (api/job/schemas.py:55): internal, never sent. */
export type ChutesRowStatus = 'pending' | 'complete_pending_uploads' | 'complete' | 'partial_failure' | 'error';

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
  /** A DELETE was received: its files are gone; a pending job is never claimed; a running one stops. */
  deletedAt?: number;
  key?: string;
}

export interface ChutesJobRow {
  id: string;
  key?: string;
  status: ChutesRowStatus;
  running: boolean;
  finished: boolean;
  deleted: boolean;
}

export interface ChutesBilling {
  job_id: string;
  instance_id: string;
  activatedMs: number;
  stoppedMs: number;
  /** hourly_rate x hours, exact micro-USD decimal string. */
  usd: string;
}

export interface ChutesDelete {
  job_id: string;
  at: number;
  /** finished_at was already set: the real DELETE would have destroyed a finished job's outputs. */
  finished: boolean;
}

export class ChutesFake extends ProviderFake {
  readonly server: FakeServer;
  readonly opts: ChutesFakeOptions;
  private readonly jobsById = new Map<string, FakeJob>();
  private readonly order: FakeJob[] = [];
  private readonly submissions = new Map<string, number>();
  private readonly deleteLog: ChutesDelete[] = [];
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
        state: () => ({ running: this.running(), jobs: this.jobs(), submissions: this.submissionCounts(), deletes: this.deletes(), billing: this.billing() }),
        jobAction: (id, action) => this.jobAction(id, action),
        everyJob: (action) => this.setEveryJob(action),
      },
      errorReply: (status, message) => (status >= 500 ? internalError(status) : { status, body: { detail: message } }),
    });
  }

  // ---- introspection and per-job faults -------------------------------------------------------

  /** Jobs whose instance is up (claimed, not finished). */
  running(): number {
    return this.order.filter((j) => !j.vanished && this.instanceUp(j)).length;
  }

  /** Per job: its row status, whether an instance runs it, finished_at set, a DELETE received. */
  jobs(): ChutesJobRow[] {
    return this.order
      .filter((j) => !j.vanished)
      .map((j) => {
        const row: ChutesJobRow = { id: j.job_id, status: this.rowStatus(j), running: this.instanceUp(j), finished: this.finishedAt(j) !== undefined, deleted: j.deletedAt !== undefined };
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

  /** Every DELETE /jobs/{id} received, in order. */
  deletes(): ChutesDelete[] {
    return this.deleteLog.map((d) => ({ ...d }));
  }

  /** What each job's instance was billed (instances deleted so far), the fake's own ledger. */
  billing(): ChutesBilling[] {
    const out: ChutesBilling[] = [];
    for (const j of this.order) {
      const stopped = this.instanceStopMs(j);
      if (j.claimedMs === undefined || j.instanceId === undefined || stopped === undefined || stopped > this.now()) continue;
      out.push({ job_id: j.job_id, instance_id: j.instanceId, activatedMs: j.claimedMs, stoppedMs: stopped, usd: this.billedUsd(j, stopped) });
    }
    return out;
  }

  failJob(id: string, message = 'CUDA error: out of memory'): void {
    const j = this.mustGet(id);
    j.outcome = 'fail';
    j.message = message;
  }

  /** The shard's output file never arrives: partial_failure. */
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

  /** What the job's instance is billed, or will be when the job runs to its end (the signed claim). */
  meteredUsd(id: string): string {
    const j = this.mustGet(id);
    const stopped = this.instanceStopMs(j);
    return stopped === undefined ? '0' : this.billedUsd(j, stopped);
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

  private hourly(j: FakeJob): number {
    const gpu = j.chute.gpu ?? 'h100';
    const hour = this.opts.gpuHourlyUsd[gpu];
    if (hour === undefined) throw new Error(`no price for GPU ${gpu}`);
    return hour;
  }

  /** hourly_rate (the GPU's price x the chute's GPUs) x (stop - activation), exact to the millisecond. */
  private billedUsd(j: FakeJob, stoppedMs: number): string {
    const ms = Math.max(0, stoppedMs - (j.claimedMs ?? stoppedMs));
    return usd(div(mul(rational(this.hourly(j)), j.chute.gpuCount ?? 1, ms), 3_600_000));
  }

  /** When the SDK posts the job's outcome (the job function returned or raised). */
  private runEndMs(j: FakeJob): number | undefined {
    return j.claimedMs === undefined ? undefined : j.claimedMs + this.opts.jobDurationMs;
  }

  /** When the final PUT sets finished_at and deletes the instance, had nothing interrupted it. */
  private completeMs(j: FakeJob): number | undefined {
    const end = this.runEndMs(j);
    return end === undefined ? undefined : end + this.opts.uploadMs;
  }

  /** When the instance goes away: the final PUT, or the miner's shutdown after a DELETE. */
  private instanceStopMs(j: FakeJob): number | undefined {
    const complete = this.completeMs(j);
    if (j.deletedAt !== undefined && j.claimedMs !== undefined && (complete === undefined || j.deletedAt < complete)) return Math.max(j.claimedMs, j.deletedAt);
    return complete;
  }

  private finishedAt(j: FakeJob): number | undefined {
    this.tick();
    const stop = this.instanceStopMs(j);
    return stop !== undefined && this.now() >= stop ? stop : undefined;
  }

  private instanceUp(j: FakeJob): boolean {
    this.tick();
    return j.claimedMs !== undefined && this.finishedAt(j) === undefined;
  }

  /** The SDK has posted its outcome (result and output_files are set). */
  private reported(j: FakeJob): boolean {
    this.tick();
    const end = this.runEndMs(j);
    if (end === undefined || this.now() < end) return false;
    return j.deletedAt === undefined || j.deletedAt >= end;
  }

  /** Miners claim pending jobs FIFO per chute when a slot is free; a deleted pending job is dropped. */
  private tick(): void {
    const now = this.now();
    for (const j of this.order) {
      if (j.claimedMs !== undefined || j.vanished) continue;
      const holders = this.order.filter((o) => o !== j && o.chute === j.chute && !o.vanished && o.claimedMs !== undefined);
      const used = (at: number): number => holders.filter((o) => (o.claimedMs as number) <= at && (this.instanceStopMs(o) ?? Infinity) > at).length;
      const ends = holders.map((o) => this.instanceStopMs(o) ?? Infinity).sort((a, b) => a - b);
      let t = j.createdMs + this.opts.claimDelayMs;
      while (t <= now && used(t) >= j.chute.capacity) {
        const next = ends.find((e) => e > t);
        t = next ?? Infinity;
      }
      if (t > now || (j.deletedAt !== undefined && j.deletedAt <= t)) continue;
      j.claimedMs = t;
      j.instanceId = uuidFrom(`instance-${j.job_id}`);
    }
  }

  private rowStatus(j: FakeJob): ChutesRowStatus {
    if (!this.reported(j)) return this.finishedAt(j) !== undefined ? 'error' : 'pending';
    if (j.outcome === 'fail') return 'error';
    if (this.finishedAt(j) === undefined) return 'complete_pending_uploads';
    return j.outcome === 'partial' ? 'partial_failure' : 'complete';
  }

  private files(j: FakeJob): { fileId: string; filename: string; content: Buffer; uploads: boolean }[] {
    const out: { fileId: string; filename: string; content: Buffer; uploads: boolean }[] = [];
    if (j.outcome !== 'fail') {
      const filename = `shard-${String((j.job_args.atelier as { shard_index?: number } | undefined)?.shard_index ?? 0)}.png`;
      out.push({ fileId: uuidFrom5(j.job_id, filename), filename, content: renderContent(this.env(j), `chutes image bytes for ${j.job_id}`, j.wrong), uploads: j.outcome !== 'partial' });
    }
    const log = `chute job ${j.job_id} started\n${j.outcome === 'fail' ? `Job failed: ${j.message ?? 'error'}` : 'Job finished successfully.'}\n`;
    out.push({ fileId: uuidFrom5(j.job_id, '_chute.log'), filename: '_chute.log', content: Buffer.from(log, 'utf8'), uploads: true });
    return out;
  }

  /** The shard env the adapter sends in job_args.env (string values only). */
  private env(j: FakeJob): Record<string, string> {
    const raw = j.job_args.env;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return {};
    return Object.fromEntries(Object.entries(raw as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'));
  }

  private outputs(j: FakeJob): { uri: string; filename: string; sha256: string }[] {
    return this.files(j)
      .filter((f) => f.filename !== '_chute.log')
      .map((f) => ({ uri: `chutes://jobs/${j.job_id}/files/${f.fileId}`, filename: f.filename, sha256: createHash('sha256').update(j.corrupt ? Buffer.from('tampered') : f.content).digest('hex') }));
  }

  /** A successful job's result is signed once, when the SDK reports it. */
  private async ensureSigned(j: FakeJob): Promise<void> {
    if (j.outcome === 'fail' || !this.reported(j)) return;
    await this.signResult(j.job_id, () => ({ env: this.env(j), outputs: this.outputs(j), costUsd: () => this.meteredUsd(j.job_id) }));
  }

  // ---- wire shapes ----------------------------------------------------------------------------

  /** The JobResponse of a readable job (response.py:12-41); undefined when it would fail validation. */
  private jobJson(j: FakeJob): Record<string, unknown> | undefined {
    const reported = this.reported(j);
    // result = "error" (router.py:287) cannot be serialised as Optional[dict]: the route answers 500.
    if (reported && j.outcome === 'fail') return undefined;
    const finished = this.finishedAt(j);
    const up = this.instanceUp(j);
    let result: Record<string, unknown> | null = null;
    let outputFiles: Record<string, unknown> = {};
    if (reported) {
      result = { outputs: this.outputs(j) };
      const signed = this.signedResult(j.job_id);
      if (signed) result.signed = signed;
      // Uploads end with the final PUT; a DELETE before that stopped them (and deleted the files).
      const uploadedAll = finished !== undefined && (j.deletedAt === undefined || j.deletedAt >= (this.completeMs(j) ?? Infinity));
      outputFiles = Object.fromEntries(
        this.files(j).map((f) => [f.fileId, { filename: f.filename, path: `jobs/${j.chute.chute_id}/${naive(j.createdMs).slice(0, 10)}/${j.job_id}/outputs/${f.filename}`, uploaded: uploadedAll && f.uploads }]),
      );
    }
    return {
      job_id: j.job_id,
      user_id: 'c0ffee00-0000-4000-8000-000000000001',
      chute_id: j.chute.chute_id,
      version: 'a1b2c3d4-0000-4000-8000-000000000001',
      chutes_version: '0.3.40',
      method: j.method,
      instance_id: up ? (j.instanceId ?? null) : null,
      active: false,
      verified: false,
      last_queried_at: null,
      created_at: naive(j.createdMs),
      updated_at: finished !== undefined ? naive(finished) : null,
      finished_at: finished !== undefined ? naive(finished) : null,
      job_args: j.job_args,
      result,
      output_files: outputFiles,
      host: null,
      port_mappings: [],
      chute: {
        chute_id: j.chute.chute_id,
        name: j.chute.name,
        public: true,
        version: 'a1b2c3d4-0000-4000-8000-000000000001',
        slug: `atelier-${j.chute.name}`,
        chutes_version: '0.3.40',
        preemptible: false,
        image: { image_id: uuidFrom(`image-${j.chute.chute_id}`), name: j.chute.name, tag: '1.0', public: true, patch_version: null },
      },
      instance: up && j.instanceId && j.claimedMs !== undefined ? { instance_id: j.instanceId, region: 'n/a', active: true, verified: true, last_verified_at: naive(j.claimedMs) } : null,
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
          const body = this.jobJson(j);
          return body ? { status: 200, body } : internalError();
        },
      },
      { method: 'DELETE', pattern: /^\/jobs\/([^/]+)$/, handle: (ctx) => this.deleteJob(ctx) },
    ];
  }

  private pricing(): Reply {
    const estimates: Record<string, unknown> = {};
    for (const [gpu, usdHour] of Object.entries(this.opts.gpuHourlyUsd)) {
      const tao = usdHour / this.opts.taoUsd;
      estimates[gpu] = { usd: { hour: usdHour, second: usdHour / 3600 }, tao: { hour: tao, second: tao / 3600 } };
    }
    const cu = 0.0001;
    return {
      status: 200,
      body: {
        tao_usd: this.opts.taoUsd,
        compute_unit_estimate: { usd: cu, tao: cu / this.opts.taoUsd, description: "a single compute unit is considered one second of compute time on the 'worst' currently supported GPU" },
        gpu_price_estimates: estimates,
      },
    };
  }

  private createJob(ctx: RequestContext): Reply {
    const [chuteId = '', method = ''] = ctx.params;
    const chute = this.opts.chutes.find((c) => c.chute_id === chuteId && c.methods.includes(method));
    if (!chute) return { status: 404, body: { detail: `Chute ${chuteId} not found` } };
    const day = naive(this.now()).slice(0, 10);
    const today = this.order.filter((j) => naive(j.createdMs).slice(0, 10) === day);
    const chuteCount = today.filter((j) => j.chute === chute).length;
    const total = 10 * chute.dailyQuota;
    if (chuteCount >= chute.dailyQuota || today.length >= total) {
      return { status: 429, body: { detail: `Daily job quota exceeded: chute_job_count=${chuteCount} total_job_count=${today.length} of job_quota=${chute.dailyQuota} and total_quota=${total}` } };
    }
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
    this.deleteLog.push({ job_id: id, at: this.now(), finished: this.finishedAt(j) !== undefined });
    // batch_delete_stored_files and the miner's shutdown happen; the row's deletion is rolled back.
    j.deletedAt ??= this.now();
    return internalError();
  }

  private download(ctx: RequestContext): Reply {
    const [id = '', fileId = ''] = ctx.params;
    const j = this.find(id);
    if (!j) return { status: 404, body: { detail: 'Job not found, or does not belong to you' } };
    const file = this.reported(j) ? this.files(j).find((f) => f.fileId === fileId) : undefined;
    if (!file) return { status: 404, body: { detail: `Job output file not found job_id='${id}' file_id='${fileId}'` } };
    // Not uploaded (yet), or deleted by a DELETE: the blob store has no such key, the route raises.
    if (this.finishedAt(j) === undefined || !file.uploads || j.deletedAt !== undefined) return internalError();
    return { status: 200, raw: file.content, headers: { 'content-disposition': `attachment; filename="${file.filename}"` } };
  }
}

/** Starlette's answer to an unhandled exception (e.g. FastAPI's ResponseValidationError). */
function internalError(status = 500): Reply {
  return { status, raw: Buffer.from('Internal Server Error', 'utf8'), headers: { 'content-type': 'text/plain; charset=utf-8' } };
}

/** Pydantic serialises a naive datetime like Python's isoformat: no zone, microseconds when not zero. */
function naive(ms: number): string {
  const iso = new Date(ms).toISOString().slice(0, 23);
  return iso.endsWith('.000') ? iso.slice(0, 19) : `${iso}000`;
}

function uuidFrom(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-9${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** uuid.uuid5(uuid.UUID(job_id), filename), as router.py:291-293 keys output_files. */
export function uuidFrom5(namespace: string, name: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const h = createHash('sha1').update(Buffer.concat([ns, Buffer.from(name, 'utf8')])).digest();
  h[6] = ((h[6] as number) & 0x0f) | 0x50;
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}
