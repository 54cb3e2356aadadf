// Bittensor adapter over Chutes (subnet 64), following chutesai/chutes-api api/job/router.py,
// api/job/response.py and api/payment/router.py: Bearer auth, POST /jobs/{chute_id}/{method} with
// the shard as the job's JSON arguments, GET /jobs/{id}, DELETE /jobs/{id}, GET
// /jobs/{id}/download/{file_id}, GET /pricing. Chutes does not run arbitrary images: a job calls a
// method of a pre-deployed chute (options.chuteId/method), which receives the Atelier envelope
// `{_atelier_idempotency_key, atelier: {job_uid, shard_index, frames, output_uri, image, command,
// args, …}, env: {…}}` and must accept it. GPU model and count are the chute's, from options.
//
// State mapping: pending -> Pending (Running once a miner instance holds it, `started_at` set),
// complete_pending_uploads -> Running (outputs uploading), complete -> Succeeded (Failed if the
// report says failed), partial_failure -> Failed, error -> Failed; a job we deleted -> Cancelled.
//
// Prices: GET /pricing gives `gpu_price_estimates[gpu].usd.hour` (JSON numbers) -> exact decimal
// USD per GPU-hour; cost = that x the chute's GPU count x (finished_at - started_at), estimated.
//
// Result channel: the chute's job returns `{"outputs":[{"uri","sha256","filename"}]}` as its
// result and uploads the files; getResults downloads each file through the API and checks its
// sha256, so integrity is `verified` or `mismatch` here, not merely `reported`. When the job settles
// on-chain the result also carries `signed` (the provider's EIP-712 ShardResult signature, see
// results.ts) next to `outputs`; it is passed on as ResultSet.signed.
//
// findByKey: Chutes has no job listing and no client-chosen id, so the key cannot be searched for
// remotely. The adapter records key -> job id in a SubmissionJournal right after the POST (memory by
// default; pass a durable one). A crash between the POST's answer and that record can leave one
// orphaned job: capabilities.findByKey = 'process' says so. The marker travels in the job args.
// DELETE removes a job and its files, so cancel() never deletes a finished job.

import { HttpClient, retryPolicy } from '../http.js';
import { compare, div, mul, rational, usd } from '../../money.js';
import { outputsDigest, parseResultReport, sha256Hex } from '../results.js';
import { ProviderError, assertIdempotencyKey, memoryJournal, shardEnv, systemClock } from '../types.js';
import type {
  AdapterInit,
  Clock,
  CostReport,
  Offer,
  OfferRequest,
  ProviderAdapter,
  ProviderCapabilities,
  RemotePhase,
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
}

export const CHUTES_DEFAULTS: ChutesOptions = {
  chuteId: '',
  method: 'render',
  gpuModel: 'nvidia-h100',
  gpuCount: 1,
  gpuKeys: {},
  pricingTtlMs: 60_000,
};

export type ChutesInit = AdapterInit<ChutesCredentials, ChutesOptions> & { journal?: SubmissionJournal };

interface WireJob {
  job_id: string;
  chute_id?: string;
  status?: string;
  active?: boolean;
  instance_id?: string | null;
  created_at?: string;
  started_at?: string | null;
  finished_at?: string | null;
  result?: unknown;
  final_result?: unknown;
  error_detail?: string | null;
  output_files?: Record<string, { filename: string; path?: string; uploaded?: boolean }> | { filename: string }[] | null;
}

interface WirePricing {
  tao_usd?: number;
  gpu_price_estimates?: Record<string, { usd?: { hour?: number }; tao?: { hour?: number } }>;
}

const FINISHED = new Set(['complete', 'partial_failure', 'error']);

export function chutesGpuKey(name: string, overrides: Record<string, string> = {}): string {
  return overrides[name] ?? name.toLowerCase().replace(/^nvidia[-_ ]/, '').replace(/^rtx[-_ ]?/, '').replace(/[-_ ]\d+gb?$/, '').replace(/[-_ ]/g, '');
}

