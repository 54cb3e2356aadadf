// `atelier status rj/NAME --shards`: every shard of a job in one table — index, state, placement
// (node or provider), attempts and last failure — merged from the job's RenderShards, its shard pods
// (the record of a local attempt while it lives) and the local successes folded into the job's
// status.shardSets (whose pods may be gone). A shard with none of them is Pending. Pure over what the
// command lists, so it is tested without a cluster.
import type * as k8s from '@kubernetes/client-node';
import { JOB_LABEL, SHARD_LABEL, type RenderJob, type RenderShard } from '../api/index.js';
import { parseIndexSet } from '../api/indexset.js';

export interface ShardRow { index: number; state: string; placement: string; where: string; attempts: number; lastFailure: string }

const ATTEMPT_LABEL = 'atelier.dev/attempt';

/** The newest pod (highest attempt) of each shard index. */
function newestPods(pods: k8s.V1Pod[]): Map<number, { pod: k8s.V1Pod; attempt: number }> {
  const out = new Map<number, { pod: k8s.V1Pod; attempt: number }>();
  for (const p of pods) {
    const index = Number(p.metadata?.labels?.[SHARD_LABEL]);
    const attempt = Number(p.metadata?.labels?.[ATTEMPT_LABEL] ?? 0);
    if (!Number.isInteger(index)) continue;
    const had = out.get(index);
    if (!had || attempt > had.attempt) out.set(index, { pod: p, attempt });
  }
  return out;
}

/** The local shards a job's status says succeeded and were folded (status.shardSets.succeeded). */
export function foldedOf(job: Pick<RenderJob, 'status'>): Set<number> {
  return parseIndexSet(job.status?.shardSets?.succeeded);
}

/** One row per shard index 0..total-1. */
export function shardRows(total: number, shards: RenderShard[], pods: k8s.V1Pod[], folded: Set<number> = new Set()): ShardRow[] {
  const records = new Map(shards.map((s) => [s.spec.index, s]));
  const newest = newestPods(pods);
  const rows: ShardRow[] = [];
  for (let index = 0; index < total; index++) {
    const st = records.get(index)?.status ?? {};
    const live = newest.get(index);
    if (!records.has(index) && folded.has(index)) {
      // Succeeded on its first local attempt, kept in the job's status; its pod may have been collected.
      rows.push({ index, state: 'Succeeded', placement: 'Local', where: live?.pod.spec?.nodeName ?? '', attempts: live?.attempt ?? 1, lastFailure: '' });
      continue;
    }
    const podPhase = live?.pod.status?.phase;
    const remote = st.placement === 'Remote';
    // The record is the truth once it has an outcome or a remote attempt; before that, the pod is.
    const fromPod = !remote && live && live.attempt > (st.attempts ?? 0);
    // A succeeded pod is the shard's record until it is folded; a failed one is about to be recorded (and maybe retried).
    const state = fromPod ? (podPhase === 'Failed' ? 'Failed (not recorded yet)' : podPhase ?? 'Pending') : st.phase ?? 'Pending';
    const where = remote ? `${st.provider ?? '?'}${st.remoteId ? ` ${st.remoteId}` : ''}` : (live?.pod.spec?.nodeName ?? '');
    rows.push({
      index, state, placement: remote ? 'Remote' : live || st.placement === 'Local' ? 'Local' : '', where,
      attempts: Math.max(st.attempts ?? 0, remote ? 0 : live?.attempt ?? 0),
      lastFailure: st.lastFailure ? `${st.lastFailure.reason}: ${st.lastFailure.message}` : '',
    });
  }
  return rows;
}

export function renderShardTable(rows: ShardRow[]): string {
  const head = ['SHARD', 'STATE', 'PLACEMENT', 'WHERE', 'ATTEMPTS', 'LAST FAILURE'];
  const cells = rows.map((r) => [String(r.index), r.state, r.placement, r.where, String(r.attempts), r.lastFailure.slice(0, 100)]);
  const width = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  return [head, ...cells].map((c) => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(width[i]!))).join('  ').trimEnd()).join('\n');
}

export const shardSelector = (job: string) => `${JOB_LABEL}=${job}`;
