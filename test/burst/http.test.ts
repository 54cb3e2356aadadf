// Bursting to the HTTP providers, through their contract fakes (test/fakes: real servers on loopback
// that follow the providers' published API sources): shards go to the cheapest eligible offer first
// and spill over to the next when its capacity is reached, a price cap excludes an expensive
// provider, and a budget holds bursting at the limit with a clear condition. A ProviderOnly job of
// four shards succeeds on each of Akash, Render and Chutes with its outputs, and each shard's recorded
// cost is what that provider bills for it, read from the fake's own billing record (Akash: escrow
// transferred per block; Render: execution time at the configured price; Chutes: the job's instance
// from activation to deletion). A finished Chutes job is never deleted. Nothing is left running on
// any fake afterwards.
import { createComputeProvider } from '../support/providers.js';
import { installCrds } from '../support/crds.js';
import { startOperator, type OperatorProcess } from '../support/operator.js';
import { clients, freshNamespace, testbed, waitFor, type Clients } from '../support/testbed.js';
import { AkashFake } from '../fakes/akash.js';
import { ChutesFake } from '../fakes/chutes.js';
import { RenderFake } from '../fakes/render.js';
import { cond, createJob, getJob, listShards, renderJob } from '../operator/helpers.js';
import { createHash } from 'node:crypto';
import { parseMicros } from '../../operator/src/money.js';

let c: Clients;
let op: OperatorProcess;
let nsSpill: string;
let nsBudget: string;
let nsBill: string;
// Half-second blocks, so a 3-second shard pays its lease for several blocks (escrow pays per block).
const akash = new AkashFake({ provisionMs: 300, jobDurationMs: 3000, blockMs: 500, providers: [{ address: 'akash1provider0000000000000000000000000000a', gpuModels: ['h100', 'a100'], pricePerBlock: '1000', capacity: 8, bidDelayMs: 300 }] });
const chutes = new ChutesFake({ claimDelayMs: 300, jobDurationMs: 3000, uploadMs: 300 });
const render = new RenderFake({ assignDelayMs: 300, startMs: 300, jobDurationMs: 3000 });
const PROVIDERS = ['fake-akash', 'fake-chutes', 'fake-render'];
/** The same fakes, one ComputeProvider each for the billing test (Render priced as the fake charges). */
const BILLED = { 'bill-akash': 'akash', 'bill-render': 'render', 'bill-chutes': 'chutes' } as const;

type CP = { spec: { maxConcurrentShards?: number }; status?: { offers?: { gpuModel?: string; pricePerGpuHour?: string; available?: number }[]; conditions?: { type: string; status: string; reason: string }[] } };
const getCP = async (name: string) => (await c.custom.getClusterCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'computeproviders', name })) as CP;
const h100Price = (cp: CP) => Number(cp.status?.offers?.find((o) => o.gpuModel === 'nvidia-h100')?.pricePerGpuHour);

beforeAll(async () => {
  c = clients();
  await installCrds();
  await Promise.all([akash.start(), chutes.start(), render.start()]);
  nsSpill = await freshNamespace(c, 'spill');
  nsBudget = await freshNamespace(c, 'budget');
  nsBill = await freshNamespace(c, 'bill');
  await c.core.createNamespace({ body: { metadata: { name: 'atelier-system' } } }).catch(() => undefined);
  const provider = (name: string, type: string, endpoint: string, secret: string, options: Record<string, string>, extra: Record<string, unknown> = {}) =>
    createComputeProvider(c, name, type, endpoint, secret, options, extra);
  await provider('fake-akash', 'akash', akash.url, akash.opts.apiKey, {});
  // The cheapest (Chutes' published H100 price is below Akash's) takes two shards at a time.
  await provider('fake-chutes', 'bittensor', chutes.url, chutes.opts.apiKey, { chuteId: chutes.opts.chutes[0]!.chute_id, method: 'render' }, { maxConcurrentShards: 2 });
  await provider('fake-render', 'render', render.url, `${render.opts.publicKey}:${render.opts.secretKey}`, { pricePerGpuHour: '9.00' });
  const only = { allowedNamespaces: [nsBill] };
  await provider('bill-akash', 'akash', akash.url, akash.opts.apiKey, {}, only);
  await provider('bill-chutes', 'bittensor', chutes.url, chutes.opts.apiKey, { chuteId: chutes.opts.chutes[0]!.chute_id, method: 'render' }, only);
  await provider('bill-render', 'render', render.url, `${render.opts.publicKey}:${render.opts.secretKey}`, { pricePerGpuHour: render.opts.usdPerGpuHour['NVIDIA H100']! }, only);
  op = startOperator(testbed().kubeconfig, ['--namespace', `${nsSpill},${nsBudget},${nsBill}`, '--lease-name', 'atelier-http-burst', '--remote-poll', '1', '--provider-probe', '2']);
  try {
    await waitFor('all providers probed', async () => (await Promise.all([...PROVIDERS, ...Object.keys(BILLED)].map(getCP))).every((cp) => h100Price(cp) > 0), 90_000, 1000);
  } catch (e) {
    console.log(JSON.stringify(await Promise.all(PROVIDERS.map(getCP)), null, 1), op.raw.filter((l) => /provider|probe|warn|error/i.test(l)).slice(-20).join('\n'));
    throw e;
  }
}, 180_000);

