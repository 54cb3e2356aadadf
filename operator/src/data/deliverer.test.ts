// The delivery reconciler in-process: a fake IPFS node (bytes by CID; a CID is the CIDv1 raw sha2-256
// of the bytes, recomputed on add as Kubo does for a one-block file), a fake S3 store recording every PUT, a recording
// writer and recorder; real age sealing. Table-driven scenarios assert the store's objects and PUT
// counts, the RenderShards marked rejected and the Events — never the Deliverer's own memo —
// including an operator killed after any object (a fresh Deliverer resumes).
import { createHash } from 'node:crypto';
import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { sha256 } from 'multiformats/hashes/sha2';
import { nopLog } from '../runtime/logger.js';
import { Deliverer, objectName, type Condition, type DeliveryStatus, type JobView, type ShardView } from './deliverer.js';
import type { IpfsClient } from './ipfs.js';
import { generateKeyPair, seal, type KeyPair } from './seal.js';

const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
class Killed extends Error {}

class FakeIpfs {
  readonly blocks = new Map<string, Uint8Array>();
  /** CIDs whose bytes the node serves wrong (a lying node or provider). */
  readonly lie = new Set<string>();
  async put(b: Uint8Array): Promise<string> { const cid = await this.add(b); this.blocks.set(cid, b); return cid; }
  async add(b: Uint8Array) { return CID.create(1, raw.code, await sha256.digest(b)).toString(); }
  async cat(p: string) {
    const cid = p.replace('/ipfs/', '');
    const b = this.blocks.get(cid);
    if (!b) throw new Error('not found');
    return this.lie.has(cid) ? Uint8Array.from([...b, 1]) : b;
  }
  async pin() {}
}

class FakeS3 {
  readonly objects = new Map<string, { body: Buffer; digest?: string; meta?: Record<string, string> }>();
  readonly puts = new Map<string, number>();
  failPuts = false;
  async send(cmd: unknown): Promise<unknown> {
    const input = (cmd as { input: { Bucket: string; Key: string; Body?: Uint8Array; Metadata?: Record<string, string> } }).input;
    const key = `${input.Bucket}/${input.Key}`;
    if (cmd instanceof HeadObjectCommand) {
      const o = this.objects.get(key);
      if (!o) throw Object.assign(new Error('not found'), { name: 'NotFound' });
      return { Metadata: o.meta ?? {} };
    }
    if (cmd instanceof PutObjectCommand) {
      if (this.failPuts) throw Object.assign(new Error('The specified bucket does not exist'), { name: 'NoSuchBucket' });
      this.puts.set(key, (this.puts.get(key) ?? 0) + 1);
      this.objects.set(key, { body: Buffer.from(input.Body!), ...(input.Metadata?.['atelier-sha256'] ? { digest: input.Metadata['atelier-sha256'] } : {}), meta: { ...input.Metadata } });
      return {};
    }
    throw new Error('unexpected command');
  }
}

interface World { ipfs: FakeIpfs; s3: FakeS3; studio: KeyPair; job: JobView; shards: ShardView[]; rejected: string[]; events: string[]; statuses: { delivery: DeliveryStatus; cond: Condition }[] }

async function world(phase = 'Succeeded'): Promise<World> {
  const studio = await generateKeyPair();
  const job: JobView = { namespace: 'studio', name: 'j', uid: 'u1', phase, total: 2, outputUri: 's3://renders/j/', sealed: true, metadata: { name: 'j', namespace: 'studio', uid: 'u1' } };
  return { ipfs: new FakeIpfs(), s3: new FakeS3(), studio, job, shards: [], rejected: [], events: [], statuses: [] };
}

/** A shard whose outputs (name -> text) are sealed to the studio's key and on the fake node. */
async function shard(w: World, index: number, files: Record<string, string>, over: Partial<ShardView> = {}): Promise<ShardView> {
  const outputs = [];
  for (const [uri, text] of Object.entries(files)) outputs.push({ uri, sha256: sha(text), cid: await w.ipfs.put(await seal(Buffer.from(text), [w.studio.recipient])) });
  const s: ShardView = { name: `j-${index}`, index, phase: 'Succeeded', placement: 'Local', outputs, ...over };
  w.shards.push(s);
  return s;
}

