// Contract fake of the Akash Console managed-wallet API. Follows the server schemas in
// `akash-network/console`: apps/api/src/deployment/http-schemas/deployment.schema.ts (create/get/
// list/close deployment, every answer wrapped in `{data: …}`, `consoleSettings.sdl` re-serialized),
// apps/api/src/deployment/http-schemas/lease.schema.ts (POST /v1/leases, lease status services),
// apps/api/src/bid/http-schemas/bid.schema.ts (`bid.bid_id`, price per block as a DecCoin string)
// and apps/api/src/gpu/http-schemas/gpu.schema.ts (GET /v1/gpu-prices, public), plus the routers
// apps/api/src/deployment/routes/{deployments,leases}/*.router.ts. Errors use the console's
// `{error: "<Name>Error", message}` shape. The chain is simulated: block height advances every
// 6 s of the fake clock, bids appear only after each provider's bid delay, providers bid only with
// free capacity, model and price that fit, and escrow `transferred` grows with the lease's price.
// Akash has no job API of its own: the fake also plays Atelier's shard agent, which serves
// `/atelier/result` and `/atelier/log` behind the lease's service URI (see the adapter header).
// Playing the shard (server.ts): its bytes are testRenderContent(seed, index) when the SDL env has
// ATELIER_TEST_RENDER_SEED; when the env carries the settlement domain, the succeeded report (result
// endpoint and ATELIER_RESULT log line) has `signed`, by `payoutKey` (default keccak256
// ("atelier-fake-akash"), address 0x53Aeef6B27C9874d3ac42472D66e9bc58f438B62), claiming what the
// escrow transferred up to the end of the shard at `usdPerToken`, in token units. Per-job actions:
// fail, corrupt (reported hash is not the bytes'), wrong (other bytes, hashed and signed as if
// right), vanish, starve; `everyJob` applies one to every new deployment.

import { createHash } from 'node:crypto';
import { add, div, formatDecimal, mul, rational, usd } from '../../operator/src/money.js';
import type { Rational } from '../../operator/src/money.js';
import { FakeServer, ManualClock, ProviderFake, check, fakePayoutKey, realClock, renderContent } from './server.js';
import type { Fault, FakeClock, Reply, RequestContext, Route } from './server.js';

export interface AkashFakeProvider {
  address: string;
  /** Akash model names this provider has (`h100`, `a100`, `rtx4090`). */
  gpuModels: string[];
  /** Price per block for the whole order, micro-denom DecCoin string. */
  pricePerBlock: string;
  denom?: string;
  /** Free GPUs; bids need gpuUnits <= capacity - in use. */
  capacity: number;
  bidDelayMs?: number;
}

export interface AkashGpuPrice {
  vendor: string;
  model: string;
  ram: string;
  interface: string;
  price: { currency: string; min: number; max: number; avg: number; weightedAverage: number; med: number } | null;
}

export interface AkashFakeOptions {
  apiKey: string;
  owner: string;
  providers: AkashFakeProvider[];
  gpuPrices: AkashGpuPrice[];
  blockMs: number;
  /** After the lease, how long until the service reports ready replicas. */
  provisionMs: number;
  /** How long a shard runs once ready. */
  jobDurationMs: number;
  /** Console's SDL size limit. */
  maxSdlLength: number;
  clock: FakeClock;
  /** 0x private key the provider signs results with (a test key; default derived, see the header). */
  payoutKey: string;
  /** USD per whole token by micro-denom, for the amount a signed result claims (the adapter's defaults). */
  usdPerToken: Record<string, string>;
  /** A per-job action (`wrong`, `fail`, …) applied to every deployment when it is created. */
  everyJob?: string;
}

type ShardStage = 'waitingForBids' | 'provisioning' | 'running' | 'succeeded' | 'failed' | 'closed';

interface FakeLease {
  provider: string;
  price: { denom: string; amount: string };
  createdHeight: number;
  createdMs: number;
  state: 'active' | 'insufficient_funds' | 'closed';
  closedHeight: number;
  closedMs?: number;
  gpuUnits: number;
}

