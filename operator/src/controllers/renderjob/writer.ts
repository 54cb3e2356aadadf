// Every API write the RenderJob controller makes, behind one small interface so the reconciler can
// be driven against the real API server in tests, against an in-memory fake in unit tests, and
// counted in benchmarks. The job's status is server-side applied with the controller's own field
// manager, so the settlement controller's fields (status.settlement, Settled) are never overwritten. Writes are idempotent:
// creating what exists (409 AlreadyExists) and deleting what is gone (404) both count as done.
import type * as k8s from '@kubernetes/client-node';
import { applyPatch, FIELD_MANAGER, isConflict, isNotFound, mergePatch, mergePatchStatus, strategicMergePatch, type KubeClients } from '../../kube/client.js';
import type { ShardRecordStatus } from './decide.js';
import type { JobStatus } from './status.js';

import { API_VERSION, CLEANUP_FINALIZER, GROUP, VERSION, type RenderJob } from '../../api/index.js';
import { OUTCOME_FINALIZER } from './pods.js';

export { API_VERSION, GROUP, VERSION };
export const FINALIZER = CLEANUP_FINALIZER;

export interface ObjectRef { namespace: string; name: string; uid: string; resourceVersion?: string }

export interface JobWriter {
  /** Sets the job's finalizers, conditional on job.resourceVersion; returns the job as written (undefined: gone). */
  setFinalizer(job: ObjectRef, finalizers: string[]): Promise<RenderJob | undefined>;
  createShardRecord(job: ObjectRef, index: number, frames?: { start: number; end: number }): Promise<void>;
  patchShardStatus(namespace: string, name: string, status: ShardRecordStatus): Promise<void>;
  deleteShardRecords(namespace: string, jobName: string): Promise<void>;
  createPod(pod: k8s.V1Pod): Promise<'created' | 'exists'>;
  deletePod(namespace: string, name: string): Promise<void>;
  /** Removes the finalizer atelier.dev/outcome from a shard pod (its outcome is kept elsewhere). */
  releasePod(namespace: string, name: string): Promise<void>;
  /**
   * Applies the job's status, conditional on `resourceVersion` (409 Conflict when the job changed
   * since): a status computed from a stale cache never overwrites a newer one. Returns the job as
   * written (its new resourceVersion), undefined when the job is gone.
   */
  patchJobStatus(namespace: string, name: string, status: JobStatus, resourceVersion?: string): Promise<RenderJob | undefined>;
  /** Number of writes sent, by kind (for tests and benchmarks). */
  readonly counts: Record<string, number>;
  /**
   * Writes a RenderShard status only if the record as the API server holds it now passes `expect`,
   * conditionally on the resourceVersion read (a merge patch carrying metadata.resourceVersion is a
   * precondition). False, nothing written, when `expect` refuses it or a write came between (409).
   */
  patchShardStatusIf(namespace: string, name: string, status: ShardRecordStatus, expect: (current: ShardRecordStatus) => boolean | Promise<boolean>): Promise<boolean>;
}

export class ApiJobWriter implements JobWriter {
  readonly counts: Record<string, number> = {};
  constructor(private readonly c: KubeClients, private readonly onWrite: (kind: string) => void = () => {}) {}

  private count(kind: string) {
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
    this.onWrite(kind);
  }

