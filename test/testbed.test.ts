// Acceptance tests for the test-bed itself: the real scheduler binds GPU pods to KWOK's fake GPU
// nodes, our pod stages drive bare pods to Succeeded/Failed with the annotated termination message,
// the garbage collector works, clusters are isolated, and the chain answers.
import type * as k8s from '@kubernetes/client-node';
import { clients, freshNamespace, startCluster, stopCluster, testbed, waitFor, type Clients } from './support/testbed.js';

let c: Clients;
let ns: string;

beforeAll(async () => {
  c = clients();
  ns = await freshNamespace(c, 'testbed');
});

afterAll(async () => {
  await c.core.deleteNamespace({ name: ns }).catch(() => undefined);
});

function gpuPod(name: string, gpus: number, opts: { annotations?: Record<string, string>; nodeSelector?: Record<string, string> } = {}): k8s.V1Pod {
  return {
    metadata: { name, annotations: opts.annotations },
    spec: {
      restartPolicy: 'Never',
      nodeSelector: opts.nodeSelector,
      containers: [{ name: 'shard', image: 'example.invalid/render:1', resources: { limits: { 'nvidia.com/gpu': String(gpus) } } }],
    },
  };
}

const readPod = (name: string) => c.core.readNamespacedPod({ name, namespace: ns });

test('fake GPU nodes advertise nvidia.com/gpu and their model, and stay Ready', async () => {
  const nodes = (await c.core.listNode({ labelSelector: 'type=kwok' })).items;
  expect(nodes).toHaveLength(3);
  const byModel = new Map<string, number[]>();
  for (const n of nodes) {
    const model = n.metadata!.labels!['nvidia.com/gpu.product']!;
    expect(n.status!.capacity!['nvidia.com/gpu']).toBe(n.status!.allocatable!['nvidia.com/gpu']);
    byModel.set(model, [...(byModel.get(model) ?? []), Number(n.status!.allocatable!['nvidia.com/gpu'])]);
    expect(n.status!.conditions!.find((x) => x.type === 'Ready')!.status).toBe('True');
  }
  expect(byModel.get('nvidia-h100')).toEqual([4, 4]);
  expect(byModel.get('nvidia-rtx-4090')).toEqual([2]);
  // kwok renews each node's Lease: that is what keeps the node lifecycle controller from tainting them.
  const lease = await c.coordination.readNamespacedLease({ name: nodes[0]!.metadata!.name!, namespace: 'kube-node-lease' });
  expect(lease.spec!.holderIdentity).toBeTruthy();
  expect(Date.now() - new Date(lease.spec!.renewTime as unknown as string).getTime()).toBeLessThan(60_000);
});

test('a 1-GPU pod is bound by the scheduler, runs, then succeeds with the annotated termination message', async () => {
  const message = JSON.stringify({ outputs: [{ uri: 's3://renders/frame-0001.exr', sha256: 'a'.repeat(64) }] });
  await c.core.createNamespacedPod({
    namespace: ns,
    body: gpuPod('one-gpu', 1, { annotations: { 'testbed.atelier.dev/duration': '3s', 'testbed.atelier.dev/message': message } }),
  });
  const running = await waitFor('pod Running', async () => {
    const p = await readPod('one-gpu');
    return p.status?.phase === 'Running' ? p : undefined;
  }, 30000);
  expect(running.spec!.nodeName).toMatch(/^gpu-/);
  expect(running.status!.conditions!.find((x) => x.type === 'PodScheduled')!.status).toBe('True');
  const done = await waitFor('pod Succeeded', async () => {
    const p = await readPod('one-gpu');
    return p.status?.phase === 'Succeeded' ? p : undefined;
  }, 30000);
  const term = done.status!.containerStatuses![0]!.state!.terminated!;
  expect(term.exitCode).toBe(0);
  expect(term.message).toBe(message);
  expect(JSON.parse(term.message!).outputs[0].sha256).toBe('a'.repeat(64));
});

test('a pod annotated to fail ends Failed with its exit code and message', async () => {
  await c.core.createNamespacedPod({
    namespace: ns,
    body: gpuPod('fails', 1, {
      annotations: { 'testbed.atelier.dev/duration': '1s', 'testbed.atelier.dev/fail': 'true', 'testbed.atelier.dev/exit-code': '3', 'testbed.atelier.dev/message': 'out of VRAM' },
    }),
  });
  const p = await waitFor('pod Failed', async () => {
    const p = await readPod('fails');
    return p.status?.phase === 'Failed' ? p : undefined;
  }, 30000);
  const term = p.status!.containerStatuses![0]!.state!.terminated!;
  expect(term.exitCode).toBe(3);
  expect(term.message).toBe('out of VRAM');
});

