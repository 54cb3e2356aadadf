// Bursting to the two networks added after Akash, Render and Chutes, through their contract fakes
// (test/fakes/nosana.ts follows the Nosana deployment manager's source, test/fakes/vastai.ts the
// Vast.ai CLI): a ProviderOnly job of 4 shards succeeds on each, with outputs and costs read the way
// each provider bills, checked against the fakes' own records (which deployments and instances ran,
// for how long, at what price, and the bytes they wrote); on Vast.ai, where an exited instance lives
// on until destroyed, every instance is destroyed once its result is recorded. Then the operator is
// SIGKILLed right after a submission reached each provider (the fake holds its answer back) and
// restarted: the new process finds the submission by its key (Nosana's idempotency_key, Vast.ai's
// instance label) and never deploys the same key twice.
import { createHash } from 'node:crypto';
import { createComputeProvider, deleteComputeProviders, waitForProbes } from '../support/providers.js';
import { installCrds } from '../support/crds.js';
import { startOperator, type OperatorProcess } from '../support/operator.js';
import { clients, freshNamespace, testbed, waitFor, type Clients } from '../support/testbed.js';
import { MARKET_H100, NosanaFake } from '../fakes/nosana.js';
import { VastFake } from '../fakes/vastai.js';
import { createJob, getJob, listShards, renderJob } from '../operator/helpers.js';
import { formatMicros, parseMicros } from '../../operator/src/money.js';

const nosana = new NosanaFake({ listDelayMs: 300, queueMs: 300, jobDurationMs: 3000, stopDelayMs: 300, markets: { [MARKET_H100]: 8 } });
const vast = new VastFake({ scheduleMs: 200, loadMs: 300, jobDurationMs: 3000 });
const FAKES = { 'net-nosana': nosana, 'net-vastai': vast } as const;
type Name = keyof typeof FAKES;

let c: Clients;
let nsOk: string;
let nsKill: string;
const running: OperatorProcess[] = [];

type Shard = { spec: { index: number }; status?: { phase?: string; provider?: string; remoteId?: string; idempotencyKey?: string; attempts?: number; remoteCost?: string; result?: { outputs: { uri: string; sha256: string }[] } } };

const operatorArgs = (ns: string) => ['--namespace', ns, '--leader-elect', 'false', '--remote-poll', '1', '--provider-probe', '2', '--provider-timeout', '120'];

beforeAll(async () => {
  c = clients();
  await installCrds();
  await Promise.all([nosana.start(), vast.start()]);
  nsOk = await freshNamespace(c, 'networks');
  nsKill = await freshNamespace(c, 'networks-kill');
  await c.core.createNamespace({ body: { metadata: { name: 'atelier-system' } } }).catch(() => undefined);
  await createComputeProvider(c, 'net-nosana', 'nosana', nosana.url, nosana.opts.apiKey, { pricePerGpuHour: '1.90', 'market.nvidia-h100': MARKET_H100 });
  await createComputeProvider(c, 'net-vastai', 'vastai', vast.url, vast.opts.apiKey, {});
  const op = startOperator(testbed().kubeconfig, operatorArgs(`${nsOk},${nsKill}`));
  running.push(op);
  await waitForProbes(c, Object.keys(FAKES));
}, 180_000);

afterAll(async () => {
  await Promise.all(running.splice(0).map((o) => o.kill('SIGKILL')));
  await deleteComputeProviders(c, Object.keys(FAKES));
  await Promise.all([nosana.stop(), vast.stop()]);
});

async function runJob(ns: string, name: string, provider: Name, count: number): Promise<{ uid: string; shards: Shard[]; remote: string }> {
  const job = renderJob(name, { count, models: ['nvidia-h100'], maxRetries: 3 });
  (job.spec as Record<string, unknown>).placement = { policy: 'ProviderOnly', providers: [provider] };
  const uid = ((await createJob(c, ns, job)) as { metadata: { uid: string } }).metadata.uid;
  // ComputeProvider IN-FLIGHT (status.shardsInFlight) while the job runs there: the live count, never above the job's shards.
  const inFlight: number[] = [];
  const done = await waitFor(`${name} Succeeded`, async () => {
    const cp = (await c.custom.getClusterCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'computeproviders', name: provider })) as { status?: { shardsInFlight?: number } };
    inFlight.push(cp.status?.shardsInFlight ?? 0);
    const j = await getJob(c, ns, name);
    if (j.status?.phase === 'Failed') throw new Error(JSON.stringify(j.status.conditions));
    return j.status?.phase === 'Succeeded' ? j : undefined;
  }, 120_000, 500);
  expect(done.status!.shards).toMatchObject({ total: count, succeeded: count, remote: count, local: 0 });
  expect(Math.max(...inFlight)).toBeGreaterThan(0); // was always 0: nothing fed the registry's in-flight counts
  expect(Math.max(...inFlight)).toBeLessThanOrEqual(count);
  return { uid, shards: (await listShards(c, ns, name)) as Shard[], remote: done.status!.cost!.remote };
}

/** Each shard ran once on `provider`, its outputs are the bytes the fake wrote, its cost is what the fake metered. */
function expectBilledAsTheProvider(provider: Name, uid: string, shards: Shard[], remote: string): void {
  const fake = FAKES[provider];
  let total = 0n;
  for (const s of shards) {
    const st = s.status!;
    expect({ index: s.spec.index, provider: st.provider, phase: st.phase }).toEqual({ index: s.spec.index, provider, phase: 'Succeeded' });
    const ran = fake.jobs().find((j) => j.id === st.remoteId);
    expect(ran?.key).toBe(st.idempotencyKey);
    for (const out of st.result!.outputs) expect(out.sha256).toBe(createHash('sha256').update(fake.readObject(out.uri) ?? '').digest('hex'));
    // The provider's bill for this shard (the fake's record) is what the shard recorded.
    expect({ index: s.spec.index, cost: st.remoteCost }).toEqual({ index: s.spec.index, cost: fake.meteredUsd(st.remoteId!) });
    expect(fake.runSeconds(st.remoteId!)).toBeGreaterThanOrEqual(3);
    total += parseMicros(st.remoteCost!);
  }
  expect(formatMicros(parseMicros(remote))).toBe(formatMicros(total));
  const keys = Object.entries(fake.submissionCounts()).filter(([k]) => k.startsWith(`${uid}-`));
  expect(keys.every(([, n]) => n === 1)).toBe(true);
}

