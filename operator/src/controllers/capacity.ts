// Local GPU capacity as the planner sees it: free `nvidia.com/gpu` per GPU model, from the Nodes'
// allocatable GPUs minus what bound, unfinished pods ask for. Pure over cache contents, so the burst
// planner can use it on a snapshot without API reads.
import type * as k8s from '@kubernetes/client-node';
import { GPU_PRODUCT_LABEL, GPU_RESOURCE } from '../api/index.js';

export interface ModelCapacity { model: string; allocatable: number; used: number; free: number; nodes: number }

/** GPUs a pod holds: limits (or requests) summed over its containers. Also what the cache keeps of a pod (kube/cache.ts). */
export function podGpus(p: k8s.V1Pod): number {
  let n = 0;
  for (const c of p.spec?.containers ?? []) n += Number(c.resources?.limits?.[GPU_RESOURCE] ?? c.resources?.requests?.[GPU_RESOURCE] ?? 0) || 0;
  return n;
}

const ready = (n: k8s.V1Node) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** Free GPUs per model over Ready, schedulable nodes. Unlabelled GPU nodes count under model "unknown". */
export function gpuCapacity(nodes: Iterable<k8s.V1Node>, pods: Iterable<k8s.V1Pod>): Map<string, ModelCapacity> {
  const modelOf = new Map<string, string>();
  const out = new Map<string, ModelCapacity>();
  for (const n of nodes) {
    const gpus = Number(n.status?.allocatable?.[GPU_RESOURCE] ?? 0);
    if (!gpus || !ready(n) || n.spec?.unschedulable) continue;
    const model = n.metadata?.labels?.[GPU_PRODUCT_LABEL] ?? 'unknown';
    modelOf.set(n.metadata!.name!, model);
    const m = out.get(model) ?? { model, allocatable: 0, used: 0, free: 0, nodes: 0 };
    m.allocatable += gpus;
    m.nodes++;
    out.set(model, m);
  }
  for (const p of pods) {
    const node = p.spec?.nodeName;
    const phase = p.status?.phase;
    if (!node || phase === 'Succeeded' || phase === 'Failed') continue;
    const model = modelOf.get(node);
    if (model) out.get(model)!.used += podGpus(p);
  }
  for (const m of out.values()) m.free = Math.max(0, m.allocatable - m.used);
  return out;
}

/** Free GPUs usable by a job that accepts `models` (empty: any model). */
export function freeFor(cap: Map<string, ModelCapacity>, models: string[] | undefined): number {
  let free = 0;
  for (const m of cap.values()) if (!models?.length || models.includes(m.model)) free += m.free;
  return free;
}