afterAll(async () => {
  await op?.kill('SIGTERM');
  for (const name of [...PROVIDERS, ...Object.keys(BILLED)]) await c.custom.deleteClusterCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'computeproviders', name }).catch(() => undefined);
  await Promise.all([akash.stop(), chutes.stop(), render.stop()]);
});

test('cheapest offer first, spill over at its capacity, and a price cap keeps the expensive provider out', async () => {
  const prices = Object.fromEntries(await Promise.all(PROVIDERS.map(async (n) => [n, h100Price(await getCP(n))] as const)));
  console.log(`provider H100 prices (USD/GPU-hour): ${JSON.stringify(prices)}`);
  expect(prices['fake-chutes']).toBeLessThan(prices['fake-akash']!);
  expect(prices['fake-render']).toBeGreaterThan(5);

  const job = renderJob('spill', { count: 5, models: ['nvidia-h100'] });
  (job.spec as Record<string, unknown>).placement = { policy: 'ProviderOnly', maxPricePerGpuHour: '5.00' };
  await createJob(c, nsSpill, job);
  const done = await waitFor('spill Succeeded', async () => {
    const j = await getJob(c, nsSpill, 'spill');
    if (j.status?.phase === 'Failed') throw new Error(JSON.stringify(j.status.conditions));
    return j.status?.phase === 'Succeeded' ? j : undefined;
  }, 180_000, 1000);
  expect(done.status!.shards).toMatchObject({ succeeded: 5, remote: 5, local: 0 });

  const byProvider: Record<string, number> = {};
  for (const s of await listShards(c, nsSpill, 'spill')) byProvider[String(s.status!.provider)] = (byProvider[String(s.status!.provider)] ?? 0) + 1;
  console.log(`spill placement: ${JSON.stringify(byProvider)} (fake-chutes cheapest, capped at 2 concurrent)`);
  expect(byProvider['fake-render']).toBeUndefined(); // above the job's price cap
  // the cheapest takes what its maxConcurrentShards allows, the rest spills over to the next
  expect(byProvider['fake-chutes']).toBeGreaterThanOrEqual(2);
  expect(byProvider['fake-akash']).toBeGreaterThanOrEqual(1);
  expect(byProvider['fake-chutes']! + byProvider['fake-akash']!).toBe(5);
  expect(Number(done.status!.cost!.remote)).toBeGreaterThan(0);
  // nothing left running anywhere
  await waitFor('fakes idle', async () => akash.running() === 0 && chutes.running() === 0 && render.running() === 0, 60_000);
});

test('a budget holds bursting at the limit with a BudgetExhausted condition', async () => {
  // At the default expected shard time (10 min), the cheapest H100 offer costs price/6 per shard:
  // a budget of 2.5 such shards lets two start and holds the rest.
  const cheapestPrice = Math.min(...(await Promise.all(['fake-akash', 'fake-chutes'].map(async (n) => h100Price(await getCP(n))))));
  const budget = ((cheapestPrice / 6) * 2.5).toFixed(2);
  const job = renderJob('capped', { count: 6, models: ['nvidia-h100'] });
  (job.spec as Record<string, unknown>).placement = { policy: 'ProviderOnly', maxPricePerGpuHour: '5.00' };
  (job.spec as Record<string, unknown>).budget = { maxCost: budget };
  await createJob(c, nsBudget, job);
  const held = await waitFor('BudgetExhausted', async () => {
    const j = await getJob(c, nsBudget, 'capped');
    const b = cond(j.status, 'Bursting');
    return b?.reason === 'BudgetExhausted' ? j : undefined;
  }, 60_000, 250);
  expect(held.status!.shards!.remote).toBeLessThanOrEqual(2);
  expect(cond(held.status, 'Bursting')!.message).toMatch(/budget/i);
  const done = await waitFor('capped Succeeded', async () => {
    const j = await getJob(c, nsBudget, 'capped');
    return j.status?.phase === 'Succeeded' ? j : undefined;
  }, 180_000, 1000);
  // what was actually spent stays within the budget
  expect(Number(done.status!.cost!.remote)).toBeLessThanOrEqual(Number(budget));
  await waitFor('fakes idle', async () => akash.running() === 0 && chutes.running() === 0 && render.running() === 0, 60_000);
});

