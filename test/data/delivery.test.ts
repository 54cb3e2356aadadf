// Delivery by the running operator (the built CLI) on the test-bed: shard outputs are made by the
// real `atelier shard` wrapper (sealed to the studio's age key, added to the Kubo node), and each
// local shard pod reports them through KWOK (testbed.atelier.dev/message-<i>). The operator fetches
// each by CID, checks it, decrypts it with the identity from a Secret and writes it to versitygw.
// Oracles: the S3 server's objects and its own request log (PUT count per key: exactly once, also
// across a SIGKILL mid-delivery), the API server's conditions, Events and RenderShards.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { generateKeyPair, type KeyPair } from '../../operator/src/data/seal.js';
import { cond, createJob, getJob, jobEvents, listShards, renderJob } from '../operator/helpers.js';
import { installCrds } from '../support/crds.js';
import { freshBucket, s3Of, startData, type DataSite } from '../support/data.js';
import { startOperator, type OperatorProcess } from '../support/operator.js';
import { clients, freshNamespace, repoRoot, testbed, waitFor, type Clients } from '../support/testbed.js';

const run = promisify(execFile);
const cli = path.join(repoRoot, 'dist/operator/src/cli.js');
const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

let c: Clients;
let ns: string;
let site: DataSite;
let s3: S3Client;
let studio: KeyPair;
let ops: OperatorProcess[] = [];

interface Report { outputs: { uri: string; sha256: string; cid: string }[] }

/** Runs the real wrapper for shard i of a job: two frames and a log, sealed and published. */
async function shardReport(job: string, i: number): Promise<Report> {
  const dir = await mkdtemp(path.join(tmpdir(), 'atelier-dl-'));
  const script = 'mkdir -p "$ATELIER_OUTPUT_DIR/frames" && for f in 1 2; do printf "%s frame %s of shard %s" "$0" "$f" "$ATELIER_SHARD_INDEX" > "$ATELIER_OUTPUT_DIR/frames/$ATELIER_SHARD_INDEX-$f.exr"; done';
  await run('node', [cli, 'shard', '--', 'sh', '-c', script, job], {
    env: { ...process.env, ATELIER_IPFS_API: site.ipfsApi, ATELIER_OUTPUT_DIR: `${dir}/out`, ATELIER_ENCRYPT_TO: studio.recipient, ATELIER_TERMINATION_LOG: `${dir}/t`, ATELIER_SHARD_INDEX: String(i) },
  });
  return JSON.parse(await readFile(`${dir}/t`, 'utf8')) as Report;
}

function sealedJob(name: string, bucket: string, reports: Report[]): Record<string, unknown> {
  const annotations: Record<string, string> = { 'testbed.atelier.dev/duration': '1s' };
  reports.forEach((r, i) => { annotations[`testbed.atelier.dev/message-${i}`] = JSON.stringify(r); });
  const job = renderJob(name, { count: reports.length, annotations }) as { spec: Record<string, any> };
  job.spec.output = { uri: `s3://${bucket}/${name}/`, encryptTo: { recipient: studio.recipient } };
  return job;
}

async function objects(bucket: string): Promise<Map<string, Buffer>> {
  const l = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  const out = new Map<string, Buffer>();
  for (const o of l.Contents ?? []) {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }));
    out.set(o.Key!, Buffer.from(await got.Body!.transformToByteArray()));
  }
  return out;
}

/** PUTs of each key of the bucket, from the S3 server's own request log. */
async function putsPerKey(bucket: string): Promise<Map<string, number>> {
  const log = await readFile(path.join(repoRoot, `.testbed/data-${process.env.ATELIER_TEST_CLUSTER ?? 'jest'}/logs/s3.log`), 'utf8');
  const counts = new Map<string, number>();
  for (const m of log.matchAll(new RegExp(`\\| PUT \\| /${bucket}/(\\S+) `, 'g'))) counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1);
  return counts;
}

function operator(extraEnv: Record<string, string> = {}): OperatorProcess {
  const op = startOperator(testbed().kubeconfig, [
    '--namespace', ns, '--secrets-namespace', ns, '--lease-name', 'atelier-data-delivery',
    '--ipfs-api', site.ipfsApi, '--input-timeout', '5', '--data-identity-secret', `${ns}/studio-identity`,
    '--s3-endpoint', site.s3Endpoint, '--s3-credentials-secret', `${ns}/s3-credentials`,
  ], extraEnv);
  ops.push(op);
  return op;
}

const delivered = (name: string) => waitFor(`${name} Delivered=True`, async () => {
  const d = cond((await getJob(c, ns, name)).status, 'Delivered');
  if (d?.reason === 'OutputRejected') throw new Error(d.message);
  return d?.status === 'True' ? d : undefined;
}, 120000);