test('a ProviderOnly job of 4 shards succeeds on Nosana: one SIMPLE deployment per shard, billed per second of its job', async () => {
  const { uid, shards, remote } = await runJob(nsOk, 'on-nosana', 'net-nosana', 4);
  expectBilledAsTheProvider('net-nosana', uid, shards, remote);
  const mine = nosana.jobs().filter((j) => j.key?.startsWith(`${uid}-`));
  expect(mine.map((j) => `${j.status}/${j.job}`)).toEqual(Array(4).fill('STOPPED/COMPLETED'));
  console.log(`nosana: 4 shards, remote cost ${remote} USD (${shards.map((s) => `${s.status!.remoteCost}`).join(' + ')}) for ${shards.map((s) => nosana.runSeconds(s.status!.remoteId!)).join('/')} s`);
}, 180_000);

test('a ProviderOnly job of 4 shards succeeds on Vast.ai: billed at dph_total per second, every instance destroyed', async () => {
  const { uid, shards, remote } = await runJob(nsOk, 'on-vastai', 'net-vastai', 4);
  expectBilledAsTheProvider('net-vastai', uid, shards, remote);
  // An exited instance keeps its disk until destroyed: the operator destroys each once its result is in.
  await waitFor('every instance destroyed', async () => vast.jobs().filter((j) => j.key?.startsWith(`${uid}-`)).every((j) => j.destroyed), 60_000);
  expect(vast.running()).toBe(0);
  console.log(`vastai: 4 shards, remote cost ${remote} USD at dph_total ${shards.map((s) => vast.jobs().find((j) => j.id === s.status!.remoteId)?.offer).join('/')}`);
}, 180_000);

test.each(['net-nosana', 'net-vastai'] as const)('%s: SIGKILLed right after a submission reached the provider, the restarted operator never deploys that key twice', async (provider) => {
  // The first operator has served the other tests; from here one process at a time, killed at will.
  await Promise.all(running.splice(0).map((o) => o.kill('SIGKILL')));
  const fake = FAKES[provider];
  fake.opts.createReplyDelayMs = 5_000;
  const name = `killed-${provider.slice(4)}`;
  const job = renderJob(name, { count: 3, models: ['nvidia-h100'], maxRetries: 3 });
  (job.spec as Record<string, unknown>).placement = { policy: 'ProviderOnly', providers: [provider] };
  const first = startOperator(testbed().kubeconfig, operatorArgs(nsKill));
  running.push(first);
  const uid = ((await createJob(c, nsKill, job)) as { metadata: { uid: string } }).metadata.uid;
  const mine = () => Object.entries(fake.submissionCounts()).filter(([k]) => k.startsWith(`${uid}-`));
  const reached = await waitFor('a submission reached the provider', async () => (mine().length > 0 ? mine().map(([k]) => k) : undefined), 60_000, 20);
  await first.kill('SIGKILL');
  running.splice(running.indexOf(first), 1);
  // Recorded on the provider, answered never: no RenderShard knows its remote id.
  const shardsAtKill = (await listShards(c, nsKill, name)) as Shard[];
  const orphaned = shardsAtKill.filter((s) => s.status?.idempotencyKey && reached.includes(s.status.idempotencyKey) && !s.status.remoteId);
  expect(orphaned.length).toBeGreaterThan(0);
  fake.opts.createReplyDelayMs = 0;

  const second = startOperator(testbed().kubeconfig, operatorArgs(nsKill));
  running.push(second);
  await waitFor(`${name} Succeeded`, async () => {
    const j = await getJob(c, nsKill, name);
    if (j.status?.phase === 'Failed') throw new Error(JSON.stringify(j.status.conditions));
    return j.status?.phase === 'Succeeded' ? j : undefined;
  }, 120_000, 500);
  const shards = (await listShards(c, nsKill, name)) as Shard[];
  const twice = mine().filter(([, n]) => n > 1);
  console.log(`${provider}: killed with ${reached.length} submission(s) unanswered (${orphaned.length} shard(s) without a remote id); afterwards ${mine().length} keys, submitted ${JSON.stringify(Object.fromEntries(mine()))}`);
  expect(twice).toEqual([]);
  // The shards the kill left without a remote id recorded the very submission made before the kill.
  for (const s of orphaned) {
    const now = shards.find((x) => x.spec.index === s.spec.index)!.status!;
    expect({ index: s.spec.index, key: now.idempotencyKey, attempts: now.attempts }).toEqual({ index: s.spec.index, key: s.status!.idempotencyKey, attempts: s.status!.attempts });
    expect(fake.jobs().filter((j) => j.key === now.idempotencyKey).map((j) => j.id)).toEqual([now.remoteId]);
  }
  for (const s of shards) expect(s.status!.phase).toBe('Succeeded');
  if (provider === 'net-vastai') await waitFor('every instance destroyed', async () => vast.jobs().filter((j) => j.key?.startsWith(`${uid}-`)).every((j) => j.destroyed), 60_000);
  expect(fake.running()).toBe(0);
}, 300_000);