export class ChutesAdapter implements ProviderAdapter {
  readonly type = 'bittensor' as const;
  private readonly http: HttpClient;
  private readonly opts: ChutesOptions;
  private readonly clock: Clock;
  private readonly journal: SubmissionJournal;
  private readonly cancelled = new Set<string>();
  private pricing?: { at: number; body: WirePricing };

  constructor(init: ChutesInit) {
    this.opts = { ...CHUTES_DEFAULTS, ...(init.options ?? {}) };
    this.clock = init.clock ?? systemClock;
    this.journal = init.journal ?? memoryJournal();
    const apiKey = init.credentials.apiKey;
    this.http = new HttpClient({
      provider: 'bittensor',
      endpoint: init.endpoint,
      fetch: init.fetch ?? ((input, reqInit) => fetch(input, reqInit)),
      clock: this.clock,
      timeoutMs: init.timeoutMs ?? 15_000,
      retry: retryPolicy(init.retry),
      secrets: [apiKey],
      authHeaders: () => ({ authorization: `Bearer ${apiKey}` }),
    });
  }

  capabilities(): ProviderCapabilities {
    return {
      provider: 'bittensor',
      logs: 'none',
      results: 'native',
      resultChannel: 'the chute job result {"outputs":[{"uri","sha256","filename"}]} plus its uploaded output files',
      billing: 'perSecond',
      maxGpusPerJob: this.opts.gpuCount,
      endsByItself: true,
      findByKey: 'process',
      runsArbitraryImages: false,
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
      throw err;
    }
    if (!job?.job_id) throw this.http.error('fatal', `POST ${path}: answer without job_id`);
    await this.journal.put(opts.idempotencyKey, job.job_id);
    return { remoteId: job.job_id };
  }

  async findByKey(idempotencyKey: string): Promise<string | undefined> {
    assertIdempotencyKey('bittensor', idempotencyKey);
    const id = await this.journal.get(idempotencyKey);
    if (!id) return undefined;
    try {
      await this.getJob(id);
      return id;
    } catch (err) {
      if (err instanceof ProviderError && err.kind === 'notFound') return undefined;
      throw err;
    }
  }

  async getStatus(id: string): Promise<RemoteStatus> {
    let job: WireJob;
    try {
      job = await this.getJob(id);
    } catch (err) {
      if (err instanceof ProviderError && err.kind === 'notFound' && this.cancelled.has(id)) return { phase: 'Cancelled', raw: 'deleted', message: 'job deleted by cancel' };
      throw err;
    }
    const raw = job.status ?? (job.finished_at ? 'finished' : 'pending');
    let phase: RemotePhase;
    let message: string | undefined;
    switch (raw) {
      case 'pending':
        phase = job.active || job.instance_id || job.started_at ? 'Running' : 'Pending';
        break;
      case 'complete_pending_uploads':
        phase = 'Running';
        message = 'uploading outputs';
        break;
      case 'complete': {
        const report = parseResultReport(job.final_result ?? job.result);
        phase = report?.state === 'failed' ? 'Failed' : 'Succeeded';
        message = report?.message;
        break;
      }
      case 'partial_failure':
      case 'error':
        phase = 'Failed';
        message = job.error_detail ?? raw;
        break;
      default:
        phase = 'Unknown';
    }
    const status: RemoteStatus = { phase, raw };
    if (message) status.message = message;
    const started = parseTime(job.started_at);
    const ended = parseTime(job.finished_at);
    if (started) status.startedAt = started;
    if (ended && FINISHED.has(raw)) status.endedAt = ended;
    return status;
  }

  async logs(): Promise<string[]> {
    return [];
  }

