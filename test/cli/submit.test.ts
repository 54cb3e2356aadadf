// `atelier submit` as a pipeline runs it: the built CLI as a child process against the test-bed, with
// the operator running, judged by its exit code, its -o json result and what the cluster shows
// afterwards (RenderJobs, RenderShards, shard pods) — a good job (0, and a second run attaches), a job
// the CRD schema rejects (2, the API server's message as is, nothing created), a failing job (1) and
// a job that outlives --timeout (3); and on a terminal (a pty from util-linux `script`), the bar.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { dump } from 'js-yaml';
import type { RejectedResult, SubmitResult } from '../../operator/src/commands/submit.js';
import { installCrds } from '../support/crds.js';
import { cliPath, startOperator, type OperatorProcess } from '../support/operator.js';
import { clients, freshNamespace, testbed, waitFor, type Clients } from '../support/testbed.js';
import { getJob, listPods, listShards } from '../operator/helpers.js';
import { jobManifest, runCli, testRenderSha, type TestJob } from './helpers.js';

let c: Clients;
let op: OperatorProcess;
let ns: string;
let kubeconfig: string;
const dir = mkdtempSync(path.join(os.tmpdir(), 'atelier-submit-'));

beforeAll(async () => {
  c = clients();
  kubeconfig = testbed().kubeconfig;
  await installCrds();
  ns = await freshNamespace(c, 'submit');
  op = startOperator(kubeconfig, ['--namespace', ns, '--lease-name', 'atelier-submit-suite', '--local-gpu-hour-price', '1.80']);
  await op.waitForLog('became leader');
});

afterAll(async () => {
  await op?.kill('SIGTERM');
  await c?.core.deleteNamespace({ name: ns }).catch(() => undefined);
});

/** Writes the job as YAML, the way a pipeline keeps it in its repository. */
function jobFile(j: TestJob): string {
  const file = path.join(dir, `${j.name}.yaml`);
  writeFileSync(file, `# ${j.name}\n${dump(jobManifest({ namespace: ns, ...j }))}`);
  return file;
}

const submit = (file: string, ...extra: string[]) => runCli(['submit', '-f', file, '--kubeconfig', kubeconfig, '--wait', '-o', 'json', '--poll-interval', '250ms', ...extra]);

