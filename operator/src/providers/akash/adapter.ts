// Akash Network adapter over the Console managed-wallet API (`x-api-key`, every answer wrapped in
// `{data: …}`), following akash-network/console apps/api/src/deployment (http-schemas/
// {deployment,lease}.schema.ts, services/{deployment-writer,deployment-reader,lease,sdl}), bid/ and gpu/.
// A shard becomes one deployment whose SDL (sdl.ts) carries the shard env and the marker
// `ATELIER_IDEMPOTENCY_KEY=<key>`; the create body is `{sdl, deposit?}` only (deposit sent when
// options.depositUsd is set: without the console's managed-deposit flag it is required). Bids arrive
// only after a while, so submit() only creates the deployment; each getStatus() while there is no
// lease reads the bids and accepts the cheapest that fits the ceiling with POST /v1/leases (or gives
// up after bidTimeoutMs and closes it; the console itself closes a lease-less deployment after 10
// minutes, stale-managed-deployments-cleaner.service.ts:19).
//
// Prices: the console rewrites every placement price denom to its DEPLOYMENT_GRANT_DENOM, `uact` on
// mainnet (services/sdl/sdl.service.ts:32-44, env/.env.mainnet:3), so bids, leases and escrow are in
// uact: micro-USD per block, blocks of ~6 s (utils/constants.ts:4). USD per GPU-hour = amount x
// (3600 / blockSeconds) / 10^6 x usdPerToken[denom] / gpuCount, exact (money.ts); usdPerToken has
// uact = 1, and uakt only when configured. Offers come from GET /v1/gpu-prices (USD/hour).
//
// State mapping: no lease + deployment active -> Pending (waiting for bids); lease active, no
// ready replica -> Provisioning; ready -> Running until the shard reports; report state
// `succeeded` -> Succeeded, `failed` -> Failed; lease `insufficient_funds` -> Failed; deployment
// closed otherwise -> Cancelled (a finished shard is closed by the caller via cancel()).
//
// Result channel: Akash has no job or log API in the Console, and deployments never end by
// themselves. The shard image therefore runs Atelier's shard agent, which serves on the exposed
// port 8080: `GET /atelier/result` -> `{"state":"running"}` until done, then
// `{"state":"succeeded"|"failed","outputs":[{"uri","sha256"}],"message"?,"signed"?}`; and `GET
// /atelier/log?tail=N` -> `{"lines":[…]}`. `signed` is the provider's EIP-712 signature over the
// result when the job settles on-chain (results.ts), passed on as ResultSet.signed. The adapter reads
// them through the lease's service URI. After reading the results the caller must call cancel()
// (capabilities.endsByItself = false) to stop paying. Nor does Akash take a run-time limit: the
// caller stops a shard at its maximum duration (capabilities.maxDuration = 'operator').
//
// Restart safety: the same shard and key always give the same SDL, so the same manifest and manifest
// version (chain-sdk, sdl.ts), and the console stores that version as the deployment's `hash`
// (deployment-writer.service.ts:52-60). findByKey(key, spec) recomputes it and looks for it among
// the active deployments (GET /v1/deployments lists only active ones, deployment-reader.service.ts:
// 115-119), and the rebuilt manifest lets a lease be made or its manifest re-sent after a restart.
// POST /v1/leases may be repeated: with a lease on-chain it only re-sends the manifest
// (services/lease/lease.service.ts:28-54), so a lease whose service never comes up gets its
// manifest again after manifestResendMs. A deployment read without its shard (getStatus after a
// restart, no findByKey with the spec) that has no lease cannot get one: it is closed and Failed.
// A second close is a quiet success on the console (deployment-writer.service.ts:110-127).
//
// Calls per shard (burst benchmark): a deployment this process made and has not asked a lease for
// yet cannot have one, so until bidTimeoutMs (below the console's 10 minutes) a poll that finds a bid
// to accept reads only the bids (the lease answers 404 for a deployment gone), one that finds none
// reads the deployment too (closed or gone is seen at once); the lease
// answer (the deployment, lease status and service URI, lease.service.ts) gives the shard agent's
// URI, so later polls ask the agent first and read the deployment only when the agent does not say
// `running` (not up yet, gone, or finished); the deployment read with the final report serves the
// cost that follows; cancel() is the DELETE alone (a second close is a quiet success, a 404 gone), and
// its success confirms the close (capabilities.cancelConfirms).