interface FakeDeployment {
  dseq: string;
  state: 'active' | 'closed';
  createdMs: number;
  createdHeight: number;
  sdl: string;
  manifest: string;
  name: string;
  image: string;
  gpuUnits: number;
  gpuModels: string[];
  pricing: { denom: string; amount: string };
  key?: string;
  outputUri: string;
  shardIndex: string;
  /** The shard env from the SDL. */
  env: Record<string, string>;
  leases: FakeLease[];
  lost: Set<string>;
  outcome: 'succeed' | 'fail';
  failMessage?: string;
  corrupt: boolean;
  wrong: boolean;
  vanished: boolean;
}

const DEFAULT_PRICES: AkashGpuPrice[] = [
  { vendor: 'nvidia', model: 'h100', ram: '80Gi', interface: 'SXM5', price: { currency: 'USD', min: 1.9, max: 3.5, avg: 2.75, weightedAverage: 2.7, med: 2.71 } },
  { vendor: 'nvidia', model: 'a100', ram: '80Gi', interface: 'SXM4', price: { currency: 'USD', min: 1.1, max: 2.2, avg: 1.75, weightedAverage: 1.72, med: 1.71 } },
  { vendor: 'nvidia', model: 'rtx4090', ram: '24Gi', interface: 'PCIe', price: { currency: 'USD', min: 0.3, max: 0.7, avg: 0.45, weightedAverage: 0.44, med: 0.42 } },
];

export class AkashFake extends ProviderFake {
  readonly server: FakeServer;
  readonly opts: AkashFakeOptions;
  private readonly deployments = new Map<string, FakeDeployment>();
  private readonly submissions = new Map<string, number>();
  private readonly objects = new Map<string, Buffer>();
  private nextDseq = 21_000_000;
  private readonly genesisMs: number;

