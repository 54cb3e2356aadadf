// Nosana adapter over the deployment manager's REST API (nosana-ci/nosana-deployment-manager,
// Fastify routes under API_PREFIX "/deployments"; the public dashboard backend serves the same
// routes under "/api/deployments", so spec.endpoint is `https://dashboard.k8s.prd.nos.ci/api` there,
// or the manager's own base URL). One shard is one SIMPLE deployment with one replica and autostart:
// POST /deployments/create {name, market, replicas: 1, timeout (minutes), strategy: "SIMPLE",
// autostart: true, job_definition, idempotency_key}. The manager keeps idempotency_key unique per
// owner (a repeat answers 409) and finds it with GET /deployments?idempotency_key=, so findByKey asks
// the provider and survives a restart. The job definition is a `container/run` op built from the
// shard and checked with @nosana/types' validateJobDefinition (the same typia validator the manager
// runs) before it is sent. Auth: `Authorization: Bearer <api key>` (@nosana/api's dashboard client).
// @nosana/api itself is not used for the calls: its errors drop the HTTP status (errorFormatter
// reads `statusCode` from the body, so 402, 404 and 409 look alike), it takes no injected fetch,
// clock or timeout, and its list parameters have no idempotency_key; @nosana/kit adds Solana.
//
// State mapping, from the deployment's last job when there is one (its `state` is authoritative:
// the manager moves the deployment to STOPPED only after the job settles): job QUEUED -> Pending,
// RUNNING -> Running, COMPLETED -> Succeeded when the job's results (FlowState opStates logs) end
// with an `ATELIER_RESULT` report that did not fail, else Failed; STOPPED -> Cancelled, or Failed
// when it ran for the whole deployment timeout. Without a job: DRAFT/STARTING -> Pending,
// RUNNING -> Pending (listing), STOPPING -> Running (still billed), STOPPED/ARCHIVED -> Cancelled,
// ERROR -> Failed, INSUFFICIENT_FUNDS -> Failed (the vault is empty; a provider condition: the
// attempt ends and the circuit breaker keeps new shards away). Jobs end by themselves.
//
// Prices: the market decides the GPU and its price; the ComputeProvider configures which market
// serves which GPU model (`markets`, or `market.<gpu-model>` options) and what it costs per hour
// (`prices`). Cost = price x (timeEnd - timeStart) of the job, per second, basis `estimated`.
// cancel(): POST /deployments/{id}/stop, which the manager accepts only in RUNNING, ERROR and
// INSUFFICIENT_FUNDS (else 500 "Deployment is in the incorrect state."); a deployment already
// stopping, stopped or archived is left alone, so a second cancel is quiet. Deployments are never
// DELETEd: that removes their jobs' results.

import { validateJobDefinition } from '@nosana/types';
import type { FlowState, JobDefinition } from '@nosana/types';
import { adapterHttpClient, type HttpClient } from '../http.js';
import { compare, div, formatMicros, mul, parseUsd, usd } from '../../money.js';
import { findResultInLog, outputsDigest } from '../results.js';
import type { ResultReport } from '../results.js';
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
  RemoteStatus,
  ResultSet,
  ResultsUnsupported,
  ShardSpec,
  SubmitOptions,
  SubmitResult,
} from '../types.js';

export interface NosanaCredentials {
  apiKey: string;
}

export interface NosanaOptions {
  /** Atelier GPU model -> Nosana market address (the market decides the GPU). */
  markets: Record<string, string>;
  /** Atelier GPU model -> USD per hour of a job in that market (Nosana's market prices are not read here). */
  prices: Record<string, string>;
  /** Deployment timeout in minutes when the shard sets no maxDurationSec. */
  timeoutMinutes: number;
}

export const NOSANA_DEFAULTS: NosanaOptions = { markets: {}, prices: {}, timeoutMinutes: 240 };

/** `Deployment` (src/router/schema/components/deployment.schema.ts), the fields read here. */
export interface WireDeployment {
  id: string;
  name: string;
  market: string;
  status: string;
  timeout: number;
  created_at: string;
  updated_at: string;
}

/** `Job` (src/router/schema/components/job.schema.ts). */
interface WireJob {
  job: string;
  state: 'QUEUED' | 'RUNNING' | 'COMPLETED' | 'STOPPED';
  time_start: number;
  created_at: string;
}

/** GET /deployments/{id}/jobs/{job} (getDeploymentJobById.schema.ts); state is the on-chain number 0..3. */
interface WireJobDetail {
  state: number | string;
  timeStart: number;
  timeEnd: number;
  jobResult: FlowState | null;
}

const JOB_STATES = ['QUEUED', 'RUNNING', 'COMPLETED', 'STOPPED'] as const;

