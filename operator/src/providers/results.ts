// How a remote shard reports what it produced, for providers without a native result API. A
// finished shard prints one line `ATELIER_RESULT {"outputs":[{"uri":"…","sha256":"…"}]}` (the same
// JSON a local shard writes to its termination message, DESIGN.md), optionally with `"state"`
// (`succeeded`|`failed`) and `"message"`. This file parses that report, computes the digest the
// operator records and settles on (sha256 over the canonical output list), and verifies output
// bytes against their reported hashes.

import { createHash } from 'node:crypto';
import { canonicalJson } from './http.js';
import type { ShardOutput } from './types.js';

export const RESULT_LOG_PREFIX = 'ATELIER_RESULT ';

export interface ResultReport {
  outputs: ShardOutput[];
  state?: 'succeeded' | 'failed' | 'running';
  message?: string;
}

const SHA256 = /^[0-9a-f]{64}$/;

/** Validates a report object; returns undefined for anything that is not one. */
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
  const report: ResultReport = { outputs };
  if (o.state === 'succeeded' || o.state === 'failed' || o.state === 'running') report.state = o.state;
  if (typeof o.message === 'string') report.message = o.message;
  return report;
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

/** Order-independent digest of a shard's outputs. */
export function outputsDigest(outputs: ShardOutput[]): string {
  const sorted = [...outputs]
    .map((o) => (o.cid ? { uri: o.uri, sha256: o.sha256, cid: o.cid } : { uri: o.uri, sha256: o.sha256 }))
    .sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0));
  return sha256Hex(canonicalJson(sorted));
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
