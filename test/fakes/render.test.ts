// The Render Compute Network adapter against its contract fake (test/fakes/render.ts): signed
// requests accepted, configured prices as offers, the PENDING -> ASSIGNED -> RUNNING -> COMPLETED
// lifecycle with capacity queueing, results from the run logs, times and cost from the job's
// started_at/completed_at (runs carry only uuid, status, started_at_ms, node_urls), status_reason as
// the failure message, idempotent cancel with a reason, the assignment timeout, findByKey after a
// restart (best effort: the list order is not published), and the injected failures the controller must tell apart;
// signed results for settled shards, seeded test renders and consistent-but-wrong renders.

import { RenderAdapter, renderGpuName, splitImage } from '../../operator/src/providers/render/adapter.js';
import { findResultInLog, sha256Hex, verifyOutputs } from '../../operator/src/providers/results.js';
import { InsufficientFundsError } from '../../operator/src/providers/types.js';
import type { ResultSet } from '../../operator/src/providers/types.js';
import { RenderFake } from './render.js';
import { WRONG_RENDER_SUFFIX, testRenderContent, usdToTokenUnits } from './server.js';
import { TEST_SEED, expectDerivedPayoutKey, expectSettledSigned, expectWrongRender, makeShard, recordingClock, resultsAfter, settledShard, thrown } from './testkit.js';
import type { RecordingClock } from './testkit.js';

const PRICES = { 'nvidia-h100': '2.20', 'nvidia-rtx-4090': '0.69' };

