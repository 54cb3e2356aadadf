// Leader election on a real coordination.k8s.io/v1 Lease: two electors, one leads (and the Lease
// says so); a stopped leader releases and the other takes over at once; a leader that stops renewing
// (partitioned) steps down and the other takes over within the lease duration. Timings are shortened.
import type * as k8s from '@kubernetes/client-node';
import { coordinationLeaseClient, LeaderElector, type LeaseClient } from '../../operator/src/runtime/index.js';
import { clients, freshNamespace, testbed, waitFor } from '../support/testbed.js';
import { startOperator } from '../support/operator.js';

const c = clients();
const timing = { leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 500 };

function elector(namespace: string, identity: string, client: LeaseClient = coordinationLeaseClient(c.coordination)) {
  const state = { started: 0, stopped: 0, signal: undefined as AbortSignal | undefined };
  const e = new LeaderElector({
    client,
    namespace,
    name: 'atelier-leader',
    identity,
    ...timing,
    onStartedLeading: (s) => {
      state.started++;
      state.signal = s;
    },
    onStoppedLeading: () => state.stopped++,
  });
  const done = e.run();
  return { e, state, done, identity };
}

async function lease(namespace: string): Promise<k8s.V1Lease> {
  return c.coordination.readNamespacedLease({ namespace, name: 'atelier-leader' });
}

describe('LeaderElector (real API server)', () => {
  const running: { e: LeaderElector }[] = [];
  afterAll(async () => {
    await Promise.all(running.map((r) => r.e.stop()));
  });

  it('elects one leader and hands over when it stops', async () => {
    const ns = await freshNamespace(c, 'rt-lease');
    const a = elector(ns, 'a');
    const b = elector(ns, 'b');
    running.push(a, b);
    const leader = await waitFor('a leader', async () => [a, b].find((x) => x.e.isLeader()), 20_000);
    const standby = leader === a ? b : a;
    // Several renewals later there is still exactly one.
    await new Promise((r) => setTimeout(r, 2500));
    expect(leader.e.isLeader()).toBe(true);
    expect(standby.e.isLeader()).toBe(false);
    const l = await lease(ns);
    expect(l.spec?.holderIdentity).toBe(leader.identity);
    expect(l.spec?.leaseDurationSeconds).toBe(4);
    expect(standby.e.leader()).toBe(leader.identity);

    const t0 = Date.now();
    await leader.e.stop();
    expect(leader.state.stopped).toBe(1);
    expect(leader.state.signal?.aborted).toBe(true);
    await waitFor('standby takes over', async () => standby.e.isLeader(), 10_000, 50);
    // Released, not expired: the standby needs one retry period, not a lease duration.
    expect(Date.now() - t0).toBeLessThan(timing.leaseDurationMs);
    expect((await lease(ns)).spec?.holderIdentity).toBe(standby.identity);
    expect((await lease(ns)).spec?.leaseTransitions).toBeGreaterThanOrEqual(1);
  });

  it('a leader that cannot renew steps down; the other takes over within the lease duration', async () => {
    const ns = await freshNamespace(c, 'rt-lease');
    const real = coordinationLeaseClient(c.coordination);
    let partitioned = false;
    const cut: LeaseClient = {
      get: (n, m) => (partitioned ? Promise.reject(new Error('connect ETIMEDOUT')) : real.get(n, m)),
      create: (n, l) => (partitioned ? Promise.reject(new Error('connect ETIMEDOUT')) : real.create(n, l)),
      replace: (n, m, l) => (partitioned ? Promise.reject(new Error('connect ETIMEDOUT')) : real.replace(n, m, l)),
    };
    const a = elector(ns, 'a', cut);
    running.push(a);
    await waitFor('a leads', async () => a.e.isLeader(), 20_000, 50);
    const b = elector(ns, 'b');
    running.push(b);
    await new Promise((r) => setTimeout(r, 1000));
    expect(b.e.isLeader()).toBe(false);

    partitioned = true;
    const cutAt = Date.now();
    await waitFor('a steps down', async () => !a.e.isLeader() && a.state.stopped === 1, 10_000, 50);
    expect(a.state.signal?.aborted).toBe(true);
    await waitFor('b takes over', async () => b.e.isLeader(), 15_000, 50);
    const took = Date.now() - cutAt;
    // a renewed at most one retry period before the cut; b needs expiry plus at most one retry.
    expect(took).toBeLessThan(timing.leaseDurationMs + 2 * timing.retryPeriodMs + 1000);
    expect((await lease(ns)).spec?.holderIdentity).toBe('b');
    await a.done;
  });
});

test('`atelier run` with a Lease namespace that does not exist says so, naming the fix, and exits non-zero (no endless "lease update failed")', async () => {
  const missing = `no-such-ns-${Math.random().toString(36).slice(2, 8)}`;
  const op = startOperator(testbed().kubeconfig, ['--namespace', 'default', '--leader-elect', 'true', '--lease-namespace', missing]);
  const code = await Promise.race([op.exited, new Promise<string>((r) => setTimeout(() => r('still running after 60 s'), 60_000))]);
  await op.kill('SIGKILL');
  expect(code).toBe(2);
  const text = op.raw.join('\n');
  expect(text).toContain(`the Lease's namespace \\"${missing}\\" does not exist: create it (kubectl create namespace ${missing})`);
  expect(op.raw.filter((l) => l.includes('lease update failed'))).toEqual([]);
}, 90_000);
