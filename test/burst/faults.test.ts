// Bursting under provider faults, through the contract fakes (test/fakes): bursts of 5xx and 429s
// with Retry-After on the job APIs, remote jobs that fail, vanish or hand back a corrupted result,
// and a provider that goes dark (every request answered 503 for longer than --provider-timeout)
// while it holds running shards. Whatever happens, every shard finishes exactly once: the job
// succeeds, each RenderShard records one outcome, no idempotency key is submitted twice, no shard
// has two successful runs across the fakes, and nothing is left running on any fake — for the dark
// provider, once it answers again, the operator's staleRemotes sweep cancels what it left there.
import { akashRanToEnd, createComputeProvider, deleteComputeProviders, waitForProbes } from '../support/providers.js';
import { createHash } from 'node:crypto';
import { installCrds } from '../support/crds.js';
import { startOperator, type OperatorProcess } from '../support/operator.js';
import { clients, freshNamespace, testbed, waitFor, type Clients } from '../support/testbed.js';
import { AkashFake } from '../fakes/akash.js';
import { ChutesFake } from '../fakes/chutes.js';
import { RenderFake } from '../fakes/render.js';
import { createJob, getJob, listShards, renderJob } from '../operator/helpers.js';

type Fake = AkashFake | ChutesFake | RenderFake;
type ShardObj = Awaited<ReturnType<typeof listShards>>[number];

const H100 = { vendor: 'nvidia', model: 'h100', ram: '80Gi', interface: 'SXM5' };
const akash = new AkashFake({ provisionMs: 300, jobDurationMs: 2000, providers: [{ address: 'akash1provider0000000000000000000000000000a', gpuModels: ['h100'], pricePerBlock: '1000', capacity: 20, bidDelayMs: 300 }] });
const chutes = new ChutesFake({ claimDelayMs: 300, jobDurationMs: 2000, uploadMs: 300, chutes: [{ chute_id: '5f3a1c2e-0000-4000-8000-00000000c0de', name: 'atelier-sdxl', methods: ['render'], capacity: 20, dailyQuota: 10_000 }] });
const render = new RenderFake({ assignDelayMs: 300, startMs: 300, jobDurationMs: 2000, gpus: { 'NVIDIA H100': 20 } });
// The providers that go dark (one answers 503 to everything, the other never answers): the cheapest,
// with long shards, so they are still running there when it stops answering, and still running
// when it comes back (only a cancel ends them early).
const darkFake = (letter: string) => new AkashFake({
  provisionMs: 300, jobDurationMs: 120_000,
  gpuPrices: [{ ...H100, price: { currency: 'USD', min: 0.9, max: 1.3, avg: 1.1, weightedAverage: 1.1, med: 1.1 } }],
  providers: [{ address: `akash1provider0000000000000000000000000000${letter}`, gpuModels: ['h100'], pricePerBlock: '1000', capacity: 20, bidDelayMs: 300 }],
});
const dark = darkFake('d');
const hang = darkFake('e');
const FAKES: Record<string, Fake> = { 'faults-akash': akash, 'faults-chutes': chutes, 'faults-render': render, 'faults-dark': dark, 'faults-hang': hang };
const HEALTHY = ['faults-akash', 'faults-chutes', 'faults-render'];

let c: Clients;
let op: OperatorProcess;
const ns: Record<'transient' | 'jobs' | 'dark' | 'hang', string> = { transient: '', jobs: '', dark: '', hang: '' };
/** Remote jobs the tests broke on purpose (failed, vanished, corrupted): never counted as a good run. */
const sabotaged = new Set<string>();

const runId = (fake: string, id: string) => `${fake}/${id}`;

