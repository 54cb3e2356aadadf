// Bittensor adapter over Chutes (subnet 64), following chutesai/chutes-api (api/job/router.py,
// api/job/response.py, api/payment/router.py, api/instance/router.py) and the SDK chutesai/chutes
// (chute/job.py): Bearer auth, POST /jobs/{chute_id}/{method} with the shard as the job's JSON
// arguments, GET /jobs/{id}, DELETE /jobs/{id}, GET /jobs/{id}/download/{file_id}, GET /pricing.
// Chutes does not run arbitrary images: a job calls a method of a pre-deployed chute
// (options.chuteId/method), which receives the Atelier envelope `{_atelier_idempotency_key, atelier:
// {job_uid, shard_index, frames, output_uri, image, command, args, …}, env: {…}}` as keyword arguments
// (with `_disk_gb` and `output_dir` added by the API and SDK), so its function must take **kwargs.
//
// State: the job answer (`JobResponse`) has no status word. A job is over when `finished_at` is set;
// before that it is Pending until a miner's instance holds it (`instance_id`), then Running (outputs
// uploading once `result` is set). Once finished: Succeeded when `result` is the shard's outputs report
// and every output file is `uploaded`; Failed when a file did not upload (partial_failure), when there
// is no result (the miner's instance ended first), or when the report says failed; Cancelled when
// this process sent the DELETE. A job whose SDK reported failure stores result = "error", which the
// declared response model cannot carry, so every read of it answers 5xx: after `unreadableAfter`
// consecutive 5xx reads while GET /pricing answers (the API itself is up), the job is Failed.
//
// Prices: GET /pricing gives `gpu_price_estimates[gpu].usd.hour` (JSON numbers) -> exact decimal USD
// per GPU-hour. Chutes bills the job's instance at its hourly rate from activation to deletion
// (api/migrations/20250829115200_instance_billing.sql), and the final PUT that sets finished_at
// deletes it; the instance's `last_verified_at` (when it started the job) is read while it runs.
// Cost = price x the chute's GPU count x (finished_at - that start), basis estimated; when this
// process never saw the instance (a restart), the start falls back to created_at, an upper bound.
//
// Result channel: the chute's job returns `{"outputs":[{"uri","sha256","filename"}]}` as its result
// and writes the files to output_dir, which the SDK uploads; getResults downloads each through the
// API and checks its sha256, so integrity is `verified` or `mismatch`. When the job settles on-chain
// the result also carries `signed` (results.ts), passed on as ResultSet.signed. Logs: the SDK uploads
// `_chute.log` as an output file; logs() downloads it once the job finished.
//
// findByKey: Chutes has no job listing and no client-chosen id, so the key cannot be searched for
// remotely. The adapter records key -> job id in a SubmissionJournal right after the POST (memory by
// default; pass a durable one), and the caller records the intent before submit() and the job id
// right after it. A crash between the POST's answer and that record leaves at most one orphan job,
// which ends by itself: capabilities.findByKey = 'process' says so.
//
// cancel: DELETE removes a job's stored outputs (router.py:233) before answering, so a job with
// finished_at set is never deleted (it is read right before each DELETE). The DELETE itself answers
// 500 (it returns a body its declared model rejects) after its effects: a 500 counts as sent. Other
// failures (a gateway's 502/503, no answer) are thrown, and the next cancel() sends it again while
// the job is still unfinished, which is harmless.
//
// Quota: 429 "Daily job quota exceeded" comes with no Retry-After; the count restarts at 00:00 UTC
// (router.py:114-134), so it is a QuotaExceededError until then, not a rate limit to retry through.

