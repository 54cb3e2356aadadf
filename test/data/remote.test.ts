// A ProviderOnly job with sealed outputs on the Render provider fake: the fake plays the shard as
// `atelier shard` would (seals the deterministic test render to the job's age recipient, adds it to
// the test-bed's Kubo node, reports the CID with the plaintext sha256 and signs nothing else), and
// the running operator delivers every output, decrypted, to versitygw. Oracles: the fake's own
// deterministic render bytes, the S3 server's objects, the IPFS node's bytes (ciphertext only), the
// API server's conditions; a corrupted report (hash of other bytes) is rejected and not delivered.
// age-encryption (ESM @scure/base) is loaded only after the Akash fake (cosmjs require()s @scure/base):
// both in one static graph is a require(esm) cycle under jest's module registry.
import { AkashFake } from '../fakes/akash.js';
import { createHash } from 'node:crypto';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { KeyPair } from '../../operator/src/data/seal.js';
import { RenderFake } from '../fakes/render.js';
import { testRenderContent } from '../fakes/server.js';
import { cond, createJob, getJob, jobEvents, listShards } from '../operator/helpers.js';
import { installCrds } from '../support/crds.js';
import { freshBucket, s3Of, startData, type DataSite } from '../support/data.js';
import { startOperator, type OperatorProcess } from '../support/operator.js';
import { createComputeProvider, deleteComputeProviders, waitForProbes } from '../support/providers.js';
import { clients, freshNamespace, testbed, waitFor, type Clients } from '../support/testbed.js';

const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
const render = new RenderFake({ assignDelayMs: 200, startMs: 200, jobDurationMs: 1500 });
const akash = new AkashFake({ provisionMs: 200, jobDurationMs: 1500, blockMs: 500, providers: [{ address: 'akash1provider0000000000000000000000000000a', gpuModels: ['h100'], pricePerBlock: '1000', capacity: 8, bidDelayMs: 200 }] });
let c: Clients;
let ns: string;
let site: DataSite;
let s3: S3Client;
let studio: KeyPair;
let op: OperatorProcess;

function remoteJob(name: string, bucket: string): Record<string, unknown> {
  return {
    apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderJob', metadata: { name },
    spec: {
      template: { image: 'ghcr.io/acme/sdxl-batch:1.4', env: [{ name: 'ATELIER_TEST_RENDER_SEED', value: name }], resources: { limits: { 'nvidia.com/gpu': 1 } } },
      gpu: { models: ['nvidia-h100'] },
      shards: { count: 3 },
      placement: { policy: 'ProviderOnly' },
      output: { uri: `s3://${bucket}/${name}/`, encryptTo: { recipient: studio.recipient } },
    },
  };
}

beforeAll(async () => {
  c = clients();
  await installCrds();
  site = await startData();
  s3 = s3Of(site);
  const { generateKeyPair } = await import('../../operator/src/data/seal.js');
  studio = await generateKeyPair();
  render.ipfsApi = site.ipfsApi;
  akash.ipfsApi = site.ipfsApi;
  await Promise.all([render.start(), akash.start()]);
  ns = await freshNamespace(c, 'data-remote');
  await c.core.createNamespace({ body: { metadata: { name: 'atelier-system' } } }).catch(() => undefined);
  await c.core.createNamespacedSecret({ namespace: 'atelier-system', body: { metadata: { name: 'data-remote-identity' }, stringData: { identity: studio.identity } } });
  await c.core.createNamespacedSecret({ namespace: 'atelier-system', body: { metadata: { name: 'data-remote-s3' }, stringData: { accessKeyId: site.s3AccessKey, secretAccessKey: site.s3SecretKey } } });
  await createComputeProvider(c, 'data-render', 'render', render.url, `${render.opts.publicKey}:${render.opts.secretKey}`, { pricePerGpuHour: '2.00' }, { allowedNamespaces: [ns], maxConcurrentShards: 2 });
  await createComputeProvider(c, 'data-akash', 'akash', akash.url, akash.opts.apiKey, {}, { allowedNamespaces: [ns], maxConcurrentShards: 2 });
  op = startOperator(testbed().kubeconfig, ['--namespace', ns, '--secrets-namespace', 'atelier-system', '--lease-name', 'atelier-data-remote', '--remote-poll', '1', '--provider-probe', '2',
    '--ipfs-api', site.ipfsApi, '--ipfs-gateway', site.ipfsGateway, '--data-identity-secret', 'atelier-system/data-remote-identity',
    '--s3-endpoint', site.s3Endpoint, '--s3-credentials-secret', 'atelier-system/data-remote-s3']);
  await op.waitForLog('became leader');
  await waitForProbes(c, ['data-render', 'data-akash']);
});

afterAll(async () => {
  await op?.kill('SIGTERM');
  await deleteComputeProviders(c, ['data-render', 'data-akash']);
  await Promise.all([render.stop(), akash.stop()]);
});

