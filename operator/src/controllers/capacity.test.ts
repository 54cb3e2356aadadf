import type * as k8s from '@kubernetes/client-node';
import { freeFor, gpuCapacity } from './capacity.js';

const node = (name: string, model: string, gpus: number, isReady = true): k8s.V1Node => ({
  metadata: { name, labels: { 'nvidia.com/gpu.product': model } },
  status: { allocatable: { 'nvidia.com/gpu': String(gpus) }, conditions: [{ type: 'Ready', status: isReady ? 'True' : 'False' }] },
});
const pod = (nodeName: string | undefined, gpus: number, phase = 'Running'): k8s.V1Pod => ({
  spec: { nodeName, containers: [{ name: 'c', resources: { limits: { 'nvidia.com/gpu': String(gpus) } } }] },
  status: { phase },
});

test('free GPUs per model subtract bound, unfinished pods only', () => {
  const cap = gpuCapacity(
    [node('a', 'nvidia-h100', 4), node('b', 'nvidia-h100', 4), node('c', 'nvidia-rtx-4090', 2), node('d', 'nvidia-h100', 8, false)],
    [pod('a', 1), pod('a', 2), pod('b', 1, 'Succeeded'), pod('c', 1, 'Pending'), pod(undefined, 1, 'Pending'), pod('d', 1)],
  );
  expect(cap.get('nvidia-h100')).toEqual({ model: 'nvidia-h100', allocatable: 8, used: 3, free: 5, nodes: 2 });
  expect(cap.get('nvidia-rtx-4090')!.free).toBe(1);
  expect(freeFor(cap, ['nvidia-rtx-4090'])).toBe(1);
  expect(freeFor(cap, [])).toBe(6);
});