import { adapterHttpClient, readTextLimited, type HttpClient } from '../http.js';
import { add, compare, div, formatDecimal, formatMicros, mul, parseUsd, rational, toMicros, usd } from '../../money.js';
import type { Rational } from '../../money.js';
import { outputsDigest, parseResultReport } from '../results.js';
import type { ResultReport } from '../results.js';
import { akashGpu, atelierGpuName, buildSdl, manifestOf } from './sdl.js';
import {
  ProviderError,
  assertIdempotencyKey,
  shardEnv,
  systemClock,
} from '../types.js';
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
  RemoteStatus,
  ResultSet,
  ResultsUnsupported,
  ShardSpec,
  SubmitOptions,
  SubmitResult,
} from '../types.js';

export interface AkashCredentials {
  apiKey: string;
}

export interface AkashOptions {
  /** Denom of the placement price written into the SDL (the console rewrites it to its grant denom). */
  denom: string;
  /** USD price of one whole token (10^6 micro-denom), per micro-denom name; uact is USD itself. */
  usdPerToken: Record<string, string>;
  /** Deposit in USD sent with the create (required by a console without managed deposits). */
  depositUsd?: number;
  /** A lease whose service has not come up for this long gets its manifest sent again. */
  manifestResendMs: number;
  blockSeconds: string;
  /** Ceiling when submit() gets no maxUsdPerHour. */
  defaultMaxUsdPerGpuHour: string;
  bidTimeoutMs: number;
  exposePort: number;
  resultScheme: 'http' | 'https';
  resultPath: string;
  logPath: string;
  cpu: number;
  memoryGi: number;
  storageGi: number;
  /** Most deployments findByKey inspects, newest first. */
  findByKeyScanLimit: number;
}

export const AKASH_DEFAULTS: AkashOptions = {
  denom: 'uact',
  usdPerToken: { uact: '1' },
  manifestResendMs: 60_000,
  blockSeconds: '6',
  defaultMaxUsdPerGpuHour: '5.00',
  bidTimeoutMs: 5 * 60_000,
  exposePort: 8080,
  resultScheme: 'http',
  resultPath: '/atelier/result',
  logPath: '/atelier/log',
  cpu: 4,
  memoryGi: 24,
  storageGi: 20,
  findByKeyScanLimit: 500,
};

interface DecCoin {
  denom: string;
  amount: string;
}

interface WireLease {
  id: { owner: string; dseq: string; gseq: number; oseq: number; provider: string; bseq?: number };
  state: string;
  price: DecCoin;
  created_at: string;
  closed_on: string;
  reason?: string;
  status?: { services?: Record<string, { ready_replicas?: number; uris?: string[] }> } | null;
}

interface WireDeployment {
  deployment: { id: { owner: string; dseq: string }; state: string; hash: string; created_at: string };
  leases: WireLease[];
  escrow_account?: { state?: { state?: string; transferred?: DecCoin[] } };
}

interface WireBid {
  bid: {
    id: { owner: string; dseq: string; gseq: number; oseq: number; provider: string; bseq: number };
    state: string;
    price: DecCoin;
    resources_offer?: { resources?: { gpu?: { units?: { val?: string } } }; count?: number }[];
  };
}

interface WireGpuPrices {
  models: {
    vendor: string;
    model: string;
    ram: string;
    interface: string;
    availability: { total: number; available: number };
    price: { currency: string; min: number; max: number; avg: number; weightedAverage: number; med: number } | null;
  }[];
}