async function add(text: string): Promise<string> {
  const form = new FormData();
  form.append('file', new Blob([text]), 'f');
  return ((await (await fetch(`${site.ipfsApi}/api/v0/add?cid-version=1&raw-leaves=true`, { method: 'POST', body: form })).json()) as { Hash: string }).Hash;
}

test('4 shards on the Render and Akash fakes with two inputs by CID: each provider got the CIDs and gateway, sealed outputs delivered decrypted, sha256 = the reported digest; IPFS holds ciphertext only', async () => {
  const bucket = await freshBucket(s3, 'remote');
  const scene = await add('remote scene');
  const lora = await add('remote lora');
  const job = remoteJob('remote-a', bucket) as { spec: Record<string, any> };
  job.spec.inputs = [{ name: 'scene', cid: `ipfs://${scene}`, path: '/work/scene.blend' }, { name: 'lora', cid: lora, env: 'LORA' }];
  job.spec.shards = { count: 4 };
  await createJob(c, ns, job);
  await waitFor('remote-a Delivered=True', async () => {
    const d = cond((await getJob(c, ns, 'remote-a')).status, 'Delivered');
    if (d?.reason === 'OutputRejected') throw new Error(d.message);
    return d?.status === 'True' ? d : undefined;
  }, 180000);
  const shards = await listShards(c, ns, 'remote-a');
  expect(shards.every((s) => (s.status as { placement?: string }).placement === 'Remote')).toBe(true);
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual(['remote-a/shard-0.exr', 'remote-a/shard-1.exr', 'remote-a/shard-2.exr', 'remote-a/shard-3.exr']);
  const providers = new Set(shards.map((s) => (s.status as { provider?: string }).provider));
  expect(providers).toEqual(new Set(['data-render', 'data-akash']));
  // What each provider was given: the fakes' own records of the shard env.
  const envs = [
    ...(render as unknown as { order: { env: Record<string, string> }[] }).order.map((j) => j.env),
    ...[...(akash as unknown as { deployments: Map<string, { env: Record<string, string> }> }).deployments.values()].map((d) => d.env),
  ].filter((e) => e.ATELIER_JOB_NAME === 'remote-a' || e.ATELIER_OUTPUT_URI?.includes('/remote-a/'));
  expect(envs.length).toBeGreaterThanOrEqual(4);
  for (const e of envs) {
    expect(JSON.parse(e.ATELIER_INPUTS!)).toEqual([{ name: 'scene', cid: scene, path: '/work/scene.blend' }, { name: 'lora', cid: lora, path: '/atelier/inputs/lora' }]);
    expect(e.ATELIER_IPFS_GATEWAY).toBe(site.ipfsGateway);
    expect(e.LORA).toBe('/atelier/inputs/lora');
    expect(e.ATELIER_ENCRYPT_TO).toBe(studio.recipient);
    expect(JSON.stringify(e)).not.toContain('AGE-SECRET-KEY');
  }
  for (const s of shards) {
    const i = s.spec.index;
    const body = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `remote-a/shard-${i}.exr` }))).Body!.transformToByteArray());
    expect(body.equals(testRenderContent('remote-a', i))).toBe(true);
    const out = (s.status as { result?: { outputs?: { sha256: string; cid?: string }[] } }).result!.outputs![0]!;
    expect(out.sha256).toBe(sha(body));
    const cipher = Buffer.from(await (await fetch(`${site.ipfsApi}/api/v0/cat?arg=${out.cid}`, { method: 'POST' })).arrayBuffer());
    expect(cipher.length).toBeGreaterThan(body.length);
    expect(cipher.includes(body)).toBe(false);
  }
});

test('a provider reporting the hash of other bytes: rejected on content, not delivered', async () => {
  const bucket = await freshBucket(s3, 'remote');
  render.setEveryJob('corrupt');
  akash.setEveryJob('corrupt');
  try {
    await createJob(c, ns, { ...remoteJob('remote-t', bucket), spec: { ...(remoteJob('remote-t', bucket).spec as object), shards: { count: 1, maxRetries: 0 } } });
    await waitFor('remote-t rejected on content, and its result discarded', async () => {
      const j = await getJob(c, ns, 'remote-t');
      return cond(j.status, 'Delivered')?.reason === 'OutputRejected' && cond(j.status, 'Verified')?.reason === 'VerificationFailed' ? j : undefined;
    }, 180000);
  } finally {
    render.setEveryJob(undefined);
    akash.setEveryJob(undefined);
  }
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  expect(listed.Contents ?? []).toEqual([]);
  const reasons = (await jobEvents(c, ns, 'remote-t')).map((e) => e.reason);
  expect(reasons).toContain('ResultRejected');
  const j = await getJob(c, ns, 'remote-t');
  expect(cond(j.status, 'Delivered')).toMatchObject({ status: 'False', reason: 'OutputRejected' });
  // The shard's result is discarded like a failed spot check: the provider is not trusted (nor paid) for this job.
  expect(cond(j.status, 'Verified')).toMatchObject({ status: 'False', reason: 'VerificationFailed' });
});
