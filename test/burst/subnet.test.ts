// The private subnetwork, end to end with real parts: two test-bed clusters, each running Atelier.
// Site A (2 GPUs) runs a 12-shard Burst job whose ComputeProvider of type subnet points at site B
// (8 GPUs, kubeconfig in a Secret). A runs what fits locally and bursts the rest to B, where B's own
// operator runs them as LocalOnly RenderJobs; A's job succeeds with the counts and B's remote ids.
import { readFileSync } from 'node:fs';
import { installCrds } from '../support/crds.js';
import { startOperator, type OperatorProcess } from '../support/operator.js';
import { clients, freshNamespace, startCluster, stopCluster, testbed, waitFor, type Clients } from '../support/testbed.js';
import { cond, createJob, getJob, listShards, renderJob } from '../operator/helpers.js';

const siteA = `${testbed().name}-site-a`;
const siteB = `${testbed().name}-site-b`;
let a: Clients;
let b: Clients;
let kubeconfigA: string;
let kubeconfigB: string;
const ops: OperatorProcess[] = [];

beforeAll(async () => {
  [kubeconfigA, kubeconfigB] = await Promise.all([startCluster(siteA, '1:2:nvidia-h100'), startCluster(siteB, '2:4:nvidia-h100')]);
  a = clients(kubeconfigA);
  b = clients(kubeconfigB);
  await Promise.all([installCrds(kubeconfigA), installCrds(kubeconfigB)]);
}, 180_000);

afterAll(async () => {
  await Promise.all(ops.map((o) => o.kill('SIGTERM')));
  await Promise.all([stopCluster(siteA), stopCluster(siteB)]);
});

test('site A bursts what does not fit to site B through the subnet provider', async () => {
  const nsA = await freshNamespace(a, 'studio');
  await b.core.createNamespace({ body: { metadata: { name: 'shared-renders' } } });
  await waitFor('B default SA', async () => { await b.core.readNamespacedServiceAccount({ name: 'default', namespace: 'shared-renders' }); return true; });
  ops.push(startOperator(kubeconfigB, ['--namespace', 'shared-renders', '--lease-name', 'site-b', '--cluster-name', 'site-b', '--local-gpu-hour-price', '0.40']));
  const opA = startOperator(kubeconfigA, ['--namespace', nsA, '--lease-name', 'site-a', '--cluster-name', 'site-a', '--remote-poll', '1', '--provider-probe', '2']);
  ops.push(opA);

  await a.core.createNamespace({ body: { metadata: { name: 'atelier-system' } } }).catch(() => undefined);
  await a.core.createNamespacedSecret({ namespace: 'atelier-system', body: { metadata: { name: 'site-b' }, stringData: { kubeconfig: readFileSync(kubeconfigB, 'utf8') } } });
  await a.custom.createClusterCustomObject({
    group: 'atelier.dev', version: 'v1alpha1', plural: 'computeproviders',
    body: {
      apiVersion: 'atelier.dev/v1alpha1', kind: 'ComputeProvider', metadata: { name: 'site-b' },
      spec: {
        type: 'subnet', payoutAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
        subnet: { kubeconfigSecretRef: { namespace: 'atelier-system', name: 'site-b', key: 'kubeconfig' }, namespace: 'shared-renders' },
        options: { pricePerGpuHour: '0.50' },
      },
    },
  });
  await waitFor('site-b offers', async () => {
    const cp = (await a.custom.getClusterCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'computeproviders', name: 'site-b' })) as { status?: { offers?: { available?: number }[] } };
    return (cp.status?.offers ?? []).some((o) => (o.available ?? 0) > 0);
  }, 60_000);

  const job = renderJob('sweep', { count: 12, annotations: { 'testbed.atelier.dev/duration': '6s' } });
  (job.spec as Record<string, unknown>).placement = { policy: 'Burst', burstAfter: '1s', providers: ['site-b'], maxPricePerGpuHour: '1.00' };
  await createJob(a, nsA, job);
  const done = await waitFor('sweep Succeeded', async () => {
    const j = await getJob(a, nsA, 'sweep');
    if (j.status?.phase === 'Failed') throw new Error(JSON.stringify(j.status.conditions));
    return j.status?.phase === 'Succeeded' ? j : undefined;
  }, 240_000, 1000);
  const s = done.status!.shards!;
  console.log(`subnet burst: ${s.local} local on site A, ${s.remote} remote on site B; cost ${JSON.stringify(done.status!.cost)}`);
  expect(s).toMatchObject({ total: 12, succeeded: 12, failed: 0 });
  expect(s.local + s.remote).toBe(12);
  expect(s.local).toBeGreaterThanOrEqual(2);
  expect(s.remote).toBeGreaterThanOrEqual(8);
  expect(Number(done.status!.cost!.remote)).toBeGreaterThan(0);
  expect(cond(done.status, 'Bursting')).toBeDefined();

  // Every remote shard names the RenderJob that B ran for it, and B ran each exactly once.
  const shards = await listShards(a, nsA, 'sweep');
  const remote = shards.filter((r) => r.status?.placement === 'Remote');
  expect(remote).toHaveLength(s.remote);
  const peerJobs = ((await b.custom.listNamespacedCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'renderjobs', namespace: 'shared-renders' })) as { items: { metadata: { name: string }; spec: { placement?: { policy?: string } }; status?: { phase?: string } }[] }).items;
  const peerByName = new Map(peerJobs.map((j) => [j.metadata.name, j]));
  for (const r of remote) {
    const id = String(r.status!.remoteId);
    expect(r.status).toMatchObject({ phase: 'Succeeded', provider: 'site-b' });
    const peer = peerByName.get(id.includes('/') ? id.split('/').pop()! : id);
    expect(peer).toBeDefined();
    expect(peer!.spec.placement?.policy ?? 'LocalOnly').toBe('LocalOnly');
    expect(peer!.status?.phase).toBe('Succeeded');
  }
  expect(peerJobs.length).toBe(s.remote);
});
