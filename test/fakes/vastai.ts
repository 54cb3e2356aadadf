// Contract fake of the Vast.ai REST API as the official CLI uses it: `vast-ai/vast-cli` @5567983
// (2026-08-06), vast.py. Routes and shapes followed: base URL and /api/v0 prefix (vast.py:75,
// 583-596), `Authorization: Bearer <key>` (vast.py:635); POST /api/v0/bundles/ with the query object
// as body (search__offers, vast.py:4341-4422: `{field: {op: value}}` filters with eq/neq/gt/gte/lt/
// lte/in/notin, `order` [[field, dir]], `type`, `limit`, `allocated_storage`; answer `{offers: […]}`
// with fields from offers_fields, vast.py:979-1036); PUT /api/v0/asks/{id}/ (create__instance,
// vast.py:2477-2537: body client_id "me", image, env (an object, parse_env vast.py:8820), price,
// disk, label, extra, onstart, image_login, python_utf8, lang_utf8, use_jupyter_lab, jupyter_dir,
// force, cancel_unavail, template_hash_id, user, runtype, args; answer `{success: true,
// new_contract: <instance id>}`); GET /api/v0/instances/{id}/?owner=me (show__instance,
// vast.py:5697-5722: one object under `instances`, `null` once it is gone; extra_env as [name, value]
// pairs; start_date in unix seconds); GET /api/v1/instances/ (vast.py:5727-5750 and 6129-6200:
// query select_filters, order_by, limit at most 25, after_token; answer {instances, next_token,
// total_instances, label_counts}); DELETE /api/v0/instances/{id}/ (destroy_instance,
// vast.py:3107-3121: `{success}`); PUT /api/v0/instances/request_logs/{id}/ {tail} -> {result_url}
// then a plain GET of that URL (logs, vast.py:3650-3680). Instance fields are those vast.py shows
// (instance_fields vast.py:787-808, _DEFAULT/_VERBOSE_INSTANCE_SELECT_COLS vast.py:5785-5798):
// actual_status null -> loading -> running -> exited (the values _STATUS_COLORS names,
// vast.py:5846), dph_total (USD per hour of the whole instance), uptime_mins (its running time).
// Error bodies `{success: false, error, msg}` (vast-cli tests/api/test_price_increase.py:75 and the
// `rj["msg"]` reads throughout vast.py). Not published, so chosen here: the error codes and texts,
// 400 for a rented offer, 404 for DELETE of a gone instance, 402 for a create beyond the account's
// credit (`creditUsd`), the timings, and that the result_url lives on this server (/_logs/…). The
// fake plays the container too: once it has run jobDurationMs it exits, its log ending with the
// `ATELIER_RESULT {…}` line, signed by `payoutKey` (default keccak256("atelier-fake-vastai"), address
// 0x81De0357F941bEA7cB1B3368078fAe5748e306B2) when the env carries the settlement domain, claiming
// dph_total x running seconds. It keeps its own records (the test oracle): submissions per label
// key, every instance with its running seconds and what it cost, and which were destroyed. Per-job
// actions: fail, corrupt, wrong, vanish; `everyJob` applies one to every new instance.

import { div, mul, rational, usd } from '../../operator/src/money.js';
import { FakeServer, ProviderFake, createHash, fakePayoutKey, realClock, renderContent, sleep } from './server.js';
import type { FakeClock, Reply, RequestContext, Route } from './server.js';

export interface VastOffer {
  id: number;
  machine_id: number;
  gpu_name: string;
  num_gpus: number;
  gpu_ram: number;
  dph_total: number;
  verified: boolean;
  external: boolean;
  rentable: boolean;
  reliability: number;
  geolocation: string;
}

export interface VastFakeOptions {
  apiKey: string;
  offers: VastOffer[];
  scheduleMs: number;
  loadMs: number;
  jobDurationMs: number;
  /** The account's credit in USD; a create beyond what was spent answers 402. Unset: unlimited. */
  creditUsd?: string;
  clock: FakeClock;
  payoutKey: string;
  everyJob?: string;
  /**
   * Test control: a create is recorded at once but answered this much later (real time), so a test
   * can kill the caller after the submission reached the provider and before the answer came back.
   */
  createReplyDelayMs?: number;
}

