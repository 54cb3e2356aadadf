// Installs Atelier's CRDs (every crds/*.yaml, exactly as users apply them) into a test-bed cluster
// and waits until the API server serves them. Suites run in parallel against one cluster and all
// call this, so it uses server-side apply with one field manager: applying the same files twice, or
// from two workers at once, changes nothing. The apply goes out as raw JSON because client-node's
// typed models silently drop schema keys such as default, enum and x-kubernetes-validations when
// handed plain YAML.
import { readFileSync, readdirSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { loadAll } from 'js-yaml';
import { clients, repoRoot, waitFor } from './testbed.js';

const FIELD_MANAGER = 'atelier-tests';
export const crdDir = path.join(repoRoot, 'crds');

interface CrdObject extends k8s.KubernetesObject {
  spec: { group: string; names: { plural: string }; versions: { name: string; served: boolean }[] };
}

/** The CRD documents in crds/, in file-name order. */
export function crdObjects(): CrdObject[] {
  return readdirSync(crdDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => loadAll(readFileSync(path.join(crdDir, f), 'utf8')) as CrdObject[])
    .filter((d) => d?.kind === 'CustomResourceDefinition');
}

function retryable(e: unknown): boolean {
  const code = (e as { code?: number }).code;
  return code === 409 || code === 429 || (code !== undefined && code >= 500);
}

/**
 * Applies every CRD in crds/ to the cluster (default: this run's test-bed) and resolves once each is
 * Established and its resources answer a list request. Idempotent and safe to call concurrently.
 */
export async function installCrds(kubeconfigPath?: string): Promise<void> {
  const c = clients(kubeconfigPath);
  const crds = crdObjects();
  for (const crd of crds) {
    const name = crd.metadata!.name!;
    for (let attempt = 1; ; attempt++) {
      try {
        await applyRaw(c.kc, `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`, crd);
        break;
      } catch (e) {
        // Conflicts come from another worker applying at the same moment; anything else is a bad CRD.
        if (!retryable(e) || attempt >= 20) throw new Error(`applying CRD ${name} failed: ${apiErrorMessage(e)}`);
        await new Promise((r) => setTimeout(r, 250 * attempt));
      }
    }
  }
  for (const crd of crds) {
    const name = crd.metadata!.name!;
    await waitFor(`CRD ${name} Established`, async () => {
      const got = await c.ext.readCustomResourceDefinition({ name });
      return got.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True') ?? false;
    });
    const served = crd.spec.versions.filter((v) => v.served);
    for (const v of served) {
      await waitFor(`${crd.spec.names.plural}.${crd.spec.group}/${v.name} served`, async () => {
        await c.custom.listClusterCustomObject({ group: crd.spec.group, version: v.name, plural: crd.spec.names.plural, limit: 1 });
        return true;
      });
    }
  }
}

/** Server-side applies obj at path as JSON; rejects with {code, body} like client-node's ApiException. */
async function applyRaw(kc: k8s.KubeConfig, apiPath: string, obj: unknown): Promise<void> {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error('kubeconfig has no current cluster');
  const url = new URL(`${apiPath}?fieldManager=${FIELD_MANAGER}&force=true`, server);
  const body = JSON.stringify(obj);
  const opts: https.RequestOptions = {
    method: 'PATCH',
    headers: { 'Content-Type': 'application/apply-patch+yaml', Accept: 'application/json', 'Content-Length': Buffer.byteLength(body) },
  };
  await kc.applyToHTTPSOptions(opts);
  await new Promise<void>((resolve, reject) => {
    const req = https.request(url, opts, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        const code = res.statusCode ?? 0;
        if (code >= 200 && code < 300) resolve();
        else reject(Object.assign(new Error(`HTTP ${code}`), { code, body: text }));
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The message of a Kubernetes API error (the Status object's message), or the error as text. */
export function apiErrorMessage(e: unknown): string {
  const body = (e as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      const status = JSON.parse(body) as { message?: string };
      if (status.message) return status.message;
    } catch {
      return body;
    }
  } else if (body && typeof body === 'object' && 'message' in body) {
    return String((body as { message: unknown }).message);
  }
  return e instanceof Error ? e.message : String(e);
}
