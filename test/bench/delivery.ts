// BENCH=delivery: the operator's delivery throughput. On a fresh test-bed cluster and data plane
// (Kubo + versitygw), OUTPUTS (default 100) outputs of OUTPUT_MIB (default 10) MiB of random bytes
// are sealed to a fresh age key and added to IPFS as the shard wrapper does; a RenderJob of
// OUTPUTS/PER_SHARD local shards reports them (KWOK termination messages). The real operator (the built CLI) fetches
// each by CID, recomputes the CID, decrypts, checks the sha256 and writes it to the S3 bucket. Prints
// MB/s from the job's creation to Delivered=True (the shards themselves run 1 s), and the operator's CPU seconds and peak RSS
// over that window, from /proc. Measured, never asserted.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { Encrypter, generateX25519Identity, identityToRecipient } from 'age-encryption';
import { S3Client, CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { clusterDown, clusterUp, procStat, repoRoot, round } from './cluster.js';

const run = promisify(execFile);
const env = process.env;
const outputs = Number(env.OUTPUTS ?? 100);
const mib = Number(env.OUTPUT_MIB ?? 10);
const name = env.BENCH_NAME ?? 'bench-delivery';
// A RenderJob's template takes at most 64 annotations: outputs are spread over PER_SHARD per shard
// (10 results of ~175 bytes stay well under the 4 KiB termination message).
const perShard = Number(env.PER_SHARD ?? 10);
const shards = Math.ceil(outputs / perShard);
const ADD = 'cid-version=1&raw-leaves=true&hash=sha2-256&chunker=size-262144&pin=true&quieter=true';

interface Site { ipfsApi: string; s3Endpoint: string; s3AccessKey: string; s3SecretKey: string; s3Region: string }

async function dataUp(): Promise<Site> {
  const { stdout } = await run('bash', [path.join(repoRoot, 'test/testbed/data.sh'), 'up', name]);
  return JSON.parse(readFileSync(stdout.trim().split('\n').pop()!, 'utf8')) as Site;
}

async function sealAndAdd(site: Site, recipient: string, i: number): Promise<{ uri: string; sha256: string; cid: string }> {
  const plain = randomBytes(mib * 1024 * 1024);
  const e = new Encrypter();
  e.addRecipient(recipient);
  const sealed = await e.encrypt(plain);
  const form = new FormData();
  form.append('file', new Blob([sealed]), 'f');
  const res = await fetch(`${site.ipfsApi}/api/v0/add?${ADD}`, { method: 'POST', body: form });
  const cid = ((await res.json()) as { Hash: string }).Hash;
  return { uri: `frames/${String(i).padStart(4, '0')}.exr`, sha256: createHash('sha256').update(plain).digest('hex'), cid };
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const cluster = await clusterUp(name, env.NODE_SPEC ?? '4:8:nvidia-h100');
  const site = await dataUp();
  try {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    await run('bash', ['-c', `${process.env.HOME}/.cache/atelier/bin/current/kubectl --kubeconfig ${cluster.kubeconfig} apply -f ${path.join(repoRoot, 'crds')} >/dev/null`]);
    const identity = await generateX25519Identity();
    const recipient = await identityToRecipient(identity);
    const ns = 'bench';
    await core.createNamespace({ body: { metadata: { name: ns } } }).catch(() => undefined);
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'studio-identity' }, stringData: { identity } } });
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 's3' }, stringData: { accessKeyId: site.s3AccessKey, secretAccessKey: site.s3SecretKey } } });
    const s3 = new S3Client({ endpoint: site.s3Endpoint, region: site.s3Region, forcePathStyle: true, credentials: { accessKeyId: site.s3AccessKey, secretAccessKey: site.s3SecretKey } });
    await s3.send(new CreateBucketCommand({ Bucket: 'renders' }));
    const tSeal = Date.now();
    const reports = [];
    for (let i = 0; i < outputs; i++) reports.push(await sealAndAdd(site, recipient, i));
    const sealMs = Date.now() - tSeal;
    const op = spawn(process.execPath, [path.join(repoRoot, 'dist/operator/src/cli.js'), 'run', '--kubeconfig', cluster.kubeconfig, '--namespace', ns, '--secrets-namespace', ns,
      '--leader-elect', 'false', '--metrics-addr', '127.0.0.1:0', '--ipfs-api', site.ipfsApi, '--data-identity-secret', `${ns}/studio-identity`,
      '--s3-endpoint', site.s3Endpoint, '--s3-credentials-secret', `${ns}/s3`, '--log-level', 'warn'], { stdio: 'ignore', env: { ...env, NODE_OPTIONS: '' } });
    const annotations: Record<string, string> = { 'testbed.atelier.dev/duration': '1s' };
    for (let i = 0; i < shards; i++) annotations[`testbed.atelier.dev/message-${i}`] = JSON.stringify({ outputs: reports.slice(i * perShard, (i + 1) * perShard) });
    await new Promise((r) => setTimeout(r, 3000)); // the operator starts and syncs its caches
    const start = { at: Date.now(), cpu: procStat(op.pid!)?.cpuSeconds ?? 0 };
    await custom.createNamespacedCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'renderjobs', namespace: ns, body: {
      apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderJob', metadata: { name: 'deliver' },
      spec: { template: { image: 'render:1', resources: { limits: { 'nvidia.com/gpu': 1 } }, metadata: { annotations } }, shards: { count: shards, parallelism: shards }, output: { uri: 's3://renders/deliver/', encryptTo: { recipient } } },
    } });
    let peak = 0;
    let done: { at: number; cpu: number } | undefined;
    while (!done) {
      await new Promise((r) => setTimeout(r, 250));
      const st = procStat(op.pid!);
      if (!st) throw new Error('the operator exited');
      peak = Math.max(peak, st.rssBytes);
      const job = (await custom.getNamespacedCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'renderjobs', namespace: ns, name: 'deliver' })) as { status?: { conditions?: { type: string; status: string }[] } };
      if (job.status?.conditions?.some((c) => c.type === 'Delivered' && c.status === 'True')) done = { at: Date.now(), cpu: st.cpuSeconds };
      if (Date.now() - t0 > 30 * 60_000) throw new Error('timed out after 30 min');
    }
    op.kill('SIGTERM');
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'renders' }));
    const secs = (done.at - start.at) / 1000;
    const mb = (outputs * mib * 1024 * 1024) / 1e6;
    process.stdout.write(`\nAtelier delivery benchmark: ${outputs} outputs x ${mib} MiB over ${shards} shards (sealed + added in ${round(sealMs / 1000, 1)} s by the bench)\n`);
    process.stdout.write(`  objects in the bucket      ${listed.KeyCount}\n`);
    process.stdout.write(`  job created -> Delivered=True (incl. the shards' 1 s run)  ${round(secs, 2)} s\n`);
    process.stdout.write(`  throughput                 ${round(mb / secs, 1)} MB/s (plaintext delivered)\n`);
    process.stdout.write(`  operator CPU               ${round(done.cpu - start.cpu, 2)} s (${round((done.cpu - start.cpu) / secs * 100, 0)}% of one core)\n`);
    process.stdout.write(`  operator peak RSS          ${round(peak / 1024 / 1024, 0)} MiB (sampled every 250 ms)\n`);
  } finally {
    await run('bash', [path.join(repoRoot, 'test/testbed/data.sh'), 'down', name]).catch(() => undefined);
    await clusterDown(name);
  }
}

await main();