interface FakeInstance {
  id: number;
  offer: VastOffer;
  body: Record<string, unknown>;
  env: Record<string, string>;
  key?: string;
  label: string | null;
  createdMs: number;
  destroyedMs?: number;
  outcome: 'succeed' | 'fail';
  corrupt: boolean;
  wrong: boolean;
  vanished: boolean;
  token: string;
}

/** Eight 1x H100 SXM offers from $2.10/h and eight 1x RTX 4090 from $0.35/h, one cent apart. */
export function defaultOffers(): VastOffer[] {
  const rows: VastOffer[] = [];
  for (let i = 0; i < 8; i++) {
    rows.push({ id: 5_000_100 + i, machine_id: 41_000 + i, gpu_name: 'H100 SXM', num_gpus: 1, gpu_ram: 81_559, dph_total: Number((2.1 + i / 100).toFixed(2)), verified: true, external: false, rentable: true, reliability: 0.995, geolocation: 'Finland, FI' });
    rows.push({ id: 5_000_200 + i, machine_id: 42_000 + i, gpu_name: 'RTX 4090', num_gpus: 1, gpu_ram: 24_564, dph_total: Number((0.35 + i / 100).toFixed(2)), verified: true, external: false, rentable: true, reliability: 0.99, geolocation: 'Texas, US' });
  }
  return rows;
}

export class VastFake extends ProviderFake {
  readonly server: FakeServer;
  readonly opts: VastFakeOptions;
  private readonly instances = new Map<number, FakeInstance>();
  private readonly order: FakeInstance[] = [];
  private readonly submissions = new Map<string, number>();
  private readonly objects = new Map<string, Buffer>();
  private seq = 0;

  constructor(options: Partial<VastFakeOptions> = {}) {
    const opts: VastFakeOptions = {
      apiKey: 'vast_test_atelier_key',
      offers: defaultOffers(),
      scheduleMs: 2_000,
      loadMs: 8_000,
      jobDurationMs: 60_000,
      clock: realClock,
      payoutKey: fakePayoutKey('vastai'),
      ...options,
    };
    super(opts.payoutKey);
    this.opts = opts;
    this.server = new FakeServer({
      name: 'vastai',
      routes: this.routes(),
      authenticate: (ctx) => (ctx.headers.authorization === `Bearer ${this.opts.apiKey}` ? undefined : err(401, 'auth_error', 'Invalid user key')),
      admin: {
        state: () => ({ running: this.running(), jobs: this.jobs(), submissions: this.submissionCounts() }),
        jobAction: (id, action) => this.jobAction(id, action),
        everyJob: (action) => this.setEveryJob(action),
      },
      errorReply: (status, message) => err(status, status === 429 ? 'rate_limited' : status >= 500 ? 'server_error' : 'error', message),
    });
  }

  // ---- the oracle -----------------------------------------------------------------------------

  /** Instances that exist and have not exited (holding a GPU). */
  running(): number {
    return this.order.filter((i) => !i.vanished && i.destroyedMs === undefined && this.status(i) !== 'exited').length;
  }

