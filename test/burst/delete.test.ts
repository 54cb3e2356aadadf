// Deleting a RenderJob in the middle of a burst to the three provider contract fakes: the finalizer
// cancels every remote submission (retrying cancels that fail) and waits for each provider to
// confirm before the job goes away. Checked from the fakes' side at the moment the job is gone: no
// remote job of it is pending or running anywhere, and no RenderShard of it remains.
import { createComputeProvider, deleteComputeProviders, waitForProbes } from '../support/providers.js';
import { installCrds } from '../support/crds.js';
import { startOperator, type OperatorProcess } from '../support/operator.js';
import { clients, freshNamespace, testbed, waitFor, type Clients } from '../support/testbed.js';
import { AkashFake } from '../fakes/akash.js';
import { ChutesFake } from '../fakes/chutes.js';
import { RenderFake } from '../fakes/render.js';
import { GROUP, VERSION, createJob, listShards, renderJob } from '../operator/helpers.js';

// Long shards, so that they are all still running when the job is deleted; each fake has room for
// three, so of the five each provider is sent, two wait there (for a bid, a miner, free GPUs).
const akash = new AkashFake({ provisionMs: 300, jobDurationMs: 60_000, providers: [{ address: 'akash1provider0000000000000000000000000000a', gpuModels: ['h100'], pricePerBlock: '1000', capacity: 3, bidDelayMs: 300 }] });
const chutes = new ChutesFake({ claimDelayMs: 300, jobDurationMs: 60_000, uploadMs: 300, chutes: [{ chute_id: '5f3a1c2e-0000-4000-8000-00000000c0de', name: 'atelier-sdxl', methods: ['render'], capacity: 3, dailyQuota: 10_000 }] });
const render = new RenderFake({ assignDelayMs: 300, startMs: 300, jobDurationMs: 60_000, gpus: { 'NVIDIA H100': 3 } });
const FAKES: Record<string, AkashFake | ChutesFake | RenderFake> = { 'delete-akash': akash, 'delete-chutes': chutes, 'delete-render': render };

let c: Clients;
let ns: string;
let op: OperatorProcess;

/** Remote jobs of one RenderJob that are waiting, starting, running or stopping on any fake. */
function liveRemote(uid: string): string[] {
  const mine = (key?: string) => !!key?.startsWith(`${uid}-`);
  return [
    ...akash.jobs().filter((j) => mine(j.key) && ['waitingForBids', 'provisioning', 'running'].includes(j.stage)).map((j) => `delete-akash/${j.id}:${j.stage}`),
    ...chutes.jobs().filter((j) => mine(j.key) && (j.running || (!j.finished && !j.deleted))).map((j) => `delete-chutes/${j.id}:${j.status}`),
    ...render.jobs().filter((j) => mine(j.key) && ['PENDING', 'ASSIGNED', 'RUNNING', 'CANCELLING'].includes(j.status)).map((j) => `delete-render/${j.id}:${j.status}`),
  ];
}

function runningOf(uid: string): Record<string, number> {
  const mine = (key?: string) => !!key?.startsWith(`${uid}-`);
  return {
    'delete-akash': akash.jobs().filter((j) => mine(j.key) && ['provisioning', 'running'].includes(j.stage)).length,
    'delete-chutes': chutes.jobs().filter((j) => mine(j.key) && j.running).length,
    'delete-render': render.jobs().filter((j) => mine(j.key) && ['ASSIGNED', 'RUNNING', 'CANCELLING'].includes(j.status)).length,
  };
}

beforeAll(async () => {
  c = clients();
  await installCrds();
  await Promise.all(Object.values(FAKES).map((f) => f.start()));
  ns = await freshNamespace(c, 'burst-delete');
  await c.core.createNamespace({ body: { metadata: { name: 'atelier-system' } } }).catch(() => undefined);
  const provider = (name: string, type: string, endpoint: string, secret: string, options: Record<string, string>) =>
    createComputeProvider(c, name, type, endpoint, secret, options, { maxConcurrentShards: 5, allowedNamespaces: [ns] });
  await provider('delete-akash', 'akash', akash.url, akash.opts.apiKey, {});
  await provider('delete-chutes', 'bittensor', chutes.url, chutes.opts.apiKey, { chuteId: chutes.opts.chutes[0]!.chute_id, method: 'render' });
  await provider('delete-render', 'render', render.url, `${render.opts.publicKey}:${render.opts.secretKey}`, { pricePerGpuHour: '3.00' });
  op = startOperator(testbed().kubeconfig, ['--namespace', ns, '--leader-elect', 'false', '--remote-poll', '1', '--provider-probe', '2']);
  await waitForProbes(c, Object.keys(FAKES));
}, 180_000);

