// The Nosana adapter against its contract fake (test/fakes/nosana.ts): a shard as a SIMPLE
// deployment with autostart, STARTING -> RUNNING (job QUEUED -> RUNNING -> COMPLETED) -> STOPPED,
// results from the job's FlowState logs, cost per second from the job's timeStart/timeEnd, findByKey
// through the manager's idempotency_key (after a restart, and after a lost answer: the repeat gets
// 409 and is resolved to the first deployment), cancel through /stop (quiet the second time, refused
// while STARTING), an empty vault, and signed, seeded and wrong results.

import { NosanaAdapter, nosanaOptions } from '../../operator/src/providers/nosana/adapter.js';
import { sha256Hex, verifyOutputs } from '../../operator/src/providers/results.js';
import type { ResultSet } from '../../operator/src/providers/types.js';
import { MARKET_4090, MARKET_H100, NosanaFake } from './nosana.js';
import { testRenderContent } from './server.js';
import { TEST_SEED, expectDerivedPayoutKey, expectSettledSigned, expectWrongRender, makeShard, recordingClock, resultsAfter, settledShard, thrown } from './testkit.js';
import type { RecordingClock } from './testkit.js';

const OPTIONS = { markets: { 'nvidia-h100': MARKET_H100, 'nvidia-rtx-4090': MARKET_4090 }, prices: { 'nvidia-h100': '1.90', 'nvidia-rtx-4090': '0.40' } };

