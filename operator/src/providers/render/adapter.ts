// Render Network adapter over the Render Compute Network (Dispersed) REST API, following its
// published pages (otoyinc.mintlify.app api-reference/jobs, service-consumers; docs.compute.x.io):
// HMAC-signed requests (signing.ts), POST /v1/jobs as a BATCH docker job, GET /v1/jobs/{uuid} for
// status and times (`started_at`, `completed_at`, `status_reason`), PUT /v1/jobs/{uuid}/cancel with
// `{reason}`, and job runs (GET /v1/job-runs?filter[job_uuid]= gives `uuid, status, started_at_ms,
// node_urls`; GET /v1/job-runs/{uuid} adds `logs`) for container output. The rendering network
// (OctaneRender) itself has no public job API; this is the compute side of Render.
//
// State mapping: PENDING -> Pending, ASSIGNED -> Provisioning, RUNNING -> Running, CANCELLING ->
// Running (still billed until it stops), COMPLETED -> Succeeded (Failed if the shard's own report
// says so), FAILED -> Failed, CANCELLED -> Cancelled, anything else -> Unknown. The message of a
// failed or cancelled job is its `status_reason`.
//
// Prices: Render publishes no prices, so offers and cost estimates come from the ComputeProvider's
// configured USD per GPU-hour per model (`options.prices`); BATCH jobs are charged for actual
// execution time, so cost = price x gpu_count x (completed_at, or now, - started_at) in whole seconds
// (basis `estimated`, billing per second). The run limit is Render's own (max_timeout_run_ms from
// SubmitOptions.maxDurationSec: capabilities.maxDuration = 'provider'); the wait for a node is
// max_timeout_assign_ms (options.maxAssignMs, Render's default 5 minutes when unset).
//
// The docker parameters have no command field: the shard's command and args travel as JSON arrays
// in ATELIER_COMMAND / ATELIER_ARGS, which the shard image's entrypoint runs. Result channel: the
// container prints `ATELIER_RESULT {"outputs":[{"uri","sha256"}]}` as its last report line
// (results.ts), with the provider's EIP-712 `signed` result next to `outputs` when the job settles
// on-chain; getResults reads it from the job run's logs and passes `signed` on as ResultSet.signed.
//
// A finished job no longer changes: the status poll that sees it end keeps the job and its run's
// report (a few thousand at most), so getResults and getCost after it ask nothing again (burst
// benchmark: 5 of Render's 11.3 calls per shard were those second reads).
//
// findByKey: the job title is `atelier-<idempotencyKey>` (and the env carries
// ATELIER_IDEMPOTENCY_KEY); GET /v1/jobs is read page by page (findByKeyMaxPages of 100) until a title
// matches. Render does not publish that list's order or page size, so a key past the pages read is
// not found: capabilities.findByKey = 'bestEffort'.

import { adapterHttpClient, type HttpClient } from '../http.js';
import { compare, div, formatMicros, mul, parseUsd, usd } from '../../money.js';
import { findResultInLog, outputsDigest } from '../results.js';
import { ProviderError, assertIdempotencyKey, shardEnv, systemClock } from '../types.js';
import type {
  AdapterInit,
  Clock,
  CostReport,
  LogOptions,
  Offer,
  OfferRequest,
  ProviderAdapter,
  ProviderCapabilities,
  RemotePhase,
  RemoteStatus,
  ResultSet,
  ResultsUnsupported,
  ShardSpec,
  SubmitOptions,
  SubmitResult,
} from '../types.js';
import { signRequest } from './signing.js';
import type { RenderCredentials } from './signing.js';
import { renderGpuNameOf } from '../../gpus/index.js';

export type { RenderCredentials } from './signing.js';

