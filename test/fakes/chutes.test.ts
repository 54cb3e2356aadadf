// The Chutes (Bittensor subnet 64) adapter against its contract fake (test/fakes/chutes.ts):
// pricing as offers, states read from instance_id / result / finished_at / output_files (JobResponse
// has no status word) on the fake clock, results verified by downloading the output files, cost as
// the fake bills the job's instance, cancel that never deletes a finished job (and counts the 500
// DELETE answers with as sent), a failed job's unreadable 500s, the daily quota until 00:00 UTC,
// findByKey through the submission journal, and the injected failures; signed results for settled
// shards, seeded test renders and consistent-but-wrong renders.

import { ChutesAdapter, chutesGpuKey } from '../../operator/src/providers/bittensor/adapter.js';
import { sha256Hex } from '../../operator/src/providers/results.js';
import { InsufficientFundsError, QuotaExceededError, memoryJournal } from '../../operator/src/providers/types.js';
import type { ResultSet, SubmissionJournal } from '../../operator/src/providers/types.js';
import { ChutesFake } from './chutes.js';
import { WRONG_RENDER_SUFFIX, testRenderContent } from './server.js';
import { TEST_SEED, expectDerivedPayoutKey, expectSettledSigned, expectWrongRender, makeShard, recordingClock, resultsAfter, settledShard, thrown } from './testkit.js';
import type { RecordingClock } from './testkit.js';

const CHUTE = '5f3a1c2e-0000-4000-8000-00000000c0de';

