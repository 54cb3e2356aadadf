// `atelier mcp` as an agent uses it: the built CLI spawned over stdio by the MCP SDK's own client,
// against the test-bed with the operator running. The agent lists the tools, plans, submits (and
// re-submits: it attaches), follows with progress notifications, reads results and costs, and
// cancels (suspend, then delete); every answer is checked against the cluster. A second server,
// started with a read-only ServiceAccount's kubeconfig, shows the tools are bound by the caller's RBAC.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { dump } from 'js-yaml';
import type { SubmitResult } from '../../operator/src/commands/submit.js';
import { installCrds } from '../support/crds.js';
import { cliPath, startOperator, type OperatorProcess } from '../support/operator.js';
import { clients, freshNamespace, testbed, waitFor, type Clients } from '../support/testbed.js';
import { getJob, listShards } from '../operator/helpers.js';
import { jobManifest, testRenderSha } from './helpers.js';

let c: Clients;
let op: OperatorProcess;
let ns: string;
const opened: Client[] = [];

interface ToolAnswer {
  isError?: boolean;
  content: { type: string; text: string }[];
  structuredContent?: Record<string, unknown>;
}

async function connect(kubeconfig: string): Promise<Client> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [cliPath, 'mcp', '--kubeconfig', kubeconfig, '-n', ns],
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NODE_OPTIONS: '' },
    stderr: 'pipe',
  });
  const client = new Client({ name: 'atelier-tests', version: '1.0.0' });
  await client.connect(transport);
  opened.push(client);
  return client;
}

interface Progress { progress: number; total?: number; message?: string }

const call = async (client: Client, name: string, args: Record<string, unknown>, onprogress?: (p: Progress) => void) =>
  (await client.callTool({ name, arguments: args }, undefined, { timeout: 150_000, ...(onprogress ? { onprogress, resetTimeoutOnProgress: true } : {}) })) as ToolAnswer;

/** The structured answer, failing with the tool's text when it is an error. */
function ok<T = Record<string, unknown>>(a: ToolAnswer): T {
  if (a.isError) throw new Error(`tool error: ${a.content.map((x) => x.text).join('\n')}`);
  expect(JSON.parse(a.content[0]!.text)).toEqual(a.structuredContent); // text and structured content agree
  return a.structuredContent as T;
}

beforeAll(async () => {
  c = clients();
  await installCrds();
  ns = await freshNamespace(c, 'mcp');
  op = startOperator(testbed().kubeconfig, ['--namespace', ns, '--lease-name', 'atelier-mcp-suite', '--local-gpu-hour-price', '1.80']);
  await op.waitForLog('became leader');
});

afterAll(async () => {
  for (const client of opened) await client.close().catch(() => undefined);
  await op?.kill('SIGTERM');
  await c?.core.deleteNamespace({ name: ns }).catch(() => undefined);
});

test('an agent lists the tools, plans, submits twice (one job), follows and reads results and costs', async () => {
  const agent = await connect(testbed().kubeconfig);
  const tools = (await agent.listTools()).tools;
  expect(tools.map((t) => t.name).sort()).toEqual(['cancel_renderjob', 'follow_renderjob', 'get_renderjob_results', 'list_renderjobs', 'plan_renderjob', 'submit_renderjob']);
  for (const t of tools) {
    expect(t.description!.length).toBeGreaterThan(40);
    expect(t.inputSchema.type).toBe('object');
  }
  expect(tools.find((t) => t.name === 'submit_renderjob')!.inputSchema.required).toEqual(['manifest']);

  const seed = 'mcp-agent';
  const manifest = dump(jobManifest({ name: 'agent-job', count: 2, annotations: { 'testbed.atelier.dev/render-seed': seed } }));

  const plan = ok<{ shards: number; policy: string; local: number; unplaced: number }>(await call(agent, 'plan_renderjob', { manifest }));
  expect(plan).toMatchObject({ shards: 2, policy: 'LocalOnly', local: 2, unplaced: 0 }); // the test-bed has free GPUs for both
  await expect(getJob(c, ns, 'agent-job')).rejects.toMatchObject({ code: 404 }); // planning submits nothing

  const progress: Progress[] = [];
  const done = ok<SubmitResult>(await call(agent, 'submit_renderjob', { manifest, wait: true, timeoutSeconds: 120 }, (p) => progress.push(p)));
  // the wait reported progress as it went (the client asked with a progress token), ending at 2 of 2
  expect(progress.length).toBeGreaterThan(0);
  expect(progress[progress.length - 1]).toEqual({ progress: 2, total: 2, message: expect.stringMatching(new RegExp(`^${ns}/agent-job phase=Succeeded succeeded=2/2 `)) });
  const job = await getJob(c, ns, 'agent-job');
  expect(done).toMatchObject({ namespace: ns, name: 'agent-job', uid: job.metadata.uid, action: 'created', outcome: 'Succeeded', exitCode: 0, phase: 'Succeeded' });
  expect(done.shards).toEqual(job.status!.shards);
  expect(done.outputs.map((o) => [o.shard, o.uri, o.sha256])).toEqual([0, 1].map((i) => [i, `local://shard-${i}.exr`, testRenderSha(seed, i)]));

  const again = ok<SubmitResult>(await call(agent, 'submit_renderjob', { manifest }));
  expect(again).toMatchObject({ uid: job.metadata.uid, action: 'unchanged', outcome: 'Succeeded' });
  const list = ok<{ jobs: { name: string; phase: string }[] }>(await call(agent, 'list_renderjobs', {}));
  expect(list.jobs).toEqual([expect.objectContaining({ name: 'agent-job', phase: 'Succeeded', progress: '2/2' })]);

  const status = ok(await call(agent, 'follow_renderjob', { name: 'agent-job' }));
  expect(status).toMatchObject({ phase: 'Succeeded', outcome: 'Succeeded', progress: '2/2', shards: job.status!.shards });
  expect(status).not.toHaveProperty('outputs'); // follow stays small; get_renderjob_results has them
  expect(status.cost).toEqual(done.cost);

  const results = ok<SubmitResult>(await call(agent, 'get_renderjob_results', { name: 'agent-job' }));
  const shards = await listShards(c, ns, 'agent-job');
  expect(results.outputs).toEqual(shards.map((s) => expect.objectContaining({
    shard: s.spec.index, ...(s.status as { result: { outputs: { uri: string; sha256: string }[] } }).result.outputs[0],
  })));
  expect(results.cost).toMatchObject({ currency: 'USD', local: job.status!.cost!.local, remote: '0.00', byProvider: {} });
  expect(results.escrows).toEqual([]);
});

