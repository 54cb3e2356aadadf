// Keeps the cdk8s installation (install.ts) and the Helm chart (charts/atelier) the same install:
// renders the chart with its default values through the real helm binary and compares it with
// synthInstall() field by field where it matters: the same (kind, namespace, name) set, identical
// RBAC rules and bindings, and an operator container with identical args, env, ports, probes,
// resources, mounts and security settings. Labels differ on purpose (managed-by Helm vs cdk8s).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadAll } from 'js-yaml';
import { synthInstall, type InstallOptions } from './install.js';

type Obj = Record<string, any>;
const repo = path.resolve(import.meta.dirname, '..');
const helm = path.join(process.env.ATELIER_CACHE || path.join(os.homedir(), '.cache', 'atelier'), 'bin', 'current', 'helm');

function helmTemplate(args: string[] = []): Obj[] {
  if (!existsSync(helm)) throw new Error(`helm not found at ${helm}: run \`make binaries\` (test/testbed/build-binaries.sh)`);
  const out = execFileSync(helm, ['template', 'atelier', path.join(repo, 'charts/atelier'), '--namespace', 'atelier-system', ...args], { encoding: 'utf8' });
  return (loadAll(out) as Obj[]).filter((o) => o && typeof o === 'object');
}

const key = (o: Obj) => `${o.kind} ${o.metadata.namespace ?? '-'}/${o.metadata.name}`;
const find = (objs: Obj[], kind: string, name: string) => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} in [${objs.map(key).join(', ')}]`);
  return o;
};

/** A rule list as sorted "group resource[/name] verb" lines, so grouping and order do not matter. */
function permissions(rules: Obj[]): string[] {
  const out = new Set<string>();
  for (const r of rules) {
    for (const g of r.apiGroups ?? []) for (const res of r.resources ?? []) for (const v of r.verbs ?? []) {
      const names: string[] = r.resourceNames?.length ? r.resourceNames : ['*'];
      for (const n of names) out.add(`${g || 'core'} ${res} ${n} ${v}`);
    }
  }
  return [...out].sort();
}

const subjects = (b: Obj) => (b.subjects as Obj[]).map((s) => `${s.kind} ${s.namespace}/${s.name}`).sort();
const withDefaultScheme = (p: Obj) => ({ ...p, httpGet: { scheme: 'HTTP', ...p.httpGet } });
const envOf = (c: Obj) => Object.fromEntries((c.env as Obj[]).map((e) => [e.name, e.value ?? e.valueFrom]));

function compare(helmObjs: Obj[], cdkObjs: Obj[]): void {
  expect(cdkObjs.map(key).sort()).toEqual(helmObjs.map(key).sort());

  for (const kind of ['ClusterRole', 'Role']) {
    for (const h of helmObjs.filter((o) => o.kind === kind)) {
      expect({ name: h.metadata.name, rules: permissions(find(cdkObjs, kind, h.metadata.name).rules) }).toEqual({ name: h.metadata.name, rules: permissions(h.rules) });
    }
  }
  for (const kind of ['ClusterRoleBinding', 'RoleBinding']) {
    for (const h of helmObjs.filter((o) => o.kind === kind)) {
      const c = cdkObjs.find((x) => key(x) === key(h))!;
      expect(c.roleRef).toEqual(h.roleRef);
      expect(subjects(c)).toEqual(subjects(h));
    }
  }

  const hd = find(helmObjs, 'Deployment', 'atelier').spec;
  const cd = find(cdkObjs, 'Deployment', 'atelier').spec;
  expect(cd.replicas).toBe(hd.replicas);
  expect(cd.selector).toEqual(hd.selector);
  expect(cd.strategy).toEqual(hd.strategy);
  for (const f of ['serviceAccountName', 'automountServiceAccountToken', 'enableServiceLinks', 'terminationGracePeriodSeconds', 'securityContext', 'volumes', 'affinity']) {
    expect({ [f]: cd.template.spec[f] }).toEqual({ [f]: hd.template.spec[f] });
  }
  expect(cd.template.metadata.labels).toEqual(expect.objectContaining(hd.selector.matchLabels));
  const [hc] = hd.template.spec.containers as Obj[];
  const [cc] = cd.template.spec.containers as Obj[];
  expect(cd.template.spec.containers).toHaveLength(1);
  for (const f of ['name', 'image', 'imagePullPolicy', 'args', 'ports', 'resources', 'securityContext', 'volumeMounts']) {
    expect({ [f]: cc[f] }).toEqual({ [f]: hc[f] });
  }
  expect(envOf(cc)).toEqual(envOf(hc));
  expect(withDefaultScheme(cc.livenessProbe)).toEqual(withDefaultScheme(hc.livenessProbe));
  expect(withDefaultScheme(cc.readinessProbe)).toEqual(withDefaultScheme(hc.readinessProbe));

  const hs = find(helmObjs, 'Service', 'atelier-metrics').spec;
  const cs = find(cdkObjs, 'Service', 'atelier-metrics').spec;
  expect({ type: cs.type, selector: cs.selector, ports: cs.ports }).toEqual({ type: hs.type, selector: hs.selector, ports: hs.ports });
  expect(find(cdkObjs, 'PodDisruptionBudget', 'atelier').spec).toEqual(find(helmObjs, 'PodDisruptionBudget', 'atelier').spec);
}

describe('cdk8s install vs helm template', () => {
  test('default values: same objects, RBAC, and operator container', () => {
    compare(helmTemplate(), synthInstall());
  });

  test('watchNamespaces: job permissions move to per-namespace RoleBindings in both', () => {
    const opts: InstallOptions = { watchNamespaces: ['studio', 'renders'] };
    const h = helmTemplate(['--set', 'watchNamespaces={studio,renders}']);
    const c = synthInstall(opts);
    compare(h, c);
    expect(c.map(key)).toEqual(expect.arrayContaining(['RoleBinding studio/atelier-jobs', 'RoleBinding renders/atelier-jobs', 'ClusterRole -/atelier-jobs']));
    // Pods stay readable everywhere (GPU capacity) but are created and deleted only where jobs run.
    const clusterWide = permissions(find(c, 'ClusterRole', 'atelier').rules);
    expect(clusterWide).toEqual(expect.arrayContaining(['core pods * list', 'core pods * watch']));
    expect(clusterWide.filter((p) => / (renderjobs|rendershards)/.test(p) || p === 'core pods * create')).toEqual([]);
  });

  test('operator.payoutKeySecret: the same --payout-key-secret flags in both', () => {
    const h = helmTemplate(['--set', 'operator.payoutKeySecret.name=payout', '--set', 'operator.payoutKeySecret.key=key.hex']);
    const c = synthInstall({ payoutKeySecret: { name: 'payout', key: 'key.hex' } });
    compare(h, c);
    expect(find(c, 'Deployment', 'atelier').spec.template.spec.containers[0].args).toEqual(expect.arrayContaining(['--payout-key-secret=atelier-system/payout', '--payout-key-secret-key=key.hex']));
    compare(helmTemplate(['--set', 'operator.payoutKeySecret.name=payout']), synthInstall({ payoutKeySecret: { name: 'payout' } }));
  });

  test('the security settings the issue asks for are present', () => {
    const d = find(synthInstall(), 'Deployment', 'atelier').spec.template.spec;
    expect(d.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(d.containers[0].securityContext).toMatchObject({
      runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(d.containers[0].env).toEqual(expect.arrayContaining([
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    ]));
  });
});