function deliverer(w: World, killAfter?: number): Deliverer {
  let written = 0;
  return new Deliverer({
    ipfs: w.ipfs as unknown as IpfsClient, s3: w.s3 as unknown as S3Client, identity: async () => w.studio.identity,
    job: () => w.job, shards: () => w.shards,
    writeStatus: async (_ns, _n, delivery, cond) => { w.statuses.push({ delivery, cond }); },
    rejectShard: async (_ns, name) => { w.rejected.push(name); },
    recorder: { event: (_o, _t, reason, message) => { w.events.push(`${reason}: ${message}`); } }, log: nopLog,
    ...(killAfter !== undefined ? { afterObject: () => { if (++written >= killAfter) throw new Killed(); } } : {}),
  });
}
const last = (w: World) => w.statuses[w.statuses.length - 1]!;

test('two local shards: every object written once with its digest; Delivered=True once the job succeeded', async () => {
  const w = await world();
  await shard(w, 0, { 'f/0.exr': 'frame zero', 'log.txt': 'ok 0' });
  await shard(w, 1, { 'f/1.exr': 'frame one' });
  expect(await deliverer(w).reconcile('studio/j')).toEqual({});
  expect([...w.s3.objects.keys()].sort()).toEqual(['renders/j/f/0.exr', 'renders/j/f/1.exr', 'renders/j/log.txt']);
  expect(w.s3.objects.get('renders/j/f/1.exr')!.body.toString()).toBe('frame one');
  expect([...w.s3.puts.values()]).toEqual([1, 1, 1]);
  expect(last(w).cond).toMatchObject({ status: 'True', reason: 'AllOutputsDelivered' });
  expect(last(w).delivery).toMatchObject({ delivered: 3, rejected: 0, bytes: 23 });
});

test('two shards writing the same file name: the first is delivered, the second is not written over it and says why', async () => {
  const w = await world();
  await shard(w, 0, { 'out.png': 'image of shard zero' });
  await shard(w, 1, { 'out.png': 'image of shard one' });
  const d = deliverer(w);
  expect(await d.reconcile('studio/j')).toEqual({ requeueAfterMs: expect.any(Number) });
  expect(w.s3.puts.get('renders/j/out.png')).toBe(1);
  const kept = w.s3.objects.get('renders/j/out.png')!;
  const failed = last(w).delivery.shards.find((s) => s.state === 'Failed')!;
  expect(kept.body.toString()).toBe(`image of shard ${failed.index === 1 ? 'zero' : 'one'}`);
  expect(kept.meta?.['atelier-shard']).toBe(`studio/j/${failed.index === 1 ? 0 : 1}`);
  expect(failed.message).toContain('already holds the output of studio/j/');
  expect(w.events.some((e) => e.startsWith('DeliveryFailed') && e.includes('same name'))).toBe(true);
  // Asked again: still not written over.
  await d.reconcile('studio/j');
  expect(w.s3.puts.get('renders/j/out.png')).toBe(1);
});

