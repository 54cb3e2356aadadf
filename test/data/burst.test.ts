// One Burst job over every kind of place a shard can run, with two inputs by CID and sealed outputs:
// site A (its own test-bed cluster, 2 GPUs) runs what fits as local pods, and bursts the rest to the
// Render and Akash fakes (which seal and publish like `atelier shard`) and to a subnet peer, site B,
// whose own operator (with its own --ipfs-api, here the same Kubo) gates and pins the inputs and
// runs the shard as a local pod that seals its outputs. Local and peer pods report outputs made by
// the real wrapper through KWOK (env ATELIER_TEST_MESSAGE_<i>, which reaches the peer's pods too).
// Oracles: the S3 server's objects (bytes and sha256 against each shard's reported digest), the
// fakes' own deterministic renders, site B's API server (its RenderJob asked for the inputs and the
// sealing itself, its RenderShard reported the CIDs); a tampered peer output is not delivered.
// age-encryption is imported after the Akash fake (see remote.test.ts).
import { AkashFake } from '../fakes/akash.js';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { KeyPair } from '../../operator/src/data/seal.js';
import { RenderFake } from '../fakes/render.js';
import { testRenderContent } from '../fakes/server.js';
import { cond, createJob, getJob, jobEvents, listShards } from '../operator/helpers.js';
import { installCrds } from '../support/crds.js';
import { freshBucket, s3Of, startData, type DataSite } from '../support/data.js';
import { startOperator, type OperatorProcess } from '../support/operator.js';
import { peerSite, type PeerSite } from '../support/subnet-peer.js';
import { createComputeProvider, waitForProbes } from '../support/providers.js';
import { clients, freshNamespace, repoRoot, startCluster, stopCluster, testbed, waitFor, type Clients } from '../support/testbed.js';

const run = promisify(execFile);
const cli = path.join(repoRoot, 'dist/operator/src/cli.js');
const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
const siteA = `${testbed().name}-burst-a`;
const peer = peerSite(`${testbed().name}-burst-b`);
const render = new RenderFake({ assignDelayMs: 200, startMs: 200, jobDurationMs: 1500 });
const akash = new AkashFake({ provisionMs: 200, jobDurationMs: 1500, blockMs: 500, providers: [{ address: 'akash1provider0000000000000000000000000000a', gpuModels: ['h100'], pricePerBlock: '1000', capacity: 8, bidDelayMs: 200 }] });
let a: Clients;
let ns: string;
let site: DataSite;
let s3: S3Client;
let studio: KeyPair;
let b: PeerSite;
let op: OperatorProcess | undefined;

interface Report { outputs: { uri: string; sha256: string; cid: string }[] }

/** Runs the real wrapper for shard i: two frames, sealed to the studio and added to Kubo. */
async function shardReport(job: string, i: number): Promise<Report> {
  const dir = await mkdtemp(path.join(tmpdir(), 'atelier-burst-'));
  const script = 'mkdir -p "$ATELIER_OUTPUT_DIR/frames" && for f in 1 2; do printf "%s frame %s of shard %s" "$0" "$f" "$ATELIER_SHARD_INDEX" > "$ATELIER_OUTPUT_DIR/frames/$ATELIER_SHARD_INDEX-$f.exr"; done';
  await run('node', [cli, 'shard', '--', 'sh', '-c', script, job], {
    env: { ...process.env, ATELIER_IPFS_API: site.ipfsApi, ATELIER_OUTPUT_DIR: `${dir}/out`, ATELIER_ENCRYPT_TO: studio.recipient, ATELIER_TERMINATION_LOG: `${dir}/t`, ATELIER_SHARD_INDEX: String(i) },
  });
  return JSON.parse(await readFile(`${dir}/t`, 'utf8')) as Report;
}

async function add(text: string): Promise<string> {
  const form = new FormData();
  form.append('file', new Blob([text]), 'f');
  return ((await (await fetch(`${site.ipfsApi}/api/v0/add?cid-version=1&raw-leaves=true`, { method: 'POST', body: form })).json()) as { Hash: string }).Hash;
}

async function objects(bucket: string): Promise<Map<string, Buffer>> {
  const l = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  const out = new Map<string, Buffer>();
  for (const o of l.Contents ?? []) out.set(o.Key!, Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }))).Body!.transformToByteArray()));
  return out;
}

