// The runtime's informer against the real API server: it lists and watches pods (add, update,
// delete reach handlers; the label index follows), resumes after the server closes watches, catches
// up after a broken connection, and relists after a real 410 Gone.
import * as k8s from '@kubernetes/client-node';
import { Informer, kubeListerWatcher, labelIndex, type ListerWatcher } from '../../operator/src/runtime/index.js';
import { clients, freshNamespace, waitFor } from '../support/testbed.js';

const c = clients();

/** A pod nothing can schedule: it stays Pending and deletes at once. */
function pod(name: string, job: string): k8s.V1Pod {
  return {
    metadata: { name, labels: { 'atelier.dev/job': job } },
    spec: {
      nodeSelector: { 'atelier.dev/test': 'nowhere' },
      containers: [{ name: 'main', image: 'busybox' }],
    },
  };
}

async function deletePod(namespace: string, name: string): Promise<void> {
  await c.core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 });
}

describe('Informer (real API server)', () => {
  const informers: Informer<k8s.V1Pod>[] = [];
  afterAll(async () => {
    await Promise.all(informers.map((i) => i.stop()));
  });

  function track(i: Informer<k8s.V1Pod>): Informer<k8s.V1Pod> {
    informers.push(i);
    return i;
  }

  it('lists, watches add/update/delete and keeps the index', async () => {
    const ns = await freshNamespace(c, 'rt-inf');
    await c.core.createNamespacedPod({ namespace: ns, body: pod('before', 'j1') });
    const events: string[] = [];
    const informer = track(
      new Informer<k8s.V1Pod>({
        path: `/api/v1/namespaces/${ns}/pods`,
        kubeConfig: c.kc,
        indexers: { job: labelIndex('atelier.dev/job') },
        pageSize: 1,
      }),
    );
    informer.addEventHandler({
      add: (p) => events.push(`add ${p.metadata?.name}`),
      update: (_o, p) => events.push(`update ${p.metadata?.name}`),
      delete: (p) => events.push(`delete ${p.metadata?.name}`),
    });
    informer.start();
    await informer.waitForSync(30_000);
    expect(informer.get(`${ns}/before`)?.kind).toBe('Pod');
    expect(informer.get(`${ns}/before`)?.metadata?.managedFields).toBeUndefined();

    await c.core.createNamespacedPod({ namespace: ns, body: pod('a', 'j1') });
    await c.core.createNamespacedPod({ namespace: ns, body: pod('b', 'j2') });
    await waitFor('adds', async () => informer.byIndex('job', `${ns}/j1`).length === 2 && informer.countByIndex('job', `${ns}/j2`) === 1);

    await c.core.patchNamespacedPod(
      { namespace: ns, name: 'b', body: { metadata: { labels: { 'atelier.dev/job': 'j1' } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await waitFor('update moves b between index values', async () => informer.countByIndex('job', `${ns}/j1`) === 3);
    expect(informer.countByIndex('job', `${ns}/j2`)).toBe(0);

    await deletePod(ns, 'a');
    await waitFor('delete', async () => !informer.get(`${ns}/a`));
    expect(informer.byIndex('job', `${ns}/j1`).map((p) => p.metadata?.name).sort()).toEqual(['b', 'before']);
    expect(events).toEqual(expect.arrayContaining(['add before', 'add a', 'add b', 'update b', 'delete a']));
    expect(events.indexOf('add before')).toBe(0);
    expect(informer.stats().lists).toBe(1);
  });

  it('resumes after the server closes the watch (short timeoutSeconds)', async () => {
    const ns = await freshNamespace(c, 'rt-inf');
    const informer = track(
      new Informer<k8s.V1Pod>({ path: `/api/v1/namespaces/${ns}/pods`, kubeConfig: c.kc, watchTimeoutSeconds: 1 }),
    );
    informer.start();
    await informer.waitForSync(30_000);
    await waitFor('several watches', async () => informer.stats().watches >= 3, 30_000);
    await c.core.createNamespacedPod({ namespace: ns, body: pod('late', 'j') });
    await waitFor('pod seen after reconnects', async () => !!informer.get(`${ns}/late`));
    expect(informer.stats().lists).toBe(1);
  });

  it('catches up after a broken connection and relists after 410 Gone', async () => {
    const ns = await freshNamespace(c, 'rt-inf');
    const real = kubeListerWatcher(c.kc, `/api/v1/namespaces/${ns}/pods`);
    let current: { abort(): void; fail(err: unknown): void } | undefined;
    // Passes through to the API server, but lets the test end the current watch with an error of its choice.
    const lw: ListerWatcher = {
      list: (o) => real.list(o),
      async watch(o, onEvent, onDone) {
        let done = false;
        const finish = (err?: unknown): void => {
          if (done) return;
          done = true;
          onDone(err);
        };
        const handle = await real.watch(o, onEvent, finish);
        current = {
          abort: () => handle.abort(),
          fail: (err) => {
            handle.abort();
            finish(err);
          },
        };
        return current;
      },
    };
    const informer = track(new Informer<k8s.V1Pod>({ path: `/api/v1/namespaces/${ns}/pods`, listerWatcher: lw, backoff: { initialMs: 1000 } }));
    informer.start();
    await informer.waitForSync(30_000);
    await c.core.createNamespacedPod({ namespace: ns, body: pod('one', 'j') });
    await waitFor('one', async () => !!informer.get(`${ns}/one`));

    // Break the connection, then change the world while the informer backs off.
    const watchesBefore = informer.stats().watches;
    current!.fail(new Error('socket hang up'));
    await c.core.createNamespacedPod({ namespace: ns, body: pod('two', 'j') });
    await deletePod(ns, 'one');
    await waitFor('caught up after reconnect', async () => !!informer.get(`${ns}/two`) && !informer.get(`${ns}/one`), 30_000);
    expect(informer.stats().watches).toBeGreaterThan(watchesBefore);
    expect(informer.stats().errors).toBeGreaterThanOrEqual(1);
    expect(informer.stats().lists).toBe(1);

    // 410 Gone as client-node's Watch reports it. (The test-bed's watch cache serves even ancient
    // resourceVersions, so a real 410 cannot be provoked on demand; the relist itself is real.)
    current!.fail(Object.assign(new Error('Gone'), { statusCode: 410 }));
    await c.core.createNamespacedPod({ namespace: ns, body: pod('three', 'j') });
    await waitFor('relisted after 410', async () => informer.stats().lists >= 2 && !!informer.get(`${ns}/three`), 30_000);
    expect([...informer.keys()].sort()).toEqual([`${ns}/three`, `${ns}/two`]);
  });

  it('watches a cluster-scoped collection', async () => {
    const informer = track(new Informer<k8s.V1Namespace>({ path: '/api/v1/namespaces', kubeConfig: c.kc }) as never);
    informer.start();
    await informer.waitForSync(30_000);
    expect(informer.get('default')).toBeDefined();
    const ns = await freshNamespace(c, 'rt-inf');
    await waitFor('new namespace', async () => !!informer.get(ns));
  });
});
