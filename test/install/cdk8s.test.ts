// What cdk8s/ synthesizes, handed to the real API server: the TypeScript example's RenderJobs are
// created for real (the CRD's OpenAPI schema and CEL rules accept them and fill in defaults), a
// RenderJob the construct would refuse is also refused by the API server (the two agree), and the
// cdk8s installation passes a server-side dry run just as the chart's output does. `cdk8s synth` (the
// cdk8s-cli, as users run it, with cdk8s.yaml) writes exactly the objects synthInstall() and
// synthExampleJobs() return, object by object (cdk8s/install.test.ts compares those with the chart).
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dump, loadAll } from 'js-yaml';
import { synthInstall } from '../../cdk8s/install.js';
import { synthExampleJobs } from '../../cdk8s/example-job.js';
import { GROUP, RENDER_JOB_PLURAL, VERSION, type RenderJob } from '../../operator/src/api/index.js';
import { apiErrorMessage, installCrds } from '../support/crds.js';
import { clients, freshNamespace, repoRoot, type Clients } from '../support/testbed.js';
import { kubectl, runOk } from './tools.js';

let c: Clients;
let ns: string;
const suffix = Math.random().toString(36).slice(2, 7);

beforeAll(async () => {
  c = clients();
  await installCrds();
  ns = await freshNamespace(c, 'cdk8s');
});

afterAll(async () => {
  if (ns) await c.core.deleteNamespace({ name: ns }).catch(() => undefined);
});

test('the example RenderJobs are created by the API server, defaults filled in', async () => {
  const jobs = synthExampleJobs(ns);
  expect(jobs.length).toBeGreaterThan(0);
  for (const body of jobs) {
    await c.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: RENDER_JOB_PLURAL, namespace: ns, body });
  }
  for (const want of jobs) {
    const got = (await c.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: RENDER_JOB_PLURAL, namespace: ns, name: want.metadata.name })) as RenderJob;
    expect(got.metadata.uid).toBeTruthy();
    expect(got.spec).toMatchObject(want.spec);
    expect(got.spec.suspend).toBe(false); // a CRD default the example does not set
  }
});

test('a spec the construct refuses is refused by the API server too', async () => {
  const [job] = synthExampleJobs(ns);
  const body = structuredClone(job!);
  body.metadata.name = `both-${suffix}`;
  body.spec.shards.count = 10; // frames and count together
  const err = await c.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: RENDER_JOB_PLURAL, namespace: ns, body }).then(() => undefined, (e: unknown) => e);
  expect(err).toBeDefined();
  expect(apiErrorMessage(err)).toMatch(/count|frames/);
});

test('the cdk8s installation passes a server-side dry run', async () => {
  const objs = synthInstall({ name: `atelier-cdk8s-${suffix}`, namespace: ns, watchNamespaces: [ns] });
  const yaml = objs.map((o) => `---\n${dump(o, { noRefs: true })}`).join('');
  const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], yaml);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout.trim().split('\n')).toHaveLength(objs.length);
  expect(r.stdout).toMatch(new RegExp(`deployment\\.apps/atelier-cdk8s-${suffix} created \\(server dry run\\)`));
});

test('cdk8s synth (the CLI, with cdk8s.yaml) writes the installation and the example jobs, object by object', async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'atelier-cdk8s-synth-'));
  try {
    await runOk(path.join(repoRoot, 'node_modules/.bin/cdk8s'), ['synth', '--output', out]);
    expect(readdirSync(out).sort()).toEqual(['atelier.k8s.yaml', 'flythrough.k8s.yaml']);
    const read = (f: string) => (loadAll(readFileSync(path.join(out, f), 'utf8')) as object[]).filter(Boolean);
    const key = (o: Record<string, any>) => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;
    const byKey = (objs: Record<string, any>[]) => new Map(objs.map((o) => [key(o), o]));
    for (const [file, want] of [['atelier.k8s.yaml', synthInstall()], ['flythrough.k8s.yaml', synthExampleJobs('studio')]] as const) {
      const got = byKey(read(file) as Record<string, any>[]);
      expect([...got.keys()].sort()).toEqual([...byKey(want).keys()].sort());
      for (const [k, o] of byKey(want)) expect({ object: k, manifest: got.get(k) }).toEqual({ object: k, manifest: o });
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, 120_000);
