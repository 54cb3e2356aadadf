// `atelier mcp`: a Model Context Protocol server on stdio (the official @modelcontextprotocol/sdk) so
// an AI agent can plan, submit, follow, cancel and read back RenderJobs. Every tool acts with the
// kubeconfig the server was started with — the caller's own — so the cluster's RBAC bounds what an
// agent may do exactly as it bounds the person: a refusal comes back as a tool error carrying the API
// server's message. The tools reuse `atelier plan` and `atelier submit` rather than reimplementing
// them, so an agent and a pipeline see the same plans, results and costs. Cancel suspends by default
// (spec.suspend: no new shard starts, running ones finish, results and costs stay readable); mode
// "delete" deletes the job, whose finalizer cancels remote work and refunds unspent escrow.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { CallToolResult, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod';
import { RenderJobResource, type RenderJob } from '../api/index.js';
import { loadKubeConfig, mergePatch } from '../kube/client.js';
import { planCommand } from './plan.js';
import { apiMessage, applyJob, buildResult, follow, getJob, listJobShards, outcomeOf, parseJobManifest, progressLine, readResult, Rejected, type SubmitResult } from './submit.js';

export const mcpUsage = `Usage: atelier mcp [--kubeconfig PATH] [-n NAMESPACE]

Serves the Model Context Protocol on stdin/stdout for AI agents: tools plan_renderjob,
submit_renderjob, follow_renderjob, get_renderjob_results, cancel_renderjob and list_renderjobs,
acting with this kubeconfig (its RBAC applies). -n sets the namespace tools use when none is given.
`;

export const MCP_FIELD_MANAGER = 'atelier-mcp';

const text = (s: string): CallToolResult => ({ content: [{ type: 'text', text: s }] });
const failure = (s: string): CallToolResult => ({ isError: true, content: [{ type: 'text', text: s }] });
const structured = (obj: object): CallToolResult => ({ content: [{ type: 'text', text: JSON.stringify(obj, null, 2) }], structuredContent: obj as Record<string, unknown> });

/** Runs a tool body, turning a refusal or an API error into a tool error with the server's message. */
async function guarded(fn: () => Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await fn();
  } catch (e) {
    return failure(e instanceof Rejected ? e.message : apiMessage(e));
  }
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/**
 * While a tool waits for a job: MCP progress notifications (succeeded of total shards, and the same
 * line `atelier submit` logs) when the caller asked for them with a progressToken, one per change,
 * so a client can show progress and keep a long wait from timing out (resetTimeoutOnProgress).
 */
function progressTo(extra: Extra): ((job: RenderJob) => void) | undefined {
  const token = extra._meta?.progressToken;
  if (token === undefined) return undefined;
  let last = '';
  return (job) => {
    const message = progressLine(job, false);
    if (message === last) return;
    last = message;
    const s = job.status?.shards;
    void extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: s?.succeeded ?? 0, total: s?.total ?? 0, message } }).catch(() => undefined);
  };
}

/** What follow_renderjob returns: the status without the per-shard outputs (get_renderjob_results has those). */
function summary(r: SubmitResult): Record<string, unknown> {
  const { outputs: _outputs, failures: _failures, conditions, ...rest } = r;
  return { ...rest, conditions: conditions.map((c) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message })) };
}

export interface McpOptions {
  kubeconfig?: string;
  namespace?: string;
  env: Record<string, string | undefined>;
}

