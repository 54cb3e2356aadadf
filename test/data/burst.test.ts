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
import { clients, freshNamespace, repoRoot, startChain, startCluster, stopChain, stopCluster, testbed, waitFor, type Clients } from '../support/testbed.js';
import { Contract, HDNodeWallet, type JsonRpcProvider } from 'ethers';
import { deploySettlement } from '../../operator/src/settlement/deploy.js';
import { makeProvider } from '../../operator/src/settlement/escrow.js';
import { loadArtifacts } from '../../operator/src/settlement/compile.js';
import { div, mul, parseMicros, usd } from '../../operator/src/money.js';

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
// Settlement (the last test): a chain of this suite's own with the escrow and a test token, and two
// Render fakes that sign their results, one of which reports sealed outputs with a wrong digest.
const CHAIN = `data-burst-${process.pid}`;
const MNEMONIC = 'test test test test test test test test test test test junk';
const honestFake = new RenderFake({ assignDelayMs: 200, startMs: 200, jobDurationMs: 1500, payoutKey: '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d' });
const tamperFake = new RenderFake({ assignDelayMs: 200, startMs: 200, jobDurationMs: 1500, payoutKey: '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a', everyJob: 'corrupt' });
let chain: JsonRpcProvider;
let token: Contract;
let payer: HDNodeWallet;
const balance = async (who: string) => (await token.getFunction('balanceOf').staticCall(who)) as bigint;

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
  honestFake.ipfsApi = site.ipfsApi;
  tamperFake.ipfsApi = site.ipfsApi;
  const [kubeconfigA, rpc] = await Promise.all([startCluster(siteA, '1:2:nvidia-h100'), startChain(CHAIN), render.start(), akash.start(), honestFake.start(), tamperFake.start()]);
  chain = makeProvider(rpc, 31337, 200);
  payer = HDNodeWallet.fromPhrase(MNEMONIC, undefined, `m/44'/60'/0'/0/0`).connect(chain);
  const d = await deploySettlement({ signer: payer, testToken: { mint: [{ to: payer.address, amount: '100000' }] } });
  token = new Contract(d.token!, (await loadArtifacts()).token.abi, chain);
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
  await a.core.createNamespacedSecret({ namespace: 'atelier-system', body: { metadata: { name: 'burst-wallet' }, stringData: { privateKey: payer.privateKey } } });
  const cap = { allowedNamespaces: [ns], maxConcurrentShards: 2 };
  await createComputeProvider(a, 'burst-honest', 'render', honestFake.url, `${honestFake.opts.publicKey}:${honestFake.opts.secretKey}`, { pricePerGpuHour: '2.00' }, { allowedNamespaces: [ns], maxConcurrentShards: 1, payoutAddress: honestFake.payoutAddress });
  await createComputeProvider(a, 'burst-tamper', 'render', tamperFake.url, `${tamperFake.opts.publicKey}:${tamperFake.opts.secretKey}`, { pricePerGpuHour: '1.00' }, { allowedNamespaces: [ns], maxConcurrentShards: 1, payoutAddress: tamperFake.payoutAddress });
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
    '--s3-endpoint', site.s3Endpoint, '--s3-credentials-secret', 'atelier-system/burst-s3'], {
    ATELIER_SETTLEMENT_RPC_URL: rpc, ATELIER_SETTLEMENT_CHAIN_ID: '31337', ATELIER_SETTLEMENT_ESCROW_ADDRESS: d.escrow,
    ATELIER_SETTLEMENT_TOKEN_ADDRESS: d.token!, ATELIER_SETTLEMENT_WALLET_SECRET: 'atelier-system/burst-wallet',
  });
  await op.waitForLog('became leader');
  await op.waitForLog('settlement connected', 90_000);
  await waitForProbes(a, ['burst-render', 'burst-akash', 'burst-peer', 'burst-honest', 'burst-tamper']);
}, 400_000);

