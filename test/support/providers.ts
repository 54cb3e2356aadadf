// ComputeProviders for the burst suites: one per provider fake, its credential in a Secret in
// atelier-system, and the helpers the suites share around them (wait for the first probes, delete).
import type { AkashFake } from '../fakes/akash.js';
import { waitFor, type Clients } from './testbed.js';

const CP = { group: 'atelier.dev', version: 'v1alpha1', plural: 'computeproviders' } as const;

/** Creates the credential Secret and the ComputeProvider (H100 only, a fixed test payout address); `spec` adds or overrides fields. */
export async function createComputeProvider(c: Clients, name: string, type: string, endpoint: string, secret: string, options: Record<string, string>, spec: Record<string, unknown> = {}): Promise<void> {
  await c.core.createNamespacedSecret({ namespace: 'atelier-system', body: { metadata: { name }, stringData: { credential: secret } } });
  await c.custom.createClusterCustomObject({
    ...CP,
    body: {
      apiVersion: 'atelier.dev/v1alpha1', kind: 'ComputeProvider', metadata: { name },
      spec: {
        type, endpoint, credentialsSecretRef: { namespace: 'atelier-system', name, key: 'credential' }, payoutAddress: '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC',
        gpuModels: ['nvidia-h100'], options, ...spec,
      },
    },
  });
}

/** Waits until every named provider's status has a priced offer (the operator probed it). */
export async function waitForProbes(c: Clients, names: string[]): Promise<void> {
  await waitFor('providers probed', async () => {
    const cps = await Promise.all(names.map((name) => c.custom.getClusterCustomObject({ ...CP, name }) as Promise<{ status?: { offers?: { pricePerGpuHour?: string }[] } }>));
    return cps.every((cp) => Number(cp.status?.offers?.[0]?.pricePerGpuHour) > 0);
  }, 90_000, 1000);
}

export async function deleteComputeProviders(c: Clients, names: string[]): Promise<void> {
  for (const name of names) await c.custom.deleteClusterCustomObject({ ...CP, name }).catch(() => undefined);
}

/**
 * Akash deployments whose shard ran to a good end. A deployment never ends by itself and the
 * operator closes it once it has read the result, so its stage says `closed` either way: this reads
 * the fake's state instead — a lease that lasted provisioning + the shard's duration after its
 * manifest arrived, outcome good.
 */
export function akashRanToEnd(fake: AkashFake): Set<string> {
  type Lease = { createdMs: number; manifestMs?: number; closedMs?: number };
  const state = fake as unknown as { deployments: Map<string, { outcome: string; leases: Lease[] }> };
  const need = fake.opts.provisionMs + fake.opts.jobDurationMs;
  const now = fake.opts.clock.now();
  const out = new Set<string>();
  // The shard starts when the provider has the manifest (the lease's manifestMs).
  for (const [dseq, d] of state.deployments) if (d.outcome === 'succeed' && d.leases.some((l) => l.manifestMs !== undefined && (l.closedMs ?? now) - l.manifestMs >= need)) out.add(dseq);
  return out;
}