export interface RenderOptions {
  /** USD per GPU-hour by Atelier GPU name, from the ComputeProvider (Render publishes none). */
  prices: Record<string, string>;
  /** Atelier GPU name -> Render gpu_name; unlisted names are derived (`nvidia-rtx-4090` -> `NVIDIA RTX 4090`). */
  gpuNames: Record<string, string>;
  defaultMaxRunMs: number;
  cpu: number;
  minRamGb: number;
  minStorageGb: number;
  /** Pages of GET /v1/jobs findByKey reads (100 jobs each). */
  findByKeyMaxPages: number;
  /** max_timeout_assign_ms sent with each job (>= 300000); unset: Render's default of 5 minutes. */
  maxAssignMs?: number;
  /** The reason sent with a cancel. */
  cancelReason: string;
}

export const RENDER_DEFAULTS: RenderOptions = {
  prices: {},
  gpuNames: {},
  defaultMaxRunMs: 4 * 3600_000,
  cpu: 4,
  minRamGb: 16,
  minStorageGb: 20,
  findByKeyMaxPages: 10,
  cancelReason: 'cancelled by Atelier',
};

interface WireJob {
  object?: string;
  uuid: string;
  status: string;
  title?: string;
  gpu_count?: number;
  gpu_name?: string;
  created_at?: string;
  updated_at?: string;
  started_at?: string | null;
  completed_at?: string | null;
  status_reason?: string | null;
  parameters?: { parameters?: { env?: Record<string, string> } };
}

/** A job run: `uuid, status, started_at_ms, node_urls`, plus `logs` when read by its uuid. */
interface WireRun {
  uuid: string;
  status: string;
  started_at_ms?: number | null;
  node_urls?: string[];
  logs?: string | string[];
}

const STATES: Record<string, RemotePhase> = {
  PENDING: 'Pending',
  ASSIGNED: 'Provisioning',
  RUNNING: 'Running',
  CANCELLING: 'Running',
  COMPLETED: 'Succeeded',
  FAILED: 'Failed',
  CANCELLED: 'Cancelled',
};

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);
/** Finished jobs kept in memory (a few hundred bytes each). */
const FINISHED_KEPT = 4096;

export function renderGpuName(name: string, overrides: Record<string, string> = {}): string {
  const o = overrides[name] ?? renderGpuNameOf(name);
  if (o) return o;
  const parts = name.split(/[-_ ]/).filter(Boolean);
  return parts.map((p) => p.toUpperCase()).join(' ');
}

export class RenderAdapter implements ProviderAdapter {
  readonly type = 'render' as const;
  private readonly http: HttpClient;
  private readonly opts: RenderOptions;
  private readonly clock: Clock;
  private readonly byKey = new Map<string, string>();
  /** Terminal jobs as last read, with the report of their latest run once read (COMPLETED). */
  private readonly finished = new Map<string, { job: WireJob; report?: ReturnType<typeof findResultInLog>; reportRead: boolean }>();

  constructor(init: AdapterInit<RenderCredentials, RenderOptions>) {
    this.opts = { ...RENDER_DEFAULTS, ...(init.options ?? {}) };
    this.clock = init.clock ?? systemClock;
    const creds = init.credentials;
    this.http = adapterHttpClient('render', init, this.clock, {
      secrets: [creds.secretKey, creds.publicKey],
      authHeaders: (req) => signRequest(creds, req, this.clock.now()),
    });
  }

  capabilities(): ProviderCapabilities {
    return {
      provider: 'render',
      logs: 'snapshot',
      results: 'native',
      resultChannel: 'last `ATELIER_RESULT {"outputs":[{"uri","sha256"}]}` line of the job run logs',
      billing: 'perSecond',
      maxGpusPerJob: 8,
      endsByItself: true,
      findByKey: 'bestEffort',
      runsArbitraryImages: true,
      maxDuration: 'provider',
    };
  }

