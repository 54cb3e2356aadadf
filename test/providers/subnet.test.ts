// The subnet adapter against a real peer: a second control plane ("site B", one node with 8 H100s)
// with Atelier's CRDs and the real operator (the built CLI) running there. Shards are submitted
// through the adapter exactly as the origin's controller would, and every assertion reads the peer
// cluster's state or the adapter's answers about it. The last test puts the three burst parts
// together on site A (the test-bed): a subnet ComputeProvider whose kubeconfig is in a Secret, probed
// by the ComputeProvider reconciler (status written through the real API), the registry feeding the
// planner, and the registry's adapter running the burst shard on site B.
import { readFileSync } from 'node:fs';
import type { ComputeProvider } from '../../operator/src/api/index.js';
import { ComputeProviderReconciler, apiProviderStatusWriter, secretReader } from '../../operator/src/controllers/computeprovider/index.js';
import { defaultAdapterFor } from '../../operator/src/providers/factory.js';
import { planShards } from '../../operator/src/planner/index.js';
import { outputsDigest } from '../../operator/src/providers/results.js';
import { realClock } from '../../operator/src/runtime/clock.js';
import { nopLog } from '../../operator/src/runtime/logger.js';
import { SubnetAdapter, type SubnetShardSpec } from '../../operator/src/providers/subnet/adapter.js';
import { keyHash } from '../../operator/src/providers/subnet/names.js';
import { peerSite } from '../support/subnet-peer.js';
import { clients, freshNamespace, waitFor, type Clients } from '../support/testbed.js';

const GROUP = 'atelier.dev';
const VERSION = 'v1alpha1';
const peer = peerSite(`${process.env.ATELIER_TEST_CLUSTER ?? 'jest'}-siteb`);

let kubeconfigB: string;
let b: Clients;
let ns: string;
let adapter: SubnetAdapter;

const SHA = 'c'.repeat(64);
const result = (uri: string) => JSON.stringify({ outputs: [{ uri, sha256: SHA }] });

function shard(index: number, o: { duration?: string; message?: string; frames?: { start: number; end: number } } = {}): SubnetShardSpec {
  return {
    jobUid: 'origin-uid-1', jobNamespace: 'studio', jobName: 'lighting-sweep', shardIndex: index, shardCount: 400,
    image: 'ghcr.io/acme/sdxl-batch:1.4', command: ['python', 'render.py'], args: ['--steps', '30'],
    env: [{ name: 'PROMPT', value: 'a glass atrium at dusk' }], gpuCount: 1, gpuModels: ['nvidia-h100'],
    outputUri: 's3://renders/lighting/', ...(o.frames ? { frames: o.frames } : {}),
    template: {
      image: 'ghcr.io/acme/sdxl-batch:1.4', resources: { limits: { 'nvidia.com/gpu': 1 } },
      metadata: { annotations: { 'testbed.atelier.dev/duration': o.duration ?? '2s', ...(o.message ? { 'testbed.atelier.dev/message': o.message } : {}) } },
    },
  };
}

const peerJobs = async (selector: string) =>
  ((await b.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'renderjobs', namespace: ns, labelSelector: selector })) as { items: { metadata: { name: string } }[] }).items;

beforeAll(async () => {
  ({ kubeconfig: kubeconfigB, clients: b, namespace: ns, adapter } = await peer.start({ originCrds: true, prepare: async (c) => ({ namespace: await freshNamespace(c, 'shared-renders') }) }));
}, 300_000);

afterAll(() => peer.stop(), 120_000);

test('listOffers reports the peer\'s free GPUs per model at the configured price', async () => {
  const offers = await adapter.listOffers({ gpuCount: 1 });
  expect(offers).toEqual([expect.objectContaining({ gpuModel: 'nvidia-h100', usdPerGpuHour: '2.50', available: 8, gpuCount: 1 })]);
  expect(await adapter.listOffers({ gpuCount: 1, gpuModels: ['nvidia-rtx-4090'] })).toEqual([]);
  expect(await adapter.listOffers({ gpuCount: 1, maxUsdPerGpuHour: '2.00' })).toEqual([]);
});

