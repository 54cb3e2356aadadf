// Delivery of one sealed shard output, on the trusted side (the operator): fetch the ciphertext by
// CID from IPFS, recompute the CID from those bytes (a node or provider that served other bytes is
// caught), open it with the studio's identity, compare the plaintext's sha256 with the digest the
// shard reported (and signed), then write it to the job's output: s3://bucket/prefix/ (object key
// = prefix + the output's name) or ipfs:// (leave the ciphertext pinned). Idempotent: an object
// already at its key with the same sha256 (recorded as object metadata) is not written again, so a
// delivery resumed after a kill writes each object exactly once.
import { createHash } from 'node:crypto';
import { HeadObjectCommand, NotFound, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { parseCidRef } from './cid.js';
import type { IpfsClient } from './ipfs.js';
import { unseal } from './seal.js';

export interface SealedOutput {
  /** The output's name relative to the shard's output directory (the report's uri). */
  name: string;
  cid: string;
  /** sha256 of the plaintext, hex. */
  sha256: string;
  /** Whose output this is (`namespace/job/shard`), recorded on the object: another shard's object is never written over. */
  owner?: string;
}

export type DeliveryTarget = { kind: 's3'; bucket: string; prefix: string } | { kind: 'ipfs' };

export type DeliveryOutcome =
  | { ok: true; state: 'Delivered' | 'AlreadyDelivered' | 'Pinned'; key?: string; bytes: number }
  | { ok: false; reason: 'OutputCidMismatch' | 'OutputUndecryptable' | 'OutputDigestMismatch' | 'OutputUnavailable' | 'DeliveryFailed'; message: string };

export const DIGEST_METADATA = 'atelier-sha256';
export const OWNER_METADATA = 'atelier-shard';

/** Parses spec.output.uri into a delivery target; undefined for a scheme Atelier does not deliver to. */
export function parseTarget(uri: string): DeliveryTarget | undefined {
  if (uri.startsWith('ipfs://')) return { kind: 'ipfs' };
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(uri);
  if (!m) return undefined;
  let prefix = m[2] ?? '';
  if (prefix && !prefix.endsWith('/')) prefix += '/';
  return { kind: 's3', bucket: m[1]!, prefix };
}

/** An object key for an output: prefix + its name, refusing names that climb out of the prefix. */
export function objectKey(prefix: string, name: string): string {
  const clean = name.replace(/^\/+/, '');
  if (clean === '' || clean.split('/').some((s) => s === '..' || s === '.')) throw new Error(`output name ${JSON.stringify(name)} is not a relative path`);
  return prefix + clean;
}

export const sha256Hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export interface VerifyDeps {
  ipfs: IpfsClient;
  identity: string;
  maxBytes?: number;
}

/** Fetches and checks one output; returns its plaintext, or why it is rejected. */
export async function openOutput(d: VerifyDeps, out: SealedOutput): Promise<{ ok: true; plaintext: Uint8Array } | Extract<DeliveryOutcome, { ok: false }>> {
  let cipher: Uint8Array;
  let cid: string;
  try {
    cid = parseCidRef(out.cid).cid;
    cipher = await d.ipfs.cat(`/ipfs/${cid}`, d.maxBytes);
  } catch (e) {
    return { ok: false, reason: 'OutputUnavailable', message: `output ${out.name} (${out.cid}): ${(e as Error).message}` };
  }
  const again = await d.ipfs.add(cipher, { onlyHash: true });
  if (again !== cid) return { ok: false, reason: 'OutputCidMismatch', message: `output ${out.name}: bytes served for ${cid} hash to ${again}` };
  let plaintext: Uint8Array;
  try {
    plaintext = await unseal(cipher, d.identity);
  } catch {
    return { ok: false, reason: 'OutputUndecryptable', message: `output ${out.name} (${cid}) cannot be opened with the studio's key` };
  }
  const digest = sha256Hex(plaintext);
  if (digest !== out.sha256) return { ok: false, reason: 'OutputDigestMismatch', message: `output ${out.name} (${cid}): plaintext sha256 ${digest} is not the reported ${out.sha256}` };
  return { ok: true, plaintext };
}

export interface DeliverDeps extends VerifyDeps {
  s3?: S3Client;
}

/** Delivers one output to its target; safe to call again after any failure or kill. */
export async function deliverOutput(d: DeliverDeps, out: SealedOutput, target: DeliveryTarget): Promise<DeliveryOutcome> {
  if (target.kind !== 's3' || !d.s3) return deliverUnlocked(d, out, target);
  // One writer per object at a time in this process: two shards naming the same file must not both
  // find the key free and write over each other.
  const lockKey = `${target.bucket}/${objectKey(target.prefix, out.name)}`;
  const before = writing.get(lockKey) ?? Promise.resolve();
  const mine = before.then(() => deliverUnlocked(d, out, target));
  const tail = mine.catch(() => undefined);
  writing.set(lockKey, tail);
  try { return await mine; } finally { if (writing.get(lockKey) === tail) writing.delete(lockKey); }
}

const writing = new Map<string, Promise<unknown>>();

async function deliverUnlocked(d: DeliverDeps, out: SealedOutput, target: DeliveryTarget): Promise<DeliveryOutcome> {
  if (target.kind === 's3' && d.s3) {
    const key = objectKey(target.prefix, out.name);
    const have = await headObject(d.s3, target.bucket, key).catch(() => undefined);
    if (have?.digest === out.sha256) return { ok: true, state: 'AlreadyDelivered', key, bytes: 0 };
    if (have?.owner && out.owner && have.owner !== out.owner) {
      return { ok: false, reason: 'DeliveryFailed', message: `s3://${target.bucket}/${key} already holds the output of ${have.owner}; ${out.owner} wrote a file of the same name and is not written over it (give each shard its own output names, e.g. with $ATELIER_SHARD_INDEX)` };
    }
  }
  const opened = await openOutput(d, out);
  if (!opened.ok) return opened;
  if (target.kind === 'ipfs') {
    await d.ipfs.pin(`/ipfs/${parseCidRef(out.cid).cid}`);
    return { ok: true, state: 'Pinned', bytes: opened.plaintext.byteLength };
  }
  if (!d.s3) return { ok: false, reason: 'DeliveryFailed', message: 'no S3 client configured for an s3:// output' };
  const key = objectKey(target.prefix, out.name);
  try {
    await d.s3.send(new PutObjectCommand({ Bucket: target.bucket, Key: key, Body: opened.plaintext, Metadata: { [DIGEST_METADATA]: out.sha256, ...(out.owner ? { [OWNER_METADATA]: out.owner } : {}) } }));
  } catch (e) {
    return { ok: false, reason: 'DeliveryFailed', message: `s3://${target.bucket}/${key}: ${s3Message(e)}` };
  }
  return { ok: true, state: 'Delivered', key, bytes: opened.plaintext.byteLength };
}

/** The sha256 recorded on an object, or undefined when the object does not exist. */
export async function headDigest(s3: S3Client, bucket: string, key: string): Promise<string | undefined> {
  return (await headObject(s3, bucket, key))?.digest;
}

/** The digest and owner recorded on an object, or undefined when the object does not exist. */
async function headObject(s3: S3Client, bucket: string, key: string): Promise<{ digest?: string; owner?: string } | undefined> {
  try {
    const h = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return { ...(h.Metadata?.[DIGEST_METADATA] ? { digest: h.Metadata[DIGEST_METADATA] } : {}), ...(h.Metadata?.[OWNER_METADATA] ? { owner: h.Metadata[OWNER_METADATA] } : {}) };
  } catch (e) {
    if (e instanceof NotFound || (e as { name?: string }).name === 'NotFound') return undefined;
    throw e;
  }
}

/** An S3 error's name and message only: never the request, which carries the signature. */
function s3Message(e: unknown): string {
  const err = e as { name?: string; message?: string };
  return `${err.name ?? 'Error'}: ${err.message ?? ''}`.slice(0, 300);
}
