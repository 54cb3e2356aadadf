// What `atelier plan` shows of the RenderBudgets that select a job: one line per budget (limit, spent,
// reserved, remaining as the operator last wrote them, and when the period resets), and the job spec
// with its budget.maxCost lowered to the smallest remaining, so the plan spends no more than the
// budgets leave (the operator's placer applies the same rule, controllers/renderjob/placement.ts).
import type * as k8s from '@kubernetes/client-node';
import type { RenderBudget, RenderJob, RenderJobSpec } from '../api/index.js';
import { selects } from '../controllers/budget/ledger.js';
import { periodWindow, type BudgetPeriod } from '../controllers/budget/period.js';
import { formatMicros, parseMicros } from '../money.js';

/** The budgets of the job's namespace that select it; none when the CRD is not installed or not readable. */
export async function budgetsForJob(custom: k8s.CustomObjectsApi, job: RenderJob): Promise<RenderBudget[]> {
  const namespace = job.metadata?.namespace ?? 'default';
  try {
    const list = (await custom.listNamespacedCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'renderbudgets', namespace })) as { items: RenderBudget[] };
    return list.items.filter((b) => selects(b.spec.selector, job.metadata?.labels));
  } catch {
    return [];
  }
}

const micros = (s: string | undefined): bigint | undefined => {
  try { return s === undefined ? undefined : parseMicros(s); } catch { return undefined; }
};

/** What a budget leaves now: its status's remaining, or the whole limit before the operator wrote one (or in a new period). */
export function budgetRemaining(b: RenderBudget, now: number): bigint {
  const limit = micros(b.spec.limit) ?? 0n;
  const end = b.status?.period?.end ? Date.parse(b.status.period.end) : undefined;
  if (end === undefined || end <= now) return limit;
  const r = micros(b.status?.remaining);
  return r === undefined ? limit : r;
}

export function budgetLines(budgets: RenderBudget[], now: number): string[] {
  return budgets.map((b) => {
    let resets = b.status?.period?.end;
    try { resets = new Date(resets && Date.parse(resets) > now ? Date.parse(resets) : periodWindow(b.spec.period as BudgetPeriod, now).end).toISOString(); } catch { resets = '?'; }
    const exhausted = b.status?.conditions?.find((c) => c.type === 'Exhausted')?.status === 'True';
    return `budget ${b.metadata?.name} (${b.spec.period}, ${b.spec.action ?? 'StopBursting'}): limit ${b.spec.limit}  spent ${b.status?.spent ?? '0.00'}  reserved ${b.status?.reserved ?? '0.00'}  remaining ${formatMicros(budgetRemaining(b, now))} USD  resets ${resets}${exhausted ? '  EXHAUSTED' : ''}`;
  });
}

/** The spec with budget.maxCost lowered to the smallest remaining of the budgets (unchanged without budgets). */
export function specWithinBudgets(spec: RenderJobSpec, budgets: RenderBudget[], now: number): RenderJobSpec {
  if (budgets.length === 0) return spec;
  let min = budgetRemaining(budgets[0]!, now);
  for (const b of budgets.slice(1)) { const r = budgetRemaining(b, now); if (r < min) min = r; }
  const own = micros(spec.budget?.maxCost);
  if (own !== undefined && own <= min) return spec;
  return { ...spec, budget: { ...spec.budget, maxCost: formatMicros(min, 0) } };
}