test('a good job: exit 0, and the JSON result is what the cluster shows; a second run attaches to it', async () => {
  const seed = 'submit-good';
  const file = jobFile({ name: 'good', count: 3, annotations: { 'testbed.atelier.dev/render-seed': seed } });
  const run = await submit(file, '--timeout', '2m');
  expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
  const r = JSON.parse(run.stdout) as SubmitResult;

  const job = await getJob(c, ns, 'good');
  expect(r).toMatchObject({ kind: 'RenderJob', namespace: ns, name: 'good', uid: job.metadata.uid, action: 'created', outcome: 'Succeeded', exitCode: 0, phase: 'Succeeded', progress: '3/3' });
  expect(job.status!.phase).toBe('Succeeded');
  expect(r.shards).toEqual({ total: 3, pending: 0, running: 0, succeeded: 3, failed: 0, local: 3, remote: 0 });
  expect(r.shards).toEqual(job.status!.shards);
  // LocalOnly at 1.80 USD per GPU-hour: a local cost, nothing at any provider, no escrow
  expect(r.cost).toMatchObject({ currency: 'USD', remote: '0.00', byProvider: {} });
  expect(r.cost.local).toBe(job.status!.cost!.local);
  expect(Number(r.cost.local)).toBeGreaterThan(0);
  expect(r.escrows).toEqual([]);
  expect(r.failures).toEqual([]);

  // outputs: one per shard, the digest each pod reported, as recorded in its RenderShard
  expect(r.outputs).toEqual([0, 1, 2].map((i) => expect.objectContaining({ shard: i, placement: 'Local', uri: `local://shard-${i}.exr`, sha256: testRenderSha(seed, i) })));
  const shards = await listShards(c, ns, 'good');
  expect(shards).toHaveLength(3);
  for (const s of shards) {
    const out = r.outputs.find((o) => o.shard === s.spec.index)!;
    expect((s.status as { result: { outputs: unknown[] } }).result.outputs).toEqual([{ uri: out.uri, sha256: out.sha256 }]);
  }
  const pods = await listPods(c, ns, 'good');
  expect(pods.map((p) => p.status!.phase)).toEqual(['Succeeded', 'Succeeded', 'Succeeded']);
  for (const p of pods) {
    const i = Number(p.metadata!.labels!['atelier.dev/shard']);
    expect(JSON.parse(p.status!.containerStatuses![0]!.state!.terminated!.message!)).toEqual({ outputs: [{ uri: `local://shard-${i}.exr`, sha256: testRenderSha(seed, i) }] });
  }
  // not a terminal: plain progress lines on stderr, one per change, and no escape codes
  expect(run.stderr).toContain(`renderjob.atelier.dev/good created in namespace ${ns}`);
  expect(run.stderr).toMatch(new RegExp(`^${ns}/good phase=Succeeded succeeded=3/3 `, 'm'));
  expect(run.stderr).not.toContain('\x1b');

  // the same command again attaches: same object, nothing new ran
  const again = await submit(file);
  expect(again.code).toBe(0);
  const r2 = JSON.parse(again.stdout) as SubmitResult;
  expect(r2).toMatchObject({ uid: r.uid, action: 'unchanged', outcome: 'Succeeded', generation: r.generation });
  expect(r2.outputs).toEqual(r.outputs);
  expect(await listPods(c, ns, 'good')).toHaveLength(3);
  // so does the object as the cluster shows it (kubectl get -o yaml): server-owned fields, status and
  // the operator's finalizer are left out of the apply
  const exported = path.join(dir, 'good-exported.yaml');
  const live = await getJob(c, ns, 'good');
  expect(live.metadata.finalizers).toContain('atelier.dev/cleanup');
  writeFileSync(exported, dump({ apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderJob', ...live }));
  const third = await submit(exported);
  expect(third.code).toBe(0);
  expect(JSON.parse(third.stdout)).toMatchObject({ uid: r.uid, action: 'unchanged' });
  expect((await getJob(c, ns, 'good')).metadata.managedFields!.find((m) => m.manager === 'atelier-submit')!.fieldsV1).not.toHaveProperty(['f:metadata', 'f:finalizers']);
  const jobs = await c.custom.listNamespacedCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'renderjobs', namespace: ns }) as { items: unknown[] };
  expect(jobs.items).toHaveLength(1);
});

test('re-running attaches only to the same job: a changed template is refused, another manager\'s field needs --force-conflicts', async () => {
  const base = { name: 'reapply', count: 1 };
  const file = jobFile(base);
  expect((await submit(file)).code).toBe(0);
  // someone else (kubectl, another tool) takes over spec.shards.parallelism with server-side apply
  await c.custom.patchNamespacedCustomObject(
    { group: 'atelier.dev', version: 'v1alpha1', plural: 'renderjobs', namespace: ns, name: 'reapply', fieldManager: 'other-tool', force: true,
      body: { apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderJob', metadata: { name: 'reapply' }, spec: { shards: { parallelism: 3 } } } },
    setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
  );
  const mine = jobManifest({ namespace: ns, ...base }) as { spec: { shards: Record<string, unknown>; template: { image: string } } };
  mine.spec.shards.parallelism = 5;
  const conflicting = path.join(dir, 'reapply-conflict.yaml');
  writeFileSync(conflicting, dump(mine));
  const refused = await submit(conflicting);
  expect(refused.code).toBe(2);
  expect(refused.stderr).toMatch(/conflict with "other-tool".*\.spec\.shards\.parallelism/s);
  const forced = await submit(conflicting, '--force-conflicts');
  expect(forced.code).toBe(0);
  expect(JSON.parse(forced.stdout)).toMatchObject({ action: 'configured', outcome: 'Succeeded' });
  expect((await getJob(c, ns, 'reapply')).spec.shards).toMatchObject({ count: 1, parallelism: 5 });

  // what the shards run is immutable: the CRD's rule says so, and submit passes its message on
  mine.spec.template.image = 'ghcr.io/acme/sdxl-batch:2.0';
  writeFileSync(conflicting, dump(mine));
  const changed = await submit(conflicting);
  expect(changed.code).toBe(2);
  expect(changed.stderr).toContain('template is immutable; create a new RenderJob to change what the shards run');
  expect(await listPods(c, ns, 'reapply')).toHaveLength(1);
});

test('a job the CRD schema rejects: exit 2 with the API server\'s message as is, and nothing is created', async () => {
  const both = jobFile({ name: 'bad', shards: { count: 4, frames: { start: 1, end: 8 } } });
  const run = await submit(both);
  expect(run.code).toBe(2);
  expect(run.stderr).toContain('set exactly one of shards.count or shards.frames'); // the CEL rule's message in crds/
  expect(run.stderr).toMatch(/^RenderJob\.atelier\.dev "bad" is invalid: /m);
  // -o json still prints one result: the refusal, with the same message
  const r = JSON.parse(run.stdout) as RejectedResult;
  expect(r).toEqual({ apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderJob', namespace: ns, name: 'bad', outcome: 'Rejected', exitCode: 2, message: run.stderr.trim() });
  await expect(getJob(c, ns, 'bad')).rejects.toMatchObject({ code: 404 });

  // a misspelled field is refused (server-side apply checks fields against the schema), not silently dropped
  const typo = jobFile({ name: 'typo', shards: { count: 1, paralelism: 2 } });
  const run2 = await submit(typo);
  expect(run2.code).toBe(2);
  expect(run2.stderr).toContain('.spec.shards.paralelism: field not declared in schema');
  await expect(getJob(c, ns, 'typo')).rejects.toMatchObject({ code: 404 });
});

test('a failing job: exit 1, the JSON names the failed shard, and the pods failed', async () => {
  const file = jobFile({ name: 'failing', count: 1, maxRetries: 0, annotations: { 'testbed.atelier.dev/fail': 'true', 'testbed.atelier.dev/message': 'render crashed: out of VRAM' } });
  const run = await submit(file, '--timeout', '2m');
  expect(run.code).toBe(1);
  const r = JSON.parse(run.stdout) as SubmitResult;
  const job = await getJob(c, ns, 'failing');
  expect(job.status!.phase).toBe('Failed');
  const failed = job.status!.conditions!.find((x) => x.type === 'Failed')!;
  expect(r).toMatchObject({ outcome: 'Failed', exitCode: 1, phase: 'Failed', message: `${failed.reason}: ${failed.message}` });
  expect(r.shards).toMatchObject({ total: 1, failed: 1, succeeded: 0 });
  expect(r.outputs).toEqual([]);
  expect(r.failures).toHaveLength(1);
  expect(r.failures[0]).toMatchObject({ shard: 0, attempts: 1 });
  expect(run.stderr).toContain(failed.message); // the reason is in the pipeline's log too
  const pods = await listPods(c, ns, 'failing');
  expect(pods.map((p) => p.status!.phase)).toEqual(['Failed']);
});

test('a job that outlives --timeout: exit 3, the result says TimedOut, and the job keeps running', async () => {
  const file = jobFile({ name: 'slow', count: 1, annotations: { 'testbed.atelier.dev/duration': '120s' } });
  const run = await submit(file, '--timeout', '3s');
  expect(run.code).toBe(3);
  const r = JSON.parse(run.stdout) as SubmitResult;
  expect(r).toMatchObject({ name: 'slow', outcome: 'TimedOut', exitCode: 3 });
  expect(run.stderr).toContain('timed out after 3s');
  const job = await getJob(c, ns, 'slow');
  expect(['Pending', 'Running']).toContain(job.status?.phase ?? 'Pending');
  await c.custom.deleteNamespacedCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'renderjobs', namespace: ns, name: 'slow' });
  await waitFor('slow deleted', async () => getJob(c, ns, 'slow').then(() => false, (e: { code?: number }) => e.code === 404), 60000);
});

test('atelier help lists submit and mcp with their usage', async () => {
  const help = await runCli(['help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toMatch(/^ {2}submit {2}create a RenderJob/m);
  expect(help.stdout).toMatch(/^ {2}mcp {5}serve the Model Context Protocol/m);
  expect(help.stdout).toContain('Usage: atelier submit -f JOB.yaml');
  expect(help.stdout).toContain('Usage: atelier mcp [--kubeconfig PATH]');
});

test('on a terminal: one progress bar redrawn in place, then the summary table', async () => {
  const file = jobFile({ name: 'tty', count: 2 });
  const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  const cmd = [process.execPath, cliPath, 'submit', '-f', file, '--kubeconfig', kubeconfig, '--wait', '--timeout', '2m', '--poll-interval', '250ms'].map(q).join(' ');
  // script gives the command a pseudo-terminal (stdout and stderr both on it) and exits with its code
  const out = await new Promise<{ code: number; text: string }>((resolve) => {
    execFile('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, NODE_OPTIONS: '' }, timeout: 150_000 }, (err, stdout) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, text: stdout }));
  });
  expect(out.code).toBe(0);
  expect(out.text).toContain(`\r\x1b[2K${ns}/tty [`);
  expect(out.text).toMatch(/\[#{24}\] 2\/2 Succeeded {2}0 running/);
  expect(out.text).not.toMatch(/phase=/); // no plain log lines on a terminal
  expect(out.text).toContain(`RenderJob ${ns}/tty created  Succeeded  2/2`);
});