test('a 4-shard ProviderOnly job succeeds on each of akash, render and bittensor, each shard costing what the provider bills; no finished Chutes job is deleted', async () => {
  const names = Object.keys(BILLED) as (keyof typeof BILLED)[];
  for (const name of names) {
    const job = renderJob(name, { count: 4, models: ['nvidia-h100'] });
    (job.spec as Record<string, unknown>).placement = { policy: 'ProviderOnly', providers: [name], maxPricePerGpuHour: '5.00' };
    await createJob(c, nsBill, job);
  }
  for (const name of names) {
    const done = await waitFor(`${name} Succeeded`, async () => {
      const j = await getJob(c, nsBill, name);
      if (j.status?.phase === 'Failed') throw new Error(JSON.stringify(j.status.conditions));
      return j.status?.phase === 'Succeeded' ? j : undefined;
    }, 180_000, 1000);
    expect(done.status!.shards).toMatchObject({ succeeded: 4, remote: 4, local: 0 });
  }
  await waitFor('fakes idle', async () => akash.running() === 0 && chutes.running() === 0 && render.running() === 0, 60_000);

  const akashBills = new Map(akash.billing().map((b) => [b.dseq, b]));
  const renderBills = new Map(render.billing().map((b) => [b.uuid, b]));
  const chutesBills = new Map(chutes.billing().map((b) => [b.job_id, b]));
  const micros = (v: string) => parseMicros(v);
  for (const name of names) {
    const shards = await listShards(c, nsBill, name);
    expect(shards).toHaveLength(4);
    for (const shard of shards) {
      const st = shard.status as { provider: string; remoteId: string; remoteCost: string; attempts?: number; result: { outputs: { uri: string; sha256: string }[]; digest: string } };
      expect(st.provider).toBe(name);
      expect(st.result.outputs).toHaveLength(1);
      expect(st.result.digest).toMatch(/^[0-9a-f]{64}$/);
      const cost = micros(st.remoteCost);
      expect(cost).toBeGreaterThan(0n);
      const out = st.result.outputs[0]!;
      if (BILLED[name] === 'akash') {
        // Escrow pays per 6 s block: at least the blocks up to the shard's end, at most what the
        // escrow had transferred when the operator closed the deployment after reading the cost.
        const bill = akashBills.get(st.remoteId);
        expect(bill?.denom).toBe('uact');
        expect(cost).toBeGreaterThanOrEqual(micros(akash.meteredUsd(st.remoteId)));
        expect(cost).toBeLessThanOrEqual(micros(bill!.usd));
        expect(createHash('sha256').update(akash.readObject(out.uri)!).digest('hex')).toBe(out.sha256);
      } else if (BILLED[name] === 'render') {
        // Execution time at the price the ComputeProvider is configured with, which is the fake's.
        expect(cost).toBe(micros(renderBills.get(st.remoteId)!.usd));
        expect(createHash('sha256').update(render.readObject(out.uri)!).digest('hex')).toBe(out.sha256);
      } else {
        // The instance from activation to deletion; an adapter that never saw the instance start
        // counts from created_at instead, at most the miner's claim delay more.
        const billed = micros(chutesBills.get(st.remoteId)!.usd);
        const claimSlack = BigInt(Math.ceil((chutes.opts.gpuHourlyUsd.h100! * chutes.opts.claimDelayMs) / 3.6)) + 1n; // micro-USD
        expect(cost).toBeGreaterThanOrEqual(billed);
        expect(cost).toBeLessThanOrEqual(billed + claimSlack);
        expect(out.uri).toMatch(/^chutes:\/\/jobs\//);
      }
    }
    console.log(`${name}: shard costs ${JSON.stringify(shards.map((sh) => (sh.status as { remoteCost: string }).remoteCost))}`);
  }
  // DELETE destroys a Chutes job's outputs: no finished job was ever sent one, in any test of this suite.
  expect(chutes.deletes().filter((d) => d.finished)).toEqual([]);
});
