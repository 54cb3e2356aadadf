// Contract of the Render fake (test/fakes/render.ts) against Render Compute Network's published API
// pages (it publishes no server source; read 2026-12-05, see /work/shared/provider-audit.md "Render"):
// otoyinc.mintlify.app api-reference/jobs/create-job (the job object: `object: "job"`, uuid, status
// and the create fields), api-reference/jobs/stop-job (started_at, completed_at, status_reason; PUT
// /v1/jobs/{uuid}/cancel {reason}) and service-consumers/job-monitoring (a job run is exactly `uuid,
// status, started_at_ms, node_urls`; read by its uuid it adds `logs`). Every answer at every stage fits
// the schema below; a run field the pages do not document (e.g. `ended_at_ms`) fails the test.

import { RenderAdapter } from '../../operator/src/providers/render/adapter.js';
import { signRequest } from '../../operator/src/providers/render/signing.js';
import { RenderFake } from './render.js';
import { makeShard, recordingClock } from './testkit.js';
import type { RecordingClock } from './testkit.js';
import { check, s } from './schema.js';

const STATES = ['PENDING', 'ASSIGNED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLING', 'CANCELLED'] as const;
const ISO = s.string({ pattern: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/ });
/** create-job: the job object echoes the create fields; stop-job: started_at, completed_at, status_reason. */
const Job = s.object({
  object: s.string({ oneOf: ['job'] }),
  uuid: s.string(),
  created_at: ISO,
  updated_at: ISO,
  status: s.string({ oneOf: STATES }),
  task: s.string({ oneOf: ['BATCH', 'PERSISTENT'] }),
  title: s.string(),
  description: s.nullable(s.string()),
  cpu_count: s.number({ integer: true }),
  gpu_count: s.number({ integer: true }),
  gpu_name: s.string(),
  min_ram_gb: s.number({ integer: true }),
  min_vram_gb: s.number({ integer: true }),
  min_storage_gb: s.number({ integer: true }),
  max_timeout_run_ms: s.nullable(s.number({ integer: true })),
  max_timeout_assign_ms: s.number({ integer: true }),
  max_retry_count: s.number({ integer: true }),
  parameters: s.object({ type: s.string({ oneOf: ['docker'] }), parameters: s.record(s.any()) }),
  started_at: s.nullable(ISO),
  completed_at: s.nullable(ISO),
  status_reason: s.nullable(s.string()),
});
/** job-monitoring: a run in a list. */
const runShape = { uuid: s.string(), status: s.string({ oneOf: STATES }), started_at_ms: s.number({ integer: true }), node_urls: s.array(s.string()) };
const RunList = s.object({ data: s.array(s.object(runShape)), page: s.number(), limit: s.number(), total: s.number() });
const Run = s.object({ ...runShape, logs: s.string() });
const JobList = s.object({ data: s.array(Job), page: s.number(), limit: s.number(), total: s.number() });

describe('Render fake contract (published job API)', () => {
  let fake: RenderFake;
  let clock: RecordingClock;
  let adapter: RenderAdapter;

  beforeEach(async () => {
    clock = recordingClock();
    fake = new RenderFake({ clock: clock.manual });
    await fake.start();
    adapter = new RenderAdapter({ endpoint: fake.url, credentials: { publicKey: fake.opts.publicKey, secretKey: fake.opts.secretKey }, clock, options: { prices: { 'nvidia-h100': '2.20' } } });
  });

  afterEach(async () => {
    await fake.stop();
  });

  /** A signed GET of the raw body (the adapter's client would hide it). */
  async function get(path: string): Promise<unknown> {
    const url = new URL(path, fake.url);
    const query = [...url.searchParams.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
    const headers = signRequest({ publicKey: fake.opts.publicKey, secretKey: fake.opts.secretKey }, { method: 'GET', url, pathname: url.pathname, query, body: '' }, clock.now());
    const res = await fetch(url, { headers });
    expect(res.status).toBe(200);
    return res.json();
  }

  test('job, job list, run list and run answers fit the documented fields at every stage', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    const stages: string[] = [];
    for (const advance of [0, 10_000, 5_000, 30_000, 30_000]) {
      clock.manual.advance(advance);
      const job = await get(`/v1/jobs/${remoteId}`);
      expect(check(Job, job)).toEqual([]);
      stages.push((job as { status: string }).status);
      const runs = await get(`/v1/job-runs?filter[job_uuid]=${remoteId}`);
      expect(check(RunList, runs)).toEqual([]);
      for (const r of (runs as { data: { uuid: string }[] }).data) {
        const run = await get(`/v1/job-runs/${r.uuid}`);
        expect(check(Run, run)).toEqual([]);
        expect(run).not.toHaveProperty('ended_at_ms');
      }
    }
    expect(stages).toEqual(['PENDING', 'ASSIGNED', 'RUNNING', 'RUNNING', 'COMPLETED']);
    const done = (await get(`/v1/jobs/${remoteId}`)) as { started_at: string; completed_at: string; status_reason: null };
    expect(Date.parse(done.completed_at) - Date.parse(done.started_at)).toBe(60_000);
    expect(check(JobList, await get('/v1/jobs?page=1&limit=100'))).toEqual([]);
  });

  test('a cancelled and a failed job carry their status_reason', async () => {
    const a = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-1-0' });
    clock.manual.advance(16_000);
    await adapter.cancel(a.remoteId);
    clock.manual.advance(2_000);
    const cancelled = await get(`/v1/jobs/${a.remoteId}`);
    expect(check(Job, cancelled)).toEqual([]);
    expect(cancelled).toMatchObject({ status: 'CANCELLED', status_reason: 'cancelled by Atelier', completed_at: expect.any(String) });
    const b = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-2-0' });
    fake.failJob(b.remoteId, 'container exited with code 1');
    clock.manual.advance(80_000);
    const failed = await get(`/v1/jobs/${b.remoteId}`);
    expect(check(Job, failed)).toEqual([]);
    expect(failed).toMatchObject({ status: 'FAILED', status_reason: 'container exited with code 1' });
  });
});