test('a shard submitted to the peer runs there to Succeeded; results, cost, findByKey, idempotent resubmit, cancel', async () => {
  const key = 'origin-uid-1-43-1';
  const spec = shard(43, { frames: { start: 259, end: 264 }, message: result('s3://renders/lighting/259-264.exr') });
  const { remoteId } = await adapter.submit(spec, { idempotencyKey: key });
  expect(remoteId.length).toBeLessThanOrEqual(63);

  // the peer's operator runs it: its own pod, on its own GPUs
  const seen = new Set<string>();
  const done = await waitFor('peer shard Succeeded', async () => {
    const st = await adapter.getStatus(remoteId);
    seen.add(st.phase);
    if (st.phase === 'Failed') throw new Error(`peer job failed: ${st.raw} ${st.message}`);
    return st.phase === 'Succeeded' ? st : undefined;
  }, 120_000, 200);
  expect(done.startedAt).toBeInstanceOf(Date);
  expect(done.endedAt).toBeInstanceOf(Date);
  expect([...seen].every((p) => ['Pending', 'Provisioning', 'Running', 'Succeeded'].includes(p))).toBe(true);

  // the program saw its origin frames, output and identity
  const pods = (await b.core.listNamespacedPod({ namespace: ns, labelSelector: `atelier.dev/job=${remoteId}` })).items;
  expect(pods).toHaveLength(1);
  const env = Object.fromEntries(pods[0]!.spec!.containers[0]!.env!.map((e) => [e.name, e.value]));
  expect(env).toMatchObject({
    PROMPT: 'a glass atrium at dusk', ATELIER_FRAME_START: '259', ATELIER_FRAME_END: '264', ATELIER_OUTPUT_URI: 's3://renders/lighting/',
    ATELIER_ORIGIN_SHARD_INDEX: '43', ATELIER_ORIGIN_SHARD_COUNT: '400', ATELIER_IDEMPOTENCY_KEY: key,
  });
  const job = (await b.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'renderjobs', namespace: ns, name: remoteId })) as {
    metadata: { labels: Record<string, string>; annotations: Record<string, string> }; spec: { placement: { policy: string }; template: { env: { name: string; value: string }[] } };
  };
  expect(job.spec.placement.policy).toBe('LocalOnly');
  expect(job.spec.template.env).toEqual(expect.arrayContaining([{ name: 'ATELIER_SHARD_INDEX', value: '43' }]));
  expect(job.metadata.labels).toMatchObject({ 'atelier.dev/origin-cluster': 'site-a', 'atelier.dev/origin-namespace': 'studio', 'atelier.dev/origin-job': 'lighting-sweep', 'atelier.dev/origin-shard': '43' });
  expect(job.metadata.annotations['atelier.dev/idempotency-key']).toBe(key);

  const res = await adapter.getResults(remoteId);
  expect(res).toEqual({ supported: true, outputs: [{ uri: 's3://renders/lighting/259-264.exr', sha256: SHA }], digest: outputsDigest([{ uri: 's3://renders/lighting/259-264.exr', sha256: SHA }]), integrity: 'reported' });

  const cost = await waitFor('peer cost recorded', async () => {
    const c = await adapter.getCost(remoteId);
    return c.basis === 'settled' && Number(c.usd) > 0 ? c : undefined;
  }, 30_000, 250);
  // ~2 GPU-seconds at the peer's 2.00 USD/GPU-hour: about a tenth of a cent
  expect(cost.currency).toBe('USD');
  expect(Number(cost.usd)).toBeLessThan(0.01);

  // idempotency: found by key; the same key again creates nothing new
  expect(await adapter.findByKey(key)).toBe(remoteId);
  expect(await adapter.findByKey('origin-uid-1-43-2')).toBeUndefined();
  expect(await adapter.submit(spec, { idempotencyKey: key })).toEqual({ remoteId });
  expect(await peerJobs(`atelier.dev/idempotency-key-hash=${keyHash(key)}`)).toHaveLength(1);

  // cancel removes it (and is a no-op the second time)
  await adapter.cancel(remoteId);
  await expect(adapter.getStatus(remoteId)).rejects.toMatchObject({ kind: 'notFound' });
  await adapter.cancel(remoteId);
  expect(await adapter.findByKey(key)).toBeUndefined();
});

test('cancel stops a running peer shard and confirms the peer job and its pod are gone', async () => {
  const key = 'origin-uid-1-44-1';
  const { remoteId } = await adapter.submit(shard(44, { duration: '10m' }), { idempotencyKey: key });
  await waitFor('peer shard Running', async () => (await adapter.getStatus(remoteId)).phase === 'Running', 60_000, 200);
  const offers = await adapter.listOffers({ gpuCount: 1 });
  expect(offers[0]!.available).toBe(7); // its pod holds one of the peer's GPUs
  await adapter.cancel(remoteId);
  await expect(adapter.getStatus(remoteId)).rejects.toMatchObject({ kind: 'notFound' });
  await waitFor('peer pod gone', async () => (await b.core.listNamespacedPod({ namespace: ns, labelSelector: `atelier.dev/job=${remoteId}` })).items.length === 0, 60_000);
  expect(await peerJobs(`atelier.dev/origin-shard=44`)).toHaveLength(0);
});

