// Team budgets against the real control plane and the Render contract fake: five ProviderOnly jobs
// race for one 10 USD monthly RenderBudget. Each shard reserves price × GPUs × shards.maxDuration
// (2.00 USD) before it is submitted and the fake bills it for its 3 s of run time (1.00 USD), so the
// jobs' 20 shards would cost 20 USD without the cap. The oracle is the fake's own billing ledger:
// what it charged never passes 10 USD at any poll, and ends close to it (the cap is used, not only
// respected). The budget reports the cap: Exhausted=True, Warning Events at 80 % and at the cap, a
// job's Bursting condition says BudgetExhausted, and its spent (status and gauge) agrees with what the fake billed.
import { createComputeProvider, deleteComputeProviders, waitForProbes } from '../support/providers.js';
import { installCrds } from '../support/crds.js';
import { startOperator, type OperatorProcess } from '../support/operator.js';
import { clients, freshNamespace, testbed, waitFor, type Clients } from '../support/testbed.js';
import { RenderFake } from '../fakes/render.js';
import { cond, createJob, getJob, jobEvents, listShards, renderJob } from '../operator/helpers.js';
import { parseMicros } from '../../operator/src/money.js';

let c: Clients;
let op: OperatorProcess;
let ns: string;
const PROVIDER = 'budget-render';
// 1200 USD per GPU-hour: one second of an H100 costs a third of a dollar, so a 3 s shard bills 1.00 USD.
const render = new RenderFake({ assignDelayMs: 200, startMs: 200, jobDurationMs: 3000, usdPerGpuHour: { 'NVIDIA H100': '1200', 'NVIDIA RTX 4090': '1200' } });
const LIMIT = 10_000_000n;

type Budget = { status?: { spent?: string; reserved?: string; remaining?: string; period?: { end?: string }; conditions?: { type: string; status: string; reason: string }[]; byProvider?: { provider: string; spent: string }[] } };
const getBudget = async () => (await c.custom.getNamespacedCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'renderbudgets', namespace: ns, name: 'studio-month' })) as Budget;
const billed = () => render.billing().reduce((a, r) => a + parseMicros(r.usd), 0n);

beforeAll(async () => {
  c = clients();
  await installCrds();
  await render.start();
  ns = await freshNamespace(c, 'budget');
  await c.core.createNamespace({ body: { metadata: { name: 'atelier-system' } } }).catch(() => undefined);
  await deleteComputeProviders(c, [PROVIDER]);
  await c.core.deleteNamespacedSecret({ namespace: 'atelier-system', name: PROVIDER }).catch(() => undefined);
  await createComputeProvider(c, PROVIDER, 'render', render.url, `${render.opts.publicKey}:${render.opts.secretKey}`, { pricePerGpuHour: '1200' }, { allowedNamespaces: [ns] });
  op = startOperator(testbed().kubeconfig, ['--namespace', ns, '--lease-name', 'atelier-budget', '--remote-poll', '1', '--provider-probe', '2']);
  await waitForProbes(c, [PROVIDER]);
}, 150_000);

afterAll(async () => {
  await op?.kill('SIGTERM');
  await deleteComputeProviders(c, [PROVIDER]);
  await render.stop();
});

test('five jobs racing for a 10 USD monthly budget never spend more than 10 USD, and the budget reports the cap', async () => {
  await c.custom.createNamespacedCustomObject({
    group: 'atelier.dev', version: 'v1alpha1', plural: 'renderbudgets', namespace: ns,
    body: { apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderBudget', metadata: { name: 'studio-month' }, spec: { limit: '10.00', period: 'Month', action: 'StopBursting', selector: { matchLabels: { team: 'lighting' } } } },
  });
  await waitFor('budget status', async () => (await getBudget()).status?.period?.end !== undefined, 30_000, 250);
  const names = ['j1', 'j2', 'j3', 'j4', 'j5'];
  await Promise.all(names.map((name) => {
    const job = renderJob(name, { count: 4, models: ['nvidia-h100'] }) as { metadata: Record<string, unknown>; spec: Record<string, unknown> & { shards: Record<string, unknown> } };
    job.metadata.labels = { team: 'lighting' };
    job.spec.placement = { policy: 'ProviderOnly' };
    job.spec.shards.maxDuration = '6s';
    return createJob(c, ns, job);
  }));

  const over: string[] = [];
  const settled = await waitFor('cap reached and nothing running', async () => {
    const now = billed();
    if (now > LIMIT) over.push(`${now} micro-USD billed`);
    const b = await getBudget();
    const exhausted = cond(b.status as never, 'Exhausted')?.status === 'True';
    return exhausted && render.running() === 0 && b.status?.reserved === '0.00' ? b : undefined;
  }, 150_000, 500);

  // The fake's own records: never more than the limit, at any poll or at the end.
  expect(over).toEqual([]);
  const total = billed();
  console.log(`billed by the fake: ${Number(total) / 1e6} USD over ${render.billing().length} runs; budget status ${JSON.stringify(settled.status)}`);
  expect(total).toBeLessThanOrEqual(LIMIT);
  // The cap was used: what is left is less than one more shard's reservation (2.00 USD).
  expect(total).toBeGreaterThan(LIMIT - 2_000_000n);
  // The budget's spent is what the provider billed; by provider too.
  expect(parseMicros(settled.status!.spent!)).toBe(total);
  expect(settled.status!.byProvider).toEqual([{ provider: PROVIDER, spent: settled.status!.spent, reserved: '0.00' }]);
  expect(Date.parse(settled.status!.period!.end!)).toBeGreaterThan(Date.now());
  // The gauges say the same: spent as billed, and the limit.
  const metrics = await (await fetch(`${await op.metricsUrl()}/metrics`)).text();
  const gauge = (name: string) => metrics.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`budget_namespace="${ns}"`) && l.includes('budget="studio-month"'))?.split(' ').pop();
  expect([gauge('atelier_budget_spent_usd'), gauge('atelier_budget_limit_usd')]).toEqual([String(Number(total) / 1e6), '10']);

  // It reports the cap: Warning Events on the budget, once each, and a job held by it says why.
  const events = await jobEvents(c, ns, 'studio-month');
  const times = (reason: string) => events.filter((e) => e.type === 'Warning' && e.reason === reason).reduce((a, e) => a + (e.count ?? 1), 0);
  expect([times('BudgetAlmostSpent'), times('BudgetExhausted')]).toEqual([1, 1]);
  const jobs = await Promise.all(names.map((n) => getJob(c, ns, n)));
  const held = jobs.filter((j) => cond(j.status, 'Bursting')?.reason === 'BudgetExhausted');
  expect(held.length).toBeGreaterThan(0);
  expect(cond(held[0]!.status, 'Bursting')!.message).toMatch(/RenderBudget studio-month/);
  // Not every shard ran: the cap stopped the rest (20 shards would have billed 20 USD).
  // (read from the RenderShards: a job's status counts are written at most every 30 s)
  const shards = (await Promise.all(names.map((n) => listShards(c, ns, n)))).flat();
  const succeeded = shards.filter((s) => s.status?.phase === 'Succeeded').length;
  expect(succeeded).toBeLessThan(20);
  expect(render.billing().length).toBe(succeeded);
}, 200_000);
