// The shard listing of `atelier status --shards`, over RenderShards and pods as the API returns them.
import type * as k8s from '@kubernetes/client-node';
import type { RenderShard } from '../api/index.js';
import { foldedOf, renderShardTable, shardRows } from './shards.js';

const shard = (index: number, status: RenderShard['status']): RenderShard => ({ apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderShard', metadata: { name: `j-${index}` }, spec: { jobName: 'j', index }, status } as RenderShard);
const pod = (index: number, attempt: number, phase: string, node?: string): k8s.V1Pod => ({
  metadata: { name: `j-${index}-${attempt}`, labels: { 'atelier.dev/job': 'j', 'atelier.dev/shard': String(index), 'atelier.dev/attempt': String(attempt) } },
  spec: { containers: [], ...(node ? { nodeName: node } : {}) }, status: { phase },
});

test('one row per shard: recorded outcomes, live pods ahead of their record, remote attempts, and shards not started', () => {
  const rows = shardRows(5, [
    shard(0, { phase: 'Succeeded', placement: 'Local', attempts: 1 }),
    shard(1, { phase: 'Pending', placement: 'Local', attempts: 2, lastFailure: { reason: 'Error', message: 'attempt 2 exited 1' } }),
    shard(2, { phase: 'Running', placement: 'Remote', provider: 'akash', remoteId: '1234', attempts: 1 }),
  ], [pod(0, 1, 'Succeeded', 'n1'), pod(1, 2, 'Failed', 'n1'), pod(1, 3, 'Running', 'n2'), pod(3, 1, 'Succeeded', 'n3')]);
  expect(rows).toEqual([
    { index: 0, state: 'Succeeded', placement: 'Local', where: 'n1', attempts: 1, lastFailure: '' },
    { index: 1, state: 'Running', placement: 'Local', where: 'n2', attempts: 3, lastFailure: 'Error: attempt 2 exited 1' },
    { index: 2, state: 'Running', placement: 'Remote', where: 'akash 1234', attempts: 1, lastFailure: '' },
    { index: 3, state: 'Succeeded', placement: 'Local', where: 'n3', attempts: 1, lastFailure: '' },
    { index: 4, state: 'Pending', placement: '', where: '', attempts: 0, lastFailure: '' },
  ]);
  const table = renderShardTable(rows).split('\n');
  expect(table).toHaveLength(6);
  expect(table[0]).toMatch(/^SHARD\s+STATE\s+PLACEMENT\s+WHERE\s+ATTEMPTS\s+LAST FAILURE$/);
  expect(table[2]).toContain('Error: attempt 2 exited 1');
});

test('local shards folded into the job status are listed as succeeded, with or without their pod', () => {
  const folded = foldedOf({ status: { shardSets: { succeeded: '0-1,3' } } });
  const rows = shardRows(4, [shard(2, { phase: 'Succeeded', placement: 'Local', attempts: 2 })], [pod(1, 1, 'Succeeded', 'n7')], folded);
  expect(rows.map((r) => [r.index, r.state, r.placement, r.where, r.attempts])).toEqual([
    [0, 'Succeeded', 'Local', '', 1], [1, 'Succeeded', 'Local', 'n7', 1], [2, 'Succeeded', 'Local', '', 2], [3, 'Succeeded', 'Local', '', 1],
  ]);
});
