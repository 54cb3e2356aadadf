// A ComputeProvider's status as a pure function of what the operator knows about it: spec.paused,
// configuration problems (credentials, adapter), the circuit breaker, the last probe and its offers,
// and shards in flight. Ready is the one condition (API conventions: lastTransitionTime moves only
// when its status flips); pausedReason says why no shard is sent there. Messages carry only texts
// that were already scrubbed of secrets by the reconciler.
import type { ComputeProviderStatus, Condition, ProviderOffer } from '../../api/index.js';
import type { OfferView } from '../../planner/types.js';
import { formatMicros } from '../../money.js';
import { sameJson } from '../renderjob/status.js';
import type { BreakerSnapshot } from './breaker.js';

/** CamelCase reasons of the Ready condition. */
export const ReadyReason = {
  ProbeSucceeded: 'ProbeSucceeded',
  Paused: 'Paused',
  CircuitOpen: 'CircuitOpen',
  ProbeFailed: 'ProbeFailed',
  NotProbed: 'NotProbed',
  CredentialsMissing: 'CredentialsMissing',
  CredentialsUnavailable: 'CredentialsUnavailable',
  /** A Secret reference outside the operator's namespace (refused; nothing was read). */
  SecretNamespaceNotAllowed: 'SecretNamespaceNotAllowed',
  AdapterUnavailable: 'AdapterUnavailable',
} as const;

export interface ProviderStatusInput {
  prev: ComputeProviderStatus | undefined;
  generation: number;
  now: number;
  /** spec.paused */
  paused: boolean;
  /** A configuration problem that stops probing (reason from ReadyReason). */
  unavailable?: { reason: string; message: string };
  breaker: BreakerSnapshot;
  lastProbe?: { at: number; ok: boolean; error?: string };
  /** Offers of the last successful probe. */
  offers: OfferView[];
  inFlight: number;
  /** Results that failed verification, and the last such failure. */
  verification?: { failures: number; last?: string };
}

const MAX_OFFERS = 32;
const MAX_MESSAGE = 1024;
const clip = (s: string) => (s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE - 3)}...` : s);
const iso = (ms: number) => new Date(ms).toISOString();

export function statusOffers(offers: OfferView[]): ProviderOffer[] {
  return [...offers]
    .sort((a, b) => (a.pricePerGpuHourMicros < b.pricePerGpuHourMicros ? -1 : a.pricePerGpuHourMicros > b.pricePerGpuHourMicros ? 1 : a.gpuModel < b.gpuModel ? -1 : a.gpuModel > b.gpuModel ? 1 : 0))
    .slice(0, MAX_OFFERS)
    .map((o) => ({ gpuModel: o.gpuModel, pricePerGpuHour: formatMicros(o.pricePerGpuHourMicros), ...(o.available !== undefined ? { available: o.available } : {}) }));
}

function describeOffers(offers: OfferView[]): string {
  if (offers.length === 0) return 'the provider answers but offers no GPUs now';
  const shown = statusOffers(offers).slice(0, 6).map((o) => `${o.gpuModel}${o.available !== undefined ? ` x${o.available}` : ''} at ${o.pricePerGpuHour} USD/GPU-hour`);
  return `${offers.length} offer(s): ${shown.join(', ')}${offers.length > shown.length ? ', ...' : ''}`;
}

/** The status the provider should have now. Fields it does not set are left undefined (the writer removes them). */
export function computeProviderStatus(i: ProviderStatusInput): ComputeProviderStatus {
  const b = i.breaker;
  let ready: Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;
  let pausedReason: string | undefined;
  if (i.paused) {
    ready = { type: 'Ready', status: 'False', reason: ReadyReason.Paused, message: `spec.paused is true: no new shards are sent; ${i.inFlight} in flight continue` };
    pausedReason = 'spec.paused is true';
  } else if (i.unavailable) {
    ready = { type: 'Ready', status: 'False', reason: i.unavailable.reason, message: i.unavailable.message };
    pausedReason = `${i.unavailable.reason}: ${i.unavailable.message}`;
  } else if (b.state !== 'Closed') {
    const next = b.openUntil !== undefined ? `; next probe at ${iso(b.openUntil)}` : '';
    ready = { type: 'Ready', status: 'False', reason: ReadyReason.CircuitOpen, message: `circuit open after ${b.openReason ?? 'failures'}${next}` };
    pausedReason = `CircuitOpen: ${b.openReason ?? 'failures'}${next}`;
  } else if (i.lastProbe && !i.lastProbe.ok) {
    ready = { type: 'Ready', status: 'False', reason: ReadyReason.ProbeFailed, message: `probe failed (${b.consecutiveFailures} in a row): ${i.lastProbe.error ?? 'unknown error'}` };
  } else if (!i.lastProbe) {
    ready = { type: 'Ready', status: 'Unknown', reason: ReadyReason.NotProbed, message: 'not probed yet' };
  } else {
    ready = { type: 'Ready', status: 'True', reason: ReadyReason.ProbeSucceeded, message: describeOffers(i.offers) };
  }
  ready.message = clip(ready.message);
  const old = i.prev?.conditions?.find((c) => c.type === 'Ready');
  const cond: Condition = { ...ready, observedGeneration: i.generation, lastTransitionTime: old && old.status === ready.status ? old.lastTransitionTime : iso(i.now) };
  const others = (i.prev?.conditions ?? []).filter((c) => c.type !== 'Ready');
  const lastProbeTime = i.lastProbe ? iso(i.lastProbe.at) : i.prev?.lastProbeTime;
  const offers = i.lastProbe ? statusOffers(i.offers) : (i.prev?.offers ?? []);
  return {
    conditions: [cond, ...others],
    offers,
    shardsInFlight: i.inFlight,
    ...(lastProbeTime !== undefined ? { lastProbeTime } : {}),
    consecutiveFailures: b.consecutiveFailures,
    reliability: b.samples > 0 ? b.reliability.toFixed(2) : (i.prev?.reliability ?? '1.00'),
    ...(pausedReason !== undefined ? { pausedReason: clip(pausedReason) } : {}),
    ...(i.verification ? { verificationFailures: i.verification.failures, ...(i.verification.last ? { lastVerificationFailure: clip(i.verification.last) } : {}) }
      : i.prev?.verificationFailures !== undefined ? { verificationFailures: i.prev.verificationFailures, ...(i.prev.lastVerificationFailure ? { lastVerificationFailure: i.prev.lastVerificationFailure } : {}) } : {}),
  };
}

/** True when writing `next` would change what the API server holds. */
export function providerStatusChanged(prev: ComputeProviderStatus | undefined, next: ComputeProviderStatus): boolean {
  return !sameJson(prev ?? {}, next);
}

/** When the breaker of a provider whose status says CircuitOpen opened (to restore it after a restart). */
export function openedAtFromStatus(status: ComputeProviderStatus | undefined): number | undefined {
  const ready = status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'False' || ready.reason !== ReadyReason.CircuitOpen) return undefined;
  const t = Date.parse(ready.lastTransitionTime);
  return Number.isNaN(t) ? undefined : t;
}
