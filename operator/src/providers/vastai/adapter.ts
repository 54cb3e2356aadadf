// Vast.ai adapter over the REST API the official CLI uses (vast-ai/vast-cli vast.py): base
// `https://console.vast.ai`, `Authorization: Bearer <api key>`. Offers come from POST
// /api/v0/bundles/ (the CLI's default filters verified, external=false, rentable, not rented, plus
// gpu_name/num_gpus/dph_total, ordered by dph_total); a shard rents one offer with PUT
// /api/v0/asks/{id}/ {client_id: "me", image, env, disk, label, runtype: "args", args,
// cancel_unavail}, answered `{success, new_contract}` (the instance id). The `label`
// (`atelier-<key>`) carries the idempotency key from the instance's birth, so findByKey asks the
// provider (GET /api/v1/instances/ with select_filters {"label": {"in": [label]}}) and survives a
// restart. Status: GET /api/v0/instances/{id}/?owner=me, one object under `instances`, `null` once
// the instance is gone (notFound here). cancel(): DELETE /api/v0/instances/{id}/ (destroy).
//
// State mapping (`actual_status`): null -> Pending (scheduling), created/loading -> Provisioning,
// running -> Running, exited -> Succeeded when the container log's last `ATELIER_RESULT` report did
// not fail, else Failed; stopped -> Failed (Vast stops instances, e.g. on an empty balance);
// offline/unknown/rebooting/frozen -> Unknown. An instance does not end by itself: an exited one
// keeps its disk (and its storage charge) until destroyed, so the operator calls cancel() once it
// has the results (endsByItself false).
//
// Logs and results: PUT /api/v0/instances/request_logs/{id}/ {tail} answers a `result_url` (a
// presigned download, fetched without our credentials, retried a few times while it is not ready).
// Cost: per second at the instance's `dph_total` (USD per hour, the whole instance) over its running
// time `uptime_mins`, basis `estimated` (GET /api/v0/charges settles it later). A 402 (balance
// exhausted) surfaces as InsufficientFundsError.

