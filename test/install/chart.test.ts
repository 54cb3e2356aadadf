// The Helm chart (charts/atelier) against the real test-bed: it lints; its rendered output, with
// default values and with every optional feature on, is accepted by the API server (server-side dry
// run, after the CRDs exist); `helm install` creates the operator's objects with the security
// settings the issue asks for, and the RBAC it grants is what the operator needs and no more, as the
// real authorizer answers it; `helm upgrade` rolls values through; values.schema.json rejects bad
// values with a message naming the field; the chart's CRDs are byte-identical to crds/; the Grafana
// dashboard charts every metric the operator exports. The Deployment's pods never really run (there
// is no image), so the suite asserts the objects, not the operator.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dump, loadAll } from 'js-yaml';
import { installCrds } from '../support/crds.js';
import { clients, freshNamespace, repoRoot, waitFor, type Clients } from '../support/testbed.js';
import { chartDir, helm, helmOk, kubectl, kubectlOk, run } from './tools.js';

type Obj = Record<string, any>;
let c: Clients;
const suffix = Math.random().toString(36).slice(2, 7);
const namespaces: string[] = [];
const releases: [string, string][] = [];

/** Values turning on every optional template, for namespaces that exist in the cluster. */
function fullValues(watch: string[]): Obj {
  return {
    watchNamespaces: watch,
    serviceMonitor: { enabled: true, labels: { release: 'prometheus' } },
    networkPolicy: {
      enabled: true,
      metricsFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
      egress: [{ ports: [{ port: 443, protocol: 'TCP' }, { port: 6443, protocol: 'TCP' }] }],
    },
    grafanaDashboard: { enabled: true, annotations: { grafana_folder: 'Atelier' } },
    providers: [
      { name: `akash-${suffix}`, spec: { type: 'akash', endpoint: 'https://console-api.akash.network', gpuModels: ['nvidia-h100'], maxPricePerGpuHour: '3.00' }, credentials: { value: 'not-a-real-key', key: 'apiKey' } },
      { name: `studio-b-${suffix}`, spec: { type: 'subnet', subnet: { namespace: 'shared-renders' } }, credentials: { existingSecret: 'studio-b-kubeconfig', key: 'kubeconfig' } },
    ],
    settlement: {
      enabled: true,
      rpcUrl: 'http://127.0.0.1:8545',
      chainId: 31337,
      escrowAddress: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
      tokenAddress: '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512',
      walletSecretRef: { name: 'atelier-wallet', key: 'privateKey' },
    },
  };
}

function valuesFile(values: Obj): string {
  const file = path.join(os.tmpdir(), `atelier-values-${suffix}-${Math.random().toString(36).slice(2, 6)}.yaml`);
  writeFileSync(file, dump(values));
  return file;
}

const docs = (yaml: string) => (loadAll(yaml) as Obj[]).filter((o) => o && typeof o === 'object');

// A stand-in for prometheus-operator's CRD, so the optional ServiceMonitor can be dry-run too.
const serviceMonitorCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'servicemonitors.monitoring.coreos.com' },
  spec: {
    group: 'monitoring.coreos.com',
    scope: 'Namespaced',
    names: { kind: 'ServiceMonitor', listKind: 'ServiceMonitorList', plural: 'servicemonitors', singular: 'servicemonitor' },
    versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
  },
};

beforeAll(async () => {
  c = clients();
  await installCrds();
  await kubectlOk(['apply', '--server-side', '--field-manager=atelier-tests', '-f', '-'], JSON.stringify(serviceMonitorCrd));
  await kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', 'crd/servicemonitors.monitoring.coreos.com']);
});

afterAll(async () => {
  for (const [rel, ns] of releases) await helm('uninstall', rel, '--namespace', ns, '--wait');
  for (const ns of namespaces) await c.core.deleteNamespace({ name: ns }).catch(() => undefined);
});

async function namespace(prefix: string): Promise<string> {
  const ns = await freshNamespace(c, prefix);
  namespaces.push(ns);
  return ns;
}