  async listOffers(req: OfferRequest): Promise<Offer[]> {
    const models = req.gpuModels && req.gpuModels.length > 0 ? req.gpuModels : Object.keys(this.opts.prices);
    const offers: Offer[] = [];
    for (const model of models) {
      const price = this.opts.prices[model];
      if (price === undefined) continue;
      const usdPerGpuHour = formatMicros(parseUsd(price));
      if (req.maxUsdPerGpuHour !== undefined && compare(usdPerGpuHour, req.maxUsdPerGpuHour) > 0) continue;
      offers.push({
        offerId: `render:${renderGpuName(model, this.opts.gpuNames)}`,
        gpuModel: model,
        gpuCount: req.gpuCount,
        usdPerGpuHour,
        rawPrice: price,
        rawUnit: 'USD/GPU-hour (ComputeProvider config; Render publishes no prices)',
      });
    }
    return offers.sort((a, b) => compare(a.usdPerGpuHour, b.usdPerGpuHour));
  }

  async submit(spec: ShardSpec, opts: SubmitOptions): Promise<SubmitResult> {
    assertIdempotencyKey('render', opts.idempotencyKey);
    if (!spec.image) throw this.http.error('invalid', 'shard spec: image is required');
    if (!Number.isInteger(spec.gpuCount) || spec.gpuCount < 1) throw this.http.error('invalid', 'shard spec: gpuCount must be an integer >= 1');
    const model = this.pickModel(spec, opts);
    if (opts.maxUsdPerHour !== undefined && model && this.opts.prices[model] !== undefined) {
      const perHour = parseUsd(this.opts.prices[model] as string) * BigInt(spec.gpuCount);
      if (perHour > parseUsd(opts.maxUsdPerHour)) {
        throw this.http.error('invalid', `configured price ${formatMicros(perHour)} USD/h exceeds the ceiling ${opts.maxUsdPerHour}`);
      }
    }
    const { image, tag } = splitImage(spec.image);
    const env: Record<string, string> = {};
    for (const e of shardEnv(spec, opts.idempotencyKey)) env[e.name] = e.value;
    if (spec.command.length > 0) env.ATELIER_COMMAND = JSON.stringify(spec.command);
    if (spec.args.length > 0) env.ATELIER_ARGS = JSON.stringify(spec.args);
    const body: Record<string, unknown> = {
      task: 'BATCH',
      title: titleFor(opts.idempotencyKey),
      description: `Atelier shard ${spec.shardIndex} of ${spec.jobNamespace}/${spec.jobName}`,
      gpu_count: spec.gpuCount,
      cpu_count: spec.resources?.cpu ?? this.opts.cpu,
      min_ram_gb: spec.resources?.memoryGi ?? this.opts.minRamGb,
      min_storage_gb: spec.resources?.storageGi ?? this.opts.minStorageGb,
      max_timeout_run_ms: Math.max(60_000, opts.maxDurationSec !== undefined ? opts.maxDurationSec * 1000 : this.opts.defaultMaxRunMs),
      parameters: { type: 'docker', parameters: { image, tag, env } },
    };
    if (model) body.gpu_name = renderGpuName(model, this.opts.gpuNames);
    if (this.opts.maxAssignMs !== undefined) body.max_timeout_assign_ms = Math.max(300_000, Number(this.opts.maxAssignMs));
    if (spec.resources?.minVramGb !== undefined) body.min_vram_gb = spec.resources.minVramGb;
    const job = await this.http.json<WireJob>({ method: 'POST', path: '/v1/jobs', body });
    if (!job?.uuid) throw this.http.error('fatal', 'POST /v1/jobs: answer without uuid');
    this.byKey.set(opts.idempotencyKey, job.uuid);
    return { remoteId: job.uuid };
  }

