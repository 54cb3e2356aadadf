// The manifests checked by the field's linter, offline: kubeconform (built from its Go module by
// test/testbed/build-binaries.sh) validates the rendered Helm chart (defaults, and every optional
// object switched on), the cdk8s installation and example jobs, every example under examples/ and the
// CRDs themselves, in strict mode (unknown fields are errors), against JSON schemas made here: the
// built-in kinds from this test-bed's kube-apiserver OpenAPI (/openapi/v2, so the schemas are the
// cluster's own version), and Atelier's kinds from crds/*.yaml. The conversion follows what
// kubeconform's schemas are (yannh/kubeconform scripts/openapi2jsonschema.py, read at v0.8.0): every
// object with properties closed (additionalProperties false) unless it preserves unknown fields,
// int-or-string as string or integer, quantities as string or number, nullable as null allowed.
// Three kinds have no schema offline and are skipped by name: prometheus-operator's ServiceMonitor,
// Argo CD's Application (examples/argocd) and Argo Workflows' WorkflowTemplate
// (examples/pipelines, applied with Argo's own CRDs by test/cli/pipelines.test.ts); the chart and examples suites dry-run those on the
// API server.
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dump, load, loadAll } from 'js-yaml';
import { synthExampleJobs } from '../../cdk8s/example-job.js';
import { synthInstall } from '../../cdk8s/install.js';
import { repoRoot } from '../support/testbed.js';
import { chartDir, kubectlOk, run, runOk, bin } from './tools.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const versions = Object.fromEntries(readFileSync(path.join(repoRoot, 'test/testbed/versions.env'), 'utf8').split('\n')
  .map((l) => /^([A-Z_]+)=(\S+)/.exec(l)).filter((m): m is RegExpExecArray => !!m).map((m) => [m[1]!, m[2]!]));
const cache = process.env.ATELIER_CACHE || path.join(os.homedir(), '.cache', 'atelier');
const kubeconformBin = path.join(cache, 'bin', `kubeconform-${versions.KUBECONFORM_VERSION}`, 'kubeconform');
const SKIPPED_KINDS = ['ServiceMonitor', 'Application', 'WorkflowTemplate'];

let dir: string;

/** kubeconform's KindSuffix: "-" + the first label of the group (or the core version) + "-" + version. */
function fileFor(kind: string, apiVersion: string): string {
  const [groupOrVersion, version] = apiVersion.split('/');
  const suffix = `-${groupOrVersion!.split('.')[0]!.toLowerCase()}${version ? `-${version.toLowerCase()}` : ''}`;
  return `${kind.toLowerCase()}${suffix}.json`;
}

/** The schema conversions kubeconform's strict schemas carry (see the header). */
function strictify(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strictify);
  if (!node || typeof node !== 'object') return node;
  const s = node as Json;
  if (s.format === 'int-or-string' || s['x-kubernetes-int-or-string'] === true) {
    const { type: _t, format: _f, 'x-kubernetes-int-or-string': _x, ...rest } = s;
    return { ...strictify(rest) as Json, oneOf: [{ type: 'string' }, { type: 'integer' }] };
  }
  const out: Json = {};
  for (const [k, v] of Object.entries(s)) out[k] = k === 'properties' || k === 'definitions' || k === 'patternProperties'
    ? Object.fromEntries(Object.entries(v as Json).map(([pk, pv]) => [pk, strictify(pv)]))
    : strictify(v);
  if (out.properties && out.additionalProperties === undefined && out['x-kubernetes-preserve-unknown-fields'] !== true) out.additionalProperties = false;
  if (out.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  return out;
}

let defs: Record<string, Json> = {};

/** `name`'s definition and every definition it reaches, for a standalone schema's `definitions`. */
function reachable(name: string): Record<string, Json> {
  const acc = new Set<string>([name]);
  const refsOf = (node: unknown) => {
    if (Array.isArray(node)) node.forEach(refsOf);
    else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (k === '$ref' && typeof v === 'string') {
          const ref = v.replace('#/definitions/', '');
          if (!acc.has(ref)) {
            acc.add(ref);
            refsOf(defs[ref]);
          }
        } else refsOf(v);
      }
    }
  };
  refsOf(defs[name]);
  return Object.fromEntries([...acc].map((r) => [r, defs[r]!]));
}

