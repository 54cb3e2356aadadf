// Unit tests of the data plane's pure parts: CID references, age sealing round trips, the pod's
// inputs fetch step, output targets and object keys, and the inputs gate over a recording IPFS stub.
import { buildPodStub } from './testing.js';
import { isCidRef, parseCidRef } from './cid.js';
import { objectKey, parseTarget } from './delivery.js';
import { gateInputs, inputsEnv, withInputs } from './inputs.js';
import { IpfsError, type IpfsClient } from './ipfs.js';
import { generateKeyPair, parseRecipients, seal, unseal } from './seal.js';
import { DataPlane } from './plane.js';

const V1 = 'bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am';
const V0 = 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o';

describe('parseCidRef', () => {
  test.each([
    [V1, V1, ''],
    [`ipfs://${V1}`, V1, ''],
    [`ipfs://${V1}/models/lora.safetensors`, V1, '/models/lora.safetensors'],
    [V0, V0, ''],
  ])('%s', (ref, cid, path) => {
    expect(parseCidRef(ref)).toEqual({ cid, path });
  });
  test.each(['', 'bafy', 'ipfs://', 'https://example.com/x', `${V1.slice(0, -1)}0`, 'Qm123'])('rejects %j', (ref) => {
    expect(isCidRef(ref)).toBe(false);
    expect(() => parseCidRef(ref)).toThrow(/is not a CID/);
  });
});

describe('seal', () => {
  test('round trip to the recipient; another identity cannot open it; a flipped byte is refused', async () => {
    const studio = await generateKeyPair();
    const other = await generateKeyPair();
    const plain = new TextEncoder().encode('frame 0001');
    const sealed = await seal(plain, [studio.recipient]);
    expect(Buffer.from(sealed).includes(Buffer.from('frame 0001'))).toBe(false);
    expect(Buffer.from(await unseal(sealed, studio.identity)).toString()).toBe('frame 0001');
    await expect(unseal(sealed, other.identity)).rejects.toThrow();
    const tampered = Uint8Array.from(sealed);
    tampered[tampered.length - 1] ^= 1;
    await expect(unseal(tampered, studio.identity)).rejects.toThrow();
  });
  test('parseRecipients takes age1 recipients and refuses anything else', async () => {
    const { recipient, identity } = await generateKeyPair();
    expect(parseRecipients(` ${recipient},${recipient} `)).toEqual([recipient, recipient]);
    expect(() => parseRecipients('')).toThrow(/age/);
    expect(() => parseRecipients(identity)).toThrow(/age/);
    expect(() => parseRecipients('ssh-ed25519 AAAA')).toThrow(/age/);
  });
});

describe('targets', () => {
  test.each([
    ['s3://renders/job-1/', { kind: 's3', bucket: 'renders', prefix: 'job-1/' }],
    ['s3://renders/job-1', { kind: 's3', bucket: 'renders', prefix: 'job-1/' }],
    ['s3://renders', { kind: 's3', bucket: 'renders', prefix: '' }],
    ['ipfs://', { kind: 'ipfs' }],
    ['gs://renders/', undefined],
    ['s3://A_B/', undefined],
  ])('%s', (uri, want) => expect(parseTarget(uri)).toEqual(want));
  test('object keys stay under the prefix', () => {
    expect(objectKey('job/', 'frames/0001.png')).toBe('job/frames/0001.png');
    expect(() => objectKey('job/', '../x')).toThrow(/relative/);
    expect(() => objectKey('job/', 'a/./b')).toThrow(/relative/);
    expect(() => objectKey('job/', '')).toThrow(/relative/);
  });
});