/** Flattened ComputeProvider options (`market.<gpu>` strings, numbers as strings) to NosanaOptions. */
export function nosanaOptions(raw: Record<string, unknown> = {}): NosanaOptions {
  const markets: Record<string, string> = { ...((raw.markets as Record<string, string> | undefined) ?? {}) };
  for (const [k, v] of Object.entries(raw)) if (k.startsWith('market.') && typeof v === 'string') markets[k.slice('market.'.length)] = v;
  const timeout = raw.timeoutMinutes === undefined ? NOSANA_DEFAULTS.timeoutMinutes : Number(raw.timeoutMinutes);
  return {
    markets,
    prices: { ...((raw.prices as Record<string, string> | undefined) ?? {}) },
    timeoutMinutes: Number.isFinite(timeout) && timeout >= 1 ? Math.ceil(timeout) : NOSANA_DEFAULTS.timeoutMinutes,
  };
}

export class NosanaAdapter implements ProviderAdapter {
  readonly type = 'nosana' as const;
  private readonly http: HttpClient;
  private readonly opts: NosanaOptions;
  private readonly clock: Clock;

  constructor(init: AdapterInit<NosanaCredentials, NosanaOptions>) {
    this.opts = nosanaOptions(init.options as Record<string, unknown> | undefined);
    this.clock = init.clock ?? systemClock;
    const { apiKey } = init.credentials;
    this.http = adapterHttpClient('nosana', init, this.clock, {
      secrets: [apiKey],
      authHeaders: () => ({ authorization: `Bearer ${apiKey}` }),
    });
  }

  capabilities(): ProviderCapabilities {
    return {
      provider: 'nosana',
      logs: 'snapshot',
      results: 'native',
      resultChannel: 'last `ATELIER_RESULT {"outputs":[{"uri","sha256"}]}` line of the job result (FlowState opStates logs)',
      billing: 'perSecond',
      maxGpusPerJob: 1,
      endsByItself: true,
      findByKey: 'remote',
      runsArbitraryImages: true,
    };
  }

  async listOffers(req: OfferRequest): Promise<Offer[]> {
    if (req.gpuCount > 1) return [];
    const models = req.gpuModels && req.gpuModels.length > 0 ? req.gpuModels : Object.keys(this.opts.markets);
    const offers: Offer[] = [];
    for (const model of models) {
      const market = this.opts.markets[model];
      const price = this.opts.prices[model];
      if (!market || price === undefined) continue;
      const usdPerGpuHour = formatMicros(parseUsd(price));
      if (req.maxUsdPerGpuHour !== undefined && compare(usdPerGpuHour, req.maxUsdPerGpuHour) > 0) continue;
      offers.push({ offerId: `nosana:${market}`, gpuModel: model, gpuCount: 1, usdPerGpuHour, rawPrice: price, rawUnit: 'USD/job-hour (ComputeProvider config for the market)' });
    }
    return offers.sort((a, b) => compare(a.usdPerGpuHour, b.usdPerGpuHour));
  }

  /** The shard as a Nosana job definition: one `container/run` op with a GPU. */
  jobDefinition(spec: ShardSpec, idempotencyKey: string): JobDefinition {
    const env: Record<string, string> = {};
    for (const e of shardEnv(spec, idempotencyKey)) env[e.name] = e.value;
    const args: Record<string, unknown> = { image: spec.image, gpu: true, env };
    const cmd = [...spec.command, ...spec.args];
    if (cmd.length > 0) args.cmd = cmd;
    return { version: '0.1', type: 'container', meta: { trigger: 'api' }, ops: [{ type: 'container/run', id: 'shard', args: args as never }] };
  }

  async submit(spec: ShardSpec, opts: SubmitOptions): Promise<SubmitResult> {
    assertIdempotencyKey('nosana', opts.idempotencyKey);
    if (!spec.image) throw this.http.error('invalid', 'shard spec: image is required');
    if (spec.gpuCount !== 1) throw this.http.error('invalid', `a Nosana job runs on one GPU; the shard asks for ${spec.gpuCount}`);
    const model = this.pickModel(spec, opts);
    const market = model ? this.opts.markets[model] : undefined;
    if (!model || !market) throw this.http.error('invalid', `no Nosana market configured for ${JSON.stringify(spec.gpuModels)}`);
    const price = this.opts.prices[model];
    if (opts.maxUsdPerHour !== undefined && price !== undefined && compare(price, opts.maxUsdPerHour) > 0) {
      throw this.http.error('invalid', `configured price ${price} USD/h exceeds the ceiling ${opts.maxUsdPerHour}`);
    }
    const job = this.jobDefinition(spec, opts.idempotencyKey);
    const check = validateJobDefinition(job);
    if (!check.success) throw this.http.error('invalid', `job definition: ${check.errors.map((e) => `${e.path} expected ${e.expected}`).join('; ')}`);
    const timeout = opts.maxDurationSec !== undefined ? Math.max(1, Math.ceil(opts.maxDurationSec / 60)) : this.opts.timeoutMinutes;
    const body = {
      name: nameFor(opts.idempotencyKey),
      market,
      replicas: 1,
      timeout,
      strategy: 'SIMPLE',
      autostart: true,
      job_definition: job,
      idempotency_key: opts.idempotencyKey,
    };
    let created: WireDeployment;
    try {
      created = await this.http.json<WireDeployment>({ method: 'POST', path: '/deployments/create', body });
    } catch (err) {
      // 409: the key exists already (an earlier answer was lost): that deployment is this submission.
      if (err instanceof ProviderError && err.status === 409) {
        const id = await this.findByKey(opts.idempotencyKey);
        if (id) return { remoteId: id };
      }
      throw err;
    }
    if (!created?.id) throw this.http.error('fatal', 'POST /deployments/create: answer without id');
    return { remoteId: created.id };
  }

