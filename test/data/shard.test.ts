// The data plane against real servers: the test-bed's Kubo node and versitygw S3 server (data.sh).
// `atelier shard` runs for real on this machine (the built CLI, a shell command that reads its
// inputs and writes files); the oracles are the IPFS node's own bytes opened with the studio's age
// identity, the S3 server's objects, and kubo's pin list — never the operator's own records.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Decrypter } from 'age-encryption';
import { deliverOutput, type SealedOutput } from '../../operator/src/data/delivery.js';
import { gateInputs } from '../../operator/src/data/inputs.js';
import { IpfsClient } from '../../operator/src/data/ipfs.js';
import { generateKeyPair, seal, type KeyPair } from '../../operator/src/data/seal.js';
import { freshBucket, s3Of, startData, type DataSite } from '../support/data.js';
import { repoRoot } from '../support/testbed.js';

const run = promisify(execFile);
const cli = path.join(repoRoot, 'dist/operator/src/cli.js');
const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

let site: DataSite;
let ipfs: IpfsClient;
let s3: S3Client;
let studio: KeyPair;

/** The node's own bytes for a CID, straight from its RPC API. */
async function catRaw(cid: string): Promise<Uint8Array> {
  const res = await fetch(`${site.ipfsApi}/api/v0/cat?arg=${cid}`, { method: 'POST' });
  if (!res.ok) throw new Error(`cat ${cid}: ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}
async function open(bytes: Uint8Array, identity = studio.identity): Promise<Buffer> {
  const d = new Decrypter();
  d.addIdentity(identity);
  return Buffer.from(await d.decrypt(bytes));
}
async function addRaw(text: string): Promise<string> {
  const form = new FormData();
  form.append('file', new Blob([text]), 'f');
  const res = await fetch(`${site.ipfsApi}/api/v0/add?cid-version=1&raw-leaves=true`, { method: 'POST', body: form });
  return ((await res.json()) as { Hash: string }).Hash;
}
async function objectBytes(bucket: string, key: string): Promise<Buffer> {
  const o = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await o.Body!.transformToByteArray());
}
async function keys(bucket: string): Promise<string[]> {
  const l = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (l.Contents ?? []).map((c) => c.Key!).sort();
}

beforeAll(async () => {
  site = await startData();
  ipfs = new IpfsClient({ api: site.ipfsApi, timeoutMs: 5000 });
  s3 = s3Of(site);
  studio = await generateKeyPair();
});

interface ShardRun { outputs: SealedOutput[]; stdout: string; termination: string; inputs: { scene: string; lora: string } }

/** Runs `atelier shard` over two inputs by CID with a command that writes two outputs. */
async function runShard(index: number): Promise<ShardRun> {
  const dir = await mkdtemp(path.join(tmpdir(), 'atelier-shard-'));
  const inputs = { scene: `scene bytes ${index}`, lora: `lora weights ${index}` };
  const [sceneCid, loraCid] = [await addRaw(inputs.scene), await addRaw(inputs.lora)];
  const env = {
    ...process.env,
    ATELIER_INPUTS: JSON.stringify([
      { name: 'scene', cid: `ipfs://${sceneCid}`, path: `${dir}/in/scene.blend` },
      { name: 'lora', cid: loraCid, path: `${dir}/in/lora.bin` },
    ]),
    ATELIER_IPFS_API: site.ipfsApi,
    ATELIER_OUTPUT_DIR: `${dir}/out`,
    ATELIER_ENCRYPT_TO: studio.recipient,
    ATELIER_TERMINATION_LOG: `${dir}/termination-log`,
    ATELIER_SHARD_INDEX: String(index),
  };
  const script = 'mkdir -p "$ATELIER_OUTPUT_DIR/frames" && cat "$0/in/scene.blend" "$0/in/lora.bin" > "$ATELIER_OUTPUT_DIR/frames/0001.png" && printf "shard %s done" "$ATELIER_SHARD_INDEX" > "$ATELIER_OUTPUT_DIR/log.txt"';
  const { stdout } = await run('node', [cli, 'shard', '--', 'sh', '-c', script, dir], { env });
  const termination = await readFile(`${dir}/termination-log`, 'utf8');
  const report = JSON.parse(termination) as { outputs: { uri: string; cid: string; sha256: string }[] };
  return { outputs: report.outputs.map((o) => ({ name: o.uri, cid: o.cid, sha256: o.sha256 })), stdout, termination, inputs };
}

