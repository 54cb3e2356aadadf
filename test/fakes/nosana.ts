// Contract fake of the Nosana deployment manager's deployments API. Follows
// `nosana-ci/nosana-deployment-manager` @afe5852 (main, 2026-08-21): src/definitions/api.ts
// (API_PREFIX "/deployments"), src/router/setup/setupDeploymentsRoutes.ts (the routes served here:
// GET /deployments, GET /deployments/:deployment, GET …/:deployment/jobs, GET …/jobs/:job, POST
// /deployments/create, POST …/:deployment/stop), src/types/deployment.ts and src/types/job.ts
// (DeploymentStatus DRAFT|ERROR|STARTING|RUNNING|STOPPING|STOPPED|INSUFFICIENT_FUNDS|ARCHIVED,
// strategies, JobState QUEUED|RUNNING|COMPLETED|STOPPED), src/router/schema/components/
// {deployment,job,error,pagination,publicKey}.schema.ts (response fields; errors `{error}`; ids of 43
// or 44 characters; pagination {cursor_next, cursor_prev, total_items}, limit 10|20|50|100,
// sort_order desc by created_at), src/router/schema/post/deployments/deploymentCreate.schema.ts
// (create body; timeout in minutes), src/router/routes/get/deployments/list.ts (owner-scoped list
// with filters and active_jobs), src/router/routes/post/deployments/[id]/deploymentStop.ts (stop only
// from RUNNING, ERROR or INSUFFICIENT_FUNDS, else 500 "Deployment is in the incorrect state.";
// answer {status: "STOPPING", updated_at}), src/router/middleware/deployments/[id]/getDeployment.ts
// (404 "Deployment not found."), src/router/routes/get/deployments/[id]/jobs/[id]/
// getDeploymentJobById/buildDeploymentJobResponse.ts and its schema (job detail: confidential,
// revision, market, node, state as the on-chain number, jobStatus null, jobDefinition, jobResult,
// timeStart, timeEnd, listedAt; 404 "Job not found"), src/listeners/accounts/helpers/
// convertJobState.ts (0..3), src/strategies/all/jobAllActiveJobsStop.ts (a SIMPLE deployment turns
// STOPPED once none of its jobs is QUEUED or RUNNING). The idempotency key follows the indexed
// commits 889ba81c (src/router/routes/post/deployments/create/deploymentCreate.idempotency.test.ts:
// a repeated key for the same owner answers 409, the key never appears in a response, autostart
// leaves the deployment STARTING, GET /deployments?idempotency_key= finds it) and 3885284a
// (migrations/18-addDeploymentIdempotencyIndex.ts: unique per owner). The job definition is checked
// with @nosana/types' validateJobDefinition (the manager's own validator, 400 "Invalid request
// body."), and job results follow @nosana/types' FlowState schema (jobSchemas). Auth as the public
// client sends it (@nosana/api 2.1.8 dist/client/dashboardClient.js): `Authorization: Bearer <key>`;
// 401 body "Unauthorized" (the schemas' literal). Not published, so chosen here: the 409's message
// text, the time a deployment takes to list its job (listDelayMs), to find a node (queueMs) and to
// stop (stopDelayMs), node capacity per market, 400 for a market it does not know, and 402 is never sent (an empty vault shows as the
// deployment status INSUFFICIENT_FUNDS, the `unfunded` action). The fake plays the container too: a
// finished job's result logs end with the `ATELIER_RESULT {…}` line the adapter reads, with `signed`
// by `payoutKey` (default keccak256("atelier-fake-nosana"), address
// 0xfDC67618739f156591fAE42cf3743B7Bf2131D21) when the env carries the settlement
// domain, claiming usdPerHour[market] x (timeEnd - timeStart) seconds. It keeps its own records:
// submissions per key, jobs per deployment, and what each cost (the test oracle). Per-job actions:
// fail, corrupt, wrong, vanish, unfunded; `everyJob` applies one to every new deployment.

import { validateJobDefinition } from '@nosana/types';
import { div, mul, usd } from '../../operator/src/money.js';
import { FakeServer, ProviderFake, createHash, fakePayoutKey, realClock, renderContent, sleep } from './server.js';
import type { FakeClock, Reply, RequestContext, Route } from './server.js';