/** Builds the server with its tools; the caller connects a transport (stdio for the CLI). */
export function buildMcpServer(o: McpOptions): McpServer {
  const kc = loadKubeConfig(o.kubeconfig ?? o.env.KUBECONFIG?.split(':')[0]);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const defaultNs = o.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  const nsOf = (ns: string | undefined, job?: RenderJob) => ns ?? job?.metadata.namespace ?? defaultNs;
  const server = new McpServer({ name: 'atelier', version: '0.1.0' });
  const jobRef = {
    name: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/).describe('RenderJob name'),
    namespace: z.string().optional().describe(`namespace (default ${defaultNs})`),
  };

  server.registerTool('plan_renderjob', {
    title: 'Plan a RenderJob',
    description: 'What the operator would do with this RenderJob right now, submitting nothing: shards local vs per provider, expected cost and finish time, next to the same job LocalOnly. Same output as `atelier plan -o json`.',
    inputSchema: {
      manifest: z.string().describe('the RenderJob as YAML or JSON'),
      namespace: z.string().optional(),
      shardDuration: z.string().optional().describe('expected time per shard, a Go duration such as 10m'),
      localGpuHourPrice: z.string().optional().describe('USD per local GPU-hour, e.g. "1.80"'),
    },
    annotations: { readOnlyHint: true },
  }, async (a) => guarded(async () => {
    const job = parseJobManifest(a.manifest, 'manifest');
    job.metadata.namespace = nsOf(a.namespace, job);
    // plan.ts reads its job from a file; a private temporary one keeps that command the one implementation.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'atelier-mcp-'));
    try {
      const file = path.join(dir, 'job.json');
      writeFileSync(file, JSON.stringify(job), { mode: 0o600 });
      let out = '';
      const argv = ['-f', file, '-o', 'json', ...(o.kubeconfig ? ['--kubeconfig', o.kubeconfig] : []),
        ...(a.shardDuration ? ['--shard-duration', a.shardDuration] : []), ...(a.localGpuHourPrice ? ['--local-gpu-hour-price', a.localGpuHourPrice] : [])];
      await planCommand(argv, o.env, (s) => (out += s));
      return structured(JSON.parse(out) as object);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }));

  server.registerTool('submit_renderjob', {
    title: 'Submit a RenderJob',
    description: 'Creates the RenderJob by server-side apply (field manager atelier-submit); submitting the same job again attaches to it instead of duplicating. With wait, follows it until it finishes or timeoutSeconds pass. Returns phase, outcome (Succeeded, Failed, Rejected, TimedOut, or the running phase), shards, cost by provider, outputs with digests and escrows. A job the API server or operator rejects is a tool error with their message.',
    inputSchema: {
      manifest: z.string().describe('the RenderJob as YAML or JSON (metadata.name required)'),
      namespace: z.string().optional(),
      wait: z.boolean().optional().describe('follow until the job finishes'),
      timeoutSeconds: z.number().positive().optional().describe('with wait: stop waiting after this long (the job keeps running)'),
    },
  }, async (a, extra) => guarded(async () => {
    const manifest = parseJobManifest(a.manifest, 'manifest');
    const applied = await applyJob(custom, manifest, { namespace: nsOf(a.namespace, manifest) });
    if (!a.wait) return structured(await readResult(custom, applied.job, { action: applied.action }));
    const onUpdate = progressTo(extra);
    const f = await follow(custom, applied.job.metadata.namespace!, applied.job.metadata.name!, {
      signal: extra.signal, ...(a.timeoutSeconds ? { timeoutMs: a.timeoutSeconds * 1000 } : {}), ...(onUpdate ? { onUpdate } : {}),
    });
    const r = await readResult(custom, f.job, { action: applied.action, timedOut: f.timedOut });
    return r.outcome === 'Rejected' ? { ...structured(r), isError: true } : structured(r);
  }));

  server.registerTool('follow_renderjob', {
    title: 'Follow a RenderJob',
    description: 'Status of a RenderJob: phase, outcome once final, shard counts, cost by provider, escrows and conditions. waitSeconds > 0 waits up to that long for the job to finish (returning as soon as it does).',
    inputSchema: { ...jobRef, waitSeconds: z.number().min(0).max(3600).optional() },
    annotations: { readOnlyHint: true },
  }, async (a, extra) => guarded(async () => {
    const ns = nsOf(a.namespace);
    const onUpdate = progressTo(extra);
    const f = a.waitSeconds
      ? await follow(custom, ns, a.name, { timeoutMs: a.waitSeconds * 1000, signal: extra.signal, ...(onUpdate ? { onUpdate } : {}) })
      : { job: await getJob(custom, ns, a.name), timedOut: false };
    return structured(summary(buildResult(f.job, [], { timedOut: f.timedOut && !outcomeOf(f.job) })));
  }));

  server.registerTool('get_renderjob_results', {
    title: 'Results and costs of a RenderJob',
    description: 'Every output of the job (shard, URI, sha256, CID, result digest, where it ran), failed shards with their reasons, cost local/remote/by provider, and escrows (funded, released, refunded, transactions).',
    inputSchema: jobRef,
    annotations: { readOnlyHint: true },
  }, async (a) => guarded(async () => {
    const ns = nsOf(a.namespace);
    const job = await getJob(custom, ns, a.name);
    return structured(buildResult(job, await listJobShards(custom, ns, a.name)));
  }));

  server.registerTool('cancel_renderjob', {
    title: 'Cancel a RenderJob',
    description: 'mode "suspend" (default) sets spec.suspend: no new shard starts, running shards finish, results and costs stay readable, and resubmitting with suspend false resumes it. mode "delete" deletes the job: its finalizer cancels remote work and refunds unspent escrow, and its shards and results go with it.',
    inputSchema: { ...jobRef, mode: z.enum(['suspend', 'delete']).optional() },
    annotations: { destructiveHint: true },
  }, async (a) => guarded(async () => {
    const ns = nsOf(a.namespace);
    const target = { group: RenderJobResource.group, version: RenderJobResource.version, plural: RenderJobResource.plural, namespace: ns, name: a.name };
    if ((a.mode ?? 'suspend') === 'delete') {
      await custom.deleteNamespacedCustomObject({ ...target, propagationPolicy: 'Background' });
      return text(`RenderJob ${ns}/${a.name} deleted: remote work is cancelled and unspent escrow refunded before it goes away`);
    }
    const job = (await custom.patchNamespacedCustomObject({ ...target, body: { spec: { suspend: true } }, fieldManager: MCP_FIELD_MANAGER }, mergePatch())) as RenderJob;
    return structured({ ...summary(buildResult(job, [])), cancelled: 'suspended' });
  }));

  server.registerTool('list_renderjobs', {
    title: 'List RenderJobs',
    description: 'RenderJobs in a namespace with phase, progress and cost.',
    inputSchema: { namespace: z.string().optional() },
    annotations: { readOnlyHint: true },
  }, async (a) => guarded(async () => {
    const ns = nsOf(a.namespace);
    const list = (await custom.listNamespacedCustomObject({ group: RenderJobResource.group, version: RenderJobResource.version, plural: RenderJobResource.plural, namespace: ns })) as { items: RenderJob[] };
    return structured({
      namespace: ns,
      jobs: list.items.map((j) => ({ name: j.metadata.name, phase: j.status?.phase ?? 'Pending', progress: j.status?.progress ?? '', cost: j.status?.cost?.total ?? '0.00', created: j.metadata.creationTimestamp })),
    });
  }));

  return server;
}

export async function mcpCommand(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const { values } = parseArgs({ args: argv, strict: true, options: { kubeconfig: { type: 'string' }, namespace: { type: 'string', short: 'n' } } });
  if (values.kubeconfig) readFileSync(values.kubeconfig); // a missing file is a usage error now, not a tool error later
  const server = buildMcpServer({ env, ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}), ...(values.namespace ? { namespace: values.namespace } : {}) });
  const transport = new StdioServerTransport();
  await server.connect(transport);
  await new Promise<void>((resolve) => {
    server.server.onclose = () => resolve();
    process.stdin.on('end', () => resolve());
  });
  await server.close();
  return 0;
}
