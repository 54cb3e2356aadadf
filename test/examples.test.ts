// The examples are part of the product: this suite keeps them true. Every YAML document under
// examples/ (recursively) is sent to the real kube-apiserver as a server-side dry-run create with
// strict field validation, after installCrds(), so a field the CRDs (or Kubernetes) do not know, a
// value their OpenAPI/CEL rules reject, or a deprecated API fails here with the server's message.
// Namespaced documents go to fresh namespaces standing in for the ones the files name, and
// cluster-scoped ones get a per-run name suffix, so nothing collides with other suites and, being
// dry runs, nothing is left behind (no operator ever sees these jobs). examples/argocd/ holds Argo
// CD's kinds, which this cluster does not serve: those files are only parsed and checked; examples/pipelines/
// is left to test/cli/pipelines.test.ts.
//
// Without a cluster it also checks what the API server cannot: that the examples cover the cases
// users look for (removing one fails a named case), that Secrets hold only placeholders, that each
// ComputeProvider's spec.options are keys its adapter reads, with the types it expects, and that
// docs/api-reference.md is what scripts/gen-api-reference.ts generates from crds/ today.
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { load, loadAll } from 'js-yaml';
import { typedOptions } from '../operator/src/providers/factory.js';
import { AKASH_DEFAULTS } from '../operator/src/providers/akash/adapter.js';
import { CHUTES_DEFAULTS } from '../operator/src/providers/bittensor/adapter.js';
import { RENDER_DEFAULTS } from '../operator/src/providers/render/adapter.js';
import { nosanaOptions } from '../operator/src/providers/nosana/adapter.js';
import { loadCrds, referencePath, renderApiReference } from '../scripts/gen-api-reference.js';
import { apiErrorMessage, installCrds } from './support/crds.js';
import { clients, freshNamespace, repoRoot, type Clients } from './support/testbed.js';

// Documents are plain parsed YAML; the checks below read them loosely on purpose.
type Obj = Record<string, any>;

interface Doc {
  /** Path relative to examples/, with forward slashes. */
  file: string;
  index: number;
  obj: Obj;
}

const examplesDir = path.join(repoRoot, 'examples');

function walk(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((f) => {
      const p = path.join(dir, f);
      return statSync(p).isDirectory() ? walk(p) : [p];
    });
}

const allFiles = walk(examplesDir).map((p) => path.relative(examplesDir, p).split(path.sep).join('/'));
// examples/pipelines/ holds CI files (GitHub Actions, GitLab CI, an Argo WorkflowTemplate) that are
// not Kubernetes documents one by one: test/cli/pipelines.test.ts checks them with their own parsers.
const yamlFiles = allFiles.filter((f) => /\.ya?ml$/.test(f) && !f.startsWith('pipelines/'));
const isArgo = (file: string) => file.startsWith('argocd/');
const docsOf = (file: string): Doc[] =>
  (loadAll(readFileSync(path.join(examplesDir, file), 'utf8')) as (Obj | null)[])
    .map((obj, index) => ({ file, index, obj: obj as Obj }))
    .filter((d) => d.obj !== null && d.obj !== undefined);
const docs: Doc[] = yamlFiles.flatMap(docsOf);
const kubeDocs = docs.filter((d) => !isArgo(d.file));

const kindIs = (kind: string) => (d: Doc) => d.obj.kind === kind;
const isJob = kindIs('RenderJob');
const isProvider = kindIs('ComputeProvider');
const jobs = docs.filter(isJob);
const providers = docs.filter(isProvider);
const where = (d: Doc) => `examples/${d.file}#${d.index} (${d.obj.kind} ${d.obj.metadata?.name})`;

/** The Secret document in the same file that a ComputeProvider's credentials reference points at, with the key present. */
function secretFor(p: Doc): Doc | undefined {
  const ref = p.obj.spec?.type === 'subnet' ? p.obj.spec?.subnet?.kubeconfigSecretRef : p.obj.spec?.credentialsSecretRef;
  if (!ref) return undefined;
  return docs.find((d) => d.file === p.file && d.obj.kind === 'Secret' && d.obj.metadata?.name === ref.name &&
    d.obj.metadata?.namespace === ref.namespace && (ref.key in (d.obj.stringData ?? {}) || ref.key in (d.obj.data ?? {})));
}