/** What this process knows about a deployment it created (lost on restart, by design). */
interface Submission {
  key: string;
  manifest: string;
  /** When this process first saw the lease without a ready service, and when it last sent the manifest. */
  unreadySince?: number;
  manifestSentAt?: number;
  gpuCount: number;
  ceilingMicrosPerGpuHour: bigint;
  createdAt: number;
  leasedAt?: number;
  /** This process asked for a lease (POST /v1/leases) at least once. */
  leaseAsked?: boolean;
  /** The shard agent's address, from the lease answer or a deployment read. */
  uri?: string;
  /** `deployment`: the read that saw the final report, for the cost asked right after; dropped by cancel(). */
  final?: { phase: 'Succeeded' | 'Failed'; report?: ResultReport; message?: string; endedAt: number; deployment?: WireDeployment };
  /** This process closed it (a closed deployment never comes back), and its read once closed (the settled cost). */
  closed?: boolean;
  settled?: WireDeployment;
}

export class AkashAdapter implements ProviderAdapter {
  readonly type = 'akash' as const;
  private readonly http: HttpClient;
  private readonly opts: AkashOptions;
  private readonly clock: Clock;
  private readonly fetchFn: FetchLike;
  private readonly timeoutMs: number;
  private readonly submissions = new Map<string, Submission>();
  private readonly byKey = new Map<string, string>();
  /** Leases of deployments this process has no shard for, first seen without a service. */
  private readonly unknownUnready = new Map<string, number>();

  constructor(init: AdapterInit<AkashCredentials, AkashOptions>) {
    this.opts = { ...AKASH_DEFAULTS, ...(init.options ?? {}), usdPerToken: { ...AKASH_DEFAULTS.usdPerToken, ...(init.options?.usdPerToken ?? {}) } };
    // ComputeProvider spec.options arrive as strings.
    if (this.opts.depositUsd !== undefined) this.opts.depositUsd = Number(this.opts.depositUsd);
    this.opts.manifestResendMs = Number(this.opts.manifestResendMs);
    this.clock = init.clock ?? systemClock;
    const apiKey = init.credentials.apiKey;
    this.http = adapterHttpClient('akash', init, this.clock, {
      secrets: [apiKey],
      authHeaders: () => ({ 'x-api-key': apiKey }),
    });
    this.fetchFn = this.http.fetchFn;
    this.timeoutMs = this.http.timeoutMs;
  }

  capabilities(): ProviderCapabilities {
    return {
      provider: 'akash',
      logs: 'snapshot',
      results: 'native',
      resultChannel: `shard agent on port ${this.opts.exposePort}: GET ${this.opts.resultPath} -> {"state","outputs":[{"uri","sha256"}]}`,
      billing: 'perBlock',
      maxGpusPerJob: 8,
      endsByItself: false,
      cancelConfirms: true,
      findByKey: 'remote',
      runsArbitraryImages: true,
      maxDuration: 'operator',
    };
  }

  /** USD per GPU-hour for a per-block price of the whole order, exact, rounded to micro-USD. */
  usdPerGpuHour(price: DecCoin, gpuCount: number): string {
    return formatMicros(this.microsPerGpuHour(price, gpuCount));
  }

  private microsPerGpuHour(price: DecCoin, gpuCount: number): bigint {
    const rate = this.opts.usdPerToken[price.denom];
    if (rate === undefined) throw this.http.error('invalid', `no USD rate configured for denom ${price.denom}`);
    const perHour = div(mul(price.amount, 3600, rate), mul(this.opts.blockSeconds, 1_000_000, Math.max(1, gpuCount)));
    return toMicros(perHour);
  }

  async listOffers(req: OfferRequest): Promise<Offer[]> {
    const prices = await this.http.json<WireGpuPrices>({ method: 'GET', path: '/v1/gpu-prices', idempotent: true, anonymous: true });
    const wanted = (req.gpuModels ?? []).map(akashGpu);
    const offers: Offer[] = [];
    for (const m of prices?.models ?? []) {
      if (!m.price) continue;
      if (wanted.length > 0 && !wanted.some((w) => w.model === m.model.toLowerCase() && (w.ram === undefined || w.ram === m.ram))) continue;
      if (m.availability.available < req.gpuCount) continue;
      if (req.minVramGb !== undefined && parseInt(m.ram, 10) < req.minVramGb) continue;
      const raw = String(m.price.med);
      const usdPerGpuHour = usd(rational(raw));
      if (req.maxUsdPerGpuHour !== undefined && compare(usdPerGpuHour, req.maxUsdPerGpuHour) > 0) continue;
      offers.push({
        offerId: `akash:${m.vendor}:${m.model}:${m.ram}`,
        gpuModel: atelierGpuName(m.vendor, m.model, m.ram, req.gpuModels),
        gpuCount: req.gpuCount,
        usdPerGpuHour,
        rawPrice: raw,
        rawUnit: `${m.price.currency}/GPU-hour (market median; bids decide)`,
        available: m.availability.available,
      });
    }
    return offers.sort((a, b) => compare(a.usdPerGpuHour, b.usdPerGpuHour));
  }