beforeAll(async () => {
  c = clients();
  await installCrds();
  site = await startData();
  s3 = s3Of(site);
  studio = await generateKeyPair();
  ns = await freshNamespace(c, 'data-dl');
  await c.core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'studio-identity' }, stringData: { identity: studio.identity } } });
  await c.core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 's3-credentials' }, stringData: { accessKeyId: site.s3AccessKey, secretAccessKey: site.s3SecretKey } } });
});

afterEach(async () => {
  for (const op of ops) await op.kill('SIGTERM');
  ops = [];
});

test('sealed outputs of 3 local shards arrive in the bucket decrypted, each sha256 = the reported digest, each written once', async () => {
  const bucket = await freshBucket(s3, 'studio');
  const reports = await Promise.all([0, 1, 2].map((i) => shardReport('render-a', i)));
  const op = operator();
  await op.waitForLog('became leader');
  await createJob(c, ns, sealedJob('render-a', bucket, reports));
  const d = await delivered('render-a');
  expect(d.message).toContain('6 object(s) from 3 shard(s)');
  const got = await objects(bucket);
  expect([...got.keys()].sort()).toEqual(reports.flatMap((r) => r.outputs.map((o) => `render-a/${o.uri}`)).sort());
  for (const r of reports) for (const o of r.outputs) expect(sha(got.get(`render-a/${o.uri}`)!)).toBe(o.sha256);
  expect(got.get('render-a/frames/2-1.exr')!.toString()).toBe('render-a frame 1 of shard 2');
  expect([...(await putsPerKey(bucket)).values()]).toEqual([1, 1, 1, 1, 1, 1]);
  const logs = JSON.stringify(op.logs);
  expect(logs).not.toContain(studio.identity);
  expect(logs).not.toContain(site.s3SecretKey);
});

test('a tampered output (digest not matching the decrypted bytes) is rejected: ResultRejected, verification Failed, nothing of it written', async () => {
  const bucket = await freshBucket(s3, 'studio');
  const reports = await Promise.all([0, 1].map((i) => shardReport('render-t', i)));
  reports[1]!.outputs[0]!.sha256 = sha('not what was rendered');
  const op = operator();
  await op.waitForLog('became leader');
  await createJob(c, ns, sealedJob('render-t', bucket, reports));
  const d = await waitFor('Delivered=False OutputRejected', async () => {
    const x = cond((await getJob(c, ns, 'render-t')).status, 'Delivered');
    return x?.reason === 'OutputRejected' ? x : undefined;
  }, 120000);
  expect(d.status).toBe('False');
  const ev = await waitFor('ResultRejected Event', async () => (await jobEvents(c, ns, 'render-t')).find((e) => e.reason === 'ResultRejected'));
  expect(ev.message).toContain('OutputDigestMismatch');
  const shard1 = (await listShards(c, ns, 'render-t')).find((s) => s.spec.index === 1)!;
  expect((shard1.status as { verification?: { state?: string } }).verification?.state).toBe('Failed');
  const shards = await waitFor('both shards settled in status.delivery', async () => {
    const s = ((await getJob(c, ns, 'render-t')).status as { delivery?: { shards?: { index: number; state: string }[] } }).delivery?.shards;
    return s?.length === 2 && s.every((x) => x.state !== 'Pending') ? s : undefined;
  }, 120000);
  expect(shards.map((x) => x.state)).toEqual(['Delivered', 'Rejected']);
  const keys = [...(await objects(bucket)).keys()].sort();
  expect(keys).toEqual(['render-t/frames/0-1.exr', 'render-t/frames/0-2.exr']);
});

test('the operator SIGKILLed during delivery, then restarted: every object is delivered exactly once', async () => {
  const bucket = await freshBucket(s3, 'studio');
  const reports = await Promise.all([0, 1, 2, 3].map((i) => shardReport('render-k', i)));
  const first = operator({ ATELIER_TEST_KILL_AFTER_OBJECTS: '3' });
  await first.waitForLog('became leader');
  await createJob(c, ns, sealedJob('render-k', bucket, reports));
  expect(await first.exited).toBeNull(); // killed by its signal, not exited
  expect(first.proc.signalCode).toBe('SIGKILL');
  // Killed mid-delivery: at least the 3 objects before the kill landed (up to 4 shards are delivered at
  // once, so a few more may have been in flight), not all 8, none twice.
  const before = await putsPerKey(bucket);
  const landed = [...before.values()].reduce((a, b) => a + b, 0);
  expect(landed).toBeGreaterThanOrEqual(3);
  expect(landed).toBeLessThan(8);
  expect([...before.values()].every((n) => n === 1)).toBe(true);
  const second = operator();
  await second.waitForLog('became leader');
  await delivered('render-k');
  const puts = await putsPerKey(bucket);
  expect(puts.size).toBe(8);
  expect([...puts.values()].every((n) => n === 1)).toBe(true);
  const got = await objects(bucket);
  for (const r of reports) for (const o of r.outputs) expect(sha(got.get(`render-k/${o.uri}`)!)).toBe(o.sha256);
});
