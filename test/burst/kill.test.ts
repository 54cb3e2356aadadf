// The operator SIGKILLed at random (seeded) moments, many times over, during a 100-shard
// ProviderOnly burst to the provider contract fakes, and restarted each time (no leader election,
// so a new process acts at once). Intent before submit (written conditionally on the record's
// resourceVersion), findByKey before every submit but the first of an intent this process wrote so
// (remote.ts freshIntents), and the remote id recorded right after must hold across any kill: no
// idempotency key is submitted twice, no shard
// has two successful remote runs, nothing is left running on any fake, and the job completes.
//
// Akash and Render only: Chutes has no way to find a submission by its key (no job listing, no
// client-chosen id; the adapter says findByKey: 'process'), so a kill between its POST and the
// recorded remote id leaves a job nobody can find, which runs unobserved to its end — the
// invariants here cannot hold for it, whatever the operator does.
import { akashRanToEnd, createComputeProvider } from '../support/providers.js';
import { installCrds } from '../support/crds.js';
import { startOperator, type OperatorProcess } from '../support/operator.js';
import { clients, freshNamespace, testbed, waitFor, type Clients } from '../support/testbed.js';
import { AkashFake } from '../fakes/akash.js';
import { RenderFake } from '../fakes/render.js';
import { createJob, getJob, listShards, renderJob } from '../operator/helpers.js';

const SHARDS = 100;
const akash = new AkashFake({ provisionMs: 200, jobDurationMs: 3000, providers: [{ address: 'akash1provider0000000000000000000000000000a', gpuModels: ['h100'], pricePerBlock: '1000', capacity: 40, bidDelayMs: 200 }] });
const render = new RenderFake({ assignDelayMs: 200, startMs: 200, jobDurationMs: 3000, gpus: { 'NVIDIA H100': 40 } });
const FAKES: Record<string, AkashFake | RenderFake> = { 'kill-akash': akash, 'kill-render': render };

let c: Clients;
let ns: string;
const running: OperatorProcess[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --provider-timeout above the breaker's first cool-down (60 s): after a restart, a provider whose
// breaker was open gets no adapter until it half-opens, and its shards must wait for it.
const operatorArgs = () => ['--namespace', ns, '--leader-elect', 'false', '--remote-poll', '1', '--provider-probe', '2', '--provider-timeout', '120'];

beforeAll(async () => {
  c = clients();
  await installCrds();
  await Promise.all(Object.values(FAKES).map((f) => f.start()));
  ns = await freshNamespace(c, 'burst-kill');
  await c.core.createNamespace({ body: { metadata: { name: 'atelier-system' } } }).catch(() => undefined);
  const provider = (name: string, type: string, endpoint: string, secret: string, options: Record<string, string>) =>
    createComputeProvider(c, name, type, endpoint, secret, options, { maxConcurrentShards: 10, allowedNamespaces: [ns] });
  await provider('kill-akash', 'akash', akash.url, akash.opts.apiKey, {});
  await provider('kill-render', 'render', render.url, `${render.opts.publicKey}:${render.opts.secretKey}`, { pricePerGpuHour: '3.00' });
  // One operator probes the providers once, so that the job's first reconcile already sees offers.
  const probe = startOperator(testbed().kubeconfig, operatorArgs());
  running.push(probe);
  await waitFor('providers probed', async () => {
    const cps = await Promise.all(Object.keys(FAKES).map((name) => c.custom.getClusterCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'computeproviders', name }) as Promise<{ status?: { offers?: { pricePerGpuHour?: string }[] } }>));
    return cps.every((cp) => Number(cp.status?.offers?.[0]?.pricePerGpuHour) > 0);
  }, 90_000, 1000);
  await probe.kill('SIGKILL');
  running.splice(running.indexOf(probe), 1);
}, 180_000);

afterAll(async () => {
  await Promise.all(running.splice(0).map((o) => o.kill('SIGKILL')));
  for (const name of Object.keys(FAKES)) await c.custom.deleteClusterCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'computeproviders', name }).catch(() => undefined);
  await Promise.all(Object.values(FAKES).map((f) => f.stop()));
});

