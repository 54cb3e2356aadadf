// Contract fake of the Akash Console managed-wallet API. Follows `akash-network/console` @
// d84c9e93d7904ec9cbbfd2d62b79994209bea297 (apps/api/src) and `@akashnetwork/chain-sdk` 1.0.0-alpha.45:
// - deployment/http-schemas/deployment.schema.ts:9-153: create body `{data: {sdl, deposit?}}` (zod
//   drops other keys) -> 201 `{data: {dseq, manifest, signTx}}`; GET /v1/deployments/{dseq} ->
//   `{data: {deployment {id {owner, dseq}, state, hash, created_at}, leases[] (with status),
//   escrow_account {id, state {owner, state, transferred[], settled_at, funds[], deposits[]}}}}`, no SDL;
//   list `{data: {deployments (leases without status), pagination {total, skip, limit, hasMore}}}`;
//   close -> `{data: {success}}`. lease.schema.ts:5-47 (POST /v1/leases {manifest, leases[]}, lease
//   status {forwarded_ports, ips, services{name, available, total, uris, …, ready_replicas, …}}).
// - deployment/services: sdl/sdl.service.ts:21-44 (the SDL is parsed with chain-sdk's yaml, every
//   placement price denom is rewritten to DEPLOYMENT_GRANT_DENOM, `uact` on mainnet per
//   env/.env.mainnet:3, then chain-sdk generateManifest validates it: 400 "Invalid SDL: …");
//   deployment-writer/deployment-writer.service.ts:42-127 (dseq, manifest = manifestToSortedJSON(groups),
//   hash = generateManifestVersion(groups) base64; "deposit is required" 400 without managed deposits;
//   closing a closed deployment is a quiet success); deployment-reader/deployment-reader.service.ts:
//   104-137 (lists only `state: "active"`, hasMore only when skip and limit are given, default limit
//   1000; 404 "Deployment not found"); lease/lease.service.ts:24-57 (a repeated POST /v1/leases skips
//   the lease when one is active and sends the manifest again); stale-managed-deployments-cleaner.
//   service.ts:19 (a lease-less deployment is closed after 10 minutes of blocks).
// - bid/http-schemas/bid.schema.ts:5-129 (`bid.id {owner, dseq, gseq, oseq, provider, bseq}`, price per
//   block as a DecCoin string, resources_offer, escrow_account with the same state shape);
//   gpu/http-schemas/gpu.schema.ts (GET /v1/gpu-prices, public).
// - billing/services/chain-error/chain-error.service.ts:71-74 (a wallet that cannot pay: 402 "Not
//   enough balance to cover the deployment deposit. …"); core/services/hono-error-handler/
//   hono-error-handler.service.ts:38-138 (errors `{error: "<Name>", message, code, type}`).
// Chosen here, not in the source: 400 "Manifest does not match the deployment" for a lease with a
// manifest whose version is not the deployment's hash (the provider refuses it). The chain is
// simulated: block height advances every 6 s of the fake clock, bids appear only after each provider's
// bid delay, providers bid only with free capacity, model and price that fit, and escrow
// `transferred` grows with the lease's price; that escrow is the fake's billing record (billing()).
// Akash has no job API of its own: the fake also plays Atelier's shard agent, which serves
// `/atelier/result` and `/atelier/log` behind the lease's service URI (see the adapter header), and
// it runs only once its provider has the manifest. Playing the shard (server.ts): its bytes are
// testRenderContent(seed, index) when the SDL env has ATELIER_TEST_RENDER_SEED; when the env carries
// the settlement domain, the succeeded report has `signed`, by `payoutKey` (default keccak256
// ("atelier-fake-akash"), address 0x53Aeef6B27C9874d3ac42472D66e9bc58f438B62), claiming what the
// escrow transferred up to the end of the shard at `usdPerToken`, in token units. Per-job actions:
// fail, corrupt, wrong, vanish, starve, drop-manifest (the first manifest send is lost); `everyJob`
// applies one to every new deployment; walletEmpty makes creates answer 402.

import { createHash } from 'node:crypto';
import { add, div, formatDecimal, mul, rational, usd } from '../../operator/src/money.js';
import type { Rational } from '../../operator/src/money.js';
import { generateManifest, generateManifestVersion, manifestToSortedJSON, yaml } from '@akashnetwork/chain-sdk';
import type { SDLInput } from '@akashnetwork/chain-sdk';
import { FakeServer, ManualClock, ProviderFake, check, fakePayoutKey, realClock, renderContent } from './server.js';
import type { FakeClock, Reply, RequestContext, Route } from './server.js';