describe('Chutes adapter against the chutes-api fake', () => {
  let fake: ChutesFake;
  let clock: RecordingClock;
  let journal: SubmissionJournal;
  let adapter: ChutesAdapter;

  const newAdapter = (apiKey = fake.opts.apiKey, j: SubmissionJournal = journal): ChutesAdapter =>
    new ChutesAdapter({ endpoint: fake.url, credentials: { apiKey }, clock, journal: j, timeoutMs: 2_000, options: { chuteId: CHUTE, method: 'render', gpuModel: 'nvidia-h100' } });

  beforeEach(async () => {
    clock = recordingClock();
    fake = new ChutesFake({ clock: clock.manual, chutes: [{ chute_id: CHUTE, name: 'atelier-sdxl', methods: ['render'], capacity: 1, dailyQuota: 5 }] });
    await fake.start();
    journal = memoryJournal();
    adapter = newAdapter();
  });

  afterEach(async () => {
    await fake.stop();
  });

  test('GPU keys follow gpu_price_estimates naming', () => {
    expect(chutesGpuKey('nvidia-h100')).toBe('h100');
    expect(chutesGpuKey('nvidia-rtx-4090')).toBe('4090');
    expect(chutesGpuKey('nvidia-a100-80gb')).toBe('a100');
    expect(chutesGpuKey('nvidia-h200', { 'nvidia-h200': 'h200_141gb' })).toBe('h200_141gb');
  });

  test('offers: the chute GPU priced from GET /pricing, exact', async () => {
    expect(await adapter.listOffers({ gpuCount: 1 })).toEqual([
      { offerId: `chutes:${CHUTE}:h100`, gpuModel: 'nvidia-h100', gpuCount: 1, usdPerGpuHour: '1.86', rawPrice: '1.86', rawUnit: expect.stringContaining('/pricing') },
    ]);
    expect(await adapter.listOffers({ gpuCount: 1, gpuModels: ['nvidia-a100-80gb'] })).toEqual([]);
    expect(await adapter.listOffers({ gpuCount: 1, maxUsdPerGpuHour: '1.85' })).toEqual([]);
    expect(await adapter.listOffers({ gpuCount: 2 })).toEqual([]);
  });

  test('submit -> pending -> running -> uploading -> finished; results verified by download; cost as billed', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    expect(await adapter.getStatus(remoteId)).toEqual({ phase: 'Pending', raw: 'pending', message: 'waiting for a miner' });
    clock.manual.advance(5_000);
    const running = await adapter.getStatus(remoteId);
    expect(running).toMatchObject({ phase: 'Running', raw: 'running' });
    expect(running.startedAt?.getTime()).toBe(clock.now());
    expect(fake.running()).toBe(1);
    clock.manual.advance(60_000);
    expect(await adapter.getStatus(remoteId)).toMatchObject({ phase: 'Running', raw: 'uploading', message: 'uploading outputs' });
    clock.manual.advance(2_000);
    const done = await adapter.getStatus(remoteId);
    expect(done).toMatchObject({ phase: 'Succeeded', raw: 'finished' });
    expect(done.endedAt!.getTime() - done.startedAt!.getTime()).toBe(62_000);
    expect(fake.running()).toBe(0);

    const results = await adapter.getResults(remoteId);
    if (!results.supported) throw new Error('expected results');
    expect(results).toMatchObject({ integrity: 'verified', digest: expect.stringMatching(/^[0-9a-f]{64}$/) });
    // 62 s at $1.86/GPU-hour = $0.0320333… -> 0.032033, what the fake billed the instance.
    const cost = await adapter.getCost(remoteId);
    expect(cost).toEqual({ amount: '0.032033', currency: 'USD', usd: '0.032033', basis: 'estimated', seconds: 62 });
    expect(fake.billing()).toEqual([{ job_id: remoteId, instance_id: expect.any(String), activatedMs: done.startedAt!.getTime(), stoppedMs: done.endedAt!.getTime(), usd: cost.usd }]);
    // The SDK's own log is an output file, read once the job finished.
    expect(await adapter.logs(remoteId)).toEqual([`chute job ${remoteId} started`, 'Job finished successfully.']);
  });

  test('a finished job is read once: results and cost after the poll that saw it finish read the job no more', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    clock.manual.advance(5_000);
    expect((await adapter.getStatus(remoteId)).phase).toBe('Running');
    clock.manual.advance(62_000);
    const before = fake.server.requests.length;
    expect((await adapter.getStatus(remoteId)).phase).toBe('Succeeded');
    const results = await adapter.getResults(remoteId);
    expect(results).toMatchObject({ supported: true, integrity: 'verified' });
    expect((await adapter.getCost(remoteId)).seconds).toBe(62);
    const ops = fake.server.requests.slice(before).map((r) => `${r.method} ${r.path.split('?')[0]!.replace(remoteId, ':id').replace(/download\/[^/]+$/, 'download/:file')}`);
    expect(ops.filter((o) => o === 'GET /jobs/:id')).toHaveLength(1);
    expect(ops.filter((o) => o.startsWith('GET /jobs/:id/download/'))).toHaveLength(1);
  });

  test('a job found again by a fresh process costs from created_at (an upper bound: it never saw the instance start)', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    clock.manual.advance(67_000);
    // 5 s waiting for a miner + 62 s of instance time.
    expect(await newAdapter().getCost(remoteId)).toMatchObject({ usd: '0.034617', seconds: 67 });
  });

  test('the job args carry the shard envelope and the idempotency marker', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0', maxDurationSec: 600 });
    const res = await fetch(`${fake.url}/jobs/${remoteId}`, { headers: { authorization: `Bearer ${fake.opts.apiKey}` } });
    const job = (await res.json()) as { job_args: Record<string, unknown> };
    expect(job.job_args).toMatchObject({
      _atelier_idempotency_key: 'uid1-3-0',
      _disk_gb: 10,
      atelier: { shard_index: 3, frames: { start: 19, end: 24 }, output_uri: 's3://renders/lighting/', max_duration_sec: 600 },
      env: { PROMPT: 'a glass atrium at dusk', ATELIER_SHARD_INDEX: '3', ATELIER_FRAME_START: '19' },
    });
    expect(fake.submissionCounts()).toEqual({ 'uid1-3-0': 1 });
  });

  test('a busy chute keeps the next job pending', async () => {
    const a = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-1-0' });
    const b = await adapter.submit(makeShard({ shardIndex: 4 }), { idempotencyKey: 'uid1-2-0' });
    clock.manual.advance(10_000);
    expect((await adapter.getStatus(a.remoteId)).phase).toBe('Running');
    expect((await adapter.getStatus(b.remoteId)).phase).toBe('Pending');
    expect(fake.running()).toBe(1);
    clock.manual.advance(58_000);
    expect((await adapter.getStatus(b.remoteId)).phase).toBe('Running');
  });

  test('cancel deletes a live job once (its 500 answer counts as sent), and never a finished one', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    clock.manual.advance(5_000);
    await adapter.cancel(remoteId);
    await adapter.cancel(remoteId);
    // The miner shut the instance down: finished_at set, no result.
    expect(await adapter.getStatus(remoteId)).toMatchObject({ phase: 'Cancelled', raw: 'deleted' });
    expect(fake.server.requests.filter((r) => r.method === 'DELETE')).toEqual([{ method: 'DELETE', path: `/jobs/${remoteId}`, status: 500 }]);

    const pending = await adapter.submit(makeShard({ shardIndex: 5 }), { idempotencyKey: 'uid1-5-0' });
    await adapter.cancel(pending.remoteId);
    expect(await adapter.getStatus(pending.remoteId)).toMatchObject({ phase: 'Cancelled', message: expect.stringContaining('before a miner took it') });
    clock.manual.advance(10_000);
    expect(fake.jobs().find((j) => j.id === pending.remoteId)).toMatchObject({ running: false, deleted: true });

    const other = await adapter.submit(makeShard({ shardIndex: 4 }), { idempotencyKey: 'uid1-4-0' });
    clock.manual.advance(70_000);
    expect((await adapter.getStatus(other.remoteId)).phase).toBe('Succeeded');
    await adapter.cancel(other.remoteId);
    await newAdapter().cancel(other.remoteId);
    expect(fake.deletes().map((d) => [d.job_id, d.finished])).toEqual([[remoteId, false], [pending.remoteId, false]]);
    expect((await adapter.getResults(other.remoteId)).supported).toBe(true);
  });

  test('a DELETE a gateway refused (502) did not reach the route: cancel throws, and the next one sends it again', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    clock.manual.advance(5_000);
    fake.inject({ kind: 'status', status: 502, count: 1, match: { method: 'DELETE' } });
    expect(await thrown(() => adapter.cancel(remoteId))).toMatchObject({ kind: 'transient', status: 502 });
    expect((await adapter.getStatus(remoteId)).phase).toBe('Running');
    expect(fake.running()).toBe(1);
    await adapter.cancel(remoteId);
    expect(await adapter.getStatus(remoteId)).toMatchObject({ phase: 'Cancelled' });
    expect(fake.running()).toBe(0);
    expect(fake.deletes().map((d) => d.finished)).toEqual([false]);
  });

  test('a job cancelled while its outputs upload is Cancelled, not Succeeded: its files were deleted', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    clock.manual.advance(5_000);
    expect((await adapter.getStatus(remoteId)).phase).toBe('Running');
    clock.manual.advance(61_000);
    expect(await adapter.getStatus(remoteId)).toMatchObject({ phase: 'Running', raw: 'uploading' });
    await adapter.cancel(remoteId);
    expect(fake.deletes()).toEqual([{ job_id: remoteId, at: clock.now(), finished: false }]);
    expect(await adapter.getStatus(remoteId)).toMatchObject({ phase: 'Cancelled', raw: 'deleted' });
    await expect(adapter.getResults(remoteId)).rejects.toMatchObject({ kind: 'invalid' });
  });

  test('findByKey answers from the journal across a restart; without one it cannot', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    expect(await newAdapter().findByKey('uid1-3-0', makeShard())).toBe(remoteId);
    expect(await newAdapter(fake.opts.apiKey, memoryJournal()).findByKey('uid1-3-0')).toBeUndefined();
    expect(adapter.capabilities().findByKey).toBe('process');
    fake.vanish(remoteId);
    expect(await newAdapter().findByKey('uid1-3-0')).toBeUndefined();
  });

  test('429 "Daily job quota exceeded" (no Retry-After) is a quota until 00:00 UTC; Retry-After is a rate limit; GETs wait it out', async () => {
    for (let i = 0; i < 5; i++) await adapter.submit(makeShard({ shardIndex: i }), { idempotencyKey: `uid1-${i}-0` });
    clock.manual.advance(3_600_000);
    const quota = await thrown(() => adapter.submit(makeShard(), { idempotencyKey: 'uid1-9-0' }));
    expect(quota).toBeInstanceOf(QuotaExceededError);
    // The fake clock is 2026-06-01T01:00Z: the count restarts in 23 hours.
    expect(quota).toMatchObject({ kind: 'rateLimited', status: 429, retryAfterMs: 23 * 3_600_000, message: expect.stringContaining('Daily job quota exceeded') });
    expect((quota as QuotaExceededError).resetsAt.toISOString()).toBe('2026-06-02T00:00:00.000Z');
    clock.manual.advance(23 * 3_600_000);
    expect((await adapter.submit(makeShard(), { idempotencyKey: 'uid1-9-0' })).remoteId).toMatch(/^[0-9a-f-]{36}$/);

    fake.inject({ kind: 'rateLimit', retryAfterSec: 4, count: 1, match: { method: 'POST' } });
    const limited = await thrown(() => adapter.submit(makeShard(), { idempotencyKey: 'uid1-8-0' }));
    expect(limited).not.toBeInstanceOf(QuotaExceededError);
    expect(limited).toMatchObject({ kind: 'rateLimited', retryAfterMs: 4_000 });

    const id = fake.jobs().at(-1)!.id;
    fake.inject({ kind: 'rateLimit', retryAfterSec: 2, count: 1, match: { method: 'GET' } });
    expect((await adapter.getStatus(id)).phase).toBe('Pending');
    expect(clock.sleeps).toEqual([2_000]);
  });

  test('5xx on GET is retried, never on POST; a hung GET times out and is retried', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    fake.inject({ kind: 'status', status: 502, count: 2, match: { method: 'GET' } });
    expect((await adapter.getStatus(remoteId)).phase).toBe('Pending');
    expect(clock.sleeps).toEqual([200, 400]);
    fake.inject({ kind: 'status', status: 503, count: 1, match: { method: 'POST' } });
    expect(await thrown(() => adapter.submit(makeShard(), { idempotencyKey: 'uid1-4-0' }))).toMatchObject({ kind: 'transient', status: 503 });
    expect(fake.submissionsFor('uid1-4-0')).toBe(0);

    const quick = new ChutesAdapter({ endpoint: fake.url, credentials: { apiKey: fake.opts.apiKey }, clock, timeoutMs: 150, options: { chuteId: CHUTE } });
    fake.inject({ kind: 'hang', count: 1, match: { method: 'GET' } });
    expect((await quick.getStatus(remoteId)).phase).toBe('Pending');
  });

  test('vanished jobs are notFound; a failed job answers 500 and is Failed once the API is otherwise up; partial uploads are Failed', async () => {
    const a = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-1-0' });
    fake.vanish(a.remoteId);
    expect(await thrown(() => adapter.getStatus(a.remoteId))).toMatchObject({ kind: 'notFound', status: 404 });

    const b = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-2-0' });
    fake.failJob(b.remoteId, 'CUDA error: out of memory');
    clock.manual.advance(70_000);
    const raw = await fetch(`${fake.url}/jobs/${b.remoteId}`, { headers: { authorization: `Bearer ${fake.opts.apiKey}` } });
    expect([raw.status, await raw.text()]).toEqual([500, 'Internal Server Error']);
    for (let i = 1; i < 3; i++) expect(await thrown(() => adapter.getStatus(b.remoteId))).toMatchObject({ kind: 'transient', status: 500 });
    expect(await adapter.getStatus(b.remoteId)).toMatchObject({ phase: 'Failed', raw: 'unreadable' });
    // Still found under its key, never deleted, no results.
    expect(await adapter.findByKey('uid1-2-0')).toBe(b.remoteId);
    await adapter.cancel(b.remoteId);
    expect(fake.deletes()).toEqual([]);
    await expect(adapter.getResults(b.remoteId)).rejects.toMatchObject({ kind: 'transient' });

    const c = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    fake.failUploads(c.remoteId);
    clock.manual.advance(140_000);
    expect(await adapter.getStatus(c.remoteId)).toMatchObject({ phase: 'Failed', raw: 'finished', message: 'Failed to upload files: shard-3.png' });
    await expect(adapter.getResults(c.remoteId)).rejects.toMatchObject({ kind: 'invalid' });
  });

  test('a 500 on every route is an outage, not a failed job', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    fake.inject({ kind: 'status', status: 502, count: 40 });
    for (let i = 0; i < 5; i++) expect(await thrown(() => adapter.getStatus(remoteId))).toMatchObject({ kind: 'transient', status: 502 });
    fake.server.clearFaults();
    expect((await adapter.getStatus(remoteId)).phase).toBe('Pending');
  });

  test('a corrupted result is caught: downloaded bytes do not hash as reported', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    fake.corruptResult(remoteId);
    clock.manual.advance(70_000);
    const results = await adapter.getResults(remoteId);
    if (!results.supported) throw new Error('expected results');
    expect(results.integrity).toBe('mismatch');
    expect(results.mismatches).toHaveLength(1);
  });

  test('invalid requests: bad disk size, unknown chute, too many GPUs, non-object body', async () => {
    const disk = new ChutesAdapter({ endpoint: fake.url, credentials: { apiKey: fake.opts.apiKey }, clock, options: { chuteId: CHUTE, diskGb: 5 } });
    expect(await thrown(() => disk.submit(makeShard(), { idempotencyKey: 'uid1-3-0' }))).toMatchObject({ kind: 'invalid', status: 400, message: expect.stringContaining('Invalid disk size') });
    const unknown = new ChutesAdapter({ endpoint: fake.url, credentials: { apiKey: fake.opts.apiKey }, clock, options: { chuteId: 'nope' } });
    expect(await thrown(() => unknown.submit(makeShard(), { idempotencyKey: 'uid1-3-0' }))).toMatchObject({ kind: 'invalid', status: 404 });
    expect(await thrown(() => adapter.submit(makeShard({ gpuCount: 2 }), { idempotencyKey: 'uid1-3-0' }))).toMatchObject({ kind: 'invalid' });
    const res = await fetch(`${fake.url}/jobs/${CHUTE}/render`, { method: 'POST', headers: { authorization: `Bearer ${fake.opts.apiKey}`, 'content-type': 'application/json' }, body: '[1,2]' });
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({ detail: [{ loc: ['body'], msg: 'Input should be a valid dictionary', type: 'dict_type' }] });
  });

  test('credentials never appear in errors', async () => {
    const wrong = newAdapter('cpk_wrong_key_123456');
    const denied = await thrown(() => wrong.submit(makeShard(), { idempotencyKey: 'uid1-3-0' }));
    expect(denied).toMatchObject({ kind: 'auth', status: 401 });
    expect((denied as Error).message).not.toContain('cpk_wrong_key_123456');
    fake.inject({ kind: 'status', status: 500, count: 4, body: { detail: `token ${fake.opts.apiKey} exploded` } });
    const echoed = await thrown(() => adapter.getStatus('5f3a1c2e-0000-4000-8000-000000000000'));
    expect((echoed as Error).message).toContain('[redacted]');
    expect((echoed as Error).message).not.toContain(fake.opts.apiKey);
  });

  async function complete(shard = settledShard(), before?: (id: string) => void): Promise<{ id: string; results: ResultSet }> {
    const { remoteId } = await adapter.submit(shard, { idempotencyKey: 'uid1-3-0' });
    // One look while a miner's instance runs it: the adapter reads when the instance started.
    clock.manual.advance(5_000);
    expect((await adapter.getStatus(remoteId)).phase).toBe('Running');
    return { id: remoteId, results: await resultsAfter(adapter, clock, remoteId, 62_000, before) };
  }

  async function download(id: string, results: ResultSet): Promise<Buffer> {
    const fileId = /files\/([^/]+)$/.exec(results.outputs[0]!.uri)![1]!;
    const res = await fetch(`${fake.url}/jobs/${id}/download/${fileId}`, { headers: { authorization: `Bearer ${fake.opts.apiKey}` } });
    return Buffer.from(await res.arrayBuffer());
  }

  test('the payout key is a derived test key, distinct per fake', () => {
    expectDerivedPayoutKey(fake, 'chutes', '0xc206dA590239a648E4FA62ef96834E2A58B9FfB6');
  });

  test('a settled shard is signed by the payout key, for its job, shard, outputs and metered cost', async () => {
    const { id, results } = await complete();
    expect(results.integrity).toBe('verified');
    // 62 s at $1.86/GPU-hour = $0.032033 = 32033 units of a 6-decimal token.
    const cost = await adapter.getCost(id);
    const signed = expectSettledSigned(results, fake.payoutAddress, cost.usd);
    expect(signed.amountClaimed).toBe('32033');
    // The job's result object carries it next to the outputs, the same on every read.
    const job = (await (await fetch(`${fake.url}/jobs/${id}`, { headers: { authorization: `Bearer ${fake.opts.apiKey}` } })).json()) as { result: { signed?: unknown } };
    expect(job.result.signed).toEqual(signed);
  });

  test('without the settlement env a result is not signed; the seed makes the bytes the test render', async () => {
    const { id, results } = await complete(makeShard({ env: [{ name: 'ATELIER_TEST_RENDER_SEED', value: TEST_SEED }] }));
    expect(results.signed).toBeUndefined();
    expect(await download(id, results)).toEqual(testRenderContent(TEST_SEED, 3));
    expect(results.outputs[0]!.sha256).toBe(sha256Hex(testRenderContent(TEST_SEED, 3)));
  });

  test('wrong: the download hashes as reported and is signed, but is not the test render', async () => {
    const { id, results } = await complete(settledShard(), (jobId) => expect(fake.jobAction(jobId, 'wrong')).toBe(true));
    expect(results.integrity).toBe('verified');
    expectWrongRender(await download(id, results), results, fake.payoutAddress);
  });

  test('everyJob makes every new job wrong; the admin route sets and clears it', async () => {
    expect((await fetch(`${fake.url}/_fake/every-job/wrong`, { method: 'POST' })).status).toBe(204);
    const { id, results } = await complete();
    expect((await download(id, results)).toString()).toContain(WRONG_RENDER_SUFFIX);
    expect((await fetch(`${fake.url}/_fake/every-job`, { method: 'DELETE' })).status).toBe(204);
    expect(fake.opts.everyJob).toBeUndefined();
  });

  test('a 402 from the provider is an InsufficientFundsError, not retried', async () => {
    fake.inject({ kind: 'status', status: 402, count: 1, match: { method: 'POST' } });
    const err = await thrown(() => adapter.submit(makeShard(), { idempotencyKey: 'uid1-7-0' }));
    expect(err).toBeInstanceOf(InsufficientFundsError);
    expect(err).toMatchObject({ provider: 'bittensor', kind: 'insufficientFunds', status: 402, retryable: false });
    expect(fake.submissionsFor('uid1-7-0')).toBe(0);
  });
});
