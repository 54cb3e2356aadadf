// The in-memory registry of ComputeProviders, and the planner's only view of them: per provider its
// adapter (one per provider for the life of the process, as providers/index.ts asks), the offers of
// the last successful probe, shards in flight, reliability and circuit-breaker state — and, in one
// call, what the planner sees of all of them (planner/types.ts ProviderView + OfferView), computed at
// the moment of the call: a breaker that opened a millisecond ago already pauses the provider.
// The ComputeProvider reconciler fills it; the RenderJob controller reads it and reports the outcomes
// of its submissions, which feed the breaker. Shards in flight are counted level-based from the
// RenderShard cache (an index by provider, injected as `inFlight`), so a restart never drifts and
// the ComputeProvider status shows the same number the planner used. It holds no credentials.
import type { ComputeProvider, ComputeProviderSpec, ProviderType } from '../../api/index.js';
import type { OfferView, ProviderView } from '../../planner/types.js';
import { parseMicrosOr, parseUsd, priceCapMicros } from '../../money.js';
import type { Offer, ProviderAdapter } from '../../providers/types.js';
import { CircuitBreaker, type BreakerConfig, type BreakerSnapshot, type BreakerState, type BreakerTransition } from './breaker.js';

/** What the registry keeps of a provider's spec. */
export interface ProviderSpecView {
  type: ProviderType;
  generation: number;
  paused: boolean;
  maxConcurrentShards?: number;
  maxPricePerGpuHourMicros?: bigint;
  allowedNamespaces?: string[];
  gpuModels?: string[];
}

export function specView(spec: ComputeProviderSpec, generation: number): ProviderSpecView {
  const v: ProviderSpecView = { type: spec.type, generation, paused: spec.paused === true };
  if (spec.maxConcurrentShards !== undefined) v.maxConcurrentShards = spec.maxConcurrentShards;
  const cap = priceCapMicros(spec.maxPricePerGpuHour);
  if (cap !== undefined) v.maxPricePerGpuHourMicros = cap;
  if (spec.allowedNamespaces?.length) v.allowedNamespaces = [...spec.allowedNamespaces];
  if (spec.gpuModels?.length) v.gpuModels = [...spec.gpuModels];
  return v;
}

/** Offers as the planner takes them: exact micro-USD per GPU-hour. */
export function offerViews(provider: string, offers: Offer[]): OfferView[] {
  const out: OfferView[] = [];
  for (const o of offers) {
    let price: bigint;
    try {
      price = parseUsd(o.usdPerGpuHour);
    } catch {
      continue; // an adapter bug must not become a free offer
    }
    out.push({ provider, offerId: o.offerId, gpuModel: o.gpuModel, pricePerGpuHourMicros: price, ...(o.available !== undefined ? { available: o.available } : {}) });
  }
  return out;
}

/** What the planner needs of the providers: registry.plannerView() in the operator, statusPlannerView() in the CLI. */
export interface ProviderSnapshot {
  plannerView(): { providers: ProviderView[]; offers: OfferView[] };
}

/**
 * The planner's view of providers as their status last recorded it, for `atelier plan`, which reads
 * the cluster once and has no registry. The spec is read by specView(), as in the operator (one rule
 * for price caps); health, offers and shards in flight are what the operator last wrote.
 */
export function statusPlannerView(cps: ComputeProvider[]): ProviderSnapshot {
  const providers: ProviderView[] = [];
  const offers: OfferView[] = [];
  for (const p of cps) {
    const name = p.metadata.name!;
    const spec = specView(p.spec, p.metadata.generation ?? 0);
    const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
    const why = spec.paused ? 'spec.paused' : ready?.status === 'False' ? ready.reason : undefined;
    const reliability = Number(p.status?.reliability ?? '1') * 0.5 ** Math.min(10, p.status?.verificationFailures ?? 0);
    const v: ProviderView = { name, inFlight: p.status?.shardsInFlight ?? 0, reliability: Number.isFinite(reliability) ? reliability : 1, paused: why !== undefined };
    if (why !== undefined) v.pausedReason = why;
    if (spec.maxConcurrentShards !== undefined) v.maxConcurrentShards = spec.maxConcurrentShards;
    if (spec.maxPricePerGpuHourMicros !== undefined) v.maxPricePerGpuHourMicros = spec.maxPricePerGpuHourMicros;
    if (spec.allowedNamespaces) v.allowedNamespaces = spec.allowedNamespaces;
    if (spec.gpuModels) v.gpuModels = spec.gpuModels;
    providers.push(v);
    for (const o of p.status?.offers ?? []) {
      const price = parseMicrosOr(o.pricePerGpuHour, undefined); // a price that does not parse is no offer, never a free one
      if (!o.gpuModel || price === undefined) continue;
      offers.push({ provider: name, offerId: `${name}/${o.gpuModel}`, gpuModel: o.gpuModel, pricePerGpuHourMicros: price, ...(o.available !== undefined ? { available: o.available } : {}) });
    }
  }
  return { plannerView: () => ({ providers, offers }) };
}