import { chutesGpuKeyOf } from '../../gpus/index.js';
import { adapterHttpClient, type HttpClient } from '../http.js';
import { compare, div, mul, rational, usd } from '../../money.js';
import { outputsDigest, parseResultReport, sha256Hex } from '../results.js';
import type { ResultReport } from '../results.js';
import { ProviderError, QuotaExceededError, assertIdempotencyKey, memoryJournal, shardEnv, systemClock } from '../types.js';
import type {
  AdapterInit,
  Clock,
  CostReport,
  LogOptions,
  Offer,
  OfferRequest,
  ProviderAdapter,
  ProviderCapabilities,
  RemoteStatus,
  ResultSet,
  ResultsUnsupported,
  ShardSpec,
  SubmissionJournal,
  SubmitOptions,
  SubmitResult,
} from '../types.js';

export interface ChutesCredentials {
  /** `cpk_…` */
  apiKey: string;
}

export interface ChutesOptions {
  chuteId: string;
  method: string;
  /** Atelier name of the GPU the chute runs on (for offers and cost). */
  gpuModel: string;
  /** GPUs one chute instance uses. */
  gpuCount: number;
  /** Atelier GPU name -> key in gpu_price_estimates; unlisted names are derived (`nvidia-rtx-4090` -> `4090`). */
  gpuKeys: Record<string, string>;
  diskGb?: number;
  pricingTtlMs: number;
  /** Consecutive 5xx reads of a job (while /pricing answers) after which it counts as failed. */
  unreadableAfter: number;
}

export const CHUTES_DEFAULTS: ChutesOptions = {
  chuteId: '',
  method: 'render',
  gpuModel: 'nvidia-h100',
  gpuCount: 1,
  gpuKeys: {},
  pricingTtlMs: 60_000,
  unreadableAfter: 3,
};

export type ChutesInit = AdapterInit<ChutesCredentials, ChutesOptions> & { journal?: SubmissionJournal };

/** One output file of a job (router.py:298-302). */
interface WireFile {
  filename: string;
  path?: string;
  uploaded?: boolean;
}

/** `JobResponse` (api/job/response.py:12-41); only what the adapter reads. */
interface WireJob {
  job_id: string;
  chute_id?: string;
  instance_id?: string | null;
  created_at?: string;
  updated_at?: string | null;
  finished_at?: string | null;
  result?: Record<string, unknown> | null;
  output_files?: Record<string, WireFile> | null;
  instance?: { instance_id: string; last_verified_at?: string | null } | null;
}

interface WirePricing {
  tao_usd?: number;
  gpu_price_estimates?: Record<string, { usd?: { hour?: number }; tao?: { hour?: number } }>;
}

const LOG_FILE = '_chute.log';
/** Finished jobs kept in memory (a few hundred bytes each). */
const FINISHED_KEPT = 4096;

export function chutesGpuKey(name: string, overrides: Record<string, string> = {}): string {
  return overrides[name] ?? chutesGpuKeyOf(name) ?? name.toLowerCase().replace(/^nvidia[-_ ]/, '').replace(/^rtx[-_ ]?/, '').replace(/[-_ ]\d+gb?$/, '').replace(/[-_ ]/g, '');
}

/** The next 00:00 UTC after `now`, when Chutes' daily job count starts again. */
export function nextUtcMidnight(now: number): Date {
  const d = new Date(now);
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1));
}

export class ChutesAdapter implements ProviderAdapter {
  readonly type = 'bittensor' as const;
  private readonly http: HttpClient;
  private readonly opts: ChutesOptions;
  private readonly clock: Clock;
  private readonly journal: SubmissionJournal;
  /** Jobs this process sent a DELETE for. */
  private readonly cancelled = new Set<string>();
  /** When this process first saw each job's instance at work (instance.last_verified_at, or the read). */
  private readonly startedAt = new Map<string, number>();
  /** Finished jobs as the status poll read them (keepFinished). */
  private readonly finished = new Map<string, WireJob>();
  /** Consecutive 5xx reads per job while the API answered otherwise. */
  private readonly unreadable = new Map<string, number>();
  private pricing?: { at: number; body: WirePricing };

