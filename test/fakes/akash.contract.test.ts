// Contract of the Akash fake (test/fakes/akash.ts) against akash-network/console @ d84c9e93d7904ec9cbbfd2d62b79994209bea297
// (apps/api/src): every answer of every route the adapter uses, at every stage of a deployment's
// life, fits the zod schema transcribed below (zod strips undeclared keys, so the real server sends
// nothing else), with the console's status codes and error body. The deployment hash is checked
// against chain-sdk's manifest version of the submitted SDL, as deployment-writer.service.ts computes it.

import { AkashAdapter } from '../../operator/src/providers/akash/adapter.js';
import { buildSdl, manifestOf } from '../../operator/src/providers/akash/sdl.js';
import { shardEnv } from '../../operator/src/providers/types.js';
import { AkashFake } from './akash.js';
import { makeShard, recordingClock } from './testkit.js';
import type { RecordingClock } from './testkit.js';
import { check, s } from './schema.js';

const DSEQ = s.string({ pattern: /^\d+$/ });
const Coin = s.object({ denom: s.string(), amount: s.string() });
/** deployment/http-schemas/lease.schema.ts:17-47. */
const LeaseStatus = s.object({
  forwarded_ports: s.record(s.array(s.object({ port: s.number(), externalPort: s.number(), host: s.optional(s.string()), available: s.optional(s.number()) }))),
  ips: s.record(s.array(s.object({ IP: s.string(), Port: s.number(), ExternalPort: s.number(), Protocol: s.string() }))),
  services: s.record(s.object({
    name: s.string(), available: s.number(), total: s.number(), uris: s.array(s.string()), observed_generation: s.number(),
    replicas: s.number(), updated_replicas: s.number(), ready_replicas: s.number(), available_replicas: s.number(),
  })),
});
/** deployment.schema.ts:9-27 DeploymentLeaseSchema. */
const leaseShape = {
  id: s.object({ owner: s.string(), dseq: DSEQ, gseq: s.number(), oseq: s.number(), provider: s.string(), bseq: s.number() }),
  state: s.string(),
  price: Coin,
  created_at: s.string(),
  closed_on: s.string(),
  reason: s.optional(s.string()),
};
const Lease = s.object({ ...leaseShape, status: s.nullable(LeaseStatus) });
/** deployment.schema.ts:40-73, and bid.schema.ts:87-120 for a bid's escrow account. */
const Escrow = s.object({
  id: s.object({ scope: s.string(), xid: s.string() }),
  state: s.object({
    owner: s.string(), state: s.string(), transferred: s.array(Coin), settled_at: s.string(), funds: s.array(Coin),
    deposits: s.array(s.object({ owner: s.string(), height: s.string(), source: s.string(), balance: Coin })),
  }),
});
const deploymentShape = { deployment: s.object({ id: s.object({ owner: s.string(), dseq: DSEQ }), state: s.string({ oneOf: ['active', 'closed'] }), hash: s.string(), created_at: s.string() }), escrow_account: Escrow };
/** deployment.schema.ts:29-82 GetDeploymentResponseSchema (no SDL, no consoleSettings). */
const GetDeployment = s.object({ data: s.object({ ...deploymentShape, leases: s.array(Lease) }) });
/** deployment.schema.ts:76-78,143-153 ListDeploymentsResponseSchema (leases without status). */
const ListDeployments = s.object({
  data: s.object({
    deployments: s.array(s.object({ ...deploymentShape, leases: s.array(s.object(leaseShape)) })),
    pagination: s.object({ total: s.number(), skip: s.number(), limit: s.number(), hasMore: s.boolean() }),
  }),
});
/** deployment.schema.ts:99-105 with billing/http-schemas/tx.schema.ts:25-31. */
const CreateDeployment = s.object({ data: s.object({ dseq: DSEQ, manifest: s.string(), signTx: s.object({ code: s.number(), transactionHash: s.string(), rawLog: s.string() }) }) });
/** deployment.schema.ts:111-115. */
const CloseDeployment = s.object({ data: s.object({ success: s.boolean() }) });
/** bid/http-schemas/bid.schema.ts:5-58 DeploymentResource_V3. */
const Attrs = s.array(s.object({ key: s.string(), value: s.string() }));
const Resources = s.object({
  cpu: s.object({ units: s.object({ val: s.string() }), attributes: Attrs }),
  gpu: s.object({ units: s.object({ val: s.string() }), attributes: Attrs }),
  memory: s.object({ quantity: s.object({ val: s.string() }), attributes: Attrs }),
  storage: s.array(s.object({ name: s.string(), quantity: s.object({ val: s.string() }), attributes: Attrs })),
  endpoints: s.array(s.object({ kind: s.string(), sequence_number: s.number() })),
});
/** bid.schema.ts:61-129 ListBidsResponseSchema. */
const ListBids = s.object({
  data: s.array(s.object({
    bid: s.object({
      id: s.object({ owner: s.string(), dseq: DSEQ, gseq: s.number(), oseq: s.number(), provider: s.string(), bseq: s.number() }),
      state: s.string(), price: Coin, created_at: s.string(), resources_offer: s.array(s.object({ resources: Resources, count: s.number() })), reclamation_window: s.optional(s.string()),
    }),
    escrow_account: Escrow,
  })),
});
/** gpu/http-schemas/gpu.schema.ts:64-95. */
const Availability = s.object({ total: s.number(), available: s.number() });
const GpuPrices = s.object({
  availability: Availability,
  models: s.array(s.object({
    vendor: s.string(), model: s.string(), ram: s.string(), interface: s.string(), availability: Availability, providerAvailability: Availability,
    price: s.nullable(s.object({ currency: s.string(), min: s.number(), max: s.number(), avg: s.number(), weightedAverage: s.number(), med: s.number() })),
  })),
});
/** core/services/hono-error-handler/hono-error-handler.service.ts:38-54 (http-errors) and 56-67 (zod). */
const ErrorBody = s.object({ error: s.string(), message: s.string(), code: s.string(), type: s.string({ oneOf: ['client_error', 'server_error', 'validation_error'] }), data: s.optional(s.any()) });

