// CID shape checks for spec.inputs and shard outputs: parses a bare CID or an ipfs:// URI with
// multiformats (the reference implementation of the CID spec), so a malformed reference is caught
// before any request is made. The CRD's CEL rule is a coarse first gate; this is the exact one.
import { CID } from 'multiformats/cid';

export interface CidRef {
  /** The CID in its canonical string form (v0 stays base58btc, v1 is base32). */
  cid: string;
  /** A path inside the DAG after the CID ("" for none). */
  path: string;
}

/** Parses "bafy…", "Qm…" or "ipfs://<cid>[/path]"; throws an Error naming the reference when it is not one. */
export function parseCidRef(ref: string): CidRef {
  const raw = ref.startsWith('ipfs://') ? ref.slice('ipfs://'.length) : ref;
  const slash = raw.indexOf('/');
  const head = slash < 0 ? raw : raw.slice(0, slash);
  const path = slash < 0 ? '' : raw.slice(slash).replace(/\/+$/, '');
  try {
    return { cid: CID.parse(head).toString(), path };
  } catch {
    throw new Error(`${JSON.stringify(ref)} is not a CID or an ipfs:// URI`);
  }
}

/** True when ref parses as a CID reference. */
export function isCidRef(ref: string): boolean {
  try {
    parseCidRef(ref);
    return true;
  } catch {
    return false;
  }
}

/** The ipfs path kubo's RPC takes for a reference: /ipfs/<cid>[/path]. */
export function ipfsPath(ref: CidRef): string {
  return `/ipfs/${ref.cid}${ref.path}`;
}
