// `atelier submit -f JOB.yaml`: the way pipelines and agents hand a RenderJob to the cluster. It
// creates the job with server-side apply under one field manager, so running the same command again
// attaches to the job it made instead of making a second one; with --wait it follows the job (a
// redrawn progress bar on a terminal, one plain line per change elsewhere, both on stderr) and turns
// the outcome into an exit code a pipeline can branch on: 0 Succeeded, 1 Failed, 2 rejected or
// invalid (the API server's or the operator's own message, printed as is), 3 timed out. `-o json`
// prints one result object on stdout: phase, shard counts, cost by provider, outputs with their
// digests (read from the job's RenderShards) and escrows. `atelier mcp` serves the same functions.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { dump, loadAll } from 'js-yaml';
import {
  CLEANUP_FINALIZER, JOB_LABEL, RenderJobResource, RenderShardResource,
  type Condition, type EscrowStatus, type RenderJob, type RenderShard, type ShardCounts,
} from '../api/index.js';
import { loadKubeConfig } from '../kube/client.js';
import { parseGoDuration } from '../planner/index.js';
import { settling } from './status.js';

export const submitUsage = `Usage: atelier submit -f JOB.yaml [-n NAMESPACE] [--kubeconfig PATH] [--wait] [--timeout 30m] [-o table|json|yaml] [--force-conflicts] [--poll-interval 1s]

Creates a RenderJob by server-side apply (field manager atelier-submit); running it again with the same
job attaches to the existing one. With --wait, follows it until it finishes (progress on stderr) and
exits 0 Succeeded, 1 Failed, 2 rejected or invalid (the API server's or operator's message as is),
3 timed out (--timeout, a Go duration). -o json|yaml prints one result: phase, shards, cost by
provider, outputs (URIs, digests) and escrows. -f - reads the job from stdin.
`;

export const SUBMIT_FIELD_MANAGER = 'atelier-submit';

/** Exit codes of `atelier submit`, the contract pipelines branch on. */
export const EXIT = { succeeded: 0, failed: 1, rejected: 2, timedOut: 3 } as const;

/** The job was refused before it could run: a bad manifest, the API server, or the operator's Accepted=False. */
export class Rejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Rejected';
  }
}

const api = { group: RenderJobResource.group, version: RenderJobResource.version };

/** The message of a Kubernetes API error as the server wrote it (its Status message), else the error's text. */
export function apiMessage(e: unknown): string {
  let body = (e as { body?: unknown } | undefined)?.body;
  if (typeof body === 'string') {
    const text = body;
    try {
      body = JSON.parse(text);
    } catch {
      if (text.trim()) return text.trim();
    }
  }
  if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') return (body as { message: string }).message;
  const code = (e as { code?: unknown } | undefined)?.code;
  if (code === 401) return 'Unauthorized: the kubeconfig\'s credentials were not accepted';
  if (!(e instanceof Error)) return String(e);
  const first = e.message.split('\n')[0]!;
  // undici says only "fetch failed"; the reason (refused, DNS, TLS) is in its cause
  const cause = (e as { cause?: unknown }).cause;
  return cause instanceof Error && cause.message && !first.includes(cause.message) ? `${first}: ${cause.message.split('\n')[0]}` : first;
}

/** HTTP status of a client-node ApiException, undefined for transport errors. */
function httpCode(e: unknown): number | undefined {
  const c = (e as { code?: unknown } | undefined)?.code;
  return typeof c === 'number' ? c : undefined;
}

