// `atelier plan -f job.yaml`: what the operator would do with a RenderJob right now, without
// submitting anything — shards local vs per provider, expected finish and cost — next to the same
// job under LocalOnly; per offer, the GPU, its hourly price, the expected seconds and USD per shard
// on that model and the shards it could finish by the deadline; and the job's expected total against
// the same work on a centralized cloud's on-demand GPUs (the GPU catalog's reference prices, or the
// ConfigMap atelier-reference-prices in the operator namespace when it exists). It reads the live
// cluster (Nodes, unfinished Pods, ComputeProviders and their last probed offers) once, then runs
// the same planner the controller uses.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { load } from 'js-yaml';
import type { ComputeProvider, RenderJob } from '../api/index.js';
import { gpuCapacity } from '../controllers/capacity.js';
import { statusPlannerView } from '../controllers/computeprovider/registry.js';
import { loadKubeConfig } from '../kube/client.js';
import { parseGoDuration, planJob, type JobPlan, type JobPlanOutcome } from '../planner/index.js';
import { formatMicros, parseMicros } from '../money.js';
import { referencePrices, type ReferencePrices } from '../gpus/index.js';
import { budgetLines, budgetsForJob, specWithinBudgets } from './budgets.js';

/** The ConfigMap (in the operator namespace) whose data overrides the catalog's reference prices. */
export const REFERENCE_PRICES_CONFIGMAP = 'atelier-reference-prices';

export const planUsage = `Usage: atelier plan -f JOB.yaml [--kubeconfig PATH] [--local-gpu-hour-price USD] [--shard-duration 10m]
                    [--operator-namespace atelier-system] [-o json]

Prints the plan for a RenderJob against the live cluster and provider offers; submits nothing.
Per offer: GPU, USD per GPU-hour, expected seconds and USD per shard on that GPU, shards it can
finish by the deadline. Then the job's expected total against the same work on a centralized
cloud's on-demand GPUs: the GPU catalog's reference prices (docs/gpus.md), or the ConfigMap
${'atelier-reference-prices'} in the operator namespace when it exists.
`;

/** Reference prices as planJob takes them (micro-USD). */
export function referenceInput(r: ReferencePrices): NonNullable<Parameters<typeof planJob>[0]['reference']> {
  return { source: r.source, asOf: r.asOf, illustrative: r.illustrative, pricesPerGpuHourMicros: Object.fromEntries(Object.entries(r.pricesPerGpuHour).map(([k, v]) => [k, parseMicros(v)])) };
}

function fmtTime(ms: number | undefined, now: number): string {
  if (ms === undefined) return 'never (some shards cannot be placed)';
  const s = Math.round((ms - now) / 1000);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return `${new Date(ms).toISOString()} (in ${h > 0 ? `${h}h` : ''}${m}m${h === 0 ? `${s % 60}s` : ''})`;
}

export function renderPlan(name: string, plan: JobPlan, now: number): string {
  const lines: string[] = [];
  const row = (label: string, o: JobPlanOutcome) => {
    const remote = o.remote.reduce((n, r) => n + r.shards, 0);
    lines.push(`${label.padEnd(12)} local ${String(o.local).padStart(6)}  remote ${String(remote).padStart(6)}  unplaced ${String(o.unplaced).padStart(5)}  cost ${formatMicros(o.expectedLocalCostMicros + o.expectedRemoteCostMicros).padStart(12)} USD  finish ${fmtTime(o.expectedFinish, now)}${o.meetsDeadline === undefined ? '' : o.meetsDeadline ? '  meets deadline' : '  MISSES deadline'}`);
    for (const r of o.remote) lines.push(`${''.padEnd(14)}${r.provider.padEnd(24)} ${String(r.shards).padStart(6)} shards  ${formatMicros(r.costMicros).padStart(12)} USD`);
  };
  const perModel = Object.entries(plan.expectedShardMsByModel ?? {}).sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1)).map(([m, ms]) => `${m} ${Math.round(ms / 1000)}s`).join(', ');
  lines.push(`RenderJob ${name}: ${plan.shards} shards, expected ${Math.round(plan.expectedShardMs / 1000)}s each${perModel ? ` (per GPU model: ${perModel})` : ''}`);
  row(plan.policy, plan);
  if (plan.policy !== 'LocalOnly') row('LocalOnly', plan.localOnly);
  if (plan.offers.length > 0) {
    lines.push('offers, lowest expected cost per shard first:');
    lines.push(`  ${'PROVIDER'.padEnd(16)} ${'GPU'.padEnd(18)} ${'USD/GPU-h'.padStart(10)} ${'s/shard'.padStart(8)} ${'USD/shard'.padStart(11)} ${'by deadline'.padStart(11)}`);
    for (const o of plan.offers) {
      const by = o.ineligible ? `not used: ${o.ineligible}` : o.shardsByDeadline === undefined ? '-' : String(o.shardsByDeadline);
      lines.push(`  ${o.provider.padEnd(16)} ${o.gpuModel.padEnd(18)} ${formatMicros(o.pricePerGpuHourMicros).padStart(10)} ${String(Math.round(o.expectedShardMs / 1000)).padStart(8)} ${formatMicros(o.costPerShardMicros).padStart(11)} ${by.padStart(11)}`);
    }
  }
  const ref = plan.reference;
  if (ref && ref.rows.length > 0) {
    lines.push(`the same work on a centralized cloud's on-demand GPUs (${ref.illustrative ? 'illustrative defaults, not verified; ' : ''}${ref.source}; as of ${ref.asOf}):`);
    for (const r of ref.rows) lines.push(`  ${r.gpuModel.padEnd(18)} ${formatMicros(r.pricePerGpuHourMicros).padStart(10)} USD/GPU-h ${String(Math.round(r.expectedShardMs / 1000)).padStart(8)} s/shard  total ${formatMicros(r.costMicros).padStart(12)} USD`);
    const best = ref.rows[0]!;
    if (ref.savingMicros === undefined) lines.push(`  this job: some shards cannot be placed, no total to compare`);
    else lines.push(`  this job: expected ${formatMicros(ref.expectedTotalMicros)} USD; ${ref.savingMicros >= 0n ? `saves ${formatMicros(ref.savingMicros)} USD` : `costs ${formatMicros(-ref.savingMicros)} USD more`} against ${best.gpuModel} on demand (${formatMicros(best.costMicros)} USD)`);
  }
  lines.push(`first round: ${plan.firstRound.reason.reason} — ${plan.firstRound.reason.message}`);
  return lines.join('\n');
}

