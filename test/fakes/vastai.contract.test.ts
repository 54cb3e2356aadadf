// Contract test of the Vast.ai fake (test/fakes/vastai.ts): its answers, read over HTTP through an
// instance's whole life, checked against schemas transcribed from what `vast-ai/vast-cli` @5567983
// vast.py sends and reads (file and lines beside each schema). Vast.ai publishes no server source:
// the CLI's field lists are the contract. Fields outside those lists are errors.

import { ManualClock } from './server.js';
import { problems } from './shape.js';
import type { Schema } from './shape.js';
import { VastFake } from './vastai.js';

/** vast.py:979-1036 offers_fields (the names a search may filter on and shows). */
const OFFERS_FIELDS = ['bw_nvlink', 'compute_cap', 'cpu_arch', 'cpu_cores', 'cpu_cores_effective', 'cpu_ghz', 'cpu_ram', 'cuda_max_good', 'datacenter', 'direct_port_count', 'driver_version', 'disk_bw', 'disk_space', 'dlperf', 'dlperf_per_dphtotal', 'dph_total', 'duration', 'external', 'flops_per_dphtotal', 'gpu_arch', 'gpu_display_active', 'gpu_frac', 'gpu_mem_bw', 'gpu_name', 'gpu_ram', 'gpu_total_ram', 'gpu_max_power', 'gpu_max_temp', 'has_avx', 'host_id', 'id', 'inet_down', 'inet_down_cost', 'inet_up', 'inet_up_cost', 'machine_id', 'min_bid', 'mobo_name', 'num_gpus', 'pci_gen', 'pcie_bw', 'reliability', 'rentable', 'rented', 'storage_cost', 'static_ip', 'total_flops', 'ubuntu_version', 'verification', 'verified', 'vms_enabled', 'geolocation', 'cluster_id'];

const OFFER: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'gpu_name', 'num_gpus', 'dph_total', 'rentable', 'rented'],
  properties: {
    ...Object.fromEntries(OFFERS_FIELDS.map((f) => [f, {}])),
    id: { type: 'integer' },
    machine_id: { type: 'integer' },
    gpu_name: { type: 'string' },
    num_gpus: { type: 'integer', minimum: 1 },
    gpu_ram: { type: 'number' }, // MB: offers_mult gpu_ram x1000, vast.py:1047-1052
    dph_total: { type: 'number', minimum: 0 },
    rentable: { type: 'boolean' },
    rented: { type: 'boolean' }, // read as a boolean by the post-query filter, vast.py:4425-4440
    verified: { type: 'boolean' },
    external: { type: 'boolean' },
  },
};

/** vast.py:4413-4422: POST /bundles/ answers {offers: [...]}. */
const BUNDLES: Schema = { type: 'object', additionalProperties: false, required: ['offers'], properties: { offers: { type: 'array', items: OFFER } } };

/** vast.py:2474 (create__instance's documented return value). */
const CREATED: Schema = { type: 'object', additionalProperties: false, required: ['success', 'new_contract'], properties: { success: { const: true }, new_contract: { type: 'integer' } } };

/**
 * Instance rows: instance_fields vast.py:787-808, _DEFAULT/_VERBOSE_INSTANCE_SELECT_COLS
 * vast.py:5785-5798; start_date (unix seconds) and extra_env as [name, value] pairs vast.py:5719-5720.
 * actual_status: the values vast.py colours (_STATUS_COLORS vast.py:5846) and the other states of
 * the API reference (PROVIDERS.md, vast-ai/docs openapi.yaml), or null before scheduling.
 */