describe('inputs', () => {
  const inputs = [{ name: 'scene', cid: `ipfs://${V1}`, path: '/work/scene.blend', env: 'SCENE' }, { name: 'lora', cid: V0 }];
  test('the pod gets an init container that fetches every input and the shard sees each at its path', () => {
    const pod = withInputs(buildPodStub(), inputs, { image: 'atelier:1', gateway: 'http://gw:8080' });
    const init = pod.spec!.initContainers![0]!;
    expect(init.args).toEqual(['shard', '--fetch-only']);
    expect(init.image).toBe('atelier:1');
    const c = pod.spec!.containers[0]!;
    expect(c.volumeMounts).toEqual([
      { name: 'atelier-inputs', mountPath: '/work/scene.blend', subPath: '0-scene' },
      { name: 'atelier-inputs', mountPath: '/atelier/inputs/lora', subPath: '1-lora' },
    ]);
    const env = Object.fromEntries(c.env!.map((e) => [e.name, e.value]));
    expect(env.SCENE).toBe('/work/scene.blend');
    expect(JSON.parse(env.ATELIER_INPUTS!)).toEqual([{ name: 'scene', cid: V1, path: '/work/scene.blend' }, { name: 'lora', cid: V0, path: '/atelier/inputs/lora' }]);
    expect(withInputs(buildPodStub(), [], { image: 'x', gateway: 'y' })).toEqual(buildPodStub());
  });
  test('inputsEnv names the gateway for remote shards', () => {
    expect(inputsEnv(inputs, 'http://gw').ATELIER_IPFS_GATEWAY).toBe('http://gw');
  });

  const stub = (sizes: Record<string, number>) => {
    const pinned: string[] = [];
    const ipfs = {
      size: async (p: string) => { const s = sizes[p]; if (s === undefined) throw new IpfsError(`IPFS files/stat timed out`, true); return s; },
      pin: async (p: string) => { pinned.push(p); },
    } as unknown as IpfsClient;
    return { ipfs, pinned };
  };
  const o = { resolveTimeoutMs: 100, maxBytes: 1000 };
  test.each([
    ['all resolvable: each pinned', { [`/ipfs/${V1}`]: 10, [`/ipfs/${V0}`]: 20 }, { ok: true, sizes: { scene: 10, lora: 20 } }, 2],
    ['one unknown: InputsUnavailable naming its CID', { [`/ipfs/${V1}`]: 10 }, { ok: false, reason: 'InputsUnavailable', input: 'lora' }, 1],
    ['one too large: InputTooLarge', { [`/ipfs/${V1}`]: 5000, [`/ipfs/${V0}`]: 20 }, { ok: false, reason: 'InputTooLarge', input: 'scene' }, 0],
  ])('%s', async (_n, sizes, want, pins) => {
    const { ipfs, pinned } = stub(sizes);
    const r = await gateInputs(ipfs, inputs, o);
    expect(r).toMatchObject(want);
    if (!r.ok && r.reason === 'InputsUnavailable') expect(r.message).toContain(V0);
    expect(pinned).toHaveLength(pins);
  });
  test('a malformed CID is InputInvalid before any request', async () => {
    const { ipfs, pinned } = stub({});
    expect(await gateInputs(ipfs, [{ name: 'x', cid: 'not-a-cid' }], o)).toMatchObject({ ok: false, reason: 'InputInvalid', input: 'x' });
    expect(pinned).toEqual([]);
  });
});

describe('DataPlane.decorateSpec', () => {
  test('a remote shard spec gets the env and, for an Atelier peer, the inputs and the resolved recipients as data', async () => {
    const sizes: Record<string, number> = { [`/ipfs/${V1}`]: 10 };
    const ipfs = { size: async (p: string) => sizes[p] ?? 0, pin: async () => undefined } as unknown as IpfsClient;
    const cfg = { ipfsApi: 'http://api:5001', ipfsGateway: 'http://gw:8080', inputTimeoutMs: 100, maxInputBytes: 1000, shardImage: 'atelier:1' };
    const recipient = 'age1' + 'q'.repeat(58);
    const plane = new DataPlane(cfg, async () => `${recipient}\n`, 'atelier-system', ipfs);
    const job = { metadata: { uid: 'u', generation: 1, name: 'j', namespace: 'studio' }, spec: { inputs: [{ name: 'scene', cid: V1, path: '/in/scene' }], output: { uri: 's3://b/p/', encryptTo: { secretKeyRef: { name: 'rcpt' } } } } };
    expect(await plane.gate(job)).toBeUndefined();
    const out = plane.decorateSpec({ env: [{ name: 'A', value: '1' }] }, job) as { env: { name: string; value: string }[]; data?: unknown };
    expect(out.data).toEqual({ inputs: [{ name: 'scene', cid: V1, path: '/in/scene' }], recipient });
    expect(out.env.find((e) => e.name === 'ATELIER_ENCRYPT_TO')?.value).toBe(recipient);
    expect(out.env.find((e) => e.name === 'ATELIER_IPFS_API')).toBeUndefined();
    // A job without inputs or sealing is left as it is.
    const plain = { env: [{ name: 'A', value: '1' }] };
    expect(plane.decorateSpec(plain, { metadata: { name: 'k', namespace: 'studio' }, spec: { output: { uri: 's3://b/' } } })).toBe(plain);
  });
});