/** Every remote job of one RenderJob (by its uid) across the fakes: id, shard index, whether it ran to a good end. */
function remoteJobs(uid: string): { fake: string; id: string; key: string; index: number; succeeded: boolean; live: boolean }[] {
  const out: { fake: string; id: string; key: string; index: number; succeeded: boolean; live: boolean }[] = [];
  const index = (key: string) => Number(key.slice(uid.length + 1).split('-')[0]);
  for (const [name, fake] of Object.entries(FAKES)) {
    const akashGood = fake instanceof AkashFake ? akashRanToEnd(fake) : undefined;
    for (const j of fake.jobs() as { id: string; key?: string; stage?: string; status?: string; running?: boolean; finished?: boolean; deleted?: boolean }[]) {
      if (!j.key?.startsWith(`${uid}-`)) continue;
      const id = runId(name, j.id);
      let succeeded: boolean;
      let live: boolean;
      if (fake instanceof AkashFake) {
        succeeded = akashGood!.has(j.id);
        live = ['waitingForBids', 'provisioning', 'running'].includes(j.stage!);
      } else if (fake instanceof ChutesFake) {
        succeeded = j.status === 'complete';
        live = !!j.running || (!j.finished && !j.deleted);
      } else {
        succeeded = j.status === 'COMPLETED';
        live = ['PENDING', 'ASSIGNED', 'RUNNING', 'CANCELLING'].includes(j.status!);
      }
      out.push({ fake: name, id, key: j.key, index: index(j.key), succeeded: succeeded && !sabotaged.has(id), live });
    }
  }
  return out;
}

function submissions(uid: string): Map<string, number> {
  const per = new Map<string, number>();
  for (const fake of Object.values(FAKES)) {
    for (const [key, n] of Object.entries(fake.submissionCounts())) if (key.startsWith(`${uid}-`)) per.set(key, (per.get(key) ?? 0) + n);
  }
  return per;
}

const idle = () => Object.values(FAKES).every((f) => f.running() === 0);

async function providerOnlyJob(namespace: string, name: string, count: number, providers: string[], maxRetries: number): Promise<string> {
  const job = renderJob(name, { count, models: ['nvidia-h100'], maxRetries });
  (job.spec as Record<string, unknown>).placement = { policy: 'ProviderOnly', providers };
  const created = (await createJob(c, namespace, job)) as { metadata: { uid: string } };
  return created.metadata.uid;
}

async function succeeded(namespace: string, name: string, timeoutMs: number) {
  return waitFor(`${name} Succeeded`, async () => {
    const j = await getJob(c, namespace, name);
    if (j.status?.phase === 'Failed') throw new Error(`job failed: ${JSON.stringify(j.status.conditions)}`);
    return j.status?.phase === 'Succeeded' ? j : undefined;
  }, timeoutMs, 500);
}

/**
 * The exactly-once checks: every shard Succeeded with one recorded remote outcome whose outputs hash
 * as recorded, that outcome is the shard's only good run on any fake, and no key was submitted twice.
 */