  constructor(init: ChutesInit) {
    this.opts = { ...CHUTES_DEFAULTS, ...(init.options ?? {}) };
    // ComputeProvider spec.options arrive as strings.
    this.opts.unreadableAfter = Number(this.opts.unreadableAfter);
    this.clock = init.clock ?? systemClock;
    this.journal = init.journal ?? memoryJournal();
    const apiKey = init.credentials.apiKey;
    this.http = adapterHttpClient('bittensor', init, this.clock, {
      secrets: [apiKey],
      authHeaders: () => ({ authorization: `Bearer ${apiKey}` }),
    });
  }

  capabilities(): ProviderCapabilities {
    return {
      provider: 'bittensor',
      logs: 'snapshot',
      results: 'native',
      resultChannel: 'the chute job result {"outputs":[{"uri","sha256","filename"}]} plus its uploaded output files',
      billing: 'perSecond',
      maxGpusPerJob: this.opts.gpuCount,
      endsByItself: true,
      findByKey: 'process',
      runsArbitraryImages: false,
      // A job's timeout is the chute's own (set when it was deployed), not a per-job field.
      maxDuration: 'operator',
    };
  }

  async listOffers(req: OfferRequest): Promise<Offer[]> {
    const models = req.gpuModels && req.gpuModels.length > 0 ? req.gpuModels.filter((m) => m === this.opts.gpuModel) : [this.opts.gpuModel];
    if (req.gpuCount > this.opts.gpuCount) return [];
    const pricing = await this.getPricing();
    const offers: Offer[] = [];
    for (const model of models) {
      const key = chutesGpuKey(model, this.opts.gpuKeys);
      const hour = pricing.gpu_price_estimates?.[key]?.usd?.hour;
      if (typeof hour !== 'number') continue;
      const usdPerGpuHour = usd(rational(hour));
      if (req.maxUsdPerGpuHour !== undefined && compare(usdPerGpuHour, req.maxUsdPerGpuHour) > 0) continue;
      offers.push({
        offerId: `chutes:${this.opts.chuteId}:${key}`,
        gpuModel: model,
        gpuCount: this.opts.gpuCount,
        usdPerGpuHour,
        rawPrice: String(hour),
        rawUnit: 'USD/GPU-hour (GET /pricing gpu_price_estimates)',
      });
    }
    return offers;
  }

  async submit(spec: ShardSpec, opts: SubmitOptions): Promise<SubmitResult> {
    assertIdempotencyKey('bittensor', opts.idempotencyKey);
    if (!this.opts.chuteId) throw this.http.error('invalid', 'no chute configured (options.chuteId)');
    if (spec.gpuCount > this.opts.gpuCount) throw this.http.error('invalid', `shard needs ${spec.gpuCount} GPUs; the chute has ${this.opts.gpuCount}`);
    const env: Record<string, string> = {};
    for (const e of shardEnv(spec, opts.idempotencyKey)) env[e.name] = e.value;
    const atelier: Record<string, unknown> = {
      job_uid: spec.jobUid,
      namespace: spec.jobNamespace,
      job: spec.jobName,
      shard_index: spec.shardIndex,
      output_uri: spec.outputUri,
      image: spec.image,
      command: spec.command,
      args: spec.args,
    };
    if (spec.shardCount !== undefined) atelier.shard_count = spec.shardCount;
    if (spec.frames) atelier.frames = spec.frames;
    if (opts.maxDurationSec !== undefined) atelier.max_duration_sec = opts.maxDurationSec;
    const body: Record<string, unknown> = { _atelier_idempotency_key: opts.idempotencyKey, atelier, env };
    if (this.opts.diskGb !== undefined) body._disk_gb = this.opts.diskGb;
    const path = `/jobs/${encodeURIComponent(this.opts.chuteId)}/${encodeURIComponent(this.opts.method)}`;
    let job: WireJob;
    try {
      job = await this.http.json<WireJob>({ method: 'POST', path, body });
    } catch (err) {
      // Chutes answers 404 for an unknown chute or method: a configuration error, not a vanished job.
      if (err instanceof ProviderError && err.kind === 'notFound') throw this.http.error('invalid', err.message, err.status);
      if (err instanceof ProviderError && err.status === 429 && err.retryAfterMs === undefined && /daily job quota exceeded/i.test(err.message)) {
        const now = this.clock.now();
        throw new QuotaExceededError('bittensor', `${err.message} (the daily job quota resets at 00:00 UTC)`, nextUtcMidnight(now), now, { status: 429, cause: err });
      }
      throw err;
    }
    if (!job?.job_id) throw this.http.error('fatal', `POST ${path}: answer without job_id`);
    await this.journal.put(opts.idempotencyKey, job.job_id);
    return { remoteId: job.job_id };
  }

