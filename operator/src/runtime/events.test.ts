// EventRecorder: event shape, aggregation of repeats into count/lastTimestamp, a new series after the
// old Event expired, per-object rate limiting, and never throwing when the API fails.
import type * as k8s from '@kubernetes/client-node';
import { FakeClock } from './clock.js';
import { EventRecorder, type EventSink } from './events.js';

class FakeSink implements EventSink {
  events = new Map<string, k8s.CoreV1Event>();
  calls: string[] = [];
  fail = false;

  async create(namespace: string, event: k8s.CoreV1Event): Promise<unknown> {
    this.calls.push('create');
    await Promise.resolve();
    if (this.fail) throw Object.assign(new Error('Internal error'), { code: 500 });
    this.events.set(`${namespace}/${event.metadata.name}`, structuredClone(event));
    return event;
  }

  async patch(namespace: string, name: string, patch: { count: number; lastTimestamp: Date }): Promise<unknown> {
    this.calls.push('patch');
    await Promise.resolve();
    if (this.fail) throw Object.assign(new Error('Internal error'), { code: 500 });
    const e = this.events.get(`${namespace}/${name}`);
    if (!e) throw Object.assign(new Error('not found'), { code: 404 });
    Object.assign(e, patch);
    return e;
  }
}

const job = { apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderJob', metadata: { name: 'sweep', namespace: 'studio', uid: 'u-1', resourceVersion: '7' } };

describe('EventRecorder', () => {
  it('writes core/v1 Events from atelier', async () => {
    const sink = new FakeSink();
    const clock = new FakeClock();
    const rec = new EventRecorder({ sink, clock, instance: 'atelier-0' });
    rec.normal(job, 'ShardsCreated', 'created 4 shard pods');
    await rec.flush();
    const [e] = [...sink.events.values()];
    expect(e).toMatchObject({
      metadata: { namespace: 'studio' },
      involvedObject: { apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderJob', name: 'sweep', namespace: 'studio', uid: 'u-1' },
      type: 'Normal',
      reason: 'ShardsCreated',
      message: 'created 4 shard pods',
      count: 1,
      source: { component: 'atelier', host: 'atelier-0' },
      reportingComponent: 'atelier',
      reportingInstance: 'atelier-0',
    });
    expect(e!.metadata.name).toMatch(/^sweep\./);
  });

  it('aggregates repeats by patching count and lastTimestamp', async () => {
    const sink = new FakeSink();
    const clock = new FakeClock();
    const rec = new EventRecorder({ sink, clock });
    rec.warning(job, 'BudgetExceeded', 'over budget');
    rec.warning(job, 'BudgetExceeded', 'over budget');
    clock.advance(1000);
    rec.warning(job, 'BudgetExceeded', 'over budget');
    rec.warning(job, 'BudgetExceeded', 'a different message');
    await rec.flush();
    expect(sink.events.size).toBe(2);
    const first = [...sink.events.values()].find((e) => e.message === 'over budget')!;
    expect(first.count).toBe(3);
    expect(new Date(first.lastTimestamp!).getTime()).toBe(clock.now());
    expect(new Date(first.firstTimestamp!).getTime()).toBe(clock.now() - 1000);
    expect(sink.calls).toEqual(['create', 'create', 'patch', 'patch']);
  });

  it('starts a new Event when the old one expired', async () => {
    const sink = new FakeSink();
    const rec = new EventRecorder({ sink, clock: new FakeClock() });
    rec.normal(job, 'Retrying', 'shard 3');
    await rec.flush();
    sink.events.clear();
    rec.normal(job, 'Retrying', 'shard 3');
    await rec.flush();
    expect(sink.calls).toEqual(['create', 'patch', 'create']);
    expect([...sink.events.values()][0]!.count).toBe(1);
  });

  it('rate-limits per object', async () => {
    const sink = new FakeSink();
    const clock = new FakeClock();
    const rec = new EventRecorder({ sink, clock, burst: 3, refillMs: 60_000 });
    const other = { ...job, metadata: { ...job.metadata, name: 'other', uid: 'u-2' } };
    for (let i = 0; i < 10; i++) rec.normal(job, 'Tick', `tick ${i}`);
    rec.normal(other, 'Tick', 'other tick');
    await rec.flush();
    expect(sink.events.size).toBe(4);
    clock.advance(60_000);
    rec.normal(job, 'Tick', 'after refill');
    rec.normal(job, 'Tick', 'still limited');
    await rec.flush();
    expect(sink.events.size).toBe(5);
  });

  it('never throws into the caller when the API fails or the object is odd', async () => {
    const sink = new FakeSink();
    sink.fail = true;
    const rec = new EventRecorder({ sink, clock: new FakeClock() });
    expect(() => rec.warning(job, 'Failed', 'x')).not.toThrow();
    expect(() => rec.warning({}, 'Failed', 'x')).not.toThrow();
    expect(() => rec.warning(null as never, 'Failed', 'x')).not.toThrow();
    await expect(rec.flush()).resolves.toBeUndefined();
    sink.fail = false;
    rec.warning(job, 'Failed', 'x');
    await rec.flush();
    expect(sink.events.size).toBe(1);
  });

  it('uses the default namespace for cluster-scoped objects and truncates long messages', async () => {
    const sink = new FakeSink();
    const rec = new EventRecorder({ sink, clock: new FakeClock() });
    rec.normal({ apiVersion: 'atelier.dev/v1alpha1', kind: 'ComputeProvider', metadata: { name: 'akash', uid: 'p' } }, 'Probed', 'x'.repeat(5000));
    await rec.flush();
    const [e] = [...sink.events.values()];
    expect(e!.metadata.namespace).toBe('default');
    expect(e!.message!.length).toBe(1024);
  });
});
