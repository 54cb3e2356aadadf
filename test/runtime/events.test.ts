// EventRecorder against the real API server: the Event is accepted as written (core/v1, component
// atelier) and a repeat is aggregated into count 2 by a merge patch rather than a second Event.
import * as k8s from '@kubernetes/client-node';
import { coreEventSink, EventRecorder } from '../../operator/src/runtime/index.js';
import { clients, freshNamespace, waitFor } from '../support/testbed.js';

const c = clients();

describe('EventRecorder (real API server)', () => {
  it('creates then aggregates Events', async () => {
    const ns = await freshNamespace(c, 'rt-events');
    const cm = await c.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'target' } } });
    const obj = { apiVersion: 'v1', kind: 'ConfigMap', metadata: cm.metadata };
    const rec = new EventRecorder({ sink: coreEventSink(c.core), instance: 'test-0' });
    rec.warning(obj, 'ProviderUnavailable', 'akash: 503');
    rec.warning(obj, 'ProviderUnavailable', 'akash: 503');
    rec.normal(obj, 'ShardsCreated', 'created 2 shard pods');
    await rec.flush();
    const events = await waitFor('events', async () => {
      const list = await c.core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=target` });
      return list.items.length === 2 ? list.items : undefined;
    });
    const warn = events.find((e: k8s.CoreV1Event) => e.reason === 'ProviderUnavailable')!;
    expect(warn.count).toBe(2);
    expect(warn.type).toBe('Warning');
    expect(warn.source?.component).toBe('atelier');
    expect(warn.reportingComponent).toBe('atelier');
    expect(warn.involvedObject.uid).toBe(cm.metadata?.uid);
    expect(new Date(warn.lastTimestamp!).getTime()).toBeGreaterThanOrEqual(new Date(warn.firstTimestamp!).getTime());
  });
});
