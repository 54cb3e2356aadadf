// The providers as the planner sees them, read from the caches: each ComputeProvider's spec (limits,
// caps, allow-lists, paused) and status (offers from the last probe, reliability, the circuit
// breaker's verdict), and how many shards of all jobs are in flight there (an index over
// RenderShards, so no scan). The ComputeProvider controller keeps the status true.
import type { ComputeProvider, RenderShard } from '../../api/index.js';
import type { OfferView, ProviderView } from '../../planner/index.js';
import { parseMicros } from '../../money.js';
import type { ProviderSnapshot } from './placement.js';

export const INDEX_PROVIDER = 'provider';

/** Index function: a RenderShard with a live remote attempt is in flight at its provider. */
export function inFlightAt(s: RenderShard): string[] {
  const st = s.status;
  return st?.placement === 'Remote' && st.idempotencyKey && st.provider && st.phase !== 'Succeeded' && st.phase !== 'Failed' ? [st.provider] : [];
}

function micros(s: string | undefined): bigint | undefined {
  if (s === undefined) return undefined;
  try { return parseMicros(s); } catch { return undefined; }
}

export class CachedProviders implements ProviderSnapshot {
  constructor(
    private readonly providersList: () => Iterable<ComputeProvider>,
    private readonly inFlight: (provider: string) => number,
  ) {}

  providers(): ProviderView[] {
    const out: ProviderView[] = [];
    for (const p of this.providersList()) {
      const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
      const broken = ready?.status === 'False' && ready.reason === 'CircuitOpen';
      // Each failed verification halves how much the planner trusts the provider.
      const reliability = Number(p.status?.reliability ?? '1') * 0.5 ** Math.min(10, p.status?.verificationFailures ?? 0);
      out.push({
        name: p.metadata.name!,
        ...(p.spec.maxConcurrentShards !== undefined ? { maxConcurrentShards: p.spec.maxConcurrentShards } : {}),
        inFlight: this.inFlight(p.metadata.name!),
        reliability: Number.isFinite(reliability) ? reliability : 1,
        ...(micros(p.spec.maxPricePerGpuHour) !== undefined ? { maxPricePerGpuHourMicros: micros(p.spec.maxPricePerGpuHour)! } : {}),
        ...(p.spec.allowedNamespaces?.length ? { allowedNamespaces: p.spec.allowedNamespaces } : {}),
        ...(p.spec.gpuModels?.length ? { gpuModels: p.spec.gpuModels } : {}),
        paused: !!p.spec.paused || broken,
        ...(p.spec.paused ? { pausedReason: 'spec.paused' } : broken ? { pausedReason: p.status?.pausedReason ?? ready!.message } : {}),
      });
    }
    return out;
  }

  offers(): OfferView[] {
    const out: OfferView[] = [];
    for (const p of this.providersList()) {
      for (const o of p.status?.offers ?? []) {
        const price = micros(o.pricePerGpuHour);
        if (!o.gpuModel || price === undefined) continue;
        out.push({ provider: p.metadata.name!, offerId: `${p.metadata.name}/${o.gpuModel}`, gpuModel: o.gpuModel, pricePerGpuHourMicros: price, ...(o.available !== undefined ? { available: o.available } : {}) });
      }
    }
    return out;
  }
}