test('a pod needing more GPUs than any node has stays Pending and Unschedulable', async () => {
  await c.core.createNamespacedPod({ namespace: ns, body: gpuPod('too-big', 16) });
  const cond = await waitFor('PodScheduled=False', async () => {
    const p = await readPod('too-big');
    return p.status?.conditions?.find((x) => x.type === 'PodScheduled' && x.status === 'False');
  }, 30000);
  expect(cond.reason).toBe('Unschedulable');
  expect(cond.message).toMatch(/nvidia\.com\/gpu/);
  expect((await readPod('too-big')).status!.phase).toBe('Pending');
});

test('a node selector on nvidia.com/gpu.product lands pods only on that model', async () => {
  const names = ['sel-0', 'sel-1'];
  for (const n of names) {
    await c.core.createNamespacedPod({
      namespace: ns,
      body: gpuPod(n, 1, { nodeSelector: { 'nvidia.com/gpu.product': 'nvidia-rtx-4090' }, annotations: { 'testbed.atelier.dev/duration': '60s' } }),
    });
  }
  for (const n of names) {
    const p = await waitFor(`${n} bound`, async () => {
      const p = await readPod(n);
      return p.spec?.nodeName ? p : undefined;
    }, 30000);
    const node = await c.core.readNode({ name: p.spec!.nodeName! });
    expect(node.metadata!.labels!['nvidia.com/gpu.product']).toBe('nvidia-rtx-4090');
  }
  // The 4090 node has 2 GPUs: a third such pod cannot be placed while both run.
  await c.core.createNamespacedPod({ namespace: ns, body: gpuPod('sel-2', 1, { nodeSelector: { 'nvidia.com/gpu.product': 'nvidia-rtx-4090' } }) });
  const cond = await waitFor('sel-2 unschedulable', async () => {
    const p = await readPod('sel-2');
    return p.status?.conditions?.find((x) => x.type === 'PodScheduled' && x.status === 'False');
  }, 30000);
  expect(cond.reason).toBe('Unschedulable');
  for (const n of [...names, 'sel-2']) await c.core.deleteNamespacedPod({ name: n, namespace: ns, gracePeriodSeconds: 0 });
});

test('deleting an owner removes its pods (garbage collector)', async () => {
  const owner = await c.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'owner' }, data: {} } });
  const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid!, controller: true, blockOwnerDeletion: true };
  for (const n of ['owned-0', 'owned-1']) {
    const body = gpuPod(n, 1, { annotations: { 'testbed.atelier.dev/duration': '600s' } });
    body.metadata!.ownerReferences = [ref];
    await c.core.createNamespacedPod({ namespace: ns, body });
  }
  expect((await c.core.listNamespacedPod({ namespace: ns })).items.filter((p) => p.metadata!.name!.startsWith('owned-'))).toHaveLength(2);
  await c.core.deleteNamespacedConfigMap({ name: 'owner', namespace: ns, propagationPolicy: 'Background' });
  await waitFor('owned pods collected', async () => {
    const left = (await c.core.listNamespacedPod({ namespace: ns })).items.filter((p) => p.metadata!.name!.startsWith('owned-'));
    return left.length === 0;
  }, 60000);
});

test('two clusters run at once and do not see each other', async () => {
  const name = `${testbed().name}-b`;
  const kubeconfigB = await startCluster(name, '1:8:nvidia-a100-80gb');
  try {
    const b = clients(kubeconfigB);
    expect(b.kc.getCurrentCluster()!.server).not.toBe(c.kc.getCurrentCluster()!.server);
    await b.core.createNamespace({ body: { metadata: { name: 'only-in-b' } } });
    const nsA = (await c.core.listNamespace()).items.map((n) => n.metadata!.name);
    expect(nsA).not.toContain('only-in-b');
    expect(nsA).toContain(ns);
    const nsB = (await b.core.listNamespace()).items.map((n) => n.metadata!.name);
    expect(nsB).toContain('only-in-b');
    expect(nsB).not.toContain(ns);
    const modelsB = (await b.core.listNode()).items.map((n) => n.metadata!.labels!['nvidia.com/gpu.product']);
    expect(modelsB).toEqual(['nvidia-a100-80gb']);
  } finally {
    await stopCluster(name);
  }
});

test('the chain answers eth_chainId and its first account is funded', async () => {
  const rpc = async (method: string, params: unknown[] = []) => {
    const res = await fetch(testbed().chainUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) });
    return ((await res.json()) as { result: string }).result;
  };
  expect(Number(await rpc('eth_chainId'))).toBe(31337);
  const [first] = (await rpc('eth_accounts')) as unknown as string[];
  expect(BigInt(await rpc('eth_getBalance', [first, 'latest']))).toBeGreaterThan(10n ** 21n);
});
