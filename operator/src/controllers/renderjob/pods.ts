// Shard pods: how a RenderJob's template becomes the Pod of one shard attempt, and how a Pod from the
// cache is read back as the small PodView the decision step works on. Labels carry the job, shard
// index and attempt so that the informer's index finds a job's pods without a scan.
import type * as k8s from '@kubernetes/client-node';
import { GPU_PRODUCT_LABEL, GPU_RESOURCE, gpusPerShard, JOB_LABEL, SHARD_ENV, SHARD_LABEL, type ShardTemplate } from '../../api/index.js';
import { podName, type PodView } from './decide.js';

export { GPU_PRODUCT_LABEL, GPU_RESOURCE };
export const LABEL_JOB = JOB_LABEL;
export const LABEL_SHARD = SHARD_LABEL;
export const LABEL_ATTEMPT = 'atelier.dev/attempt';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'atelier';
/**
 * On every shard pod from its create: the pod is the record of its attempt until the outcome is kept
 * elsewhere (the job's status.shardSets or the shard's RenderShard); only then is it removed, so a
 * pod deleted or garbage-collected before it was counted stays until it is.
 */
export const OUTCOME_FINALIZER = 'atelier.dev/outcome';

export type JobTemplate = ShardTemplate;

export interface PodInput {
  job: { name: string; namespace: string; uid: string; apiVersion: string; kind: string };
  template: JobTemplate;
  gpuModels?: string[];
  outputUri?: string;
  index: number;
  attempt: number;
  total: number;
  /** spec.shards.maxDuration in seconds: the pod's activeDeadlineSeconds. */
  maxDurationSec?: number;
  frames?: { start: number; end: number };
}

const quantity = (v: string | number) => String(v);

/** Number of GPUs a shard asks for (the CRD guarantees an integer >= 1). */
export function gpusOf(template: JobTemplate): number {
  return gpusPerShard({ template });
}

export function buildPod(i: PodInput): k8s.V1Pod {
  const t = i.template;
  const env: k8s.V1EnvVar[] = [
    ...((t.env ?? []) as k8s.V1EnvVar[]),
    { name: SHARD_ENV.index, value: String(i.index) },
    { name: SHARD_ENV.count, value: String(i.total) },
    { name: SHARD_ENV.frameStart, value: i.frames ? String(i.frames.start) : '' },
    { name: SHARD_ENV.frameEnd, value: i.frames ? String(i.frames.end) : '' },
    { name: SHARD_ENV.outputUri, value: i.outputUri ?? '' },
    { name: 'ATELIER_ATTEMPT', value: String(i.attempt) },
  ];
  const mapQ = (m?: Record<string, string | number>) => (m ? Object.fromEntries(Object.entries(m).map(([k, v]) => [k, quantity(v)])) : undefined);
  const affinity: k8s.V1Affinity | undefined = i.gpuModels?.length
    ? { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: GPU_PRODUCT_LABEL, operator: 'In', values: i.gpuModels }] }] } } }
    : undefined;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: podName(i.job.name, i.index, i.attempt),
      namespace: i.job.namespace,
      labels: {
        ...(t.metadata?.labels ?? {}),
        [LABEL_JOB]: i.job.name,
        [LABEL_SHARD]: String(i.index),
        [LABEL_ATTEMPT]: String(i.attempt),
        [LABEL_MANAGED_BY]: MANAGED_BY,
      },
      annotations: t.metadata?.annotations,
      finalizers: [OUTCOME_FINALIZER],
      ownerReferences: [{ apiVersion: i.job.apiVersion, kind: i.job.kind, name: i.job.name, uid: i.job.uid, controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      restartPolicy: 'Never',
      ...(i.maxDurationSec ? { activeDeadlineSeconds: i.maxDurationSec } : {}),
      serviceAccountName: t.serviceAccountName,
      nodeSelector: t.nodeSelector,
      tolerations: t.tolerations as k8s.V1Toleration[] | undefined,
      affinity,
      enableServiceLinks: false,
      containers: [{
        name: 'shard',
        image: t.image,
        command: t.command,
        args: t.args,
        env,
        resources: { limits: mapQ(t.resources?.limits), requests: mapQ(t.resources?.requests) },
        terminationMessagePolicy: 'FallbackToLogsOnError',
      }],
    },
  };
}

export function toMs(v: Date | string | undefined | null): number | undefined {
  if (v === undefined || v === null) return undefined;
  const ms = v instanceof Date ? v.getTime() : Date.parse(v);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Reads a cached shard pod; undefined when it lacks our labels. */
export function podView(p: k8s.V1Pod): PodView | undefined {
  const labels = p.metadata?.labels ?? {};
  const index = Number(labels[LABEL_SHARD]);
  const attempt = Number(labels[LABEL_ATTEMPT]);
  if (!Number.isInteger(index) || !Number.isInteger(attempt)) return undefined;
  const cs = p.status?.containerStatuses?.[0];
  const term = cs?.state?.terminated;
  const scheduled = p.status?.conditions?.find((c) => c.type === 'PodScheduled');
  const phase = (p.status?.phase ?? 'Pending') as PodView['phase'];
  return {
    name: p.metadata!.name!,
    index,
    attempt,
    phase,
    terminating: !!p.metadata?.deletionTimestamp,
    ...(p.metadata?.finalizers?.includes(OUTCOME_FINALIZER) ? { held: true } : {}),
    ...(p.metadata?.deletionTimestamp && !p.spec?.nodeName ? { neverRan: true } : {}),
    nodeName: p.spec?.nodeName,
    unschedulable: scheduled?.status === 'False' && scheduled.reason === 'Unschedulable',
    unschedulableSince: toMs(scheduled?.lastTransitionTime as unknown as string),
    startedAt: toMs(term?.startedAt) ?? toMs(cs?.state?.running?.startedAt) ?? toMs(p.status?.startTime),
    finishedAt: toMs(term?.finishedAt),
    exitCode: term?.exitCode,
    reason: term?.reason ?? p.status?.reason,
    message: term?.message ?? p.status?.message,
  };
}