  /** The offer's model when given, else the cheapest configured model the shard accepts, else the first accepted. */
  private pickModel(spec: ShardSpec, opts: SubmitOptions): string | undefined {
    if (opts.offerId?.startsWith('render:')) {
      const gpuName = opts.offerId.slice('render:'.length);
      const hit = [...spec.gpuModels, ...Object.keys(this.opts.prices)].find((m) => renderGpuName(m, this.opts.gpuNames) === gpuName);
      if (hit) return hit;
    }
    const priced = spec.gpuModels.filter((m) => this.opts.prices[m] !== undefined).sort((a, b) => compare(this.opts.prices[a] as string, this.opts.prices[b] as string));
    return priced[0] ?? spec.gpuModels[0];
  }

  async findByKey(idempotencyKey: string): Promise<string | undefined> {
    assertIdempotencyKey('render', idempotencyKey);
    const known = this.byKey.get(idempotencyKey);
    if (known) return known;
    const title = titleFor(idempotencyKey);
    for (let page = 1; page <= this.opts.findByKeyMaxPages; page++) {
      const res = await this.http.json<{ data: WireJob[]; total?: number; limit?: number }>({ method: 'GET', path: '/v1/jobs', query: { page, limit: 100 }, idempotent: true });
      const jobs = res?.data ?? [];
      const hit = jobs.find((j) => j.title === title || j.parameters?.parameters?.env?.ATELIER_IDEMPOTENCY_KEY === idempotencyKey);
      if (hit) {
        this.byKey.set(idempotencyKey, hit.uuid);
        return hit.uuid;
      }
      if (jobs.length < 100) break;
    }
    return undefined;
  }

  async getStatus(uuid: string): Promise<RemoteStatus> {
    const job = await this.getJob(uuid);
    let phase = STATES[job.status] ?? 'Unknown';
    const status: RemoteStatus = { phase, raw: job.status };
    if (job.status === 'CANCELLING') status.message = 'cancel requested';
    const started = parseTime(job.started_at);
    const completed = parseTime(job.completed_at);
    if (started) status.startedAt = started;
    if (completed && TERMINAL.has(job.status)) status.endedAt = completed;
    if (job.status === 'FAILED' || job.status === 'CANCELLED') {
      if (job.status_reason) status.message = job.status_reason;
    }
    if (TERMINAL.has(job.status)) this.keepFinished(uuid, job);
    if (job.status === 'COMPLETED') {
      const report = await this.reportOf(uuid);
      if (report?.state === 'failed') {
        phase = 'Failed';
        status.message = report.message ?? 'the shard reported failure';
      }
      status.phase = phase;
    }
    return status;
  }

  async logs(uuid: string, opts: LogOptions = {}): Promise<string[]> {
    const run = await this.latestRun(uuid);
    if (!run) return [];
    const lines = logLines((await this.getRun(run.uuid)).logs);
    return opts.tail ? lines.slice(-opts.tail) : lines;
  }

  async getResults(uuid: string): Promise<ResultSet | ResultsUnsupported> {
    const job = this.finished.get(uuid)?.job ?? (await this.getJob(uuid));
    if (job.status !== 'COMPLETED') throw this.http.error('invalid', `results for job ${uuid} are not available (status ${job.status})`);
    const report = await this.reportOf(uuid);
    if (!report || report.state === 'failed') throw this.http.error('fatal', `job ${uuid} completed without an ATELIER_RESULT report`);
    const result: ResultSet = { supported: true, outputs: report.outputs, digest: outputsDigest(report.outputs), integrity: 'reported' };
    if (report.signed) result.signed = report.signed;
    return result;
  }

  async cancel(uuid: string): Promise<void> {
    let job: WireJob;
    try {
      job = await this.getJob(uuid);
    } catch (err) {
      if (err instanceof ProviderError && err.kind === 'notFound') return;
      throw err;
    }
    if (TERMINAL.has(job.status) || job.status === 'CANCELLING') return;
    try {
      await this.http.json({ method: 'PUT', path: `/v1/jobs/${encodeURIComponent(uuid)}/cancel`, body: { reason: this.opts.cancelReason }, idempotent: true });
    } catch (err) {
      // 409: it finished between our read and the cancel; 404: it is gone. Either way nothing runs.
      if (err instanceof ProviderError && (err.kind === 'notFound' || err.status === 409)) return;
      throw err;
    }
  }