/** Why a provider takes no new shards for a while, though nothing is broken. */
export interface ProviderHold {
  reason: 'InsufficientFunds' | 'QuotaExceeded';
  message: string;
  until: number;
}

/** One provider's state, as the RenderJob controller reads it. */
export interface ProviderState {
  name: string;
  spec: ProviderSpecView;
  offers: OfferView[];
  /** Epoch ms of the last probe, and whether it succeeded. */
  lastProbeTime?: number;
  lastProbeOk?: boolean;
  inFlight: number;
  breaker: BreakerSnapshot;
  /** Set while the provider cannot be used for a reason the breaker does not cover (credentials, adapter). */
  unavailable?: string;
  verification?: { failures: number; last?: string };
  /** Held (out of funds, or out of quota) until `until`. */
  hold?: ProviderHold;
  /** May new shards be sent here now? */
  accepting: boolean;
  /** Why not, when not. */
  pausedReason?: string;
}

interface Entry {
  name: string;
  spec: ProviderSpecView;
  breaker: CircuitBreaker;
  adapter?: ProviderAdapter;
  adapterKey?: string;
  offers: OfferView[];
  lastProbeTime?: number;
  lastProbeOk?: boolean;
  unavailable?: string;
  /** Set by a 402 (wallet out of funds) or a daily quota (429 without Retry-After): no new shards until `until`. */
  hold?: ProviderHold;
  /** Results that failed verification (absolute, seeded from the status after a restart). */
  verification?: { failures: number; last?: string };
}

export interface ProviderRegistryOptions {
  clock: { now(): number };
  /** Shards of all jobs in flight at a provider now (the RenderShard cache's provider index); default none. */
  inFlight?: (provider: string) => number;
  breaker?: Partial<BreakerConfig>;
}

export class ProviderRegistry implements ProviderSnapshot {
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<(provider: string) => void>();
  private readonly clock: { now(): number };
  private readonly breakerConfig: Partial<BreakerConfig>;
  private readonly countInFlight: (provider: string) => number;

  constructor(options: ProviderRegistryOptions) {
    this.clock = options.clock;
    this.countInFlight = options.inFlight ?? (() => 0);
    this.breakerConfig = options.breaker ?? {};
  }

  // ---- read side (RenderJob controller) ---------------------------------------------------------

  names(): string[] {
    return [...this.entries.keys()].sort();
  }

  state(name: string): ProviderState | undefined {
    const e = this.entries.get(name);
    if (!e) return undefined;
    const now = this.clock.now();
    const breaker = e.breaker.snapshot(now);
    const why = this.pausedReason(e, breaker.state);
    return {
      name, spec: e.spec, offers: e.offers, inFlight: this.inFlight(name), breaker,
      ...(e.lastProbeTime !== undefined ? { lastProbeTime: e.lastProbeTime } : {}),
      ...(e.lastProbeOk !== undefined ? { lastProbeOk: e.lastProbeOk } : {}),
      ...(e.unavailable ? { unavailable: e.unavailable } : {}),
      ...(e.verification ? { verification: e.verification } : {}),
      ...(e.hold && e.hold.until > now ? { hold: e.hold } : {}),
      accepting: why === undefined,
      ...(why !== undefined ? { pausedReason: why } : {}),
    };
  }

  /** The planner's inputs for every known provider: limits, health and the offers of the last good probe. */
  plannerView(): { providers: ProviderView[]; offers: OfferView[] } {
    const now = this.clock.now();
    const providers: ProviderView[] = [];
    const offers: OfferView[] = [];
    for (const e of this.entries.values()) {
      const snap = e.breaker.snapshot(now);
      const why = this.pausedReason(e, snap.state);
      // Each result that failed verification halves how much the planner trusts the provider.
      const reliability = snap.reliability * 0.5 ** Math.min(10, e.verification?.failures ?? 0);
      const v: ProviderView = { name: e.name, inFlight: this.inFlight(e.name), reliability: Number.isFinite(reliability) ? reliability : 1, paused: why !== undefined };
      if (why !== undefined) v.pausedReason = why;
      if (e.spec.maxConcurrentShards !== undefined) v.maxConcurrentShards = e.spec.maxConcurrentShards;
      if (e.spec.maxPricePerGpuHourMicros !== undefined) v.maxPricePerGpuHourMicros = e.spec.maxPricePerGpuHourMicros;
      if (e.spec.allowedNamespaces) v.allowedNamespaces = e.spec.allowedNamespaces;
      if (e.spec.gpuModels) v.gpuModels = e.spec.gpuModels;
      providers.push(v);
      offers.push(...e.offers);
    }
    providers.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { providers, offers };
  }

  /** The provider's adapter (also while paused: shards in flight still need tracking and cancelling). */
  adapter(name: string): ProviderAdapter | undefined {
    return this.entries.get(name)?.adapter;
  }

  /** AdapterSource for the RenderJob controller's remote steps (controllers/renderjob/remote.ts). */
  async get(name: string): Promise<ProviderAdapter | undefined> {
    return this.adapter(name);
  }

  inFlight(name: string): number {
    return this.countInFlight(name);
  }

  breakerState(name: string): BreakerState | undefined {
    return this.entries.get(name)?.breaker.state(this.clock.now());
  }