export interface AkashFakeProvider {
  address: string;
  /** Akash model names this provider has (`h100`, `a100`, `rtx4090`). */
  gpuModels: string[];
  /** Price per block for the whole order, in the grant denom (micro-USD for uact), decimal string. */
  pricePerBlock: string;
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
  /** USD per whole token by micro-denom, for the amount a signed result claims (uact = 1). */
  usdPerToken: Record<string, string>;
  /** DEPLOYMENT_GRANT_DENOM: every SDL price is rewritten to it (uact on mainnet). */
  grantDenom: string;
  /** Managed deposits on: `deposit` is ignored; off: it is required. */
  managedDeposit: boolean;
  /** A lease-less deployment is closed by the console after this long (10 minutes of blocks). */
  staleLeaselessMs: number;
  /** The managed wallet cannot pay: creates answer 402. */
  walletEmpty: boolean;
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
  /** When the provider got the manifest (undefined: not yet, the service has not started). */
  manifestMs?: number;
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
  /** generateManifestVersion(groups), base64: the on-chain `hash`. */
  hash: string;
  /** The next manifest send is lost (drop-manifest). */
  dropManifest: boolean;
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
      providers: [{ address: 'akash1provider0000000000000000000000000000a', gpuModels: ['h100', 'a100'], pricePerBlock: '4500', capacity: 8, bidDelayMs: 15_000 }],
      gpuPrices: DEFAULT_PRICES,
      blockMs: 6_000,
      provisionMs: 5_000,
      jobDurationMs: 60_000,
      maxSdlLength: 100_000,
      clock: realClock,
      payoutKey: fakePayoutKey('akash'),
      usdPerToken: { uact: '1' },
      grantDenom: 'uact',
      managedDeposit: true,
      staleLeaselessMs: 600_000,
      walletEmpty: false,
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

  /** The provider does not get the manifest of the next lease (or manifest re-send) of this deployment. */
  dropManifest(dseq: string): void {
    this.mustGet(dseq).dropManifest = true;
  }

  protected override moreActions(): Record<string, (id: string) => void> {
    return { starve: (i) => this.starveFunds(i), 'drop-manifest': (i) => this.dropManifest(i) };
  }

  /** Per deployment, what its escrow paid the provider so far: the fake's own billing record. */
  billing(): { dseq: string; key?: string; denom: string; amount: string; usd: string }[] {
    this.sweep();
    return [...this.deployments.values()].map((d) => {
      const { denom, amount } = this.transferredAt(d, Infinity);
      const rate = this.opts.usdPerToken[denom] ?? '0';
      const row: { dseq: string; key?: string; denom: string; amount: string; usd: string } = { dseq: d.dseq, denom, amount: formatDecimal(amount, 6), usd: usd(div(mul(amount, rate), 1_000_000)) };
      if (d.key) row.key = d.key;
      return row;
    });
  }