  constructor(options: Partial<AkashFakeOptions> = {}) {
    const opts: AkashFakeOptions = {
      apiKey: 'akash-test-key-0000',
      owner: 'akash1atelierowner0000000000000000000000000',
      providers: [{ address: 'akash1provider0000000000000000000000000000a', gpuModels: ['h100', 'a100'], pricePerBlock: '1000', capacity: 8, bidDelayMs: 15_000 }],
      gpuPrices: DEFAULT_PRICES,
      blockMs: 6_000,
      provisionMs: 5_000,
      jobDurationMs: 60_000,
      maxSdlLength: 100_000,
      clock: realClock,
      payoutKey: fakePayoutKey('akash'),
      usdPerToken: { uakt: '3.00', uusdc: '1', uact: '1' },
      ...options,
    };
    super(opts.payoutKey);
    this.opts = opts;
    this.genesisMs = this.opts.clock.now() - 1_000_000 * this.opts.blockMs;
    this.server = new FakeServer({
      name: 'akash',
      routes: this.routes(),
      authenticate: (ctx) => (ctx.headers['x-api-key'] === this.opts.apiKey || ctx.headers.authorization === `Bearer ${this.opts.apiKey}` ? undefined : err(401, 'Unauthorized')),
      admin: {
        state: () => ({ running: this.running(), jobs: this.jobs(), submissions: this.submissionCounts() }),
        jobAction: (id, action) => this.jobAction(id, action),
        everyJob: (action) => this.setEveryJob(action),
      },
      errorReply: (status, message) => err(status, message),
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

  /** Shards whose lease is active and whose container is provisioning or running. */
  running(): number {
    return [...this.deployments.values()].filter((d) => ['provisioning', 'running'].includes(this.stage(d))).length;
  }

  jobs(): { id: string; key?: string; stage: ShardStage; provider?: string; gpuUnits: number }[] {
    return [...this.deployments.values()].map((d) => {
      const lease = d.leases[d.leases.length - 1];
      const row: { id: string; key?: string; stage: ShardStage; provider?: string; gpuUnits: number } = { id: d.dseq, stage: this.stage(d), gpuUnits: d.gpuUnits };
      if (d.key) row.key = d.key;
      if (lease) row.provider = lease.provider;
      return row;
    });
  }

  /** How many deployments were created carrying this idempotency marker. */
  submissionsFor(key: string): number {
    return this.submissions.get(key) ?? 0;
  }

  submissionCounts(): Record<string, number> {
    return Object.fromEntries(this.submissions);
  }

  failJob(dseq: string, message = 'render crashed'): void {
    const d = this.mustGet(dseq);
    d.outcome = 'fail';
    d.failMessage = message;
  }

  corruptResult(dseq: string): void {
    this.mustGet(dseq).corrupt = true;
  }

  /** A consistent but wrong render: other bytes, reported with their own hash and signed normally. */
  wrongResult(dseq: string): void {
    this.mustGet(dseq).wrong = true;
  }

  /** The deployment disappears: every route answers 404 for it. */
  vanish(dseq: string): void {
    this.mustGet(dseq).vanished = true;
  }

  /** Escrow runs dry: lease insufficient_funds, deployment closed. */
  starveFunds(dseq: string): void {
    const d = this.mustGet(dseq);
    this.close(d, 'insufficient_funds');
  }

  /** Output bytes as the shard wrote them, for verification in tests. */
  readObject(uri: string): Buffer | undefined {
    return this.objects.get(uri);
  }

  protected override moreActions(): Record<string, (id: string) => void> {
    return { starve: (i) => this.starveFunds(i) };
  }

  /**
   * What the deployment cost up to the end of its shard (lease start + provisioning + run), in USD as
   * the adapter's getCost reports it: escrow transferred x usdPerToken / 10^6, rounded to micro-USD.
   */
  meteredUsd(dseq: string): string {
    const d = this.mustGet(dseq);
    const lease = this.activeLease(d) ?? d.leases[d.leases.length - 1];
    const end = lease ? lease.createdMs + this.opts.provisionMs + this.opts.jobDurationMs : this.now();
    const { denom, amount } = this.transferredAt(d, end);
    const rate = this.opts.usdPerToken[denom];
    if (rate === undefined) throw new Error(`no USD rate for denom ${denom}`);
    return usd(div(mul(amount, rate), 1_000_000));
  }


  // ---- simulation ---------------------------------------------------------------------------

  private now(): number {
    return this.opts.clock.now();
  }

  private height(at = this.now()): number {
    return Math.floor((at - this.genesisMs) / this.opts.blockMs);
  }

  private mustGet(dseq: string): FakeDeployment {
    const d = this.deployments.get(dseq);
    if (!d) throw new Error(`no deployment ${dseq}`);
    return d;
  }

  private activeLease(d: FakeDeployment): FakeLease | undefined {
    return d.leases.find((l) => l.state === 'active');
  }

  private stage(d: FakeDeployment): ShardStage {
    const lease = this.activeLease(d);
    if (d.state === 'closed') return 'closed';
    if (!lease) return 'waitingForBids';
    const elapsed = this.now() - lease.createdMs;
    if (elapsed < this.opts.provisionMs) return 'provisioning';
    if (elapsed < this.opts.provisionMs + this.opts.jobDurationMs) return 'running';
    return d.outcome === 'fail' ? 'failed' : 'succeeded';
  }

  private inUse(provider: string): number {
    let n = 0;
    for (const d of this.deployments.values()) for (const l of d.leases) if (l.provider === provider && l.state === 'active') n += l.gpuUnits;
    return n;
  }

  private providerFits(p: AkashFakeProvider, d: FakeDeployment): boolean {
    if (p.capacity - this.inUse(p.address) < d.gpuUnits) return false;
    if (d.gpuModels.length > 0 && !d.gpuModels.some((m) => p.gpuModels.includes(m))) return false;
    if ((p.denom ?? 'uakt') !== d.pricing.denom) return false;
    return Number(p.pricePerBlock) <= Number(d.pricing.amount);
  }

  private close(d: FakeDeployment, leaseState: 'closed' | 'insufficient_funds'): void {
    d.state = 'closed';
    for (const l of d.leases) {
      if (l.state === 'active') {
        l.state = leaseState;
        l.closedHeight = this.height();
        l.closedMs = this.now();
      }
    }
  }

  private transferred(d: FakeDeployment): { denom: string; amount: string } {
    const { denom, amount } = this.transferredAt(d, Infinity);
    return { denom, amount: formatDecimal(amount, 18, 'halfUp', 18) };
  }

  /** Escrow paid to the provider by `until` (blocks started since each lease, exact), in the lease denom. */
  private transferredAt(d: FakeDeployment, until: number): { denom: string; amount: Rational } {
    let amount = rational(0);
    let denom = d.pricing.denom;
    for (const l of d.leases) {
      const end = Math.min(until, l.state === 'active' ? this.now() : (l.closedMs ?? this.now()));
      const blocks = Math.max(0, Math.floor((end - l.createdMs) / this.opts.blockMs));
      amount = add(amount, mul(l.price.amount, blocks));
      denom = l.price.denom;
    }
    return { denom, amount };
  }

  private outputs(d: FakeDeployment): { uri: string; sha256: string }[] {
    const uri = `${d.outputUri.replace(/\/?$/, '/')}shard-${d.shardIndex}.exr`;
    const content = renderContent(d.env, `akash frame data for deployment ${d.dseq}`, d.wrong);
    this.objects.set(uri, content);
    const sha = createHash('sha256').update(d.corrupt ? Buffer.from('tampered') : content).digest('hex');
    return [{ uri, sha256: sha }];
  }

  // ---- wire shapes ----------------------------------------------------------------------------

  private leaseJson(d: FakeDeployment, l: FakeLease, withStatus: boolean): Record<string, unknown> {
    const out: Record<string, unknown> = {
      id: { owner: this.opts.owner, dseq: d.dseq, gseq: 1, oseq: 1, provider: l.provider, bseq: 0 },
      state: l.state,
      price: { denom: l.price.denom, amount: l.price.amount },
      created_at: String(l.createdHeight),
      closed_on: String(l.closedHeight),
    };
    if (l.state === 'insufficient_funds') out.reason = 'lease closed: insufficient funds';
    if (withStatus) {
      const stage = this.stage(d);
      const ready = l.state === 'active' && stage !== 'provisioning' ? 1 : 0;
      out.status =
        l.state !== 'active'
          ? null
          : {
              forwarded_ports: {},
              ips: {},
              services: {
                shard: {
                  name: 'shard',
                  available: ready,
                  total: 1,
                  uris: [`${this.server.url.replace(/^https?:\/\//, '')}/_shard/${d.dseq}`],
                  observed_generation: 1,
                  replicas: 1,
                  updated_replicas: 1,
                  ready_replicas: ready,
                  available_replicas: ready,
                },
              },
            };
    }
    return out;
  }

  private deploymentJson(d: FakeDeployment, withStatus: boolean): Record<string, unknown> {
    const funds = { denom: d.pricing.denom, amount: '5000000.000000000000000000' };
    return {
      deployment: { id: { owner: this.opts.owner, dseq: d.dseq }, state: d.state, hash: createHash('sha256').update(d.sdl).digest('base64'), created_at: String(d.createdHeight) },
      leases: d.leases.map((l) => this.leaseJson(d, l, withStatus)),
      escrow_account: {
        id: { scope: 'deployment', xid: `${this.opts.owner}/${d.dseq}` },
        state: {
          owner: this.opts.owner,
          state: d.state === 'active' ? 'open' : 'closed',
          transferred: [this.transferred(d)],
          settled_at: String(this.height()),
          funds: [funds],
          deposits: [{ owner: this.opts.owner, height: String(d.createdHeight), source: 'grant', balance: funds }],
        },
      },
    };
  }

  private bidsJson(d: FakeDeployment): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    const lease = d.leases[d.leases.length - 1];
    for (const p of this.opts.providers) {
      const appearsAt = d.createdMs + (p.bidDelayMs ?? 15_000);
      if (this.now() < appearsAt) continue;
      let state: string;
      if (lease) {
        if (lease.provider === p.address) state = lease.state === 'active' ? 'active' : 'closed';
        else if (d.lost.has(p.address)) state = 'lost';
        else continue;
      } else {
        if (d.state !== 'active' || !this.providerFits(p, d)) continue;
        state = 'open';
      }
      const denom = p.denom ?? 'uakt';
      const balance = { denom, amount: '0.000000000000000000' };
      out.push({
        bid: {
          bid_id: { owner: this.opts.owner, dseq: d.dseq, gseq: 1, oseq: 1, provider: p.address },
          state,
          price: { denom, amount: decCoin(p.pricePerBlock) },
          created_at: String(this.height(appearsAt)),
          resources_offer: [
            {
              resources: {
                cpu: { units: { val: '4000' }, attributes: [] },
                gpu: { units: { val: String(d.gpuUnits) }, attributes: p.gpuModels.map((m) => ({ key: `vendor/nvidia/model/${m}`, value: 'true' })) },
                memory: { quantity: { val: String(24 * 1024 ** 3) }, attributes: [] },
                storage: [{ name: 'default', quantity: { val: String(20 * 1024 ** 3) }, attributes: [] }],
                endpoints: [{ kind: 'SHARED_HTTP', sequence_number: 0 }],
              },
              count: 1,
            },
          ],
        },
        escrow_account: {
          id: { scope: 'bid', xid: `${this.opts.owner}/${d.dseq}/1/1/${p.address}` },
          owner: p.address,
          state: 'open',
          balance,
          transferred: balance,
          settled_at: String(this.height()),
          depositor: p.address,
          funds: balance,
        },
      });
    }
    return out;
  }

  // ---- routes -------------------------------------------------------------------------------

  private find(dseq: string): FakeDeployment | undefined {
    const d = this.deployments.get(dseq);
    return d && !d.vanished ? d : undefined;
  }

  private routes(): Route[] {
    return [
      { method: 'GET', pattern: /^\/v1\/gpu-prices$/, public: true, handle: () => this.gpuPrices() },
      { method: 'POST', pattern: /^\/v1\/deployments$/, handle: (ctx) => this.createDeployment(ctx) },
      { method: 'GET', pattern: /^\/v1\/deployments$/, handle: (ctx) => this.listDeployments(ctx) },
      { method: 'GET', pattern: /^\/v1\/deployments\/([^/]+)$/, handle: (ctx) => this.getDeployment(ctx) },
      { method: 'DELETE', pattern: /^\/v1\/deployments\/([^/]+)$/, handle: (ctx) => this.closeDeployment(ctx) },
      { method: 'GET', pattern: /^\/v1\/bids$/, handle: (ctx) => this.listBids(ctx) },
      { method: 'POST', pattern: /^\/v1\/leases$/, handle: (ctx) => this.createLease(ctx) },
      { method: 'GET', pattern: /^\/_shard\/([^/]+)\/atelier\/result$/, public: true, handle: (ctx) => this.shardResult(ctx) },
      { method: 'GET', pattern: /^\/_shard\/([^/]+)\/atelier\/log$/, public: true, handle: (ctx) => this.shardLog(ctx) },
    ];
  }

  private gpuPrices(): Reply {
    const models = this.opts.gpuPrices.map((m) => {
      const holders = this.opts.providers.filter((p) => p.gpuModels.includes(m.model));
      const total = holders.reduce((s, p) => s + p.capacity, 0);
      const available = holders.reduce((s, p) => s + Math.max(0, p.capacity - this.inUse(p.address)), 0);
      return {
        ...m,
        availability: { total, available },
        providerAvailability: { total: holders.length, available: holders.filter((p) => p.capacity - this.inUse(p.address) > 0).length },
      };
    });
    const total = models.reduce((s, m) => s + m.availability.total, 0);
    const available = models.reduce((s, m) => s + m.availability.available, 0);
    return { status: 200, body: { availability: { total, available }, models } };
  }

  private createDeployment(ctx: RequestContext): Reply {
    const body = ctx.body as { data?: Record<string, unknown> } | undefined;
    const data = body?.data;
    const problem =
      check.object(data, 'data') ??
      check.string(data?.sdl, 'data.sdl', { max: this.opts.maxSdlLength }) ??
      (data?.name !== undefined ? check.string(typeof data.name === 'string' ? data.name.trim() : data.name, 'data.name', { min: 1, max: 128 }) : undefined) ??
      (data?.runtimeLimitHours !== undefined ? check.int(data.runtimeLimitHours, 'data.runtimeLimitHours', { min: 1, max: 720 }) : undefined) ??
      (data?.deposit !== undefined && typeof data.deposit !== 'number' ? 'data.deposit: expected number' : undefined);
    if (problem || !data) return err(400, `Validation error: ${problem}`);
    const sdl = data.sdl as string;
    const parsed = parseSdl(sdl);
    if (typeof parsed === 'string') return err(400, `Invalid SDL: ${parsed}`);
    const dseq = String(this.nextDseq++);
    const manifest = JSON.stringify([{ name: 'dcloud', services: [{ name: 'shard', image: parsed.image, count: 1, gpu: parsed.gpuUnits }], sdl: createHash('sha256').update(sdl).digest('hex') }]);
    const d: FakeDeployment = {
      dseq,
      state: 'active',
      createdMs: this.now(),
      createdHeight: this.height(),
      sdl,
      manifest,
      name: typeof data.name === 'string' ? data.name : 'shard',
      image: parsed.image,
      gpuUnits: parsed.gpuUnits,
      gpuModels: parsed.gpuModels,
      pricing: parsed.pricing,
      outputUri: parsed.env.ATELIER_OUTPUT_URI ?? 's3://unknown/',
      shardIndex: parsed.env.ATELIER_SHARD_INDEX ?? '0',
      env: parsed.env,
      leases: [],
      lost: new Set(),
      outcome: 'succeed',
      corrupt: false,
      wrong: false,
      vanished: false,
    };
    const key = parsed.env.ATELIER_IDEMPOTENCY_KEY;
    if (key) {
      d.key = key;
      this.submissions.set(key, (this.submissions.get(key) ?? 0) + 1);
    }
    this.deployments.set(dseq, d);
    this.applyEveryJob(dseq);
    return { status: 201, body: { data: { dseq, manifest, signTx: { code: 0, transactionHash: createHash('sha256').update(`tx-${dseq}`).digest('hex').toUpperCase(), rawLog: '[]' } } } };
  }

  private listDeployments(ctx: RequestContext): Reply {
    const skip = Number(ctx.query.get('skip') ?? '0');
    const limit = Number(ctx.query.get('limit') ?? '1000');
    if (!Number.isInteger(skip) || skip < 0 || !Number.isInteger(limit) || limit < 1) return err(400, 'Validation error: skip/limit');
    const all = [...this.deployments.values()].filter((d) => !d.vanished);
    const page = all.slice(skip, skip + limit).map((d) => this.deploymentJson(d, false));
    return { status: 200, body: { data: { deployments: page, pagination: { total: all.length, skip, limit, hasMore: skip + limit < all.length } } } };
  }

  private getDeployment(ctx: RequestContext): Reply {
    const d = this.find(ctx.params[0] ?? '');
    if (!d) return err(404, 'Deployment not found');
    return { status: 200, body: { data: { ...this.deploymentJson(d, true), consoleSettings: { sdl: reserialize(d.sdl), manifestVersion: Buffer.from(d.manifest).toString('base64').slice(0, 44) } } } };
  }

  private closeDeployment(ctx: RequestContext): Reply {
    const d = this.find(ctx.params[0] ?? '');
    if (!d) return err(404, 'Deployment not found');
    if (d.state === 'closed') return err(400, 'Deployment already closed');
    this.close(d, 'closed');
    return { status: 200, body: { data: { success: true } } };
  }

  private listBids(ctx: RequestContext): Reply {
    const dseq = ctx.query.get('dseq');
    if (!dseq) return err(400, 'Validation error: dseq: Required');
    const d = this.find(dseq);
    return { status: 200, body: { data: d ? this.bidsJson(d) : [] } };
  }

  private createLease(ctx: RequestContext): Reply {
    const body = ctx.body as { manifest?: unknown; leases?: unknown } | undefined;
    if (!body || typeof body.manifest !== 'string' || !Array.isArray(body.leases) || body.leases.length === 0) {
      return err(400, 'Validation error: manifest: Required; leases: Required');
    }
    const created: FakeDeployment[] = [];
    for (const item of body.leases as Record<string, unknown>[]) {
      const problem = check.string(item?.dseq, 'leases.dseq') ?? check.int(item?.gseq, 'leases.gseq') ?? check.int(item?.oseq, 'leases.oseq') ?? check.string(item?.provider, 'leases.provider', { min: 1 });
      if (problem) return err(400, `Validation error: ${problem}`);
      const d = this.find(item.dseq as string);
      if (!d) return err(404, 'Deployment not found');
      if (d.state !== 'active') return err(400, 'Deployment is closed');
      if (body.manifest !== d.manifest) return err(400, 'Manifest does not match the deployment');
      if (this.activeLease(d)) return err(400, 'Lease already exists for this order');
      const provider = this.opts.providers.find((p) => p.address === item.provider);
      const open = this.bidsJson(d).find((b) => (b.bid as { bid_id: { provider: string }; state: string }).bid_id.provider === item.provider && (b.bid as { state: string }).state === 'open');
      if (!provider || !open) return err(400, `No open bid from ${String(item.provider)}`);
      for (const b of this.bidsJson(d)) {
        const bidder = (b.bid as { bid_id: { provider: string } }).bid_id.provider;
        if (bidder !== provider.address) d.lost.add(bidder);
      }
      d.leases.push({
        provider: provider.address,
        price: { denom: provider.denom ?? 'uakt', amount: decCoin(provider.pricePerBlock) },
        createdHeight: this.height(),
        createdMs: this.now(),
        state: 'active',
        closedHeight: 0,
        gpuUnits: d.gpuUnits,
      });
      created.push(d);
    }
    return { status: 200, body: { data: this.deploymentJson(created[0] as FakeDeployment, true) } };
  }

  /** The succeeded shard's report, signed once and cached when the env carries the settlement domain. */
  private async succeededReport(d: FakeDeployment): Promise<Record<string, unknown>> {
    const outputs = this.outputs(d);
    const signed = await this.signResult(d.dseq, () => ({ env: d.env, outputs, costUsd: () => this.meteredUsd(d.dseq) }));
    return signed ? { state: 'succeeded', outputs, signed } : { state: 'succeeded', outputs };
  }

  private async shardResult(ctx: RequestContext): Promise<Reply> {
    const d = this.find(ctx.params[0] ?? '');
    if (!d || !this.activeLease(d)) return { status: 502, body: { message: 'no upstream' } };
    const stage = this.stage(d);
    if (stage === 'provisioning') return { status: 503, body: { message: 'starting' } };
    if (stage === 'running') return { status: 200, body: { state: 'running' } };
    if (stage === 'failed') return { status: 200, body: { state: 'failed', message: d.failMessage ?? 'failed', outputs: [] } };
    return { status: 200, body: await this.succeededReport(d) };
  }

  private async shardLog(ctx: RequestContext): Promise<Reply> {
    const d = this.find(ctx.params[0] ?? '');
    if (!d || !this.activeLease(d)) return { status: 502, body: { message: 'no upstream' } };
    const lines = [`render ${d.image} starting`, `frames for shard ${d.shardIndex}`];
    const stage = this.stage(d);
    if (stage === 'succeeded') lines.push(`ATELIER_RESULT ${JSON.stringify(await this.succeededReport(d))}`);
    if (stage === 'failed') lines.push(`error: ${d.failMessage ?? 'failed'}`);
    const tail = Number(ctx.query.get('tail') ?? '0');
    return { status: 200, body: { lines: tail > 0 ? lines.slice(-tail) : lines } };
  }
}

function err(status: number, message: string): Reply {
  const names: Record<number, string> = { 400: 'BadRequestError', 401: 'UnauthorizedError', 403: 'ForbiddenError', 404: 'NotFoundError', 405: 'MethodNotAllowedError', 429: 'TooManyRequestsError' };
  return { status, body: { error: names[status] ?? (status >= 500 ? 'InternalServerError' : 'HttpError'), message } };
}

/** Chain DecCoin amounts carry 18 decimals. */
function decCoin(amount: string): string {
  const [whole, frac = ''] = amount.split('.');
  return `${whole}.${frac.padEnd(18, '0').slice(0, 18)}`;
}

interface ParsedSdl {
  image: string;
  gpuUnits: number;
  gpuModels: string[];
  pricing: { denom: string; amount: string };
  env: Record<string, string>;
}

/**
 * Enough of an SDL reader for a fake (the real console uses the chain SDK): checks the top-level
 * sections and pulls image, env, GPU units/models and the placement price out line by line.
 */
function parseSdl(sdl: string): ParsedSdl | string {
  if (!/^version:\s*"?2\.\d"?\s*$/m.test(sdl)) return 'version: expected "2.0" or "2.1"';
  for (const section of ['services', 'profiles', 'deployment']) if (!new RegExp(`^${section}:\\s*$`, 'm').test(sdl)) return `${section}: missing`;
  const image = /^\s+image:\s*"?([^"\s]+)"?\s*$/m.exec(sdl)?.[1];
  if (!image) return 'services.*.image: missing';
  const gpu = /^(\s+)gpu:\s*\n\s+units:\s*"?(\d+)"?/m.exec(sdl);
  const gpuUnits = gpu ? Number(gpu[2]) : 0;
  if (gpuUnits < 1) return 'profiles.compute.*.resources.gpu.units: must be >= 1 for a GPU shard';
  const gpuModels = [...sdl.matchAll(/^\s+-?\s*model:\s*"?([\w.-]+)"?\s*$/gm)].map((m) => m[1] as string);
  const denom = /^\s+denom:\s*"?([\w/.-]+)"?\s*$/m.exec(sdl)?.[1];
  const amount = /^\s+amount:\s*"?([\d.]+)"?\s*$/m.exec(sdl)?.[1];
  if (!denom || !amount) return 'profiles.placement.*.pricing: denom and amount required';
  const env: Record<string, string> = {};
  for (const m of sdl.matchAll(/^\s+-\s*"([A-Za-z_][A-Za-z0-9_]*)=((?:[^"\\]|\\.)*)"\s*$/gm)) env[m[1] as string] = JSON.parse(`"${m[2] as string}"`) as string;
  return { image, gpuUnits, gpuModels, pricing: { denom, amount }, env };
}

/** The console stores a re-serialized SDL: same meaning, different bytes. */
function reserialize(sdl: string): string {
  return sdl
    .replace(/^---\n/, '')
    .replace(/"([A-Za-z0-9_./:=-]*)"/g, '$1')
    .replace(/\n{2,}/g, '\n');
}

export function createAkashFake(options: Partial<AkashFakeOptions> = {}): AkashFake {
  return new AkashFake(options);
}

export { ManualClock };