export interface NosanaFakeOptions {
  apiKey: string;
  /** The owner the API key stands for (a public key). */
  owner: string;
  /** Market address -> nodes free in it; unknown markets are refused (400). */
  markets: Record<string, number>;
  /** Market address -> USD per job-hour, for what a signed result claims. */
  usdPerHour: Record<string, string>;
  listDelayMs: number;
  queueMs: number;
  jobDurationMs: number;
  stopDelayMs: number;
  clock: FakeClock;
  payoutKey: string;
  everyJob?: string;
  /**
   * Test control: a create is recorded at once but answered this much later (real time), so a test
   * can kill the caller after the submission reached the provider and before the answer came back.
   */
  createReplyDelayMs?: number;
}

type DeploymentStatus = 'DRAFT' | 'ERROR' | 'STARTING' | 'RUNNING' | 'STOPPING' | 'STOPPED' | 'INSUFFICIENT_FUNDS' | 'ARCHIVED';
type JobState = 'QUEUED' | 'RUNNING' | 'COMPLETED' | 'STOPPED';
const JOB_STATE_NUMBER: Record<JobState, number> = { QUEUED: 0, RUNNING: 1, COMPLETED: 2, STOPPED: 3 };

interface FakeDeployment {
  id: string;
  body: Record<string, unknown>;
  key?: string;
  createdMs: number;
  autostart: boolean;
  jobId: string;
  vault: string;
  /** When the job found a node (set by tick). */
  startMs?: number;
  stopRequestedMs?: number;
  unfunded: boolean;
  outcome: 'succeed' | 'fail';
  corrupt: boolean;
  wrong: boolean;
  vanished: boolean;
  env: Record<string, string>;
}

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

export const MARKET_H100 = base58(createHash('sha256').update('nosana-market-h100').digest());
export const MARKET_4090 = base58(createHash('sha256').update('nosana-market-4090').digest());

export class NosanaFake extends ProviderFake {
  readonly server: FakeServer;
  readonly opts: NosanaFakeOptions;
  private readonly deployments = new Map<string, FakeDeployment>();
  private readonly order: FakeDeployment[] = [];
  private readonly submissions = new Map<string, number>();
  private readonly objects = new Map<string, Buffer>();
  private seq = 0;

  constructor(options: Partial<NosanaFakeOptions> = {}) {
    const opts: NosanaFakeOptions = {
      apiKey: 'nos_test_atelier_key',
      owner: base58(createHash('sha256').update('nosana-owner').digest()),
      markets: { [MARKET_H100]: 8, [MARKET_4090]: 8 },
      usdPerHour: { [MARKET_H100]: '1.90', [MARKET_4090]: '0.40' },
      listDelayMs: 2_000,
      queueMs: 5_000,
      jobDurationMs: 60_000,
      stopDelayMs: 2_000,
      clock: realClock,
      payoutKey: fakePayoutKey('nosana'),
      ...options,
    };
    super(opts.payoutKey);
    this.opts = opts;
    this.server = new FakeServer({
      name: 'nosana',
      routes: this.routes(),
      authenticate: (ctx) => (ctx.headers.authorization === `Bearer ${this.opts.apiKey}` ? undefined : { status: 401, body: 'Unauthorized' }),
      admin: {
        state: () => ({ running: this.running(), jobs: this.jobs(), submissions: this.submissionCounts() }),
        jobAction: (id, action) => this.jobAction(id, action),
        everyJob: (action) => this.setEveryJob(action),
      },
      errorReply: (status, message) => ({ status, body: { error: message } }),
    });
  }

  // ---- the oracle: what ran, what it cost ------------------------------------------------------

  /** Deployments whose job holds a node now (RUNNING, including while it is being stopped). */
  running(): number {
    return this.order.filter((d) => !d.vanished && this.jobState(d) === 'RUNNING').length;
  }

  jobs(): { id: string; key?: string; status: DeploymentStatus; job?: JobState; market: string }[] {
    return this.order.filter((d) => !d.vanished).map((d) => {
      const row: { id: string; key?: string; status: DeploymentStatus; job?: JobState; market: string } = { id: d.id, status: this.status(d), market: String(d.body.market) };
      const job = this.jobState(d);
      if (job) row.job = job;
      if (d.key) row.key = d.key;
      return row;
    });
  }

  submissionsFor(key: string): number {
    return this.submissions.get(key) ?? 0;
  }

  submissionCounts(): Record<string, number> {
    return Object.fromEntries(this.submissions);
  }

  readObject(uri: string): Buffer | undefined {
    return this.objects.get(uri);
  }

