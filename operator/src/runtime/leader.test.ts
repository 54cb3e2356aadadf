// Leader election logic on an in-memory Lease store with resourceVersion preconditions and a fake
// clock: one leader among candidates, renewal, release on stop, takeover after expiry, stepping down
// when renewals fail or another holder appears. The real API server: test/runtime/leader.test.ts.
import type * as k8s from '@kubernetes/client-node';
import { FakeClock, flushMicrotasks } from './clock.js';
import { LeaderElector, type LeaseClient } from './leader.js';

class FakeLeases {
  lease: k8s.V1Lease | undefined;
  rv = 1;
  writes = 0;
  /** Identities whose calls fail (network partition). */
  partitioned = new Set<string>();

  forIdentity(id: string): LeaseClient {
    const check = (): void => {
      if (this.partitioned.has(id)) throw Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT' });
    };
    return {
      get: async () => {
        check();
        return this.lease ? (JSON.parse(JSON.stringify(this.lease)) as k8s.V1Lease) : undefined;
      },
      create: async (_ns, lease) => {
        check();
        if (this.lease) throw Object.assign(new Error('exists'), { code: 409 });
        this.lease = this.stored(lease);
        return this.lease;
      },
      replace: async (_ns, _name, lease) => {
        check();
        if (!this.lease || lease.metadata?.resourceVersion !== this.lease.metadata?.resourceVersion) {
          throw Object.assign(new Error('conflict'), { code: 409 });
        }
        this.lease = this.stored(lease);
        return this.lease;
      },
    };
  }

  holder(): string | undefined {
    return this.lease?.spec?.holderIdentity;
  }

  private stored(lease: k8s.V1Lease): k8s.V1Lease {
    this.writes++;
    // Through JSON, as over the wire: MicroTime becomes a string with microseconds.
    const copy = JSON.parse(JSON.stringify(lease)) as k8s.V1Lease;
    copy.metadata = { ...copy.metadata, resourceVersion: String(++this.rv) };
    return copy;
  }
}

function candidate(leases: FakeLeases, clock: FakeClock, identity: string) {
  const log: string[] = [];
  let signal: AbortSignal | undefined;
  const elector = new LeaderElector({
    client: leases.forIdentity(identity),
    namespace: 'atelier-system',
    name: 'atelier-leader',
    identity,
    clock,
    onStartedLeading: (s) => {
      signal = s;
      log.push('started');
    },
    onStoppedLeading: () => log.push('stopped'),
  });
  const done = elector.run();
  return { elector, log, done, signal: () => signal };
}

