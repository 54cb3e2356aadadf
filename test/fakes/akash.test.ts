// The Akash adapter against the Console contract fake (test/fakes/akash.ts): offers and exact price
// normalisation, the bid -> lease -> run -> result -> cost lifecycle on the fake's clock, idempotent
// cancel, findByKey across an operator restart (the deployment hash recomputed from the shard's SDL
// with chain-sdk), lease retries that re-send a lost manifest, prices in uact (micro-USD per block),
// the console's own closing of lease-less deployments, 402 as InsufficientFundsError, and every injected failure the controller must
// tell apart (429, 5xx, hangs, vanished deployments, failed and corrupted shards, bad requests);
// signed results for settled shards, seeded test renders and consistent-but-wrong renders.

import { AkashAdapter } from '../../operator/src/providers/akash/adapter.js';
import { findResultInLog, sha256Hex, verifyOutputs } from '../../operator/src/providers/results.js';
import { InsufficientFundsError, ProviderError } from '../../operator/src/providers/types.js';
import type { ResultSet } from '../../operator/src/providers/types.js';
import { AkashFake } from './akash.js';
import { WRONG_RENDER_SUFFIX, testRenderContent } from './server.js';
import { TEST_SEED, expectDerivedPayoutKey, expectSettledSigned, expectWrongRender, makeShard, recordingClock, resultsAfter, settledShard, thrown } from './testkit.js';
import type { RecordingClock } from './testkit.js';

const CHEAP = 'akash1cheapprovider000000000000000000000000';
const PRICEY = 'akash1priceyprovider00000000000000000000000';

