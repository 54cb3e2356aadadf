// Admission of the data plane's RenderJob fields against the real kube-apiserver: spec.inputs (CID
// shape by CEL, names, paths, env names, immutability) and spec.output.encryptTo (an age recipient
// inline or a Secret reference, exactly one). The API server is the oracle.
import { GROUP, RENDER_JOB_PLURAL, VERSION, type RenderJob } from '../../operator/src/api/index.js';
import { apiErrorMessage, installCrds } from '../support/crds.js';
import { clients, freshNamespace, type Clients } from '../support/testbed.js';

type Mutable = Record<string, any>;
const V1 = 'bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am';
const V0 = 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o';
const AGE = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';

let c: Clients;
let ns: string;
let n = 0;

function job(change: (spec: Mutable) => void): RenderJob {
  const spec: Mutable = { template: { image: 'render:1', resources: { limits: { 'nvidia.com/gpu': 1 } } }, shards: { count: 2 }, output: { uri: 's3://renders/x/' } };
  change(spec);
  return { apiVersion: `${GROUP}/${VERSION}`, kind: 'RenderJob', metadata: { name: `data-${++n}` }, spec } as RenderJob;
}
const create = (j: RenderJob) => c.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: RENDER_JOB_PLURAL, body: j }) as Promise<RenderJob>;
async function rejection(p: Promise<unknown>): Promise<string> {
  try { await p; } catch (e) { expect((e as { code?: number }).code).toBe(422); return apiErrorMessage(e); }
  throw new Error('expected the API server to reject the object, but it was accepted');
}

beforeAll(async () => {
  await installCrds();
  c = clients();
  ns = await freshNamespace(c, 'data-crd');
});

test('inputs by CID (v0, v1, ipfs:// with a path) and encryptTo inline or by Secret are accepted', async () => {
  const made = await create(job((s) => {
    s.inputs = [{ name: 'scene', cid: `ipfs://${V1}/scenes/atrium.blend`, path: '/work/scene.blend', env: 'SCENE' }, { name: 'lora', cid: V0 }];
    s.output.encryptTo = { recipient: AGE };
  }));
  expect((made.spec as Mutable).inputs).toHaveLength(2);
  const bySecret = await create(job((s) => { s.output.encryptTo = { secretKeyRef: { name: 'studio-key' } }; }));
  expect((bySecret.spec as Mutable).output.encryptTo.secretKeyRef).toEqual({ name: 'studio-key', key: 'recipient' });
});

test.each([
  ['a malformed CID', (s: Mutable) => { s.inputs = [{ name: 'a', cid: 'bafy-not-a-cid-at-all-but-long-enough-to-pass-the-min-length' }]; }, 'cid must be a CID'],
  ['an http URL for a CID', (s: Mutable) => { s.inputs = [{ name: 'a', cid: `https://gateway.example/ipfs/${V1}` }]; }, 'cid must be a CID'],
  ['a relative path', (s: Mutable) => { s.inputs = [{ name: 'a', cid: V1, path: 'scene.blend' }]; }, 'absolute path'],
  ['a path climbing out', (s: Mutable) => { s.inputs = [{ name: 'a', cid: V1, path: '/work/../etc/passwd' }]; }, 'absolute path'],
  ['a bad env name', (s: Mutable) => { s.inputs = [{ name: 'a', cid: V1, env: '1BAD' }]; }, 'spec.inputs[0].env'],
  ['two inputs with one name', (s: Mutable) => { s.inputs = [{ name: 'a', cid: V1 }, { name: 'a', cid: V0 }]; }, 'Duplicate value'],
  ['encryptTo not an age recipient', (s: Mutable) => { s.output.encryptTo = { recipient: 'ssh-ed25519 AAAAC3Nza' }; }, 'age X25519 recipient'],
  ['encryptTo with both sources', (s: Mutable) => { s.output.encryptTo = { recipient: AGE, secretKeyRef: { name: 'k' } }; }, 'exactly one of recipient and secretKeyRef'],
  ['encryptTo empty', (s: Mutable) => { s.output.encryptTo = {}; }, 'exactly one of recipient and secretKeyRef'],
])('rejects %s, naming the field', async (_what, change, message) => {
  expect(await rejection(create(job(change)))).toContain(message);
});

test('inputs are immutable', async () => {
  const made = await create(job((s) => { s.inputs = [{ name: 'a', cid: V1 }]; }));
  (made.spec as Mutable).inputs = [{ name: 'a', cid: V0 }];
  const msg = await rejection(c.custom.replaceNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: RENDER_JOB_PLURAL, name: made.metadata.name!, body: made }));
  expect(msg).toContain('inputs are immutable');
});