  /** The shard's deterministic SDL and its manifest; the ceiling only sets the price, which is not in the manifest. */
  private async sdlFor(spec: ShardSpec, key: string, ceilingPerHour?: string): Promise<{ sdl: string; manifest: string; version: string; ceilingPerHour: string }> {
    validateSpec(spec, this.http);
    const ceiling = ceilingPerHour ?? formatMicros(parseUsd(this.opts.defaultMaxUsdPerGpuHour) * BigInt(spec.gpuCount));
    const rate = this.opts.usdPerToken[this.opts.denom];
    if (rate === undefined) throw this.http.error('invalid', `no USD rate configured for denom ${this.opts.denom}`);
    // The highest per-block price a provider may bid, rounded down so the ceiling is never exceeded.
    const amountPerBlock = formatDecimal(div(mul(ceiling, 1_000_000, this.opts.blockSeconds), mul(rate, 3600)), 6, 'floor');
    const sdl = buildSdl({
      spec,
      env: shardEnv(spec, key),
      denom: this.opts.denom,
      amountPerBlock,
      exposePort: this.opts.exposePort,
      cpu: spec.resources?.cpu ?? this.opts.cpu,
      memoryGi: spec.resources?.memoryGi ?? this.opts.memoryGi,
      storageGi: spec.resources?.storageGi ?? this.opts.storageGi,
    });
    try {
      return { sdl, ceilingPerHour: ceiling, ...(await manifestOf(sdl)) };
    } catch (err) {
      throw this.http.error('invalid', err instanceof Error ? err.message : String(err));
    }
  }

  /** `found`: an earlier process made it (findByKey), which may have leased it: its polls read the deployment. */
  private remember(dseq: string, key: string, manifest: string, gpuCount: number, ceilingPerHour: string, found = false): void {
    this.submissions.set(dseq, { key, manifest, gpuCount, ceilingMicrosPerGpuHour: parseUsd(ceilingPerHour) / BigInt(gpuCount), createdAt: this.clock.now(), ...(found ? { leaseAsked: true } : {}) });
    this.byKey.set(key, dseq);
  }

  async submit(spec: ShardSpec, opts: SubmitOptions): Promise<SubmitResult> {
    assertIdempotencyKey('akash', opts.idempotencyKey);
    const built = await this.sdlFor(spec, opts.idempotencyKey, opts.maxUsdPerHour);
    const data: Record<string, unknown> = { sdl: built.sdl };
    if (this.opts.depositUsd !== undefined) data.deposit = this.opts.depositUsd;
    const res = await this.http.json<{ data: { dseq: string; manifest: string } }>({ method: 'POST', path: '/v1/deployments', body: { data } });
    const dseq = res?.data?.dseq;
    if (!dseq || typeof res.data.manifest !== 'string') throw this.http.error('fatal', 'POST /v1/deployments: answer without dseq/manifest');
    this.remember(dseq, opts.idempotencyKey, res.data.manifest, spec.gpuCount, built.ceilingPerHour);
    return { remoteId: dseq };
  }