  /** Seconds the deployment's job held a node (timeEnd - timeStart, or until now while it runs). */
  runSeconds(id: string): number {
    const d = this.mustGet(id);
    const { timeStart, timeEnd } = this.times(d);
    if (timeStart === 0) return 0;
    return Math.max(0, (timeEnd || Math.floor(this.now() / 1000)) - timeStart);
  }

  /** What the job cost in USD: usdPerHour[market] x run seconds / 3600, rounded to micro-USD. */
  meteredUsd(id: string): string {
    const d = this.mustGet(id);
    const price = this.opts.usdPerHour[String(d.body.market)];
    if (price === undefined) throw new Error(`no price for market ${String(d.body.market)}`);
    return usd(div(mul(price, this.runSeconds(id)), 3600));
  }

  failJob(id: string): void {
    this.mustGet(id).outcome = 'fail';
  }

  corruptResult(id: string): void {
    this.mustGet(id).corrupt = true;
  }

  wrongResult(id: string): void {
    this.mustGet(id).wrong = true;
  }

  vanish(id: string): void {
    this.mustGet(id).vanished = true;
  }

  protected override moreActions(): Record<string, (id: string) => void> {
    return { unfunded: (id) => void (this.mustGet(id).unfunded = true) };
  }

  // ---- simulation ---------------------------------------------------------------------------

  private now(): number {
    return this.opts.clock.now();
  }

  private mustGet(id: string): FakeDeployment {
    const d = this.deployments.get(id);
    if (!d) throw new Error(`no deployment ${id}`);
    return d;
  }

  private listedMs(d: FakeDeployment): number | undefined {
    return d.autostart ? d.createdMs + this.opts.listDelayMs : undefined;
  }

  private timeoutMs(d: FakeDeployment): number {
    return Number(d.body.timeout) * 60_000;
  }

  /** When the job stops holding a node: its natural end, the timeout, or a stop. */
  private endMs(d: FakeDeployment): number | undefined {
    const listed = this.listedMs(d);
    const stop = d.stopRequestedMs === undefined ? Infinity : d.stopRequestedMs + this.opts.stopDelayMs;
    if (d.startMs === undefined) return listed !== undefined && stop < Infinity && stop >= listed ? stop : undefined;
    return Math.min(d.startMs + Math.min(this.opts.jobDurationMs, this.timeoutMs(d)), Math.max(stop, d.startMs));
  }

  /** Starts queued jobs FIFO per market at the earliest moment one of its nodes was free. */
  private tick(): void {
    const now = this.now();
    for (const d of this.order) {
      const listed = this.listedMs(d);
      if (d.startMs !== undefined || d.vanished || d.unfunded || listed === undefined) continue;
      const market = String(d.body.market);
      const capacity = this.opts.markets[market] ?? 0;
      const holders = this.order.filter((o) => o !== d && !o.vanished && String(o.body.market) === market && o.startMs !== undefined);
      const ends = holders.map((o) => this.endMs(o) ?? Infinity).sort((a, b) => a - b);
      const used = (at: number): number => holders.filter((o) => (o.startMs as number) <= at && (this.endMs(o) ?? Infinity) > at).length;
      let t = listed + this.opts.queueMs;
      const stopAt = d.stopRequestedMs === undefined ? Infinity : d.stopRequestedMs + this.opts.stopDelayMs;
      while (t <= now && used(t) >= capacity) {
        const next = ends.find((e) => e > t);
        if (next === undefined) {
          t = Infinity;
          break;
        }
        t = next;
      }
      // A stop that lands before a node is found delists the job: it never starts.
      if (t <= now && t < stopAt && capacity > 0) d.startMs = t;
    }
  }

  private jobState(d: FakeDeployment): JobState | undefined {
    this.tick();
    const listed = this.listedMs(d);
    const now = this.now();
    if (listed === undefined || now < listed || d.unfunded) return undefined;
    const end = this.endMs(d);
    if (end !== undefined && now >= end) {
      if (d.startMs === undefined) return 'STOPPED';
      const natural = d.startMs + this.opts.jobDurationMs;
      return end >= natural && this.opts.jobDurationMs <= this.timeoutMs(d) ? 'COMPLETED' : 'STOPPED';
    }
    return d.startMs === undefined ? 'QUEUED' : 'RUNNING';
  }