describe('chart files', () => {
  test('the chart CRDs are byte-identical to crds/ (run charts/atelier/sync-crds.sh after editing a CRD)', async () => {
    const src = readdirSync(path.join(repoRoot, 'crds')).filter((f) => f.endsWith('.yaml')).sort();
    const dst = readdirSync(path.join(chartDir, 'crds')).filter((f) => f.endsWith('.yaml')).sort();
    expect(dst).toEqual(src);
    for (const f of src) {
      const drift = readFileSync(path.join(chartDir, 'crds', f), 'utf8') !== readFileSync(path.join(repoRoot, 'crds', f), 'utf8');
      expect({ file: f, drift }).toEqual({ file: f, drift: false });
    }
    const check = await run('bash', [path.join(chartDir, 'sync-crds.sh'), '--check']);
    expect(check).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  test('helm lint --strict passes with default values and with every option on', async () => {
    const lint = await helm('lint', '--strict', chartDir);
    expect(lint.stderr + lint.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(lint.code).toBe(0);
    const full = await helm('lint', '--strict', chartDir, '-f', valuesFile(fullValues(['studio'])));
    expect(full.code).toBe(0);
  });

  test.each<[string, () => string[], RegExp[]]>([
    ['replicas: "two"', () => ['--set-string', 'replicas=two'], [/\/replicas/, /got string, want integer/]],
    ['an unknown key', () => ['--set', 'replicaCount=2'], [/additional properties 'replicaCount' not allowed/]],
    ['a bad log level', () => ['--set', 'operator.logLevel=verbose'], [/\/operator\/logLevel/]],
    ['a bad escrow address', () => ['--set', 'settlement.escrowAddress=0x12'], [/\/settlement\/escrowAddress/]],
    ['settlement on without its settings', () => ['--set', 'settlement.enabled=true'], [/\/settlement\/rpcUrl/, /\/settlement\/walletSecretRef\/name/]],
    ['provider credentials both existing and created', () => ['-f', valuesFile({ providers: [{ name: 'akash', spec: { type: 'akash' }, credentials: { existingSecret: 'x', value: 'y', key: 'apiKey' } }] })], [/\/providers\/0\/credentials/]],
  ])('values.schema.json rejects %s with a message naming the field', async (_name, args, messages) => {
    const r = await helm('template', 'atelier', chartDir, ...args());
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/values don't meet the specifications of the schema/);
    for (const m of messages) expect(r.stderr).toMatch(m);
  });

  test('the Grafana dashboard is valid JSON and charts every Atelier metric', async () => {
    const dash = JSON.parse(readFileSync(path.join(chartDir, 'dashboards/atelier.json'), 'utf8')) as Obj;
    const exprs = JSON.stringify(dash.panels);
    for (const m of [
      'atelier_api_writes_total', 'atelier_controller_reconcile_total', 'atelier_controller_reconcile_duration_seconds',
      'atelier_workqueue_depth', 'atelier_workqueue_queue_duration_seconds', 'atelier_workqueue_adds_total',
      'atelier_workqueue_retries_total', 'atelier_leader', 'atelier_renderjobs', 'atelier_shards', 'atelier_cost_usd_total',
      'atelier_bursts_total', 'atelier_settlement_transactions_total', 'atelier_verifications_total', 'atelier_settlement_amount_total',
      'atelier_budget_spent_usd', 'atelier_budget_limit_usd',
    ]) expect({ metric: m, charted: exprs.includes(m) }).toEqual({ metric: m, charted: true });
    // Every metric a panel queries is one the operator defines (a renamed metric leaves no panel empty).
    const sources = ['operator/src/metrics', 'operator/src/runtime'].flatMap((dir) => readdirSync(path.join(repoRoot, dir))
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).map((f) => readFileSync(path.join(repoRoot, dir, f), 'utf8'))).join('\n');
    const defined = new Set([...sources.matchAll(/name: '(atelier_[a-z_]+)'/g)].map((x) => x[1]!));
    expect(defined.size).toBeGreaterThan(10);
    const queried = new Set([...exprs.matchAll(/atelier_[a-z_]+/g)].map((x) => x[0]).filter((n) => !n.startsWith('atelier_process_') && !n.startsWith('atelier_nodejs_')));
    expect([...queried].filter((n) => !defined.has(n) && !defined.has(n.replace(/_(bucket|count|sum)$/, '')))).toEqual([]);
    const ids = (dash.panels as Obj[]).map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    // Shipped as a ConfigMap with the sidecar's label, content unchanged.
    const out = docs(await helmOk('template', 'atelier', chartDir, '--set', 'grafanaDashboard.enabled=true'));
    const cm = out.find((o) => o.kind === 'ConfigMap')!;
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
    expect(JSON.parse(cm.data['atelier.json'])).toEqual(dash);
  });

  test('the Argo CD example Application points at this chart and its values pass the schema', async () => {
    const app = docs(readFileSync(path.join(repoRoot, 'examples/argocd/application.yaml'), 'utf8'))[0]!;
    expect(app).toMatchObject({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Application' });
    expect(path.resolve(repoRoot, app.spec.source.path)).toBe(chartDir);
    expect(app.spec.syncPolicy.syncOptions).toContain('ServerSideApply=true');
    const out = docs(await helmOk('template', app.spec.source.helm.releaseName, chartDir, '--namespace', app.spec.destination.namespace, '-f', valuesFile(app.spec.source.helm.valuesObject)));
    expect(out.map((o) => o.kind)).toEqual(expect.arrayContaining(['Deployment', 'ServiceMonitor', 'ConfigMap', 'ComputeProvider']));
  });
});

describe('against the API server', () => {
  test('helm template output (default values) passes a server-side dry run', async () => {
    const ns = await namespace('chart-dry');
    const yaml = await helmOk('template', `atelier-dry-${suffix}`, chartDir, '--namespace', ns);
    const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], yaml);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const kind of ['serviceaccount', 'clusterrole', 'clusterrolebinding', 'role', 'rolebinding', 'deployment', 'service', 'poddisruptionbudget']) {
      expect(r.stdout).toMatch(new RegExp(`^${kind}[./].*atelier-dry-${suffix}.* \\(server dry run\\)$`, 'm'));
    }
  });

  test('helm template output with every option on passes a server-side dry run', async () => {
    const ns = await namespace('chart-full');
    const watched = await namespace('chart-watched');
    const yaml = await helmOk('template', `atelier-full-${suffix}`, chartDir, '--namespace', ns, '-f', valuesFile(fullValues([watched])));
    const kinds = docs(yaml).map((o) => o.kind);
    for (const k of ['ServiceMonitor', 'NetworkPolicy', 'ConfigMap', 'Secret', 'ComputeProvider']) expect(kinds).toContain(k);
    const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], yaml);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/computeprovider\.atelier\.dev\/akash-\w+ created \(server dry run\)/);
    expect(r.stdout).toMatch(new RegExp(`rolebinding\\.rbac\\.authorization\\.k8s\\.io/atelier-full-${suffix}-jobs created \\(server dry run\\)`));
  });

  test('helm install creates the operator, RBAC, Service and PDB; the Deployment carries the security settings', async () => {
    const ns = await namespace('chart-install');
    const rel = `atelier-${suffix}`;
    // The Secret-reference admission policy is cluster-wide (ComputeProviders are cluster-scoped): it
    // is installed here without it, so the other suites' ComputeProviders are not judged against this
    // release's namespace; its own test below applies it to labelled objects only.
    await helmOk('install', rel, chartDir, '--namespace', ns, '--set', 'admissionPolicy.enabled=false');
    releases.push([rel, ns]);

    await c.core.readNamespacedServiceAccount({ name: rel, namespace: ns });
    const svc = await c.core.readNamespacedService({ name: `${rel}-metrics`, namespace: ns });
    expect(svc.spec?.ports).toEqual([expect.objectContaining({ name: 'metrics', port: 8080, targetPort: 'metrics' })]);
    const pdb = docs(await kubectlOk(['get', 'pdb', rel, '-n', ns, '-o', 'yaml']))[0]!;
    expect(pdb.spec.maxUnavailable).toBe(1);
    const cr = docs(await kubectlOk(['get', 'clusterrole', rel, '-o', 'yaml']))[0]!;
    expect(cr.rules.map((r: Obj) => r.resources[0])).toEqual(expect.arrayContaining(['renderjobs/status', 'renderjobs/finalizers', 'rendershards/status', 'computeproviders/status']));
    await kubectlOk(['get', 'clusterrolebinding', rel]);
    await kubectlOk(['get', 'role,rolebinding', rel, '-n', ns]);

    const d = await c.apps.readNamespacedDeployment({ name: rel, namespace: ns });
    expect(d.spec?.replicas).toBe(2);
    const pod = d.spec!.template.spec!;
    expect(pod.serviceAccountName).toBe(rel);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    const ctr = pod.containers[0]!;
    expect(ctr.securityContext).toMatchObject({
      runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false,
      capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(ctr.args).toEqual(expect.arrayContaining(['run', '--leader-elect=true', `--lease-namespace=${ns}`, '--lease-name=atelier-operator', '--metrics-addr=0.0.0.0:8080']));
    expect(ctr.env).toEqual(expect.arrayContaining([
      expect.objectContaining({ name: 'POD_NAMESPACE', valueFrom: expect.objectContaining({ fieldRef: expect.objectContaining({ fieldPath: 'metadata.namespace' }) }) }),
      expect.objectContaining({ name: 'POD_NAME', valueFrom: expect.objectContaining({ fieldRef: expect.objectContaining({ fieldPath: 'metadata.name' }) }) }),
      { name: 'ATELIER_CACHE', value: '/tmp/atelier-cache' },
    ]));
    expect(ctr.ports).toEqual([expect.objectContaining({ name: 'metrics', containerPort: 8080 })]);
    expect(ctr.livenessProbe?.httpGet).toMatchObject({ path: '/healthz', port: 'metrics' });
    expect(ctr.readinessProbe?.httpGet).toMatchObject({ path: '/readyz', port: 'metrics' });
    expect(ctr.resources).toEqual({ requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: '1', memory: '1Gi' } });
    expect(ctr.volumeMounts).toEqual([expect.objectContaining({ name: 'tmp', mountPath: '/tmp' })]);
    // The Deployment controller accepted the pod template (it would report a ReplicaFailure otherwise).
    await waitFor('the Deployment to create its ReplicaSet', async () => {
      const got = await c.apps.readNamespacedDeployment({ name: rel, namespace: ns });
      return (got.status?.observedGeneration ?? 0) >= 1 && !got.status?.conditions?.some((x) => x.type === 'ReplicaFailure' && x.status === 'True');
    });
  });

  test('the installed RBAC grants what the operator does and nothing more (SubjectAccessReview)', async () => {
    const [rel, ns] = releases[0] ?? [];
    if (!rel) throw new Error('the install test did not run');
    const other = await namespace('chart-other');
    const as = `system:serviceaccount:${ns}:${rel}`;
    const can = async (...args: string[]) => (await kubectl(['auth', 'can-i', '--as', as, ...args])).stdout.trim();
    const allowed: string[][] = [
      ['create', 'pods', '-n', other], ['delete', 'pods', '-n', other], ['patch', 'pods', '-n', other], ['watch', 'pods', '-n', other], ['list', 'pods', '--all-namespaces'],
      ['patch', 'renderjobs.atelier.dev', '-n', other], ['patch', 'renderjobs.atelier.dev', '--subresource=status', '-n', other],
      ['update', 'renderjobs.atelier.dev', '--subresource=finalizers', '-n', other],
      ['create', 'rendershards.atelier.dev', '-n', other], ['deletecollection', 'rendershards.atelier.dev', '-n', other],
      ['patch', 'rendershards.atelier.dev', '--subresource=status', '-n', other],
      ['list', 'computeproviders.atelier.dev'], ['patch', 'computeproviders.atelier.dev', '--subresource=status'],
      ['list', 'nodes'], ['get', 'secrets', '-n', ns], ['create', 'events', '-n', other], ['patch', 'events', '-n', 'default'],
      ['create', 'leases.coordination.k8s.io', '-n', ns], ['update', 'leases.coordination.k8s.io/atelier-operator', '-n', ns],
    ];
    const denied: string[][] = [
      // Secrets only in its own namespace: no ComputeProvider can make it read another namespace's.
      ['get', 'secrets', '-n', other], ['get', 'secrets', '-n', 'kube-system'], ['list', 'secrets', '-n', ns],
      ['list', 'secrets', '-n', other], ['watch', 'secrets', '-n', other], ['update', 'pods', '-n', other], ['get', 'pods/exec', '-n', other],
      ['update', 'rendershards.atelier.dev', '-n', other], ['create', 'renderjobs.atelier.dev', '-n', other],
      ['delete', 'renderjobs.atelier.dev', '-n', other], ['update', 'computeproviders.atelier.dev'],
      ['patch', 'nodes'], ['create', 'leases.coordination.k8s.io', '-n', other],
      ['update', 'leases.coordination.k8s.io/someone-else', '-n', ns], ['create', 'deployments.apps', '-n', ns],
    ];
    const got = await Promise.all([...allowed, ...denied].map(async (a) => `${a.join(' ')} -> ${await can(...a)}`));
    expect(got).toEqual([...allowed.map((a) => `${a.join(' ')} -> yes`), ...denied.map((a) => `${a.join(' ')} -> no`)]);
  });

  test('a ComputeProvider naming Secrets in kube-system is refused at apply time with a message saying where they belong', async () => {
    const ns = 'atelier-system';
    const tag = `policy-${suffix}`;
    // The chart's policy as rendered, its binding narrowed to objects labelled for this test.
    const rendered = docs(await helmOk('template', `vap-${suffix}`, chartDir, '--namespace', ns, '--show-only', 'templates/secretrefpolicy.yaml'));
    const binding = rendered.find((o) => o.kind === 'ValidatingAdmissionPolicyBinding')!;
    binding.spec.matchResources = { objectSelector: { matchLabels: { 'atelier.dev/test': tag } } };
    const file = path.join(os.tmpdir(), `${tag}.yaml`);
    writeFileSync(file, rendered.map((o) => dump(o)).join('---\n'));
    await kubectlOk(['apply', '-f', file]);
    const cp = (secretNs: string, subnet: boolean) => ({
      apiVersion: 'atelier.dev/v1alpha1', kind: 'ComputeProvider', metadata: { name: `steal-${suffix}`, labels: { 'atelier.dev/test': tag } },
      spec: subnet
        ? { type: 'subnet', subnet: { kubeconfigSecretRef: { namespace: secretNs, name: 'bootstrap-token-abcdef', key: 'token-secret' }, namespace: 'x' } }
        : { type: 'render', endpoint: 'https://api.example.invalid', credentialsSecretRef: { namespace: secretNs, name: 'bootstrap-token-abcdef', key: 'token-secret' } },
    });
    const apply = (o: Obj) => c.custom.createClusterCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'computeproviders', body: o, dryRun: 'All' }).then(() => 'accepted', (e: unknown) => String((e as { body?: unknown }).body ?? e));
    try {
      // A policy takes a moment to be enforced after it is created.
      const refused = await waitFor('the policy to refuse kube-system', async () => { const r = await apply(cp('kube-system', false)); return r === 'accepted' ? undefined : r; }, 30_000, 500);
      expect(refused).toContain(`spec.credentialsSecretRef.namespace must be ${ns}: Atelier reads Secrets only from its own namespace`);
      expect(await apply(cp('kube-system', true))).toContain(`spec.subnet.kubeconfigSecretRef.namespace must be ${ns}`);
      expect(await apply(cp(ns, false))).toBe('accepted');
      expect(await apply(cp(ns, true))).toBe('accepted');
    } finally {
      await kubectl(['delete', '-f', file, '--ignore-not-found']);
    }
  });

  test('helm upgrade rolls new values through', async () => {
    const [rel, ns] = releases[0] ?? [];
    if (!rel) throw new Error('the install test did not run');
    await helmOk('upgrade', rel, chartDir, '--namespace', ns, '--reuse-values', '--set', 'replicas=3', '--set', 'operator.logLevel=debug');
    const d = await c.apps.readNamespacedDeployment({ name: rel, namespace: ns });
    expect(d.spec?.replicas).toBe(3);
    expect(d.spec?.template.spec?.containers[0]?.args).toContain('--log-level=debug');
    const bad = await helm('upgrade', rel, chartDir, '--namespace', ns, '--reuse-values', '--set-string', 'replicas=two');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/\/replicas.*want integer/);
  });
});
