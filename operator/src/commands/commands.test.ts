import type { RenderJob } from '../api/index.js';
import { planJob } from '../planner/index.js';
import { renderPlan } from './plan.js';
import { renderStatus } from './status.js';

const NOW = Date.parse('2026-11-24T12:00:00Z');

test('renderStatus shows bars, cost, ETA and the conditions that hold', () => {
  const job = {
    apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderJob', metadata: { name: 'sweep', namespace: 'studio' },
    spec: { template: { image: 'x', resources: { limits: { 'nvidia.com/gpu': 1 } } }, shards: { count: 10 } },
    status: {
      phase: 'Running', progress: '5/10', startTime: '2026-11-24T11:59:00Z',
      shards: { total: 10, pending: 2, running: 3, succeeded: 5, failed: 0, local: 6, remote: 2 },
      cost: { local: '0.10', remote: '0.30', total: '0.40', currency: 'USD' },
      conditions: [{ type: 'Bursting', status: 'True', reason: 'Bursting', message: '2 shards to akash', lastTransitionTime: '2026-11-24T11:59:30Z' }],
    },
  } as unknown as RenderJob;
  const out = renderStatus(job, [{ metadata: {}, involvedObject: {}, type: 'Normal', reason: 'Started', message: 'running 10 shard(s)', lastTimestamp: new Date(NOW - 60_000) }], NOW);
  expect(out).toContain('RenderJob studio/sweep  phase Running  5/10');
  expect(out).toMatch(/done\s+\[#{15}\.{15}\] 5\/10/);
  expect(out).toContain('total 0.40 USD');
  expect(out).toContain('ETA      2026-11-24T12:01:00.000Z'); // 5 done in 60 s, 5 to go
  expect(out).toContain('Bursting  True  Bursting: 2 shards to akash');
  expect(out).toContain('Started');
});

test('renderPlan compares the job policy with LocalOnly', () => {
  const spec = {
    template: { image: 'x', resources: { limits: { 'nvidia.com/gpu': 1 } } }, shards: { count: 10 },
    placement: { policy: 'Burst' as const, burstAfter: '0s' },
  };
  const plan = planJob({
    now: NOW, namespace: 'studio', spec: spec as never,
    local: [{ model: 'nvidia-h100', free: 2, allocatable: 2 }],
    offers: [{ provider: 'akash', offerId: 'a', gpuModel: 'nvidia-h100', pricePerGpuHourMicros: 1_800_000n }],
    providers: [{ name: 'akash', inFlight: 0, reliability: 1, paused: false }],
    expectedShardMs: 600_000,
  });
  const out = renderPlan('sweep', plan, NOW);
  expect(out).toContain('RenderJob sweep: 10 shards, expected 600s each');
  expect(out).toMatch(/^Burst\s+local/m);
  expect(out).toMatch(/^LocalOnly\s+local\s+10/m);
  expect(out).toMatch(/akash\s+\d+ shards/);
});