  /**
   * What the deployment cost up to the end of its shard (lease start + provisioning + run), in USD as
   * the adapter's getCost reports it: escrow transferred x usdPerToken / 10^6, rounded to micro-USD.
   */
  meteredUsd(dseq: string): string {
    const d = this.mustGet(dseq);
    const lease = this.activeLease(d) ?? d.leases[d.leases.length - 1];
    const end = lease ? (lease.manifestMs ?? lease.createdMs) + this.opts.provisionMs + this.opts.jobDurationMs : this.now();
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

  /** The console's cleaner: lease-less active deployments older than staleLeaselessMs are closed. */
  private sweep(): void {
    for (const d of this.deployments.values()) {
      if (d.state === 'active' && d.leases.length === 0 && this.now() - d.createdMs >= this.opts.staleLeaselessMs) this.close(d, 'closed');
    }
  }

  private stage(d: FakeDeployment): ShardStage {
    this.sweep();
    const lease = this.activeLease(d);
    if (d.state === 'closed') return 'closed';
    if (!lease) return 'waitingForBids';
    if (lease.manifestMs === undefined) return 'provisioning';
    const elapsed = this.now() - lease.manifestMs;
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
    if (this.opts.grantDenom !== d.pricing.denom) return false;
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

  private files(d: FakeDeployment): { uri: string; content: Buffer }[] {
    const uri = `${d.outputUri.replace(/\/?$/, '/')}shard-${d.shardIndex}.exr`;
    return [{ uri, content: renderContent(d.env, `akash frame data for deployment ${d.dseq}`, d.wrong) }];
  }

  /** What the shard reports: each output's sha256 (of other bytes when corrupt) and, when it sealed them, its CID. */
  private outputs(d: FakeDeployment): { uri: string; sha256: string; cid?: string }[] {
    return this.withCids(d.dseq, this.files(d).map(({ uri, content }) => {
      this.objects.set(uri, content);
      return { uri, sha256: createHash('sha256').update(d.corrupt ? Buffer.from('tampered') : content).digest('hex') };
    }));
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
          : l.manifestMs === undefined
            ? { forwarded_ports: {}, ips: {}, services: {} }
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
      deployment: { id: { owner: this.opts.owner, dseq: d.dseq }, state: d.state, hash: d.hash, created_at: String(d.createdHeight) },
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
      const denom = this.opts.grantDenom;
      const balance = { denom, amount: '0.000000000000000000' };
      out.push({
        bid: {
          id: { owner: this.opts.owner, dseq: d.dseq, gseq: 1, oseq: 1, provider: p.address, bseq: 0 },
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
          id: { scope: 'bid', xid: `${this.opts.owner}/${d.dseq}/1/1/${p.address}/0` },
          state: {
            owner: p.address,
            state: 'open',
            transferred: [balance],
            settled_at: String(this.height()),
            funds: [balance],
            deposits: [{ owner: p.address, height: String(this.height(appearsAt)), source: 'balance', balance }],
          },
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

  private async createDeployment(ctx: RequestContext): Promise<Reply> {
    const body = ctx.body as { data?: Record<string, unknown> } | undefined;
    const data = body?.data;
    const problem =
      check.object(data, 'data') ??
      check.string(data?.sdl, 'data.sdl', { max: this.opts.maxSdlLength }) ??
      (data?.deposit !== undefined && typeof data.deposit !== 'number' ? 'data.deposit: expected number' : undefined);
    if (problem || !data) return err(400, 'Validation error', { message: problem });
    const parsed = await this.parseSdl(data.sdl as string);
    if (typeof parsed === 'string') return err(400, `Invalid SDL: ${parsed}`);
    if (!this.opts.managedDeposit && data.deposit === undefined) return err(400, 'deposit is required');
    if (this.opts.walletEmpty) return err(402, 'Not enough balance to cover the deployment deposit. Add credits or turn on auto recharge to continue.');
    const dseq = String(this.nextDseq++);
    const d: FakeDeployment = {
      dseq,
      state: 'active',
      createdMs: this.now(),
      createdHeight: this.height(),
      sdl: data.sdl as string,
      manifest: parsed.manifest,
      hash: parsed.hash,
      dropManifest: false,
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
    return { status: 201, body: { data: { dseq, manifest: d.manifest, signTx: { code: 0, transactionHash: createHash('sha256').update(`tx-${dseq}`).digest('hex').toUpperCase(), rawLog: '[]' } } } };
  }

  /**
   * What the console does with an SDL (sdl.service.ts:21-44): parse it with chain-sdk's yaml, rewrite
   * every price denom to the grant denom, validate and build the manifest with generateManifest; then
   * what the fake needs to play the shard (image, env, GPU units and models, price).
   */
  private async parseSdl(sdl: string): Promise<ParsedSdl | string> {
    let input: SDLInput;
    try {
      input = yaml.raw<SDLInput>(sdl);
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
    const placement = (input?.profiles?.placement ?? {}) as Record<string, { pricing?: Record<string, { denom: string; amount: string | number }> }>;
    for (const profile of Object.values(placement)) for (const price of Object.values(profile?.pricing ?? {})) if (price && typeof price === 'object') price.denom = this.opts.grantDenom;
    const result = generateManifest(input);
    if (!result.ok) return result.value.map((e) => e.message).join(', ');
    const version = await generateManifestVersion(result.value.groups);
    const service = Object.values((input.services ?? {}) as Record<string, { image: string; env?: string[] }>)[0];
    const compute = Object.values((input.profiles?.compute ?? {}) as Record<string, { resources: { gpu?: { units: number | string; attributes?: { vendor?: { nvidia?: { model: string }[] | null } } } } }>)[0];
    const gpuUnits = Number(compute?.resources.gpu?.units ?? 0);
    if (gpuUnits < 1) return 'profiles.compute.*.resources.gpu.units: must be >= 1 for a GPU shard';
    const price = Object.values(Object.values(placement)[0]?.pricing ?? {})[0];
    const env: Record<string, string> = {};
    for (const e of service?.env ?? []) {
      const i = e.indexOf('=');
      if (i > 0) env[e.slice(0, i)] = e.slice(i + 1);
    }
    return {
      image: service?.image ?? '',
      gpuUnits,
      gpuModels: (compute?.resources.gpu?.attributes?.vendor?.nvidia ?? []).map((m) => m.model),
      pricing: { denom: this.opts.grantDenom, amount: String(price?.amount ?? '0') },
      env,
      manifest: manifestToSortedJSON(result.value.groups),
      hash: Buffer.from(version).toString('base64'),
    };
  }

  private listDeployments(ctx: RequestContext): Reply {
    const skipRaw = ctx.query.get('skip');
    const limitRaw = ctx.query.get('limit');
    const skip = Number(skipRaw ?? '0');
    const limit = Number(limitRaw ?? '1000');
    if (!Number.isInteger(skip) || skip < 0 || !Number.isInteger(limit) || limit < 1) return err(400, 'Validation error');
    this.sweep();
    // Only active deployments, in dseq order (the chain's key order).
    const all = [...this.deployments.values()].filter((d) => !d.vanished && d.state === 'active');
    const page = all.slice(skip, skip + limit).map((d) => this.deploymentJson(d, false));
    const hasMore = skipRaw !== null && limitRaw !== null ? all.length > skip + limit : false;
    return { status: 200, body: { data: { deployments: page, pagination: { total: all.length, skip, limit, hasMore } } } };
  }

  private getDeployment(ctx: RequestContext): Reply {
    const d = this.find(ctx.params[0] ?? '');
    if (!d) return err(404, 'Deployment not found');
    this.sweep();
    return { status: 200, body: { data: this.deploymentJson(d, true) } };
  }

  private closeDeployment(ctx: RequestContext): Reply {
    const d = this.find(ctx.params[0] ?? '');
    if (!d) return err(404, 'Deployment not found');
    this.sweep();
    // A second close is a quiet success (deployment-writer.service.ts:116-118).
    if (d.state !== 'closed') this.close(d, 'closed');
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
    if (!body || typeof body.manifest !== 'string' || !Array.isArray(body.leases) || body.leases.length === 0) return err(400, 'Validation error');
    this.sweep();
    const items = body.leases as Record<string, unknown>[];
    for (const item of items) {
      const problem = check.string(item?.dseq, 'leases.dseq') ?? check.int(item?.gseq, 'leases.gseq') ?? check.int(item?.oseq, 'leases.oseq') ?? check.string(item?.provider, 'leases.provider', { min: 1 });
      if (problem) return err(400, 'Validation error', { message: problem });
    }
    const d = this.find(items[0]?.dseq as string);
    if (!d) return err(404, 'Deployment not found');
    // With a lease on-chain the creation is skipped and only the manifest is sent (lease.service.ts:28-54).
    const existing = this.activeLease(d);
    if (!existing) {
      if (d.state !== 'active') return err(400, 'Cannot create lease: The associated order has already been matched or closed. Re-create the deployment to generate a new order and try again.');
      const item = items[0] as Record<string, unknown>;
      const provider = this.opts.providers.find((p) => p.address === item.provider);
      const open = this.bidsJson(d).find((b) => (b.bid as { id: { provider: string }; state: string }).id.provider === item.provider && (b.bid as { state: string }).state === 'open');
      if (!provider || !open) return err(400, 'Cannot create lease: The selected bid is no longer open. Please refresh and select an available bid.');
      for (const b of this.bidsJson(d)) {
        const bidder = (b.bid as { id: { provider: string } }).id.provider;
        if (bidder !== provider.address) d.lost.add(bidder);
      }
      d.leases.push({ provider: provider.address, price: { denom: this.opts.grantDenom, amount: decCoin(provider.pricePerBlock) }, createdHeight: this.height(), createdMs: this.now(), state: 'active', closedHeight: 0, gpuUnits: d.gpuUnits });
    }
    const lease = this.activeLease(d) as FakeLease;
    if (body.manifest !== d.manifest) return err(400, 'Manifest does not match the deployment');
    if (d.dropManifest) d.dropManifest = false;
    else lease.manifestMs ??= this.now();
    return { status: 200, body: { data: this.deploymentJson(d, true) } };
  }

  /** The succeeded shard's report, signed once and cached when the env carries the settlement domain. */
  private async succeededReport(d: FakeDeployment): Promise<Record<string, unknown>> {
    await this.publishSealed(d.dseq, d.env, this.files(d));
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

/** The console's error body (hono-error-handler.service.ts:38-54,105-138). */
function err(status: number, message: string, data?: unknown): Reply {
  const names: Record<number, string> = { 400: 'BadRequestError', 401: 'UnauthorizedError', 402: 'PaymentRequiredError', 403: 'ForbiddenError', 404: 'NotFoundError', 405: 'MethodNotAllowedError', 429: 'TooManyRequestsError' };
  const codes: Record<number, string> = { 400: 'bad_request', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 409: 'conflict', 429: 'rate_limited', 502: 'service_unavailable', 503: 'service_unavailable' };
  const body: Record<string, unknown> = {
    error: names[status] ?? (status >= 500 ? 'InternalServerError' : 'HttpError'),
    message: status === 500 ? 'Internal server error' : message,
    code: status === 500 ? 'internal_server_error' : (codes[status] ?? 'unknown_error'),
    type: status >= 500 ? 'server_error' : 'client_error',
  };
  if (data !== undefined) body.data = data;
  return { status, body };
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
  manifest: string;
  hash: string;
}

export function createAkashFake(options: Partial<AkashFakeOptions> = {}): AkashFake {
  return new AkashFake(options);
}

export { ManualClock };