  async getResults(id: string): Promise<ResultSet | ResultsUnsupported> {
    const job = await this.getJob(id);
    if (job.status !== 'complete') throw this.http.error('invalid', `results for job ${id} are not available (status ${job.status ?? 'unknown'})`);
    const rawResult = job.final_result ?? job.result;
    const report = parseResultReport(rawResult);
    if (!report || report.state === 'failed') throw this.http.error('fatal', `job ${id} completed without an outputs report`);
    const filenames = new Map<string, string>();
    for (const o of (rawResult as { outputs: { uri: string; filename?: unknown }[] }).outputs) if (typeof o.filename === 'string') filenames.set(o.uri, o.filename);
    const files = fileIndex(job.output_files);
    const mismatches: string[] = [];
    let verified = 0;
    for (const out of report.outputs) {
      const fileId = /^chutes:\/\/jobs\/[^/]+\/files\/([^/]+)$/.exec(out.uri)?.[1] ?? files.get(filenames.get(out.uri) ?? '');
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
      throw err;
    }
    // Deleting a finished job would delete its outputs too: a terminal job is left alone.
    if (job.status && FINISHED.has(job.status)) return;
    try {
      await this.http.json({ method: 'DELETE', path: `/jobs/${encodeURIComponent(id)}`, idempotent: true });
    } catch (err) {
      if (!(err instanceof ProviderError && err.kind === 'notFound')) throw err;
    }
    this.cancelled.add(id);
  }

  async getCost(id: string): Promise<CostReport> {
    const job = await this.getJob(id);
    const started = parseTime(job.started_at);
    const ended = parseTime(job.finished_at) ?? new Date(this.clock.now());
    const seconds = started ? Math.max(0, Math.floor((ended.getTime() - started.getTime()) / 1000)) : 0;
    const key = chutesGpuKey(this.opts.gpuModel, this.opts.gpuKeys);
    const hour = (await this.getPricing()).gpu_price_estimates?.[key]?.usd?.hour;
    if (typeof hour !== 'number') throw this.http.error('fatal', `GET /pricing has no estimate for GPU ${key}`);
    const amount = usd(div(mul(rational(hour), this.opts.gpuCount, seconds), 3600));
    return { amount, currency: 'USD', usd: amount, basis: 'estimated', seconds };
  }

  // ---- helpers ------------------------------------------------------------------------------

  private async getJob(id: string): Promise<WireJob> {
    if (!/^[0-9a-fA-F-]{8,64}$/.test(id)) throw this.http.error('invalid', `not a job id: ${JSON.stringify(id)}`);
    const job = await this.http.json<WireJob>({ method: 'GET', path: `/jobs/${id}`, idempotent: true });
    if (!job?.job_id) throw this.http.error('fatal', `GET /jobs/${id}: answer without job_id`);
    return job;
  }

  private async getPricing(): Promise<WirePricing> {
    if (this.pricing && this.clock.now() - this.pricing.at < this.opts.pricingTtlMs) return this.pricing.body;
    const body = await this.http.json<WirePricing>({ method: 'GET', path: '/pricing', idempotent: true, anonymous: true });
    this.pricing = { at: this.clock.now(), body: body ?? {} };
    return this.pricing.body;
  }
}

/** filename -> file_id, for both the dict (current) and list (older) shapes of output_files. */
function fileIndex(files: WireJob['output_files']): Map<string, string> {
  const index = new Map<string, string>();
  if (!files) return index;
  if (Array.isArray(files)) {
    for (const f of files) index.set(f.filename, f.filename);
    return index;
  }
  for (const [fileId, f] of Object.entries(files)) index.set(f.filename, fileId);
  return index;
}

/** Chutes serialises naive UTC datetimes (no zone); read them as UTC. */
function parseTime(value: string | null | undefined): Date | undefined {
  if (!value) return undefined;
  const zoned = /(Z|[+-]\d\d:?\d\d)$/.test(value) ? value : `${value}Z`;
  const t = Date.parse(zoned);
  return Number.isNaN(t) ? undefined : new Date(t);
}
