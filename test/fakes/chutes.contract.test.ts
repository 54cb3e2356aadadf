// Contract of the Chutes fake (test/fakes/chutes.ts) against chutesai/chutes-api @ d390a53bc4888a180da7acea326772173848c1d8:
// every answer of every job route, at every stage of a job's life, fits the schema transcribed below
// from the server's own pydantic models, and the status codes and error bodies are the server's. A
// field the real server does not send (e.g. `status`, `started_at`, `error_detail`) fails the test.

import { ChutesFake } from './chutes.js';
import { makeShard, recordingClock } from './testkit.js';
import type { RecordingClock } from './testkit.js';
import { check, s } from './schema.js';

const CHUTE = '5f3a1c2e-0000-4000-8000-00000000c0de';
/** Pydantic's serialisation of a naive datetime (no zone; microseconds only when not zero). */
const NAIVE = s.string({ pattern: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$/ });
const UUID = s.string({ pattern: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/ });

/** api/image/response.py:12-17 MinimalImageResponse. */
const MinimalImage = s.object({ image_id: s.string(), name: s.string(), tag: s.string(), public: s.boolean(), patch_version: s.nullable(s.string()) });
/** api/chute/response.py:15-23 MinimalChuteResponse. */
const MinimalChute = s.object({
  chute_id: s.string(), name: s.string(), public: s.boolean(), version: s.string(), slug: s.string(), chutes_version: s.string(), preemptible: s.boolean(), image: MinimalImage,
});
/** api/instance/response.py:29-34 MinimalInstanceResponse. */
const MinimalInstance = s.object({ instance_id: s.string(), region: s.string(), active: s.boolean(), verified: s.boolean(), last_verified_at: s.nullable(NAIVE) });
/** api/job/router.py:298-302 (set by the finish call) and 355-367 (`uploaded` flipped by an upload). */
const OutputFile = s.object({ filename: s.string(), path: s.string(), uploaded: s.boolean() });
/** api/job/response.py:12-41 JobResponse: every declared field is serialised, null when unset. */
const JobResponse = s.object({
  job_id: UUID,
  user_id: s.string(),
  chute_id: s.string(),
  version: s.string(),
  chutes_version: s.string(),
  method: s.string(),
  instance_id: s.nullable(s.string()),
  active: s.boolean(),
  verified: s.boolean(),
  last_queried_at: s.nullable(NAIVE),
  created_at: NAIVE,
  updated_at: s.nullable(NAIVE),
  finished_at: s.nullable(NAIVE),
  job_args: s.record(s.any()),
  result: s.nullable(s.record(s.any())),
  output_files: s.nullable(s.record(OutputFile)),
  host: s.nullable(s.string()),
  port_mappings: s.nullable(s.array(s.record(s.any()))),
  chute: MinimalChute,
  instance: s.nullable(MinimalInstance),
  output_storage_urls: s.nullable(s.record(s.string())),
});
/** api/payment/router.py:129-152 GET /pricing. */
const PerUnit = s.object({ hour: s.number(), second: s.number() });
const Pricing = s.object({
  tao_usd: s.number(),
  compute_unit_estimate: s.object({ usd: s.number(), tao: s.number(), description: s.string() }),
  gpu_price_estimates: s.record(s.object({ usd: PerUnit, tao: PerUnit })),
});
/** FastAPI's HTTPException body. */
const Detail = s.object({ detail: s.string() });
/** FastAPI's RequestValidationError body (422). */
const ValidationDetail = s.object({ detail: s.array(s.object({ loc: s.array(s.any()), msg: s.string(), type: s.string() })) });