describe('Akash adapter against the Console fake', () => {
  let fake: AkashFake;
  let clock: RecordingClock;
  let adapter: AkashAdapter;

  const newAdapter = (apiKey = fake.opts.apiKey, timeoutMs = 2_000): AkashAdapter =>
    new AkashAdapter({ endpoint: fake.url, credentials: { apiKey }, clock, timeoutMs, options: { usdPerToken: { uakt: '3.00' }, bidTimeoutMs: 120_000, manifestResendMs: 30_000 } });

  beforeEach(async () => {
    clock = recordingClock();
    fake = new AkashFake({
      clock: clock.manual,
      providers: [
        // Cheapest, but full: it never bids.
        { address: CHEAP, gpuModels: ['h100'], pricePerBlock: '1500', capacity: 0, bidDelayMs: 10_000 },
        { address: PRICEY, gpuModels: ['h100', 'a100'], pricePerBlock: '3000', capacity: 4, bidDelayMs: 15_000 },
      ],
    });
    await fake.start();
    adapter = newAdapter();
  });

  afterEach(async () => {
    await fake.stop();
  });

  /** Drives a fresh submission to a running lease. */
  async function leased(key = 'uid1-3-0', shard = makeShard()): Promise<string> {
    const { remoteId } = await adapter.submit(shard, { idempotencyKey: key, maxUsdPerHour: '2.50' });
    clock.manual.advance(15_000);
    expect((await adapter.getStatus(remoteId)).phase).toBe('Provisioning');
    return remoteId;
  }

  test('offers come from /v1/gpu-prices with exact USD and live availability', async () => {
    const offers = await adapter.listOffers({ gpuCount: 1, gpuModels: ['nvidia-h100', 'nvidia-a100-80gb'] });
    expect(offers.map((o) => [o.gpuModel, o.usdPerGpuHour, o.rawPrice, o.available])).toEqual([
      ['nvidia-a100-80gb', '1.71', '1.71', 4],
      ['nvidia-h100', '2.71', '2.71', 4],
    ]);
    expect(await adapter.listOffers({ gpuCount: 1, gpuModels: ['nvidia-h100'], maxUsdPerGpuHour: '2.70' })).toEqual([]);
    expect(await adapter.listOffers({ gpuCount: 5, gpuModels: ['nvidia-h100'] })).toEqual([]);
  });

  test.each([
    [{ denom: 'uact', amount: '3000.000000000000000000' }, 1, '1.80'],
    [{ denom: 'uakt', amount: '1000.000000000000000000' }, 1, '1.80'],
    [{ denom: 'uakt', amount: '1000' }, 2, '0.90'],
    [{ denom: 'uakt', amount: '1.234567890123456789' }, 1, '0.002222'],
    [{ denom: 'uact', amount: '2500' }, 1, '1.50'],
    [{ denom: 'uact', amount: '4166.666666' }, 1, '2.50'],
  ])('price per block %j for %d GPU(s) is %s USD/GPU-hour', (price, gpus, expected) => {
    expect(adapter.usdPerGpuHour(price, gpus)).toBe(expected);
  });

  test('submit -> bids after a delay -> cheapest fitting lease -> running -> succeeded -> results -> cost', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0', maxUsdPerHour: '2.50' });
    expect(await adapter.getStatus(remoteId)).toMatchObject({ phase: 'Pending' });

    clock.manual.advance(15_000);
    const leasedStatus = await adapter.getStatus(remoteId);
    expect(leasedStatus.phase).toBe('Provisioning');
    expect(leasedStatus.message).toContain(PRICEY);
    expect(leasedStatus.message).toContain('1.80 USD/GPU-hour');
    expect(fake.jobs()).toEqual([{ id: remoteId, key: 'uid1-3-0', stage: 'provisioning', provider: PRICEY, gpuUnits: 1 }]);

    clock.manual.advance(5_000);
    expect((await adapter.getStatus(remoteId)).phase).toBe('Running');
    expect(fake.running()).toBe(1);

    clock.manual.advance(60_000);
    const done = await adapter.getStatus(remoteId);
    expect(done.phase).toBe('Succeeded');

    const results = await adapter.getResults(remoteId);
    if (!results.supported) throw new Error('expected results');
    expect(results.outputs).toHaveLength(1);
    expect(results.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(await verifyOutputs(results.outputs, async (uri) => fake.readObject(uri) ?? new Uint8Array())).toEqual([]);
    expect(await adapter.logs(remoteId, { tail: 1 })).toEqual([expect.stringContaining('ATELIER_RESULT')]);

    // 65 s of lease at 3000 uact (micro-USD) per 6 s block = 10 blocks = 30000 uact = $0.03, as the escrow paid.
    expect(await adapter.getCost(remoteId)).toEqual({ amount: '30000', currency: 'uact', usd: '0.03', basis: 'estimated', seconds: 60 });
    expect(fake.billing()).toEqual([{ dseq: remoteId, key: 'uid1-3-0', denom: 'uact', amount: '30000', usd: '0.03' }]);

    await adapter.cancel(remoteId);
    await adapter.cancel(remoteId);
    expect(fake.jobs()[0]?.stage).toBe('closed');
    expect(await adapter.getCost(remoteId)).toMatchObject({ basis: 'settled', amount: '30000' });
    expect((await adapter.getStatus(remoteId)).phase).toBe('Succeeded');
    expect(fake.running()).toBe(0);
  });

  test('a healthy shard looked at after it ended: create, bids, lease, agent, deployment (status and cost), close; nothing left running', async () => {
    const before = fake.server.requests.length;
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0', maxUsdPerHour: '2.50' });
    clock.manual.advance(15_000);
    expect((await adapter.getStatus(remoteId)).phase).toBe('Provisioning');
    clock.manual.advance(65_000);
    expect((await adapter.getStatus(remoteId)).phase).toBe('Succeeded');
    const results = await adapter.getResults(remoteId);
    if (!results.supported) throw new Error('expected results');
    expect(await adapter.getCost(remoteId)).toMatchObject({ basis: 'estimated' });
    await adapter.cancel(remoteId);
    // Closed by this process: a second cancel and a status read ask nothing (a closed deployment stays closed).
    await adapter.cancel(remoteId);
    expect((await adapter.getStatus(remoteId)).phase).toBe('Succeeded');
    expect(adapter.capabilities().cancelConfirms).toBe(true);
    expect(fake.jobs()[0]?.stage).toBe('closed');
    expect(fake.running()).toBe(0);
    expect(fake.server.requests.slice(before).map((r) => `${r.method} ${r.path.split('?')[0]!.replace(remoteId, ':id').replace(/_shard\/[^/]+/, '_shard/:id')}`)).toEqual([
      'POST /v1/deployments', 'GET /v1/bids', 'POST /v1/leases', 'GET /_shard/:id/atelier/result', 'GET /v1/deployments/:id', 'DELETE /v1/deployments/:id',
    ]);
    // Once closed, the cost is read again: the settled figure, not the one kept from the final poll; then kept.
    const n = fake.server.requests.length;
    expect(await adapter.getCost(remoteId)).toMatchObject({ basis: 'settled' });
    expect(await adapter.getCost(remoteId)).toMatchObject({ basis: 'settled' });
    expect(fake.server.requests.length).toBe(n + 1);
  });

  test('the SDL carries the shard and a ceiling price no bid may exceed', async () => {
    const { remoteId } = await adapter.submit(makeShard({ gpuCount: 2 }), { idempotencyKey: 'uid1-3-0', maxUsdPerHour: '1.00' });
    clock.manual.advance(15_000);
    // $1.00/h over two GPUs = $0.50/GPU-hour; the only bid is $0.90/GPU-hour: the fake's provider doesn't even bid.
    expect((await adapter.getStatus(remoteId)).phase).toBe('Pending');
    clock.manual.advance(120_001);
    const gaveUp = await adapter.getStatus(remoteId);
    expect(gaveUp.phase).toBe('Failed');
    expect(gaveUp.message).toContain('no acceptable bid');
    expect(fake.jobs()[0]?.stage).toBe('closed');
  });

  test('a refused lease request leaves the shard Pending and the next poll tries again', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0', maxUsdPerHour: '2.50' });
    clock.manual.advance(15_000);
    fake.inject({ kind: 'status', status: 400, count: 1, match: { method: 'POST', path: '/v1/leases' } });
    expect(await adapter.getStatus(remoteId)).toMatchObject({ phase: 'Pending', message: expect.stringContaining('lease not created') });
    expect((await adapter.getStatus(remoteId)).phase).toBe('Provisioning');
  });

  test('findByKey finds an earlier submission after an operator restart by its manifest version', async () => {
    const dseq = await leased('uid1-3-0');
    const restarted = newAdapter();
    // Without the shard, a fresh process knows nothing; with it, the recomputed hash finds it.
    expect(await restarted.findByKey('uid1-3-0')).toBeUndefined();
    expect(await restarted.findByKey('uid1-3-0', makeShard())).toBe(dseq);
    expect(await restarted.findByKey('uid1-3-1', makeShard())).toBeUndefined();
    expect(await newAdapter().findByKey('uid1-3-0', makeShard({ shardIndex: 4 }))).toBeUndefined();
    expect(fake.submissionsFor('uid1-3-0')).toBe(1);
    // Closed deployments are not listed, so they are not found.
    await restarted.cancel(dseq);
    expect(await newAdapter().findByKey('uid1-3-0', makeShard())).toBeUndefined();
  });

  test('found again after a restart, a leased deployment is read (not polled by its bids as a new one would be) and runs on', async () => {
    const dseq = await leased('uid1-3-0');
    const restarted = newAdapter();
    expect(await restarted.findByKey('uid1-3-0', makeShard())).toBe(dseq);
    clock.manual.advance(5_000);
    expect((await restarted.getStatus(dseq)).phase).toBe('Running');
  });

  test('a restart before any lease: the rebuilt manifest gets the lease, nothing is submitted twice', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    const restarted = newAdapter();
    expect(await restarted.findByKey('uid1-3-0', makeShard())).toBe(remoteId);
    clock.manual.advance(15_000);
    expect((await restarted.getStatus(remoteId)).phase).toBe('Provisioning');
    clock.manual.advance(5_000);
    expect((await restarted.getStatus(remoteId)).phase).toBe('Running');
    expect(fake.submissionCounts()).toEqual({ 'uid1-3-0': 1 });
  });

  test('a lost manifest is sent again by repeating POST /v1/leases', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0', maxUsdPerHour: '2.50' });
    fake.dropManifest(remoteId);
    clock.manual.advance(15_000);
    expect((await adapter.getStatus(remoteId)).phase).toBe('Provisioning');
    // The provider reports no service: first seen at 20 s, the manifest goes again 30 s later.
    clock.manual.advance(5_000);
    expect((await adapter.getStatus(remoteId)).phase).toBe('Provisioning');
    clock.manual.advance(29_000);
    expect((await adapter.getStatus(remoteId)).phase).toBe('Provisioning');
    clock.manual.advance(1_000);
    expect((await adapter.getStatus(remoteId)).phase).toBe('Provisioning');
    clock.manual.advance(5_000);
    expect((await adapter.getStatus(remoteId)).phase).toBe('Running');
    expect(fake.server.requests.filter((r) => r.method === 'POST' && r.path === '/v1/leases').map((r) => r.status)).toEqual([200, 200]);
    expect(fake.jobs()).toEqual([{ id: remoteId, key: 'uid1-3-0', stage: 'running', provider: PRICEY, gpuUnits: 1 }]);
  });

  test('read without its shard after a restart, a lease that never got its manifest is closed and Failed', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0', maxUsdPerHour: '2.50' });
    fake.dropManifest(remoteId);
    clock.manual.advance(15_000);
    expect((await adapter.getStatus(remoteId)).phase).toBe('Provisioning');
    const restarted = newAdapter();
    expect((await restarted.getStatus(remoteId)).phase).toBe('Provisioning');
    clock.manual.advance(60_000);
    expect(await restarted.getStatus(remoteId)).toMatchObject({ phase: 'Failed', message: expect.stringContaining('never got the manifest') });
    expect(fake.jobs()[0]?.stage).toBe('closed');
  });

  test('the console closes a deployment left without a lease for 10 minutes; a second close is a quiet success', async () => {
    const slow = newAdapter();
    const { remoteId } = await slow.submit(makeShard({ gpuModels: ['nvidia-rtx-4090'] }), { idempotencyKey: 'uid1-3-0' });
    clock.manual.advance(121_000);
    expect(await slow.getStatus(remoteId)).toMatchObject({ phase: 'Failed', message: expect.stringContaining('no acceptable bid') });
    const other = await newAdapter('akash-test-key-0000').submit(makeShard({ gpuModels: ['nvidia-rtx-4090'] }), { idempotencyKey: 'uid1-4-0' });
    clock.manual.advance(600_000);
    expect(await newAdapter().getStatus(other.remoteId)).toMatchObject({ phase: 'Cancelled', message: expect.stringContaining('10 minutes') });
    await slow.cancel(remoteId);
    const res = await fetch(`${fake.url}/v1/deployments/${remoteId}`, { method: 'DELETE', headers: { 'x-api-key': fake.opts.apiKey } });
    expect([res.status, await res.json()]).toEqual([200, { data: { success: true } }]);
  });

  test('402 from the managed wallet is an InsufficientFundsError, not a crash of the shard', async () => {
    fake.opts.walletEmpty = true;
    const err = await thrown(() => adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' }));
    expect(err).toBeInstanceOf(InsufficientFundsError);
    expect(err).toMatchObject({ kind: 'insufficientFunds', status: 402, retryable: false, message: expect.stringContaining('Not enough balance') });
    expect(fake.submissionsFor('uid1-3-0')).toBe(0);
  });

  test('the create body is {sdl} only; the SDL is checked by chain-sdk and its price denom rewritten to uact', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0', maxDurationSec: 3600 });
    const creates = fake.server.requests.filter((r) => r.method === 'POST' && r.path === '/v1/deployments');
    expect(creates).toHaveLength(1);
    expect(adapter.capabilities()).toMatchObject({ maxDuration: 'operator', findByKey: 'remote' });
    const uakt = new AkashAdapter({ endpoint: fake.url, credentials: { apiKey: fake.opts.apiKey }, clock, options: { denom: 'uakt', usdPerToken: { uakt: '0.60' }, bidTimeoutMs: 120_000 } });
    const other = await uakt.submit(makeShard({ shardIndex: 5 }), { idempotencyKey: 'uid1-5-0', maxUsdPerHour: '2.50' });
    clock.manual.advance(15_000);
    // Bids and leases come in the grant denom whatever the SDL said.
    await uakt.getStatus(other.remoteId);
    const d = (await (await fetch(`${fake.url}/v1/deployments/${other.remoteId}`, { headers: { 'x-api-key': fake.opts.apiKey } })).json()) as { data: { leases: { price: { denom: string } }[] } };
    expect(d.data.leases.map((l) => l.price.denom)).toEqual(['uact']);
    expect(remoteId).not.toBe(other.remoteId);
    const bad = await fetch(`${fake.url}/v1/deployments`, { method: 'POST', headers: { 'x-api-key': fake.opts.apiKey, 'content-type': 'application/json' }, body: JSON.stringify({ data: { sdl: 'version: "2.0"\nservices: {}\n' } }) });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'BadRequestError', message: expect.stringMatching(/^Invalid SDL: /), code: 'bad_request', type: 'client_error' });
  });

  test('429 on POST surfaces as rateLimited with Retry-After; 429 on GET is waited out', async () => {
    fake.inject({ kind: 'rateLimit', retryAfterSec: 3, count: 1, match: { method: 'POST', path: '/v1/deployments' } });
    const err = await thrown(() => adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' }));
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ kind: 'rateLimited', retryAfterMs: 3_000, status: 429 });
    expect(fake.submissionsFor('uid1-3-0')).toBe(0);

    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    fake.inject({ kind: 'rateLimit', retryAfterSec: 2, count: 1, match: { method: 'GET' } });
    expect((await adapter.getStatus(remoteId)).phase).toBe('Pending');
    expect(clock.sleeps).toEqual([2_000]);
  });

  test('5xx bursts on GET are retried with bounded backoff; a POST is never retried', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    // The first poll of a young deployment reads its bids only (adapter header: calls per shard).
    fake.inject({ kind: 'status', status: 503, count: 2, match: { method: 'GET' } });
    expect((await adapter.getStatus(remoteId)).phase).toBe('Pending');
    expect(clock.sleeps).toEqual([200, 400]);

    fake.inject({ kind: 'status', status: 502, count: 1, match: { method: 'POST' } });
    const err = await thrown(() => adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-1' }));
    expect(err).toMatchObject({ kind: 'transient', status: 502 });
    expect(fake.server.requests.filter((r) => r.method === 'POST').length).toBe(2);

    fake.inject({ kind: 'status', status: 500, count: 10, match: { method: 'GET' } });
    expect(await thrown(() => adapter.getStatus(remoteId))).toMatchObject({ kind: 'transient', status: 500 });
  });

  test('a request that never gets an answer times out and is retried when safe', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    const quick = newAdapter(fake.opts.apiKey, 150);
    fake.inject({ kind: 'hang', count: 1, match: { method: 'GET' } });
    // The restarted adapter has no manifest, so it closes the deployment: the point here is only that it answered.
    expect((await quick.getStatus(remoteId)).phase).toBe('Failed');
    expect(fake.server.requests.some((r) => r.status === 'hung')).toBe(true);
  });

  test('a vanished deployment is notFound; cancel on it is a no-op', async () => {
    const dseq = await leased();
    fake.vanish(dseq);
    expect(await thrown(() => adapter.getStatus(dseq))).toMatchObject({ kind: 'notFound', status: 404 });
    await expect(adapter.cancel(dseq)).resolves.toBeUndefined();
  });

  test('a deployment that vanishes before its lease is notFound at the next poll, not Pending until the bid timeout', async () => {
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' });
    fake.vanish(remoteId);
    expect(await thrown(() => adapter.getStatus(remoteId))).toMatchObject({ kind: 'notFound', status: 404 });
  });

  test('a failing shard and a starved escrow both end Failed', async () => {
    const a = await leased('uid1-3-0');
    fake.failJob(a, 'out of VRAM');
    clock.manual.advance(65_000);
    expect(await adapter.getStatus(a)).toMatchObject({ phase: 'Failed', message: 'out of VRAM' });
    await expect(adapter.getResults(a)).rejects.toMatchObject({ kind: 'invalid' });

    const b = await leased('uid1-4-0');
    fake.starveFunds(b);
    expect(await adapter.getStatus(b)).toMatchObject({ phase: 'Failed', raw: 'deployment=closed lease=insufficient_funds' });
  });

  test('a corrupted result is detectable: the reported sha256 does not match the bytes', async () => {
    const dseq = await leased();
    fake.corruptResult(dseq);
    clock.manual.advance(65_000);
    const results = await adapter.getResults(dseq);
    if (!results.supported) throw new Error('expected results');
    const mismatches = await verifyOutputs(results.outputs, async (uri) => fake.readObject(uri) ?? new Uint8Array());
    expect(mismatches).toHaveLength(1);
  });

  test('invalid requests are rejected as invalid, client- or server-side', async () => {
    expect(await thrown(() => adapter.submit(makeShard({ gpuCount: 0 }), { idempotencyKey: 'k' }))).toMatchObject({ kind: 'invalid' });
    expect(await thrown(() => adapter.submit(makeShard(), { idempotencyKey: 'has spaces' }))).toMatchObject({ kind: 'invalid' });
    const huge = makeShard({ env: [{ name: 'BLOB', value: 'x'.repeat(200_000) }] });
    expect(await thrown(() => adapter.submit(huge, { idempotencyKey: 'uid1-3-0' }))).toMatchObject({ kind: 'invalid', status: 400 });
    expect(await thrown(() => adapter.getStatus('not-a-dseq'))).toMatchObject({ kind: 'invalid' });
  });

  test('credentials never appear in errors', async () => {
    const wrong = newAdapter('akash-wrong-secret-9999');
    const denied = await thrown(() => wrong.submit(makeShard(), { idempotencyKey: 'uid1-3-0' }));
    expect(denied).toMatchObject({ kind: 'auth', status: 401 });
    expect(String((denied as Error).message)).not.toContain('akash-wrong-secret-9999');

    fake.inject({ kind: 'status', status: 400, count: 1, body: { error: 'BadRequestError', message: `bad key ${fake.opts.apiKey}` } });
    const echoed = await thrown(() => adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0' }));
    expect((echoed as Error).message).toContain('[redacted]');
    expect(JSON.stringify(echoed) + String((echoed as Error).message) + String((echoed as Error).stack)).not.toContain(fake.opts.apiKey);
  });

  /** A settled, seeded shard driven to Succeeded; returns its dseq and results. */
  async function finished(key = 'uid1-3-0', before?: (dseq: string) => void): Promise<{ dseq: string; results: ResultSet }> {
    const dseq = await leased(key, settledShard());
    return { dseq, results: await resultsAfter(adapter, clock, dseq, 65_000, before) };
  }

  test('the payout key is a derived test key, distinct per fake', () => {
    expectDerivedPayoutKey(fake, 'akash', '0x53Aeef6B27C9874d3ac42472D66e9bc58f438B62');
  });

  test('a settled shard is signed by the payout key, for its job, shard, outputs and metered cost', async () => {
    const { dseq, results } = await finished();
    // 10 blocks x 3000 uact = $0.03 = 30000 units of a 6-decimal token.
    const cost = await adapter.getCost(dseq);
    expect(cost.usd).toBe('0.03');
    const signed = expectSettledSigned(results, fake.payoutAddress, cost.usd);
    expect(signed.amountClaimed).toBe('30000');
    // The log line carries the same signature, and a later read (cost grown since) does not re-sign.
    expect(findResultInLog(await adapter.logs(dseq))?.signed).toEqual(signed);
    clock.manual.advance(60_000);
    expect(findResultInLog(await adapter.logs(dseq))?.signed).toEqual(signed);
    expect(fake.meteredUsd(dseq)).toBe('0.03');
  });

  test('without the settlement env a result is not signed; the seed makes the bytes the test render', async () => {
    const dseq = await leased('uid1-3-0', makeShard({ env: [{ name: 'ATELIER_TEST_RENDER_SEED', value: TEST_SEED }] }));
    clock.manual.advance(65_000);
    const results = await adapter.getResults(dseq);
    if (!results.supported) throw new Error('expected results');
    expect(results.signed).toBeUndefined();
    expect(findResultInLog(await adapter.logs(dseq))?.signed).toBeUndefined();
    expect(fake.readObject(results.outputs[0]!.uri)).toEqual(testRenderContent(TEST_SEED, 3));
    expect(results.outputs[0]!.sha256).toBe(sha256Hex(testRenderContent(TEST_SEED, 3)));
  });

  test('wrong: bytes that hash as reported and are signed, but are not the test render', async () => {
    const { results } = await finished('uid1-3-0', (dseq) => expect(fake.jobAction(dseq, 'wrong')).toBe(true));
    const bytes = fake.readObject(results.outputs[0]!.uri);
    expect(await verifyOutputs(results.outputs, async (uri) => fake.readObject(uri) ?? new Uint8Array())).toEqual([]);
    expectWrongRender(bytes, results, fake.payoutAddress);
  });

  test('everyJob applies an action to every new deployment, set as an option or through /_fake/every-job', async () => {
    expect(fake.setEveryJob('nonsense')).toBe(false);
    expect((await fetch(`${fake.url}/_fake/every-job/nonsense`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${fake.url}/_fake/every-job/wrong`, { method: 'POST' })).status).toBe(204);
    expect(fake.opts.everyJob).toBe('wrong');
    const { results } = await finished('uid1-3-0');
    expect(fake.readObject(results.outputs[0]!.uri)?.toString()).toContain(WRONG_RENDER_SUFFIX);
    expect((await fetch(`${fake.url}/_fake/every-job`, { method: 'DELETE' })).status).toBe(204);
    expect(fake.opts.everyJob).toBeUndefined();
  });
});
