// The subnet adapter's pure parts: deterministic peer names, the peer RenderJob a shard becomes,
// error mapping, and kubeconfig handling that never lets the credential into an error. The adapter
// against a real peer cluster and operator is tested in test/providers/subnet.test.ts.
import { outputsDigest } from '../results.js';
import { ProviderError } from '../types.js';
import { SubnetAdapter, loadPeerKubeConfig, peerError, type SubnetShardSpec } from './adapter.js';
import { keyHash, labelValue, signingRequest, subnetJobName } from './names.js';

const TOKEN = 'sekret-token-0123456789abcdef';
const kubeconfig = (user = `    token: ${TOKEN}`) => `apiVersion: v1
kind: Config
clusters:
- name: peer
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: u
  user:
${user}
contexts:
- name: peer
  context: {cluster: peer, user: u}
current-context: peer
`;

const spec = (o: Partial<SubnetShardSpec> = {}): SubnetShardSpec => ({
  jobUid: 'uid-1', jobNamespace: 'studio', jobName: 'lighting-sweep', shardIndex: 7, shardCount: 400,
  image: 'ghcr.io/acme/sdxl-batch:1.4', command: ['python', 'render.py'], args: ['--steps', '30'],
  env: [{ name: 'PROMPT', value: 'a glass atrium at dusk' }], gpuCount: 1, gpuModels: ['nvidia-h100'],
  outputUri: 's3://renders/lighting/', ...o,
});