  private pickModel(spec: ShardSpec, opts: SubmitOptions): string | undefined {
    if (opts.offerId?.startsWith('nosana:')) {
      const market = opts.offerId.slice('nosana:'.length);
      const hit = Object.entries(this.opts.markets).find(([m, addr]) => addr === market && (spec.gpuModels.length === 0 || spec.gpuModels.includes(m)));
      if (hit) return hit[0];
    }
    const candidates = (spec.gpuModels.length > 0 ? spec.gpuModels : Object.keys(this.opts.markets)).filter((m) => this.opts.markets[m]);
    const priced = candidates.filter((m) => this.opts.prices[m] !== undefined).sort((a, b) => compare(this.opts.prices[a] as string, this.opts.prices[b] as string));
    return priced[0] ?? candidates[0];
  }

  async findByKey(idempotencyKey: string): Promise<string | undefined> {
    assertIdempotencyKey('nosana', idempotencyKey);
    const res = await this.http.json<{ deployments?: WireDeployment[] }>({ method: 'GET', path: '/deployments', query: { idempotency_key: idempotencyKey }, idempotent: true });
    return res?.deployments?.[0]?.id;
  }

  async getStatus(id: string): Promise<RemoteStatus> {
    const d = await this.getDeployment(id);
    const job = await this.lastJob(id);
    if (!job) return { ...deploymentOnly(d.status), raw: d.status };
    const raw = `${d.status}/${job.state}`;
    const status: RemoteStatus = { phase: 'Unknown', raw };
    if (job.time_start > 0) status.startedAt = new Date(job.time_start * 1000);
    switch (job.state) {
      case 'QUEUED':
        status.phase = 'Pending';
        return status;
      case 'RUNNING':
        status.phase = 'Running';
        if (d.status === 'STOPPING') status.message = 'stop requested';
        return status;
      case 'COMPLETED':
      case 'STOPPED': {
        const detail = await this.jobDetail(id, job.job);
        if (detail.timeEnd > 0) status.endedAt = new Date(detail.timeEnd * 1000);
        if (job.state === 'STOPPED') {
          const ranOut = detail.timeStart > 0 && detail.timeEnd - detail.timeStart >= d.timeout * 60;
          status.phase = ranOut ? 'Failed' : 'Cancelled';
          status.message = ranOut ? `stopped at the deployment timeout (${d.timeout} min)` : 'job stopped';
          return status;
        }
        const report = reportOf(detail.jobResult);
        const failed = !report || report.state === 'failed' || detail.jobResult?.status === 'failed';
        status.phase = failed ? 'Failed' : 'Succeeded';
        const message = report?.message ?? (failed ? failureMessage(detail.jobResult) : undefined);
        if (message) status.message = message;
        return status;
      }
    }
    return status;
  }

  async logs(id: string, opts: LogOptions = {}): Promise<string[]> {
    const job = await this.lastJob(id);
    if (!job) return [];
    const lines = logLines((await this.jobDetail(id, job.job)).jobResult);
    return opts.tail ? lines.slice(-opts.tail) : lines;
  }

  async getResults(id: string): Promise<ResultSet | ResultsUnsupported> {
    const job = await this.lastJob(id);
    if (!job || job.state !== 'COMPLETED') throw this.http.error('invalid', `results for deployment ${id} are not available (job ${job?.state ?? 'not listed'})`);
    const report = reportOf((await this.jobDetail(id, job.job)).jobResult);
    if (!report || report.state === 'failed') throw this.http.error('fatal', `deployment ${id} completed without an ATELIER_RESULT report`);
    const result: ResultSet = { supported: true, outputs: report.outputs, digest: outputsDigest(report.outputs), integrity: 'reported' };
    if (report.signed) result.signed = report.signed;
    return result;
  }