test.each([
  ['a tampered digest', async (w: World) => { const s = await shard(w, 1, { 'f/1.exr': 'frame one' }); s.outputs![0]!.sha256 = sha('other'); }, 'OutputDigestMismatch'],
  ['bytes not matching the CID', async (w: World) => { const s = await shard(w, 1, { 'f/1.exr': 'frame one' }); w.ipfs.lie.add(s.outputs![0]!.cid!); }, 'OutputCidMismatch'],
  ['sealed to another key', async (w: World) => { const other = await generateKeyPair(); const cid = await w.ipfs.put(await seal(Buffer.from('x'), [other.recipient])); w.shards.push({ name: 'j-1', index: 1, phase: 'Succeeded', placement: 'Remote', provider: 'akash', verification: { state: 'Verified' }, outputs: [{ uri: 'f/1.exr', sha256: sha('x'), cid }] }); }, 'OutputUndecryptable'],
  ['an output without a CID', async (w: World) => { w.shards.push({ name: 'j-1', index: 1, phase: 'Succeeded', placement: 'Local', outputs: [{ uri: 'f/1.exr', sha256: sha('x') }] }); }, 'no CID'],
])('%s: the shard is rejected, nothing of it written, the other shard delivered', async (_n, make, reason) => {
  const w = await world();
  await shard(w, 0, { 'f/0.exr': 'frame zero' });
  await make(w);
  const d = deliverer(w);
  await d.reconcile('studio/j');
  expect([...w.s3.objects.keys()]).toEqual(['renders/j/f/0.exr']);
  expect(last(w).cond).toMatchObject({ status: 'False', reason: 'OutputRejected' });
  expect(last(w).delivery.shards.find((s) => s.index === 1)).toMatchObject({ state: 'Rejected' });
  expect(last(w).delivery.shards.find((s) => s.index === 1)!.message).toContain(reason);
  if (reason !== 'no CID') {
    expect(w.rejected).toEqual(['j-1']);
    expect(w.events.some((e) => e.startsWith('ResultRejected') && e.includes(reason))).toBe(true);
  }
  // The RenderJob controller discards the rejected result (the shard waits for another run): it stays reported rejected.
  w.shards[1] = { ...w.shards[1]!, phase: 'Pending', outputs: undefined };
  await d.reconcile('studio/j');
  expect(last(w).cond).toMatchObject({ status: 'False', reason: 'OutputRejected' });
  expect(w.s3.puts.get('renders/j/f/0.exr')).toBe(1);
});

test('a remote result waiting for its spot check is not delivered yet; once Verified it is', async () => {
  const w = await world('Running');
  const s = await shard(w, 0, { 'f/0.exr': 'frame zero' }, { placement: 'Remote', provider: 'akash', verification: { state: 'Pending' } });
  const d = deliverer(w);
  await d.reconcile('studio/j');
  expect(w.s3.objects.size).toBe(0);
  expect(last(w).delivery.shards).toEqual([{ index: 0, state: 'Pending', objects: 0, message: 'waiting for the spot check' }]);
  s.verification = { state: 'Verified' };
  await d.reconcile('studio/j');
  expect([...w.s3.objects.keys()]).toEqual(['renders/j/f/0.exr']);
  expect(last(w).cond).toMatchObject({ status: 'False', reason: 'Delivering' });
});

test('a store that refuses: DeliveryFailed, retried, nothing lost; delivered when it accepts', async () => {
  const w = await world();
  await shard(w, 0, { 'f/0.exr': 'frame zero' });
  w.s3.failPuts = true;
  const d = deliverer(w);
  expect(await d.reconcile('studio/j')).toEqual({ requeueAfterMs: 5000 });
  expect(w.events.some((e) => e.startsWith('DeliveryFailed') && e.includes('NoSuchBucket'))).toBe(true);
  expect(last(w).cond).toMatchObject({ status: 'False', reason: 'DeliveryFailed' });
  w.s3.failPuts = false;
  await d.reconcile('studio/j');
  expect([...w.s3.puts.values()]).toEqual([1]);
});

test.each([1, 2, 3, 4])('killed after object %i: a fresh operator delivers the rest, every object written exactly once', async (k) => {
  const w = await world();
  await shard(w, 0, { 'a.exr': 'a', 'b.exr': 'b' });
  await shard(w, 1, { 'c.exr': 'c', 'd.exr': 'd' });
  await expect(deliverer(w, k).reconcile('studio/j')).rejects.toThrow(Killed);
  await deliverer(w).reconcile('studio/j');
  expect([...w.s3.puts.entries()].sort()).toEqual([['renders/j/a.exr', 1], ['renders/j/b.exr', 1], ['renders/j/c.exr', 1], ['renders/j/d.exr', 1]]);
  expect(last(w).cond.status).toBe('True');
});

test.each([
  ['frames/0001.exr', 'frames/0001.exr'],
  ['s3://renders/j/shard-3.exr', 'shard-3.exr'],
  ['s3://renders/j/sub/shard-3.exr', 'sub/shard-3.exr'],
  ['https://cdn.example/x/shard-3.exr', 'shard-3.exr'],
])('object name of %s', (uri, want) => expect(objectName(uri, 's3://renders/j')).toBe(want));
