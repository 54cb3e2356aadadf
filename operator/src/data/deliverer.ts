// The delivery controller's reconcile, one job at a time: for every succeeded shard whose outputs
// are sealed and content-addressed (cid on each), once its result is trusted (a local pod, or a
// remote result Verified/Skipped), deliver each output (delivery.ts: fetch by CID, recompute the CID,
// decrypt with the studio's identity, compare the plaintext sha256 to the reported and signed
// digest, write to s3:// or pin for ipfs://). Rejected content marks the shard's verification Failed
// (so settlement withholds the provider's escrow, as for a failed spot check) with a Warning Event;
// a store that refuses is retried with backoff. It writes only status.delivery and the Delivered
// condition, with its own field manager. A shard delivered in this process is not looked at again;
// after a restart each object is found in the store by key and digest and not written twice.
import type { S3Client } from '@aws-sdk/client-s3';
import type { Log as Logger, Recorder } from '../runtime/index.js';
import { deliverOutput, parseTarget, type DeliveryOutcome, type SealedOutput } from './delivery.js';
import type { IpfsClient } from './ipfs.js';

export interface ShardView {
  name: string;
  index: number;
  phase?: string;
  placement?: string;
  provider?: string;
  outputs?: { uri: string; sha256: string; cid?: string }[];
  verification?: { state?: string };
}

export interface JobView {
  namespace: string;
  name: string;
  uid: string;
  phase?: string;
  total: number;
  outputUri: string;
  sealed: boolean;
  metadata: { name: string; namespace: string; uid: string };
}

export interface ShardDelivery { index: number; state: 'Pending' | 'Delivered' | 'Rejected' | 'Failed'; objects: number; message?: string }
export interface DeliveryStatus { delivered: number; rejected: number; bytes: number; shards: ShardDelivery[] }
export interface Condition { type: 'Delivered'; status: 'True' | 'False'; reason: string; message: string }

export interface DelivererDeps {
  ipfs: IpfsClient;
  s3?: S3Client;
  /** The studio's age identity (from the Secret), read when needed. */
  identity(): Promise<string>;
  job(key: string): JobView | undefined;
  shards(key: string): ShardView[];
  writeStatus(namespace: string, name: string, delivery: DeliveryStatus, cond: Condition): Promise<void>;
  /** Marks a shard's result rejected on its RenderShard (verification Failed). */
  rejectShard(namespace: string, shard: string, provider: string | undefined, message: string): Promise<void>;
  recorder: Recorder;
  log: Logger;
  /** Deterministic fault hook for tests: called after each object is written. */
  afterObject?: (key: string) => void;
}

const RETRY_MS = 5000;

/**
 * An output's name under the job's output prefix: the wrapper reports names relative to its output
 * directory; a remote shard may report a full URI under spec.output.uri (that prefix is dropped) or
 * elsewhere (its last segment is kept).
 */
export function objectName(uri: string, outputUri: string): string {
  const base = outputUri.replace(/\/?$/, '/');
  if (uri.startsWith(base)) return uri.slice(base.length);
  return uri.includes('://') ? uri.slice(uri.lastIndexOf('/') + 1) : uri;
}
const SHARD_CONCURRENCY = 4;

export class Deliverer {
  /** uid/index -> the shard's finished delivery (this process). */
  private readonly done = new Map<string, ShardDelivery & { bytes: number }>();
  /** uid/index -> the shard's last rejected result (this process). */
  private readonly rejected = new Map<string, ShardDelivery & { bytes: number }>();

  constructor(private readonly d: DelivererDeps) {}

  async reconcile(key: string): Promise<{ requeueAfterMs?: number }> {
    const job = this.d.job(key);
    if (!job || !job.sealed) return {};
    const target = parseTarget(job.outputUri);
    if (!target) return {};
    // Shards are delivered SHARD_CONCURRENCY at a time (each one's outputs in order): fetching,
    // hashing and writing overlap across shards, and one slow shard does not hold the others.
    const list = this.d.shards(key).sort((a, b) => a.index - b.index);
    const results: ((ShardDelivery & { bytes: number }) | undefined)[] = new Array(list.length);
    let next = 0;
    let firstErr: unknown;
    const worker = async () => {
      while (next < list.length) {
        const i = next++;
        try { results[i] = await this.shard(job, list[i]!, target); } catch (e) { firstErr ??= e; }
      }
    };
    await Promise.all(Array.from({ length: Math.min(SHARD_CONCURRENCY, list.length) }, worker));
    if (firstErr !== undefined) throw firstErr;
    const shards = results.filter((r) => r !== undefined);
    await this.write(job, shards);
    return shards.some((r) => r.state === 'Failed') ? { requeueAfterMs: RETRY_MS } : {};
  }