  /** From the journal only: Chutes cannot list jobs (the shard spec does not help). */
  async findByKey(idempotencyKey: string, _spec?: ShardSpec): Promise<string | undefined> {
    assertIdempotencyKey('bittensor', idempotencyKey);
    const id = await this.journal.get(idempotencyKey);
    if (!id) return undefined;
    try {
      await this.getJob(id);
      return id;
    } catch (err) {
      if (err instanceof ProviderError && err.kind === 'notFound') return undefined;
      // A job that cannot be read (its result is "error") still exists under this key.
      if (err instanceof ProviderError && err.kind === 'transient' && (err.status ?? 0) >= 500) return id;
      throw err;
    }
  }

  async getStatus(id: string): Promise<RemoteStatus> {
    let job: WireJob;
    try {
      job = await this.getJob(id);
    } catch (err) {
      if (err instanceof ProviderError && err.kind === 'notFound' && this.cancelled.has(id)) return { phase: 'Cancelled', raw: 'deleted', message: 'job deleted by cancel' };
      if (await this.isUnreadable(id, err)) {
        return { phase: 'Failed', raw: 'unreadable', message: `GET /jobs/${id} answers ${(err as ProviderError).status ?? '5xx'} while the API is up: the job reported failure (its result "error" cannot be served)`, endedAt: new Date(this.clock.now()) };
      }
      throw err;
    }
    this.unreadable.delete(id);
    this.noteStart(id, job);
    if (job.finished_at) this.keepFinished(id, job);
    const started = this.startedAt.get(id);
    const ended = parseTime(job.finished_at);
    const files = Object.values(job.output_files ?? {});
    const status = (phase: RemoteStatus['phase'], raw: string, message?: string): RemoteStatus => {
      const s: RemoteStatus = { phase, raw };
      if (message) s.message = message;
      if (started !== undefined) s.startedAt = new Date(started);
      if (ended && (phase === 'Succeeded' || phase === 'Failed' || phase === 'Cancelled')) s.endedAt = ended;
      return s;
    };
    if (!ended) {
      if (this.cancelled.has(id) && !job.instance_id) return status('Cancelled', 'deleted', 'job deleted by cancel before a miner took it');
      if (this.cancelled.has(id)) return status('Running', 'running', 'cancel requested; waiting for the miner to stop');
      if (!job.instance_id) return status('Pending', 'pending', 'waiting for a miner');
      if (job.result) return status('Running', 'uploading', 'uploading outputs');
      return status('Running', 'running');
    }
    const missing = files.filter((f) => f.uploaded !== true).map((f) => f.filename);
    const report = outputsReport(job.result);
    // A DELETE removed whatever outputs the job had: once sent, the job counts as cancelled.
    if (this.cancelled.has(id)) return status('Cancelled', 'deleted', 'job deleted by cancel');
    if (report?.state === 'succeeded' && missing.length === 0) return status('Succeeded', 'finished');
    if (missing.length > 0) return status('Failed', 'finished', `Failed to upload files: ${missing.join(', ')}`);
    if (report?.state === 'failed') return status('Failed', 'finished', report.message ?? 'the shard reported failure');
    if (!job.result) return status('Failed', 'finished', 'finished without a result (the miner instance ended before the job reported)');
    return status('Failed', 'finished', 'the job result is not an outputs report');
  }