const INSTANCE_FIELDS = ['id', 'machine_id', 'actual_status', 'num_gpus', 'gpu_name', 'gpu_util', 'cpu_cores_effective', 'cpu_ram', 'disk_space', 'ssh_host', 'ssh_port', 'dph_total', 'image_uuid', 'inet_up', 'inet_down', 'reliability2', 'label', 'duration', 'uptime_mins', 'disk_usage', 'disk_util', 'volume_info', 'start_date', 'verification', 'template_id', 'template_name', 'geolocation', 'status_msg', 'extra_env'];
const INSTANCE: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'actual_status', 'num_gpus', 'gpu_name', 'dph_total', 'label', 'start_date', 'extra_env'],
  properties: {
    ...Object.fromEntries(INSTANCE_FIELDS.map((f) => [f, {}])),
    id: { type: 'integer' },
    actual_status: { type: 'string', nullable: true, enum: ['created', 'loading', 'running', 'stopped', 'frozen', 'exited', 'rebooting', 'unknown', 'offline'] },
    num_gpus: { type: 'integer' },
    gpu_name: { type: 'string' },
    dph_total: { type: 'number' },
    label: { type: 'string', nullable: true },
    start_date: { type: 'number' },
    uptime_mins: { type: 'number', minimum: 0 },
    status_msg: { type: 'string', nullable: true },
    extra_env: { type: 'array', items: { type: 'array', items: { type: 'string' } } },
  },
};

/** vast.py:5709-5718: GET /instances/{id}/ answers {instances: row | null}. */
const SHOW: Schema = { type: 'object', additionalProperties: false, required: ['instances'], properties: { instances: { ...INSTANCE, nullable: true } } };
/** vast.py:6219-6222 (and 5743-5748): the v1 list page. */
const LIST: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['instances', 'next_token', 'total_instances', 'label_counts'],
  properties: { instances: { type: 'array', items: INSTANCE }, next_token: { type: 'string', nullable: true }, total_instances: { type: 'integer' }, label_counts: { type: 'object', additionalProperties: { type: 'integer' } } },
};
/** vast.py:3665-3672: request_logs answers a result_url (msg otherwise). */
const LOGS: Schema = { type: 'object', additionalProperties: false, required: ['result_url'], properties: { success: { type: 'boolean' }, result_url: { type: 'string', minLength: 8 }, msg: { type: 'string' } } };
/** vast.py:3113-3118: destroy answers {success} (msg when it did not). */
const DESTROYED: Schema = { type: 'object', additionalProperties: false, required: ['success'], properties: { success: { type: 'boolean' }, msg: { type: 'string' } } };
/** Error bodies: {success: false, error, msg} (tests/api/test_price_increase.py:75; rj["msg"] reads, e.g. vast.py:3118). */
const ERROR: Schema = { type: 'object', additionalProperties: false, required: ['success', 'error', 'msg'], properties: { success: { const: false }, error: { type: 'string' }, msg: { type: 'string' } } };