test('a submission under another key never takes over an existing peer job', async () => {
  const a = await adapter.submit(shard(45, { duration: '1s' }), { idempotencyKey: 'origin-uid-1-45-1' });
  const c = await adapter.submit(shard(45, { duration: '1s' }), { idempotencyKey: 'origin-uid-1-45-2' });
  expect(c.remoteId).not.toBe(a.remoteId);
  expect(await peerJobs('atelier.dev/origin-shard=45')).toHaveLength(2);
  await Promise.all([adapter.cancel(a.remoteId), adapter.cancel(c.remoteId)]);
});

test('the ComputeProvider controller probes the peer through a Secret, writes status, and the planner bursts to it', async () => {
  // site A: the test-bed cluster; the peer's kubeconfig lives in a Secret there
  const a = clients();
  const secretNs = await freshNamespace(a, 'atelier-system');
  const kubeconfigText = readFileSync(kubeconfigB, 'utf8');
  await a.core.createNamespacedSecret({ namespace: secretNs, body: { metadata: { name: 'studio-b' }, stringData: { kubeconfig: kubeconfigText } } });
  const mk = (name: string, secretName: string) => ({
    apiVersion: `${GROUP}/${VERSION}`, kind: 'ComputeProvider',
    metadata: { name, annotations: { 'atelier.dev/price-per-gpu-hour': '1.25' } },
    spec: { type: 'subnet', maxConcurrentShards: 4, maxPricePerGpuHour: '3.00', subnet: { kubeconfigSecretRef: { namespace: secretNs, name: secretName, key: 'kubeconfig' }, namespace: ns } },
  });
  const suffix = secretNs.slice(-6);
  const good = `studio-b-${suffix}`;
  const bad = `nowhere-${suffix}`;
  await a.core.createNamespacedSecret({ namespace: secretNs, body: { metadata: { name: 'nowhere' }, stringData: { kubeconfig: kubeconfigText.replace(/server: https:\/\/127\.0\.0\.1:\d+/, 'server: https://127.0.0.1:1') } } });
  await a.custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: 'computeproviders', body: mk(good, 'studio-b') });
  await a.custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: 'computeproviders', body: mk(bad, 'nowhere') });
  const read = async (name: string) => (await a.custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: 'computeproviders', name })) as ComputeProvider;
  const cache = new Map<string, ComputeProvider>();
  const refresh = async () => { for (const n of [good, bad]) cache.set(n, await read(n)); };
  const logged: string[] = [];
  const log = { ...nopLog, warn: (m: string, f?: Record<string, unknown>) => { logged.push(`${m} ${JSON.stringify(f)}`); } };
  const r = new ComputeProviderReconciler({
    providers: { get: (n) => cache.get(n), list: () => [...cache.values()] },
    adapterFor: defaultAdapterFor({ clusterId: 'site-a' }),
    readSecret: secretReader(a.core, secretNs),
    writer: apiProviderStatusWriter(a.custom),
    clock: realClock, recorder: { event: () => undefined }, log,
    config: { probeIntervalMs: 0, probeTimeoutMs: 20_000 },
  });
  try {
    await refresh();
    await r.reconcile(good);
    for (let i = 0; i < 3; i++) { await r.reconcile(bad); await refresh(); }
    const g = await read(good);
    expect(g.status).toMatchObject({ offers: [{ gpuModel: 'nvidia-h100', pricePerGpuHour: '1.25', available: 8 }], consecutiveFailures: 0, shardsInFlight: 0, reliability: '1.00' });
    expect(g.status!.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'ProbeSucceeded' });
    const b2 = await read(bad);
    expect(b2.status!.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'CircuitOpen' });
    expect(b2.status!.pausedReason).toMatch(/^CircuitOpen: 3 failures in a row/);
    expect(JSON.stringify({ g, b2, logged })).not.toContain(kubeconfigText.match(/token: (\S+)/)![1]);

    // the planner, fed from the registry, bursts to the healthy peer only; the registry's adapter submits
    const view = r.registry.plannerView();
    const plan = planShards({
      now: Date.now(), namespace: 'studio', policy: 'Burst', burstAfterMs: 60_000, gpusPerShard: 1, expectedShardMs: 2000,
      pending: [{ index: 50, waitedMs: 120_000 }], local: [], ...view,
    });
    expect(plan.shards[0]).toMatchObject({ placement: 'Remote', provider: good });
    const adapter = (await r.registry.get(good))!;
    const { remoteId } = await adapter.submit(shard(50, { duration: '1s' }), { idempotencyKey: 'origin-uid-1-50-1' });
    await waitFor('burst shard Succeeded on the peer', async () => (await adapter.getStatus(remoteId)).phase === 'Succeeded', 60_000, 250);
    await adapter.cancel(remoteId);
  } finally {
    for (const n of [good, bad]) await a.custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: 'computeproviders', name: n }).catch(() => undefined);
  }
});