  private status(d: FakeDeployment): DeploymentStatus {
    const listed = this.listedMs(d);
    if (listed === undefined) return 'DRAFT';
    const now = this.now();
    const job = this.jobState(d);
    if (d.unfunded && now >= listed) {
      if (d.stopRequestedMs === undefined) return 'INSUFFICIENT_FUNDS';
      return now >= d.stopRequestedMs + this.opts.stopDelayMs ? 'STOPPED' : 'STOPPING';
    }
    if (job === 'COMPLETED' || job === 'STOPPED') return 'STOPPED';
    if (d.stopRequestedMs !== undefined) return 'STOPPING';
    return now < listed ? 'STARTING' : 'RUNNING';
  }

  private times(d: FakeDeployment): { timeStart: number; timeEnd: number } {
    const job = this.jobState(d);
    const timeStart = d.startMs === undefined ? 0 : Math.floor(d.startMs / 1000);
    const end = this.endMs(d);
    const timeEnd = (job === 'COMPLETED' || job === 'STOPPED') && end !== undefined && d.startMs !== undefined ? Math.floor(end / 1000) : 0;
    return { timeStart, timeEnd };
  }

  private outputs(d: FakeDeployment): { uri: string; sha256: string }[] {
    const uri = `${(d.env.ATELIER_OUTPUT_URI ?? 's3://unknown/').replace(/\/?$/, '/')}shard-${d.env.ATELIER_SHARD_INDEX ?? '0'}.exr`;
    const content = renderContent(d.env, `nosana frame data for deployment ${d.id}`, d.wrong);
    this.objects.set(uri, content);
    return [{ uri, sha256: createHash('sha256').update(d.corrupt ? Buffer.from('tampered') : content).digest('hex') }];
  }

  // ---- wire shapes ----------------------------------------------------------------------------

  private deploymentJson(d: FakeDeployment): Record<string, unknown> {
    const b = d.body;
    return {
      id: d.id,
      name: b.name,
      vault: d.vault,
      market: b.market,
      owner: this.opts.owner,
      status: this.status(d),
      replicas: b.replicas,
      timeout: b.timeout,
      endpoints: [],
      confidential: b.confidential ?? false,
      active_revision: 1,
      active_jobs: this.jobState(d) === 'RUNNING' ? 1 : 0,
      created_at: new Date(d.createdMs).toISOString(),
      updated_at: new Date(this.updatedMs(d)).toISOString(),
      strategy: b.strategy,
    };
  }

  private updatedMs(d: FakeDeployment): number {
    const marks = [d.createdMs, this.listedMs(d), d.stopRequestedMs, this.endMs(d)].filter((t): t is number => t !== undefined && t <= this.now());
    return Math.max(...marks);
  }

  private jobJson(d: FakeDeployment): Record<string, unknown> | undefined {
    const state = this.jobState(d);
    const listed = this.listedMs(d);
    if (!state || listed === undefined) return undefined;
    return {
      tx: base58(createHash('sha256').update(`tx-${d.jobId}`).digest()) + base58(createHash('sha256').update(`tx2-${d.jobId}`).digest()),
      deployment: d.id,
      job: d.jobId,
      market: d.body.market,
      node: d.startMs === undefined ? null : nodeFor(d.id),
      revision: 1,
      state,
      time_start: d.startMs === undefined ? 0 : Math.floor(d.startMs / 1000),
      created_at: new Date(listed).toISOString(),
      updated_at: new Date(this.updatedMs(d)).toISOString(),
    };
  }

  /** The node's report, @nosana/types FlowState: one op, its stdout, and the shard's ATELIER_RESULT line. */
  private flowState(d: FakeDeployment, state: JobState): Record<string, unknown> | null {
    if (state !== 'COMPLETED' && state !== 'STOPPED') return null;
    const { timeStart, timeEnd } = this.times(d);
    if (timeStart === 0) return null;
    const at = (s: number) => new Date(s * 1000).toISOString();
    const image = String(((d.body.job_definition as { ops: { args: { image: string } }[] }).ops[0]?.args.image) ?? '');
    const logs: { type: string; log: string; timestamp: string }[] = [
      { type: 'stdout', log: `pulling ${image}`, timestamp: at(timeStart) },
      { type: 'stdout', log: 'render started', timestamp: at(timeStart) },
    ];
    const failed = state === 'STOPPED' || d.outcome === 'fail';
    if (state === 'COMPLETED' && d.outcome === 'succeed') {
      const signed = this.signedResult(d.id);
      logs.push({ type: 'stdout', log: `ATELIER_RESULT ${JSON.stringify(signed ? { state: 'succeeded', outputs: this.outputs(d), signed } : { state: 'succeeded', outputs: this.outputs(d) })}`, timestamp: at(timeEnd) });
    }
    if (state === 'COMPLETED' && d.outcome === 'fail') logs.push({ type: 'stderr', log: 'error: container exited with code 1', timestamp: at(timeEnd) });
    return {
      status: failed ? 'failed' : 'success',
      startTime: timeStart * 1000,
      endTime: timeEnd * 1000,
      opStates: [
        {
          providerId: 'container',
          operationId: 'shard',
          group: 'shard',
          status: failed ? 'failed' : 'success',
          startTime: timeStart * 1000,
          endTime: timeEnd * 1000,
          exitCode: failed ? (state === 'STOPPED' ? 137 : 1) : 0,
          logs,
          diagnostics: { reason: { hostShutDown: false, jobStopped: state === 'STOPPED', jobExpired: false } },
        },
      ],
    };
  }

