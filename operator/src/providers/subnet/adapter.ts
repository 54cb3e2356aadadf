// The `subnet` provider: a peer cluster that runs Atelier itself (DESIGN.md "Private subnetworks").
// A shard is submitted there as a one-shard RenderJob with `placement.policy: LocalOnly`, which the
// peer's operator runs on its own GPUs. The adapter talks to the peer's API server with a kubeconfig
// the caller read from a Secret (passed in as text, never written anywhere) and works in one peer
// namespace.
//
// - submit: creates the peer RenderJob under a name derived from the idempotency key (names.ts), with
//   the shard's image/command/args, its env plus the ATELIER_* variables of the ORIGIN shard (and
//   ATELIER_ORIGIN_SHARD_INDEX/COUNT), and labels/annotations naming the origin. A shard of a job
//   with inputs by CID or sealed outputs (spec.data) is sent with the same spec.inputs and
//   spec.output.encryptTo {recipient} (the origin's resolved recipients), so the peer's operator
//   checks and pins the inputs, and its pods seal their outputs and report {uri, sha256, cid}. A frames shard is
//   sent as `shards.frames {start, end, perShard = its length}` so the peer's single shard gets the
//   origin's frame range as ATELIER_FRAME_START/END; a count shard as `shards.count: 1`. AlreadyExists
//   with the same key is success (idempotency); with a different key it is an error. When the shard
//   settles on-chain (spec.settlement), the job also carries SETTLEMENT_ANNOTATIONS (chain id, escrow,
//   token decimals): the peer's operator, when it has a payout key, signs the shard's result for them
//   (controllers/subnetsigner.ts).
// - findByKey: label `atelier.dev/idempotency-key-hash`, confirmed by the full key in an annotation.
// - getStatus: peer phase -> Pending | Provisioning (pod waiting for a GPU) | Running | Succeeded |
//   Failed | Cancelled (peer job being deleted); 404 -> ProviderError notFound.
// - getResults: the peer RenderShard's status.result.outputs (uri + sha256), integrity `reported`,
//   and its status.result.signed (the peer's EIP-712 ShardResult, resultDigest = '0x' + digest) when
//   present and well-formed in shape (results.ts parseSigned; the controller checks the signer, the
//   digest and the amount; a malformed one is dropped). A settled shard whose peer has
//   not signed yet is a transient error for signatureWaitMs after the peer shard completed, since the
//   peer signs just after it records Succeeded; after that the results are returned unsigned (the
//   peer may have no payout key).
// - getCost: the peer job's status.cost.local, basis `settled` once the peer job is terminal.
// - cancel: deletes the peer RenderJob and waits until it is gone (its finalizer lets the peer
//   operator stop the pod first); 404 means done.
// - listOffers: free nvidia.com/gpu per model from the peer's Nodes and unfinished Pods
//   (controllers/capacity.ts), at the configured price.
// Peer RBAC the kubeconfig needs: renderjobs create/get/list/delete and rendershards list in the
// namespace; nodes list; pods list cluster-wide; pods/log get.
//
// Kubeconfigs whose user runs an `exec` plugin or an auth-provider are refused unless allowed: the
// Secret's author would otherwise choose a command for the operator to run. Errors never carry the
// kubeconfig or its token: a parse failure says only that it failed.
import * as k8s from '@kubernetes/client-node';
import { reuseConnections } from '../../kube/client.js';
import { GPU_RESOURCE, GROUP, JOB_LABEL, RENDER_JOB_PLURAL, RENDER_SHARD_PLURAL, VERSION, type RenderJob, type RenderJobSpec, type RenderShard, type ShardTemplate } from '../../api/index.js';
import { gpuCapacity } from '../../controllers/capacity.js';
import { statusCode } from '../../runtime/errors.js';
import { parseMicros, formatMicros } from '../../money.js';
import { outputsDigest, parseResultReport } from '../results.js';
import { ProviderError, assertIdempotencyKey, shardEnv, systemClock } from '../types.js';
import type {
  Clock, CostReport, EnvVar, LogOptions, Offer, OfferRequest, ProviderAdapter, ProviderCapabilities, RemoteStatus,
  ResultSet, ResultsUnsupported, ShardSpec, SubmitOptions, SubmitResult,
} from '../types.js';
import { CREATED_BY, ORIGIN_ANNOTATIONS, ORIGIN_LABELS, keyHash, labelValue, settlementAnnotations, settlementProblem, signingRequest, subnetJobName } from './names.js';