  async logs(id: string, opts: LogOptions = {}): Promise<string[]> {
    let job: WireJob;
    try {
      job = await this.getJob(id);
    } catch (err) {
      if (err instanceof ProviderError && err.kind === 'transient') return [];
      throw err;
    }
    if (!job.finished_at) return [];
    const entry = Object.entries(job.output_files ?? {}).find(([, f]) => f.filename === LOG_FILE && f.uploaded === true);
    if (!entry) return [];
    const bytes = await this.http.bytes({ method: 'GET', path: `/jobs/${encodeURIComponent(id)}/download/${encodeURIComponent(entry[0])}`, idempotent: true });
    const lines = Buffer.from(bytes).toString('utf8').split(/\r?\n/).filter((l) => l !== '');
    return opts.tail ? lines.slice(-opts.tail) : lines;
  }

  async getResults(id: string): Promise<ResultSet | ResultsUnsupported> {
    const job = this.finished.get(id) ?? (await this.getJob(id));
    const report = outputsReport(job.result);
    const files = job.output_files ?? {};
    if (!job.finished_at || !report || report.state !== 'succeeded' || Object.values(files).some((f) => f.uploaded !== true)) {
      throw this.http.error('invalid', `results for job ${id} are not available (${job.finished_at ? 'finished without a complete outputs report' : 'not finished'})`);
    }
    const filenames = new Map<string, string>();
    for (const o of (job.result as { outputs: { uri: string; filename?: unknown }[] }).outputs) if (typeof o.filename === 'string') filenames.set(o.uri, o.filename);
    const byName = new Map(Object.entries(files).map(([fileId, f]) => [f.filename, fileId]));
    const mismatches: string[] = [];
    let verified = 0;
    for (const out of report.outputs) {
      const fileId = /^chutes:\/\/jobs\/[^/]+\/files\/([^/]+)$/.exec(out.uri)?.[1] ?? byName.get(filenames.get(out.uri) ?? '');
      if (!fileId) continue;
      const bytes = await this.http.bytes({ method: 'GET', path: `/jobs/${encodeURIComponent(id)}/download/${encodeURIComponent(fileId)}`, idempotent: true });
      const actual = sha256Hex(bytes);
      if (actual === out.sha256) verified += 1;
      else mismatches.push(`${out.uri}: reported ${out.sha256}, content ${actual}`);
    }
    const result: ResultSet = {
      supported: true,
      outputs: report.outputs,
      digest: outputsDigest(report.outputs),
      integrity: mismatches.length > 0 ? 'mismatch' : verified === report.outputs.length && verified > 0 ? 'verified' : 'reported',
    };
    if (mismatches.length > 0) result.mismatches = mismatches;
    if (report.signed) result.signed = report.signed;
    return result;
  }

  async cancel(id: string): Promise<void> {
    let job: WireJob;
    try {
      job = await this.getJob(id);
    } catch (err) {
      if (err instanceof ProviderError && err.kind === 'notFound') return;
      // Unreadable: the job already reported its (failed) outcome; deleting it would only remove its log.
      if (err instanceof ProviderError && err.kind === 'transient' && (err.status ?? 0) >= 500) return;
      throw err;
    }
    // Deleting a finished job deletes its stored outputs: a finished job is left alone.
    if (job.finished_at) return;
    // A pending job the DELETE reached is never claimed: nothing more to do.
    if (this.cancelled.has(id) && !job.instance_id) return;
    try {
      await this.http.json({ method: 'DELETE', path: `/jobs/${encodeURIComponent(id)}` });
    } catch (err) {
      // 404: gone already. 500: the route's own answer after it acted (its body fails its model).
      // Anything else (a gateway's 502/503, no answer) may not have reached it: the caller tries again,
      // and a job still unfinished then is sent another DELETE, which is harmless.
      if (!(err instanceof ProviderError && (err.kind === 'notFound' || err.status === 500))) throw err;
    }
    this.cancelled.add(id);
  }