/** One standalone schema per built-in kind, its definitions limited to those it reaches. */
function writeBuiltinSchemas(openapi: { definitions: Record<string, Json> }): number {
  defs = {};
  for (const [name, d] of Object.entries(openapi.definitions)) defs[name] = strictify(d) as Json;
  defs['io.k8s.apimachinery.pkg.api.resource.Quantity'] = { oneOf: [{ type: 'string' }, { type: 'number' }] };
  let n = 0;
  for (const [name, d] of Object.entries(openapi.definitions)) {
    for (const gvk of (d['x-kubernetes-group-version-kind'] ?? []) as { group: string; version: string; kind: string }[]) {
      const schema = { ...defs[name], definitions: reachable(name) };
      writeFileSync(path.join(dir, fileFor(gvk.kind, gvk.group ? `${gvk.group}/${gvk.version}` : gvk.version)), JSON.stringify(schema));
      n++;
    }
  }
  return n;
}

const OBJECT_META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';

/** One schema per served version of each CRD in crds/, with apiVersion, kind and metadata closed. */
function writeCrdSchemas(): string[] {
  const written: string[] = [];
  for (const f of readdirSync(path.join(repoRoot, 'crds')).filter((f) => f.endsWith('.yaml'))) {
    const crd = load(readFileSync(path.join(repoRoot, 'crds', f), 'utf8')) as Json;
    for (const v of crd.spec.versions as Json[]) {
      const schema = strictify(v.schema.openAPIV3Schema) as Json;
      const apiVersion = `${crd.spec.group}/${v.name}`;
      schema.properties = {
        ...schema.properties,
        apiVersion: { type: 'string', enum: [apiVersion] },
        kind: { type: 'string', enum: [crd.spec.names.kind] },
        metadata: { $ref: `#/definitions/${OBJECT_META}` },
      };
      schema.additionalProperties = false;
      schema.definitions = reachable(OBJECT_META);
      const file = fileFor(crd.spec.names.kind, apiVersion);
      writeFileSync(path.join(dir, file), JSON.stringify(schema));
      written.push(file);
    }
  }
  return written;
}

interface Report { resources: { kind: string; name: string; status: string; msg: string }[]; summary: { valid: number; invalid: number; errors: number; skipped: number } }

/** Runs kubeconform (strict, verbose JSON report) over the YAML given on stdin. */
async function kubeconform(yaml: string): Promise<Report> {
  const r = await run(kubeconformBin, ['-strict', '-verbose', '-summary', '-output', 'json', '-skip', SKIPPED_KINDS.join(','),
    '-schema-location', `${dir}/{{ .ResourceKind }}{{ .KindSuffix }}.json`, '-'], yaml);
  if (r.code !== 0 && r.code !== 1) throw new Error(`kubeconform exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Report;
}

/** Every resource valid (or one of the skipped kinds): the failures, with kubeconform's message. */
function problems(r: Report): string[] {
  return r.resources.filter((x) => x.status !== 'statusValid' && !(x.status === 'statusSkipped' && SKIPPED_KINDS.includes(x.kind)))
    .map((x) => `${x.kind}/${x.name}: ${x.status} ${x.msg}`);
}

const toYaml = (objs: unknown[]) => objs.map((o) => `---\n${dump(o, { noRefs: true })}`).join('');
const countDocs = (yaml: string) => (loadAll(yaml) as unknown[]).filter((o) => o && typeof o === 'object').length;

beforeAll(async () => {
  if (!statSync(kubeconformBin, { throwIfNoEntry: false })) throw new Error(`kubeconform not found at ${kubeconformBin}: run \`make binaries\``);
  dir = mkdtempSync(path.join(os.tmpdir(), 'atelier-schemas-'));
  const openapi = JSON.parse(await kubectlOk(['get', '--raw', '/openapi/v2'])) as { definitions: Record<string, Json> };
  expect(writeBuiltinSchemas(openapi)).toBeGreaterThan(50);
  expect(writeCrdSchemas().sort()).toEqual(['computeprovider-atelier-v1alpha1.json', 'renderbudget-atelier-v1alpha1.json', 'renderjob-atelier-v1alpha1.json', 'rendershard-atelier-v1alpha1.json']);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the schemas catch what they should', () => {
  test.each<[string, Json, RegExp]>([
    ['a Deployment with an unknown field', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { replicas: 1, replica: 2, selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } } }, /replica/],
    ['a Service port given as a list', { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: ['80'] }] } }, /port/],
    ['a RenderJob with an unknown spec field', { apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderJob', metadata: { name: 'j' }, spec: { shards: { count: 1 }, template: { image: 'i', resources: { limits: { 'nvidia.com/gpu': 1 } } }, shard: 2 } }, /shard/],
    ['a ComputeProvider of an unknown type', { apiVersion: 'atelier.dev/v1alpha1', kind: 'ComputeProvider', metadata: { name: 'p' }, spec: { type: 'aws' } }, /type/],
  ])('%s is invalid', async (_what, obj, field) => {
    const r = await kubeconform(toYaml([obj]));
    expect(r.summary.invalid).toBe(1);
    expect(problems(r).join('\n')).toMatch(field);
  });

  test('a resource limit written as a number and a probe port written as a name are valid', async () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'i', resources: { limits: { 'nvidia.com/gpu': 1, memory: '1Gi' } }, readinessProbe: { httpGet: { path: '/readyz', port: 'metrics' } } }] } };
    expect(problems(await kubeconform(toYaml([pod])))).toEqual([]);
  });
});