describe('Chutes fake contract (chutes-api JobResponse and routes)', () => {
  let fake: ChutesFake;
  let clock: RecordingClock;
  const auth = () => ({ authorization: `Bearer ${fake.opts.apiKey}` });
  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; type: string; json?: unknown; text: string }> => {
    const res = await fetch(`${fake.url}${path}`, { method, headers: { ...auth(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    const type = res.headers.get('content-type') ?? '';
    return { status: res.status, type, text, ...(type.includes('json') ? { json: JSON.parse(text) as unknown } : {}) };
  };
  const create = async (args: Record<string, unknown> = { env: { ATELIER_SHARD_INDEX: '3' }, atelier: { shard_index: 3 } }) => call('POST', `/jobs/${CHUTE}/render`, args);

  beforeEach(async () => {
    clock = recordingClock();
    fake = new ChutesFake({ clock: clock.manual, chutes: [{ chute_id: CHUTE, name: 'atelier-sdxl', methods: ['render'], capacity: 2, dailyQuota: 3 }] });
    await fake.start();
  });

  afterEach(async () => {
    await fake.stop();
  });

  test('a job read at every stage is a JobResponse, and only that: no status, started_at or error_detail', async () => {
    const created = await create();
    expect(created.status).toBe(200);
    expect(check(JobResponse, created.json)).toEqual([]);
    const id = (created.json as { job_id: string }).job_id;
    const seen: Record<string, unknown>[] = [];
    for (const advance of [0, 5_000, 30_000, 30_000, 1_000, 1_000, 10_000]) {
      clock.manual.advance(advance);
      const got = await call('GET', `/jobs/${id}`);
      expect(got.status).toBe(200);
      expect(check(JobResponse, got.json)).toEqual([]);
      seen.push(got.json as Record<string, unknown>);
    }
    for (const job of seen) for (const absent of ['status', 'started_at', 'error_detail', 'final_result']) expect(job).not.toHaveProperty(absent);
    // pending -> an instance holds it -> result set while uploading -> finished, instance gone.
    expect(seen.map((j) => [j.instance_id !== null, j.result !== null, j.finished_at !== null])).toEqual([
      [false, false, false], [true, false, false], [true, false, false], [true, true, false], [true, true, false], [false, true, true], [false, true, true],
    ]);
    // The job row's `active` is never set by any route (api/job/schemas.py:40, default False).
    expect(seen.every((j) => j.active === false)).toBe(true);
    // output_files keyed by uuid5(job_id, filename), the SDK's log among them (chute/job.py:236-245).
    const files = seen.at(-1)!.output_files as Record<string, { filename: string; uploaded: boolean }>;
    expect(Object.values(files).map((f) => [f.filename, f.uploaded]).sort()).toEqual([['_chute.log', true], ['shard-3.png', true]]);
  });

  test('a failed job (result "error") and every DELETE answer 500 in plain text, as the real response validation fails', async () => {
    const id = ((await create()).json as { job_id: string }).job_id;
    fake.failJob(id);
    clock.manual.advance(70_000);
    const failed = await call('GET', `/jobs/${id}`);
    expect([failed.status, failed.type, failed.text]).toEqual([500, 'text/plain; charset=utf-8', 'Internal Server Error']);

    const other = ((await create()).json as { job_id: string }).job_id;
    const deleted = await call('DELETE', `/jobs/${other}`);
    expect([deleted.status, deleted.text]).toEqual([500, 'Internal Server Error']);
    // The row survives (the session rolled back) and stays a JobResponse.
    const after = await call('GET', `/jobs/${other}`);
    expect([after.status, check(JobResponse, after.json)]).toEqual([200, []]);
  });

  test('errors: 404, 429 with no Retry-After, 400 disk size, 422 body, 401; /pricing', async () => {
    const missing = await call('GET', '/jobs/00000000-0000-4000-8000-000000000000');
    expect([missing.status, missing.json]).toEqual([404, { detail: 'Job not found, or does not belong to you' }]);
    const unknown = await call('POST', '/jobs/nope/render', {});
    expect([unknown.status, check(Detail, unknown.json)]).toEqual([404, []]);
    const disk = await create({ _disk_gb: 5 });
    expect([disk.status, disk.json]).toEqual([400, { detail: 'Invalid disk size specified: 5' }]);
    const list = await call('POST', `/jobs/${CHUTE}/render`, [1]);
    expect([list.status, check(ValidationDetail, list.json)]).toEqual([422, []]);
    for (let i = 0; i < 3; i++) expect((await create()).status).toBe(200);
    const res = await fetch(`${fake.url}/jobs/${CHUTE}/render`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBeNull();
    const body = (await res.json()) as { detail: string };
    expect(check(Detail, body)).toEqual([]);
    expect(body.detail).toMatch(/^Daily job quota exceeded: chute_job_count=3 total_job_count=3 of job_quota=3 and total_quota=\d+$/);
    const denied = await fetch(`${fake.url}/jobs/${CHUTE}/render`, { method: 'POST', body: '{}' });
    expect(denied.status).toBe(401);
    const pricing = await fetch(`${fake.url}/pricing`);
    expect([pricing.status, check(Pricing, await pricing.json())]).toEqual([200, []]);
  });

  test('the job args the adapter would send come back as job_args, with _disk_gb set', async () => {
    const got = await create({ _atelier_idempotency_key: 'k-1', env: { A: 'b' }, atelier: { shard_index: makeShard().shardIndex } });
    expect((got.json as { job_args: unknown }).job_args).toEqual({ _atelier_idempotency_key: 'k-1', env: { A: 'b' }, atelier: { shard_index: 3 }, _disk_gb: 10 });
  });
});