describe('Nosana adapter against the deployment manager fake', () => {
  let fake: NosanaFake;
  let clock: RecordingClock;
  let adapter: NosanaAdapter;

  const newAdapter = (apiKey = fake.opts.apiKey): NosanaAdapter => new NosanaAdapter({ endpoint: fake.url, credentials: { apiKey }, clock, timeoutMs: 2_000, options: OPTIONS });

  beforeEach(async () => {
    clock = recordingClock();
    fake = new NosanaFake({ clock: clock.manual, markets: { [MARKET_H100]: 1, [MARKET_4090]: 4 } });
    await fake.start();
    adapter = newAdapter();
  });

  afterEach(async () => {
    await fake.stop();
  });

  test('ComputeProvider options: market.<gpu> strings and timeout minutes as text', () => {
    expect(nosanaOptions({ 'market.nvidia-h100': 'M1', prices: { 'nvidia-h100': '2' }, timeoutMinutes: '30' })).toEqual({ markets: { 'nvidia-h100': 'M1' }, prices: { 'nvidia-h100': '2' }, timeoutMinutes: 30 });
    expect(nosanaOptions({ timeoutMinutes: 'soon' }).timeoutMinutes).toBe(240);
  });

  test('offers are the configured market prices, one GPU per job', async () => {
    expect(await adapter.listOffers({ gpuCount: 1 })).toEqual([
      { offerId: `nosana:${MARKET_4090}`, gpuModel: 'nvidia-rtx-4090', gpuCount: 1, usdPerGpuHour: '0.40', rawPrice: '0.40', rawUnit: expect.stringContaining('market') },
      { offerId: `nosana:${MARKET_H100}`, gpuModel: 'nvidia-h100', gpuCount: 1, usdPerGpuHour: '1.90', rawPrice: '1.90', rawUnit: expect.stringContaining('market') },
    ]);
    expect(await adapter.listOffers({ gpuCount: 2 })).toEqual([]);
    expect((await adapter.listOffers({ gpuCount: 1, maxUsdPerGpuHour: '1' })).map((o) => o.gpuModel)).toEqual(['nvidia-rtx-4090']);
  });

  test('submit -> Pending -> Running -> Succeeded; results from the job logs; cost per second of the job', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0', maxUsdPerHour: '2.00' });
    expect(await adapter.getStatus(remoteId)).toEqual({ phase: 'Pending', raw: 'STARTING' });
    clock.manual.advance(2_000);
    expect(await adapter.getStatus(remoteId)).toMatchObject({ phase: 'Pending', raw: 'RUNNING/QUEUED' });
    clock.manual.advance(5_000);
    const running = await adapter.getStatus(remoteId);
    expect(running).toMatchObject({ phase: 'Running', raw: 'RUNNING/RUNNING' });
    expect(running.startedAt?.getTime()).toBe(clock.now());
    expect(fake.running()).toBe(1);
    clock.manual.advance(30_000);
    expect(await adapter.getCost(remoteId)).toMatchObject({ seconds: 30, basis: 'estimated' });
    clock.manual.advance(30_000);
    const done = await adapter.getStatus(remoteId);
    expect(done).toMatchObject({ phase: 'Succeeded', raw: 'STOPPED/COMPLETED' });
    expect(done.endedAt!.getTime() - done.startedAt!.getTime()).toBe(60_000);
    const results = await adapter.getResults(remoteId);
    if (!results.supported) throw new Error('expected results');
    expect(await verifyOutputs(results.outputs, async (uri) => fake.readObject(uri) ?? new Uint8Array())).toEqual([]);
    expect((await adapter.logs(remoteId, { tail: 1 }))[0]).toMatch(/^ATELIER_RESULT /);
    // 60 s at $1.90/h = $0.031666… -> 0.031667, exactly what the fake metered.
    expect(await adapter.getCost(remoteId)).toEqual({ amount: '0.031667', currency: 'USD', usd: '0.031667', basis: 'estimated', seconds: 60 });
    expect(fake.meteredUsd(remoteId)).toBe('0.031667');
    expect(fake.running()).toBe(0);
  });

  test('the deployment sent is SIMPLE, one replica, autostart, the key as idempotency_key, a valid container/run', async () => {
    const job = adapter.jobDefinition(makeShard(), 'uid1-3-0');
    expect(job.ops).toHaveLength(1);
    expect(job.ops[0]).toMatchObject({ type: 'container/run', id: 'shard', args: { image: 'ghcr.io/acme/sdxl-batch:1.4', gpu: true, cmd: ['python', 'render.py', '--steps', '30'] } });
    expect((job.ops[0]!.args as { env: Record<string, string> }).env).toMatchObject({ ATELIER_IDEMPOTENCY_KEY: 'uid1-3-0', ATELIER_SHARD_INDEX: '3', PROMPT: 'a glass atrium at dusk' });
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0', maxDurationSec: 90 });
    expect(fake.jobs()).toEqual([{ id: remoteId, key: 'uid1-3-0', status: 'STARTING', market: MARKET_H100 }]);
    expect(fake.submissionCounts()).toEqual({ 'uid1-3-0': 1 });
  });

  test('findByKey asks the provider: after a restart, and when the create answer was lost (409 -> the first one)', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    await adapter.submit(makeShard({ shardIndex: 4 }), { idempotencyKey: 'uid1-4-0' });
    const restarted = newAdapter();
    expect(await restarted.findByKey('uid1-3-0')).toBe(remoteId);
    expect(await restarted.findByKey('uid1-9-0')).toBeUndefined();
    // A second create with the same key is refused by the manager; the adapter answers the first.
    expect(await restarted.submit(makeShard(), { idempotencyKey: 'uid1-3-0' })).toEqual({ remoteId });
    expect(fake.submissionCounts()).toEqual({ 'uid1-3-0': 1, 'uid1-4-0': 1 });
    expect(fake.server.requests.filter((r) => r.path === '/deployments/create').map((r) => r.status)).toEqual([200, 200, 409]);
  });

  test('cancel stops a running deployment once; refused while STARTING; quiet on a stopped one', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    expect(await thrown(() => adapter.cancel(remoteId))).toMatchObject({ kind: 'transient', message: expect.stringContaining('STARTING') });
    clock.manual.advance(10_000);
    await adapter.cancel(remoteId);
    expect(await adapter.getStatus(remoteId)).toMatchObject({ phase: 'Running', raw: 'STOPPING/RUNNING', message: 'stop requested' });
    await adapter.cancel(remoteId);
    clock.manual.advance(2_000);
    expect(await adapter.getStatus(remoteId)).toMatchObject({ phase: 'Cancelled', raw: 'STOPPED/STOPPED' });
    await adapter.cancel(remoteId);
    expect(fake.server.requests.filter((r) => r.path.endsWith('/stop'))).toEqual([{ method: 'POST', path: `/deployments/${remoteId}/stop`, status: 200 }]);
    // 3 s on a node before the stop took effect: billed for those.
    expect((await adapter.getCost(remoteId)).seconds).toBe(5);
    await expect(adapter.getResults(remoteId)).rejects.toMatchObject({ kind: 'invalid' });
  });

  test('a full market keeps the next job QUEUED until its node frees', async () => {
    const a = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-1-0' });
    const b = await adapter.submit(makeShard({ shardIndex: 4 }), { idempotencyKey: 'uid1-2-0' });
    clock.manual.advance(10_000);
    expect((await adapter.getStatus(a.remoteId)).phase).toBe('Running');
    expect(await adapter.getStatus(b.remoteId)).toMatchObject({ phase: 'Pending', raw: 'RUNNING/QUEUED' });
    clock.manual.advance(60_000);
    expect((await adapter.getStatus(a.remoteId)).phase).toBe('Succeeded');
    expect((await adapter.getStatus(b.remoteId)).phase).toBe('Running');
  });

  test('an empty vault: INSUFFICIENT_FUNDS fails the attempt and can still be stopped', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    expect(fake.jobAction(remoteId, 'unfunded')).toBe(true);
    clock.manual.advance(3_000);
    expect(await adapter.getStatus(remoteId)).toEqual({ phase: 'Failed', raw: 'INSUFFICIENT_FUNDS', message: expect.stringContaining('out of funds') });
    await adapter.cancel(remoteId);
    clock.manual.advance(2_000);
    expect(await adapter.getStatus(remoteId)).toMatchObject({ phase: 'Cancelled', raw: 'STOPPED' });
    expect(fake.running()).toBe(0);
  });

  test('a failing job and a job stopped at the deployment timeout end Failed', async () => {
    const a = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    fake.failJob(a.remoteId);
    clock.manual.advance(80_000);
    expect(await adapter.getStatus(a.remoteId)).toMatchObject({ phase: 'Failed', raw: 'STOPPED/COMPLETED', message: 'container exited with code 1' });
    await expect(adapter.getResults(a.remoteId)).rejects.toMatchObject({ kind: 'fatal' });
    fake.opts.jobDurationMs = 120_000;
    const b = await adapter.submit(makeShard({ gpuModels: ['nvidia-rtx-4090'] }), { idempotencyKey: 'uid1-4-0', maxDurationSec: 60 });
    clock.manual.advance(200_000);
    expect(await adapter.getStatus(b.remoteId)).toMatchObject({ phase: 'Failed', raw: 'STOPPED/STOPPED', message: expect.stringContaining('timeout') });
  });

  test('errors: unknown key 401 without echoing it, vanished deployment 404, invalid requests, 5xx retried on reads only', async () => {
    const denied = await thrown(() => newAdapter('nos_wrong_key_value').findByKey('uid1-0-0'));
    expect(denied).toMatchObject({ kind: 'auth', status: 401 });
    expect((denied as Error).message).not.toContain('nos_wrong_key_value');
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    fake.inject({ kind: 'status', status: 503, count: 2, match: { method: 'GET' } });
    expect((await adapter.getStatus(remoteId)).phase).toBe('Pending');
    expect(clock.sleeps).toEqual([200, 400]);
    fake.inject({ kind: 'status', status: 500, count: 1, match: { method: 'POST' } });
    expect(await thrown(() => adapter.submit(makeShard(), { idempotencyKey: 'uid1-4-0' }))).toMatchObject({ kind: 'transient', status: 500 });
    expect(fake.submissionsFor('uid1-4-0')).toBe(0);
    fake.vanish(remoteId);
    expect(await thrown(() => adapter.getStatus(remoteId))).toMatchObject({ kind: 'notFound', status: 404 });
    await expect(adapter.cancel(remoteId)).resolves.toBeUndefined();
    expect(await thrown(() => adapter.submit(makeShard({ gpuModels: ['nvidia-b200'] }), { idempotencyKey: 'uid1-5-0' }))).toMatchObject({ kind: 'invalid' });
    expect(await thrown(() => adapter.submit(makeShard({ gpuCount: 2 }), { idempotencyKey: 'uid1-5-0' }))).toMatchObject({ kind: 'invalid' });
    expect(await thrown(() => adapter.submit(makeShard(), { idempotencyKey: 'uid1-5-0', maxUsdPerHour: '1.00' }))).toMatchObject({ kind: 'invalid' });
    expect(await thrown(() => adapter.getStatus('../etc'))).toMatchObject({ kind: 'invalid' });
  });

  test('a 402 from the API is an InsufficientFundsError, not a transient error', async () => {
    fake.inject({ kind: 'status', status: 402, count: 1, body: { error: 'Insufficient credits.' } });
    const e = await thrown(() => adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' }));
    expect(e).toMatchObject({ name: 'InsufficientFundsError', status: 402, retryable: false, message: expect.stringContaining('Insufficient credits') });
  });

  async function completed(shard = settledShard(), before?: (id: string) => void): Promise<{ id: string; results: ResultSet }> {
    const { remoteId } = await adapter.submit(shard, { idempotencyKey: 'uid1-3-0' });
    return { id: remoteId, results: await resultsAfter(adapter, clock, remoteId, 80_000, before) };
  }

  test('the payout key is a derived test key', () => {
    expectDerivedPayoutKey(fake, 'nosana', '0xfDC67618739f156591fAE42cf3743B7Bf2131D21');
  });

  test('a settled shard is signed for its job, shard, outputs and the metered cost; the seed gives the test render', async () => {
    const { id, results } = await completed();
    const cost = await adapter.getCost(id);
    expect(cost.usd).toBe(fake.meteredUsd(id));
    const signed = expectSettledSigned(results, fake.payoutAddress, cost.usd);
    expect(signed.amountClaimed).toBe('31667');
    expect(fake.readObject(results.outputs[0]!.uri)).toEqual(testRenderContent(TEST_SEED, 3));
    expect(results.outputs[0]!.sha256).toBe(sha256Hex(testRenderContent(TEST_SEED, 3)));
  });

  test('wrong and corrupt results are told apart', async () => {
    const { results } = await completed(settledShard(), (id) => expect(fake.jobAction(id, 'wrong')).toBe(true));
    expectWrongRender(fake.readObject(results.outputs[0]!.uri), results, fake.payoutAddress);
    const c = await adapter.submit(makeShard({ shardIndex: 5 }), { idempotencyKey: 'uid1-5-0' });
    fake.corruptResult(c.remoteId);
    clock.manual.advance(200_000);
    const r = await adapter.getResults(c.remoteId);
    if (!r.supported) throw new Error('expected results');
    expect(await verifyOutputs(r.outputs, async (uri) => fake.readObject(uri) ?? new Uint8Array())).toHaveLength(1);
  });
});