  /**
   * The active deployment whose hash is the manifest version of this shard's SDL under the key.
   * Without the spec only this process's own submissions can be found.
   */
  async findByKey(idempotencyKey: string, spec?: ShardSpec): Promise<string | undefined> {
    assertIdempotencyKey('akash', idempotencyKey);
    const known = this.byKey.get(idempotencyKey);
    if (known) return known;
    if (!spec) return undefined;
    const built = await this.sdlFor(spec, idempotencyKey);
    let seen = 0;
    for (let skip = 0; seen < this.opts.findByKeyScanLimit; ) {
      const page = await this.http.json<{ data: { deployments: WireDeployment[]; pagination: { hasMore: boolean } } }>({
        method: 'GET',
        path: '/v1/deployments',
        query: { skip, limit: 100 },
        idempotent: true,
      });
      const items = page?.data?.deployments ?? [];
      seen += items.length;
      const hit = items.find((d) => d.deployment.hash === built.version && d.deployment.state === 'active');
      if (hit) {
        const dseq = hit.deployment.id.dseq;
        this.remember(dseq, idempotencyKey, built.manifest, spec.gpuCount, built.ceilingPerHour, true);
        return dseq;
      }
      if (!page?.data?.pagination?.hasMore || items.length === 0) break;
      skip += items.length;
    }
    return undefined;
  }

  async getStatus(dseq: string): Promise<RemoteStatus> {
    const sub = this.submissions.get(dseq);
    // Closed by this process after its final report: nothing about it changes any more.
    if (sub?.closed && sub.final) return { phase: sub.final.phase, raw: 'deployment=closed', endedAt: new Date(sub.final.endedAt), ...(sub.final.message ? { message: sub.final.message } : {}), ...(sub.leasedAt !== undefined ? { startedAt: new Date(sub.leasedAt) } : {}) };
    let known: ResultReport | undefined;
    let bids: WireBid[] | undefined;
    if (sub && !sub.final) {
      const quick = await this.quickStatus(dseq, sub);
      if (quick && 'phase' in quick) return quick;
      known = quick?.report;
      bids = quick?.bids;
    }
    return this.readStatus(dseq, sub, known, bids);
  }

  /**
   * A status without the deployment read where this process knows enough: a young deployment it has
   * asked no lease for (only its bids matter), or a shard whose agent says it is running. Otherwise
   * the agent's final report, if it gave one, for readStatus.
   */
  private async quickStatus(dseq: string, sub: Submission): Promise<RemoteStatus | { report?: ResultReport; bids?: WireBid[] } | undefined> {
    const raw = 'deployment=active (not read)';
    const base = (phase: RemoteStatus['phase'], message?: string): RemoteStatus => ({ phase, raw, ...(message ? { message } : {}), ...(sub.leasedAt !== undefined ? { startedAt: new Date(sub.leasedAt) } : {}) });
    if (!sub.leaseAsked && this.clock.now() - sub.createdAt < this.opts.bidTimeoutMs) {
      // A bid to accept: the lease answers for the deployment (a 404 once it is gone). None yet: the
      // deployment is read too, so one closed or gone is seen now, not at bidTimeoutMs.
      const bids = await this.readBids(dseq);
      return this.fitting(bids, sub).length > 0 ? this.awaitBids(dseq, sub, base, bids) : { bids };
    }
    if (!sub.uri) return undefined;
    const report = await this.readShard(sub.uri);
    if (report?.state === 'running') return { ...base('Running'), raw: 'shard agent: running' };
    return report ? { report } : undefined;
  }

