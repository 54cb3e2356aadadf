// prom-client adapters for the runtime's metrics hooks: the work queue's (atelier_workqueue_*) and
// the controller's reconcile outcomes (atelier_controller_*). Metrics are registered once per
// Registry and labelled by queue/controller `name`, a bounded set chosen by the code, never by data.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ControllerMetrics, ReconcileOutcome } from './controller.js';
import type { QueueMetrics } from './workqueue.js';

// Queue waits span sub-millisecond (hot path) to minutes (backoff cap, busy operator).
const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export class PromWorkQueueMetrics {
  private readonly depth: Gauge<'name'>;
  private readonly adds: Counter<'name'>;
  private readonly retries: Counter<'name'>;
  private readonly queueDuration: Histogram<'name'>;
  private readonly workDuration: Histogram<'name'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.depth = new Gauge({ name: 'atelier_workqueue_depth', help: 'Keys waiting in the work queue.', labelNames: ['name'], registers });
    this.adds = new Counter({ name: 'atelier_workqueue_adds_total', help: 'Keys added to the work queue (after dedup).', labelNames: ['name'], registers });
    this.retries = new Counter({ name: 'atelier_workqueue_retries_total', help: 'Rate-limited re-adds (retries after failure).', labelNames: ['name'], registers });
    this.queueDuration = new Histogram({
      name: 'atelier_workqueue_queue_duration_seconds',
      help: 'Time a key waits in the queue before a worker takes it.',
      labelNames: ['name'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.workDuration = new Histogram({
      name: 'atelier_workqueue_work_duration_seconds',
      help: 'Time a worker holds a key (one reconcile).',
      labelNames: ['name'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
  }

  /** The hooks for one queue; pass as WorkQueueOptions.metrics (or ControllerOptions.queueMetrics). */
  forQueue(name: string): QueueMetrics {
    const depth = this.depth.labels(name);
    const adds = this.adds.labels(name);
    const retries = this.retries.labels(name);
    const queueDuration = this.queueDuration.labels(name);
    const workDuration = this.workDuration.labels(name);
    depth.set(0);
    return {
      depth: (n) => depth.set(n),
      added: () => adds.inc(),
      retried: () => retries.inc(),
      queueLatency: (s) => queueDuration.observe(s),
      workDuration: (s) => workDuration.observe(s),
    };
  }
}

export class PromControllerMetrics {
  private readonly total: Counter<'name' | 'result'>;
  private readonly duration: Histogram<'name'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.total = new Counter({
      name: 'atelier_controller_reconcile_total',
      help: 'Reconciles by result (success, requeue, error, terminal).',
      labelNames: ['name', 'result'],
      registers,
    });
    this.duration = new Histogram({
      name: 'atelier_controller_reconcile_duration_seconds',
      help: 'Time one reconcile takes.',
      labelNames: ['name'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
  }

  forController(name: string): ControllerMetrics {
    const duration = this.duration.labels(name);
    const outcomes: ReconcileOutcome[] = ['success', 'requeue', 'error', 'terminal'];
    const counters = new Map(outcomes.map((o) => [o, this.total.labels(name, o)] as const));
    return {
      reconciled: (outcome, seconds) => {
        counters.get(outcome)!.inc();
        duration.observe(seconds);
      },
    };
  }
}
