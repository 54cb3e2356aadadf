// HMAC request signing for the Render Compute Network (Dispersed) API, as its "Authenticate
// requests" guide describes: headers X-API-Key (public key), X-Time (ms), X-Nonce (16 random bytes,
// 32 hex) and X-Signature, the lowercase hex HMAC-SHA256 under the secret key of
// `publicKey|timestamp|nonce|METHOD|pathname|canonicalQuery|sha256hex(canonicalBody)`. The
// canonical query and body are exactly what http.ts puts on the wire, so what is signed is sent.

import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { PreparedRequest } from '../http.js';

export interface RenderCredentials {
  /** `pk_…` */
  publicKey: string;
  secretKey: string;
}

export function canonicalString(publicKey: string, timestamp: string, nonce: string, req: PreparedRequest): string {
  const bodyHash = createHash('sha256').update(req.body).digest('hex');
  return [publicKey, timestamp, nonce, req.method.toUpperCase(), req.pathname, req.query, bodyHash].join('|');
}

export function signRequest(
  creds: RenderCredentials,
  req: PreparedRequest,
  now: number,
  nonce: string = randomBytes(16).toString('hex'),
): Record<string, string> {
  const timestamp = String(Math.floor(now));
  const signature = createHmac('sha256', creds.secretKey).update(canonicalString(creds.publicKey, timestamp, nonce, req)).digest('hex');
  return { 'x-api-key': creds.publicKey, 'x-time': timestamp, 'x-nonce': nonce, 'x-signature': signature };
}