test('a bad manifest and a missing job come back as tool errors with the API server\'s message', async () => {
  const agent = await connect(testbed().kubeconfig);
  const bad = dump(jobManifest({ name: 'agent-bad', shards: { count: 2, frames: { start: 1, end: 4 } } }));
  const r = await call(agent, 'submit_renderjob', { manifest: bad });
  expect(r.isError).toBe(true);
  expect(r.content[0]!.text).toContain('set exactly one of shards.count or shards.frames');
  const missing = await call(agent, 'follow_renderjob', { name: 'no-such-job' });
  expect(missing.isError).toBe(true);
  expect(missing.content[0]!.text).toContain('"no-such-job" not found');
});

test('cancel suspends by default (no new shard starts) and deletes on request', async () => {
  const agent = await connect(testbed().kubeconfig);
  const manifest = dump(jobManifest({ name: 'agent-long', count: 6, annotations: { 'testbed.atelier.dev/duration': '60s' } }));
  ok(await call(agent, 'submit_renderjob', { manifest }));
  const suspended = ok(await call(agent, 'cancel_renderjob', { name: 'agent-long' }));
  expect(suspended).toMatchObject({ name: 'agent-long', cancelled: 'suspended' });
  expect((await getJob(c, ns, 'agent-long')).spec.suspend).toBe(true);
  await waitFor('agent-long Suspended', async () => (await getJob(c, ns, 'agent-long')).status?.phase === 'Suspended', 60000);

  const deleted = await call(agent, 'cancel_renderjob', { name: 'agent-long', mode: 'delete' });
  expect(deleted.isError).toBeFalsy();
  expect(deleted.content[0]!.text).toContain(`RenderJob ${ns}/agent-long deleted`);
  await waitFor('agent-long gone', async () => getJob(c, ns, 'agent-long').then(() => false, (e: { code?: number }) => e.code === 404), 60000);
});

test('the tools act with the caller\'s kubeconfig: a read-only ServiceAccount can follow but not submit or cancel', async () => {
  await c.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'agent-viewer' } } });
  await c.objects.create({
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'renderjob-viewer', namespace: ns },
    rules: [{ apiGroups: ['atelier.dev'], resources: ['renderjobs', 'rendershards'], verbs: ['get', 'list', 'watch'] }],
  } as never);
  await c.objects.create({
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'agent-viewer', namespace: ns },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'renderjob-viewer' },
    subjects: [{ kind: 'ServiceAccount', name: 'agent-viewer', namespace: ns }],
  } as never);
  const tr = await c.core.createNamespacedServiceAccountToken({ name: 'agent-viewer', namespace: ns, body: { spec: { audiences: [], expirationSeconds: 3600 } } });
  const cluster = c.kc.getCurrentCluster()!;
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'atelier-mcp-')), 'viewer.kubeconfig');
  writeFileSync(file, dump({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'viewer',
    clusters: [{ name: 'testbed', cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData } }],
    users: [{ name: 'viewer', user: { token: tr.status!.token } }],
    contexts: [{ name: 'viewer', context: { cluster: 'testbed', user: 'viewer', namespace: ns } }],
  }), { mode: 0o600 });

  const viewer = await connect(file);
  const manifest = dump(jobManifest({ name: 'viewer-job', count: 1 }));
  const denied = await call(viewer, 'submit_renderjob', { manifest });
  expect(denied.isError).toBe(true);
  expect(denied.content[0]!.text).toMatch(/forbidden: User "system:serviceaccount:[^:]+:agent-viewer" cannot (get|patch) resource "renderjobs"/);
  await expect(getJob(c, ns, 'viewer-job')).rejects.toMatchObject({ code: 404 });
  // reading is allowed: the job the first test made is visible
  expect(ok(await call(viewer, 'follow_renderjob', { name: 'agent-job' }))).toMatchObject({ name: 'agent-job', phase: 'Succeeded' });
  const cancel = await call(viewer, 'cancel_renderjob', { name: 'agent-job', mode: 'delete' });
  expect(cancel.isError).toBe(true);
  expect(cancel.content[0]!.text).toContain('cannot delete resource "renderjobs"');
  expect((await getJob(c, ns, 'agent-job')).metadata.deletionTimestamp).toBeUndefined();
});