describe('Akash fake contract (console apps/api schemas)', () => {
  let fake: AkashFake;
  let clock: RecordingClock;
  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
    const res = await fetch(`${fake.url}${path}`, { method, headers: { 'x-api-key': fake.opts.apiKey, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: res.status, json: await res.json().catch(() => undefined) };
  };

  beforeEach(async () => {
    clock = recordingClock();
    fake = new AkashFake({ clock: clock.manual, providers: [{ address: 'akash1provider0000000000000000000000000000a', gpuModels: ['h100'], pricePerBlock: '3000', capacity: 4, bidDelayMs: 15_000 }] });
    await fake.start();
  });

  afterEach(async () => {
    await fake.stop();
  });

  test('create, bids, lease, status, list and close answers fit the schemas; the hash is the manifest version', async () => {
    const shard = makeShard();
    const sdl = buildSdl({ spec: shard, env: shardEnv(shard, 'uid1-3-0'), denom: 'uakt', amountPerBlock: '4000', exposePort: 8080, cpu: 4, memoryGi: 24, storageGi: 20 });
    // Unknown keys (name, runtimeLimitHours) are dropped by zod, not refused.
    const created = await call('POST', '/v1/deployments', { data: { sdl, name: 'x', runtimeLimitHours: 2 } });
    expect([created.status, check(CreateDeployment, created.json)]).toEqual([201, []]);
    const { dseq, manifest } = (created.json as { data: { dseq: string; manifest: string } }).data;
    const expected = await manifestOf(sdl);
    expect(manifest).toBe(expected.manifest);

    const pending = await call('GET', `/v1/deployments/${dseq}`);
    expect([pending.status, check(GetDeployment, pending.json)]).toEqual([200, []]);
    expect((pending.json as { data: { deployment: { hash: string } } }).data.deployment.hash).toBe(expected.version);

    clock.manual.advance(15_000);
    const bids = await call('GET', `/v1/bids?dseq=${dseq}`);
    expect([bids.status, check(ListBids, bids.json)]).toEqual([200, []]);
    const bid = (bids.json as { data: { bid: { id: { gseq: number; oseq: number; provider: string }; price: { denom: string } } }[] }).data[0]!.bid;
    // The console rewrote the SDL's uakt to its grant denom.
    expect(bid.price.denom).toBe('uact');
    const leaseBody = { manifest, leases: [{ dseq, gseq: bid.id.gseq, oseq: bid.id.oseq, provider: bid.id.provider }] };
    for (let i = 0; i < 2; i++) {
      const leased = await call('POST', '/v1/leases', leaseBody);
      expect([leased.status, check(GetDeployment, leased.json)]).toEqual([200, []]);
    }
    clock.manual.advance(6_000);
    const running = await call('GET', `/v1/deployments/${dseq}`);
    expect(check(GetDeployment, running.json)).toEqual([]);
    expect((running.json as { data: { leases: unknown[] } }).data.leases).toHaveLength(1);

    const list = await call('GET', '/v1/deployments?skip=0&limit=10');
    expect([list.status, check(ListDeployments, list.json)]).toEqual([200, []]);
    for (let i = 0; i < 2; i++) {
      const close = await call('DELETE', `/v1/deployments/${dseq}`);
      expect([close.status, check(CloseDeployment, close.json), close.json]).toEqual([200, [], { data: { success: true } }]);
    }
    const closed = await call('GET', `/v1/deployments/${dseq}`);
    expect(check(GetDeployment, closed.json)).toEqual([]);
    // Only active deployments are listed.
    const after = await call('GET', '/v1/deployments?skip=0&limit=10');
    expect((after.json as { data: { deployments: unknown[] } }).data.deployments).toEqual([]);
    const prices = await fetch(`${fake.url}/v1/gpu-prices`);
    expect([prices.status, check(GpuPrices, await prices.json())]).toEqual([200, []]);
  });

  test('error answers have the console error body and status', async () => {
    const missing = await call('GET', '/v1/deployments/123');
    expect(missing.status).toBe(404);
    expect(check(ErrorBody, missing.json)).toEqual([]);
    expect(missing.json).toMatchObject({ error: 'NotFoundError', message: 'Deployment not found', code: 'not_found', type: 'client_error' });
    const invalid = await call('POST', '/v1/deployments', { data: { sdl: 'not: [an sdl' } });
    expect([invalid.status, check(ErrorBody, invalid.json)]).toEqual([400, []]);
    fake.opts.walletEmpty = true;
    const shard = makeShard();
    const sdl = buildSdl({ spec: shard, env: shardEnv(shard, 'k'), denom: 'uact', amountPerBlock: '4000', exposePort: 8080, cpu: 4, memoryGi: 24, storageGi: 20 });
    const broke = await call('POST', '/v1/deployments', { data: { sdl } });
    expect([broke.status, check(ErrorBody, broke.json)]).toEqual([402, []]);
    fake.opts.walletEmpty = false;
    fake.opts.managedDeposit = false;
    expect(await call('POST', '/v1/deployments', { data: { sdl } })).toMatchObject({ status: 400, json: { message: 'deposit is required' } });
    expect((await call('POST', '/v1/deployments', { data: { sdl, deposit: 5 } })).status).toBe(201);
    const denied = await fetch(`${fake.url}/v1/deployments`, { method: 'GET' });
    expect(denied.status).toBe(401);
  });

  test('what the adapter sends is accepted as the console would: {sdl} only, valid for chain-sdk', async () => {
    const adapter = new AkashAdapter({ endpoint: fake.url, credentials: { apiKey: fake.opts.apiKey }, clock });
    const { remoteId } = await adapter.submit(makeShard(), { idempotencyKey: 'uid1-3-0', maxDurationSec: 7200 });
    expect(fake.jobs().map((j) => j.id)).toEqual([remoteId]);
  });
});