  /** Every instance ever created, with its state (`destroyed` once DELETEd). */
  jobs(): { id: string; key?: string; status: string; destroyed: boolean; offer: number }[] {
    return this.order.filter((i) => !i.vanished).map((i) => {
      const row: { id: string; key?: string; status: string; destroyed: boolean; offer: number } = { id: String(i.id), status: this.status(i) ?? 'null', destroyed: i.destroyedMs !== undefined, offer: i.offer.id };
      if (i.key) row.key = i.key;
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

  /** Seconds the container ran (running to exit or destroy), rounded as the adapter rounds uptime_mins. */
  runSeconds(id: string): number {
    const i = this.mustGet(id);
    const start = this.runningFromMs(i);
    const end = Math.min(this.exitMs(i), i.destroyedMs ?? Infinity, this.now());
    return Math.max(0, Math.round((end - start) / 1000));
  }

  /** What the instance's GPU time cost: dph_total x running seconds / 3600, rounded to micro-USD. */
  meteredUsd(id: string): string {
    const i = this.mustGet(id);
    return usd(div(mul(rational(String(i.offer.dph_total)), this.runSeconds(id)), 3600));
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

  // ---- simulation ---------------------------------------------------------------------------

  private now(): number {
    return this.opts.clock.now();
  }

  private mustGet(id: string): FakeInstance {
    const i = this.instances.get(Number(id));
    if (!i) throw new Error(`no instance ${id}`);
    return i;
  }

  private runningFromMs(i: FakeInstance): number {
    return i.createdMs + this.opts.scheduleMs + this.opts.loadMs;
  }

  private exitMs(i: FakeInstance): number {
    return this.runningFromMs(i) + this.opts.jobDurationMs;
  }

  /** actual_status at the fake's now (undefined: gone). */
  private status(i: FakeInstance): string | null {
    const t = Math.min(this.now(), i.destroyedMs ?? Infinity);
    if (t < i.createdMs + this.opts.scheduleMs) return null;
    if (t < this.runningFromMs(i)) return 'loading';
    if (t < this.exitMs(i)) return 'running';
    return 'exited';
  }

  private outputs(i: FakeInstance): { uri: string; sha256: string }[] {
    const uri = `${(i.env.ATELIER_OUTPUT_URI ?? 's3://unknown/').replace(/\/?$/, '/')}shard-${i.env.ATELIER_SHARD_INDEX ?? '0'}.exr`;
    const content = renderContent(i.env, `vast frame data for instance ${i.id}`, i.wrong);
    this.objects.set(uri, content);
    return [{ uri, sha256: createHash('sha256').update(i.corrupt ? Buffer.from('tampered') : content).digest('hex') }];
  }

  private logText(i: FakeInstance): string {
    const status = this.status(i);
    const lines: string[] = [];
    if (status === null) return '';
    lines.push(`pulling ${String(i.body.image)}`);
    if (status === 'loading') return `${lines.join('\n')}\n`;
    lines.push('render started');
    if (status === 'exited') {
      if (i.outcome === 'fail') lines.push('error: container exited with code 1');
      else {
        const signed = this.signedResult(String(i.id));
        lines.push(`ATELIER_RESULT ${JSON.stringify(signed ? { state: 'succeeded', outputs: this.outputs(i), signed } : { state: 'succeeded', outputs: this.outputs(i) })}`);
      }
    }
    return `${lines.join('\n')}\n`;
  }

  // ---- wire shapes ----------------------------------------------------------------------------

  private instanceJson(i: FakeInstance): Record<string, unknown> {
    const status = this.status(i);
    const runMs = status === 'running' || status === 'exited' ? Math.min(this.now(), i.destroyedMs ?? Infinity, this.exitMs(i)) - this.runningFromMs(i) : 0;
    return {
      id: i.id,
      machine_id: i.offer.machine_id,
      actual_status: status,
      num_gpus: i.offer.num_gpus,
      gpu_name: i.offer.gpu_name,
      gpu_util: status === 'running' ? 97.5 : 0,
      disk_space: i.body.disk,
      dph_total: i.offer.dph_total,
      image_uuid: i.body.image,
      label: i.label,
      start_date: i.createdMs / 1000,
      uptime_mins: runMs / 60_000,
      extra_env: Object.entries(i.env),
      status_msg: status === 'exited' ? (i.outcome === 'fail' ? 'Exited (1)' : 'Exited (0)') : status === 'running' ? 'success, running' : null,
      geolocation: i.offer.geolocation,
      verification: 'verified',
      ssh_host: `ssh${i.offer.machine_id % 10}.vast.ai`,
      ssh_port: 20_000 + (i.id % 10_000),
    };
  }

  private offerJson(o: VastOffer): Record<string, unknown> {
    return { ...o, rented: this.rented(o) };
  }

  private rented(o: VastOffer): boolean {
    return this.order.some((i) => !i.vanished && i.offer.id === o.id && i.destroyedMs === undefined);
  }

  // ---- routes -------------------------------------------------------------------------------

  private find(id: string): FakeInstance | undefined {
    const i = this.instances.get(Number(id));
    return i && !i.vanished && i.destroyedMs === undefined ? i : undefined;
  }

  private routes(): Route[] {
    return [
      { method: 'POST', pattern: /^\/api\/v0\/bundles\/$/, handle: (ctx) => this.search(ctx) },
      { method: 'PUT', pattern: /^\/api\/v0\/asks\/(\d+)\/$/, handle: (ctx) => this.create(ctx) },
      { method: 'GET', pattern: /^\/api\/v0\/instances\/(\d+)\/$/, handle: (ctx) => this.show(ctx) },
      { method: 'DELETE', pattern: /^\/api\/v0\/instances\/(\d+)\/$/, handle: (ctx) => this.destroy(ctx) },
      { method: 'PUT', pattern: /^\/api\/v0\/instances\/request_logs\/(\d+)\/$/, handle: (ctx) => this.requestLogs(ctx) },
      { method: 'GET', pattern: /^\/api\/v1\/instances\/$/, handle: (ctx) => this.list(ctx) },
      { method: 'GET', pattern: /^\/_logs\/(\d+)\/([0-9a-f]+)$/, public: true, handle: (ctx) => this.download(ctx) },
    ];
  }

  private search(ctx: RequestContext): Reply {
    const q = ctx.body as Record<string, unknown> | undefined;
    if (!q || typeof q !== 'object' || Array.isArray(q)) return err(400, 'invalid_args', 'query must be a JSON object');
    let rows = this.opts.offers.map((o) => this.offerJson(o));
    for (const [field, cond] of Object.entries(q)) {
      if (['order', 'type', 'limit', 'allocated_storage'].includes(field)) continue;
      if (!cond || typeof cond !== 'object') return err(400, 'invalid_args', `bad filter for ${field}`);
      rows = rows.filter((r) => Object.entries(cond as Record<string, unknown>).every(([op, v]) => matchOp(r[field], op, v)));
    }
    const order = Array.isArray(q.order) ? (q.order as [string, string][]) : [];
    for (const [field, dir] of [...order].reverse()) rows.sort((a, b) => (Number(a[field]) - Number(b[field])) * (dir === 'desc' ? -1 : 1));
    if (typeof q.limit === 'number') rows = rows.slice(0, q.limit);
    return { status: 200, body: { offers: rows } };
  }

  private async create(ctx: RequestContext): Promise<Reply> {
    const b = ctx.body as Record<string, unknown> | undefined;
    const offer = this.opts.offers.find((o) => o.id === Number(ctx.params[0]));
    if (!offer) return err(404, 'no_such_ask', `Instance type by id ${ctx.params[0]} is not available.`);
    if (!b || typeof b !== 'object' || typeof b.image !== 'string' || b.image === '') return err(400, 'invalid_args', 'image is required');
    if (b.env !== undefined && (typeof b.env !== 'object' || b.env === null || Object.values(b.env).some((v) => typeof v !== 'string'))) return err(400, 'invalid_args', 'env must map names to strings');
    if (b.label !== undefined && b.label !== null && typeof b.label !== 'string') return err(400, 'invalid_args', 'label must be a string');
    if (b.args !== undefined && (!Array.isArray(b.args) || b.args.some((a) => typeof a !== 'string'))) return err(400, 'invalid_args', 'args must be a list of strings');
    if (this.rented(offer) || !offer.rentable) return err(400, 'invalid_args', `Instance type by id ${offer.id} is not available.`);
    if (this.opts.creditUsd !== undefined) {
      const spent = this.order.reduce((s, i) => s + Number(this.meteredUsd(String(i.id))), 0);
      if (spent >= Number(this.opts.creditUsd)) return err(402, 'insufficient_credit', 'Your account balance is too low to rent this instance.');
    }
    this.seq += 1;
    const env = { ...((b.env as Record<string, string> | undefined) ?? {}) };
    const i: FakeInstance = {
      id: 9_100_000 + this.seq,
      offer,
      body: b,
      env,
      label: typeof b.label === 'string' ? b.label : null,
      createdMs: this.now(),
      outcome: 'succeed',
      corrupt: false,
      wrong: false,
      vanished: false,
      token: createHash('sha256').update(`logs-${this.seq}`).digest('hex').slice(0, 24),
    };
    const key = env.ATELIER_IDEMPOTENCY_KEY;
    if (key) {
      i.key = key;
      this.submissions.set(key, (this.submissions.get(key) ?? 0) + 1);
    }
    this.instances.set(i.id, i);
    this.order.push(i);
    this.applyEveryJob(String(i.id));
    if (this.opts.createReplyDelayMs) await sleep(this.opts.createReplyDelayMs);
    return { status: 200, body: { success: true, new_contract: i.id } };
  }

  private async show(ctx: RequestContext): Promise<Reply> {
    const i = this.find(ctx.params[0] ?? '');
    if (i && this.status(i) === 'exited' && i.outcome === 'succeed') await this.sign(i);
    return { status: 200, body: { instances: i ? this.instanceJson(i) : null } };
  }

  private destroy(ctx: RequestContext): Reply {
    const i = this.find(ctx.params[0] ?? '');
    if (!i) return err(404, 'no_such_instance', `Instance ${ctx.params[0]} not found.`);
    i.destroyedMs = this.now();
    return { status: 200, body: { success: true } };
  }

  private async requestLogs(ctx: RequestContext): Promise<Reply> {
    const i = this.find(ctx.params[0] ?? '');
    if (!i) return err(404, 'no_such_instance', `Instance ${ctx.params[0]} not found.`);
    if (this.status(i) === 'exited' && i.outcome === 'succeed') await this.sign(i);
    return { status: 200, body: { success: true, result_url: `${this.url}/_logs/${i.id}/${i.token}` } };
  }

  private download(ctx: RequestContext): Reply {
    const i = this.instances.get(Number(ctx.params[0]));
    if (!i || i.vanished || i.token !== ctx.params[1]) return { status: 404, raw: new TextEncoder().encode('NoSuchKey'), headers: { 'content-type': 'text/plain' } };
    const tail = 1000;
    const text = this.logText(i).split('\n').slice(-tail - 1).join('\n');
    return { status: 200, raw: new TextEncoder().encode(text), headers: { 'content-type': 'text/plain' } };
  }

  private list(ctx: RequestContext): Reply {
    let filters: Record<string, Record<string, unknown>> = {};
    let orderBy: { col: string; dir: string }[] = [{ col: 'id', dir: 'asc' }];
    try {
      filters = JSON.parse(ctx.query.get('select_filters') ?? '{}') as Record<string, Record<string, unknown>>;
      orderBy = JSON.parse(ctx.query.get('order_by') ?? JSON.stringify(orderBy)) as { col: string; dir: string }[];
    } catch {
      return err(400, 'invalid_args', 'select_filters and order_by must be JSON');
    }
    const limit = Number(ctx.query.get('limit') ?? '25');
    if (!Number.isInteger(limit) || limit < 1 || limit > 25) return err(400, 'invalid_args', 'limit must be 1..25');
    let rows = this.order.filter((i) => !i.vanished && i.destroyedMs === undefined).map((i) => this.instanceJson(i));
    for (const [field, cond] of Object.entries(filters)) rows = rows.filter((r) => Object.entries(cond).every(([op, v]) => matchOp(r[field], op, v)));
    for (const { col, dir } of [...orderBy].reverse()) rows.sort((a, b) => (Number(a[col]) - Number(b[col])) * (dir === 'desc' ? -1 : 1));
    const after = Number(ctx.query.get('after_token') ?? '0');
    const page = rows.slice(after, after + limit);
    const labels: Record<string, number> = {};
    for (const r of rows) labels[String(r.label ?? '')] = (labels[String(r.label ?? '')] ?? 0) + 1;
    return { status: 200, body: { instances: page, next_token: after + limit < rows.length ? String(after + limit) : null, total_instances: rows.length, label_counts: labels } };
  }

  private async sign(i: FakeInstance): Promise<void> {
    await this.signResult(String(i.id), () => ({ env: i.env, outputs: this.outputs(i), costUsd: () => this.meteredUsd(String(i.id)) }));
  }
}

/** The search operators vast.py's parse_query produces (eq, neq, gt, gte, lt, lte, in, notin). */
function matchOp(value: unknown, op: string, target: unknown): boolean {
  switch (op) {
    case 'eq':
      return value === target;
    case 'neq':
      return value !== target;
    case 'gt':
      return Number(value) > Number(target);
    case 'gte':
      return Number(value) >= Number(target);
    case 'lt':
      return Number(value) < Number(target);
    case 'lte':
      return Number(value) <= Number(target);
    case 'in':
      return Array.isArray(target) && target.includes(value);
    case 'notin':
      return Array.isArray(target) && !target.includes(value);
    default:
      return false;
  }
}

function err(status: number, error: string, msg: string): Reply {
  return { status, body: { success: false, error, msg } };
}