describe('LeaderElector', () => {
  it('elects exactly one of two candidates and keeps renewing', async () => {
    const leases = new FakeLeases();
    const clock = new FakeClock();
    const a = candidate(leases, clock, 'a');
    const b = candidate(leases, clock, 'b');
    await clock.advanceAsync(0);
    const leaders = [a, b].filter((c) => c.elector.isLeader());
    expect(leaders.length).toBe(1);
    const leader = leaders[0]!;
    const other = leader === a ? b : a;
    expect(leases.holder()).toBe(leader === a ? 'a' : 'b');
    const writes = leases.writes;
    await clock.advanceAsync(60_000);
    expect(other.elector.leader()).toBe(leases.holder());
    expect(leader.elector.isLeader()).toBe(true);
    expect(other.elector.isLeader()).toBe(false);
    expect(leases.writes - writes).toBeGreaterThanOrEqual(25);
    expect(leases.lease?.spec?.renewTime).toMatch(/\.\d{6}Z$/);
    await a.elector.stop();
    await b.elector.stop();
  });

  it('hands over at once when the leader stops and releases', async () => {
    const leases = new FakeLeases();
    const clock = new FakeClock();
    const a = candidate(leases, clock, 'a');
    await clock.advanceAsync(0);
    const b = candidate(leases, clock, 'b');
    await clock.advanceAsync(2_000);
    expect(a.elector.isLeader()).toBe(true);
    expect(b.elector.isLeader()).toBe(false);
    await a.elector.stop();
    await a.done;
    expect(a.log).toEqual(['started', 'stopped']);
    expect(a.signal()?.aborted).toBe(true);
    expect(leases.holder()).toBeUndefined();
    await clock.advanceAsync(2_500);
    expect(b.elector.isLeader()).toBe(true);
    expect(leases.holder()).toBe('b');
    expect(leases.lease?.spec?.leaseTransitions).toBe(1);
    await b.elector.stop();
  });

  it('a partitioned leader steps down after renewDeadline; the other takes over after the lease expires', async () => {
    const leases = new FakeLeases();
    const clock = new FakeClock();
    const a = candidate(leases, clock, 'a');
    await clock.advanceAsync(0);
    const b = candidate(leases, clock, 'b');
    await clock.advanceAsync(2_000); // a renews at +2 s
    const cutAt = clock.now();
    leases.partitioned.add('a');
    await clock.advanceAsync(9_999);
    expect(a.elector.isLeader()).toBe(true);
    await clock.advanceAsync(1);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.log).toEqual(['started', 'stopped']);
    expect(a.signal()?.aborted).toBe(true);
    await a.done;
    // a's last renewal was at the cut; b may not lead before it expires (15 s later).
    expect(b.elector.isLeader()).toBe(false);
    await clock.advanceAsync(cutAt + 15_000 - clock.now() - 1);
    expect(b.elector.isLeader()).toBe(false);
    await clock.advanceAsync(3_000);
    expect(b.elector.isLeader()).toBe(true);
    expect(leases.holder()).toBe('b');
    await a.elector.stop();
    await b.elector.stop();
  });

  it('steps down at once when it finds another holder', async () => {
    const leases = new FakeLeases();
    const clock = new FakeClock();
    const a = candidate(leases, clock, 'a');
    await clock.advanceAsync(0);
    expect(a.elector.isLeader()).toBe(true);
    leases.lease!.spec!.holderIdentity = 'intruder';
    leases.lease!.spec!.renewTime = new Date(clock.now()).toISOString() as never;
    await clock.advanceAsync(2_000);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.log).toEqual(['started', 'stopped']);
    await a.done;
    await a.elector.stop();
    expect(leases.holder()).toBe('intruder');
  });

  it('isLeader() turns false at renewDeadline even if no timer has run', async () => {
    const leases = new FakeLeases();
    const clock = new FakeClock();
    const a = candidate(leases, clock, 'a');
    await clock.advanceAsync(0);
    expect(a.elector.isLeader()).toBe(true);
    leases.partitioned.add('a');
    clock.advance(10_000); // synchronous: no renew loop turn in between
    expect(a.elector.isLeader()).toBe(false);
    await a.elector.stop();
  });

  it('rejects timing that would let two leaders overlap', () => {
    const leases = new FakeLeases();
    expect(
      () => new LeaderElector({ client: leases.forIdentity('x'), namespace: 'n', name: 'l', identity: 'x', leaseDurationMs: 10_000, renewDeadlineMs: 10_000, onStartedLeading: () => undefined }),
    ).toThrow(/renewDeadline/);
  });
});

test('a Lease namespace that does not exist: one clear error naming it, then onFatal after the bound (no endless "lease update failed")', async () => {
  const clock = new FakeClock(Date.parse('2026-12-01T00:00:00Z'));
  const logs: string[] = [];
  const fatal: string[] = [];
  let creates = 0;
  const elector = new LeaderElector({
    client: {
      get: async () => undefined,
      create: async () => { creates++; throw Object.assign(new Error('HTTP-Code: 404 namespaces "atelier-system" not found'), { code: 404 }); },
      replace: async () => { throw new Error('unreachable'); },
    },
    namespace: 'atelier-system', name: 'atelier-leader', identity: 'a', clock, fatalAfter: 3,
    onStartedLeading: () => { throw new Error('must not lead'); },
    onFatal: (e) => fatal.push(e.message),
    logger: { error: (m, f) => logs.push(`${m} ${JSON.stringify(f)}`), warn: (m) => logs.push(m), info: () => undefined, debug: () => undefined },
  });
  const run = elector.run();
  for (let i = 0; i < 20 && fatal.length === 0; i++) { await flushMicrotasks(); clock.advance(3000); await flushMicrotasks(); }
  await run;
  expect(fatal).toHaveLength(1);
  expect(fatal[0]).toMatch(/namespace "atelier-system" does not exist: create it \(kubectl create namespace atelier-system\)/);
  expect(creates).toBe(3);
  expect(logs.filter((l) => l.startsWith('leader election cannot proceed'))).toHaveLength(1);
  expect(logs.some((l) => l.startsWith('lease update failed'))).toBe(false);
});