export interface SubnetOptions {
  /** USD per GPU-hour this peer charges, exact decimal string (the offers' price). */
  pricePerGpuHour: string;
  /** Per-model prices overriding pricePerGpuHour. */
  pricePerModel: Record<string, string>;
  /** Identifies the origin cluster on the peer's objects (label atelier.dev/origin-cluster). */
  originCluster: string;
  /** shards.maxRetries of the peer job: 0 by default, since the origin decides about retries. */
  maxRetries: number;
  /** How long cancel() waits for the peer RenderJob to be gone, and how often it looks. */
  cancelTimeoutMs: number;
  cancelPollMs: number;
  /** Reported in capabilities(). */
  maxGpusPerJob: number;
  /** Accept kubeconfigs whose user runs an exec plugin or auth-provider (off: see the header). */
  allowExecAuth: boolean;
  /** How long after the peer shard completed getResults waits (transient errors) for its signature. */
  signatureWaitMs: number;
}

export const SUBNET_DEFAULTS: SubnetOptions = {
  pricePerGpuHour: '0.00',
  pricePerModel: {},
  originCluster: 'origin',
  maxRetries: 0,
  cancelTimeoutMs: 60_000,
  cancelPollMs: 500,
  maxGpusPerJob: 8,
  allowExecAuth: false,
  signatureWaitMs: 30_000,
};

export interface SubnetInit {
  /** The peer's kubeconfig, as text (the Secret's value). */
  kubeconfig: string;
  /** Peer namespace where shards are submitted (ComputeProvider spec.subnet.namespace). */
  namespace: string;
  options?: Partial<SubnetOptions>;
  clock?: Clock;
}

/**
 * A ShardSpec that may also carry the origin job's template: when present its pod metadata (labels,
 * annotations) and resources (limits, requests) are copied to the peer job as they are. Node
 * selectors, tolerations and the service account are not: they name things of the origin cluster.
 */
export interface SubnetShardSpec extends ShardSpec {
  template?: ShardTemplate;
}

export const ORIGIN_SHARD_ENV = { index: 'ATELIER_ORIGIN_SHARD_INDEX', count: 'ATELIER_ORIGIN_SHARD_COUNT' } as const;

const TERMINAL = new Set(['Succeeded', 'Failed']);

/** Set by the peer's own data plane for its pods (data/plane.ts), so not copied from the origin's shard env. */
const PEER_DATA_ENV = new Set(['ATELIER_INPUTS', 'ATELIER_IPFS_GATEWAY', 'ATELIER_IPFS_API', 'ATELIER_ENCRYPT_TO']);

function bodyMessage(err: unknown): string | undefined {
  const body = (err as { body?: unknown })?.body;
  if (typeof body === 'string') {
    try {
      const m = (JSON.parse(body) as { message?: unknown }).message;
      return typeof m === 'string' ? m : undefined;
    } catch {
      return undefined;
    }
  }
  if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') return (body as { message: string }).message;
  return undefined;
}

