// Builders for the data plane's unit tests (kept out of production paths).
import type * as k8s from '@kubernetes/client-node';

export function buildPodStub(): k8s.V1Pod {
  return { metadata: { name: 'job-0-0' }, spec: { containers: [{ name: 'shard', image: 'render:1', env: [{ name: 'A', value: '1' }] }] } };
}