  async setFinalizer(job: ObjectRef, finalizers: string[]): Promise<RenderJob | undefined> {
    this.count('jobFinalizer');
    // resourceVersion in a merge patch is a precondition: a stale view gets 409 and a requeue.
    try {
      return await this.c.custom.patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, plural: 'renderjobs', namespace: job.namespace, name: job.name, body: { metadata: { finalizers, resourceVersion: job.resourceVersion } } },
        mergePatch(),
      ) as RenderJob;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async createShardRecord(job: ObjectRef, index: number, frames?: { start: number; end: number }): Promise<void> {
    this.count('shardCreate');
    const body = {
      apiVersion: API_VERSION,
      kind: 'RenderShard',
      metadata: {
        name: `${job.name}-${index}`,
        namespace: job.namespace,
        labels: { 'atelier.dev/job': job.name, 'atelier.dev/shard': String(index), 'app.kubernetes.io/managed-by': 'atelier' },
        ownerReferences: [{ apiVersion: API_VERSION, kind: 'RenderJob', name: job.name, uid: job.uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: { jobName: job.name, index, ...(frames ? { frames } : {}) },
    };
    await this.c.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'rendershards', namespace: job.namespace, body })
      .catch((e) => { if (!isConflict(e)) throw e; });
  }

  async patchShardStatus(namespace: string, name: string, status: ShardRecordStatus): Promise<void> {
    this.count('shardStatus');
    // null removes a field under merge-patch semantics (e.g. retryAfter once a shard succeeded).
    const body = { status: mergePatchStatus(status) };
    await this.c.custom.patchNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, plural: 'rendershards', namespace, name, body }, mergePatch());
  }

  async deleteShardRecords(namespace: string, jobName: string): Promise<void> {
    this.count('shardDeleteCollection');
    await this.c.custom.deleteCollectionNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'rendershards', namespace, labelSelector: `atelier.dev/job=${jobName}` });
  }

  async createPod(pod: k8s.V1Pod): Promise<'created' | 'exists'> {
    this.count('podCreate');
    try {
      await this.c.core.createNamespacedPod({ namespace: pod.metadata!.namespace!, body: pod });
      return 'created';
    } catch (e) {
      if (isConflict(e)) return 'exists';
      throw e;
    }
  }

  async deletePod(namespace: string, name: string): Promise<void> {
    this.count('podDelete');
    await this.c.core.deleteNamespacedPod({ namespace, name }).catch((e) => { if (!isNotFound(e)) throw e; });
  }

  async releasePod(namespace: string, name: string): Promise<void> {
    this.count('podRelease');
    // A strategic merge patch that removes only this finalizer (as the Job controller removes its
    // batch.kubernetes.io/job-tracking): others' finalizers stay, no resourceVersion needed.
    const body = { metadata: { '$deleteFromPrimitiveList/finalizers': [OUTCOME_FINALIZER] } };
    await this.c.core.patchNamespacedPod({ namespace, name, body }, strategicMergePatch())
      .catch((e) => { if (!isNotFound(e)) throw e; });
  }

  async patchJobStatus(namespace: string, name: string, status: JobStatus, resourceVersion?: string): Promise<RenderJob | undefined> {
    this.count('jobStatus');
    // Server-side apply as the RenderJob controller's field manager: the fields it leaves out are
    // removed if it owned them (completionTime of a job running again), and those of the settlement
    // controller (status.settlement, the Settled condition of the map-keyed conditions) stay its own.
    const body = { apiVersion: API_VERSION, kind: 'RenderJob', metadata: { name, namespace, ...(resourceVersion ? { resourceVersion } : {}) }, status: withoutNulls(status) };
    try {
      return await this.c.custom.patchNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, plural: 'renderjobs', namespace, name, body, fieldManager: FIELD_MANAGER.renderjob, force: true }, applyPatch()) as RenderJob;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async patchShardStatusIf(namespace: string, name: string, status: ShardRecordStatus, expect: (current: ShardRecordStatus) => boolean | Promise<boolean>): Promise<boolean> {
    const target = { group: GROUP, version: VERSION, plural: 'rendershards', namespace, name };
    // A plain GET is a quorum read: the status as etcd holds it, not as a cache last saw it.
    const current = (await this.c.custom.getNamespacedCustomObjectStatus(target)) as { metadata?: { resourceVersion?: string }; status?: ShardRecordStatus };
    const rv = current.metadata?.resourceVersion;
    if (!rv || !(await expect(current.status ?? {}))) return false;
    this.count('shardStatus');
    const body = { metadata: { resourceVersion: rv }, status: mergePatchStatus(status) };
    try {
      await this.c.custom.patchNamespacedCustomObjectStatus({ ...target, body }, mergePatch());
      return true;
    } catch (e) {
      if (isConflict(e)) return false;
      throw e;
    }
  }
}

/** A copy without null or undefined fields (an apply sets what it sends; absence is what removes). */
export function withoutNulls<T>(v: T): T {
  if (Array.isArray(v)) return v.map((x) => withoutNulls(x)) as T;
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null && x !== undefined).map(([k, x]) => [k, withoutNulls(x)])) as T;
  }
  return v;
}
