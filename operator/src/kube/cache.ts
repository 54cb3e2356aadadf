// What the operator caches of the API, and how: slim transforms that keep only the fields the
// controllers read (so 100,000 cached pods and RenderShards stay small), the cache indexes (shards and
// pods by job, shards in flight by provider), and several per-namespace informers read as one. Each
// transform sits next to the index that feeds on it; a controller that starts reading a new field
// adds it here. The all-pods watch for GPU capacity is on demand (OnDemandInformer): it runs only
// while some job's placement asks for local capacity, i.e. while a job can burst.
import type * as k8s from '@kubernetes/client-node';
import { GROUP, JOB_LABEL, VERSION, type RenderShard } from '../api/index.js';
import { podGpus } from '../controllers/capacity.js';
import type { Clock, Informer, Lister, Timer } from '../runtime/index.js';

export { GROUP };
/** Index of RenderShards and shard pods by their job ("namespace/name"). */
export const INDEX_JOB = 'job';
/** Index of RenderShards by the provider where their live remote attempt is. */
export const INDEX_PROVIDER = 'provider';

/** Index function: the job key of a RenderShard. */
export function shardJobKey(s: RenderShard): string[] {
  return s.spec?.jobName ? [`${s.metadata!.namespace}/${s.spec.jobName}`] : [];
}

/** Index function: the job key of a shard pod (label atelier.dev/job). */
export function podJobKey(p: k8s.V1Pod): string[] {
  const job = p.metadata?.labels?.[JOB_LABEL];
  return job ? [`${p.metadata!.namespace}/${job}`] : [];
}

/** Index function: a RenderShard with a live remote attempt (intent recorded, not finished) is in flight at its provider. */
export function inFlightAt(s: RenderShard): string[] {
  const st = s.status;
  return st?.placement === 'Remote' && st.idempotencyKey && st.provider && st.phase !== 'Succeeded' && st.phase !== 'Failed' ? [st.provider] : [];
}

/** Only what the controller reads of a shard pod, so 100,000 cached pods stay small. */
export function slimPod(p: k8s.V1Pod): k8s.V1Pod {
  const cs = p.status?.containerStatuses?.[0];
  const scheduled = p.status?.conditions?.find((c) => c.type === 'PodScheduled');
  return {
    metadata: {
      name: p.metadata?.name, namespace: p.metadata?.namespace, uid: p.metadata?.uid, labels: p.metadata?.labels,
      resourceVersion: p.metadata?.resourceVersion, deletionTimestamp: p.metadata?.deletionTimestamp,
      ...(p.metadata?.finalizers?.length ? { finalizers: p.metadata.finalizers } : {}),
    },
    spec: { nodeName: p.spec?.nodeName, containers: [] },
    status: {
      phase: p.status?.phase, reason: p.status?.reason, message: p.status?.message, startTime: p.status?.startTime,
      conditions: scheduled ? [scheduled] : undefined,
      containerStatuses: cs ? [{ name: cs.name, image: '', imageID: '', ready: cs.ready, restartCount: cs.restartCount, state: cs.state }] : undefined,
    },
  };
}

/**
 * Custom objects as cached: without managedFields and the last-applied annotation (kubectl apply),
 * which the controller never reads and which are most of a small object's size; at 100,000
 * RenderShards that is about 100 MiB of heap.
 */
export function slimCustom<T extends k8s.KubernetesObject>(o: T): T {
  const m = o.metadata;
  if (!m || (!m.managedFields && !m.annotations?.[LAST_APPLIED])) return o;
  const { managedFields: _mf, ...meta } = m;
  if (meta.annotations?.[LAST_APPLIED]) {
    const { [LAST_APPLIED]: _la, ...rest } = meta.annotations;
    meta.annotations = Object.keys(rest).length ? rest : undefined;
  }
  return { ...o, metadata: meta };
}
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * One copy of each string that many cached objects repeat (namespaces, job names in labels and
 * spec.jobName, phases, placements, provider names): JSON parsing gives every object its own. Bounded:
 * the table starts over past 100,000 entries.
 */
const interned = new Map<string, string>();
function intern<T extends string | undefined>(s: T): T {
  if (s === undefined) return s;
  const hit = interned.get(s);
  if (hit !== undefined) return hit as T;
  if (interned.size >= 100_000) interned.clear();
  interned.set(s, s);
  return s;
}

/**
 * A RenderShard as cached: what the controllers read (name, uid, labels, spec, status), without
 * owner references, timestamps and managed fields, with repeated strings shared. 100,000 of them are
 * what a 10,000-job history keeps in memory.
 */