  private async shard(job: JobView, s: ShardView, target: NonNullable<ReturnType<typeof parseTarget>>): Promise<(ShardDelivery & { bytes: number }) | undefined> {
    // Keyed by the result too: a shard run again (another attempt, another provider) is looked at anew.
    const memo = `${job.uid}/${s.index}/${(s.outputs ?? []).map((o) => `${o.uri}=${o.cid ?? ''}:${o.sha256}`).join(',')}`;
    const known = this.done.get(memo);
    if (known) return known;
    // A rejected result is discarded by the RenderJob controller (the shard waits for another run):
    // it stays reported as rejected until a new result of the shard is delivered.
    if (s.phase !== 'Succeeded' || !s.outputs) return this.rejected.get(`${job.uid}/${s.index}`);
    if (s.placement === 'Remote' && s.verification?.state === 'Pending') return { index: s.index, state: 'Pending', objects: 0, bytes: 0, message: 'waiting for the spot check' };
    if (s.verification?.state === 'Failed') return this.remember(memo, { index: s.index, state: 'Rejected', objects: 0, bytes: 0, message: 'the result failed verification' });
    const outs: SealedOutput[] = [];
    for (const o of s.outputs) {
      if (!o.cid) return this.remember(memo, { index: s.index, state: 'Rejected', objects: 0, bytes: 0, message: `output ${o.uri} has no CID: a sealed job's outputs must be content-addressed` });
      outs.push({ name: objectName(o.uri, job.outputUri), cid: o.cid, sha256: o.sha256, owner: `${job.namespace}/${job.name}/${s.index}` });
    }
    const identity = await this.d.identity();
    let bytes = 0;
    for (const o of outs) {
      const r: DeliveryOutcome = await deliverOutput({ ipfs: this.d.ipfs, identity, ...(this.d.s3 ? { s3: this.d.s3 } : {}) }, o, target);
      if (!r.ok && r.reason === 'DeliveryFailed') {
        this.event(job, 'Warning', 'DeliveryFailed', `shard ${s.index}: ${r.message}`);
        return { index: s.index, state: 'Failed', objects: 0, bytes: 0, message: r.message };
      }
      if (!r.ok && r.reason === 'OutputUnavailable') return { index: s.index, state: 'Pending', objects: 0, bytes: 0, message: r.message };
      if (!r.ok) {
        this.event(job, 'Warning', 'ResultRejected', `shard ${s.index}: ${r.reason}: ${r.message}; it is not paid`);
        await this.d.rejectShard(job.namespace, s.name, s.provider, `${r.reason}: ${r.message}`);
        return this.remember(memo, { index: s.index, state: 'Rejected', objects: 0, bytes: 0, message: `${r.reason}: ${r.message}` });
      }
      bytes += r.bytes;
      if (r.state === 'Delivered') this.d.afterObject?.(r.key ?? o.cid);
    }
    this.d.log.info('shard outputs delivered', { job: `${job.namespace}/${job.name}`, shard: s.index, objects: outs.length });
    return this.remember(memo, { index: s.index, state: 'Delivered', objects: outs.length, bytes });
  }

  private remember(memo: string, r: ShardDelivery & { bytes: number }) {
    this.done.set(memo, r);
    const shard = memo.split('/').slice(0, 2).join('/');
    if (r.state === 'Rejected') this.rejected.set(shard, r);
    else this.rejected.delete(shard);
    return r;
  }

  private event(job: JobView, type: 'Normal' | 'Warning', reason: string, message: string) {
    this.d.recorder.event({ apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderJob', metadata: job.metadata }, type, reason, message);
  }

  private async write(job: JobView, shards: (ShardDelivery & { bytes: number })[]): Promise<void> {
    const delivered = shards.filter((s) => s.state === 'Delivered');
    const rejected = shards.filter((s) => s.state === 'Rejected');
    const status: DeliveryStatus = {
      delivered: delivered.reduce((n, s) => n + s.objects, 0),
      rejected: rejected.length,
      bytes: delivered.reduce((n, s) => n + s.bytes, 0),
      shards: shards.map(({ bytes: _b, ...s }) => s),
    };
    const finished = job.phase === 'Succeeded' || job.phase === 'Failed';
    const cond: Condition = rejected.length > 0
      ? { type: 'Delivered', status: 'False', reason: 'OutputRejected', message: `${rejected.length} shard(s) rejected: ${rejected.map((s) => s.index).join(', ')}` }
      : finished && delivered.length === job.total
        ? { type: 'Delivered', status: 'True', reason: 'AllOutputsDelivered', message: `${status.delivered} object(s) from ${delivered.length} shard(s) delivered to ${job.outputUri}` }
        : { type: 'Delivered', status: 'False', reason: shards.some((s) => s.state === 'Failed') ? 'DeliveryFailed' : 'Delivering', message: `${delivered.length}/${job.total} shard(s) delivered` };
    await this.d.writeStatus(job.namespace, job.name, status, cond);
  }

  forget(uid: string): void {
    for (const k of this.done.keys()) if (k.startsWith(`${uid}/`)) this.done.delete(k);
    for (const k of this.rejected.keys()) if (k.startsWith(`${uid}/`)) this.rejected.delete(k);
  }
}