/** A ProviderError for a failed peer API call; the message is the API's own (or the network error's first line). */
export function peerError(err: unknown, what: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const code = statusCode(err);
  // "fetch failed" alone says nothing: the cause says refused, unreachable, or a certificate that does not verify.
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  const why = cause && typeof cause.message === 'string' ? ` (${typeof cause.code === 'string' && !cause.message.includes(cause.code) ? `${cause.code}: ` : ''}${cause.message.split('\n')[0]})` : '';
  const raw = bodyMessage(err) ?? (err instanceof Error ? err.message.split('\n')[0] + why : String(err)) ?? '';
  const text = `${what}: ${code !== undefined ? `HTTP ${code}: ` : ''}${raw}`.slice(0, 500);
  const extra = code !== undefined ? { status: code } : {};
  if (code === undefined) return new ProviderError('subnet', 'transient', text, extra);
  if (code === 401 || code === 403) return new ProviderError('subnet', 'auth', text, extra);
  if (code === 404) return new ProviderError('subnet', 'notFound', text, extra);
  if (code === 429) {
    const ra = Number((err as { headers?: Record<string, string> }).headers?.['retry-after']);
    return new ProviderError('subnet', 'rateLimited', text, { ...extra, ...(Number.isFinite(ra) ? { retryAfterMs: ra * 1000 } : {}) });
  }
  if (code === 409 || code >= 500) return new ProviderError('subnet', 'transient', text, extra);
  if (code === 400 || code === 422) return new ProviderError('subnet', 'invalid', text, extra);
  return new ProviderError('subnet', 'fatal', text, extra);
}

/** Loads a kubeconfig from text without ever quoting it in an error. */
export function loadPeerKubeConfig(text: string, allowExecAuth = false): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  try {
    kc.loadFromString(text);
  } catch {
    throw new ProviderError('subnet', 'auth', 'the peer kubeconfig could not be parsed');
  }
  if (!kc.getCurrentCluster()?.server) throw new ProviderError('subnet', 'auth', 'the peer kubeconfig has no current cluster with a server');
  const user = kc.getCurrentUser();
  if (!allowExecAuth && (user?.exec || user?.authProvider)) {
    throw new ProviderError('subnet', 'auth', 'the peer kubeconfig uses an exec plugin or auth-provider; use a token or client certificate');
  }
  reuseConnections(kc);
  return kc;
}

const msOf = (v: unknown): number | undefined => {
  if (v === undefined || v === null) return undefined;
  const t = v instanceof Date ? v.getTime() : Date.parse(String(v));
  return Number.isNaN(t) ? undefined : t;
};

export class SubnetAdapter implements ProviderAdapter {
  readonly type = 'subnet' as const;
  readonly namespace: string;
  private readonly opts: SubnetOptions;
  private readonly clock: Clock;
  private readonly custom: k8s.CustomObjectsApi;
  private readonly core: k8s.CoreV1Api;
  private readonly server: string;

  constructor(init: SubnetInit) {
    this.opts = { ...SUBNET_DEFAULTS, ...(init.options ?? {}) };
    this.namespace = init.namespace;
    this.clock = init.clock ?? systemClock;
    for (const [what, v] of [['pricePerGpuHour', this.opts.pricePerGpuHour], ...Object.entries(this.opts.pricePerModel).map(([m, p]) => [`pricePerModel.${m}`, p])] as [string, string][]) {
      try {
        parseMicros(v);
      } catch {
        throw new ProviderError('subnet', 'invalid', `${what} must be a decimal USD amount, got ${JSON.stringify(v)}`);
      }
    }
    const kc = loadPeerKubeConfig(init.kubeconfig, this.opts.allowExecAuth);
    this.server = kc.getCurrentCluster()!.server;
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
  }

  capabilities(): ProviderCapabilities {
    return {
      provider: 'subnet',
      logs: 'snapshot',
      results: 'native',
      resultChannel: "the peer RenderShard's status.result (the shard's termination message JSON, recorded by the peer's operator)",
      billing: 'perSecond',
      maxGpusPerJob: this.opts.maxGpusPerJob,
      endsByItself: true,
      findByKey: 'remote',
      runsArbitraryImages: true,
    };
  }

  /** The API server this adapter talks to (for status messages; never the credentials). */
  get endpoint(): string {
    return this.server;
  }

  priceOf(model: string): string {
    return formatMicros(parseMicros(this.opts.pricePerModel[model] ?? this.opts.pricePerGpuHour));
  }