/** A Burst job of `reports.length` shards; shard i's pod (local or on the peer) reports reports[i]. */
function burstJob(name: string, bucket: string, reports: Report[], inputs: { name: string; cid: string; path?: string; env?: string }[]): Record<string, unknown> {
  return {
    apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderJob', metadata: { name },
    spec: {
      template: {
        image: 'ghcr.io/acme/sdxl-batch:1.4',
        env: [{ name: 'ATELIER_TEST_RENDER_SEED', value: name }, ...reports.map((r, i) => ({ name: `ATELIER_TEST_MESSAGE_${i}`, value: JSON.stringify(r) }))],
        metadata: { annotations: { 'testbed.atelier.dev/duration': '20s' } },
        resources: { limits: { 'nvidia.com/gpu': 1 } },
      },
      gpu: { models: ['nvidia-h100'] },
      shards: { count: reports.length, maxRetries: 0 },
      placement: { policy: 'Burst', burstAfter: '1s', providers: ['burst-render', 'burst-akash', 'burst-peer'] },
      inputs,
      output: { uri: `s3://${bucket}/${name}/`, encryptTo: { recipient: studio.recipient } },
    },
  };
}

beforeAll(async () => {
  site = await startData();
  s3 = s3Of(site);
  const { generateKeyPair } = await import('../../operator/src/data/seal.js');
  studio = await generateKeyPair();
  render.ipfsApi = site.ipfsApi;
  akash.ipfsApi = site.ipfsApi;
  const [kubeconfigA] = await Promise.all([startCluster(siteA, '1:2:nvidia-h100'), render.start(), akash.start()]);
  await installCrds(kubeconfigA);
  a = clients(kubeconfigA);
  b = await peer.start({ prepare: async (bc) => {
    await bc.core.createNamespace({ body: { metadata: { name: 'shared-renders' } } });
    await waitFor('B default SA', async () => { await bc.core.readNamespacedServiceAccount({ name: 'default', namespace: 'shared-renders' }); return true; });
    return { namespace: 'shared-renders', args: ['--lease-name', 'site-b', '--cluster-name', 'site-b', '--ipfs-api', site.ipfsApi, '--ipfs-gateway', site.ipfsGateway, '--input-timeout', '10'] };
  } });
  ns = await freshNamespace(a, 'data-burst');
  await a.core.createNamespace({ body: { metadata: { name: 'atelier-system' } } }).catch(() => undefined);
  await a.core.createNamespacedSecret({ namespace: 'atelier-system', body: { metadata: { name: 'burst-identity' }, stringData: { identity: studio.identity } } });
  await a.core.createNamespacedSecret({ namespace: 'atelier-system', body: { metadata: { name: 'burst-s3' }, stringData: { accessKeyId: site.s3AccessKey, secretAccessKey: site.s3SecretKey } } });
  await a.core.createNamespacedSecret({ namespace: 'atelier-system', body: { metadata: { name: 'burst-peer' }, stringData: { kubeconfig: readFileSync(b.kubeconfig, 'utf8') } } });
  const cap = { allowedNamespaces: [ns], maxConcurrentShards: 2 };
  await createComputeProvider(a, 'burst-render', 'render', render.url, `${render.opts.publicKey}:${render.opts.secretKey}`, { pricePerGpuHour: '2.00' }, cap);
  await createComputeProvider(a, 'burst-akash', 'akash', akash.url, akash.opts.apiKey, {}, cap);
  await a.custom.createClusterCustomObject({
    group: 'atelier.dev', version: 'v1alpha1', plural: 'computeproviders',
    body: {
      apiVersion: 'atelier.dev/v1alpha1', kind: 'ComputeProvider', metadata: { name: 'burst-peer' },
      spec: {
        type: 'subnet', payoutAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', gpuModels: ['nvidia-h100'], ...cap,
        subnet: { kubeconfigSecretRef: { namespace: 'atelier-system', name: 'burst-peer', key: 'kubeconfig' }, namespace: 'shared-renders' },
        options: { pricePerGpuHour: '0.50' },
      },
    },
  });
  op = startOperator(kubeconfigA, ['--namespace', ns, '--secrets-namespace', 'atelier-system', '--lease-name', 'site-a', '--cluster-name', 'site-a', '--remote-poll', '1', '--provider-probe', '2',
    '--ipfs-api', site.ipfsApi, '--ipfs-gateway', site.ipfsGateway, '--data-identity-secret', 'atelier-system/burst-identity',
    '--s3-endpoint', site.s3Endpoint, '--s3-credentials-secret', 'atelier-system/burst-s3']);
  await op.waitForLog('became leader');
  await waitForProbes(a, ['burst-render', 'burst-akash', 'burst-peer']);
}, 400_000);

afterAll(async () => {
  await op?.kill('SIGTERM');
  await Promise.all([render.stop(), akash.stop()]);
  await peer.stop();
  await stopCluster(siteA);
});

