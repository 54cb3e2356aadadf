// The inputs gate in the running operator (the built CLI with --ipfs-api on the test-bed's Kubo
// node): a job whose input CID cannot be resolved is held Accepted=False InputsUnavailable naming the
// CID, with an Event, and nothing starts (no pod, no RenderShard); a job whose two inputs are on the
// node gets them pinned (kubo's pin list) and its shard pods carry the fetch step (init container)
// and the sealing recipient. Oracles: the API server's objects and Events, and the IPFS node.
import { cond, createJob, getJob, jobEvents, listPods, listShards, renderJob } from '../operator/helpers.js';
import { installCrds } from '../support/crds.js';
import { startData, type DataSite } from '../support/data.js';
import { startOperator, type OperatorProcess } from '../support/operator.js';
import { clients, freshNamespace, testbed, waitFor, type Clients } from '../support/testbed.js';

const AGE = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
const MISSING = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy';

let c: Clients;
let ns: string;
let site: DataSite;
let op: OperatorProcess;

async function add(text: string): Promise<string> {
  const form = new FormData();
  form.append('file', new Blob([text]), 'f');
  const res = await fetch(`${site.ipfsApi}/api/v0/add?cid-version=1&raw-leaves=true&pin=false`, { method: 'POST', body: form });
  return ((await res.json()) as { Hash: string }).Hash;
}
async function pinned(cid: string): Promise<boolean> {
  const res = await fetch(`${site.ipfsApi}/api/v0/pin/ls?arg=${cid}&type=recursive`, { method: 'POST' });
  return res.ok;
}
function dataJob(name: string, inputs: Record<string, unknown>[], encryptTo?: Record<string, unknown>): Record<string, unknown> {
  const job = renderJob(name, { count: 2, annotations: { 'testbed.atelier.dev/duration': '60s' } }) as { spec: Record<string, any> };
  job.spec.inputs = inputs;
  if (encryptTo) job.spec.output.encryptTo = encryptTo;
  return job;
}

beforeAll(async () => {
  c = clients();
  await installCrds();
  site = await startData();
  ns = await freshNamespace(c, 'data-in');
  op = startOperator(testbed().kubeconfig, ['--namespace', ns, '--lease-name', 'atelier-data-inputs', '--ipfs-api', site.ipfsApi, '--ipfs-gateway', site.ipfsGateway, '--input-timeout', '3', '--shard-image', 'atelier:test']);
  await op.waitForLog('became leader');
});

afterAll(async () => {
  await op?.kill('SIGTERM');
});

test('an unresolvable input holds the job: Accepted=False InputsUnavailable naming the CID, an Event, nothing started', async () => {
  const here = await add('present input');
  await createJob(c, ns, dataJob('held', [{ name: 'scene', cid: here }, { name: 'weights', cid: `ipfs://${MISSING}` }]));
  const accepted = await waitFor('Accepted=False', async () => {
    const a = cond((await getJob(c, ns, 'held')).status, 'Accepted');
    return a?.status === 'False' ? a : undefined;
  });
  expect(accepted.reason).toBe('InputsUnavailable');
  expect(accepted.message).toContain(MISSING);
  expect(accepted.message).toContain('weights');
  const ev = await waitFor('InputsUnavailable Event', async () => (await jobEvents(c, ns, 'held')).find((e) => e.reason === 'InputsUnavailable'));
  expect(ev.type).toBe('Warning');
  expect(ev.message).toContain(MISSING);
  expect(await listPods(c, ns, 'held')).toEqual([]);
  expect(await listShards(c, ns, 'held')).toEqual([]);
  expect((await getJob(c, ns, 'held')).status?.phase).toBe('Pending');
});

test('two inputs by CID: pinned on the node, and every shard pod fetches them in an init container and gets the recipient', async () => {
  const scene = await add('scene for the good job');
  const lora = await add('lora for the good job');
  expect(await pinned(scene)).toBe(false);
  await createJob(c, ns, dataJob('fed', [{ name: 'scene', cid: `ipfs://${scene}`, path: '/work/scene.blend', env: 'SCENE' }, { name: 'lora', cid: lora }], { recipient: AGE }));
  const pods = await waitFor('2 shard pods', async () => { const p = await listPods(c, ns, 'fed'); return p.length === 2 ? p : undefined; });
  expect(await pinned(scene)).toBe(true);
  expect(await pinned(lora)).toBe(true);
  for (const p of pods) {
    const init = p.spec!.initContainers!.find((x) => x.name === 'atelier-fetch-inputs')!;
    expect(init.image).toBe('atelier:test');
    expect(init.args).toEqual(['shard', '--fetch-only']);
    const env = Object.fromEntries(p.spec!.containers[0]!.env!.map((e) => [e.name, e.value]));
    expect(JSON.parse(env.ATELIER_INPUTS!)).toEqual([{ name: 'scene', cid: scene, path: '/work/scene.blend' }, { name: 'lora', cid: lora, path: '/atelier/inputs/lora' }]);
    expect(env.SCENE).toBe('/work/scene.blend');
    expect(env.ATELIER_ENCRYPT_TO).toBe(AGE);
    expect(p.spec!.containers[0]!.volumeMounts!.filter((m) => m.name === 'atelier-inputs').map((m) => m.mountPath)).toEqual(['/work/scene.blend', '/atelier/inputs/lora']);
  }
  expect(cond((await getJob(c, ns, 'fed')).status, 'Accepted')?.status).toBe('True');
});

test('encryptTo from a Secret that does not exist holds the job with EncryptToUnavailable and starts nothing', async () => {
  await createJob(c, ns, dataJob('nokey', [], { secretKeyRef: { name: 'no-such-studio-key' } }));
  const accepted = await waitFor('Accepted=False', async () => {
    const a = cond((await getJob(c, ns, 'nokey')).status, 'Accepted');
    return a?.status === 'False' ? a : undefined;
  });
  expect(accepted.reason).toBe('EncryptToUnavailable');
  expect(await listPods(c, ns, 'nokey')).toEqual([]);
});
