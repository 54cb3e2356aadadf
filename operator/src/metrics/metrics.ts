// The operator's Prometheus metrics (prom-client): one registry (the runtime's queue and reconcile
// metrics included), `atelier_` prefix, bounded label
// values listed in each help text. Controllers and the runtime get the handles they need from here;
// nothing else creates metrics.
import * as prom from 'prom-client';
import { PromControllerMetrics, PromWorkQueueMetrics } from '../runtime/metrics.js';

export interface OperatorMetrics {
  registry: prom.Registry;
  apiWrites: prom.Counter<'kind'>;
  queues: PromWorkQueueMetrics;
  controllers: PromControllerMetrics;
  jobsByPhase: prom.Gauge<'phase'>;
  leader: prom.Gauge;
}

export function createMetrics(): OperatorMetrics {
  const registry = new prom.Registry();
  prom.collectDefaultMetrics({ register: registry, prefix: 'atelier_process_' });
  return {
    registry,
    queues: new PromWorkQueueMetrics(registry),
    controllers: new PromControllerMetrics(registry),
    apiWrites: new prom.Counter({
      name: 'atelier_api_writes_total',
      help: 'Kubernetes API writes sent by the operator, by kind (podCreate, podDelete, shardCreate, shardStatus, shardDeleteCollection, jobStatus, jobFinalizer).',
      labelNames: ['kind'],
      registers: [registry],
    }),
    jobsByPhase: new prom.Gauge({
      name: 'atelier_renderjobs',
      help: 'RenderJobs seen by the operator, by phase (Pending, Running, Succeeded, Failed, Suspended).',
      labelNames: ['phase'],
      registers: [registry],
    }),
    leader: new prom.Gauge({ name: 'atelier_leader', help: '1 while this replica holds the leader Lease, else 0.', registers: [registry] }),
  };
}