  async getCost(uuid: string): Promise<CostReport> {
    const job = this.finished.get(uuid)?.job ?? (await this.getJob(uuid));
    const model = Object.keys(this.opts.prices).find((m) => renderGpuName(m, this.opts.gpuNames) === job.gpu_name);
    const price = model ? this.opts.prices[model] : undefined;
    if (price === undefined) throw this.http.error('invalid', `no configured price for gpu_name ${JSON.stringify(job.gpu_name ?? '')}`);
    const start = parseTime(job.started_at)?.getTime();
    const end = parseTime(job.completed_at)?.getTime() ?? (TERMINAL.has(job.status) ? start : this.clock.now());
    const seconds = start !== undefined && end !== undefined ? Math.max(0, Math.floor((end - start) / 1000)) : 0;
    const amount = usd(div(mul(price, job.gpu_count ?? 1, seconds), 3600));
    return { amount, currency: 'USD', usd: amount, basis: 'estimated', seconds };
  }

  // ---- helpers ------------------------------------------------------------------------------

  private keepFinished(uuid: string, job: WireJob): void {
    if (this.finished.has(uuid)) return;
    this.finished.set(uuid, { job, reportRead: false });
    // The oldest go first; an evicted job is read again if asked for.
    if (this.finished.size > FINISHED_KEPT) this.finished.delete(this.finished.keys().next().value as string);
  }

  /** The ATELIER_RESULT report of a completed job's latest run, read once per job while it is kept. */
  private async reportOf(uuid: string): Promise<ReturnType<typeof findResultInLog>> {
    const kept = this.finished.get(uuid);
    if (kept?.reportRead) return kept.report;
    const run = await this.latestRun(uuid);
    const report = run ? findResultInLog(logLines((await this.getRun(run.uuid)).logs)) : undefined;
    if (kept) Object.assign(kept, { report, reportRead: true });
    return report;
  }

  private async getJob(uuid: string): Promise<WireJob> {
    if (!/^[0-9a-fA-F-]{8,64}$/.test(uuid)) throw this.http.error('invalid', `not a job uuid: ${JSON.stringify(uuid)}`);
    const job = await this.http.json<WireJob>({ method: 'GET', path: `/v1/jobs/${uuid}`, idempotent: true });
    if (!job?.status) throw this.http.error('fatal', `GET /v1/jobs/${uuid}: answer without status`);
    return job;
  }

  private async latestRun(uuid: string): Promise<WireRun | undefined> {
    const res = await this.http.json<{ data: WireRun[] }>({ method: 'GET', path: '/v1/job-runs', query: { 'filter[job_uuid]': uuid }, idempotent: true });
    const runs = res?.data ?? [];
    return runs[runs.length - 1];
  }

  private async getRun(runUuid: string): Promise<WireRun> {
    return this.http.json<WireRun>({ method: 'GET', path: `/v1/job-runs/${encodeURIComponent(runUuid)}`, idempotent: true });
  }
}

function parseTime(value: string | null | undefined): Date | undefined {
  if (!value) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : new Date(t);
}

function titleFor(key: string): string {
  return `atelier-${key}`;
}

function logLines(logs: string | string[] | undefined): string[] {
  if (!logs) return [];
  return Array.isArray(logs) ? logs : logs.split(/\r?\n/).filter((l) => l !== '');
}

/** `ghcr.io/acme/sdxl:1.4` -> {image: ghcr.io/acme/sdxl, tag: 1.4}; a digest reference keeps its digest as the tag. */
export function splitImage(ref: string): { image: string; tag: string } {
  const at = ref.indexOf('@');
  if (at >= 0) return { image: ref.slice(0, at), tag: ref.slice(at + 1) };
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  if (colon > slash) return { image: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { image: ref, tag: 'latest' };
}

