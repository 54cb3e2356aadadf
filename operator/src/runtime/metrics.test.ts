// The prom-client adapters expose the documented metric names with the queue/controller name label.
import { Registry } from 'prom-client';
import { FakeClock } from './clock.js';
import { runWorkers } from './controller.js';
import { PromControllerMetrics, PromWorkQueueMetrics } from './metrics.js';
import { WorkQueue } from './workqueue.js';

describe('prom-client adapters', () => {
  it('records queue and reconcile metrics', async () => {
    const registry = new Registry();
    const clock = new FakeClock();
    const qm = new PromWorkQueueMetrics(registry);
    const cm = new PromControllerMetrics(registry);
    const q = new WorkQueue({ name: 'renderjob', clock, metrics: qm.forQueue('renderjob') });
    q.add('a');
    q.add('b');
    q.add('b');
    const running = runWorkers({
      queue: q,
      clock,
      metrics: cm.forController('renderjob'),
      reconcile: (key) => {
        if (key === 'b') throw new Error('boom');
      },
      onError: () => undefined,
    });
    await new Promise((r) => setTimeout(r, 10));
    q.shutdown();
    await running;
    const text = await registry.metrics();
    expect(text).toContain('atelier_workqueue_adds_total{name="renderjob"} 2');
    expect(text).toContain('atelier_workqueue_retries_total{name="renderjob"} 1');
    expect(text).toContain('atelier_workqueue_depth{name="renderjob"} 0');
    expect(text).toContain('atelier_workqueue_queue_duration_seconds_count{name="renderjob"} 2');
    expect(text).toContain('atelier_workqueue_work_duration_seconds_count{name="renderjob"} 2');
    expect(text).toContain('atelier_controller_reconcile_total{name="renderjob",result="success"} 1');
    expect(text).toContain('atelier_controller_reconcile_total{name="renderjob",result="error"} 1');
  });
});