describe('Vast.ai fake against the vast-cli source', () => {
  const clock = new ManualClock();
  const fake = new VastFake({ clock });
  const auth = { authorization: `Bearer ${fake.opts.apiKey}` };
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = auth): Promise<{ status: number; body: unknown }> => {
    const res = await fetch(`${fake.url}${path}`, { method, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
  };
  const fits = (value: unknown, schema: Schema) => expect(problems(value, schema)).toEqual([]);
  // vast.py:2490-2509, the body create__instance sends (args launch, vast.py:2353-2370).
  const createBody = (label: string) => ({ client_id: 'me', image: 'ghcr.io/acme/r:1', env: { ATELIER_SHARD_INDEX: '0', ATELIER_IDEMPOTENCY_KEY: label }, price: null, disk: 20, label, extra: null, onstart: null, image_login: null, python_utf8: false, lang_utf8: false, use_jupyter_lab: false, jupyter_dir: null, force: false, cancel_unavail: true, template_hash_id: null, user: null, runtype: 'args', args: ['python', 'r.py'] });

  beforeAll(async () => {
    await fake.start();
  });
  afterAll(async () => {
    await fake.stop();
  });

  test('the checker rejects fields the CLI does not know', () => {
    expect(problems({ instances: { ...{ id: 1, actual_status: 'running', num_gpus: 1, gpu_name: 'x', dph_total: 1, label: null, start_date: 1, extra_env: [] }, ended_at: 2 } }, SHOW)).toEqual(['$.instances.ended_at: not in the source schema']);
  });

  test('search with the CLI default query: offers fit offers_fields; filters and order apply', async () => {
    // vast.py:4352 default filters, :4374-4381 order/type/limit/allocated_storage.
    const res = await call('POST', '/api/v0/bundles/', { verified: { eq: true }, external: { eq: false }, rentable: { eq: true }, rented: { eq: false }, gpu_name: { in: ['H100 SXM'] }, num_gpus: { eq: 1 }, dph_total: { lte: 2.13 }, order: [['dph_total', 'asc']], type: 'on-demand', limit: 10, allocated_storage: 20 });
    expect(res.status).toBe(200);
    fits(res.body, BUNDLES);
    expect((res.body as { offers: { dph_total: number }[] }).offers.map((o) => o.dph_total)).toEqual([2.1, 2.11, 2.12, 2.13]);
  });

  test('an instance through its life: create, show, list by label, logs, destroy', async () => {
    const created = await call('PUT', '/api/v0/asks/5000100/', createBody('atelier-k1'));
    expect(created.status).toBe(200);
    fits(created.body, CREATED);
    const id = (created.body as { new_contract: number }).new_contract;
    const seen: (string | null)[] = [];
    for (const advance of [0, 2_000, 8_000, 60_000]) {
      clock.advance(advance);
      const show = await call('GET', `/api/v0/instances/${id}/?owner=me`);
      fits(show.body, SHOW);
      seen.push((show.body as { instances: { actual_status: string | null } }).instances.actual_status);
    }
    expect(seen).toEqual([null, 'loading', 'running', 'exited']);
    const list = await call('GET', `/api/v1/instances/?select_filters=${encodeURIComponent(JSON.stringify({ label: { in: ['atelier-k1'] } }))}&order_by=${encodeURIComponent(JSON.stringify([{ col: 'id', dir: 'asc' }]))}&limit=25`);
    fits(list.body, LIST);
    expect((list.body as { instances: { id: number }[] }).instances.map((i) => i.id)).toEqual([id]);
    expect((await call('GET', '/api/v1/instances/?limit=26')).status).toBe(400); // vast.py:6177 caps limit at 25
    const logs = await call('PUT', `/api/v0/instances/request_logs/${id}/`, { tail: '1000' });
    fits(logs.body, LOGS);
    const text = await (await fetch((logs.body as { result_url: string }).result_url)).text();
    expect(text).toMatch(/ATELIER_RESULT /);
    const destroyed = await call('DELETE', `/api/v0/instances/${id}/`, {});
    fits(destroyed.body, DESTROYED);
    const gone = await call('GET', `/api/v0/instances/${id}/?owner=me`);
    expect(gone).toEqual({ status: 200, body: { instances: null } }); // vast.py:5711-5718
  });

  test('errors carry {success: false, error, msg}', async () => {
    const unauthorized = await call('GET', '/api/v0/instances/1/', undefined, { authorization: 'Bearer nope' });
    expect(unauthorized.status).toBe(401);
    fits(unauthorized.body, ERROR);
    const noAsk = await call('PUT', '/api/v0/asks/1/', createBody('atelier-k2'));
    expect(noAsk.status).toBe(404);
    fits(noAsk.body, ERROR);
    const gone = await call('DELETE', '/api/v0/instances/1/', {});
    expect(gone.status).toBe(404);
    fits(gone.body, ERROR);
    const broke = new VastFake({ clock, creditUsd: '0' });
    await broke.start();
    try {
      const res = await fetch(`${broke.url}/api/v0/asks/5000100/`, { method: 'PUT', headers: { authorization: `Bearer ${broke.opts.apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify(createBody('atelier-k3')) });
      expect(res.status).toBe(402);
      fits(await res.json(), ERROR);
    } finally {
      await broke.stop();
    }
  });
});