  /** Calls fn(provider) whenever what the planner would see of a provider changes. Returns an unsubscribe. */
  onChange(fn: (provider: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  // ---- write side (RenderJob controller) --------------------------------------------------------

  /** A result of the provider failed verification (bad signature, or a spot check that did not match). */
  recordVerificationFailure(provider: string, message: string): void {
    const e = this.entries.get(provider);
    if (!e) return;
    e.verification = { failures: (e.verification?.failures ?? 0) + 1, last: message };
    this.changed(provider);
  }

  /**
   * The provider cannot take work for a reason that is not a fault: a 402 (its wallet is out of
   * funds; held for 5 minutes, then one submission tries again) or a quota that resets at a known
   * time. No new shard goes there until `until`; the circuit breaker is not charged.
   */
  hold(provider: string, reason: ProviderHold['reason'], message: string, until = this.clock.now() + 5 * 60_000): void {
    const e = this.entries.get(provider);
    if (!e) return;
    const was = e.hold;
    e.hold = { reason, message, until };
    if (!was || was.reason !== reason) this.changed(provider);
  }

  recordInsufficientFunds(provider: string, message: string): void {
    this.hold(provider, 'InsufficientFunds', message);
  }

  /** Restores the verification failure count written before a restart (only before any new failure). */
  seedVerification(provider: string, failures: number, last?: string): void {
    const e = this.entries.get(provider);
    if (e && !e.verification) e.verification = { failures, ...(last ? { last } : {}) };
  }

  /** Outcome of a submission (or any call) to a provider; failures count toward its breaker. */
  recordOutcome(provider: string, ok: boolean, error?: string): BreakerTransition | undefined {
    const e = this.entries.get(provider);
    if (!e) return undefined;
    const t = e.breaker.record(ok, this.clock.now(), error);
    if (t) this.changed(provider);
    return t;
  }

  // ---- write side (ComputeProvider reconciler) --------------------------------------------------

  /** Creates the provider's entry on first sight, its breaker restored from `seed` (a status written before a restart). */
  ensure(name: string, seed?: { consecutiveFailures?: number; openedAt?: number; reason?: string }): void {
    this.entryOf(name, seed);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  private entryOf(name: string, seed?: { consecutiveFailures?: number; openedAt?: number; reason?: string }): Entry {
    let e = this.entries.get(name);
    if (!e) {
      const breaker = new CircuitBreaker(this.breakerConfig);
      if (seed) breaker.restore(seed);
      e = { name, spec: { type: 'akash', generation: -1, paused: true }, breaker, offers: [] };
      this.entries.set(name, e);
    }
    return e;
  }

  setSpec(name: string, spec: ProviderSpecView): void {
    const e = this.entryOf(name);
    const before = JSON.stringify(e.spec, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    e.spec = spec;
    if (before !== JSON.stringify(spec, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) this.changed(name);
  }

  /** Keeps `adapter` for the provider under `key` (a fingerprint of what it was built from). */
  setAdapter(name: string, key: string, adapter: ProviderAdapter): void {
    const e = this.entryOf(name);
    e.adapter = adapter;
    e.adapterKey = key;
  }

  adapterKey(name: string): string | undefined {
    return this.entries.get(name)?.adapterKey;
  }

  setUnavailable(name: string, why: string | undefined): void {
    const e = this.entryOf(name);
    if (e.unavailable === why) return;
    if (why === undefined) delete e.unavailable;
    else e.unavailable = why;
    this.changed(name);
  }

  /** Records a probe: on success its offers replace the old ones; either way it feeds the breaker. */
  recordProbe(name: string, result: { ok: true; offers: OfferView[] } | { ok: false; error: string }): BreakerTransition | undefined {
    const e = this.entryOf(name);
    const now = this.clock.now();
    e.lastProbeTime = now;
    e.lastProbeOk = result.ok;
    const before = JSON.stringify(e.offers, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    if (result.ok) e.offers = result.offers;
    const t = e.breaker.record(result.ok, now, result.ok ? undefined : result.error);
    // A probe that changes nothing the planner sees (same offers, no breaker transition) is not a
    // change: it must not wake every waiting job once a minute per provider.
    if (t || before !== JSON.stringify(e.offers, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) this.changed(name);
    return t;
  }

  breaker(name: string): CircuitBreaker | undefined {
    return this.entries.get(name)?.breaker;
  }

  remove(name: string): void {
    if (this.entries.delete(name)) this.changed(name);
  }

  private pausedReason(e: Entry, state: BreakerState): string | undefined {
    if (e.spec.paused) return 'spec.paused';
    if (e.unavailable) return e.unavailable;
    if (e.hold && e.hold.until > this.clock.now()) return e.hold.reason;
    if (state === 'Open') return 'CircuitOpen';
    if (state === 'HalfOpen') return 'CircuitHalfOpen';
    if (!e.adapter) return 'NotProbed';
    return undefined;
  }

  private changed(name: string): void {
    for (const fn of this.listeners) {
      try {
        fn(name);
      } catch {
        // a listener's failure is its own business
      }
    }
  }
}
