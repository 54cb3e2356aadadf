// The Vast.ai adapter against its contract fake (test/fakes/vastai.ts): offers from /bundles/ with
// the CLI's default filters, a shard as an instance rented with PUT /asks/{id}/ and labelled with its
// key, null -> loading -> running -> exited, results and status from the container log (request_logs
// -> result_url, fetched without credentials), cost per second at dph_total over uptime_mins,
// findByKey by label after a restart, destroy as cancel (quiet the second time), a 402 on an empty
// balance, and signed, seeded and wrong results.

import { VastAdapter, vastGpuNames, vastOptions } from '../../operator/src/providers/vastai/adapter.js';
import { sha256Hex, verifyOutputs } from '../../operator/src/providers/results.js';
import type { FetchLike, ResultSet } from '../../operator/src/providers/types.js';
import { testRenderContent } from './server.js';
import { TEST_SEED, expectDerivedPayoutKey, expectSettledSigned, expectWrongRender, makeShard, recordingClock, resultsAfter, settledShard, thrown } from './testkit.js';
import type { RecordingClock } from './testkit.js';
import { VastFake } from './vastai.js';

describe('Vast.ai adapter against the CLI-API fake', () => {
  let fake: VastFake;
  let clock: RecordingClock;
  let adapter: VastAdapter;
  let sent: { url: string; authorization?: string }[];

  const newAdapter = (apiKey = fake.opts.apiKey): VastAdapter => {
    const spy: FetchLike = (input, init) => {
      sent.push({ url: input, ...(init?.headers && (init.headers as Record<string, string>).authorization ? { authorization: (init.headers as Record<string, string>).authorization } : {}) });
      return fetch(input, init);
    };
    return new VastAdapter({ endpoint: fake.url, credentials: { apiKey }, clock, fetch: spy, timeoutMs: 2_000 });
  };

  beforeEach(async () => {
    clock = recordingClock();
    sent = [];
    fake = new VastFake({ clock: clock.manual });
    await fake.start();
    adapter = newAdapter();
  });

  afterEach(async () => {
    await fake.stop();
  });

  test('GPU names and options as the ComputeProvider gives them', () => {
    expect(vastGpuNames('nvidia-h100')).toEqual(['H100 SXM', 'H100 PCIE', 'H100 NVL']);
    expect(vastGpuNames('nvidia-b200')).toEqual(['B200']);
    expect(vastGpuNames('nvidia-h100', { 'nvidia-h100': ['H100 NVL'] })).toEqual(['H100 NVL']);
    expect(vastOptions({ diskGb: '40', 'gpuName.nvidia-l4': 'L4, L4 PCIE' })).toMatchObject({ diskGb: 40, gpuNames: { 'nvidia-l4': ['L4', 'L4 PCIE'] } });
  });

  test('offers: cheapest first, per GPU-hour from dph_total, capped by the price limit', async () => {
    const offers = await adapter.listOffers({ gpuCount: 1, gpuModels: ['nvidia-h100', 'nvidia-rtx-4090'] });
    expect(offers).toHaveLength(16);
    expect(offers[0]).toEqual({ offerId: 'vastai:5000200', gpuModel: 'nvidia-rtx-4090', gpuCount: 1, usdPerGpuHour: '0.35', rawPrice: '0.35', rawUnit: expect.stringContaining('dph_total') });
    expect(offers[8]).toMatchObject({ offerId: 'vastai:5000100', gpuModel: 'nvidia-h100', usdPerGpuHour: '2.10' });
    expect((await adapter.listOffers({ gpuCount: 1, gpuModels: ['nvidia-h100'], maxUsdPerGpuHour: '2.12' })).map((o) => o.offerId)).toEqual(['vastai:5000100', 'vastai:5000101', 'vastai:5000102']);
    expect(await adapter.listOffers({ gpuCount: 2, gpuModels: ['nvidia-h100'] })).toEqual([]);
  });

  test('submit rents the cheapest offer with the key in the label; null -> loading -> running -> exited; cost at dph_total per second', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0', maxUsdPerHour: '2.50' });
    expect(fake.jobs()).toEqual([{ id: remoteId, key: 'uid1-3-0', status: 'null', destroyed: false, offer: 5_000_100 }]);
    expect(await adapter.getStatus(remoteId)).toEqual({ phase: 'Pending', raw: 'null' });
    clock.manual.advance(2_000);
    expect(await adapter.getStatus(remoteId)).toEqual({ phase: 'Provisioning', raw: 'loading' });
    clock.manual.advance(8_000);
    expect(await adapter.getStatus(remoteId)).toMatchObject({ phase: 'Running', raw: 'running' });
    expect(fake.running()).toBe(1);
    clock.manual.advance(60_000);
    expect(await adapter.getStatus(remoteId)).toMatchObject({ phase: 'Succeeded', raw: 'exited' });
    const results = await adapter.getResults(remoteId);
    if (!results.supported) throw new Error('expected results');
    expect(await verifyOutputs(results.outputs, async (uri) => fake.readObject(uri) ?? new Uint8Array())).toEqual([]);
    // 60 s at $2.10/h = $0.035, exactly what the fake metered.
    expect(await adapter.getCost(remoteId)).toEqual({ amount: '0.035', currency: 'USD', usd: '0.035', basis: 'estimated', seconds: 60 });
    expect(fake.meteredUsd(remoteId)).toBe('0.035');
    // The presigned log URL never gets the API key.
    const logFetches = sent.filter((s) => s.url.includes('/_logs/'));
    expect(logFetches.length).toBeGreaterThan(0);
    expect(logFetches.every((s) => s.authorization === undefined)).toBe(true);
    expect(sent.filter((s) => s.url.includes('/api/')).every((s) => s.authorization === `Bearer ${fake.opts.apiKey}`)).toBe(true);
    // An exited instance still exists (and keeps its disk) until destroyed: the adapter says so.
    expect(adapter.capabilities()).toMatchObject({ endsByItself: false, findByKey: 'remote', billing: 'perSecond' });
    await adapter.cancel(remoteId);
    expect(fake.jobs()[0]).toMatchObject({ destroyed: true });
    expect(await thrown(() => adapter.getStatus(remoteId))).toMatchObject({ kind: 'notFound' });
  });

  test('a rented offer goes to the next; a price ceiling below every offer is invalid', async () => {
    const a = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-1-0' });
    const b = await adapter.submit(makeShard({ shardIndex: 4 }), { idempotencyKey: 'uid1-2-0' });
    expect(fake.jobs().map((j) => [j.id, j.offer])).toEqual([[a.remoteId, 5_000_100], [b.remoteId, 5_000_101]]);
    expect(await thrown(() => adapter.submit(makeShard({ shardIndex: 5 }), { idempotencyKey: 'uid1-5-0', maxUsdPerHour: '2.00' }))).toMatchObject({ kind: 'invalid' });
    // The offer chosen by the planner is rented as given; taken already, the provider refuses it.
    expect(await thrown(() => adapter.submit(makeShard({ shardIndex: 6 }), { idempotencyKey: 'uid1-6-0', offerId: 'vastai:5000100' }))).toMatchObject({ kind: 'invalid', status: 400 });
  });

  test('findByKey reads the label from the instances list, after a restart', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    await adapter.submit(makeShard({ shardIndex: 4 }), { idempotencyKey: 'uid1-4-0' });
    const restarted = newAdapter();
    expect(await restarted.findByKey('uid1-3-0')).toBe(remoteId);
    expect(await restarted.findByKey('uid1-9-0')).toBeUndefined();
    expect(fake.submissionCounts()).toEqual({ 'uid1-3-0': 1, 'uid1-4-0': 1 });
  });

  test('cancel destroys once; a second cancel is quiet; a vanished instance is notFound', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    clock.manual.advance(20_000);
    await adapter.cancel(remoteId);
    await adapter.cancel(remoteId);
    expect(fake.server.requests.filter((r) => r.method === 'DELETE')).toHaveLength(1);
    expect(fake.running()).toBe(0);
    // Billed for the 10 s it ran before the destroy.
    expect(fake.runSeconds(remoteId)).toBe(10);
    const other = await adapter.submit(makeShard({ shardIndex: 4 }), { idempotencyKey: 'uid1-4-0' });
    fake.vanish(other.remoteId);
    expect(await thrown(() => adapter.getStatus(other.remoteId))).toMatchObject({ kind: 'notFound', status: 404 });
    await expect(adapter.cancel(other.remoteId)).resolves.toBeUndefined();
  });

  test('a failing container exits Failed with its status message', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    fake.failJob(remoteId);
    clock.manual.advance(80_000);
    expect(await adapter.getStatus(remoteId)).toEqual({ phase: 'Failed', raw: 'exited', message: 'Exited (1)' });
    await expect(adapter.getResults(remoteId)).rejects.toMatchObject({ kind: 'fatal' });
  });

  test('an empty balance answers 402: an InsufficientFundsError, the create not made', async () => {
    const broke = new VastFake({ clock: clock.manual, creditUsd: '0' });
    await broke.start();
    try {
      const a = new VastAdapter({ endpoint: broke.url, credentials: { apiKey: broke.opts.apiKey }, clock, timeoutMs: 2_000 });
      const e = await thrown(() => a.submit(makeShard(), { idempotencyKey: 'uid1-3-0' }));
      expect(e).toMatchObject({ name: 'InsufficientFundsError', provider: 'vastai', status: 402, retryable: false, message: expect.stringContaining('balance') });
      expect(broke.submissionCounts()).toEqual({});
    } finally {
      await broke.stop();
    }
  });

  test('auth errors never echo the key; 429 on a read is waited out, on the create it is returned', async () => {
    const denied = await thrown(() => newAdapter('vast_wrong_key_123').findByKey('uid1-0-0'));
    expect(denied).toMatchObject({ kind: 'auth', status: 401, message: expect.stringContaining('Invalid user key') });
    expect((denied as Error).message).not.toContain('vast_wrong_key_123');
    fake.inject({ kind: 'rateLimit', retryAfterSec: 2, count: 1, match: { method: 'PUT', path: '/asks/' } });
    expect(await thrown(() => adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' }))).toMatchObject({ kind: 'rateLimited', retryAfterMs: 2_000 });
    expect(fake.submissionsFor('uid1-3-0')).toBe(0);
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    fake.inject({ kind: 'rateLimit', retryAfterSec: 1, count: 1, match: { method: 'GET' } });
    expect((await adapter.getStatus(remoteId)).phase).toBe('Pending');
    expect(clock.sleeps).toEqual([1_000]);
    expect(await thrown(() => adapter.getStatus('12a'))).toMatchObject({ kind: 'invalid' });
  });

  async function completed(shard = settledShard(), before?: (id: string) => void): Promise<{ id: string; results: ResultSet }> {
    const { remoteId } = await adapter.submit(shard, { idempotencyKey: 'uid1-3-0' });
    return { id: remoteId, results: await resultsAfter(adapter, clock, remoteId, 80_000, before) };
  }

  test('the payout key is a derived test key', () => {
    expectDerivedPayoutKey(fake, 'vastai', '0x81De0357F941bEA7cB1B3368078fAe5748e306B2');
  });

  test('a settled shard is signed for its job, shard, outputs and the metered cost; the seed gives the test render', async () => {
    const { id, results } = await completed();
    const cost = await adapter.getCost(id);
    expect(cost).toMatchObject({ usd: fake.meteredUsd(id), seconds: 60 });
    const signed = expectSettledSigned(results, fake.payoutAddress, cost.usd);
    expect(signed.amountClaimed).toBe('35000');
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