  async listOffers(req: OfferRequest): Promise<Offer[]> {
    let nodes: k8s.V1Node[];
    let pods: k8s.V1Pod[];
    try {
      [nodes, pods] = await Promise.all([
        this.core.listNode({}).then((l) => l.items),
        this.core.listPodForAllNamespaces({ fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed' }).then((l) => l.items),
      ]);
    } catch (e) {
      throw peerError(e, 'listing the peer cluster\'s nodes and pods');
    }
    const cap = gpuCapacity(nodes, pods);
    const want = Math.max(1, req.gpuCount);
    const ceiling = req.maxUsdPerGpuHour !== undefined ? parseMicros(req.maxUsdPerGpuHour) : undefined;
    const offers: Offer[] = [];
    for (const m of [...cap.values()].sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : 0))) {
      if (req.gpuModels?.length && !req.gpuModels.includes(m.model)) continue;
      if (m.free < want) continue;
      const price = this.priceOf(m.model);
      if (ceiling !== undefined && parseMicros(price) > ceiling) continue;
      offers.push({
        offerId: `${this.namespace}/${m.model}`, gpuModel: m.model, gpuCount: want,
        usdPerGpuHour: price, rawPrice: this.opts.pricePerModel[m.model] ?? this.opts.pricePerGpuHour, rawUnit: 'USD/GPU-hour',
        available: m.free,
      });
    }
    return offers;
  }

  /** The RenderJob submit() creates on the peer for this shard (exported for tests and dry runs). */
  peerJob(spec: SubnetShardSpec, opts: SubmitOptions): RenderJob {
    const key = opts.idempotencyKey;
    const name = subnetJobName(spec.jobName, spec.shardIndex, key);
    const origin: EnvVar[] = [{ name: ORIGIN_SHARD_ENV.index, value: String(spec.shardIndex) }];
    if (spec.shardCount !== undefined) origin.push({ name: ORIGIN_SHARD_ENV.count, value: String(spec.shardCount) });
    // With spec.data the peer's own operator sets the data plane's variables for its pods (its own
    // Kubo API and gateway), so the origin's values are not copied.
    const base = shardEnv(spec, key).filter((e) => !spec.data || !PEER_DATA_ENV.has(e.name));
    const names = new Set(base.map((e) => e.name));
    const env = [...base, ...origin.filter((e) => !names.has(e.name))];
    const r = spec.resources ?? {};
    const limits: Record<string, string | number> = spec.template?.resources?.limits
      ? { ...spec.template.resources.limits }
      : { [GPU_RESOURCE]: spec.gpuCount, ...(r.cpu !== undefined ? { cpu: String(r.cpu) } : {}), ...(r.memoryGi !== undefined ? { memory: `${r.memoryGi}Gi` } : {}) };
    limits[GPU_RESOURCE] = spec.gpuCount;
    const template: ShardTemplate = {
      image: spec.image,
      ...(spec.command.length ? { command: spec.command } : {}),
      ...(spec.args.length ? { args: spec.args } : {}),
      env,
      resources: { limits, ...(spec.template?.resources?.requests ? { requests: { ...spec.template.resources.requests, [GPU_RESOURCE]: spec.gpuCount } } : {}) },
      ...(spec.template?.metadata ? { metadata: spec.template.metadata } : {}),
    };
    if (spec.settlement) {
      const problem = settlementProblem(spec.settlement);
      if (problem) throw new ProviderError('subnet', 'invalid', problem);
    }
    const jobSpec: RenderJobSpec = {
      template,
      shards: spec.frames
        ? { frames: { start: spec.frames.start, end: spec.frames.end, perShard: spec.frames.end - spec.frames.start + 1 }, maxRetries: this.opts.maxRetries }
        : { count: 1, maxRetries: this.opts.maxRetries },
      placement: { policy: 'LocalOnly' },
      ...(spec.gpuModels.length ? { gpu: { models: spec.gpuModels } } : {}),
      ...(spec.data?.inputs.length ? { inputs: spec.data.inputs } : {}),
      ...(spec.outputUri ? { output: { uri: spec.outputUri, ...(spec.data?.recipient ? { encryptTo: { recipient: spec.data.recipient } } : {}) } } : {}),
      ...(opts.maxDurationSec !== undefined ? { deadline: new Date(this.clock.now() + opts.maxDurationSec * 1000).toISOString() } : {}),
    };
    return {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'RenderJob',
      metadata: {
        name,
        namespace: this.namespace,
        labels: {
          [ORIGIN_LABELS.cluster]: labelValue(this.opts.originCluster) || 'origin',
          [ORIGIN_LABELS.namespace]: labelValue(spec.jobNamespace),
          [ORIGIN_LABELS.job]: labelValue(spec.jobName),
          [ORIGIN_LABELS.shard]: String(spec.shardIndex),
          [ORIGIN_LABELS.keyHash]: keyHash(key),
          [ORIGIN_LABELS.createdBy]: CREATED_BY,
        },
        annotations: {
          [ORIGIN_ANNOTATIONS.key]: key,
          [ORIGIN_ANNOTATIONS.jobUid]: spec.jobUid,
          [ORIGIN_ANNOTATIONS.origin]: `${this.opts.originCluster}/${spec.jobNamespace}/${spec.jobName}/${spec.shardIndex}`,
          ...(spec.settlement ? settlementAnnotations(spec.settlement) : {}),
        },
      },
      spec: jobSpec,
    };
  }

