// The ComputeProvider reconciler: for one provider (the work-queue key is its name) it reads the
// spec from the informer cache, builds or reuses the adapter (credentials read from the referenced
// Secret, fingerprinted in memory so a rotated Secret or a new endpoint gets a new adapter), probes it with listOffers
// when a probe is due, feeds the outcome to the provider's circuit breaker in the ProviderRegistry,
// and writes status (offers, lastProbeTime, Ready, consecutiveFailures, reliability, pausedReason,
// shardsInFlight) only when it changed. It returns when to look again: the next probe, or the end of
// the breaker's cool-down (then one half-open probe). spec.paused stops probing and sending.
//
// Probes are due every probeIntervalMs and when the spec's generation changes — not on every
// informer event, since this reconciler's own status writes come back as update events.
// Credentials: read only from Secrets, held only inside adapters; every error text that reaches a
// log, an Event or the status is first scrubbed of the credential's value (scrubSecret).
import type { SecretReader } from '../../runtime/index.js';
import { createHash } from 'node:crypto';
import { API_VERSION, type ComputeProvider, type ComputeProviderStatus, type SecretKeyRef } from '../../api/index.js';
import type { Clock } from '../../runtime/clock.js';
import { errorMessage, statusCode } from '../../runtime/errors.js';
import type { Log } from '../../runtime/logger.js';
import type { BreakerConfig, BreakerTransition } from './breaker.js';
import { SUBNET_PRICE_ANNOTATION, type AdapterFactory } from '../../providers/factory.js';
import { ProviderRegistry, offerViews, specView } from './registry.js';
import { ReadyReason, computeProviderStatus, openedAtFromStatus, providerStatusChanged } from './status.js';

/** Read-only view of the ComputeProvider informer cache (cluster-scoped: by name). */
export interface ProviderLister {
  get(name: string): ComputeProvider | undefined;
  list(): ComputeProvider[];
}

export type { AdapterFactory };

/** Writes a ComputeProvider's status subresource (undefined fields are removed). */
export interface ProviderStatusWriter {
  patchStatus(name: string, status: ComputeProviderStatus): Promise<void>;
}

export interface ProviderRecorder {
  event(obj: { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string; uid?: string } }, type: 'Normal' | 'Warning', reason: string, message: string): void;
}

export interface ProbeConfig {
  /** Time between probes of a healthy provider. */
  probeIntervalMs: number;
  /** A probe that takes longer fails. */
  probeTimeoutMs: number;
  /** The offer request of a probe: GPUs per offer. */
  probeGpuCount: number;
  breaker: Partial<BreakerConfig>;
}

export const DEFAULT_PROBE: ProbeConfig = { probeIntervalMs: 60_000, probeTimeoutMs: 30_000, probeGpuCount: 1, breaker: {} };

export interface ComputeProviderReconcilerDeps {
  providers: ProviderLister;
  adapterFor: AdapterFactory;
  readSecret: SecretReader;
  writer: ProviderStatusWriter;
  clock: Clock;
  recorder: ProviderRecorder;
  log: Log;
  /** Shared with the RenderJob controller; created here when absent (then read it from `.registry`). */
  registry?: ProviderRegistry;
  config?: Partial<ProbeConfig>;
}

export interface ProviderReconcileResult {
  requeueAfterMs?: number;
}

