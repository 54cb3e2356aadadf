// The RenderJob status as a function of one decision: what must never be lost from it.
import { decide } from './decide.js';
import { computeStatus } from './status.js';

const NOW = Date.parse('2026-12-06T12:00:00Z');
const snapshot = { name: 'job', namespace: 'ns', uid: 'u', generation: 1, creationTimestamp: NOW - 1000, spec: { shards: { count: 1 }, gpusPerShard: 1 } };

test('an untrusted provider stays in status.untrustedProviders once named, whatever the records say now', () => {
  const failed = decide(snapshot, new Map([[0, { name: 'job-0', index: 0, status: { phase: 'Succeeded', placement: 'Remote', provider: 'tamper', verification: { state: 'Failed', provider: 'tamper' } } }]]), new Map(), NOW);
  const first = computeStatus({ prev: undefined, generation: 1, decision: failed, suspended: false, localCostMicros: 0n, remoteCostMicros: 0n, now: NOW });
  expect(first.untrustedProviders).toEqual(['tamper']);
  // the shard ran again at honest: its record's verification no longer names tamper
  const later = decide({ ...snapshot, untrusted: first.untrustedProviders }, new Map([[0, { name: 'job-0', index: 0, status: { phase: 'Succeeded', placement: 'Remote', provider: 'honest', verification: { state: 'Verified', provider: 'honest' } } }]]), new Map(), NOW);
  const next = computeStatus({ prev: first, generation: 1, decision: later, suspended: false, localCostMicros: 0n, remoteCostMicros: 0n, now: NOW });
  expect(next.untrustedProviders).toEqual(['tamper']);
});

test('folded shards are written as given', () => {
  const d = decide(snapshot, new Map(), new Map(), NOW);
  const st = computeStatus({ prev: undefined, shardSets: { succeeded: '0', localGpuSeconds: 2 }, generation: 1, decision: d, suspended: false, localCostMicros: 0n, remoteCostMicros: 0n, now: NOW });
  expect(st.shardSets).toEqual({ succeeded: '0', localGpuSeconds: 2 });
});