  async cancel(id: string): Promise<void> {
    let d: WireDeployment;
    try {
      d = await this.getDeployment(id);
    } catch (err) {
      if (err instanceof ProviderError && err.kind === 'notFound') return;
      throw err;
    }
    if (!['RUNNING', 'ERROR', 'INSUFFICIENT_FUNDS'].includes(d.status)) {
      // STARTING: the manager refuses a stop until the job is listed; the caller tries again.
      if (d.status === 'STARTING') throw this.http.error('transient', `deployment ${id} is STARTING and cannot be stopped yet`);
      return;
    }
    try {
      await this.http.json({ method: 'POST', path: `/deployments/${encodeURIComponent(id)}/stop` });
    } catch (err) {
      // 500 "incorrect state": it stopped (or is stopping) between our read and the stop.
      if (err instanceof ProviderError && (err.kind === 'notFound' || err.status === 500)) {
        const again = await this.getDeployment(id).catch(() => undefined);
        if (!again || ['STOPPING', 'STOPPED', 'ARCHIVED'].includes(again.status)) return;
      }
      throw err;
    }
  }

  async getCost(id: string): Promise<CostReport> {
    const d = await this.getDeployment(id);
    const model = Object.keys(this.opts.markets).find((m) => this.opts.markets[m] === d.market && this.opts.prices[m] !== undefined);
    const price = model ? this.opts.prices[model] : undefined;
    if (price === undefined) throw this.http.error('invalid', `no configured price for market ${d.market}`);
    const job = await this.lastJob(id);
    let seconds = 0;
    if (job && job.time_start > 0) {
      const end = job.state === 'COMPLETED' || job.state === 'STOPPED' ? (await this.jobDetail(id, job.job)).timeEnd : Math.floor(this.clock.now() / 1000);
      seconds = Math.max(0, end - job.time_start);
    }
    const amount = usd(div(mul(price, seconds), 3600));
    return { amount, currency: 'USD', usd: amount, basis: 'estimated', seconds };
  }

  // ---- helpers ------------------------------------------------------------------------------

  private async getDeployment(id: string): Promise<WireDeployment> {
    if (!/^[1-9A-HJ-NP-Za-km-z]{32,44}$/.test(id)) throw this.http.error('invalid', `not a deployment id: ${JSON.stringify(id)}`);
    const d = await this.http.json<WireDeployment>({ method: 'GET', path: `/deployments/${id}`, idempotent: true });
    if (!d?.status) throw this.http.error('fatal', `GET /deployments/${id}: answer without status`);
    return d;
  }

  /** The deployment's newest job (the list is newest first by default). */
  private async lastJob(id: string): Promise<WireJob | undefined> {
    const res = await this.http.json<{ jobs?: WireJob[] }>({ method: 'GET', path: `/deployments/${id}/jobs`, query: { sort_order: 'desc', limit: 10 }, idempotent: true });
    const job = res?.jobs?.[0];
    return job && (JOB_STATES as readonly string[]).includes(job.state) ? job : undefined;
  }

  private async jobDetail(id: string, job: string): Promise<WireJobDetail> {
    return this.http.json<WireJobDetail>({ method: 'GET', path: `/deployments/${id}/jobs/${encodeURIComponent(job)}`, idempotent: true });
  }
}

function nameFor(key: string): string {
  return `atelier-${key}`;
}

function deploymentOnly(status: string): Omit<RemoteStatus, 'raw'> {
  switch (status) {
    case 'DRAFT':
    case 'STARTING':
    case 'RUNNING':
      return { phase: 'Pending' };
    case 'STOPPING':
      return { phase: 'Running', message: 'stop requested' };
    case 'STOPPED':
    case 'ARCHIVED':
      return { phase: 'Cancelled' };
    case 'ERROR':
      return { phase: 'Failed', message: 'deployment in ERROR' };
    case 'INSUFFICIENT_FUNDS':
      return { phase: 'Failed', message: 'the deployment vault is out of funds (INSUFFICIENT_FUNDS)' };
    default:
      return { phase: 'Unknown' };
  }
}

function logLines(result: FlowState | null | undefined): string[] {
  const lines: string[] = [];
  for (const op of result?.opStates ?? []) {
    for (const l of op.logs ?? []) if (typeof l.log === 'string') lines.push(...l.log.split(/\r?\n/).filter((x) => x !== ''));
  }
  return lines;
}

function reportOf(result: FlowState | null | undefined): ResultReport | undefined {
  return findResultInLog(logLines(result));
}

function failureMessage(result: FlowState | null | undefined): string | undefined {
  const op = result?.opStates?.find((o) => o.error || (o.exitCode !== null && o.exitCode !== 0));
  if (op?.error) return op.error.message;
  if (op?.exitCode) return `container exited with code ${op.exitCode}`;
  return logLines(result).filter((l) => /error/i.test(l)).pop();
}