describe('atelier shard, run for real', () => {
  test('fetches two inputs by CID, runs the command, seals and publishes every output; reports CIDs and plaintext digests', async () => {
    const r = await runShard(3);
    expect(r.stdout).toContain(`ATELIER_RESULT ${r.termination}`);
    expect(r.outputs.map((o) => o.name)).toEqual(['frames/0001.png', 'log.txt']);
    const want = { 'frames/0001.png': r.inputs.scene + r.inputs.lora, 'log.txt': 'shard 3 done' } as Record<string, string>;
    for (const o of r.outputs) {
      const cipher = await catRaw(o.cid);
      expect(Buffer.from(cipher).includes(Buffer.from(want[o.name]!))).toBe(false); // IPFS holds ciphertext only
      const plain = await open(cipher);
      expect(plain.toString()).toBe(want[o.name]);
      expect(o.sha256).toBe(sha(plain));
    }
  });

  test('a failing command is reported failed with no outputs and its exit code', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'atelier-shard-'));
    const env = { ...process.env, ATELIER_OUTPUT_DIR: `${dir}/out`, ATELIER_TERMINATION_LOG: `${dir}/t`, ATELIER_IPFS_API: site.ipfsApi, ATELIER_ENCRYPT_TO: studio.recipient };
    const err = await run('node', [cli, 'shard', '--', 'sh', '-c', 'echo x > "$ATELIER_OUTPUT_DIR/partial"; exit 7'], { env }).catch((e: { code: number }) => e);
    expect((err as { code: number }).code).toBe(7);
    expect(JSON.parse(await readFile(`${dir}/t`, 'utf8'))).toEqual({ outputs: [], state: 'failed', message: 'command exited 7' });
  });
});

describe('inputs gate on the real node', () => {
  test('two inputs by CID: sized and pinned (kubo lists the pins)', async () => {
    const a = await addRaw('weights A');
    const b = await addRaw('texture B!');
    await fetch(`${site.ipfsApi}/api/v0/pin/rm?arg=${a}`, { method: 'POST' });
    const r = await gateInputs(ipfs, [{ name: 'a', cid: a }, { name: 'b', cid: `ipfs://${b}` }], { resolveTimeoutMs: 5000, maxBytes: 1 << 20 });
    expect(r).toEqual({ ok: true, sizes: { a: 9, b: 10 } });
    const pins = await fetch(`${site.ipfsApi}/api/v0/pin/ls?arg=${a}&type=recursive`, { method: 'POST' });
    expect(pins.status).toBe(200);
    expect(Object.keys(((await pins.json()) as { Keys: Record<string, unknown> }).Keys)).toEqual([a]);
  });
  test('an unknown CID is InputsUnavailable naming it; an input over the cap is InputTooLarge', async () => {
    const missing = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy';
    const r = await gateInputs(ipfs, [{ name: 'ghost', cid: missing }], { resolveTimeoutMs: 3000, maxBytes: 1 << 20 });
    expect(r).toMatchObject({ ok: false, reason: 'InputsUnavailable', input: 'ghost' });
    expect(!r.ok && r.message).toContain(missing);
    const big = await addRaw('x'.repeat(2048));
    expect(await gateInputs(ipfs, [{ name: 'big', cid: big }], { resolveTimeoutMs: 3000, maxBytes: 1024 })).toMatchObject({ ok: false, reason: 'InputTooLarge', input: 'big' });
  });
});