/** Replaces the secret value, and each long enough piece of it (a kubeconfig's token line), with [REDACTED]. */
export function scrubSecret(text: string, secret: string | undefined): string {
  if (!secret) return text;
  let out = text;
  const pieces = [secret.trim(), ...secret.split(/[\s"':,]+/)].filter((p) => p.length >= 8).sort((a, b) => b.length - a.length);
  for (const p of pieces) out = out.split(p).join('[REDACTED]');
  return out;
}


/** One line about an error: the Kubernetes API's own message when client-node hides it in a JSON string body. */
export function describeError(err: unknown): string {
  const body = (err as { body?: unknown } | undefined)?.body;
  const code = statusCode(err);
  if (typeof body === 'string') {
    try {
      const m = (JSON.parse(body) as { message?: unknown }).message;
      if (typeof m === 'string') return code !== undefined ? `HTTP ${code}: ${m}` : m;
    } catch {
      // not JSON: fall through
    }
  }
  return errorMessage(err);
}
const fingerprint = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 16);

function credentialsRef(p: ComputeProvider): { ref?: SecretKeyRef; field: string } {
  if (p.spec.type === 'subnet') return { ...(p.spec.subnet?.kubeconfigSecretRef ? { ref: p.spec.subnet.kubeconfigSecretRef } : {}), field: 'spec.subnet.kubeconfigSecretRef' };
  return { ...(p.spec.credentialsSecretRef ? { ref: p.spec.credentialsSecretRef } : {}), field: 'spec.credentialsSecretRef' };
}

export class ComputeProviderReconciler {
  readonly registry: ProviderRegistry;
  private readonly cfg: ProbeConfig;
  /** Per provider: when the next probe is due, and the generation probed last. */
  private readonly probes = new Map<string, { dueAt: number; generation: number }>();
  private readonly unavailable = new Map<string, { reason: string; message: string }>();

  constructor(private readonly d: ComputeProviderReconcilerDeps) {
    this.cfg = { ...DEFAULT_PROBE, ...(d.config ?? {}) };
    this.registry = d.registry ?? new ProviderRegistry({ clock: d.clock, breaker: this.cfg.breaker });
  }

  async reconcile(name: string): Promise<ProviderReconcileResult> {
    const { clock, log } = this.d;
    const p = this.d.providers.get(name);
    if (!p) {
      this.registry.remove(name);
      this.probes.delete(name);
      this.unavailable.delete(name);
      return {};
    }
    const generation = p.metadata.generation ?? 0;
    if (!this.registry.has(name)) {
      const openedAt = openedAtFromStatus(p.status);
      this.registry.ensure(name, {
        ...(p.status?.consecutiveFailures !== undefined ? { consecutiveFailures: p.status.consecutiveFailures } : {}),
        ...(openedAt !== undefined ? { openedAt, reason: 'failures before a restart' } : {}),
      });
      if (p.status?.verificationFailures) this.registry.seedVerification(name, p.status.verificationFailures, p.status.lastVerificationFailure);
    }
    this.registry.setSpec(name, specView(p.spec, generation));
    const now = clock.now();

    let requeueAfterMs: number | undefined;
    if (p.spec.paused) {
      this.probes.delete(name); // probe again as soon as it is unpaused
    } else {
      const breaker = this.registry.breaker(name)!;
      const probe = this.probes.get(name);
      const due = !probe || probe.generation !== generation || probe.dueAt <= now;
      if (!breaker.allowsProbe(now)) {
        requeueAfterMs = Math.max(1, (breaker.snapshot(now).openUntil ?? now) - now);
      } else if (due) {
        await this.probe(p, now);
        const after = this.registry.breaker(name)!.snapshot(clock.now());
        requeueAfterMs = after.state === 'Open' && after.openUntil !== undefined ? Math.max(1, after.openUntil - clock.now()) : this.cfg.probeIntervalMs;
      } else {
        requeueAfterMs = Math.max(1, probe.dueAt - now);
      }
    }

    const st = this.registry.state(name)!;
    const next = computeProviderStatus({
      prev: p.status, generation, now: clock.now(), paused: p.spec.paused === true,
      ...(this.unavailable.has(name) && !p.spec.paused ? { unavailable: this.unavailable.get(name)! }
        : st.hold && !p.spec.paused ? { unavailable: { reason: st.hold.reason, message: `${st.hold.reason === 'InsufficientFunds' ? 'the provider refused a submission with 402 (wallet out of funds)' : 'the provider\'s quota is used up'}: ${st.hold.message}; no new shards until ${new Date(st.hold.until).toISOString()}` } } : {}),
      breaker: st.breaker, offers: st.offers, inFlight: st.inFlight, ...(st.verification ? { verification: st.verification } : {}),
      ...(st.lastProbeTime !== undefined ? { lastProbe: { at: st.lastProbeTime, ok: st.lastProbeOk === true, ...(st.breaker.lastError ? { error: st.breaker.lastError } : {}) } } : {}),
    });
    if (providerStatusChanged(p.status, next)) {
      await this.d.writer.patchStatus(name, next);
      const was = p.status?.conditions?.find((c) => c.type === 'Ready');
      const ready = next.conditions!.find((c) => c.type === 'Ready')!;
      if (was?.status !== ready.status || was?.reason !== ready.reason) {
        log.info('computeprovider ready changed', { provider: name, ready: ready.status, reason: ready.reason });
        if (ready.status === 'True') this.event(p, 'Normal', 'ProviderReady', ready.message);
      }
    }
    return requeueAfterMs !== undefined ? { requeueAfterMs } : {};
  }

  /** Reads credentials, (re)builds the adapter when they or the spec changed, and probes. */
  private async probe(p: ComputeProvider, now: number): Promise<void> {
    const name = p.metadata.name!;
    const generation = p.metadata.generation ?? 0;
    this.probes.set(name, { dueAt: now + this.cfg.probeIntervalMs, generation });
    const { ref, field } = credentialsRef(p);
    if (!ref) {
      this.setUnavailable(p, { reason: ReadyReason.CredentialsMissing, message: `${field} is not set` });
      return;
    }
    let credential: string;
    try {
      credential = await this.d.readSecret(ref.namespace, ref.name, ref.key);
      if (!credential.trim()) throw new Error(`key ${ref.key} is empty`);
    } catch (e) {
      if ((e as Error).name === 'SecretNamespaceNotAllowed') this.setUnavailable(p, { reason: ReadyReason.SecretNamespaceNotAllowed, message: (e as Error).message });
      else this.setUnavailable(p, { reason: ReadyReason.CredentialsUnavailable, message: `reading Secret ${ref.namespace}/${ref.name} key ${ref.key}: ${describeError(e)}` });
      return;
    }
    // A new adapter only when what it is built from changes: adapters keep process-local state
    // (Akash manifests awaiting a lease), so a pause or a price-cap edit must not replace them.
    const key = fingerprint(JSON.stringify([p.spec.type, p.spec.endpoint ?? '', p.spec.subnet ?? null, p.metadata.annotations?.[SUBNET_PRICE_ANNOTATION] ?? null, credential]));
    let adapter = this.registry.adapter(name);
    if (!adapter || this.registry.adapterKey(name) !== key) {
      try {
        adapter = this.d.adapterFor(p, credential);
      } catch (e) {
        this.setUnavailable(p, { reason: ReadyReason.AdapterUnavailable, message: scrubSecret(describeError(e), credential) });
        return;
      }
      this.registry.setAdapter(name, key, adapter);
    }
    this.setUnavailable(p, undefined);

    let transition: BreakerTransition | undefined;
    try {
      const offers = await this.withTimeout(adapter.listOffers({
        gpuCount: this.cfg.probeGpuCount,
        ...(p.spec.gpuModels?.length ? { gpuModels: p.spec.gpuModels } : {}),
        ...(p.spec.maxPricePerGpuHour ? { maxUsdPerGpuHour: p.spec.maxPricePerGpuHour } : {}),
      }));
      transition = this.registry.recordProbe(name, { ok: true, offers: offerViews(name, offers) });
      this.d.log.debug('computeprovider probed', { provider: name, offers: offers.length });
    } catch (e) {
      const error = scrubSecret(describeError(e), credential);
      transition = this.registry.recordProbe(name, { ok: false, error });
      this.d.log.warn('computeprovider probe failed', { provider: name, error });
      this.event(p, 'Warning', 'ProbeFailed', error);
    }
    const snap = this.registry.breaker(name)!.snapshot(this.d.clock.now());
    if (transition === 'Opened' || transition === 'Reopened') {
      const until = snap.openUntil !== undefined ? new Date(snap.openUntil).toISOString() : 'later';
      this.d.log.warn('computeprovider circuit opened', { provider: name, reason: snap.openReason, until });
      this.event(p, 'Warning', 'CircuitOpened', `no shards are sent until ${until}: ${snap.openReason ?? ''}`);
    } else if (transition === 'Closed') {
      this.d.log.info('computeprovider circuit closed', { provider: name });
      this.event(p, 'Normal', 'CircuitClosed', 'a half-open probe succeeded; shards are sent again');
    }
  }

  private setUnavailable(p: ComputeProvider, u: { reason: string; message: string } | undefined): void {
    const name = p.metadata.name!;
    const before = this.unavailable.get(name);
    if (u) this.unavailable.set(name, u);
    else this.unavailable.delete(name);
    this.registry.setUnavailable(name, u ? u.reason : undefined);
    if (u && (before?.reason !== u.reason || before.message !== u.message)) {
      this.d.log.warn('computeprovider unavailable', { provider: name, reason: u.reason, detail: u.message });
      this.event(p, 'Warning', u.reason, u.message);
    }
  }

  private withTimeout<T>(work: Promise<T>): Promise<T> {
    const ms = this.cfg.probeTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = this.d.clock.setTimer(ms, () => reject(new Error(`probe timed out after ${Math.round(ms / 1000)}s`)));
      work.then(
        (v) => { timer.cancel(); resolve(v); },
        (e: unknown) => { timer.cancel(); reject(e); },
      );
    });
  }

  private event(p: ComputeProvider, type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.d.recorder.event({ apiVersion: API_VERSION, kind: 'ComputeProvider', metadata: { name: p.metadata.name!, ...(p.metadata.uid ? { uid: p.metadata.uid } : {}) } }, type, reason, message);
  }
}
