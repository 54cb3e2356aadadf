// Builders and readers shared by the operator suites: RenderJob objects, reading jobs, shards and
// pods back, and checking from pod start/finish times that no shard ever ran twice at once.
import type * as k8s from '@kubernetes/client-node';
import type { Clients } from '../support/testbed.js';
import { shardCount, type RenderJob, type RenderShard } from '../../operator/src/api/index.js';
import { foldedOf, shardRows, type ShardRow } from '../../operator/src/commands/shards.js';

export const GROUP = 'atelier.dev';
export const VERSION = 'v1alpha1';

export interface JobOpts {
  count?: number;
  frames?: { start: number; end: number; perShard: number };
  parallelism?: number;
  maxRetries?: number;
  models?: string[];
  gpus?: number;
  annotations?: Record<string, string>;
  suspend?: boolean;
  deadline?: string;
}

export function renderJob(name: string, o: JobOpts = {}): Record<string, unknown> {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'RenderJob',
    metadata: { name },
    spec: {
      template: {
        image: 'ghcr.io/acme/sdxl-batch:1.4',
        command: ['python', 'render.py'],
        resources: { limits: { 'nvidia.com/gpu': o.gpus ?? 1 } },
        metadata: { annotations: { 'testbed.atelier.dev/duration': '1s', ...(o.annotations ?? {}) } },
      },
      ...(o.models ? { gpu: { models: o.models } } : {}),
      shards: {
        ...(o.frames ? { frames: o.frames } : { count: o.count ?? 1 }),
        ...(o.parallelism ? { parallelism: o.parallelism } : {}),
        ...(o.maxRetries !== undefined ? { maxRetries: o.maxRetries } : {}),
      },
      output: { uri: `s3://renders/${name}/` },
      ...(o.suspend ? { suspend: true } : {}),
      ...(o.deadline ? { deadline: o.deadline } : {}),
    },
  };
}

export interface JobStatus {
  phase?: string;
  progress?: string;
  observedGeneration?: number;
  conditions?: { type: string; status: string; reason: string; message: string }[];
  shards?: { total: number; pending: number; running: number; succeeded: number; failed: number; local: number; remote: number };
  cost?: { local: string; remote: string; total: string };
  startTime?: string;
  shardSets?: { succeeded?: string; localGpuSeconds?: number };
  completionTime?: string;
}

export async function createJob(c: Clients, namespace: string, body: Record<string, unknown>) {
  return c.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'renderjobs', namespace, body });
}

export async function getJob(c: Clients, namespace: string, name: string): Promise<{ metadata: k8s.V1ObjectMeta; spec: Record<string, unknown>; status?: JobStatus }> {
  return c.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'renderjobs', namespace, name });
}

export async function listShards(c: Clients, namespace: string, job: string): Promise<{ metadata: k8s.V1ObjectMeta; spec: { index: number; frames?: { start: number; end: number } }; status?: Record<string, unknown> }[]> {
  const res = await c.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'rendershards', namespace, labelSelector: `atelier.dev/job=${job}` });
  return (res as { items: never[] }).items;
}

/**
 * Every shard of a job as a user lists it (`atelier status --shards`, commands/shards.ts): merged from
 * its RenderShards, its pods and the local successes folded into the job's status. A local shard that
 * succeeded on its first attempt has no RenderShard; this is where a suite reads its state.
 */
export async function listShardRows(c: Clients, namespace: string, job: string): Promise<ShardRow[]> {
  const [j, shards, pods] = await Promise.all([getJob(c, namespace, job), listShards(c, namespace, job), listPods(c, namespace, job)]);
  return shardRows(shardCount(j.spec as unknown as RenderJob['spec']), shards as unknown as RenderShard[], pods, foldedOf(j as unknown as RenderJob));
}

export async function listPods(c: Clients, namespace: string, job: string): Promise<k8s.V1Pod[]> {
  return (await c.core.listNamespacedPod({ namespace, labelSelector: `atelier.dev/job=${job}` })).items;
}

export const cond = (s: JobStatus | undefined, type: string) => s?.conditions?.find((x) => x.type === type);

const ms = (v: unknown) => (v instanceof Date ? v.getTime() : Date.parse(String(v)));

/** Intervals [start, end) during which each finished pod ran, from its container status. */
export function runIntervals(pods: k8s.V1Pod[]): { pod: string; shard: string; start: number; end: number }[] {
  return pods.flatMap((p) => {
    const t = p.status?.containerStatuses?.[0]?.state?.terminated;
    if (!t?.startedAt || !t.finishedAt) return [];
    return [{ pod: p.metadata!.name!, shard: p.metadata!.labels!['atelier.dev/shard']!, start: ms(t.startedAt), end: ms(t.finishedAt) }];
  });
}

/** Largest number of intervals that overlap at one instant. */
export function maxOverlap(iv: { start: number; end: number }[]): number {
  const ev = iv.flatMap((i) => [[i.start, 1], [i.end, -1]] as [number, number][]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cur = 0, max = 0;
  for (const [, d] of ev) { cur += d; max = Math.max(max, cur); }
  return max;
}

export async function jobEvents(c: Clients, namespace: string, name: string): Promise<k8s.CoreV1Event[]> {
  return (await c.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` })).items;
}
