// `atelier plan`'s budget lines and cap: the remaining of the selecting budgets (the whole limit in a
// new period), the job's own maxCost kept when it is smaller, and the plan held to what is left.
import type { RenderBudget, RenderJobSpec } from '../api/index.js';
import { planJob } from '../planner/index.js';
import { budgetLines, budgetRemaining, specWithinBudgets } from './budgets.js';

const NOW = Date.parse('2026-12-06T12:00:00Z');
const b = (name: string, limit: string, status?: RenderBudget['status']): RenderBudget => ({ apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderBudget', metadata: { name, namespace: 'studio' }, spec: { limit, period: 'Month' }, ...(status ? { status } : {}) } as RenderBudget);
const spec = (maxCost?: string): RenderJobSpec => ({ template: { image: 'x', resources: { limits: { 'nvidia.com/gpu': 1 } } }, shards: { count: 10 }, placement: { policy: 'ProviderOnly' }, ...(maxCost ? { budget: { maxCost } } : {}) } as RenderJobSpec);
const current = { period: { start: '2026-12-01T00:00:00Z', end: '2027-01-01T00:00:00Z' }, spent: '7.00', reserved: '1.50', remaining: '1.50' };

test.each([
  ['status of this period', b('a', '10.00', current), 1_500_000n],
  ['no status yet: the whole limit', b('a', '10.00'), 10_000_000n],
  ['status of an earlier period: the whole limit', b('a', '10.00', { ...current, period: { start: '2026-11-01T00:00:00Z', end: '2026-12-01T00:00:00Z' } }), 10_000_000n],
])('budgetRemaining: %s', (_n, budget, want) => expect(budgetRemaining(budget, NOW)).toBe(want));

test('the smaller of the job maxCost and the budgets remaining applies', () => {
  expect(specWithinBudgets(spec(), [b('a', '10.00', current), b('b', '5.00')], NOW).budget?.maxCost).toBe('1.5');
  expect(specWithinBudgets(spec('1.00'), [b('a', '10.00', current)], NOW).budget?.maxCost).toBe('1.00');
  expect(specWithinBudgets(spec('3.00'), [], NOW).budget?.maxCost).toBe('3.00');
});

test('a line per budget with limit, spent, reserved, remaining and reset time; the plan stays within it', () => {
  const lines = budgetLines([b('team', '10.00', { ...current, conditions: [{ type: 'Exhausted', status: 'True', reason: 'LimitReached', message: '', lastTransitionTime: '2026-12-06T00:00:00Z' }] }), b('new', '2.00')], NOW);
  expect(lines[0]).toBe('budget team (Month, StopBursting): limit 10.00  spent 7.00  reserved 1.50  remaining 1.50 USD  resets 2027-01-01T00:00:00.000Z  EXHAUSTED');
  expect(lines[1]).toContain('remaining 2.00 USD  resets 2027-01-01T00:00:00.000Z');
  const offers = [{ provider: 'p', offerId: 'o', gpuModel: 'nvidia-h100', pricePerGpuHourMicros: 3_000_000n }];
  const providers = [{ name: 'p', inFlight: 0, reliability: 1, paused: false }];
  // 0.50 USD per 10-minute shard: 1.50 USD leaves room for three of the ten
  const plan = planJob({ now: NOW, namespace: 'studio', spec: specWithinBudgets(spec(), [b('team', '10.00', current)], NOW), local: [], offers, providers });
  const remote = plan.remote.reduce((n, r) => n + r.shards, 0);
  expect(remote).toBe(3);
  expect(plan.expectedRemoteCostMicros).toBeLessThanOrEqual(1_500_000n);
});