import { vastGpuNameTable } from '../../gpus/index.js';
import { adapterHttpClient, MAX_BYTES, readTextLimited, type HttpClient } from '../http.js';
import { compare, div, mul, rational, usd } from '../../money.js';
import { findResultInLog, outputsDigest } from '../results.js';
import type { ResultReport } from '../results.js';
import { ProviderError, assertIdempotencyKey, shardEnv, systemClock } from '../types.js';
import type {
  AdapterInit,
  Clock,
  CostReport,
  FetchLike,
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

export interface VastCredentials {
  apiKey: string;
}

export interface VastOptions {
  /** Atelier GPU name -> Vast gpu_name values; unlisted names use VAST_GPU_NAMES, then a derived name. */
  gpuNames: Record<string, string[]>;
  /** Local disk of an instance in GB (`disk`). */
  diskGb: number;
  /** Offers read per search. */
  searchLimit: number;
  /** Log lines asked for (`tail`). */
  logTail: number;
  /** Attempts at reading a result_url that is not ready yet, and the wait between them. */
  logAttempts: number;
  logWaitMs: number;
}

export const VAST_DEFAULTS: VastOptions = { gpuNames: {}, diskGb: 20, searchLimit: 64, logTail: 1000, logAttempts: 10, logWaitMs: 300 };

/** Vast's gpu_name spellings for the models Atelier names (from the GPU catalog, operator/src/gpus). */
export const VAST_GPU_NAMES: Record<string, string[]> = vastGpuNameTable();

/** An offer row of POST /api/v0/bundles/ (fields in vast.py `offers_fields`), those read here. */
interface WireOffer {
  id: number;
  gpu_name: string;
  num_gpus: number;
  dph_total: number;
  gpu_ram?: number;
}

/** An instance row (vast.py `instance_fields`, show__instance), those read here. */
export interface WireInstance {
  id: number;
  actual_status: string | null;
  label: string | null;
  num_gpus: number;
  gpu_name: string;
  dph_total: number;
  start_date: number | null;
  uptime_mins?: number | null;
  status_msg?: string | null;
}

const PHASES: Record<string, RemotePhase> = {
  created: 'Provisioning',
  loading: 'Provisioning',
  running: 'Running',
  stopped: 'Failed',
  offline: 'Unknown',
  unknown: 'Unknown',
  rebooting: 'Unknown',
  frozen: 'Unknown',
};

export function vastGpuNames(model: string, overrides: Record<string, string[]> = {}): string[] {
  const named = overrides[model] ?? VAST_GPU_NAMES[model];
  if (named) return named;
  return [model.replace(/^nvidia-/, '').split(/[-_ ]/).filter(Boolean).map((p) => p.toUpperCase()).join(' ')];
}

/** ComputeProvider options arrive as strings; numbers are parsed here. */
export function vastOptions(raw: Record<string, unknown> = {}): VastOptions {
  const num = (k: keyof VastOptions): number => {
    const v = Number(raw[k] ?? VAST_DEFAULTS[k]);
    return Number.isFinite(v) && v > 0 ? v : (VAST_DEFAULTS[k] as number);
  };
  const gpuNames: Record<string, string[]> = { ...((raw.gpuNames as Record<string, string[]> | undefined) ?? {}) };
  for (const [k, v] of Object.entries(raw)) if (k.startsWith('gpuName.') && typeof v === 'string') gpuNames[k.slice('gpuName.'.length)] = v.split(',').map((s) => s.trim()).filter(Boolean);
  return { gpuNames, diskGb: num('diskGb'), searchLimit: num('searchLimit'), logTail: num('logTail'), logAttempts: num('logAttempts'), logWaitMs: num('logWaitMs') };
}

export class VastAdapter implements ProviderAdapter {
  readonly type = 'vastai' as const;
  private readonly http: HttpClient;
  private readonly opts: VastOptions;
  private readonly clock: Clock;
  private readonly fetchFn: FetchLike;
  private readonly timeoutMs: number;

  constructor(init: AdapterInit<VastCredentials, VastOptions>) {
    this.opts = vastOptions(init.options as Record<string, unknown> | undefined);
    this.clock = init.clock ?? systemClock;
    const { apiKey } = init.credentials;
    this.http = adapterHttpClient('vastai', init, this.clock, {
      secrets: [apiKey],
      authHeaders: () => ({ authorization: `Bearer ${apiKey}` }),
    });
    this.fetchFn = this.http.fetchFn;
    this.timeoutMs = this.http.timeoutMs;
  }

  capabilities(): ProviderCapabilities {
    return {
      provider: 'vastai',
      logs: 'snapshot',
      results: 'native',
      resultChannel: 'last `ATELIER_RESULT {"outputs":[{"uri","sha256"}]}` line of the container log (request_logs result_url)',
      billing: 'perSecond',
      maxGpusPerJob: 8,
      endsByItself: false,
      findByKey: 'remote',
      runsArbitraryImages: true,
    };
  }

  private modelOf(gpuName: string, candidates: string[]): string | undefined {
    return candidates.find((m) => vastGpuNames(m, this.opts.gpuNames).includes(gpuName));
  }

  private async search(models: string[], gpuCount: number, maxUsdPerHour?: string): Promise<WireOffer[]> {
    const names = [...new Set(models.flatMap((m) => vastGpuNames(m, this.opts.gpuNames)))];
    const q: Record<string, unknown> = {
      verified: { eq: true },
      external: { eq: false },
      rentable: { eq: true },
      rented: { eq: false },
      num_gpus: { eq: gpuCount },
      order: [['dph_total', 'asc']],
      type: 'on-demand',
      limit: this.opts.searchLimit,
      allocated_storage: this.opts.diskGb,
    };
    if (names.length > 0) q.gpu_name = { in: names };
    if (maxUsdPerHour !== undefined) q.dph_total = { lte: Number(maxUsdPerHour) };
    const res = await this.http.json<{ offers?: WireOffer[] }>({ method: 'POST', path: '/api/v0/bundles/', body: q, idempotent: true });
    const offers = (res?.offers ?? []).filter((o) => typeof o.id === 'number' && typeof o.dph_total === 'number' && o.num_gpus === gpuCount);
    // dph_total arrives as a JSON float: compared exactly from its decimal text.
    return maxUsdPerHour === undefined ? offers : offers.filter((o) => compare(String(o.dph_total), maxUsdPerHour) <= 0);
  }

  async listOffers(req: OfferRequest): Promise<Offer[]> {
    const models = req.gpuModels && req.gpuModels.length > 0 ? req.gpuModels : Object.keys({ ...VAST_GPU_NAMES, ...this.opts.gpuNames });
    const cap = req.maxUsdPerGpuHour === undefined ? undefined : usd(mul(req.maxUsdPerGpuHour, req.gpuCount));
    const offers: Offer[] = [];
    for (const o of await this.search(models, req.gpuCount, cap)) {
      const model = this.modelOf(o.gpu_name, models);
      if (!model) continue;
      offers.push({
        offerId: `vastai:${o.id}`,
        gpuModel: model,
        gpuCount: o.num_gpus,
        usdPerGpuHour: usd(div(rational(String(o.dph_total)), o.num_gpus)),
        rawPrice: String(o.dph_total),
        rawUnit: 'USD/hour for the whole instance (dph_total)',
      });
    }
    return offers.sort((a, b) => compare(a.usdPerGpuHour, b.usdPerGpuHour));
  }

  async submit(spec: ShardSpec, opts: SubmitOptions): Promise<SubmitResult> {
    assertIdempotencyKey('vastai', opts.idempotencyKey);
    if (!spec.image) throw this.http.error('invalid', 'shard spec: image is required');
    if (!Number.isInteger(spec.gpuCount) || spec.gpuCount < 1) throw this.http.error('invalid', 'shard spec: gpuCount must be an integer >= 1');
    let askId: number | undefined;
    if (opts.offerId?.startsWith('vastai:')) askId = Number(opts.offerId.slice('vastai:'.length));
    if (askId === undefined || !Number.isInteger(askId)) {
      const models = spec.gpuModels.length > 0 ? spec.gpuModels : Object.keys({ ...VAST_GPU_NAMES, ...this.opts.gpuNames });
      const [cheapest] = await this.search(models, spec.gpuCount, opts.maxUsdPerHour);
      if (!cheapest) throw this.http.error('invalid', `no rentable Vast.ai offer for ${spec.gpuCount}x ${JSON.stringify(spec.gpuModels)}${opts.maxUsdPerHour ? ` at or below ${opts.maxUsdPerHour} USD/h` : ''}`);
      askId = cheapest.id;
    }
    const env: Record<string, string> = {};
    for (const e of shardEnv(spec, opts.idempotencyKey)) env[e.name] = e.value;
    if (spec.command.length > 0) env.ATELIER_COMMAND = JSON.stringify(spec.command);
    if (spec.args.length > 0) env.ATELIER_ARGS = JSON.stringify(spec.args);
    const body: Record<string, unknown> = {
      client_id: 'me',
      image: spec.image,
      env,
      disk: spec.resources?.storageGi ?? this.opts.diskGb,
      label: labelFor(opts.idempotencyKey),
      runtype: 'args',
      // A taken or unavailable offer is an error, not a stopped instance that waits for the machine.
      cancel_unavail: true,
    };
    const cmd = [...spec.command, ...spec.args];
    if (cmd.length > 0) body.args = cmd;
    const res = await this.http.json<{ success?: boolean; new_contract?: number; msg?: string; error?: string }>({ method: 'PUT', path: `/api/v0/asks/${askId}/`, body });
    if (!res?.success || typeof res.new_contract !== 'number') throw this.http.error('invalid', `PUT /api/v0/asks/${askId}/: ${res?.msg ?? res?.error ?? 'no new_contract in the answer'}`);
    return { remoteId: String(res.new_contract) };
  }

  async findByKey(idempotencyKey: string): Promise<string | undefined> {
    assertIdempotencyKey('vastai', idempotencyKey);
    const res = await this.http.json<{ instances?: WireInstance[] }>({
      method: 'GET',
      path: '/api/v1/instances/',
      query: {
        select_filters: JSON.stringify({ label: { in: [labelFor(idempotencyKey)] } }),
        order_by: JSON.stringify([{ col: 'id', dir: 'asc' }]),
        limit: 25,
      },
      idempotent: true,
    });
    const hit = (res?.instances ?? []).find((i) => i.label === labelFor(idempotencyKey));
    return hit ? String(hit.id) : undefined;
  }

  async getStatus(id: string): Promise<RemoteStatus> {
    const inst = await this.getInstance(id);
    const raw = inst.actual_status ?? 'null';
    const status: RemoteStatus = { phase: inst.actual_status === null ? 'Pending' : (PHASES[inst.actual_status] ?? 'Unknown'), raw };
    if (inst.status_msg) status.message = inst.status_msg;
    if (inst.actual_status === 'exited') {
      const report = findResultInLog(await this.logs(id));
      status.phase = !report || report.state === 'failed' ? 'Failed' : 'Succeeded';
      const message = report?.message ?? (status.phase === 'Failed' ? (inst.status_msg ?? 'container exited without an ATELIER_RESULT report') : undefined);
      if (message) status.message = message;
    }
    return status;
  }

  async logs(id: string, opts: LogOptions = {}): Promise<string[]> {
    this.checkId(id);
    const res = await this.http.json<{ result_url?: string; msg?: string }>({ method: 'PUT', path: `/api/v0/instances/request_logs/${id}/`, body: { tail: String(opts.tail ?? this.opts.logTail) }, idempotent: true });
    if (!res?.result_url) throw this.http.error('transient', `request_logs ${id}: ${res?.msg ?? 'no result_url'}`);
    const text = await this.fetchResultUrl(res.result_url);
    const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
    return opts.tail ? lines.slice(-opts.tail) : lines;
  }

  /** The presigned log download: no Authorization header goes there; not ready yet is a 404/403 for a while. */
  private async fetchResultUrl(url: string): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      let status = 0;
      try {
        const r = await this.fetchFn(url, { method: 'GET', signal: AbortSignal.timeout(this.timeoutMs) });
        if (r.ok) return await readTextLimited(r, MAX_BYTES);
        status = r.status;
      } catch {
        status = 0;
      }
      if (attempt >= this.opts.logAttempts) throw this.http.error('transient', `instance log not ready after ${attempt} attempts${status ? ` (last answer ${status})` : ''}`);
      await this.clock.sleep(this.opts.logWaitMs);
    }
  }

  async getResults(id: string): Promise<ResultSet | ResultsUnsupported> {
    const inst = await this.getInstance(id);
    if (inst.actual_status !== 'exited') throw this.http.error('invalid', `results for instance ${id} are not available (actual_status ${inst.actual_status})`);
    const report: ResultReport | undefined = findResultInLog(await this.logs(id));
    if (!report || report.state === 'failed') throw this.http.error('fatal', `instance ${id} exited without an ATELIER_RESULT report`);
    const result: ResultSet = { supported: true, outputs: report.outputs, digest: outputsDigest(report.outputs), integrity: 'reported' };
    if (report.signed) result.signed = report.signed;
    return result;
  }

  async cancel(id: string): Promise<void> {
    try {
      await this.getInstance(id);
    } catch (err) {
      if (err instanceof ProviderError && err.kind === 'notFound') return;
      throw err;
    }
    try {
      await this.http.json({ method: 'DELETE', path: `/api/v0/instances/${id}/`, body: {}, idempotent: true });
    } catch (err) {
      // Destroyed between our read and the DELETE.
      if (err instanceof ProviderError && err.kind === 'notFound') return;
      throw err;
    }
  }

  async getCost(id: string): Promise<CostReport> {
    const inst = await this.getInstance(id);
    const seconds = Math.max(0, Math.round((inst.uptime_mins ?? 0) * 60));
    const amount = usd(div(mul(rational(String(inst.dph_total)), seconds), 3600));
    return { amount, currency: 'USD', usd: amount, basis: 'estimated', seconds };
  }

  // ---- helpers ------------------------------------------------------------------------------

  private checkId(id: string): void {
    if (!/^\d{1,19}$/.test(id)) throw this.http.error('invalid', `not an instance id: ${JSON.stringify(id)}`);
  }

  private async getInstance(id: string): Promise<WireInstance> {
    this.checkId(id);
    const res = await this.http.json<{ instances?: WireInstance | null }>({ method: 'GET', path: `/api/v0/instances/${id}/`, query: { owner: 'me' }, idempotent: true });
    if (!res || res.instances === null || res.instances === undefined) throw this.http.error('notFound', `instance ${id} not found or no longer exists`, 404);
    return res.instances;
  }
}

function labelFor(key: string): string {
  return `atelier-${key}`;
}