  async submit(spec: ShardSpec, opts: SubmitOptions): Promise<SubmitResult> {
    assertIdempotencyKey('subnet', opts.idempotencyKey);
    if (opts.maxUsdPerHour !== undefined) {
      const models = spec.gpuModels.length ? spec.gpuModels : Object.keys(this.opts.pricePerModel).concat('*');
      const cheapest = models.map((m) => parseMicros(this.priceOf(m))).reduce((a, b) => (b < a ? b : a));
      if (cheapest * BigInt(Math.max(1, spec.gpuCount)) > parseMicros(opts.maxUsdPerHour)) {
        throw new ProviderError('subnet', 'invalid', `the peer's price, ${formatMicros(cheapest)} USD/GPU-hour x ${spec.gpuCount} GPU(s), is above the ceiling of ${opts.maxUsdPerHour} USD/hour`);
      }
    }
    const body = this.peerJob(spec as SubnetShardSpec, opts);
    const name = body.metadata.name!;
    try {
      await this.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: this.namespace, plural: RENDER_JOB_PLURAL, body });
      return { remoteId: name };
    } catch (e) {
      if (statusCode(e) !== 409) throw peerError(e, `creating RenderJob ${this.namespace}/${name} on the peer`);
    }
    // AlreadyExists: ours from an earlier try (success), unless another key holds the name.
    const existing = await this.read(name);
    const theirs = existing.metadata.annotations?.[ORIGIN_ANNOTATIONS.key];
    if (theirs !== opts.idempotencyKey) {
      throw new ProviderError('subnet', 'invalid', `peer RenderJob ${this.namespace}/${name} exists for a different submission`);
    }
    return { remoteId: name };
  }

  async findByKey(idempotencyKey: string): Promise<string | undefined> {
    assertIdempotencyKey('subnet', idempotencyKey);
    let items: RenderJob[];
    try {
      const list = (await this.custom.listNamespacedCustomObject({
        group: GROUP, version: VERSION, namespace: this.namespace, plural: RENDER_JOB_PLURAL, labelSelector: `${ORIGIN_LABELS.keyHash}=${keyHash(idempotencyKey)}`,
      })) as { items: RenderJob[] };
      items = list.items;
    } catch (e) {
      throw peerError(e, 'listing RenderJobs on the peer');
    }
    return items.find((j) => j.metadata.annotations?.[ORIGIN_ANNOTATIONS.key] === idempotencyKey)?.metadata.name;
  }

  private async read(name: string): Promise<RenderJob> {
    try {
      return (await this.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: this.namespace, plural: RENDER_JOB_PLURAL, name })) as RenderJob;
    } catch (e) {
      if (statusCode(e) === 404) return this.confirmGone(name, e);
      throw peerError(e, `reading RenderJob ${this.namespace}/${name} on the peer`);
    }
  }

  /**
   * A 404 is believed only when a list of the namespace's RenderJobs answers without the job: a peer
   * API server that has just restarted answers 404 for every RenderJob until it serves the CRD again
   * (found by the chaos suite), and a shard taken for lost there would run twice.
   */
  private async confirmGone(name: string, first: unknown): Promise<RenderJob> {
    let items: RenderJob[];
    try {
      items = ((await this.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: this.namespace, plural: RENDER_JOB_PLURAL, fieldSelector: `metadata.name=${name}` })) as { items: RenderJob[] }).items;
    } catch (e) {
      throw new ProviderError('subnet', 'transient', `reading RenderJob ${this.namespace}/${name} on the peer: 404, and RenderJobs cannot be listed there (${peerError(e, 'listing').message}); not taken for gone`);
    }
    const job = items.find((j) => j.metadata.name === name);
    if (job) return job;
    throw peerError(first, `reading RenderJob ${this.namespace}/${name} on the peer`);
  }

  async getStatus(remoteId: string): Promise<RemoteStatus> {
    const job = await this.read(remoteId);
    const st = job.status ?? {};
    const cond = (type: string) => st.conditions?.find((c) => c.type === type);
    const startedAt = msOf(st.startTime);
    const endedAt = msOf(st.completionTime);
    const times = { ...(startedAt !== undefined ? { startedAt: new Date(startedAt) } : {}), ...(endedAt !== undefined ? { endedAt: new Date(endedAt) } : {}) };
    if (job.metadata.deletionTimestamp) return { phase: 'Cancelled', raw: `${st.phase ?? 'New'}/Deleting`, message: 'the peer RenderJob is being deleted', ...times };
    switch (st.phase) {
      case undefined:
      case 'Pending':
        return { phase: 'Pending', raw: st.phase ?? 'New', ...times };
      case 'Suspended':
        return { phase: 'Pending', raw: 'Suspended', message: 'the peer RenderJob is suspended', ...times };
      case 'Running': {
        const sched = cond('Scheduled');
        if (sched?.status === 'False' || (st.shards?.running ?? 0) === 0) return { phase: 'Provisioning', raw: `Running/${sched?.reason ?? 'NoPod'}`, ...(sched?.message ? { message: sched.message } : {}), ...times };
        return { phase: 'Running', raw: 'Running', ...times };
      }
      case 'Succeeded':
        return { phase: 'Succeeded', raw: 'Succeeded', ...times };
      case 'Failed': {
        const f = cond('Failed');
        return { phase: 'Failed', raw: `Failed/${f?.reason ?? 'Unknown'}`, ...(f?.message ? { message: f.message } : {}), ...times };
      }
      default:
        return { phase: 'Unknown', raw: String(st.phase), ...times };
    }
  }

  private async shards(remoteId: string): Promise<RenderShard[]> {
    try {
      const list = (await this.custom.listNamespacedCustomObject({
        group: GROUP, version: VERSION, namespace: this.namespace, plural: RENDER_SHARD_PLURAL, labelSelector: `${JOB_LABEL}=${remoteId}`,
      })) as { items: RenderShard[] };
      return list.items;
    } catch (e) {
      throw peerError(e, `listing RenderShards of ${this.namespace}/${remoteId} on the peer`);
    }
  }

  async getResults(remoteId: string): Promise<ResultSet | ResultsUnsupported> {
    const job = await this.read(remoteId);
    if (job.status?.phase !== 'Succeeded') {
      throw new ProviderError('subnet', 'invalid', `results of peer RenderJob ${this.namespace}/${remoteId} are not available (phase ${job.status?.phase ?? 'New'})`);
    }
    const shard = (await this.shards(remoteId)).find((s) => s.status?.phase === 'Succeeded');
    if (!shard) throw new ProviderError('subnet', 'transient', `peer RenderJob ${this.namespace}/${remoteId} succeeded but its RenderShard is not recorded yet`);
    const raw = shard.status?.result?.signed;
    const report = parseResultReport({ outputs: shard.status?.result?.outputs ?? [], ...(raw !== undefined ? { signed: raw } : {}) });
    if (!report) {
      throw new ProviderError('subnet', 'fatal', `peer RenderShard ${this.namespace}/${shard.metadata.name} has a malformed result (outputs need uri and a sha256, each uri once)`);
    }
    const digest = outputsDigest(report.outputs);
    // A signed result of the wrong shape is dropped, as for every provider (providers/results.ts).
    if (report.signed) return { supported: true, outputs: report.outputs, digest, signed: report.signed, integrity: 'reported' };
    if (raw === undefined && signingRequest(job.metadata) !== undefined) {
      const done = msOf(shard.status?.completionTime) ?? msOf(job.status?.completionTime);
      if (done !== undefined && this.clock.now() - done < this.opts.signatureWaitMs) {
        throw new ProviderError('subnet', 'transient', `peer RenderShard ${this.namespace}/${shard.metadata.name} succeeded but its result is not signed yet`);
      }
    }
    return { supported: true, outputs: report.outputs, digest, integrity: 'reported' };
  }

  async getCost(remoteId: string): Promise<CostReport> {
    const job = await this.read(remoteId);
    const st = job.status ?? {};
    const amount = formatMicros(parseMicros(st.cost?.local ?? '0'));
    const start = msOf(st.startTime);
    const end = msOf(st.completionTime) ?? this.clock.now();
    const seconds = start !== undefined ? Math.max(0, Math.floor((end - start) / 1000)) : 0;
    return { amount, currency: st.cost?.currency ?? 'USD', usd: amount, basis: TERMINAL.has(st.phase ?? '') ? 'settled' : 'estimated', seconds };
  }

  async logs(remoteId: string, opts: LogOptions = {}): Promise<string[]> {
    let pods: k8s.V1Pod[];
    try {
      pods = (await this.core.listNamespacedPod({ namespace: this.namespace, labelSelector: `${JOB_LABEL}=${remoteId}` })).items;
    } catch (e) {
      throw peerError(e, `listing pods of ${this.namespace}/${remoteId} on the peer`);
    }
    const attempt = (p: k8s.V1Pod) => Number(p.metadata?.labels?.['atelier.dev/attempt'] ?? 0);
    const pod = pods.sort((a, b) => attempt(b) - attempt(a))[0];
    if (!pod) return [];
    try {
      const text = await this.core.readNamespacedPodLog({ namespace: this.namespace, name: pod.metadata!.name!, ...(opts.tail !== undefined ? { tailLines: opts.tail } : {}) });
      return text.split('\n').filter((l, i, all) => l !== '' || i < all.length - 1);
    } catch (e) {
      throw peerError(e, `reading the log of pod ${this.namespace}/${pod.metadata!.name} on the peer`);
    }
  }

  async cancel(remoteId: string): Promise<void> {
    try {
      await this.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: this.namespace, plural: RENDER_JOB_PLURAL, name: remoteId });
    } catch (e) {
      if (statusCode(e) !== 404) throw peerError(e, `deleting RenderJob ${this.namespace}/${remoteId} on the peer`);
      // Gone only if a list says so too (see confirmGone); still listed: delete again next time.
      const still = await this.confirmGone(remoteId, e).catch((err: unknown) => {
        if (err instanceof ProviderError && err.kind === 'notFound') return undefined;
        throw err;
      });
      if (still) throw new ProviderError('subnet', 'transient', `peer RenderJob ${this.namespace}/${remoteId} answered 404 to a delete but is still listed`);
      return;
    }
    const deadline = this.clock.now() + this.opts.cancelTimeoutMs;
    for (;;) {
      try {
        await this.read(remoteId);
      } catch (e) {
        if (e instanceof ProviderError && e.kind === 'notFound') return;
        throw peerError(e, `confirming RenderJob ${this.namespace}/${remoteId} is gone from the peer`);
      }
      if (this.clock.now() >= deadline) {
        throw new ProviderError('subnet', 'transient', `peer RenderJob ${this.namespace}/${remoteId} is still being deleted after ${Math.round(this.opts.cancelTimeoutMs / 1000)}s (is the peer's operator running?)`);
      }
      await this.clock.sleep(this.opts.cancelPollMs);
    }
  }
}

/** Builds the adapter for a subnet ComputeProvider; `kubeconfig` is the Secret's value. */
export function createSubnetAdapter(kubeconfig: string, namespace: string, options: Partial<SubnetOptions> = {}, clock?: Clock): SubnetAdapter {
  return new SubnetAdapter({ kubeconfig, namespace, options, ...(clock ? { clock } : {}) });
}