  private async readStatus(dseq: string, sub: Submission | undefined, known?: ResultReport, bids?: WireBid[]): Promise<RemoteStatus> {
    const d = await this.getDeployment(dseq);
    const lease = pickLease(d.leases);
    const raw = `deployment=${d.deployment.state}${lease ? ` lease=${lease.state}` : ''}`;
    const base = (phase: RemoteStatus['phase'], message?: string): RemoteStatus => {
      const s: RemoteStatus = { phase, raw };
      if (message) s.message = message;
      if (sub?.leasedAt !== undefined) s.startedAt = new Date(sub.leasedAt);
      if (sub?.final) s.endedAt = new Date(sub.final.endedAt);
      return s;
    };

    if (lease?.state === 'insufficient_funds') return { ...base('Failed', lease.reason ?? 'lease closed: insufficient funds'), endedAt: new Date(this.clock.now()) };
    if (d.deployment.state !== 'active') {
      if (sub?.final) return base(sub.final.phase, sub.final.message);
      return base('Cancelled', d.leases.length === 0 ? 'deployment closed without a lease (the console closes lease-less deployments after 10 minutes)' : 'deployment closed');
    }
    if (!lease) return this.awaitBids(dseq, sub, base, bids);
    if (lease.state !== 'active') return base('Failed', `lease ${lease.state} by provider ${lease.id.provider}`);

    const service = Object.values(lease.status?.services ?? {})[0];
    if (!service || !service.ready_replicas) {
      if (!service && sub) await this.resendManifest(sub, lease);
      if (!service && !sub) {
        // Read without its shard (after a restart): the manifest cannot be rebuilt here. A lease
        // whose service never comes up is closed after twice the resend wait, and the shard retried.
        const since = this.unknownUnready.get(dseq) ?? this.clock.now();
        this.unknownUnready.set(dseq, since);
        if (this.clock.now() - since >= 2 * this.opts.manifestResendMs) {
          await this.closeQuietly(dseq);
          this.unknownUnready.delete(dseq);
          return { ...base('Failed', 'the provider never got the manifest, and it cannot be rebuilt without the shard; closed it'), endedAt: new Date(this.clock.now()) };
        }
      }
      return base('Provisioning', `lease with ${lease.id.provider}; waiting for the service to be ready`);
    }
    this.unknownUnready.delete(dseq);
    if (sub) sub.unreadySince = undefined;
    if (sub && sub.leasedAt === undefined) sub.leasedAt = this.clock.now();
    if (sub && service.uris?.[0]) sub.uri = service.uris[0];
    const report = known ?? (await this.readShard(service.uris?.[0]));
    if (!report) return base('Running', 'shard agent not reachable yet');
    if (report.state === 'succeeded' || report.state === 'failed') {
      const phase = report.state === 'succeeded' ? 'Succeeded' : 'Failed';
      const final: Submission['final'] = { phase, report, endedAt: this.clock.now(), deployment: d };
      if (report.message) final.message = report.message;
      if (sub) sub.final ??= final;
      return { ...base(phase, report.message), endedAt: new Date(sub?.final?.endedAt ?? final.endedAt) };
    }
    return base('Running');
  }

  /**
   * A lease the provider reports no service for has not got its manifest (a send that failed, or a
   * restart between the lease and the send): POST /v1/leases again, which re-sends it.
   */
  private async resendManifest(sub: Submission, lease: WireLease): Promise<void> {
    const now = this.clock.now();
    sub.unreadySince ??= now;
    const since = Math.max(sub.unreadySince, sub.manifestSentAt ?? 0);
    if (now - since < this.opts.manifestResendMs) return;
    sub.manifestSentAt = now;
    await this.http.json({ method: 'POST', path: '/v1/leases', body: { manifest: sub.manifest, leases: [{ dseq: lease.id.dseq, gseq: lease.id.gseq, oseq: lease.id.oseq, provider: lease.id.provider }] } });
  }

  private async readBids(dseq: string): Promise<WireBid[]> {
    const res = await this.http.json<{ data: WireBid[] }>({ method: 'GET', path: '/v1/bids', query: { dseq }, idempotent: true });
    return res?.data ?? [];
  }

  /** Open bids that fit the shard and its ceiling, cheapest first. */
  private fitting(raw: WireBid[], sub: Submission) {
    return raw
      .map((b) => ({ id: b.bid.id, state: b.bid.state, price: b.bid.price, gpus: offeredGpus(b) }))
      .filter((b) => b.id && b.state === 'open' && (b.gpus === undefined || b.gpus >= sub.gpuCount) && this.opts.usdPerToken[b.price.denom] !== undefined)
      .map((b) => ({ ...b, micros: this.microsPerGpuHour(b.price, sub.gpuCount) }))
      .filter((b) => b.micros <= sub.ceilingMicrosPerGpuHour)
      .sort((a, b) => (a.micros < b.micros ? -1 : a.micros > b.micros ? 1 : 0));
  }

