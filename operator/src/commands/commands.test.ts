import type { RenderJob } from '../api/index.js';
import { planJob } from '../planner/index.js';
import { referencePrices } from '../gpus/index.js';
import { formatMicros } from '../money.js';
import { referenceInput, renderPlan } from './plan.js';
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

test('renderPlan on mixed GPUs: per offer GPU, USD/hour, seconds and USD per shard, shards by the deadline; and the cloud comparison', () => {
  // 12 shards; the job's prior: 5 min on an H100, 30 min on an RTX 4090. The 4090 is cheaper per hour
  // (0.40 vs 2.00 USD) but dearer per shard (0.20 vs 0.1667 USD).
  const spec = {
    template: { image: 'x', resources: { limits: { 'nvidia.com/gpu': 1 } } }, shards: { count: 12 },
    placement: { policy: 'ProviderOnly' as const }, deadline: new Date(NOW + 60 * 60_000).toISOString(),
    gpu: { models: ['nvidia-h100', 'nvidia-rtx-4090'], expectedShardSeconds: { 'nvidia-h100': 300, 'nvidia-rtx-4090': 1800 } },
  };
  const prices = referencePrices({ 'nvidia-h100': '6.00', asOf: '2026-11', source: 'test cloud list prices' });
  const plan = planJob({
    now: NOW, namespace: 'studio', spec: spec as never, local: [],
    offers: [
      { provider: 'vast', offerId: 'v', gpuModel: 'nvidia-rtx-4090', pricePerGpuHourMicros: 400_000n, available: 8 },
      { provider: 'akash', offerId: 'a', gpuModel: 'nvidia-h100', pricePerGpuHourMicros: 2_000_000n, available: 2 },
    ],
    providers: [{ name: 'vast', inFlight: 0, reliability: 1, paused: false }, { name: 'akash', inFlight: 0, reliability: 1, paused: false }],
    reference: referenceInput(prices),
  });
  const out = renderPlan('mixed', plan, NOW);
  expect(out).toContain('RenderJob mixed: 12 shards, expected 600s each (per GPU model: nvidia-h100 300s, nvidia-rtx-4090 1800s)');
  const lines = out.split('\n');
  const akash = lines.findIndex((l) => /^\s+akash\s+nvidia-h100\s+2\.00\s+300\s+0\.166667\s+24$/.test(l));
  const vast = lines.findIndex((l) => /^\s+vast\s+nvidia-rtx-4090\s+0\.40\s+1800\s+0\.20\s+16$/.test(l));
  expect({ akash: akash >= 0, vast: vast >= 0 }).toEqual({ akash: true, vast: true });
  expect(akash).toBeLessThan(vast); // lower cost per shard first, though dearer per hour
  expect(out).toMatch(/^ProviderOnly .* meets deadline$/m);
  // the cloud, on the job's own models that it prices (not the 4090): 12 shards × 300 s on an H100 at 6.00 USD/h = 6.00 USD
  expect(out).not.toMatch(/^\s+nvidia-l40s\s/m);
  expect(out).toContain("the same work on a centralized cloud's on-demand GPUs (test cloud list prices; as of 2026-11):");
  expect(out).toMatch(/^\s+nvidia-h100\s+6\.00 USD\/GPU-h\s+300 s\/shard\s+total\s+6\.00 USD$/m);
  const total = plan.expectedRemoteCostMicros;
  expect(out).toContain(`this job: expected ${formatMicros(total)} USD; saves ${formatMicros(6_000_000n - total)} USD against nvidia-h100 on demand (6.00 USD)`);
  // the catalog's own defaults say they are illustrative
  const byDefault = renderPlan('mixed', planJob({ now: NOW, namespace: 'studio', spec: spec as never, local: [], offers: [], providers: [], reference: referenceInput(referencePrices()) }), NOW);
  expect(byDefault).toContain('illustrative defaults, not verified');
});
