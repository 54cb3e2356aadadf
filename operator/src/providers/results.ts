// How a remote shard reports what it produced, for providers without a native result API. A
// finished shard prints one line `ATELIER_RESULT {"outputs":[{"uri":"…","sha256":"…"}]}` (the same
// JSON a local shard writes to its termination message, DESIGN.md), optionally with `"state"`
// (`succeeded`|`failed`) and `"message"`. When the job settles on-chain the report may also carry
// `"signed": {jobUid, shardIndex, resultDigest, amountClaimed, chainId, verifyingContract, signature}`:
// the provider's EIP-712 ShardResult signature (settlement/results.ts), all strings but shardIndex,
// amountClaimed and chainId in base 10, resultDigest = '0x' + outputsDigest(outputs). A `signed`
// that is not well-formed in shape is dropped, never the outputs with it; whether it is true (signer,
// digest, amount) is the controller's check. This file parses that report, computes the digest the
// operator records and settles on (settlement/results.ts resultDigest without the 0x, so the two
// can never disagree), and verifies output bytes against their reported hashes.

import { createHash } from 'node:crypto';
import { canonicalOutputs } from '../settlement/results.js';
import type { SignedShardResult } from '../settlement/results.js';
import type { ShardOutput } from './types.js';

export const RESULT_LOG_PREFIX = 'ATELIER_RESULT ';

export interface ResultReport {
  outputs: ShardOutput[];
  state?: 'succeeded' | 'failed' | 'running';
  message?: string;
  /** The provider's signature over the result, when it sent a well-formed one. */
  signed?: SignedShardResult;
}

const SHA256 = /^[0-9a-f]{64}$/;
const BYTES32 = /^0x[0-9a-fA-F]{64}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const SIGNATURE = /^0x[0-9a-fA-F]{130}$/;
const UINT = /^(0|[1-9]\d*)$/;

/**
 * Validates a report object; returns undefined for anything that is not one, including a list that
 * names the same uri twice (its digest would be ambiguous, and settlement refuses it).
 */
export function parseResultReport(value: unknown): ResultReport | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const o = value as Record<string, unknown>;
  if (!Array.isArray(o.outputs)) return undefined;
  const outputs: ShardOutput[] = [];
  for (const item of o.outputs) {
    if (!item || typeof item !== 'object') return undefined;
    const { uri, sha256, cid } = item as Record<string, unknown>;
    if (typeof uri !== 'string' || uri === '' || typeof sha256 !== 'string' || !SHA256.test(sha256.toLowerCase())) return undefined;
    const out: ShardOutput = { uri, sha256: sha256.toLowerCase() };
    if (typeof cid === 'string' && cid) out.cid = cid;
    outputs.push(out);
  }
  if (new Set(outputs.map((out) => out.uri)).size !== outputs.length) return undefined;
  const report: ResultReport = { outputs };
  if (o.state === 'succeeded' || o.state === 'failed' || o.state === 'running') report.state = o.state;
  if (typeof o.message === 'string') report.message = o.message;
  const signed = parseSigned(o.signed);
  if (signed) report.signed = signed;
  return report;
}

/** A report's `signed` field when its shape is right (strings, hex lengths, base-10 integers); else undefined. */
export function parseSigned(value: unknown): SignedShardResult | undefined {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const s = value as Record<string, unknown>;
  const { jobUid, shardIndex, resultDigest, amountClaimed, chainId, verifyingContract, signature } = s;
  if (typeof jobUid !== 'string' || jobUid === '') return undefined;
  if (typeof shardIndex !== 'number' || !Number.isInteger(shardIndex) || shardIndex < 0 || shardIndex > 0xffffffff) return undefined;
  if (typeof resultDigest !== 'string' || !BYTES32.test(resultDigest)) return undefined;
  if (typeof amountClaimed !== 'string' || !UINT.test(amountClaimed)) return undefined;
  if (typeof chainId !== 'string' || !UINT.test(chainId)) return undefined;
  if (typeof verifyingContract !== 'string' || !ADDRESS.test(verifyingContract)) return undefined;
  if (typeof signature !== 'string' || !SIGNATURE.test(signature)) return undefined;
  return { jobUid, shardIndex, resultDigest, amountClaimed, chainId, verifyingContract, signature };
}

/** The last well-formed `ATELIER_RESULT` line in a log (a shard may print progress reports first). */
export function findResultInLog(lines: string[]): ResultReport | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] ?? '';
    const at = line.indexOf(RESULT_LOG_PREFIX);
    if (at < 0) continue;
    try {
      const report = parseResultReport(JSON.parse(line.slice(at + RESULT_LOG_PREFIX.length)));
      if (report) return report;
    } catch {
      // A malformed line is skipped; an earlier good one may still stand.
    }
  }
  return undefined;
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Order-independent digest of a shard's outputs (hex, no 0x): exactly settlement's resultDigest of
 * the same {uri, sha256[, cid]} list, which is what a provider signs. Throws on a list settlement
 * would refuse (a duplicate uri, a sha256 that is not 64 hex digits); parseResultReport never
 * returns one.
 */
export function outputsDigest(outputs: readonly ShardOutput[]): string {
  return sha256Hex(canonicalOutputs(outputs.map((o) => (o.cid ? { uri: o.uri, sha256: o.sha256, cid: o.cid } : { uri: o.uri, sha256: o.sha256 }))));
}

/** Hashes each output's bytes (read by the caller) and lists those that differ from the report. */
export async function verifyOutputs(outputs: ShardOutput[], read: (uri: string) => Promise<Uint8Array>): Promise<string[]> {
  const mismatches: string[] = [];
  for (const out of outputs) {
    const actual = sha256Hex(await read(out.uri));
    if (actual !== out.sha256) mismatches.push(`${out.uri}: reported ${out.sha256}, content ${actual}`);
  }
  return mismatches;
}