  /** `read`: the deployment's bids when quickStatus has read them already. */
  private async awaitBids(dseq: string, sub: Submission | undefined, base: (p: RemoteStatus['phase'], m?: string) => RemoteStatus, read?: WireBid[]): Promise<RemoteStatus> {
    if (!sub) {
      await this.closeQuietly(dseq);
      return base('Failed', 'deployment has no lease and its manifest was lost (operator restarted before a bid was accepted); closed it, submit again');
    }
    const bids = read ?? (await this.readBids(dseq));
    const best = this.fitting(bids, sub)[0];
    if (best?.id) {
      sub.leaseAsked = true;
      let leased: { data?: WireDeployment } | undefined;
      try {
        leased = await this.http.json<{ data?: WireDeployment }>({
          method: 'POST',
          path: '/v1/leases',
          body: { manifest: sub.manifest, leases: [{ dseq: best.id.dseq, gseq: best.id.gseq, oseq: best.id.oseq, provider: best.id.provider }] },
        });
      } catch (err) {
        // The bid closed or a lease already exists (an earlier ambiguous attempt): the next poll
        // reads the deployment again and either sees the lease or picks another bid.
        if (err instanceof ProviderError && err.kind === 'invalid') return base('Pending', `lease not created: ${err.message}`);
        throw err;
      }
      // The answer is the deployment with its lease: billing starts now, and the service URI (once
      // the provider has the manifest) is where the shard agent will answer.
      sub.leasedAt ??= this.clock.now();
      const uri = Object.values(pickLease(leased?.data?.leases ?? [])?.status?.services ?? {})[0]?.uris?.[0];
      if (uri) sub.uri = uri;
      return base('Provisioning', `accepted bid from ${best.id.provider} at ${formatMicros(best.micros)} USD/GPU-hour`);
    }
    if (this.clock.now() - sub.createdAt > this.opts.bidTimeoutMs) {
      await this.closeQuietly(dseq);
      return { ...base('Failed', `no acceptable bid within ${Math.round(this.opts.bidTimeoutMs / 1000)} s (${bids.length} seen)`), endedAt: new Date(this.clock.now()) };
    }
    return base('Pending', `waiting for bids (${bids.length} seen, none acceptable yet)`);
  }

  async logs(dseq: string, opts: LogOptions = {}): Promise<string[]> {
    const d = await this.getDeployment(dseq);
    const lease = pickLease(d.leases);
    const uri = Object.values(lease?.status?.services ?? {})[0]?.uris?.[0];
    if (!uri || lease?.state !== 'active') return [];
    const body = await this.shardGet(uri, `${this.opts.logPath}${opts.tail ? `?tail=${opts.tail}` : ''}`);
    const lines = (body as { lines?: unknown } | undefined)?.lines;
    return Array.isArray(lines) ? lines.filter((l): l is string => typeof l === 'string') : [];
  }

  async getResults(dseq: string): Promise<ResultSet | ResultsUnsupported> {
    const cached = this.submissions.get(dseq)?.final;
    let report = cached?.phase === 'Succeeded' ? cached.report : undefined;
    if (!report) {
      const d = await this.getDeployment(dseq);
      const lease = pickLease(d.leases);
      const uri = Object.values(lease?.status?.services ?? {})[0]?.uris?.[0];
      report = lease?.state === 'active' ? await this.readShard(uri) : undefined;
    }
    if (!report || report.state !== 'succeeded') throw this.http.error('invalid', `results for deployment ${dseq} are not available (shard not succeeded or deployment closed)`);
    const result: ResultSet = { supported: true, outputs: report.outputs, digest: outputsDigest(report.outputs), integrity: 'reported' };
    if (report.signed) result.signed = report.signed;
    return result;
  }

  /** The close alone: a closed deployment's second close is a quiet success, a gone one a 404 (closeQuietly). */
  async cancel(dseq: string): Promise<void> {
    if (!/^\d+$/.test(dseq)) throw this.http.error('invalid', `not a dseq: ${JSON.stringify(dseq)}`);
    const sub = this.submissions.get(dseq);
    if (sub?.closed) return;
    await this.closeQuietly(dseq);
    if (!sub) return;
    sub.closed = true;
    if (sub.final) sub.final.deployment = undefined;
  }