async function expectExactlyOnce(namespace: string, name: string, uid: string, count: number): Promise<{ shards: ShardObj[]; runs: ReturnType<typeof remoteJobs>; subs: Map<string, number> }> {
  const shards = await listShards(c, namespace, name);
  expect(shards).toHaveLength(count);
  const runs = remoteJobs(uid);
  for (const s of shards) {
    const st = s.status as { phase?: string; placement?: string; provider?: string; remoteId?: string; result?: { digest?: string; outputs?: { uri: string; sha256: string }[] } };
    expect({ index: s.spec.index, phase: st.phase, placement: st.placement }).toEqual({ index: s.spec.index, phase: 'Succeeded', placement: 'Remote' });
    expect(st.result?.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(st.result?.outputs?.length).toBeGreaterThan(0);
    const good = runs.filter((r) => r.index === s.spec.index && r.succeeded).map((r) => r.id);
    // at most one good run of this shard anywhere, and it is the one recorded
    expect({ index: s.spec.index, good }).toEqual({ index: s.spec.index, good: [runId(st.provider!, st.remoteId!)] });
    // the recorded hashes are those of the bytes the shard wrote (Chutes' are checked by the adapter)
    const fake = FAKES[st.provider!];
    if (fake instanceof AkashFake || fake instanceof RenderFake) {
      for (const o of st.result!.outputs!) expect(createHash('sha256').update(fake.readObject(o.uri) ?? '').digest('hex')).toBe(o.sha256);
    }
  }
  const subs = submissions(uid);
  expect([...subs.entries()].filter(([, n]) => n > 1)).toEqual([]);
  return { shards, runs, subs };
}

beforeAll(async () => {
  c = clients();
  await installCrds();
  await Promise.all(Object.values(FAKES).map((f) => f.start()));
  ns.transient = await freshNamespace(c, 'faults-transient');
  ns.jobs = await freshNamespace(c, 'faults-jobs');
  ns.dark = await freshNamespace(c, 'faults-dark');
  ns.hang = await freshNamespace(c, 'faults-hang');
  await c.core.createNamespace({ body: { metadata: { name: 'atelier-system' } } }).catch(() => undefined);
  const provider = (name: string, type: string, endpoint: string, secret: string, options: Record<string, string>, maxConcurrentShards: number) =>
    createComputeProvider(c, name, type, endpoint, secret, options, { maxConcurrentShards, allowedNamespaces: Object.values(ns) });
  await provider('faults-akash', 'akash', akash.url, akash.opts.apiKey, {}, 3);
  await provider('faults-chutes', 'bittensor', chutes.url, chutes.opts.apiKey, { chuteId: chutes.opts.chutes[0]!.chute_id, method: 'render' }, 3);
  await provider('faults-render', 'render', render.url, `${render.opts.publicKey}:${render.opts.secretKey}`, { pricePerGpuHour: '3.00' }, 3);
  await provider('faults-dark', 'akash', dark.url, dark.opts.apiKey, {}, 4);
  await provider('faults-hang', 'akash', hang.url, hang.opts.apiKey, {}, 4);
  op = startOperator(testbed().kubeconfig, [
    '--namespace', Object.values(ns).join(','), '--leader-elect', 'false',
    '--remote-poll', '1', '--provider-probe', '2', '--provider-timeout', '5',
  ]);
  await waitForProbes(c, Object.keys(FAKES));
}, 180_000);

afterAll(async () => {
  await op?.kill('SIGTERM');
  await deleteComputeProviders(c, Object.keys(FAKES));
  await Promise.all(Object.values(FAKES).map((f) => f.stop()));
});

test('5xx bursts and 429s with Retry-After on every job API: each shard still runs exactly once', async () => {
  // Scoped to the job APIs, not the price probes: the providers stay healthy, their calls do not.
  // Bursts, not outages: each status call still gets an answer well within --provider-timeout.
  akash.inject({ kind: 'status', status: 503, count: 3, match: { method: 'POST', path: '/v1/deployments' } });
  akash.inject({ kind: 'status', status: 502, count: 4, match: { method: 'GET', path: /^\/v1\/deployments\/\d+$/ } });
  akash.inject({ kind: 'rateLimit', retryAfterSec: 1, count: 2, match: { method: 'GET', path: '/v1/bids' } });
  akash.inject({ kind: 'status', status: 500, count: 2, match: { method: 'POST', path: '/v1/leases' } });
  chutes.inject({ kind: 'rateLimit', retryAfterSec: 2, count: 2, match: { method: 'POST', path: '/jobs/' } });
  chutes.inject({ kind: 'status', status: 503, count: 2, match: { method: 'POST', path: '/jobs/' } });
  chutes.inject({ kind: 'status', status: 500, count: 4, match: { method: 'GET', path: '/jobs/' } });
  chutes.inject({ kind: 'rateLimit', retryAfterSec: 1, count: 2, match: { method: 'GET', path: '/jobs/' } });
  render.inject({ kind: 'status', status: 503, count: 3, match: { method: 'POST', path: '/v1/jobs' } });
  render.inject({ kind: 'rateLimit', retryAfterSec: 2, count: 2, match: { method: 'POST', path: '/v1/jobs' } });
  render.inject({ kind: 'status', status: 502, count: 4, match: { method: 'GET', path: /^\/v1\/jobs\/[^/]+$/ } });
  render.inject({ kind: 'rateLimit', retryAfterSec: 1, count: 2, match: { method: 'GET', path: '/v1/job-runs' } });

  const t0 = Date.now();
  const uid = await providerOnlyJob(ns.transient, 'transient', 9, HEALTHY, 6);
  const done = await succeeded(ns.transient, 'transient', 180_000);
  const secs = (Date.now() - t0) / 1000;
  expect(done.status!.shards).toMatchObject({ total: 9, succeeded: 9, remote: 9, failed: 0 });
  const { shards, subs } = await expectExactlyOnce(ns.transient, 'transient', uid, 9);
  const injected = Object.fromEntries(HEALTHY.map((n) => [n, FAKES[n]!.server.requests.filter((r) => r.status === 429 || (typeof r.status === 'number' && r.status >= 500)).length]));
  const byProvider: Record<string, number> = {};
  for (const s of shards) byProvider[String(s.status!.provider)] = (byProvider[String(s.status!.provider)] ?? 0) + 1;
  console.log(`transient: 9 shards in ${secs.toFixed(1)}s; placement ${JSON.stringify(byProvider)}; faulted answers ${JSON.stringify(injected)}; ${subs.size} keys submitted, ${[...subs.values()].reduce((a, b) => a + b, 0)} submissions`);
  // every fake really answered with faults, every provider took shards, and no attempt was lost to them
  for (const n of HEALTHY) expect(injected[n]).toBeGreaterThanOrEqual(5);
  expect(shards.map((s) => (s.status as { attempts?: number }).attempts)).toEqual(Array(9).fill(1));
  expect(Object.keys(byProvider).sort()).toEqual(HEALTHY);
  await waitFor('fakes idle', async () => idle(), 30_000);
  for (const f of Object.values(FAKES)) f.server.clearFaults();
}, 240_000);

test('remote jobs that fail, vanish or return a corrupted result are retried until each shard has one good outcome', async () => {
  // What happens to the 1st, 2nd, … remote job of this RenderJob on each fake. A corrupted result
  // is only detectable where the adapter can read the bytes back (Chutes downloads and hashes them).
  const plan: Record<string, ('fail' | 'vanish' | 'corrupt')[]> = {
    'faults-akash': ['fail', 'vanish'],
    'faults-chutes': ['corrupt', 'fail', 'vanish'],
    'faults-render': ['vanish', 'fail'],
  };
  const t0 = Date.now();
  const uid = await providerOnlyJob(ns.jobs, 'jobfaults', 9, HEALTHY, 6);
  const seen = new Set<string>();
  const applied: string[] = [];
  const watcher = setInterval(() => {
    for (const name of HEALTHY) {
      const fake = FAKES[name]!;
      for (const j of fake.jobs()) {
        const id = runId(name, j.id);
        if (!j.key?.startsWith(`${uid}-`) || seen.has(id)) continue;
        seen.add(id);
        const action = plan[name]!.shift();
        if (!action) continue;
        sabotaged.add(id);
        applied.push(`${action}@${id}`);
        if (action === 'fail') fake.failJob(j.id);
        else if (action === 'vanish') fake.vanish(j.id);
        else fake.corruptResult(j.id);
      }
    }
  }, 25);
  try {
    const done = await succeeded(ns.jobs, 'jobfaults', 180_000);
    expect(done.status!.shards).toMatchObject({ total: 9, succeeded: 9, remote: 9, failed: 0 });
  } finally {
    clearInterval(watcher);
  }
  const secs = (Date.now() - t0) / 1000;
  expect(applied).toHaveLength(7);
  const { shards, subs } = await expectExactlyOnce(ns.jobs, 'jobfaults', uid, 9);
  // every sabotaged job was noticed and cost its shard one more attempt, with a Warning on the shard
  const attempts = shards.reduce((a, s) => a + Number((s.status as { attempts?: number }).attempts ?? 0), 0);
  expect(attempts).toBe(9 + 7);
  const retrying = await waitFor('seven ShardRetrying events in the job namespace', async () => {
    const evs = (await c.core.listNamespacedEvent({ namespace: ns.jobs })).items.filter((e) => e.reason === 'ShardRetrying' && e.involvedObject.kind === 'RenderShard');
    return evs.reduce((n, e) => n + (e.count ?? 1), 0) >= 7 ? evs : undefined;
  }, 15_000);
  const said = (re: RegExp) => retrying.some((e) => re.test(e.message ?? ''));
  expect({ corrupt: said(/do not match their digests/), vanished: said(/no longer knows/), failed: said(/render crashed|out of memory|exited with code/) }).toEqual({ corrupt: true, vanished: true, failed: true });
  console.log(`job faults: 9 shards in ${secs.toFixed(1)}s, ${attempts} attempts, ${[...subs.values()].reduce((a, b) => a + b, 0)} submissions; applied ${applied.join(', ')}`);
  await waitFor('fakes idle', async () => idle(), 30_000);
}, 240_000);

test.each([
  { how: 'answers 503 to everything', name: 'faults-dark' as const, space: 'dark' as const },
  { how: 'never answers', name: 'faults-hang' as const, space: 'hang' as const },
])('a provider that goes dark ($how): its shards fail over after --provider-timeout, and what it kept running is cancelled once it is back', async ({ name, space }) => {
  const dark = FAKES[name] as AkashFake;
  const namespace = ns[space];
  const t0 = Date.now();
  const uid = await providerOnlyJob(namespace, 'darkjob', 8, [name, 'faults-akash', 'faults-chutes'], 6);
  // the cheapest (dark) takes its four, the rest go elsewhere and finish
  await waitFor('four shards running on the provider about to go dark', async () => dark.running() === 4, 60_000, 100);
  const onDark = (await listShards(c, namespace, 'darkjob')).filter((s) => s.status?.provider === name && s.status?.remoteId);
  expect(onDark).toHaveLength(4);
  const darkIds = new Set(onDark.map((s) => String(s.status!.remoteId)));

  dark.inject(name === 'faults-dark' ? { kind: 'status', status: 503, count: 1_000_000 } : { kind: 'hang', count: 1_000_000 });
  const wentDark = Date.now();
  const done = await succeeded(namespace, 'darkjob', 300_000);
  const failoverSecs = (Date.now() - wentDark) / 1000;
  console.log(`${name}: job Succeeded ${failoverSecs.toFixed(1)}s after it went dark`);
  expect(done.status!.shards).toMatchObject({ total: 8, succeeded: 8, remote: 8, failed: 0 });
  // the dark provider never answered, so what it runs is still running, and the shards say so
  expect(dark.running()).toBe(4);
  let shards = await listShards(c, namespace, 'darkjob');
  const stale = shards.flatMap((s) => ((s.status as { staleRemotes?: { provider: string; remoteId: string }[] }).staleRemotes ?? []).map((r) => `${r.provider}/${r.remoteId}`));
  expect(stale.sort()).toEqual([...darkIds].map((id) => `${name}/${id}`).sort());
  for (const s of shards.filter((x) => darkIds.has(String(onDark.find((o) => o.spec.index === x.spec.index)?.status?.remoteId)))) {
    expect(s.status).toMatchObject({ phase: 'Succeeded', lastFailure: { reason: 'ProviderUnreachable' } });
    expect(s.status!.provider).not.toBe(name);
  }
  // dark for longer than --provider-timeout, by a margin
  await new Promise((r) => setTimeout(r, Math.max(0, 12_000 - (Date.now() - wentDark))));
  const darkSecs = (Date.now() - wentDark) / 1000;
  dark.server.clearFaults();
  const back = Date.now();
  await waitFor('the dark provider idle once it answers again', async () => dark.running() === 0, 60_000, 100);
  const sweepSecs = (Date.now() - back) / 1000;
  // those deployments were cancelled (closed), never ran to a good end: no shard ran twice
  for (const j of dark.jobs()) if (darkIds.has(j.id)) expect(j.stage).toBe('closed');
  await expectExactlyOnce(namespace, 'darkjob', uid, 8);
  await waitFor('staleRemotes cleared', async () => {
    shards = await listShards(c, namespace, 'darkjob');
    return shards.every((s) => !(s.status as { staleRemotes?: unknown[] }).staleRemotes?.length);
  }, 30_000);
  console.log(`${name}: 4 shards stranded; job Succeeded ${failoverSecs.toFixed(1)}s after it went dark (--provider-timeout 5s); dark for ${darkSecs.toFixed(1)}s; stale deployments cancelled ${sweepSecs.toFixed(1)}s after it came back; total ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  expect(idle()).toBe(true);
}, 420_000);