/** Reads one RenderJob from YAML or JSON text; anything else is Rejected with what is wrong. */
export function parseJobManifest(text: string, source: string): RenderJob {
  let docs: unknown[];
  try {
    docs = loadAll(text).filter((d) => d !== null && d !== undefined);
  } catch (e) {
    throw new Rejected(`${source}: not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (docs.length !== 1) throw new Rejected(`${source}: expected one RenderJob, found ${docs.length} documents`);
  const job = docs[0] as RenderJob;
  if (typeof job !== 'object' || job.kind !== 'RenderJob') throw new Rejected(`${source}: kind is ${JSON.stringify((job as { kind?: unknown })?.kind)}, not RenderJob`);
  if (job.apiVersion !== RenderJobResource.apiVersion) throw new Rejected(`${source}: apiVersion ${JSON.stringify(job.apiVersion)} is not ${RenderJobResource.apiVersion}`);
  if (!job.metadata?.name) throw new Rejected(`${source}: metadata.name is required (a fixed name is what lets a re-run attach instead of duplicating)`);
  if (job.metadata.generateName) throw new Rejected(`${source}: metadata.generateName cannot be applied; set metadata.name`);
  return job;
}

export interface ApplyOptions {
  namespace: string;
  fieldManager?: string;
  /** Take over fields another manager owns (kubectl's --force-conflicts). */
  force?: boolean;
}

export interface Applied {
  job: RenderJob;
  /** created: new; configured: the spec changed; unchanged: the same job applied again (attached). */
  action: 'created' | 'configured' | 'unchanged';
}

/**
 * Creates or updates the job by server-side apply with strict field validation. Every refusal of the
 * API server (schema, CEL rules, immutable fields, RBAC, a conflict with another field manager)
 * becomes Rejected carrying the server's message unchanged.
 */
export async function applyJob(custom: k8s.CustomObjectsApi, manifest: RenderJob, o: ApplyOptions): Promise<Applied> {
  const name = manifest.metadata.name!;
  if (manifest.metadata.namespace && manifest.metadata.namespace !== o.namespace) {
    throw new Rejected(`the job names namespace ${manifest.metadata.namespace} but ${o.namespace} was asked for`);
  }
  // Server-side apply takes the intent only (a file saved with `kubectl get -o yaml` works too):
  // fields the server owns would be rejected or clobbered, and status is the operator's.
  const {
    resourceVersion: _rv, uid: _uid, managedFields: _mf, creationTimestamp: _ct, generation: _g,
    deletionTimestamp: _dt, deletionGracePeriodSeconds: _dg, selfLink: _sl, ...meta
  } = manifest.metadata as Record<string, unknown>;
  // the operator's own finalizer is its to add and remove; applying it would keep re-adding it
  if (Array.isArray(meta.finalizers)) {
    meta.finalizers = (meta.finalizers as string[]).filter((f) => f !== CLEANUP_FINALIZER);
    if ((meta.finalizers as string[]).length === 0) delete meta.finalizers;
  }
  const body = { apiVersion: manifest.apiVersion, kind: manifest.kind, metadata: { ...meta, name, namespace: o.namespace }, spec: manifest.spec };
  let before: RenderJob | undefined;
  try {
    before = (await custom.getNamespacedCustomObject({ ...api, plural: RenderJobResource.plural, namespace: o.namespace, name })) as RenderJob;
  } catch (e) {
    if (httpCode(e) !== 404) throw new Rejected(apiMessage(e));
  }
  let job: RenderJob;
  try {
    job = (await custom.patchNamespacedCustomObject(
      { ...api, plural: RenderJobResource.plural, namespace: o.namespace, name, body, fieldManager: o.fieldManager ?? SUBMIT_FIELD_MANAGER, fieldValidation: 'Strict', ...(o.force ? { force: true } : {}) },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply),
    )) as RenderJob;
  } catch (e) {
    throw new Rejected(apiMessage(e));
  }
  const action = !before || before.metadata.uid !== job.metadata.uid ? 'created' : before.metadata.generation === job.metadata.generation ? 'unchanged' : 'configured';
  return { job, action };
}

export async function getJob(custom: k8s.CustomObjectsApi, namespace: string, name: string): Promise<RenderJob> {
  return (await custom.getNamespacedCustomObject({ ...api, plural: RenderJobResource.plural, namespace, name })) as RenderJob;
}

/** Every RenderShard of the job (label atelier.dev/job), read in pages. */
export async function listJobShards(custom: k8s.CustomObjectsApi, namespace: string, name: string): Promise<RenderShard[]> {
  const out: RenderShard[] = [];
  let cont: string | undefined;
  do {
    const page = (await custom.listNamespacedCustomObject({
      ...api, plural: RenderShardResource.plural, namespace, labelSelector: `${JOB_LABEL}=${name}`, limit: 500, ...(cont ? { _continue: cont } : {}),
    })) as { items: RenderShard[]; metadata?: { _continue?: string; continue?: string } };
    out.push(...page.items);
    cont = page.metadata?._continue ?? page.metadata?.continue;
  } while (cont);
  return out.sort((a, b) => a.spec.index - b.spec.index);
}

const cond = (job: RenderJob, type: string): Condition | undefined => job.status?.conditions?.find((c) => c.type === type);

/** True once the status describes the job's current spec (not a previous generation's). */
export function observed(job: RenderJob): boolean {
  const st = job.status;
  return !!st && (st.observedGeneration ?? 0) >= (job.metadata.generation ?? 1);
}

export type Outcome = 'Succeeded' | 'Failed' | 'Rejected';

/** The job's outcome once it is final, or undefined while it is still going (or still settling on-chain). */
export function outcomeOf(job: RenderJob): { outcome: Outcome; message: string } | undefined {
  if (!observed(job)) return undefined;
  const accepted = cond(job, 'Accepted');
  if (accepted?.status === 'False') return { outcome: 'Rejected', message: accepted.message ?? accepted.reason };
  const phase = job.status?.phase;
  if (phase !== 'Succeeded' && phase !== 'Failed') return undefined;
  if (settling(job)) return undefined;
  if (phase === 'Succeeded') return { outcome: 'Succeeded', message: cond(job, 'Complete')?.message ?? '' };
  const failed = cond(job, 'Failed');
  return { outcome: 'Failed', message: failed?.message ? `${failed.reason}: ${failed.message}` : failed?.reason ?? 'the job failed' };
}

export const exitCodeOf = (o: Outcome): number => (o === 'Succeeded' ? EXIT.succeeded : o === 'Failed' ? EXIT.failed : EXIT.rejected);

export interface SubmitOutput {
  shard: number;
  frames?: { start: number; end: number };
  placement?: string;
  provider?: string;
  uri?: string;
  sha256?: string;
  cid?: string;
  /** The shard's result digest over all its outputs (what a provider signs). */
  digest?: string;
}

export interface SubmitFailure {
  shard: number;
  attempts?: number;
  reason?: string;
  message?: string;
}

/** The machine-readable result of `atelier submit -o json` (and of the MCP tools). */
export interface SubmitResult {
  apiVersion: string;
  kind: 'RenderJob';
  namespace: string;
  name: string;
  uid?: string;
  generation?: number;
  action?: Applied['action'];
  /** Succeeded | Failed | Rejected once final; TimedOut when --timeout ran out; Running/Pending/Suspended otherwise. */
  outcome: string;
  exitCode?: number;
  phase: string;
  message?: string;
  progress: string;
  shards: Required<ShardCounts>;
  cost: { currency: string; local: string; remote: string; total: string; byProvider: Record<string, string> };
  outputs: SubmitOutput[];
  failures: SubmitFailure[];
  escrows: EscrowStatus[];
  conditions: Condition[];
  startTime?: string;
  completionTime?: string;
}

/** What -o json prints when the job never got in: the manifest, the API server or RBAC refused it. */
export interface RejectedResult {
  apiVersion: string;
  kind: 'RenderJob';
  namespace?: string;
  name?: string;
  outcome: 'Rejected';
  exitCode: number;
  /** The refusal as its author wrote it (the API server's Status message, or what is wrong with the file). */
  message: string;
}

/** Builds the result from the job and its RenderShards; a pure function, so it is tested without a cluster. */
export function buildResult(job: RenderJob, shards: RenderShard[], extra: { action?: Applied['action']; timedOut?: boolean } = {}): SubmitResult {
  const st = job.status ?? {};
  const raw = st.shards ?? {};
  const counts = {
    total: raw.total ?? 0, pending: raw.pending ?? 0, running: raw.running ?? 0, succeeded: raw.succeeded ?? 0,
    failed: raw.failed ?? 0, local: raw.local ?? 0, remote: raw.remote ?? 0,
  };
  const final = outcomeOf(job);
  const outcome = final?.outcome ?? (extra.timedOut ? 'TimedOut' : observed(job) ? st.phase ?? 'Pending' : 'Pending');
  const outputs: SubmitOutput[] = [];
  const failures: SubmitFailure[] = [];
  for (const s of shards) {
    const r = s.status ?? {};
    const where = {
      shard: s.spec.index,
      ...(s.spec.frames ? { frames: { start: s.spec.frames.start, end: s.spec.frames.end } } : {}),
      ...(r.placement ? { placement: r.placement } : {}),
      ...(r.provider ? { provider: r.provider } : {}),
    };
    if (r.phase === 'Succeeded') {
      for (const o of r.result?.outputs ?? []) {
        outputs.push({ ...where, ...(o.uri ? { uri: o.uri } : {}), ...(o.sha256 ? { sha256: o.sha256 } : {}), ...(o.cid ? { cid: o.cid } : {}), ...(r.result?.digest ? { digest: r.result.digest } : {}) });
      }
    }
    if (r.phase === 'Failed') failures.push({ shard: s.spec.index, ...(r.attempts !== undefined ? { attempts: r.attempts } : {}), ...(r.lastFailure?.reason ? { reason: r.lastFailure.reason } : {}), ...(r.lastFailure?.message ? { message: r.lastFailure.message } : {}) });
  }
  return {
    apiVersion: job.apiVersion, kind: 'RenderJob', namespace: job.metadata.namespace!, name: job.metadata.name!,
    ...(job.metadata.uid ? { uid: job.metadata.uid } : {}),
    ...(job.metadata.generation !== undefined ? { generation: job.metadata.generation } : {}),
    ...(extra.action ? { action: extra.action } : {}),
    outcome,
    ...(final ? { exitCode: exitCodeOf(final.outcome) } : extra.timedOut ? { exitCode: EXIT.timedOut } : {}),
    phase: st.phase ?? 'Pending',
    ...(final?.message ? { message: final.message } : st.lastScheduleMessage ? { message: st.lastScheduleMessage } : {}),
    progress: st.progress ?? `${counts.succeeded}/${counts.total}`,
    shards: counts,
    cost: {
      currency: st.cost?.currency ?? 'USD', local: st.cost?.local ?? '0.00', remote: st.cost?.remote ?? '0.00', total: st.cost?.total ?? '0.00',
      byProvider: Object.fromEntries((st.providers ?? []).map((p) => [p.name, p.cost ?? '0.00'])),
    },
    outputs, failures,
    escrows: st.settlement?.escrows ?? [],
    conditions: st.conditions ?? [],
    ...(st.startTime ? { startTime: st.startTime } : {}),
    ...(st.completionTime ? { completionTime: st.completionTime } : {}),
  };
}

export async function readResult(custom: k8s.CustomObjectsApi, job: RenderJob, extra: { action?: Applied['action']; timedOut?: boolean } = {}): Promise<SubmitResult> {
  return buildResult(job, await listJobShards(custom, job.metadata.namespace!, job.metadata.name!), extra);
}

function bar(part: number, total: number, width = 24): string {
  const n = total > 0 ? Math.min(width, Math.round((part / total) * width)) : 0;
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}]`;
}

/** One line of progress: a bar on a terminal, plain words elsewhere (CI logs keep each line). */
export function progressLine(job: RenderJob, tty: boolean): string {
  const st = job.status;
  const id = `${job.metadata.namespace}/${job.metadata.name}`;
  if (!st || !observed(job)) return `${id} waiting for the operator to accept generation ${job.metadata.generation ?? 1}`;
  const s = st.shards ?? {};
  const total = s.total ?? 0, done = s.succeeded ?? 0;
  const parts = [`${s.running ?? 0} running`, `${s.pending ?? 0} pending`, `${s.failed ?? 0} failed`, `local ${s.local ?? 0}`, `remote ${s.remote ?? 0}`, `cost ${st.cost?.total ?? '0.00'} ${st.cost?.currency ?? 'USD'}`];
  const settle = settling(job) && (st.phase === 'Succeeded' || st.phase === 'Failed') ? ` settling (${cond(job, 'Settled')?.reason ?? 'Pending'})` : '';
  if (tty) return `${id} ${bar(done, total)} ${done}/${total} ${st.phase ?? 'Pending'}${settle}  ${parts.join('  ')}`;
  return `${id} phase=${st.phase ?? 'Pending'}${settle} succeeded=${done}/${total} ${parts.join(', ')}`;
}

export interface FollowOptions {
  /** Stop waiting after this long (the job keeps running). */
  timeoutMs?: number;
  intervalMs?: number;
  onUpdate?: (job: RenderJob) => void;
  signal?: AbortSignal;
}

/**
 * Polls the job until it is final or the timeout runs out. Transient API errors are retried; a job
 * deleted while followed ends the wait as Failed. Returns the last job seen and whether it timed out.
 */
export async function follow(custom: k8s.CustomObjectsApi, namespace: string, name: string, o: FollowOptions = {}): Promise<{ job: RenderJob; timedOut: boolean }> {
  const deadline = o.timeoutMs === undefined ? Infinity : Date.now() + o.timeoutMs;
  let last: RenderJob | undefined;
  for (;;) {
    try {
      last = await getJob(custom, namespace, name);
      o.onUpdate?.(last);
      if (outcomeOf(last)) return { job: last, timedOut: false };
    } catch (e) {
      if (httpCode(e) === 404) throw new Error(`RenderJob ${namespace}/${name} was deleted while being followed`);
      if (httpCode(e) === 401 || httpCode(e) === 403) throw new Rejected(apiMessage(e));
      // anything else (a restarting API server, a dropped connection) is retried until the deadline
    }
    const left = deadline - Date.now();
    if (left <= 0 || o.signal?.aborted) {
      if (!last) throw new Error(`could not read RenderJob ${namespace}/${name} before the timeout`);
      return { job: last, timedOut: true };
    }
    await new Promise((r) => setTimeout(r, Math.min(o.intervalMs ?? 1000, left)));
  }
}

/** The result for a person: phase, shards, cost per provider, outputs (first few) and escrows. */
export function renderResult(r: SubmitResult): string {
  const lines = [`RenderJob ${r.namespace}/${r.name}${r.action ? ` ${r.action}` : ''}  ${r.outcome}${r.phase !== r.outcome ? ` (phase ${r.phase})` : ''}  ${r.progress}`];
  if (r.message) lines.push(`  ${r.message}`);
  const s = r.shards;
  lines.push(`  shards   ${s.succeeded} succeeded, ${s.running} running, ${s.pending} pending, ${s.failed} failed; local ${s.local}, remote ${s.remote}`);
  const byProvider = Object.entries(r.cost.byProvider).map(([p, c]) => `${p} ${c}`).join(', ');
  lines.push(`  cost     local ${r.cost.local}  remote ${r.cost.remote}${byProvider ? ` (${byProvider})` : ''}  total ${r.cost.total} ${r.cost.currency}`);
  const shown = r.outputs.slice(0, 10);
  if (shown.length) lines.push('  outputs');
  for (const o of shown) lines.push(`    shard ${String(o.shard).padEnd(5)} ${o.uri ?? '(no uri)'}  ${o.sha256 ? `sha256:${o.sha256}` : o.cid ?? ''}`);
  if (r.outputs.length > shown.length) lines.push(`    … ${r.outputs.length - shown.length} more (-o json lists them all)`);
  for (const f of r.failures.slice(0, 5)) lines.push(`  failed shard ${f.shard} after ${f.attempts ?? '?'} attempt(s): ${f.reason ?? ''}${f.message ? ` ${f.message}` : ''}`);
  for (const e of r.escrows) lines.push(`  escrow   ${e.provider} ${e.state ?? 'Opening'} funded ${e.funded ?? '0'} released ${e.released ?? '0'} refunded ${e.refunded ?? '0'}`);
  return lines.join('\n');
}

export interface SubmitIo {
  err: (s: string) => void;
  /** Redraw a progress bar in place (stderr is a terminal). */
  tty: boolean;
  readStdin?: () => string;
}

const defaultIo = (): SubmitIo => ({
  err: (s) => process.stderr.write(s),
  tty: !!process.stderr.isTTY,
  readStdin: () => readFileSync(0, 'utf8'),
});

/** The flags of `atelier submit`, parsed and checked (the pipeline examples' tests parse their command lines with it). */
export function parseSubmitArgs(argv: string[]) {
  const { values } = parseArgs({
    args: argv, strict: true,
    options: {
      file: { type: 'string', short: 'f' }, namespace: { type: 'string', short: 'n' }, kubeconfig: { type: 'string' },
      wait: { type: 'boolean', short: 'w' }, timeout: { type: 'string' }, output: { type: 'string', short: 'o' },
      'force-conflicts': { type: 'boolean' }, 'poll-interval': { type: 'string' },
    },
  });
  if (!values.file) throw new Error('-f JOB.yaml is required');
  const output = values.output ?? 'table';
  if (!['table', 'json', 'yaml'].includes(output)) throw new Error(`-o must be table, json or yaml, not ${JSON.stringify(output)}`);
  const timeoutMs = values.timeout !== undefined ? parseGoDuration(values.timeout) : undefined;
  if (values.timeout !== undefined && !(timeoutMs! > 0)) throw new Error(`--timeout wants a positive duration such as 30m, got ${JSON.stringify(values.timeout)}`);
  return { ...values, file: values.file, output, timeoutMs };
}

export async function submitCommand(argv: string[], env: Record<string, string | undefined>, out: (s: string) => void, io: SubmitIo = defaultIo()): Promise<number> {
  const values = parseSubmitArgs(argv);
  const { output: format, timeoutMs } = values;
  const intervalMs = values['poll-interval'] !== undefined ? parseGoDuration(values['poll-interval']) : 1000;
  const print = (r: SubmitResult) => out(format === 'json' ? JSON.stringify(r, null, 2) : format === 'yaml' ? dump(r, { noRefs: true, lineWidth: -1 }).trimEnd() : renderResult(r));

  let custom: k8s.CustomObjectsApi;
  let applied: Applied;
  const target: { namespace?: string; name?: string } = {};
  try {
    const source = values.file === '-' ? 'stdin' : values.file;
    let text: string;
    try {
      text = values.file === '-' ? (io.readStdin ?? (() => readFileSync(0, 'utf8')))() : readFileSync(values.file, 'utf8');
    } catch (e) {
      throw new Rejected(`cannot read ${source}: ${(e as Error).message}`);
    }
    const manifest = parseJobManifest(text, source);
    const kc = loadKubeConfig(values.kubeconfig ?? env.KUBECONFIG?.split(':')[0]);
    const namespace = values.namespace ?? manifest.metadata.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
    Object.assign(target, { namespace, name: manifest.metadata.name });
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    applied = await applyJob(custom, manifest, { namespace, force: !!values['force-conflicts'] });
  } catch (e) {
    if (!(e instanceof Rejected)) throw e;
    io.err(`${e.message}\n`);
    // a machine reader gets one result whatever happened: here, the refusal and its message
    const r: RejectedResult = { apiVersion: RenderJobResource.apiVersion, kind: 'RenderJob', ...target, outcome: 'Rejected', exitCode: EXIT.rejected, message: e.message };
    if (format === 'json') out(JSON.stringify(r, null, 2));
    else if (format === 'yaml') out(dump(r, { lineWidth: -1 }).trimEnd());
    return EXIT.rejected;
  }
  const { namespace, name } = applied.job.metadata as { namespace: string; name: string };
  io.err(`renderjob.atelier.dev/${name} ${applied.action} in namespace ${namespace}\n`);
  if (!values.wait) {
    print(await readResult(custom, applied.job, { action: applied.action }));
    return EXIT.succeeded;
  }

  let shown = '';
  const onUpdate = (job: RenderJob) => {
    const line = progressLine(job, io.tty);
    if (line === shown) return;
    shown = line;
    io.err(io.tty ? `\r\x1b[2K${line}` : `${line}\n`);
  };
  let followed: { job: RenderJob; timedOut: boolean };
  try {
    followed = await follow(custom, namespace, name, { ...(timeoutMs !== undefined ? { timeoutMs } : {}), intervalMs, onUpdate });
  } catch (e) {
    if (io.tty) io.err('\n');
    io.err(`${e instanceof Rejected ? e.message : (e as Error).message}\n`);
    return e instanceof Rejected ? EXIT.rejected : EXIT.failed;
  }
  if (io.tty) io.err('\n');
  const result = await readResult(custom, followed.job, { action: applied.action, timedOut: followed.timedOut });
  print(result);
  const final = outcomeOf(followed.job);
  if (!final) {
    io.err(`timed out after ${values.timeout} waiting for ${namespace}/${name} (phase ${result.phase}, ${result.progress}); the job keeps running\n`);
    return EXIT.timedOut;
  }
  if (final.outcome !== 'Succeeded') io.err(`${final.message}\n`);
  return exitCodeOf(final.outcome);
}
