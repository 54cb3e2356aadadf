// Unit tests of `atelier submit`'s pure parts: reading a manifest, deciding when a job is final and
// which exit code that is, the -o json result built from a job and its RenderShards, and the
// progress lines. test/cli/submit.test.ts runs the command itself against the test-bed.
import type { RenderJob, RenderShard } from '../api/index.js';
import { apiMessage, buildResult, EXIT, outcomeOf, parseJobManifest, progressLine, Rejected, renderResult, submitCommand } from './submit.js';

type JobStatus = NonNullable<RenderJob['status']>;

function job(status: JobStatus | undefined, o: { generation?: number; settlement?: boolean } = {}): RenderJob {
  return {
    apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderJob',
    metadata: { name: 'sweep', namespace: 'studio', uid: 'u-1', generation: o.generation ?? 1 },
    spec: { template: { image: 'x', resources: { limits: { 'nvidia.com/gpu': 1 } } }, shards: { count: 3 }, ...(o.settlement ? { settlement: { enabled: true } } : {}) },
    ...(status ? { status } : {}),
  } as RenderJob;
}

const c = (type: string, status: 'True' | 'False', reason: string, message = '') => ({ type, status, reason, message, lastTransitionTime: '2026-11-24T12:00:00Z' });

function shard(index: number, status: RenderShard['status']): RenderShard {
  return { apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderShard', metadata: { name: `sweep-${index}` }, spec: { jobName: 'sweep', index }, ...(status ? { status } : {}) } as RenderShard;
}

describe('parseJobManifest', () => {
  test.each([
    ['not YAML', 'a: [', /not valid YAML/],
    ['two documents', 'kind: RenderJob\n---\nkind: RenderJob\n', /expected one RenderJob, found 2/],
    ['another kind', 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n', /kind is "Pod", not RenderJob/],
    ['another apiVersion', 'apiVersion: atelier.dev/v2\nkind: RenderJob\nmetadata: {name: j}\n', /apiVersion "atelier.dev\/v2"/],
    ['no name', 'apiVersion: atelier.dev/v1alpha1\nkind: RenderJob\nmetadata: {generateName: j-}\n', /metadata.name is required/],
  ])('%s is rejected with what is wrong', (_what, text, msg) => {
    expect(() => parseJobManifest(text, 'job.yaml')).toThrow(Rejected);
    expect(() => parseJobManifest(text, 'job.yaml')).toThrow(msg);
  });

  test('a RenderJob in YAML or JSON is read as it is', () => {
    const y = parseJobManifest('# comment\napiVersion: atelier.dev/v1alpha1\nkind: RenderJob\nmetadata: {name: j, namespace: studio}\nspec: {shards: {count: 2}}\n', 'job.yaml');
    expect(y.metadata).toEqual({ name: 'j', namespace: 'studio' });
    const j = parseJobManifest(JSON.stringify(y), 'job.json');
    expect(j).toEqual(y);
  });
});

describe('outcomeOf and exit codes', () => {
  test('no status, or a status of an older generation, is not final even if it says Succeeded', () => {
    expect(outcomeOf(job(undefined))).toBeUndefined();
    expect(outcomeOf(job({ phase: 'Succeeded', observedGeneration: 1 }, { generation: 2 }))).toBeUndefined();
    expect(outcomeOf(job({ phase: 'Running', observedGeneration: 1 }))).toBeUndefined();
  });

  test('Succeeded, Failed, and Accepted=False map to 0, 1, 2 with the condition messages', () => {
    const ok = outcomeOf(job({ phase: 'Succeeded', observedGeneration: 1, conditions: [c('Complete', 'True', 'AllShardsSucceeded', '3/3 shards succeeded')] }));
    expect(ok).toEqual({ outcome: 'Succeeded', message: '3/3 shards succeeded' });
    const failed = outcomeOf(job({ phase: 'Failed', observedGeneration: 1, conditions: [c('Failed', 'True', 'ShardFailed', '1 shard(s) failed')] }));
    expect(failed).toEqual({ outcome: 'Failed', message: 'ShardFailed: 1 shard(s) failed' });
    const rejected = outcomeOf(job({ phase: 'Failed', observedGeneration: 1, conditions: [c('Accepted', 'False', 'InvalidSpec', 'gpu model nvidia-x is unknown')] }));
    expect(rejected).toEqual({ outcome: 'Rejected', message: 'gpu model nvidia-x is unknown' });
    expect([EXIT.succeeded, EXIT.failed, EXIT.rejected, EXIT.timedOut]).toEqual([0, 1, 2, 3]);
  });

  test('a settled job is final only once its settlement is', () => {
    const settlingJob = job({ phase: 'Succeeded', observedGeneration: 1, conditions: [c('Settled', 'False', 'Settling')] }, { settlement: true });
    expect(outcomeOf(settlingJob)).toBeUndefined();
    const settled = job({ phase: 'Succeeded', observedGeneration: 1, conditions: [c('Settled', 'True', 'Settled')] }, { settlement: true });
    expect(outcomeOf(settled)?.outcome).toBe('Succeeded');
  });
});

describe('buildResult', () => {
  const status: JobStatus = {
    phase: 'Succeeded', observedGeneration: 1, progress: '2/3',
    shards: { total: 3, succeeded: 2, failed: 1, running: 0, pending: 0, local: 2, remote: 1 },
    providers: [{ name: 'akash', succeeded: 1, cost: '0.42' }],
    cost: { local: '0.01', remote: '0.42', total: '0.43', currency: 'USD' },
    settlement: { escrows: [{ provider: 'akash', state: 'Released', funded: '1.00', released: '0.42', refunded: '0.58' }] },
    conditions: [c('Complete', 'True', 'AllShardsSucceeded', 'done')],
  };
  const shards = [
    shard(2, { phase: 'Succeeded', placement: 'Remote', provider: 'akash', result: { digest: 'd2', outputs: [{ uri: 's3://r/2.png', sha256: 'b'.repeat(64) }] } }),
    shard(0, { phase: 'Succeeded', placement: 'Local', result: { digest: 'd0', outputs: [{ uri: 's3://r/0a.png', sha256: 'a'.repeat(64) }, { uri: 'ipfs://x', cid: 'bafy' }] } }),
    shard(1, { phase: 'Failed', placement: 'Local', attempts: 4, lastFailure: { reason: 'PodFailed', message: 'exit 1' } }),
  ];

  test('outputs per shard with digests, failures, cost by provider and escrows', () => {
    const r = buildResult(job(status), shards.sort((a, b) => a.spec.index - b.spec.index), { action: 'created' });
    expect(r).toMatchObject({ namespace: 'studio', name: 'sweep', uid: 'u-1', action: 'created', outcome: 'Succeeded', exitCode: 0, phase: 'Succeeded', message: 'done', progress: '2/3' });
    expect(r.shards).toEqual({ total: 3, pending: 0, running: 0, succeeded: 2, failed: 1, local: 2, remote: 1 });
    expect(r.cost).toEqual({ currency: 'USD', local: '0.01', remote: '0.42', total: '0.43', byProvider: { akash: '0.42' } });
    expect(r.outputs).toEqual([
      { shard: 0, placement: 'Local', uri: 's3://r/0a.png', sha256: 'a'.repeat(64), digest: 'd0' },
      { shard: 0, placement: 'Local', uri: 'ipfs://x', cid: 'bafy', digest: 'd0' },
      { shard: 2, placement: 'Remote', provider: 'akash', uri: 's3://r/2.png', sha256: 'b'.repeat(64), digest: 'd2' },
    ]);
    expect(r.failures).toEqual([{ shard: 1, attempts: 4, reason: 'PodFailed', message: 'exit 1' }]);
    expect(r.escrows).toEqual(status.settlement!.escrows);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r); // plain JSON, nothing lost in -o json
    const table = renderResult(r);
    expect(table).toContain('RenderJob studio/sweep created  Succeeded  2/3');
    expect(table).toContain('remote 0.42 (akash 0.42)  total 0.43 USD');
    expect(table).toContain('failed shard 1 after 4 attempt(s): PodFailed exit 1');
    expect(table).toContain('escrow   akash Released funded 1.00 released 0.42 refunded 0.58');
  });

  test('a job still running that ran out of time is TimedOut with exit code 3', () => {
    const r = buildResult(job({ phase: 'Running', observedGeneration: 1, shards: { total: 3, running: 3 } }), [], { timedOut: true });
    expect(r).toMatchObject({ outcome: 'TimedOut', exitCode: 3, phase: 'Running' });
    expect(buildResult(job({ phase: 'Running', observedGeneration: 1 }), [])).toMatchObject({ outcome: 'Running' });
    expect(buildResult(job(undefined), []).outcome).toBe('Pending');
  });
});

describe('progressLine', () => {
  const running = job({ phase: 'Running', observedGeneration: 1, shards: { total: 4, succeeded: 1, running: 2, pending: 1, local: 3 }, cost: { total: '0.05', currency: 'USD' } });
  test('a bar on a terminal, key=value words elsewhere, and a waiting line before the operator sees the job', () => {
    expect(progressLine(running, true)).toBe('studio/sweep [######..................] 1/4 Running  2 running  1 pending  0 failed  local 3  remote 0  cost 0.05 USD');
    expect(progressLine(running, false)).toBe('studio/sweep phase=Running succeeded=1/4 2 running, 1 pending, 0 failed, local 3, remote 0, cost 0.05 USD');
    expect(progressLine(job(undefined), false)).toBe('studio/sweep waiting for the operator to accept generation 1');
  });
});

test('apiMessage returns the API server\'s Status message as it is, from a JSON string or an object body', () => {
  const msg = 'RenderJob.atelier.dev "j" is invalid: spec.shards: Invalid value: "object": set exactly one of shards.count or shards.frames';
  expect(apiMessage({ code: 422, body: JSON.stringify({ kind: 'Status', message: msg }) })).toBe(msg);
  expect(apiMessage({ code: 403, body: { message: 'forbidden' } })).toBe('forbidden');
  expect(apiMessage(new Error('connect ECONNREFUSED 127.0.0.1:6443\nmore'))).toBe('connect ECONNREFUSED 127.0.0.1:6443');
  expect(apiMessage(new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:1') }))).toBe('fetch failed: connect ECONNREFUSED 127.0.0.1:1');
});

describe('submitCommand before the cluster is asked', () => {
  const run = async (argv: string[], stdin = '') => {
    const out: string[] = [], err: string[] = [];
    const code = await submitCommand(argv, {}, (s) => out.push(s), { err: (s) => err.push(s), tty: false, readStdin: () => stdin });
    return { code, out: out.join('\n'), err: err.join('') };
  };

  test('an unreadable file or a manifest that is not one RenderJob exits 2, with one Rejected result for -o json', async () => {
    const missing = await run(['-f', '/nonexistent/job.yaml', '-o', 'json']);
    expect(missing.code).toBe(EXIT.rejected);
    expect(missing.err).toMatch(/^cannot read \/nonexistent\/job\.yaml: ENOENT/);
    expect(JSON.parse(missing.out)).toEqual({ apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderJob', outcome: 'Rejected', exitCode: 2, message: missing.err.trim() });

    const pod = await run(['-f', '-', '-o', 'yaml'], 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n');
    expect(pod.code).toBe(2);
    expect(pod.err).toBe('stdin: kind is "Pod", not RenderJob\n');
    expect(pod.out).toContain('outcome: Rejected');
    const table = await run(['-f', '-'], 'kind: Pod\n');
    expect(table).toMatchObject({ code: 2, out: '' }); // a person reads the message on stderr
  });

  test('bad flags throw (the CLI prints them with the usage and exits 2)', async () => {
    await expect(run(['-o', 'json'])).rejects.toThrow('-f JOB.yaml is required');
    await expect(run(['-f', 'x', '-o', 'xml'])).rejects.toThrow('-o must be table, json or yaml');
    await expect(run(['-f', 'x', '--timeout', 'soon'])).rejects.toThrow('not a duration');
    await expect(run(['-f', 'x', '--bogus'])).rejects.toThrow(/Unknown option '--bogus'/);
  });
});