  async getCost(dseq: string): Promise<CostReport> {
    const sub = this.submissions.get(dseq);
    const d = sub?.settled ?? sub?.final?.deployment ?? (await this.getDeployment(dseq));
    if (sub?.closed && d.deployment.state !== 'active') sub.settled = d;
    const lease = pickLease(d.leases);
    const transferred = d.escrow_account?.state?.transferred ?? [];
    const denom = lease?.price.denom ?? transferred[0]?.denom ?? this.opts.denom;
    const amount = transferred.filter((t) => t.denom === denom).reduce<Rational>((sum, t) => add(sum, t.amount), rational(0));
    const rate = this.opts.usdPerToken[denom];
    if (rate === undefined) throw this.http.error('invalid', `no USD rate configured for denom ${denom}`);
    const perBlock = lease ? rational(lease.price.amount) : undefined;
    const seconds = perBlock && perBlock.n !== 0n ? Number(toMicros(mul(div(amount, perBlock), this.opts.blockSeconds)) / 1_000_000n) : 0;
    return {
      amount: formatDecimal(amount, 6),
      currency: denom,
      usd: usd(div(mul(amount, rate), 1_000_000)),
      basis: d.deployment.state === 'active' ? 'estimated' : 'settled',
      seconds,
    };
  }

  // ---- helpers ------------------------------------------------------------------------------

  private async getDeployment(dseq: string): Promise<WireDeployment> {
    if (!/^\d+$/.test(dseq)) throw this.http.error('invalid', `not a dseq: ${JSON.stringify(dseq)}`);
    const res = await this.http.json<{ data: WireDeployment }>({ method: 'GET', path: `/v1/deployments/${dseq}`, idempotent: true });
    if (!res?.data?.deployment) throw this.http.error('fatal', `GET /v1/deployments/${dseq}: answer without data.deployment`);
    return res.data;
  }

  private async closeQuietly(dseq: string): Promise<void> {
    try {
      await this.http.json({ method: 'DELETE', path: `/v1/deployments/${dseq}`, idempotent: true });
    } catch (err) {
      // Closing twice is fine: the first close won, or the deployment is already gone.
      // (The console answers a second close with success; 404 means it is gone.)
      if (err instanceof ProviderError && err.kind === 'notFound') return;
      throw err;
    }
  }

  private async readShard(uri: string | undefined): Promise<ResultReport | undefined> {
    if (!uri) return undefined;
    const body = await this.shardGet(uri, this.opts.resultPath);
    if (!body || typeof body !== 'object') return undefined;
    const state = (body as { state?: unknown }).state;
    if (state === 'running') return { outputs: [], state: 'running' };
    const report = parseResultReport({ outputs: [], ...(body as object) });
    return report?.state ? report : undefined;
  }

  /** GET against the shard agent behind the lease URI; unreachable means "not yet", never an error. */
  private async shardGet(uri: string, path: string): Promise<unknown> {
    const base = /^https?:\/\//.test(uri) ? uri : `${this.opts.resultScheme}://${uri}`;
    try {
      const res = await this.fetchFn(`${base.replace(/\/$/, '')}${path}`, { method: 'GET', headers: { accept: 'application/json' }, signal: AbortSignal.timeout(this.timeoutMs) });
      if (!res.ok) return undefined;
      return JSON.parse(await readTextLimited(res)) as unknown;
    } catch {
      return undefined;
    }
  }
}

function pickLease(leases: WireLease[]): WireLease | undefined {
  return leases.find((l) => l.state === 'active') ?? leases.find((l) => l.state === 'insufficient_funds') ?? leases[leases.length - 1];
}

function offeredGpus(b: WireBid): number | undefined {
  const val = b.bid.resources_offer?.[0]?.resources?.gpu?.units?.val;
  return val === undefined ? undefined : Number(val);
}

function validateSpec(spec: ShardSpec, http: HttpClient): void {
  if (!spec.image) throw http.error('invalid', 'shard spec: image is required');
  if (!Number.isInteger(spec.gpuCount) || spec.gpuCount < 1) throw http.error('invalid', 'shard spec: gpuCount must be an integer >= 1');
}