const envNames = (j: Doc): string[] => (j.obj.spec?.template?.env ?? []).map((e: Obj) => e.name);
const policy = (j: Doc): string => j.obj.spec?.placement?.policy ?? 'LocalOnly';
const inSubnetwork = (d: Doc) => d.file.startsWith('private-subnetwork/');
const subnetProvider = (d: Doc) => isProvider(d) && d.obj.spec?.type === 'subnet';

describe('examples/ without a cluster', () => {
  test('there are examples, and every YAML file parses into documents with apiVersion, kind and name', () => {
    expect(yamlFiles.length).toBeGreaterThanOrEqual(10);
    for (const f of yamlFiles) {
      const ds = docs.filter((d) => d.file === f);
      expect({ file: f, empty: ds.length === 0 }).toEqual({ file: f, empty: false });
      for (const d of ds) expect({ at: where(d), ok: !!(d.obj.apiVersion && d.obj.kind && d.obj.metadata?.name) }).toEqual({ at: where(d), ok: true });
    }
  });

  test('every YAML file starts with a comment saying what it shows', () => {
    const bare = yamlFiles.filter((f) => !/^#\s*\S/.test(readFileSync(path.join(examplesDir, f), 'utf8')));
    expect(bare).toEqual([]);
  });

  test('top-level renderjob-*.yaml files hold exactly one RenderJob (test/crds.test.ts loads each as one document)', () => {
    const files = yamlFiles.filter((f) => /^renderjob-[^/]*\.yaml$/.test(f));
    expect(files.length).toBeGreaterThanOrEqual(5);
    for (const f of files) {
      expect(() => load(readFileSync(path.join(examplesDir, f), 'utf8'))).not.toThrow();
      expect({ file: f, kinds: docs.filter((d) => d.file === f).map((d) => d.obj.kind) }).toEqual({ file: f, kinds: ['RenderJob'] });
    }
  });

  // Each case names what a user looks for in examples/; an example removed or broken later fails its case.
  const cases: [string, (d: Doc) => boolean][] = [
    ['a Stable Diffusion prompt batch (shards.count, env PROMPT)', (d) => isJob(d) && d.obj.spec.shards?.count !== undefined && envNames(d).includes('PROMPT')],
    ['a Blender frame range (shards.frames)', (d) => isJob(d) && d.obj.spec.shards?.frames !== undefined && /blender/i.test(`${d.obj.spec.template.image} ${(d.obj.spec.template.command ?? []).join(' ')}`)],
    ['a NeRF training sweep', (d) => isJob(d) && d.obj.spec.shards?.count > 1 && /nerf/i.test(`${d.obj.metadata.name} ${d.obj.spec.template.image}`)],
    ['a LocalOnly job (placement.policy set explicitly)', (d) => isJob(d) && d.obj.spec.placement?.policy === 'LocalOnly'],
    ['a Burst job', (d) => isJob(d) && policy(d) === 'Burst'],
    ['a ProviderOnly job', (d) => isJob(d) && policy(d) === 'ProviderOnly'],
    ['a job with a deadline and on-chain settlement', (d) => isJob(d) && !!d.obj.spec.deadline && d.obj.spec.settlement?.enabled === true],
    ['a Burst job settled on-chain with spot checks (settled-burst.yaml)', (d) => d.file === 'settled-burst.yaml' && isJob(d) && policy(d) === 'Burst' &&
      d.obj.spec.settlement?.enabled === true && d.obj.spec.verification?.spotCheckFraction > 0 && !!d.obj.spec.budget?.maxCost],
    ...(['akash', 'render', 'bittensor', 'subnet'] as const).map((t): [string, (d: Doc) => boolean] => [
      `a ComputeProvider of type ${t} with its Secret in the same file`, (d) => isProvider(d) && d.obj.spec.type === t && secretFor(d) !== undefined,
    ]),
    ['a bittensor ComputeProvider with options chuteId and method', (d) => isProvider(d) && d.obj.spec.type === 'bittensor' && !!d.obj.spec.options?.chuteId && !!d.obj.spec.options?.method],
    ['a subnet ComputeProvider using subnet.kubeconfigSecretRef', (d) => subnetProvider(d) && !!d.obj.spec.subnet?.kubeconfigSecretRef && !d.obj.spec.credentialsSecretRef],
    ['private-subnetwork/: site A ComputeProvider (subnet) with its Secret', (d) => inSubnetwork(d) && subnetProvider(d) && secretFor(d) !== undefined],
    ['private-subnetwork/: site B namespace, the one site A\'s provider submits to', (d) => inSubnetwork(d) && d.obj.kind === 'Namespace' &&
      docs.some((p) => inSubnetwork(p) && subnetProvider(p) && p.obj.spec.subnet.namespace === d.obj.metadata.name)],
    ['private-subnetwork/: a Burst job on site A that may use the subnet provider', (d) => inSubnetwork(d) && isJob(d) && policy(d) === 'Burst' &&
      docs.some((p) => inSubnetwork(p) && subnetProvider(p) && (d.obj.spec.placement.providers ?? [p.obj.metadata.name]).includes(p.obj.metadata.name))],
    ['a RenderBudget per month over a team\'s jobs (selector) and one per week with action Suspend', (d) => d.file === 'renderbudget.yaml' && d.obj.kind === 'RenderBudget' &&
      d.obj.spec.period === 'Month' && !!d.obj.spec.selector?.matchLabels && docs.some((o) => o.file === d.file && o.obj.kind === 'RenderBudget' && o.obj.spec.period === 'Week' && o.obj.spec.action === 'Suspend')],
    ['argocd/: the Argo CD Application installing the chart', (d) => d.file === 'argocd/application.yaml' && d.obj.kind === 'Application' && /^argoproj\.io\//.test(d.obj.apiVersion)],
  ];
  test.each(cases)('covers %s', (_name, matches) => {
    expect(docs.filter(matches).map(where).length).toBeGreaterThan(0);
  });

  test('private-subnetwork/README.md walks through both sites with the test-bed and names every file', () => {
    const readme = readFileSync(path.join(examplesDir, 'private-subnetwork/README.md'), 'utf8');
    expect(readme).toContain('make testbed-up NAME=site-a');
    expect(readme).toContain('make testbed-up NAME=site-b');
    expect(readme).toContain('make testbed-down NAME=site-a');
    for (const f of yamlFiles.filter((x) => x.startsWith('private-subnetwork/'))) expect(readme).toContain(path.basename(f));
  });

  test('Secrets hold only placeholders (REPLACE_ME), never anything that looks like a real credential', () => {
    const secrets = kubeDocs.filter(kindIs('Secret'));
    expect(secrets.length).toBeGreaterThanOrEqual(5);
    const real: string[] = [];
    for (const s of secrets) {
      const values = [
        ...Object.entries(s.obj.stringData ?? {}).map(([k, v]) => [k, String(v)] as const),
        ...Object.entries(s.obj.data ?? {}).map(([k, v]) => [k, Buffer.from(String(v), 'base64').toString('utf8')] as const),
      ];
      for (const [k, v] of values) if (!v.includes('REPLACE_ME')) real.push(`${where(s)} key ${k}`);
    }
    expect(real).toEqual([]);
  });

  test('every ComputeProvider references a Secret defined next to it, and every job\'s providers exist', () => {
    expect(providers.filter((p) => !secretFor(p)).map(where)).toEqual([]);
    const names = new Set(providers.map((p) => p.obj.metadata.name));
    const missing = jobs.flatMap((j) => (j.obj.spec.placement?.providers ?? []).filter((n: string) => !names.has(n)).map((n: string) => `${where(j)} -> ${n}`));
    expect(missing).toEqual([]);
  });

  test('a settled job names only providers with a spec.payoutAddress (it never bursts to one without)', () => {
    const payout = new Map(providers.map((p) => [p.obj.metadata.name, p.obj.spec.payoutAddress as string | undefined]));
    const settled = jobs.filter((j) => j.obj.spec.settlement?.enabled === true);
    expect(settled.length).toBeGreaterThanOrEqual(2);
    const unpaid = settled.flatMap((j) => (j.obj.spec.placement?.providers ?? []).filter((n: string) => !/^0x[0-9a-fA-F]{40}$/.test(payout.get(n) ?? '')).map((n: string) => `${where(j)} -> ${n}`));
    expect(unpaid).toEqual([]);
  });

  // spec.options is a map of strings (the CRD keeps it uniform); the operator converts it with
  // typedOptions() and hands it to the adapter, which spreads it over its defaults. A key the
  // adapter does not have, or a value of the wrong type after conversion, is silently useless or
  // worse, so each example's options must come out as keys of the adapter's defaults with the same types.
  test('ComputeProvider options are keys the adapter reads, with the types it expects', () => {
    const defaults: Record<string, Obj> = { akash: AKASH_DEFAULTS, render: RENDER_DEFAULTS, bittensor: CHUTES_DEFAULTS };
    const decimal = /^[0-9]+(\.[0-9]{1,6})?$/;
    const problems: string[] = [];
    for (const p of providers) {
      const { type, options = {}, gpuModels = [] } = p.obj.spec;
      for (const [k, v] of Object.entries(options as Record<string, string>)) {
        if ((k === 'pricePerGpuHour' || k.startsWith('price.')) && !decimal.test(v)) problems.push(`${where(p)}: options.${k} "${v}" is not a decimal USD amount`);
      }
      if (type === 'subnet') {
        // The subnet adapter reads only the peer's price from options (controllers/computeprovider/kube.ts).
        for (const k of Object.keys(options)) if (k !== 'pricePerGpuHour') problems.push(`${where(p)}: options.${k} is not read for type subnet`);
        continue;
      }
      // Nosana and Vast.ai parse their string options themselves (nosanaOptions, vastOptions).
      const networkKeys: Record<string, RegExp> = { nosana: /^(market\.|price\.|pricePerGpuHour$|timeoutMinutes$)/, vastai: /^(gpuName\.|diskGb$|searchLimit$|logTail$|logAttempts$|logWaitMs$)/ };
      if (networkKeys[type]) {
        for (const k of Object.keys(options)) if (!networkKeys[type].test(k)) problems.push(`${where(p)}: options.${k} is not an option of the ${type} adapter`);
        const n = nosanaOptions(typedOptions(options, gpuModels));
        if (type === 'nosana') for (const m of gpuModels) if (!n.markets[m] || n.prices[m] === undefined) problems.push(`${where(p)}: nosana needs options.market.${m} and a price for it`);
        continue;
      }
      const d = defaults[type];
      if (!d) continue;
      for (const [k, v] of Object.entries(typedOptions(options, gpuModels))) {
        if (!(k in d)) problems.push(`${where(p)}: options.${k} is not an option of the ${type} adapter`);
        else if (typeof v !== typeof d[k]) problems.push(`${where(p)}: options.${k} becomes a ${typeof v}; the ${type} adapter expects a ${typeof d[k]}`);
        else if (typeof v === 'number' && !Number.isFinite(v)) problems.push(`${where(p)}: options.${k} is not a number`);
      }
      if (type === 'render' && !Object.keys(options).some((k) => k === 'pricePerGpuHour' || k.startsWith('price.'))) {
        problems.push(`${where(p)}: Render publishes no prices; set options.pricePerGpuHour or price.<model>`);
      }
      if (type === 'bittensor' && !(options.chuteId && options.method)) problems.push(`${where(p)}: bittensor needs options.chuteId and options.method`);
    }
    expect(problems).toEqual([]);
  });

  test('argocd/ holds only Argo CD kinds (checked by parsing; this cluster does not serve them) pointing at this repository\'s chart', () => {
    const argo = docs.filter((d) => isArgo(d.file));
    expect(argo.length).toBeGreaterThan(0);
    for (const d of argo) {
      expect(d.obj.apiVersion).toMatch(/^argoproj\.io\//);
      if (d.obj.kind === 'Application') {
        expect(d.obj.spec?.destination).toBeDefined();
        expect(existsSync(path.join(repoRoot, d.obj.spec.source.path, 'Chart.yaml'))).toBe(true);
      }
    }
  });
});

describe('docs/api-reference.md', () => {
  test('is current with crds/*.yaml', () => {
    const expected = renderApiReference(loadCrds());
    const actual = existsSync(referencePath) ? readFileSync(referencePath, 'utf8') : '';
    if (actual !== expected) {
      const a = actual.split('\n'), e = expected.split('\n');
      const i = e.findIndex((l, n) => l !== a[n]);
      const line = i === -1 ? e.length : i;
      throw new Error(`docs/api-reference.md is out of date with crds/*.yaml: run node scripts/gen-api-reference.ts\n` +
        `first difference at line ${line + 1}:\n  generated: ${e[line] ?? '<end>'}\n  committed: ${a[line] ?? '<end>'}`);
    }
  });
});

describe('examples/ against the API server', () => {
  let c: Clients;
  const suffix = Math.random().toString(36).slice(2, 7);
  /** Namespace named in the examples -> fresh namespace standing in for it. */
  const namespaces = new Map<string, string>();
  /** apiVersion -> kind -> resource, from discovery. */
  const discovered = new Map<string, Map<string, { plural: string; namespaced: boolean }>>();

  beforeAll(async () => {
    c = clients();
    await installCrds();
    const named = new Set(kubeDocs.map((d) => d.obj.metadata?.namespace).filter((n): n is string => !!n));
    for (const n of [...named].sort()) namespaces.set(n, await freshNamespace(c, `ex-${n}`.slice(0, 40)));
  });

  afterAll(async () => {
    for (const ns of namespaces.values()) await c.core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  async function resourceFor(apiVersion: string, kind: string): Promise<{ plural: string; namespaced: boolean }> {
    let kinds = discovered.get(apiVersion);
    if (!kinds) {
      const list = JSON.parse((await request('GET', apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`)).body) as k8s.V1APIResourceList;
      kinds = new Map(list.resources.filter((r) => !r.name.includes('/')).map((r) => [r.kind, { plural: r.name, namespaced: r.namespaced }]));
      discovered.set(apiVersion, kinds);
    }
    const r = kinds.get(kind);
    if (!r) throw new Error(`the API server does not serve ${kind} in ${apiVersion}`);
    return r;
  }

  /** One raw request: JSON in and out, so no client model drops a field before the server can judge it. */
  async function request(method: string, apiPath: string, obj?: unknown): Promise<{ code: number; body: string; warnings: string[] }> {
    const server = c.kc.getCurrentCluster()!.server;
    const body = obj === undefined ? undefined : JSON.stringify(obj);
    const opts: https.RequestOptions = {
      method,
      headers: { Accept: 'application/json', ...(body ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } : {}) },
    };
    await c.kc.applyToHTTPSOptions(opts);
    return new Promise((resolve, reject) => {
      const req = https.request(new URL(apiPath, server), opts, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          const w = res.headers.warning;
          resolve({ code: res.statusCode ?? 0, body: text, warnings: w === undefined ? [] : Array.isArray(w) ? w : [w] });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  const kubeFiles = yamlFiles.filter((f) => !isArgo(f));
  test.each(kubeFiles)('examples/%s: every document is accepted (server-side dry run, strict fields)', async (file) => {
    const fileDocs = docsOf(file);
    expect(fileDocs.length).toBeGreaterThan(0);
    const outcomes: Obj[] = [];
    for (const d of fileDocs) {
      const obj = structuredClone(d.obj);
      const { plural, namespaced } = await resourceFor(obj.apiVersion, obj.kind);
      const base = obj.apiVersion.includes('/') ? `/apis/${obj.apiVersion}` : `/api/${obj.apiVersion}`;
      let url: string;
      if (namespaced) {
        const ns = namespaces.get(obj.metadata.namespace);
        if (!ns) throw new Error(`${where(d)}: namespaced ${obj.kind} without metadata.namespace; examples name their namespace`);
        obj.metadata.namespace = ns;
        url = `${base}/namespaces/${ns}/${plural}`;
      } else {
        obj.metadata.name = `${obj.metadata.name}-${suffix}`;
        url = `${base}/${plural}`;
      }
      const r = await request('POST', `${url}?dryRun=All&fieldValidation=Strict`, obj);
      const outcome: Obj = { document: where(d), code: r.code, message: r.code >= 300 ? apiErrorMessage({ body: r.body }) : '', warnings: r.warnings };
      if (r.code === 201 && obj.kind === 'RenderJob') {
        // The API server filled in the defaults, so the job is complete as the operator will see it.
        const created = JSON.parse(r.body) as Obj;
        outcome.defaulted = !!created.spec?.placement?.policy && created.spec?.shards?.maxRetries !== undefined;
      }
      outcomes.push(outcome);
    }
    expect(outcomes).toEqual(fileDocs.map((d) => ({
      document: where(d), code: 201, message: '', warnings: [], ...(d.obj.kind === 'RenderJob' ? { defaulted: true } : {}),
    })));
  });
});