  // ---- routes -------------------------------------------------------------------------------

  private find(id: string): FakeDeployment | undefined {
    const d = this.deployments.get(id);
    return d && !d.vanished ? d : undefined;
  }

  private routes(): Route[] {
    return [
      { method: 'GET', pattern: /^\/deployments$/, handle: (ctx) => this.list(ctx) },
      { method: 'POST', pattern: /^\/deployments\/create$/, handle: (ctx) => this.create(ctx) },
      { method: 'GET', pattern: /^\/deployments\/([^/]+)$/, handle: (ctx) => this.withDeployment(ctx, (d) => ({ status: 200, body: this.deploymentJson(d) })) },
      { method: 'GET', pattern: /^\/deployments\/([^/]+)\/jobs$/, handle: (ctx) => this.withDeployment(ctx, (d) => this.listJobs(ctx, d)) },
      { method: 'GET', pattern: /^\/deployments\/([^/]+)\/jobs\/([^/]+)$/, handle: (ctx) => this.withDeployment(ctx, (d) => this.getJob(ctx, d)) },
      { method: 'POST', pattern: /^\/deployments\/([^/]+)\/stop$/, handle: (ctx) => this.withDeployment(ctx, (d) => this.stopDeployment(d)) },
    ];
  }

  private withDeployment(ctx: RequestContext, fn: (d: FakeDeployment) => Reply | Promise<Reply>): Reply | Promise<Reply> {
    const d = this.find(ctx.params[0] ?? '');
    return d ? fn(d) : { status: 404, body: { error: 'Deployment not found.' } };
  }

  private async create(ctx: RequestContext): Promise<Reply> {
    const b = ctx.body as Record<string, unknown> | undefined;
    const invalid: Reply = { status: 400, body: { error: 'Invalid request body.' } };
    if (!b || typeof b !== 'object' || Array.isArray(b)) return invalid;
    const strategies = ['SIMPLE', 'SIMPLE-EXTEND', 'SCHEDULED', 'INFINITE'];
    const bad =
      typeof b.name !== 'string' ||
      typeof b.market !== 'string' ||
      typeof b.replicas !== 'number' || b.replicas < 1 ||
      typeof b.timeout !== 'number' || b.timeout < 1 ||
      (b.confidential !== undefined && typeof b.confidential !== 'boolean') ||
      (b.autostart !== undefined && typeof b.autostart !== 'boolean') ||
      (b.idempotency_key !== undefined && typeof b.idempotency_key !== 'string') ||
      !strategies.includes(String(b.strategy)) ||
      (b.strategy === 'INFINITE' && (b.timeout as number) < 60) ||
      (b.strategy === 'SCHEDULED' && typeof b.schedule !== 'string') ||
      (b.vault !== undefined && b.new_vault !== undefined) ||
      !validateJobDefinition(b.job_definition).success;
    if (bad) return invalid;
    if (!(String(b.market) in this.opts.markets)) return invalid;
    const key = b.idempotency_key as string | undefined;
    if (key !== undefined && this.order.some((d) => d.key === key)) return { status: 409, body: { error: 'A deployment with this idempotency key already exists.' } };
    this.seq += 1;
    const id = base58(createHash('sha256').update(`deployment-${this.seq}`).digest());
    const op = (b.job_definition as { ops: { args: { env?: Record<string, string> } }[] }).ops[0];
    const d: FakeDeployment = {
      id,
      body: b,
      createdMs: this.now(),
      autostart: b.autostart === true,
      jobId: base58(createHash('sha256').update(`job-${this.seq}`).digest()),
      vault: base58(createHash('sha256').update(`vault-${this.opts.owner}`).digest()),
      unfunded: false,
      outcome: 'succeed',
      corrupt: false,
      wrong: false,
      vanished: false,
      env: { ...(op?.args.env ?? {}) },
    };
    if (key !== undefined) {
      d.key = key;
      this.submissions.set(key, (this.submissions.get(key) ?? 0) + 1);
    }
    this.deployments.set(id, d);
    this.order.push(d);
    this.applyEveryJob(id);
    if (this.opts.createReplyDelayMs) await sleep(this.opts.createReplyDelayMs);
    return { status: 200, body: this.deploymentJson(d) };
  }