describe('names', () => {
  test('peer job names are deterministic, distinct per key, and at most 63 characters', () => {
    const a = subnetJobName('lighting-sweep', 7, 'uid-1-7-1');
    expect(a).toMatch(/^lighting-sweep-7-[0-9a-f]{10}$/);
    expect(subnetJobName('lighting-sweep', 7, 'uid-1-7-1')).toBe(a);
    expect(subnetJobName('lighting-sweep', 7, 'uid-1-7-2')).not.toBe(a);
    const long = subnetJobName('x'.repeat(60) + '.name', 12345, 'k');
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(subnetJobName('a-'.repeat(40), 1, 'k')).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });

  test('label values are sanitised', () => {
    expect(labelValue('cluster a/b')).toBe('cluster-a-b');
    expect(labelValue('-x-')).toBe('x');
    expect(labelValue('y'.repeat(80)).length).toBe(63);
    expect(keyHash('k')).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('SubnetAdapter.peerJob', () => {
  const adapter = new SubnetAdapter({ kubeconfig: kubeconfig(), namespace: 'shared-renders', options: { originCluster: 'studio-a', pricePerGpuHour: '2.00' } });

  test('a count shard: one LocalOnly shard, origin env, origin labels and key', () => {
    const job = adapter.peerJob(spec(), { idempotencyKey: 'uid-1-7-1' });
    expect(job.metadata.name).toBe(subnetJobName('lighting-sweep', 7, 'uid-1-7-1'));
    expect(job.metadata.namespace).toBe('shared-renders');
    expect(job.spec.placement).toEqual({ policy: 'LocalOnly' });
    expect(job.spec.shards).toEqual({ count: 1, maxRetries: 0 });
    expect(job.spec.gpu).toEqual({ models: ['nvidia-h100'] });
    expect(job.spec.output).toEqual({ uri: 's3://renders/lighting/' });
    const env = Object.fromEntries(job.spec.template.env!.map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      PROMPT: 'a glass atrium at dusk', ATELIER_SHARD_INDEX: '7', ATELIER_SHARD_COUNT: '400', ATELIER_OUTPUT_URI: 's3://renders/lighting/',
      ATELIER_IDEMPOTENCY_KEY: 'uid-1-7-1', ATELIER_ORIGIN_SHARD_INDEX: '7', ATELIER_ORIGIN_SHARD_COUNT: '400',
    });
    expect(new Set(job.spec.template.env!.map((e) => e.name)).size).toBe(job.spec.template.env!.length);
    expect(job.spec.template.resources.limits).toEqual({ 'nvidia.com/gpu': 1 });
    expect(job.metadata.labels).toMatchObject({
      'atelier.dev/origin-cluster': 'studio-a', 'atelier.dev/origin-namespace': 'studio', 'atelier.dev/origin-job': 'lighting-sweep',
      'atelier.dev/origin-shard': '7', 'atelier.dev/idempotency-key-hash': keyHash('uid-1-7-1'),
    });
    expect(job.metadata.annotations).toMatchObject({ 'atelier.dev/idempotency-key': 'uid-1-7-1', 'atelier.dev/origin-job-uid': 'uid-1', 'atelier.dev/origin': 'studio-a/studio/lighting-sweep/7' });
  });

  test('a frames shard keeps its frame range on the peer; the template carries pod metadata and resources', () => {
    const job = adapter.peerJob(spec({
      frames: { start: 43, end: 48 },
      template: { image: 'ignored', resources: { limits: { 'nvidia.com/gpu': 1, cpu: '4', memory: '24Gi' } }, metadata: { annotations: { a: 'b' } }, nodeSelector: { x: 'y' } },
    }), { idempotencyKey: 'k-1', maxDurationSec: 3600 });
    expect(job.spec.shards).toEqual({ frames: { start: 43, end: 48, perShard: 6 }, maxRetries: 0 });
    const env = Object.fromEntries(job.spec.template.env!.map((e) => [e.name, e.value]));
    expect(env).toMatchObject({ ATELIER_FRAME_START: '43', ATELIER_FRAME_END: '48' });
    expect(job.spec.template.resources.limits).toEqual({ 'nvidia.com/gpu': 1, cpu: '4', memory: '24Gi' });
    expect(job.spec.template.metadata).toEqual({ annotations: { a: 'b' } });
    expect(job.spec.template.image).toBe('ghcr.io/acme/sdxl-batch:1.4');
    expect(job.spec.template.nodeSelector).toBeUndefined();
    expect(job.spec.deadline).toBeDefined();
  });

  test('a settled shard carries the settlement annotations, which read back as what the peer signs for', () => {
    const settlement = { chainId: '31337', escrowAddress: '0x' + 'ab'.repeat(20), tokenDecimals: 6 };
    const job = adapter.peerJob(spec({ settlement }), { idempotencyKey: 'uid-1-7-1' });
    expect(job.metadata.annotations).toMatchObject({
      'atelier.dev/settlement-chain-id': '31337', 'atelier.dev/settlement-escrow': settlement.escrowAddress, 'atelier.dev/settlement-token-decimals': '6',
    });
    expect(signingRequest(job.metadata)).toEqual({ jobUid: 'uid-1', shardIndex: 7, ...settlement });
    const plain = adapter.peerJob(spec(), { idempotencyKey: 'uid-1-7-1' });
    expect(Object.keys(plain.metadata.annotations!).filter((k) => k.startsWith('atelier.dev/settlement-'))).toEqual([]);
    expect(signingRequest(plain.metadata)).toBeUndefined();
  });

  test.each([
    ['chain id', { chainId: '0x7a69' }],
    ['escrow', { escrowAddress: '0x1234' }],
    ['decimals', { tokenDecimals: 1.5 }],
    ['decimals', { tokenDecimals: 99 }],
  ])('a malformed settlement %s is refused before anything is sent', (_what, bad) => {
    const settlement = { chainId: '31337', escrowAddress: '0x' + 'ab'.repeat(20), tokenDecimals: 6, ...bad };
    expect(() => adapter.peerJob(spec({ settlement }), { idempotencyKey: 'k' })).toThrow(ProviderError);
  });

  test('a shard with inputs by CID and sealed outputs: the peer job asks for them itself; the origin\'s data-plane env is not copied', () => {
    const recipient = 'age1' + 'q'.repeat(58);
    const inputs = [{ name: 'scene', cid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy', path: '/in/scene.blend', env: 'SCENE' }, { name: 'lut', cid: 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG' }];
    const originEnv = [
      { name: 'ATELIER_INPUTS', value: '[]' }, { name: 'ATELIER_IPFS_GATEWAY', value: 'http://origin-gw:8080' }, { name: 'ATELIER_ENCRYPT_TO', value: recipient }, { name: 'SCENE', value: '/in/scene.blend' },
    ];
    const job = adapter.peerJob(spec({ env: [...spec().env, ...originEnv], data: { inputs, recipient } }), { idempotencyKey: 'uid-1-7-1' });
    expect(job.spec.inputs).toEqual(inputs);
    expect(job.spec.output).toEqual({ uri: 's3://renders/lighting/', encryptTo: { recipient } });
    const names = job.spec.template.env!.map((e) => e.name);
    for (const n of ['ATELIER_INPUTS', 'ATELIER_IPFS_GATEWAY', 'ATELIER_ENCRYPT_TO', 'ATELIER_IPFS_API']) expect(names).not.toContain(n);
    expect(names).toEqual(expect.arrayContaining(['PROMPT', 'SCENE', 'ATELIER_SHARD_INDEX', 'ATELIER_ORIGIN_SHARD_INDEX']));
    // Without data nothing of the kind is sent.
    const plain = adapter.peerJob(spec(), { idempotencyKey: 'uid-1-7-1' });
    expect(plain.spec.inputs).toBeUndefined();
    expect(plain.spec.output).toEqual({ uri: 's3://renders/lighting/' });
    // Sealing without inputs: encryptTo alone.
    expect(adapter.peerJob(spec({ data: { inputs: [], recipient } }), { idempotencyKey: 'k' }).spec).toMatchObject({ output: { encryptTo: { recipient } } });
    expect(adapter.peerJob(spec({ data: { inputs: [], recipient } }), { idempotencyKey: 'k' }).spec.inputs).toBeUndefined();
  });

  test('signingRequest: incomplete or malformed annotations are a problem, not a request', () => {
    const labels = { 'atelier.dev/origin-shard': '3' };
    const full = { 'atelier.dev/origin-job-uid': 'u', 'atelier.dev/settlement-chain-id': '1', 'atelier.dev/settlement-escrow': '0x' + '1'.repeat(40), 'atelier.dev/settlement-token-decimals': '18' };
    expect(signingRequest({ labels, annotations: full })).toEqual({ jobUid: 'u', shardIndex: 3, chainId: '1', escrowAddress: '0x' + '1'.repeat(40), tokenDecimals: 18 });
    const { ['atelier.dev/settlement-escrow']: _e, ...partial } = full;
    expect(signingRequest({ labels, annotations: partial })).toHaveProperty('problem');
    expect(signingRequest({ labels, annotations: { ...full, 'atelier.dev/settlement-token-decimals': '6.0' } })).toHaveProperty('problem');
    expect(signingRequest({ labels: {}, annotations: full })).toHaveProperty('problem');
    const { ['atelier.dev/origin-job-uid']: _u, ...noUid } = full;
    expect(signingRequest({ labels, annotations: noUid })).toHaveProperty('problem');
  });

  test('a ceiling below the peer price is refused before anything is sent', async () => {
    await expect(adapter.submit(spec({ gpuCount: 2 }), { idempotencyKey: 'k', maxUsdPerHour: '3.99' })).rejects.toMatchObject({ kind: 'invalid' });
  });

  test('capabilities', () => {
    expect(adapter.capabilities()).toMatchObject({ provider: 'subnet', results: 'native', endsByItself: true, findByKey: 'remote' });
  });
});

describe('SubnetAdapter.getResults and the peer\'s signature', () => {
  const SHA = 'c'.repeat(64);
  const signed = {
    jobUid: 'uid-1', shardIndex: 7, resultDigest: '0x' + 'ab'.repeat(32), amountClaimed: '1234', chainId: '31337',
    verifyingContract: '0x' + 'cd'.repeat(20), signature: '0x' + '11'.repeat(65),
  };
  const settledAnnotations = { 'atelier.dev/settlement-chain-id': '31337', 'atelier.dev/settlement-escrow': '0x' + 'cd'.repeat(20), 'atelier.dev/settlement-token-decimals': '6' };
  // The peer's API as the adapter reads it: its RenderJob and that job's one RenderShard.
  function peer(o: { annotations?: Record<string, string>; signed?: unknown; completedMsAgo?: number }) {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const clock = { now: () => now, sleep: async (ms: number) => { now += ms; } };
    const adapter = new SubnetAdapter({ kubeconfig: kubeconfig(), namespace: 'shared-renders', clock, options: { signatureWaitMs: 30_000 } });
    const completionTime = new Date(now - (o.completedMsAgo ?? 1000)).toISOString();
    const job = { metadata: { name: 'j', namespace: 'shared-renders', labels: { 'atelier.dev/origin-shard': '7' }, annotations: { 'atelier.dev/origin-job-uid': 'uid-1', ...(o.annotations ?? {}) } }, status: { phase: 'Succeeded', completionTime } };
    const shard = { metadata: { name: 'j-0' }, status: { phase: 'Succeeded', completionTime, result: { outputs: [{ uri: 's3://r/a.exr', sha256: SHA }], ...(o.signed !== undefined ? { signed: o.signed } : {}) } } };
    (adapter as unknown as { custom: unknown }).custom = { getNamespacedCustomObject: async () => job, listNamespacedCustomObject: async () => ({ items: [shard] }) };
    return adapter;
  }

  test('a signed result is handed up with the outputs; a signer field the peer wrote is not', async () => {
    const r = await peer({ annotations: settledAnnotations, signed: { ...signed, signer: '0x' + 'ee'.repeat(20) } }).getResults('j');
    expect(r).toMatchObject({ supported: true, outputs: [{ uri: 's3://r/a.exr', sha256: SHA }], signed, integrity: 'reported' });
    expect((r as { signed: object }).signed).not.toHaveProperty('signer');
  });

  test('a settled shard not signed yet is a transient error for a while, then comes back unsigned', async () => {
    await expect(peer({ annotations: settledAnnotations, completedMsAgo: 5_000 }).getResults('j')).rejects.toMatchObject({ kind: 'transient', message: expect.stringMatching(/not signed yet/) });
    const late = await peer({ annotations: settledAnnotations, completedMsAgo: 31_000 }).getResults('j');
    expect(late).toMatchObject({ supported: true });
    expect(late).not.toHaveProperty('signed');
  });

  test('a sealed peer output keeps its cid, and the digest covers it', async () => {
    const cid = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy';
    const a = peer({});
    const withCid = { outputs: [{ uri: 'frame-0001.exr', sha256: SHA, cid }] };
    const job = { metadata: { name: 'j', namespace: 'shared-renders', annotations: {} }, status: { phase: 'Succeeded', completionTime: new Date().toISOString() } };
    (a as unknown as { custom: unknown }).custom = {
      getNamespacedCustomObject: async () => job,
      listNamespacedCustomObject: async () => ({ items: [{ metadata: { name: 'j-0' }, status: { phase: 'Succeeded', result: withCid } }] }),
    };
    const r = (await a.getResults('j')) as { outputs: unknown[]; digest: string };
    expect(r.outputs).toEqual(withCid.outputs);
    expect(r.digest).toBe(outputsDigest(withCid.outputs));
    expect(r.digest).not.toBe(outputsDigest([{ uri: 'frame-0001.exr', sha256: SHA }]));
  });

  test('a shard that does not settle is never waited for; a malformed signature is dropped, not the outputs', async () => {
    expect(await peer({}).getResults('j')).not.toHaveProperty('signed');
    const bad = await peer({ annotations: settledAnnotations, signed: { ...signed, signature: '0x12' } }).getResults('j');
    expect(bad).toMatchObject({ supported: true, outputs: [{ uri: 's3://r/a.exr', sha256: SHA }] });
    expect(bad).not.toHaveProperty('signed');
  });
});

describe('credentials and errors', () => {
  test('a kubeconfig that does not parse is reported without quoting it', () => {
    let err: unknown;
    try {
      loadPeerKubeConfig(`users: [${TOKEN}: {{{`);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).kind).toBe('auth');
    expect(JSON.stringify({ m: (err as Error).message, s: (err as Error).stack })).not.toContain(TOKEN);
  });

  test('exec plugins are refused unless allowed', () => {
    const exec = kubeconfig('    exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: ["-c", "id"]}');
    expect(() => loadPeerKubeConfig(exec)).toThrow(/exec plugin/);
    expect(() => loadPeerKubeConfig(exec, true)).not.toThrow();
  });

  test('API errors map to provider error kinds, with the API message', () => {
    const api = (code: number, message: string) => Object.assign(new Error(`HTTP-Code: ${code}`), { code, body: JSON.stringify({ kind: 'Status', message }) });
    expect(peerError(api(404, 'renderjobs "x" not found'), 'reading')).toMatchObject({ kind: 'notFound', message: 'reading: HTTP 404: renderjobs "x" not found' });
    expect(peerError(api(403, 'forbidden'), 'x').kind).toBe('auth');
    expect(peerError(api(422, 'invalid'), 'x').kind).toBe('invalid');
    expect(peerError(api(503, 'unavailable'), 'x').kind).toBe('transient');
    expect(peerError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), 'x').kind).toBe('transient');
  });

  test('a 404 for a peer job counts as gone only when a list of RenderJobs there answers without it (a restarting peer API answers 404 until it serves the CRD)', async () => {
    const notFound = () => Object.assign(new Error('HTTP-Code: 404'), { code: 404, body: JSON.stringify({ kind: 'Status', message: 'the server could not find the requested resource' }) });
    const job = { metadata: { name: 'j', namespace: 'ns' }, status: { phase: 'Running', shards: { running: 1 } } };
    const adapter = (list: () => Promise<unknown>) => {
      const a = new SubnetAdapter({ kubeconfig: kubeconfig(), namespace: 'ns' });
      (a as unknown as { custom: unknown }).custom = { getNamespacedCustomObject: async () => { throw notFound(); }, listNamespacedCustomObject: list };
      return a;
    };
    // the CRD is not served yet: the list fails too, so the job is not taken for gone
    await expect(adapter(async () => { throw notFound(); }).getStatus('j')).rejects.toMatchObject({ kind: 'transient', message: expect.stringMatching(/not taken for gone/) });
    // the list answers and holds the job: it is read from there
    await expect(adapter(async () => ({ items: [job] })).getStatus('j')).resolves.toMatchObject({ phase: 'Running' });
    // the list answers without it: gone
    await expect(adapter(async () => ({ items: [] })).getStatus('j')).rejects.toMatchObject({ kind: 'notFound' });
  });

  test('a failed fetch says why: refused, or a certificate that does not verify', () => {
    const failed = (cause: Error) => Object.assign(new TypeError('fetch failed'), { cause });
    expect(peerError(failed(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' })), 'listing nodes').message).toBe('listing nodes: fetch failed (connect ECONNREFUSED 127.0.0.1:9)');
    expect(peerError(failed(Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' })), 'x').message).toBe('x: fetch failed (SELF_SIGNED_CERT_IN_CHAIN: self-signed certificate in certificate chain)');
  });

  test('an unreachable peer is a transient error that does not carry the token', async () => {
    const adapter = new SubnetAdapter({ kubeconfig: kubeconfig(), namespace: 'ns' });
    const err = await adapter.listOffers({ gpuCount: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).kind).toBe('transient');
    expect(JSON.stringify({ m: (err as Error).message })).not.toContain(TOKEN);
  });
});
