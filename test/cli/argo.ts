// Argo Workflows' own CRDs for the pipeline examples' test: taken from the argo-workflows Go module
// (its manifests/base/crds/full, the schema-complete CRDs Argo ships), fetched once through the Go
// module proxy with `go mod download` into ${ATELIER_CACHE:-~/.cache/atelier}/gomod and reused.
// The proxy serves the module only at v4 (github.com/argoproj/argo-workflows/v3 answers 403), whose
// argoproj.io/v1alpha1 kinds are the ones the example uses. The full CRDs are too large for
// client-side apply, so they go to the API server by server-side apply, as Argo's README says.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type * as k8s from '@kubernetes/client-node';
import { load } from 'js-yaml';
import { waitFor, type Clients } from '../support/testbed.js';

export const ARGO_MODULE = 'github.com/argoproj/argo-workflows/v4';
export const ARGO_VERSION = 'v4.0.5';

const run = promisify(execFile);

/** The module's directory in the cache, downloading it first if needed. */
export async function argoModuleDir(): Promise<string> {
  const cache = process.env.ATELIER_CACHE ?? path.join(os.homedir(), '.cache/atelier');
  const { stdout } = await run('go', ['mod', 'download', '-json', `${ARGO_MODULE}@${ARGO_VERSION}`], {
    env: { ...process.env, GOMODCACHE: path.join(cache, 'gomod'), GOFLAGS: '-mod=mod' },
    cwd: os.tmpdir(), maxBuffer: 4 * 1024 * 1024, timeout: 300_000,
  });
  const info = JSON.parse(stdout) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download ${ARGO_MODULE}@${ARGO_VERSION}: ${info.Error ?? stdout}`);
  return info.Dir;
}

export interface Crd extends k8s.KubernetesObject {
  spec: { group: string; names: { plural: string; kind: string }; versions: { name: string }[] };
}

/** One of Argo's full CRDs, e.g. 'workflowtemplates'. */
export async function argoCrd(plural: string): Promise<Crd> {
  const dir = await argoModuleDir();
  return load(readFileSync(path.join(dir, 'manifests/base/crds/full', `argoproj.io_${plural}.yaml`), 'utf8')) as Crd;
}

/** One raw JSON request to the API server (no client model in between to drop fields). */
export async function rawRequest(c: Clients, method: string, apiPath: string, body?: unknown, contentType = 'application/json'): Promise<{ code: number; body: string }> {
  const server = c.kc.getCurrentCluster()!.server;
  const data = body === undefined ? undefined : JSON.stringify(body);
  const opts: https.RequestOptions = {
    method,
    headers: { Accept: 'application/json', ...(data ? { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(data) } : {}) },
  };
  await c.kc.applyToHTTPSOptions(opts);
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(apiPath, server), opts, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** Server-side applies the CRD and waits until the API server serves its kind. */
export async function installCrd(c: Clients, crd: Crd): Promise<void> {
  const name = crd.metadata!.name!;
  const r = await rawRequest(c, 'PATCH', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}?fieldManager=atelier-tests&force=true`, crd, 'application/apply-patch+yaml');
  if (r.code >= 300) throw new Error(`applying CRD ${name}: HTTP ${r.code} ${r.body.slice(0, 500)}`);
  await waitFor(`CRD ${name} Established`, async () => {
    const got = await c.ext.readCustomResourceDefinition({ name });
    return got.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True') ?? false;
  });
  const v = crd.spec.versions[0]!.name;
  await waitFor(`${name} served`, async () => (await rawRequest(c, 'GET', `/apis/${crd.spec.group}/${v}/${crd.spec.names.plural}?limit=1`)).code === 200);
}