  private list(ctx: RequestContext): Reply {
    const q = ctx.query;
    const limit = Number(q.get('limit') ?? '10');
    if (![10, 20, 50, 100].includes(limit)) return { status: 400, body: { error: 'querystring/limit must be 10, 20, 50 or 100' } };
    const order = q.get('sort_order') ?? 'desc';
    const statuses = q.get('status')?.split(',');
    const key = q.get('idempotency_key');
    let rows = this.order.filter((d) => !d.vanished);
    if (key !== null) rows = rows.filter((d) => d.key === key);
    if (statuses) rows = rows.filter((d) => statuses.includes(this.status(d)));
    if (q.get('id')) rows = rows.filter((d) => q.get('id')?.split(',').includes(d.id));
    if (q.get('name')) rows = rows.filter((d) => d.body.name === q.get('name'));
    if (order === 'desc') rows = [...rows].reverse();
    return { status: 200, body: { deployments: rows.slice(0, limit).map((d) => this.deploymentJson(d)), pagination: { cursor_next: rows.length > limit ? Buffer.from(String(limit)).toString('base64') : null, cursor_prev: null, total_items: rows.length } } };
  }

  private listJobs(ctx: RequestContext, d: FakeDeployment): Reply {
    const job = this.jobJson(d);
    const states = ctx.query.get('state')?.split(',');
    const jobs = job && (!states || states.includes(String(job.state))) ? [job] : [];
    return { status: 200, body: { jobs, pagination: { cursor_next: null, cursor_prev: null, total_items: jobs.length } } };
  }

  private async getJob(ctx: RequestContext, d: FakeDeployment): Promise<Reply> {
    const state = this.jobState(d);
    const listed = this.listedMs(d);
    if (ctx.params[1] !== d.jobId || !state || listed === undefined) return { status: 404, body: { error: 'Job not found' } };
    // The container signs its result once, when it completes; flowState shows the kept signature.
    if (state === 'COMPLETED' && d.outcome === 'succeed') await this.signResult(d.id, () => ({ env: d.env, outputs: this.outputs(d), costUsd: () => this.meteredUsd(d.id) }));
    const { timeStart, timeEnd } = this.times(d);
    return {
      status: 200,
      body: {
        confidential: d.body.confidential ?? false,
        revision: 1,
        market: d.body.market,
        node: d.startMs === undefined ? '11111111111111111111111111111111' : nodeFor(d.id),
        state: JOB_STATE_NUMBER[state],
        jobStatus: null,
        jobDefinition: d.body.job_definition,
        jobResult: this.flowState(d, state),
        timeStart,
        timeEnd,
        listedAt: Math.floor(listed / 1000),
      },
    };
  }

  private stopDeployment(d: FakeDeployment): Reply {
    const status = this.status(d);
    if (status !== 'RUNNING' && status !== 'ERROR' && status !== 'INSUFFICIENT_FUNDS') return { status: 500, body: { error: 'Deployment is in the incorrect state.' } };
    d.stopRequestedMs = this.now();
    return { status: 200, body: { status: 'STOPPING', updated_at: new Date(d.stopRequestedMs).toISOString() } };
  }
}

function nodeFor(id: string): string {
  return base58(createHash('sha256').update(`node-${id}`).digest());
}

/** Base58 (Bitcoin alphabet) of 32 bytes: a Solana-style public key of 43 or 44 characters. */
export function base58(bytes: Uint8Array): string {
  let n = BigInt(`0x${Buffer.from(bytes).toString('hex') || '0'}`);
  let out = '';
  while (n > 0n) {
    out = ALPHABET[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = `1${out}`;
  }
  return out;
}