afterAll(async () => {
  await op?.kill('SIGTERM');
  await Promise.all([render.stop(), akash.stop(), honestFake.stop(), tamperFake.stop()]);
  chain?.destroy();
  await Promise.all([peer.stop(), stopChain(CHAIN)]);
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

test('a settled sealed job on two signing providers: the one whose sealed output does not match its signed digest is not paid on chain, the honest one is paid exactly for its two verified runs', async () => {
  const bucket = await freshBucket(s3, 'burst');
  const before = { honest: await balance(honestFake.payoutAddress), tamper: await balance(tamperFake.payoutAddress) };
  const job = burstJob('burst-s', bucket, [], []) as { spec: Record<string, any> };
  job.spec.shards = { count: 2, maxRetries: 0 };
  job.spec.template.env = [{ name: 'ATELIER_TEST_RENDER_SEED', value: 'burst-s' }];
  job.spec.placement = { policy: 'ProviderOnly', providers: ['burst-honest', 'burst-tamper'] };
  job.spec.settlement = { enabled: true };
  delete job.spec.inputs;
  await createJob(a, ns, job);
  const done = await waitFor('burst-s settled', async () => {
    const j = (await getJob(a, ns, 'burst-s')) as Awaited<ReturnType<typeof getJob>> & { status?: { settlement?: { escrows?: { provider: string; state?: string }[] } } };
    const escrows = j.status?.settlement?.escrows ?? [];
    // Closed: Released, Refunded, or Withheld (refunded because a result of the provider failed its
    // check; whether the tamperer's escrow closes as Withheld or Refunded depends on whether its
    // rejection is still on shard 0's record when settlement looks, see the pay report).
    return escrows.length > 0 && escrows.every((e) => e.state === 'Released' || e.state === 'Refunded' || e.state === 'Withheld') && cond(j.status, 'Settled')?.status === 'True' ? j : undefined;
  }, 240_000, 1000).catch(async (e: unknown) => {
    // What was left undone: the job's and shards' status, the operator's last words on this job.
    console.log(`burst-s not settled: ${JSON.stringify((await getJob(a, ns, 'burst-s')).status)}\nshards: ${JSON.stringify((await listShards(a, ns, 'burst-s')).map((s) => s.status))}\noperator: ${op!.raw.filter((l) => l.includes('burst-s')).slice(-30).join('\n')}`);
    throw e;
  });
  const shards = await listShards(a, ns, 'burst-s');
  console.log(`burst-s: ${shards.map((s) => `${s.spec.index}:${(s.status as { provider?: string }).provider}`).join(' ')}; Delivered ${JSON.stringify(cond(done.status, 'Delivered'))}`);
  // The providers' own records: the tampering one ran one shard to completion; the honest one ran the
  // other shard and, once the tampered result was discarded, that shard again (key <uid>-<index>-<attempt>).
  const uid = done.metadata.uid!;
  const runs = (f: RenderFake) => f.billing().filter((r) => r.key?.startsWith(`${uid}-`) && f.jobs().find((j) => j.id === r.uuid && j.key === r.key)?.status === 'COMPLETED');
  const shardOf = (key: string) => Number(key.slice(uid.length + 1).split('-')[0]);
  const honestRuns = runs(honestFake);
  const tamperRuns = runs(tamperFake);
  expect(tamperRuns.length).toBe(1);
  expect(honestRuns.map((r) => shardOf(r.key!)).sort()).toEqual([0, 1]);
  expect(honestRuns.filter((r) => shardOf(r.key!) === shardOf(tamperRuns[0]!.key!)).length).toBe(1);
  const sum = (xs: bigint[]) => xs.reduce((x, y) => x + y, 0n);
  const billed = (rs: typeof honestRuns) => sum(rs.map((r) => parseMicros(r.usd)));
  // Per shard, for the record: the fakes' runs (their own bills), the shard's recorded costs and claim, the escrows.
  for (const [name, rs] of [['burst-honest', honestRuns], ['burst-tamper', tamperRuns]] as const) {
    for (const r of rs) console.log(`burst-s: ${name} ran shard ${shardOf(r.key!)} (${r.key}) ${r.seconds}s, billed ${r.usd} USD`);
  }
  for (const s of shards) {
    const st = s.status as { provider?: string; remoteCost?: string; attempts?: number; result?: { cost?: string; signed?: { amountClaimed?: string } } };
    console.log(`burst-s: shard ${s.spec.index} at ${st.provider}, attempts ${st.attempts}, remoteCost ${st.remoteCost}, result.cost ${st.result?.cost}, claim ${st.result?.signed?.amountClaimed}`);
  }
  // The chain: the tampering provider got nothing. The honest one is paid for each of its two runs (both
  // verified and delivered; the tampered run is nobody's to pay) the smaller of its signed claim (= its
  // bill at its own 2.20/GPU-h) and that run at the price it was configured with (2.00/GPU-h, the
  // adapter's cost: Render publishes no prices), from the run's own seconds on the fake's record.
  // Before the fix, the re-run shard was weighed against its remoteCost, which also summed the rejected
  // run at burst-tamper (278 at its 1.00/GPU-h): paid 1167 (611 + 556) instead of 1112 (556 + 556).
  const agreed = (r: (typeof honestRuns)[number]) => parseMicros(usd(div(mul('2.00', 1, r.seconds), 3600)));
  const owed = sum(honestRuns.map((r) => (parseMicros(r.usd) < agreed(r) ? parseMicros(r.usd) : agreed(r))));
  const paid = (await balance(honestFake.payoutAddress)) - before.honest;
  console.log(`burst-s: honest billed ${billed(honestRuns)}, owed ${owed}, paid ${paid}; tampering billed ${billed(tamperRuns)}, paid ${(await balance(tamperFake.payoutAddress)) - before.tamper} (token units)`);
  expect(owed).toBeGreaterThan(0n);
  expect(paid).toBe(owed);
  expect(await balance(tamperFake.payoutAddress)).toBe(before.tamper);
  expect((await jobEvents(a, ns, 'burst-s')).map((e) => e.reason)).toContain('ResultRejected');
  // S3: only honest outputs, decrypted; a shard whose tampered result was discarded ran again elsewhere.
  const got = await objects(bucket);
  const kept = shards.filter((s) => (s.status as { provider?: string }).provider === 'burst-honest');
  expect(kept.length).toBeGreaterThan(0);
  expect([...got.keys()].sort()).toEqual(kept.map((s) => `burst-s/shard-${s.spec.index}.exr`).sort());
  for (const s of kept) expect(got.get(`burst-s/shard-${s.spec.index}.exr`)!.equals(testRenderContent('burst-s', s.spec.index))).toBe(true);
}, 300_000);