  async getCost(id: string): Promise<CostReport> {
    const job = this.finished.get(id) ?? (await this.getJob(id));
    this.noteStart(id, job);
    const started = this.startedAt.get(id) ?? parseTime(job.created_at)?.getTime();
    const ended = parseTime(job.finished_at)?.getTime() ?? this.clock.now();
    const ms = started !== undefined && (job.instance_id || job.finished_at) ? Math.max(0, ended - started) : 0;
    const key = chutesGpuKey(this.opts.gpuModel, this.opts.gpuKeys);
    const hour = (await this.getPricing()).gpu_price_estimates?.[key]?.usd?.hour;
    if (typeof hour !== 'number') throw this.http.error('fatal', `GET /pricing has no estimate for GPU ${key}`);
    const amount = usd(div(mul(rational(hour), this.opts.gpuCount, ms), 3_600_000));
    return { amount, currency: 'USD', usd: amount, basis: 'estimated', seconds: Math.floor(ms / 1000) };
  }

  // ---- helpers ------------------------------------------------------------------------------

  /**
   * A finished job (finished_at set) no longer changes, except that a DELETE removes its outputs, which
   * cancel() never sends to a finished job: the status poll that sees it finished keeps it, so
   * getResults and getCost after it read it no more (burst benchmark: 2 of Chutes' 5.4 calls per shard).
   */
  private keepFinished(id: string, job: WireJob): void {
    if (this.finished.has(id)) return;
    this.finished.set(id, job);
    if (this.finished.size > FINISHED_KEPT) this.finished.delete(this.finished.keys().next().value as string);
  }

  private async getJob(id: string): Promise<WireJob> {
    if (!/^[0-9a-fA-F-]{8,64}$/.test(id)) throw this.http.error('invalid', `not a job id: ${JSON.stringify(id)}`);
    const job = await this.http.json<WireJob>({ method: 'GET', path: `/jobs/${id}`, idempotent: true });
    if (!job?.job_id) throw this.http.error('fatal', `GET /jobs/${id}: answer without job_id`);
    return job;
  }

  /** Remembers when the job's instance started it: instance.last_verified_at, else when first seen. */
  private noteStart(id: string, job: WireJob): void {
    if (this.startedAt.has(id) || !job.instance_id) return;
    this.startedAt.set(id, parseTime(job.instance?.last_verified_at)?.getTime() ?? this.clock.now());
  }

  /**
   * True once a job has answered 5xx `unreadableAfter` times in a row while GET /pricing (public,
   * same API) answers: the failed job's result "error" cannot be serialised, and it never will be.
   */
  private async isUnreadable(id: string, err: unknown): Promise<boolean> {
    if (!(err instanceof ProviderError && err.kind === 'transient' && (err.status ?? 0) >= 500)) return false;
    try {
      await this.http.json({ method: 'GET', path: '/pricing', anonymous: true });
    } catch {
      return false;
    }
    const n = (this.unreadable.get(id) ?? 0) + 1;
    this.unreadable.set(id, n);
    return n >= this.opts.unreadableAfter;
  }

  private async getPricing(): Promise<WirePricing> {
    if (this.pricing && this.clock.now() - this.pricing.at < this.opts.pricingTtlMs) return this.pricing.body;
    const body = await this.http.json<WirePricing>({ method: 'GET', path: '/pricing', idempotent: true, anonymous: true });
    this.pricing = { at: this.clock.now(), body: body ?? {} };
    return this.pricing.body;
  }
}

/** The shard's outputs report in a job result (a dict), or undefined. */
function outputsReport(result: unknown): ResultReport | undefined {
  if (!result || typeof result !== 'object' || !Array.isArray((result as { outputs?: unknown }).outputs)) return undefined;
  const report = parseResultReport(result);
  if (!report) return undefined;
  return { ...report, state: report.state ?? 'succeeded' };
}

/** Chutes serialises naive UTC datetimes (no zone); read them as UTC. */
function parseTime(value: string | null | undefined): Date | undefined {
  if (!value) return undefined;
  const zoned = /(Z|[+-]\d\d:?\d\d)$/.test(value) ? value : `${value}Z`;
  const t = Date.parse(zoned);
  return Number.isNaN(t) ? undefined : new Date(t);
}
