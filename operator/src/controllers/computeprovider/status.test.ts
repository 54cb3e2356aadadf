// ComputeProvider status as a function of what the operator knows: Ready and its reason for each
// situation, pausedReason, offers, and lastTransitionTime that moves only when Ready flips.
import type { ComputeProviderStatus } from '../../api/index.js';
import { usd } from '../../planner/testing.js';
import type { BreakerSnapshot } from './breaker.js';
import { computeProviderStatus, openedAtFromStatus, providerStatusChanged, type ProviderStatusInput } from './status.js';

const NOW = Date.parse('2026-11-24T12:00:00Z');
const closed: BreakerSnapshot = { state: 'Closed', consecutiveFailures: 0, errorRate: 0, reliability: 1, samples: 5 };
const offers = [
  { provider: 'akash', offerId: 'b', gpuModel: 'nvidia-a100-80gb', pricePerGpuHourMicros: usd('1.71'), available: 3 },
  { provider: 'akash', offerId: 'a', gpuModel: 'nvidia-h100', pricePerGpuHourMicros: usd('2.71') },
];
const input = (o: Partial<ProviderStatusInput> = {}): ProviderStatusInput => ({
  prev: undefined, generation: 2, now: NOW, paused: false, breaker: closed, lastProbe: { at: NOW, ok: true }, offers, inFlight: 4, ...o,
});
const ready = (s: ComputeProviderStatus) => s.conditions!.find((c) => c.type === 'Ready')!;

test.each([
  { name: 'healthy', in: {}, status: 'True', reason: 'ProbeSucceeded', paused: undefined },
  { name: 'spec.paused', in: { paused: true }, status: 'False', reason: 'Paused', paused: 'spec.paused is true' },
  { name: 'circuit open', in: { breaker: { ...closed, state: 'Open' as const, consecutiveFailures: 3, openUntil: NOW + 60_000, openReason: '3 failures in a row; last: HTTP 503' }, lastProbe: { at: NOW, ok: false, error: 'HTTP 503' } }, status: 'False', reason: 'CircuitOpen', paused: 'CircuitOpen: 3 failures in a row; last: HTTP 503; next probe at 2026-11-24T12:01:00.000Z' },
  { name: 'one failed probe', in: { breaker: { ...closed, consecutiveFailures: 1 }, lastProbe: { at: NOW, ok: false, error: 'timeout' } }, status: 'False', reason: 'ProbeFailed', paused: undefined },
  { name: 'credentials missing', in: { unavailable: { reason: 'CredentialsUnavailable', message: 'reading Secret a/b key c: NotFound' } }, status: 'False', reason: 'CredentialsUnavailable', paused: 'CredentialsUnavailable: reading Secret a/b key c: NotFound' },
  { name: 'never probed', in: { lastProbe: undefined }, status: 'Unknown', reason: 'NotProbed', paused: undefined },
])('Ready: $name', (row) => {
  const s = computeProviderStatus(input(row.in));
  expect(ready(s)).toMatchObject({ type: 'Ready', status: row.status, reason: row.reason, observedGeneration: 2 });
  expect(s.pausedReason).toBe(row.paused);
  expect(s.shardsInFlight).toBe(4);
});

test('offers sorted by price with exact decimal prices; reliability and failures from the breaker', () => {
  const s = computeProviderStatus(input({ breaker: { ...closed, reliability: 0.9, errorRate: 0.1, consecutiveFailures: 0 } }));
  expect(s.offers).toEqual([
    { gpuModel: 'nvidia-a100-80gb', pricePerGpuHour: '1.71', available: 3 },
    { gpuModel: 'nvidia-h100', pricePerGpuHour: '2.71' },
  ]);
  expect(s.reliability).toBe('0.90');
  expect(s.consecutiveFailures).toBe(0);
  expect(s.lastProbeTime).toBe('2026-11-24T12:00:00.000Z');
  expect(ready(s).message).toContain('nvidia-a100-80gb x3 at 1.71 USD/GPU-hour');
});

test('lastTransitionTime moves only when Ready flips; an unchanged status is not a change', () => {
  const first = computeProviderStatus(input());
  const same = computeProviderStatus(input({ prev: first, now: NOW + 5000 }));
  expect(ready(same).lastTransitionTime).toBe(ready(first).lastTransitionTime);
  expect(providerStatusChanged(first, same)).toBe(false);
  const failed = computeProviderStatus(input({ prev: same, now: NOW + 10_000, breaker: { ...closed, consecutiveFailures: 1 }, lastProbe: { at: NOW + 10_000, ok: false, error: 'x' } }));
  expect(ready(failed).lastTransitionTime).toBe(new Date(NOW + 10_000).toISOString());
  expect(providerStatusChanged(same, failed)).toBe(true);
  // other conditions someone else owns are kept
  const withOther = { ...failed, conditions: [...failed.conditions!, { type: 'Settled', status: 'True' as const, reason: 'X', message: '', lastTransitionTime: 'then' }] };
  expect(computeProviderStatus(input({ prev: withOther })).conditions!.map((c) => c.type)).toEqual(['Ready', 'Settled']);
});

test('an open breaker is found again in the status after a restart', () => {
  const s = computeProviderStatus(input({ breaker: { ...closed, state: 'Open', openUntil: NOW + 1 } }));
  expect(openedAtFromStatus(s)).toBe(NOW);
  expect(openedAtFromStatus(computeProviderStatus(input()))).toBeUndefined();
});