test.each<[string, boolean]>([
  ['default values', false],
  ['every optional object on', true],
])('the rendered chart (%s) passes kubeconform', async (_what, everything) => {
  const args: string[] = [];
  if (everything) {
    const values = path.join(dir, 'values.yaml');
    args.push('-f', values);
    writeFileSync(values, dump({
      watchNamespaces: ['studio', 'vfx'],
      serviceMonitor: { enabled: true }, podDisruptionBudget: { enabled: true }, grafanaDashboard: { enabled: true },
      networkPolicy: { enabled: true, metricsFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }], egress: [{ ports: [{ port: 443, protocol: 'TCP' }] }] },
      providers: [
        { name: 'akash', spec: { type: 'akash', endpoint: 'https://console-api.akash.network', gpuModels: ['nvidia-h100'], maxPricePerGpuHour: '3.00' }, credentials: { value: 'not-a-real-key', key: 'apiKey' } },
        { name: 'studio-b', spec: { type: 'subnet', subnet: { namespace: 'shared-renders' } }, credentials: { existingSecret: 'studio-b-kubeconfig', key: 'kubeconfig' } },
      ],
      settlement: { enabled: true, rpcUrl: 'http://127.0.0.1:8545', chainId: 31337, escrowAddress: '0x5FbDB2315678afecb367f032d93F642f64180aa3', tokenAddress: '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512', walletSecretRef: { name: 'atelier-wallet', key: 'privateKey' } },
    }));
  }
  const yaml = await runOk(bin('helm'), ['template', 'atelier', chartDir, '--namespace', 'atelier-system', '--include-crds', ...args]);
  const r = await kubeconform(yaml);
  expect(problems(r)).toEqual([]);
  expect(r.summary.valid + r.summary.skipped).toBe(countDocs(yaml));
  const kinds = new Set(r.resources.map((x) => x.kind));
  for (const k of ['CustomResourceDefinition', 'Deployment', 'ClusterRole', 'Service']) expect(kinds.has(k)).toBe(true);
  if (everything) for (const k of ['NetworkPolicy', 'ConfigMap', 'ComputeProvider', 'Secret', 'PodDisruptionBudget']) expect({ kind: k, rendered: kinds.has(k) }).toEqual({ kind: k, rendered: true });
});

test('the cdk8s installation and example jobs pass kubeconform', async () => {
  const objs = [...synthInstall({ watchNamespaces: ['studio'] }), ...synthExampleJobs('studio')];
  const r = await kubeconform(toYaml(objs));
  expect(problems(r)).toEqual([]);
  expect(r.summary.valid).toBe(objs.length);
});

test('every example and every CRD passes kubeconform, offline, against the CRDs', async () => {
  const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : /\.ya?ml$/.test(e.name) ? [path.join(d, e.name)] : []));
  // The CI pipeline files under examples/pipelines are not Kubernetes objects: test/cli/pipelines.test.ts
  // checks them with GitHub's and GitLab's own parsers.
  const ciFiles = new Set(['github-actions.yml', 'gitlab-ci.yml'].map((f) => path.join(repoRoot, 'examples/pipelines', f)));
  const files = [...walk(path.join(repoRoot, 'examples')).filter((f) => !ciFiles.has(f)), ...walk(path.join(repoRoot, 'crds'))];
  let docs = 0;
  for (const f of files) {
    const yaml = readFileSync(f, 'utf8');
    const r = await kubeconform(yaml);
    expect({ file: path.relative(repoRoot, f), problems: problems(r) }).toEqual({ file: path.relative(repoRoot, f), problems: [] });
    docs += countDocs(yaml);
    expect(r.summary.valid + r.summary.skipped).toBe(countDocs(yaml));
  }
  expect(docs).toBeGreaterThan(15);
});
