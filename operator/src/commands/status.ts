// `atelier status rj/NAME [-n NS] [--watch]`: a RenderJob at a glance — progress per placement as
// bars, cost so far, an ETA from the recent completion rate, its conditions (Verified and Settled
// always, when the job has them), its escrows per provider (state, funded, owed, released, refunded,
// the last transaction) and its latest events. With --watch it redraws every two seconds until the
// job finishes and, for a job that settles on-chain, until its settlement is done. With --shards it
// also lists every shard (commands/shards.ts).
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { shardCount, type EscrowStatus, type RenderJob, type RenderShard } from '../api/index.js';
import { foldedOf, renderShardTable, shardRows, shardSelector } from './shards.js';
import { loadKubeConfig } from '../kube/client.js';

export const statusUsage = `Usage: atelier status rj/NAME [-n NAMESPACE] [--kubeconfig PATH] [--watch] [--shards]
  --shards   also list every shard: state, placement (node or provider), attempts, last failure
`;

function bar(part: number, total: number, width = 30): string {
  const n = total > 0 ? Math.round((part / total) * width) : 0;
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}]`;
}

/** Conditions shown whatever their status; the others only while True. */
const ALWAYS_SHOWN = new Set(['Bursting', 'Verified', 'Delivered', 'Settled']);

function shortHash(h: string | undefined): string {
  return h && h.length > 14 ? `${h.slice(0, 8)}…${h.slice(-4)}` : h ?? '';
}

function escrowLines(escrows: EscrowStatus[]): string[] {
  if (escrows.length === 0) return [];
  const rows = escrows.map((e) => {
    const tx = e.transactions?.[e.transactions.length - 1];
    return [
      e.provider, e.state ?? 'Opening', e.funded ?? '0', e.owed ?? '-', e.released ?? '0', e.refunded ?? '0',
      tx ? `${tx.kind ?? '?'} ${shortHash(tx.hash)} ${tx.state ?? ''}${tx.block !== undefined ? ` #${tx.block}` : ''}`.trim() : '',
    ];
  });
  const head = ['provider', 'state', 'funded', 'owed', 'released', 'refunded', 'last transaction'];
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => `    ${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(width[i]!))).join('  ')}`.trimEnd();
  const out = ['  escrows (tokens = USD)', fmt(head), ...rows.map(fmt)];
  for (const e of escrows) if (e.message) out.push(`      ${e.provider}: ${e.message}`);
  return out;
}

/** A job that settles on-chain whose settlement is not done yet (NotConfigured never will be). */
export function settling(job: RenderJob): boolean {
  if (!job.spec?.settlement?.enabled) return false;
  const c = job.status?.conditions?.find((x) => x.type === 'Settled');
  return !!c && c.status !== 'True' && c.reason !== 'NotConfigured';
}

/** Delivery of sealed outputs: shards delivered as a bar, objects and bytes, shards rejected. */
export function deliveryLines(d: NonNullable<RenderJob['status']>['delivery'], total: number, sealed: boolean): string[] {
  if (!sealed && !d) return [];
  const shards = d?.shards ?? [];
  const done = shards.filter((x) => x.state === 'Delivered').length;
  const out = [`  delivered ${bar(done, total)} ${done}/${total} shard(s), ${d?.delivered ?? 0} object(s), ${((d?.bytes ?? 0) / 1e6).toFixed(1)} MB`];
  const rejected = shards.filter((x) => x.state === 'Rejected' || x.state === 'Failed');
  for (const x of rejected) out.push(`    shard ${x.index}: ${x.state}${x.message ? ` — ${x.message}` : ''}`);
  return out;
}

export function renderStatus(job: RenderJob, events: k8s.CoreV1Event[], now: number): string {
  const st = job.status ?? {};
  const raw = st.shards ?? {};
  const s = { total: raw.total ?? 0, running: raw.running ?? 0, succeeded: raw.succeeded ?? 0, failed: raw.failed ?? 0, local: raw.local ?? 0, remote: raw.remote ?? 0 };
  const lines = [`RenderJob ${job.metadata.namespace}/${job.metadata.name}  phase ${st.phase ?? 'Pending'}  ${st.progress ?? `0/${s.total}`}`];
  lines.push(`  done     ${bar(s.succeeded, s.total)} ${s.succeeded}/${s.total}`);
  lines.push(`  running  ${bar(s.running, s.total)} ${s.running}`);
  lines.push(`  local    ${bar(s.local, s.total)} ${s.local}`);
  lines.push(`  remote   ${bar(s.remote, s.total)} ${s.remote}`);
  if (s.failed) lines.push(`  failed   ${bar(s.failed, s.total)} ${s.failed}`);
  for (const p of st.providers ?? []) lines.push(`    ${p.name}: ${p.running ?? 0} running, ${p.succeeded ?? 0} done, ${p.cost ?? '0.00'} USD`);
  lines.push(`  cost     local ${st.cost?.local ?? '0.00'}  remote ${st.cost?.remote ?? '0.00'}  total ${st.cost?.total ?? '0.00'} USD`);
  lines.push(...deliveryLines(st.delivery, s.total, !!job.spec?.output?.encryptTo));
  const started = st.startTime ? Date.parse(st.startTime) : undefined;
  if (started && s.succeeded > 0 && s.succeeded < s.total && st.phase === 'Running') {
    const rate = s.succeeded / Math.max(1, now - started);
    lines.push(`  ETA      ${new Date(now + (s.total - s.succeeded) / rate).toISOString()}`);
  }
  for (const c of st.conditions ?? []) if (c.status === 'True' || ALWAYS_SHOWN.has(c.type)) lines.push(`  ${c.type.padEnd(10)}${`${c.status} `.padEnd(6)}${c.reason}${c.message ? `: ${c.message}` : ''}`);
  lines.push(...escrowLines(st.settlement?.escrows ?? []));
  const recent = [...events].sort((a, b) => String(a.lastTimestamp ?? a.eventTime).localeCompare(String(b.lastTimestamp ?? b.eventTime))).slice(-5);
  if (recent.length) lines.push('  events');
  for (const e of recent) lines.push(`    ${e.type?.padEnd(8)}${e.reason?.padEnd(16)}${e.message}`);
  return lines.join('\n');
}

/** Every shard of the job, from its RenderShards and shard pods (commands/shards.ts). */
async function listShards(custom: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: string, job: RenderJob): Promise<string> {
  const labelSelector = shardSelector(job.metadata.name!);
  const [shards, pods] = await Promise.all([
    custom.listNamespacedCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'rendershards', namespace, labelSelector }) as Promise<{ items: RenderShard[] }>,
    core.listNamespacedPod({ namespace, labelSelector }),
  ]);
  return renderShardTable(shardRows(shardCount(job.spec), shards.items, pods.items, foldedOf(job)));
}

export async function statusCommand(argv: string[], env: Record<string, string | undefined>, out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, strict: true, allowPositionals: true,
    options: { namespace: { type: 'string', short: 'n' }, kubeconfig: { type: 'string' }, watch: { type: 'boolean', short: 'w' }, shards: { type: 'boolean' } },
  });
  const target = positionals[0];
  const m = target ? /^(?:rj\/|renderjob\/|renderjobs\/)?([a-z0-9][a-z0-9.-]*)$/.exec(target) : null;
  if (!m) throw new Error('name a RenderJob: atelier status rj/NAME');
  const kc = loadKubeConfig(values.kubeconfig ?? env.KUBECONFIG?.split(':')[0]);
  const namespace = values.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  for (;;) {
    const job = (await custom.getNamespacedCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'renderjobs', namespace, name: m[1]! })) as RenderJob;
    const events = (await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${m[1]}` })).items;
    const table = values.shards ? `\n${await listShards(custom, core, namespace, job)}` : '';
    out(`${values.watch ? '\x1b[2J\x1b[H' : ''}${renderStatus(job, events, Date.now())}${table}`);
    const phase = job.status?.phase;
    if (!values.watch || ((phase === 'Succeeded' || phase === 'Failed') && !settling(job))) return phase === 'Failed' ? 1 : 0;
    await new Promise((r) => setTimeout(r, 2000));
  }
}