test('8 shards over local pods, the Render and Akash fakes and a subnet peer, two inputs by CID: every output delivered decrypted, sha256 = the reported digest', async () => {
  const bucket = await freshBucket(s3, 'burst');
  const scene = await add('burst scene');
  const lora = await add('burst lora');
  const reports = await Promise.all(Array.from({ length: 8 }, (_, i) => shardReport('burst-a', i)));
  const inputs = [{ name: 'scene', cid: `ipfs://${scene}`, path: '/work/scene.blend' }, { name: 'lora', cid: lora, env: 'LORA' }];
  await createJob(a, ns, burstJob('burst-a', bucket, reports, inputs));
  await waitFor('burst-a Delivered=True', async () => {
    const d = cond((await getJob(a, ns, 'burst-a')).status, 'Delivered');
    if (d?.reason === 'OutputRejected') throw new Error(d.message);
    return d?.status === 'True' ? d : undefined;
  }, 300_000, 1000);

  const shards = await listShards(a, ns, 'burst-a');
  const where = (s: (typeof shards)[number]) => ((s.status as { placement?: string }).placement === 'Remote' ? (s.status as { provider?: string }).provider! : 'local');
  console.log(`burst with data: ${shards.map((s) => `${s.spec.index}:${where(s)}`).join(' ')}`);
  expect(new Set(shards.map(where))).toEqual(new Set(['local', 'burst-render', 'burst-akash', 'burst-peer']));

  const got = await objects(bucket);
  const expected = new Set<string>();
  for (const s of shards) {
    const i = s.spec.index;
    const outs = (s.status as { result?: { outputs?: { uri: string; sha256: string; cid?: string }[] } }).result!.outputs!;
    if (where(s) === 'local' || where(s) === 'burst-peer') {
      // The wrapper's report came back through the pod (site A's or site B's) unchanged, CIDs included.
      expect(outs).toEqual(reports[i]!.outputs);
      for (const f of [1, 2]) {
        const body = got.get(`burst-a/frames/${i}-${f}.exr`);
        expect(body?.toString()).toBe(`burst-a frame ${f} of shard ${i}`);
        expect(sha(body!)).toBe(outs.find((o) => o.uri === `frames/${i}-${f}.exr`)!.sha256);
        expected.add(`burst-a/frames/${i}-${f}.exr`);
      }
    } else {
      const body = got.get(`burst-a/shard-${i}.exr`);
      expect(body?.equals(testRenderContent('burst-a', i))).toBe(true);
      expect(sha(body!)).toBe(outs[0]!.sha256);
      expect(outs[0]!.cid).toBeDefined();
      expected.add(`burst-a/shard-${i}.exr`);
    }
  }
  expect(new Set(got.keys())).toEqual(expected);

  // Site B's own records: its RenderJobs asked for the inputs and the sealing themselves, and their
  // shards reported the sealed outputs with CIDs.
  const peerJobs = ((await b.clients.custom.listNamespacedCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'renderjobs', namespace: 'shared-renders' })) as { items: { spec: { inputs?: unknown; output?: { encryptTo?: { recipient?: string } } }; status?: { phase?: string } }[] }).items;
  expect(peerJobs.length).toBe(shards.filter((s) => where(s) === 'burst-peer').length);
  for (const j of peerJobs) {
    expect(j.spec.inputs).toEqual(inputs);
    expect(j.spec.output?.encryptTo).toEqual({ recipient: studio.recipient });
    expect(j.status?.phase).toBe('Succeeded');
  }
});

test('a peer shard whose output was tampered with (digest of other bytes) is rejected on content and not delivered', async () => {
  const bucket = await freshBucket(s3, 'burst');
  const honest = await shardReport('burst-t', 0);
  const tampered: Report = { outputs: honest.outputs.map((o) => ({ ...o, sha256: sha(`other bytes ${o.uri}`) })) };
  // One shard, sent to the peer only; its pod there reports the tampered digest.
  const job = burstJob('burst-t', bucket, [tampered], []) as { spec: Record<string, any> };
  job.spec.placement = { policy: 'ProviderOnly', providers: ['burst-peer'] };
  delete job.spec.inputs;
  await createJob(a, ns, job);
  await waitFor('burst-t rejected on content', async () => {
    const j = await getJob(a, ns, 'burst-t');
    return cond(j.status, 'Delivered')?.reason === 'OutputRejected' && cond(j.status, 'Verified')?.reason === 'VerificationFailed' ? j : undefined;
  }, 180_000, 1000);
  const [shard] = await listShards(a, ns, 'burst-t');
  expect(shard!.status).toMatchObject({ placement: 'Remote', provider: 'burst-peer' });
  expect(await objects(bucket)).toEqual(new Map());
  expect((await jobEvents(a, ns, 'burst-t')).map((e) => e.reason)).toContain('ResultRejected');
});