describe('Render adapter against the Compute Network fake', () => {
  let fake: RenderFake;
  let clock: RecordingClock;
  let adapter: RenderAdapter;

  const newAdapter = (secretKey = fake.opts.secretKey, skewMs = 0): RenderAdapter =>
    new RenderAdapter({
      endpoint: fake.url,
      credentials: { publicKey: fake.opts.publicKey, secretKey },
      clock: { now: () => clock.now() + skewMs, sleep: clock.sleep },
      timeoutMs: 2_000,
      options: { prices: PRICES },
    });

  beforeEach(async () => {
    clock = recordingClock();
    fake = new RenderFake({ clock: clock.manual, gpus: { 'NVIDIA H100': 1, 'NVIDIA RTX 4090': 8 } });
    await fake.start();
    adapter = newAdapter();
  });

  afterEach(async () => {
    await fake.stop();
  });

  test('GPU names and image references map to the Render job fields', () => {
    expect(renderGpuName('nvidia-rtx-4090')).toBe('NVIDIA RTX 4090');
    expect(renderGpuName('nvidia-a100-80gb')).toBe('NVIDIA A100 80GB');
    expect(renderGpuName('nvidia-h100', { 'nvidia-h100': 'H100 SXM' })).toBe('H100 SXM');
    expect(splitImage('ghcr.io/acme/sdxl-batch:1.4')).toEqual({ image: 'ghcr.io/acme/sdxl-batch', tag: '1.4' });
    expect(splitImage('localhost:5000/render')).toEqual({ image: 'localhost:5000/render', tag: 'latest' });
    expect(splitImage('acme/r@sha256:abc')).toEqual({ image: 'acme/r', tag: 'sha256:abc' });
  });

  test('offers are the configured prices, exact and sorted', async () => {
    expect(await adapter.listOffers({ gpuCount: 1 })).toEqual([
      { offerId: 'render:NVIDIA RTX 4090', gpuModel: 'nvidia-rtx-4090', gpuCount: 1, usdPerGpuHour: '0.69', rawPrice: '0.69', rawUnit: expect.stringContaining('config') },
      { offerId: 'render:NVIDIA H100', gpuModel: 'nvidia-h100', gpuCount: 1, usdPerGpuHour: '2.20', rawPrice: '2.20', rawUnit: expect.stringContaining('config') },
    ]);
    expect((await adapter.listOffers({ gpuCount: 1, maxUsdPerGpuHour: '1' })).map((o) => o.gpuModel)).toEqual(['nvidia-rtx-4090']);
    expect(await adapter.listOffers({ gpuCount: 1, gpuModels: ['nvidia-b200'] })).toEqual([]);
  });

  test('submit -> PENDING -> ASSIGNED -> RUNNING -> COMPLETED, results from the logs, cost from run time', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0', maxUsdPerHour: '2.50' });
    expect(await adapter.getStatus(remoteId)).toEqual({ phase: 'Pending', raw: 'PENDING' });
    clock.manual.advance(10_000);
    expect((await adapter.getStatus(remoteId)).phase).toBe('Provisioning');
    clock.manual.advance(5_000);
    const running = await adapter.getStatus(remoteId);
    expect(running).toMatchObject({ phase: 'Running', raw: 'RUNNING' });
    expect(running.startedAt?.getTime()).toBe(clock.now());
    expect(fake.running()).toBe(1);
    clock.manual.advance(60_000);
    const done = await adapter.getStatus(remoteId);
    expect(done).toMatchObject({ phase: 'Succeeded', raw: 'COMPLETED' });
    expect(done.endedAt!.getTime() - done.startedAt!.getTime()).toBe(60_000);

    const results = await adapter.getResults(remoteId);
    if (!results.supported) throw new Error('expected results');
    expect(results.integrity).toBe('reported');
    expect(await verifyOutputs(results.outputs, async (uri) => fake.readObject(uri) ?? new Uint8Array())).toEqual([]);
    expect((await adapter.logs(remoteId, { tail: 1 }))[0]).toMatch(/^ATELIER_RESULT /);
    // 60 s at $2.20/GPU-hour = $0.036666… -> 0.036667.
    expect(await adapter.getCost(remoteId)).toEqual({ amount: '0.036667', currency: 'USD', usd: '0.036667', basis: 'estimated', seconds: 60 });
    expect(fake.billing()).toEqual([{ uuid: remoteId, key: 'uid1-3-0', seconds: 60, usd: '0.036667' }]);
    expect(fake.running()).toBe(0);
    expect(adapter.capabilities()).toMatchObject({ findByKey: 'bestEffort', maxDuration: 'provider' });
  });

  test('a finished job is read once: results and cost after the poll that saw it end ask the provider nothing', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    clock.manual.advance(75_000);
    const before = fake.server.requests.length;
    expect((await adapter.getStatus(remoteId)).phase).toBe('Succeeded');
    const results = await adapter.getResults(remoteId);
    if (!results.supported) throw new Error('expected results');
    expect(await verifyOutputs(results.outputs, async (uri) => fake.readObject(uri) ?? new Uint8Array())).toEqual([]);
    expect((await adapter.getCost(remoteId)).seconds).toBeGreaterThan(0);
    // The job, its runs and the latest run's logs: once each, by the status poll.
    expect(fake.server.requests.slice(before).map((r) => `${r.method} ${r.path.split('?')[0]!.replace(remoteId, ':id').replace(/job-runs\/[^/]+$/, 'job-runs/:run')}`))
      .toEqual(['GET /v1/jobs/:id', 'GET /v1/job-runs', 'GET /v1/job-runs/:run']);
  });

  test('a job no node takes within max_timeout_assign_ms fails with its status_reason', async () => {
    const slow = new RenderAdapter({ endpoint: fake.url, credentials: { publicKey: fake.opts.publicKey, secretKey: fake.opts.secretKey }, clock, options: { prices: { 'nvidia-h100': '2.20' }, maxAssignMs: 300_000 } });
    const a = await slow.submit(makeShard({ gpuCount: 8 }), { idempotencyKey: 'uid1-1-0' });
    clock.manual.advance(300_001);
    expect(await slow.getStatus(a.remoteId)).toMatchObject({ phase: 'Failed', raw: 'FAILED', message: 'no node assigned within max_timeout_assign_ms' });
    expect(await slow.getCost(a.remoteId)).toMatchObject({ usd: '0.00', seconds: 0 });
  });

  test('a full GPU pool keeps the next job PENDING until capacity frees', async () => {
    const a = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-1-0' });
    const b = await adapter.submit(makeShard({ shardIndex: 4 }), { idempotencyKey: 'uid1-2-0' });
    clock.manual.advance(20_000);
    expect((await adapter.getStatus(a.remoteId)).phase).toBe('Running');
    expect((await adapter.getStatus(b.remoteId)).phase).toBe('Pending');
    expect(fake.running()).toBe(1);
    clock.manual.advance(56_000);
    expect((await adapter.getStatus(a.remoteId)).phase).toBe('Succeeded');
    expect((await adapter.getStatus(b.remoteId)).phase).toBe('Provisioning');
  });

  test('cancel is idempotent and a no-op on finished jobs', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    clock.manual.advance(16_000);
    await adapter.cancel(remoteId);
    expect(await adapter.getStatus(remoteId)).toMatchObject({ phase: 'Running', raw: 'CANCELLING' });
    await adapter.cancel(remoteId);
    clock.manual.advance(2_000);
    expect(await adapter.getStatus(remoteId)).toMatchObject({ phase: 'Cancelled', message: 'cancelled by Atelier' });
    await adapter.cancel(remoteId);
    expect(fake.server.requests.filter((r) => r.method === 'PUT')).toHaveLength(1);

    const other = await adapter.submit(makeShard({ gpuModels: ['nvidia-rtx-4090'] }), { idempotencyKey: 'uid1-4-0' });
    clock.manual.advance(80_000);
    expect((await adapter.getStatus(other.remoteId)).phase).toBe('Succeeded');
    await adapter.cancel(other.remoteId);
    expect(fake.server.requests.filter((r) => r.method === 'PUT')).toHaveLength(1);
  });

  test('findByKey finds an earlier submission after a restart, by job title', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    await adapter.submit(makeShard({ shardIndex: 4 }), { idempotencyKey: 'uid1-4-0' });
    const restarted = newAdapter();
    expect(await restarted.findByKey('uid1-3-0')).toBe(remoteId);
    expect(await restarted.findByKey('uid1-9-0')).toBeUndefined();
    expect(fake.submissionCounts()).toEqual({ 'uid1-3-0': 1, 'uid1-4-0': 1 });
  });

  test('429: rateLimited with Retry-After on POST, waited out on GET', async () => {
    fake.inject({ kind: 'rateLimit', retryAfterSec: 7, count: 1, match: { method: 'POST' } });
    expect(await thrown(() => adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' }))).toMatchObject({ kind: 'rateLimited', retryAfterMs: 7_000 });
    expect(fake.submissionsFor('uid1-3-0')).toBe(0);
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    fake.inject({ kind: 'rateLimit', retryAfterSec: 1, count: 1, match: { method: 'GET' } });
    expect((await adapter.getStatus(remoteId)).phase).toBe('Pending');
    expect(clock.sleeps).toEqual([1_000]);
    fake.inject({ kind: 'rateLimit', retryAfterSec: 60, count: 1, match: { method: 'GET' } });
    expect(await thrown(() => adapter.getStatus(remoteId))).toMatchObject({ kind: 'rateLimited', retryAfterMs: 60_000 });
  });

  test('5xx on GET is retried; on POST it is not', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    fake.inject({ kind: 'status', status: 503, count: 3, match: { method: 'GET' } });
    expect((await adapter.getStatus(remoteId)).phase).toBe('Pending');
    expect(clock.sleeps).toEqual([200, 400, 800]);
    fake.inject({ kind: 'status', status: 500, count: 1, match: { method: 'POST' } });
    expect(await thrown(() => adapter.submit(makeShard(), { idempotencyKey: 'uid1-4-0' }))).toMatchObject({ kind: 'transient', status: 500 });
    expect(fake.submissionsFor('uid1-4-0')).toBe(0);
  });

  test('a vanished job is notFound', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    fake.vanish(remoteId);
    expect(await thrown(() => adapter.getStatus(remoteId))).toMatchObject({ kind: 'notFound', status: 404 });
    await expect(adapter.cancel(remoteId)).resolves.toBeUndefined();
  });

  test('failing jobs and jobs past max_timeout_run_ms end Failed', async () => {
    const a = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    fake.failJob(a.remoteId, 'CUDA out of memory');
    clock.manual.advance(80_000);
    expect(await adapter.getStatus(a.remoteId)).toMatchObject({ phase: 'Failed', raw: 'FAILED', message: 'CUDA out of memory' });
    await expect(adapter.getResults(a.remoteId)).rejects.toMatchObject({ kind: 'invalid' });

    const b = await adapter.submit(makeShard({ gpuModels: ['nvidia-rtx-4090'] }), { idempotencyKey: 'uid1-4-0', maxDurationSec: 30 });
    clock.manual.advance(80_000);
    expect((await adapter.getStatus(b.remoteId)).phase).toBe('Succeeded');
    const c = await adapter.submit(makeShard({ gpuModels: ['nvidia-rtx-4090'] }), { idempotencyKey: 'uid1-5-0', maxDurationSec: 60 });
    fake.opts.jobDurationMs = 120_000;
    clock.manual.advance(200_000);
    expect(await adapter.getStatus(c.remoteId)).toMatchObject({ phase: 'Failed', message: 'run exceeded max_timeout_run_ms' });
  });

  test('a corrupted result is detectable by hashing the output', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    fake.corruptResult(remoteId);
    clock.manual.advance(80_000);
    const results = await adapter.getResults(remoteId);
    if (!results.supported) throw new Error('expected results');
    expect(await verifyOutputs(results.outputs, async (uri) => fake.readObject(uri) ?? new Uint8Array())).toHaveLength(1);
  });

  test('invalid requests are invalid: unknown GPU, price above the ceiling, bad ids', async () => {
    expect(await thrown(() => adapter.submit(makeShard({ gpuModels: ['nvidia-b200'] }), { idempotencyKey: 'uid1-3-0' }))).toMatchObject({ kind: 'invalid', status: 400 });
    expect(await thrown(() => adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0', maxUsdPerHour: '1.00' }))).toMatchObject({ kind: 'invalid' });
    expect(await thrown(() => adapter.getStatus('../etc'))).toMatchObject({ kind: 'invalid' });
  });

  test('bad signatures and skewed clocks are auth errors; secrets never appear in errors', async () => {
    const wrong = newAdapter('sk_wrong_secret_value');
    const denied = await thrown(() => wrong.submit(makeShard(), { idempotencyKey: 'uid1-3-0' }));
    expect(denied).toMatchObject({ kind: 'auth', status: 401, message: expect.stringContaining('Invalid signature') });
    expect((denied as Error).message).not.toContain('sk_wrong_secret_value');
    expect(await thrown(() => newAdapter(fake.opts.secretKey, 10 * 60_000).findByKey('uid1-0-0'))).toMatchObject({ kind: 'auth', message: expect.stringContaining('X-Time') });

    fake.inject({ kind: 'status', status: 400, count: 1, body: { statusCode: 400, error: 'Bad Request', message: `secret ${fake.opts.secretKey} rejected` } });
    const echoed = await thrown(() => adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' }));
    expect((echoed as Error).message).toContain('[redacted]');
    expect((echoed as Error).message).not.toContain(fake.opts.secretKey);
  });

  async function completed(shard = settledShard(), before?: (uuid: string) => void): Promise<{ uuid: string; results: ResultSet }> {
    const { remoteId } = await adapter.submit(shard, { idempotencyKey: 'uid1-3-0' });
    return { uuid: remoteId, results: await resultsAfter(adapter, clock, remoteId, 80_000, before) };
  }

  test('the payout key is a derived test key, distinct per fake', () => {
    expectDerivedPayoutKey(fake, 'render', '0xb0201C306a6044930033fF3266C5855F7b867f29');
  });

  test('a settled shard is signed by the payout key, for its job, shard, outputs and metered cost', async () => {
    const { uuid, results } = await completed();
    // 60 s at $2.20/GPU-hour = $0.036667 = 36667 units of a 6-decimal token (floored).
    const cost = await adapter.getCost(uuid);
    const signed = expectSettledSigned(results, fake.payoutAddress, cost.usd);
    expect(signed.amountClaimed).toBe('36667');
    expect(usdToTokenUnits(cost.usd, 2)).toBe(3n);
    clock.manual.advance(60_000);
    expect(findResultInLog(await adapter.logs(uuid))?.signed).toEqual(signed);
  });

  test('without the settlement env a result is not signed; the seed makes the bytes the test render', async () => {
    const { results } = await completed(makeShard({ env: [{ name: 'ATELIER_TEST_RENDER_SEED', value: TEST_SEED }] }));
    expect(results.signed).toBeUndefined();
    expect(fake.readObject(results.outputs[0]!.uri)).toEqual(testRenderContent(TEST_SEED, 3));
    expect(results.outputs[0]!.sha256).toBe(sha256Hex(testRenderContent(TEST_SEED, 3)));
  });

  test('wrong: bytes that hash as reported and are signed, but are not the test render', async () => {
    const { results } = await completed(settledShard(), (uuid) => expect(fake.jobAction(uuid, 'wrong')).toBe(true));
    const bytes = fake.readObject(results.outputs[0]!.uri);
    expect(await verifyOutputs(results.outputs, async (uri) => fake.readObject(uri) ?? new Uint8Array())).toEqual([]);
    expectWrongRender(bytes, results, fake.payoutAddress);
  });

  test('everyJob makes every new job wrong', async () => {
    const everyWrong = new RenderFake({ clock: clock.manual, everyJob: 'wrong' });
    await everyWrong.start();
    try {
      const a = new RenderAdapter({ endpoint: everyWrong.url, credentials: { publicKey: everyWrong.opts.publicKey, secretKey: everyWrong.opts.secretKey }, clock, timeoutMs: 2_000, options: { prices: PRICES } });
      const { remoteId } = await a.submit(settledShard(), { idempotencyKey: 'uid1-3-0' });
      clock.manual.advance(80_000);
      const results = await a.getResults(remoteId);
      if (!results.supported) throw new Error('expected results');
      expect(everyWrong.readObject(results.outputs[0]!.uri)?.toString()).toContain(WRONG_RENDER_SUFFIX);
    } finally {
      await everyWrong.stop();
    }
  });

  test('a 402 from the provider is an InsufficientFundsError, not retried', async () => {
    fake.inject({ kind: 'status', status: 402, count: 1, match: { method: 'POST' } });
    const err = await thrown(() => adapter.submit(makeShard(), { idempotencyKey: 'uid1-7-0' }));
    expect(err).toBeInstanceOf(InsufficientFundsError);
    expect(err).toMatchObject({ provider: 'render', kind: 'insufficientFunds', status: 402, retryable: false });
    expect(fake.submissionsFor('uid1-7-0')).toBe(0);
  });
});
