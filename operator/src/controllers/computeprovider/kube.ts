// The ComputeProvider controller's ties to the API server, kept apart from the reconciler so it can be
// tested with in-memory fakes: the status writer (merge patch of the status subresource, with
// removed fields sent as null) and the Secret reader (one decoded key from the operator's own
// namespace only, nothing cached or logged).
// Adapters are built by providers/factory.ts.
import type * as k8s from '@kubernetes/client-node';
import { COMPUTE_PROVIDER_PLURAL, GROUP, VERSION, type ComputeProviderStatus } from '../../api/index.js';
import { mergePatch, mergePatchStatus } from '../../kube/client.js';
import type { SecretReader } from '../../runtime/index.js';
import type { ProviderStatusWriter } from './reconciler.js';

export function apiProviderStatusWriter(custom: k8s.CustomObjectsApi): ProviderStatusWriter {
  return {
    async patchStatus(name: string, status: ComputeProviderStatus): Promise<void> {
      // null removes a field under merge-patch semantics (pausedReason once the breaker closes).
      const body = { status: mergePatchStatus(status) };
      for (const k of ['pausedReason', 'lastProbeTime'] as const) if (!(k in status)) (body.status as Record<string, unknown>)[k] = null;
      await custom.patchClusterCustomObjectStatus({ group: GROUP, version: VERSION, plural: COMPUTE_PROVIDER_PLURAL, name, body }, mergePatch());
    },
  };
}

/** A Secret reference that names a namespace other than the operator's own. */
export class SecretNamespaceNotAllowed extends Error {
  constructor(readonly namespace: string, readonly allowed: string) {
    super(`Secrets are read only from the operator's namespace "${allowed}", not "${namespace}": create the Secret in ${allowed} and reference it there`);
    this.name = 'SecretNamespaceNotAllowed';
  }
}

/** Reads one decoded key of a Secret in `allowedNamespace` (the operator's own); any other namespace is refused before any API call. */
export function secretReader(core: k8s.CoreV1Api, allowedNamespace: string): SecretReader {
  return async (namespace, name, key) => {
    if (namespace !== allowedNamespace) throw new SecretNamespaceNotAllowed(namespace, allowedNamespace);
    const secret = await core.readNamespacedSecret({ namespace, name });
    const data = secret.data?.[key];
    if (data === undefined) throw new Error(`Secret ${namespace}/${name} has no key ${key}`);
    return Buffer.from(data, 'base64').toString('utf8');
  };
}