afterAll(async () => {
  await op?.kill('SIGTERM');
  await deleteComputeProviders(c, Object.keys(FAKES));
  await Promise.all(Object.values(FAKES).map((f) => f.stop()));
});

test('deleting a job mid-burst cancels all its remote work before the job disappears', async () => {
  const job = renderJob('doomed', { count: 30, models: ['nvidia-h100'] });
  (job.spec as Record<string, unknown>).placement = { policy: 'ProviderOnly', providers: Object.keys(FAKES) };
  const uid = ((await createJob(c, ns, job)) as { metadata: { uid: string } }).metadata.uid;
  // mid-burst: every provider holds five (three running, two waiting there), the other fifteen shards wait for room
  await waitFor('five shards at every provider, three of them running', async () => liveRemote(uid).length === 15 && Object.values(runningOf(uid)).every((n) => n === 3), 90_000, 100);
  const before = runningOf(uid);
  const liveAtDelete = liveRemote(uid).length;
  const submittedBefore = Object.values(FAKES).reduce((n, f) => n + Object.keys(f.submissionCounts()).filter((k) => k.startsWith(`${uid}-`)).length, 0);

  // The first cancels fail (the adapters' own retries use some of these up): the finalizer must retry until confirmed.
  akash.inject({ kind: 'status', status: 503, count: 6, match: { method: 'DELETE', path: '/v1/deployments/' } });
  chutes.inject({ kind: 'status', status: 502, count: 6, match: { method: 'DELETE', path: '/jobs/' } });
  render.inject({ kind: 'status', status: 503, count: 6, match: { method: 'PUT', path: '/cancel' } });

  const t0 = Date.now();
  await c.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'renderjobs', namespace: ns, name: 'doomed' });
  let maxLiveWhileDeleting = 0;
  let polls = 0;
  const gone = await waitFor('doomed gone', async () => {
    const liveNow = liveRemote(uid).length;
    try {
      await c.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'renderjobs', namespace: ns, name: 'doomed' });
    } catch (e) {
      if ((e as { code?: number }).code !== 404) throw e;
      // Checked right when the job is gone: nothing of it may still be live on any fake.
      return { live: liveRemote(uid), running: runningOf(uid), fakesRunning: Object.fromEntries(Object.entries(FAKES).map(([n, f]) => [n, f.running()])) };
    }
    polls++;
    maxLiveWhileDeleting = Math.max(maxLiveWhileDeleting, liveNow);
    return undefined;
  }, 120_000, 50);
  const secs = (Date.now() - t0) / 1000;
  const shardsLeft = await listShards(c, ns, 'doomed');
  const faulted = Object.fromEntries(Object.entries(FAKES).map(([n, f]) => [n, f.server.requests.filter((r) => r.status === 502 || r.status === 503).length]));
  console.log(`delete: ${JSON.stringify(before)} running, ${liveAtDelete} live and ${submittedBefore} submitted at delete; job gone after ${secs.toFixed(1)}s (${polls} polls while it was terminating, up to ${maxLiveWhileDeleting} remote jobs still live then); at that moment live ${JSON.stringify(gone.live)}, running ${JSON.stringify(gone.fakesRunning)}; failed cancel answers ${JSON.stringify(faulted)}; RenderShards left ${shardsLeft.length}`);

  expect(gone.live).toEqual([]);
  expect(gone.fakesRunning).toEqual({ 'delete-akash': 0, 'delete-chutes': 0, 'delete-render': 0 });
  expect(shardsLeft).toEqual([]);
  // the deletion really waited on the cancels (Render takes two seconds to stop a running job)
  expect(maxLiveWhileDeleting).toBeGreaterThan(0);
  for (const n of Object.keys(FAKES)) expect(faulted[n]).toBeGreaterThan(0);
  // and nothing new was sent for it afterwards
  const submittedAfter = Object.values(FAKES).reduce((n, f) => n + Object.keys(f.submissionCounts()).filter((k) => k.startsWith(`${uid}-`)).length, 0);
  await new Promise((r) => setTimeout(r, 3000));
  const submittedLater = Object.values(FAKES).reduce((n, f) => n + Object.keys(f.submissionCounts()).filter((k) => k.startsWith(`${uid}-`)).length, 0);
  expect(submittedLater).toBe(submittedAfter);
  expect(liveRemote(uid)).toEqual([]);
}, 300_000);