export function slimShard(s: RenderShard & k8s.KubernetesObject): RenderShard & k8s.KubernetesObject {
  const m = s.metadata ?? {};
  const labels = m.labels ? Object.fromEntries(Object.entries(m.labels).map(([k, v]) => [k, intern(v)])) : undefined;
  const st = s.status;
  return {
    apiVersion: s.apiVersion, kind: s.kind,
    metadata: {
      name: m.name, namespace: intern(m.namespace), uid: m.uid, resourceVersion: m.resourceVersion,
      ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}), ...(labels ? { labels } : {}),
    },
    spec: { ...s.spec, jobName: intern(s.spec?.jobName) },
    ...(st ? { status: { ...st, ...(st.phase ? { phase: intern(st.phase) } : {}), ...(st.placement ? { placement: intern(st.placement) } : {}), ...(st.provider ? { provider: intern(st.provider) } : {}) } } : {}),
  } as RenderShard & k8s.KubernetesObject;
}

/** What capacity accounting reads of any pod: where it runs, its phase and the GPUs it holds. */
export function gpuPod(p: k8s.V1Pod): k8s.V1Pod {
  const gpus = podGpus(p);
  return {
    metadata: { name: p.metadata?.name, namespace: p.metadata?.namespace, uid: p.metadata?.uid, resourceVersion: p.metadata?.resourceVersion },
    spec: { nodeName: p.spec?.nodeName, containers: gpus ? [{ name: 'gpu', resources: { limits: { 'nvidia.com/gpu': String(gpus) } } }] : [] },
    status: { phase: p.status?.phase },
  };
}

/** Only what capacity accounting reads of a Node. */
export function slimNode(n: k8s.V1Node): k8s.V1Node {
  return {
    metadata: { name: n.metadata?.name, uid: n.metadata?.uid, resourceVersion: n.metadata?.resourceVersion, labels: n.metadata?.labels },
    spec: { unschedulable: n.spec?.unschedulable },
    status: { allocatable: n.status?.allocatable, conditions: n.status?.conditions?.filter((c) => c.type === 'Ready') },
  };
}

/** Watch paths of a resource: cluster-wide, or one per watched namespace. */
export function paths(namespaces: string[], resource: string, group?: string): string[] {
  const base = group ? `/apis/${group}/${VERSION}` : '/api/v1';
  return namespaces.length === 0 ? [`${base}/${resource}`] : namespaces.map((ns) => `${base}/namespaces/${ns}/${resource}`);
}

/** Several informers (one per watched namespace) read as one cache. */
export class MultiLister<T extends k8s.KubernetesObject> implements Lister<T> {
  constructor(private readonly informers: Informer<T>[]) {}
  get(namespace: string, name: string): T | undefined {
    for (const i of this.informers) {
      const o = i.getByName(name, namespace);
      if (o) return o;
    }
    return undefined;
  }
  byIndex(index: string, value: string): T[] {
    return this.informers.length === 1 ? this.informers[0]!.byIndex(index, value) : this.informers.flatMap((i) => i.byIndex(index, value));
  }
}


/**
 * An informer that runs only while someone reads it: the first read starts it (and gets undefined
 * until it has synced; the caller treats that as "not known yet" and looks again), and it is stopped
 * and dropped, cache and watch, once nobody has read it for idleMs. Used for the all-pods watch of
 * GPU capacity, which only the burst planner reads: a cluster of LocalOnly jobs never opens it.
 */
export class OnDemandInformer<T extends k8s.KubernetesObject> {
  private current: Informer<T> | undefined;
  private lastUse = 0;
  private timer: Timer | undefined;
  private closed = false;
  /** How many times the watch was started (tests, metrics). */
  starts = 0;

  constructor(private readonly make: () => Informer<T>, private readonly clock: Clock, private readonly idleMs: number, private readonly onSynced: () => void = () => {}) {}

  /** The informer if it has synced; otherwise starts it (once) and returns undefined. */
  use(): Informer<T> | undefined {
    if (this.closed) return undefined;
    this.lastUse = this.clock.now();
    if (!this.current) {
      const inf = this.make();
      this.current = inf;
      this.starts++;
      inf.start();
      inf.waitForSync().then(() => { if (this.current === inf) this.onSynced(); }, () => {});
      this.arm(this.idleMs);
    }
    return this.current.hasSynced() ? this.current : undefined;
  }

  /** True while a watch is open. */
  running(): boolean {
    return this.current !== undefined;
  }

  private arm(ms: number): void {
    this.timer = this.clock.setTimer(ms, () => {
      const idle = this.clock.now() - this.lastUse;
      if (idle < this.idleMs) { this.arm(this.idleMs - idle); return; }
      const inf = this.current;
      this.current = undefined;
      this.timer = undefined;
      void inf?.stop();
    });
  }

  async stop(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    const inf = this.current;
    this.current = undefined;
    await inf?.stop();
  }
}