test(`SIGKILLed at random moments during a ${SHARDS}-shard burst: no key submitted twice, no shard run twice, nothing leaked`, async () => {
  const job = renderJob('killed', { count: SHARDS, models: ['nvidia-h100'], maxRetries: 30 });
  (job.spec as Record<string, unknown>).placement = { policy: 'ProviderOnly', providers: Object.keys(FAKES) };
  const uid = ((await createJob(c, ns, job)) as { metadata: { uid: string } }).metadata.uid;
  const t0 = Date.now();
  let kills = 0;
  let seed = 20260601;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const deadline = Date.now() + 240_000;
  for (;;) {
    const op = startOperator(testbed().kubeconfig, operatorArgs());
    running.push(op);
    // Mostly while it works (after its caches synced), sometimes while it starts.
    if (rand() < 0.2) await sleep(rand() * 2000);
    else {
      await op.waitForLog('caches synced, starting controllers', 30_000).catch(() => undefined);
      await sleep(rand() * 3000);
    }
    await op.kill('SIGKILL');
    running.splice(running.indexOf(op), 1);
    kills++;
    const j = await getJob(c, ns, 'killed');
    if (j.status?.phase === 'Succeeded' || Date.now() > deadline) break;
  }
  const killPhaseSecs = (Date.now() - t0) / 1000;
  // a last, uninterrupted run finishes whatever the kills left, and sweeps what they stranded
  const last = startOperator(testbed().kubeconfig, operatorArgs());
  running.push(last);
  const done = await waitFor('killed job Succeeded', async () => {
    const j = await getJob(c, ns, 'killed');
    if (j.status?.phase === 'Failed') throw new Error(`job failed: ${JSON.stringify(j.status.conditions)}`);
    return j.status?.phase === 'Succeeded' ? j : undefined;
  }, 240_000, 500);
  const totalSecs = (Date.now() - t0) / 1000;
  expect(done.status!.shards).toMatchObject({ total: SHARDS, succeeded: SHARDS, remote: SHARDS, failed: 0 });
  await waitFor('every fake idle and every stale submission swept', async () => {
    if (Object.values(FAKES).some((f) => f.running() > 0)) return false;
    const shards = await listShards(c, ns, 'killed');
    return shards.every((s) => !(s.status as { staleRemotes?: unknown[] }).staleRemotes?.length);
  }, 120_000, 500);

  // submissions: one per idempotency key, summed across the fakes
  const subs = new Map<string, number>();
  for (const fake of Object.values(FAKES)) {
    for (const [key, n] of Object.entries(fake.submissionCounts())) if (key.startsWith(`${uid}-`)) subs.set(key, (subs.get(key) ?? 0) + n);
  }
  const submitted = [...subs.values()].reduce((a, b) => a + b, 0);
  // successful remote runs per shard index (Akash from its leases, the others as they ended)
  const akashGood = akashRanToEnd(akash);
  const index = (key: string) => Number(key.slice(uid.length + 1).split('-')[0]);
  const good = new Map<number, string[]>();
  const addGood = (i: number, id: string) => good.set(i, [...(good.get(i) ?? []), id]);
  for (const j of akash.jobs()) if (j.key?.startsWith(`${uid}-`) && akashGood.has(j.id)) addGood(index(j.key), `kill-akash/${j.id}`);
  for (const j of render.jobs()) if (j.key?.startsWith(`${uid}-`) && j.status === 'COMPLETED') addGood(index(j.key), `kill-render/${j.id}`);
  const live = [
    ...akash.jobs().filter((j) => j.key?.startsWith(`${uid}-`) && ['waitingForBids', 'provisioning', 'running'].includes(j.stage)).map((j) => `kill-akash/${j.id}`),
    ...render.jobs().filter((j) => j.key?.startsWith(`${uid}-`) && ['PENDING', 'ASSIGNED', 'RUNNING', 'CANCELLING'].includes(j.status)).map((j) => `kill-render/${j.id}`),
  ];

  const shards = await listShards(c, ns, 'killed');
  const attempts = shards.reduce((a, s) => a + Number((s.status as { attempts?: number }).attempts ?? 0), 0);
  const reasons: Record<string, number> = {};
  for (const s of shards) {
    const r = (s.status as { lastFailure?: { reason?: string } }).lastFailure?.reason;
    if (r) reasons[r] = (reasons[r] ?? 0) + 1;
  }
  const byProvider: Record<string, number> = {};
  for (const s of shards) byProvider[String(s.status!.provider)] = (byProvider[String(s.status!.provider)] ?? 0) + 1;
  const perFake = Object.fromEntries(Object.entries(FAKES).map(([n, f]) => [n, Object.keys(f.submissionCounts()).filter((k) => k.startsWith(`${uid}-`)).length]));
  console.log(`kill: operator SIGKILLed ${kills} times over ${killPhaseSecs.toFixed(1)}s; job Succeeded after ${totalSecs.toFixed(1)}s; ${submitted} submissions under ${subs.size} keys (${JSON.stringify(perFake)}), ${attempts} attempts for ${SHARDS} shards; placement ${JSON.stringify(byProvider)}; last failures ${JSON.stringify(reasons)}`);

  const twice = [...subs.entries()].filter(([, n]) => n > 1).map(([key]) => `${key.slice(uid.length + 1)}: ${Object.entries(FAKES).map(([n, f]) => `${n}=${f.submissionsFor(key)}`).join(' ')}`);
  if (twice.length) console.log(`keys submitted more than once:\n${twice.join('\n')}`);
  expect(kills).toBeGreaterThanOrEqual(8);
  expect([...subs.entries()].filter(([, n]) => n > 1)).toEqual([]);
  expect([...good.entries()].filter(([, ids]) => ids.length > 1)).toEqual([]);
  expect(live).toEqual([]);
  expect(shards).toHaveLength(SHARDS);
  for (const s of shards) {
    const st = s.status as { phase?: string; provider?: string; remoteId?: string };
    expect({ index: s.spec.index, phase: st.phase }).toEqual({ index: s.spec.index, phase: 'Succeeded' });
    // its one good run is the one it recorded
    expect({ index: s.spec.index, good: good.get(s.spec.index) }).toEqual({ index: s.spec.index, good: [`${st.provider}/${st.remoteId}`] });
  }
}, 720_000);