describe('delivery to the real S3 server', () => {
  test('every output lands decrypted with sha256 = the reported digest; again (as after a kill) writes nothing twice', async () => {
    const r = await runShard(5);
    const bucket = await freshBucket(s3, 'renders');
    const target = { kind: 's3' as const, bucket, prefix: 'job-a/shard-5/' };
    const deps = { ipfs, s3, identity: studio.identity };
    // A kill after the first object: the resumed pass delivers the rest and rewrites nothing.
    expect(await deliverOutput(deps, r.outputs[0]!, target)).toMatchObject({ ok: true, state: 'Delivered' });
    const first = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `job-a/shard-5/${r.outputs[0]!.name}` }));
    const states = [];
    for (const o of r.outputs) states.push((await deliverOutput(deps, o, target)) as { state: string });
    expect(states.map((s) => s.state)).toEqual(['AlreadyDelivered', 'Delivered']);
    expect(await keys(bucket)).toEqual(['job-a/shard-5/frames/0001.png', 'job-a/shard-5/log.txt']);
    for (const o of r.outputs) expect(sha(await objectBytes(bucket, `job-a/shard-5/${o.name}`))).toBe(o.sha256);
    expect((await objectBytes(bucket, 'job-a/shard-5/log.txt')).toString()).toBe('shard 5 done');
    const again = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `job-a/shard-5/${r.outputs[0]!.name}` }));
    expect(again.LastModified).toEqual(first.LastModified);
    expect(again.ETag).toEqual(first.ETag);
  });

  test('tampered outputs are caught and nothing is written', async () => {
    const r = await runShard(6);
    const bucket = await freshBucket(s3, 'renders');
    const target = { kind: 's3' as const, bucket, prefix: '' };
    const deps = { ipfs, s3, identity: studio.identity };
    const o = r.outputs[1]!;
    const outsider = await generateKeyPair();
    const foreign = await ipfs.add(await seal(Buffer.from('shard 6 done'), [outsider.recipient]));
    const swapped = await ipfs.add(await seal(Buffer.from('shard 6 DONE'), [studio.recipient]));
    const cases: [SealedOutput, string][] = [
      [{ ...o, sha256: sha('something else') }, 'OutputDigestMismatch'],
      [{ ...o, cid: swapped }, 'OutputDigestMismatch'],
      [{ ...o, cid: foreign }, 'OutputUndecryptable'],
      [{ ...o, cid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy' }, 'OutputUnavailable'],
    ];
    for (const [out, reason] of cases) expect(await deliverOutput(deps, out, target)).toMatchObject({ ok: false, reason });
    expect(await keys(bucket)).toEqual([]);
  });

  test('a missing bucket or refused credentials: DeliveryFailed, no secret in the message', async () => {
    const r = await runShard(7);
    const o = r.outputs[1]!;
    const missing = await deliverOutput({ ipfs, s3, identity: studio.identity }, o, { kind: 's3', bucket: 'no-such-bucket-x', prefix: '' });
    expect(missing).toMatchObject({ ok: false, reason: 'DeliveryFailed' });
    expect(!missing.ok && missing.message).toMatch(/NoSuchBucket/);
    const bucket = await freshBucket(s3, 'renders');
    const wrong = s3Of(site, { accessKeyId: site.s3AccessKey, secretAccessKey: 'not-the-secret-0123456789' });
    const refused = await deliverOutput({ ipfs, s3: wrong, identity: studio.identity }, o, { kind: 's3', bucket, prefix: '' });
    expect(refused).toMatchObject({ ok: false, reason: 'DeliveryFailed' });
    expect(JSON.stringify(refused)).not.toContain('not-the-secret');
    expect(JSON.stringify(refused)).not.toContain(site.s3SecretKey);
    expect(await keys(bucket)).toEqual([]);
  });

  test('ipfs:// delivery leaves the sealed output pinned', async () => {
    const r = await runShard(8);
    const o = r.outputs[0]!;
    await fetch(`${site.ipfsApi}/api/v0/pin/rm?arg=${o.cid}`, { method: 'POST' });
    expect(await deliverOutput({ ipfs, identity: studio.identity }, o, { kind: 'ipfs' })).toMatchObject({ ok: true, state: 'Pinned' });
    const pins = await fetch(`${site.ipfsApi}/api/v0/pin/ls?arg=${o.cid}&type=recursive`, { method: 'POST' });
    expect(pins.status).toBe(200);
  });
});