export async function planCommand(argv: string[], env: Record<string, string | undefined>, out: (s: string) => void): Promise<number> {
  const { values } = parseArgs({
    args: argv, strict: true,
    options: {
      file: { type: 'string', short: 'f' }, kubeconfig: { type: 'string' }, 'local-gpu-hour-price': { type: 'string' },
      'shard-duration': { type: 'string' }, output: { type: 'string', short: 'o' }, 'operator-namespace': { type: 'string' },
    },
  });
  if (!values.file) throw new Error('-f JOB.yaml is required');
  const job = load(readFileSync(values.file, 'utf8')) as RenderJob;
  if (job?.kind !== 'RenderJob' || !job.spec) throw new Error(`${values.file} is not a RenderJob`);
  const kc: k8s.KubeConfig = loadKubeConfig(values.kubeconfig ?? env.KUBECONFIG?.split(':')[0]);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const [nodes, pods, cps, budgets] = await Promise.all([
    core.listNode(),
    core.listPodForAllNamespaces({ fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed' }),
    custom.listClusterCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'computeproviders' }) as Promise<{ items: ComputeProvider[] }>,
    budgetsForJob(custom, job),
  ]);
  const cap = gpuCapacity(nodes.items, pods.items);
  const opNs = values['operator-namespace'] ?? env.ATELIER_OPERATOR_NAMESPACE ?? 'atelier-system';
  let override: Record<string, string> | undefined;
  try {
    override = (await core.readNamespacedConfigMap({ name: REFERENCE_PRICES_CONFIGMAP, namespace: opNs })).data ?? undefined;
  } catch (e) {
    const code = (e as { code?: number }).code;
    if (code !== 404 && code !== 403) throw e; // absent or not readable: the catalog's defaults
  }
  const providers = statusPlannerView(cps.items).plannerView();
  const now = Date.now();
  const plan = planJob({
    // RenderBudgets selecting the job: the plan spends no more than they leave.
    now, namespace: job.metadata?.namespace ?? 'default', spec: specWithinBudgets(job.spec, budgets, now),
    local: [...cap.values()].map((m) => ({ model: m.model, free: m.free, allocatable: m.allocatable })),
    offers: providers.offers, providers: providers.providers,
    ...(values['shard-duration'] ? { expectedShardMs: parseGoDuration(values['shard-duration']) } : {}),
    localPricePerGpuHourMicros: parseMicros(values['local-gpu-hour-price'] ?? env.ATELIER_LOCAL_GPU_HOUR_PRICE ?? '0'),
    reference: referenceInput(referencePrices(override)),
  });
  if (values.output === 'json') out(JSON.stringify(plan, (_k, v) => (typeof v === 'bigint' ? formatMicros(v) : v), 2));
  else out([renderPlan(job.metadata?.name ?? '(unnamed)', plan, now), ...budgetLines(budgets, now)].join('\n'));
  return 0;
}
