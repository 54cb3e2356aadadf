// A small client for Kubo's HTTP RPC API (POST /api/v0/…), over fetch: add, cat, stat, pin. It is
// the only code that talks to an IPFS node. Every call is bounded by a timeout, reads are bounded by
// a byte cap, and adds always use the same parameters (CIDv1, raw leaves, sha2-256, 256 KiB chunks)
// so the operator can recompute an output's CID from its bytes (`add` with onlyHash) and compare.
export type FetchFn = typeof fetch;

export interface IpfsClientOptions {
  /** Base URL of the RPC API, e.g. http://127.0.0.1:5001. */
  api: string;
  fetch?: FetchFn;
  /** Per-call bound in ms (default 30 s). */
  timeoutMs?: number;
}

/** The add parameters every Atelier producer and checker uses, so CIDs are reproducible. */
export const ADD_PARAMS = 'cid-version=1&raw-leaves=true&hash=sha2-256&chunker=size-262144';

export class IpfsError extends Error {
  constructor(message: string, readonly notFound = false) {
    super(message);
  }
}

export class IpfsClient {
  private readonly api: string;
  private readonly f: FetchFn;
  private readonly timeoutMs: number;

  constructor(o: IpfsClientOptions) {
    this.api = o.api.replace(/\/+$/, '');
    this.f = o.fetch ?? fetch;
    this.timeoutMs = o.timeoutMs ?? 30000;
  }

  private async call(path: string, body?: FormData, timeoutMs = this.timeoutMs): Promise<Response> {
    let res: Response;
    try {
      res = await this.f(`${this.api}/api/v0/${path}`, { method: 'POST', body, signal: AbortSignal.timeout(timeoutMs) });
    } catch (e) {
      const timedOut = (e as Error).name === 'TimeoutError';
      throw new IpfsError(timedOut ? `IPFS ${path.split('?')[0]} timed out after ${timeoutMs}ms` : `IPFS API unreachable: ${(e as Error).message}`, timedOut);
    }
    if (!res.ok) {
      const text = (await res.text()).slice(0, 300);
      let msg = text;
      try { msg = (JSON.parse(text) as { Message?: string }).Message ?? text; } catch { /* plain text */ }
      throw new IpfsError(`IPFS ${path.split('?')[0]}: ${msg}`, /not found|no link named|could not resolve|invalid path|failed to resolve/i.test(msg));
    }
    return res;
  }

  /** Adds bytes as one file and returns its CID (with onlyHash, computes the CID without storing). */
  async add(bytes: Uint8Array, opts: { onlyHash?: boolean; pin?: boolean } = {}): Promise<string> {
    const form = new FormData();
    form.append('file', new Blob([bytes as Uint8Array<ArrayBuffer>]), 'file');
    const q = `${ADD_PARAMS}&only-hash=${opts.onlyHash ? 'true' : 'false'}&pin=${opts.pin === false ? 'false' : 'true'}&quieter=true`;
    const res = await this.call(`add?${q}`, form);
    const lines = (await res.text()).trim().split('\n');
    const last = JSON.parse(lines[lines.length - 1]!) as { Hash?: string };
    if (!last.Hash) throw new IpfsError('IPFS add: no CID in the answer');
    return last.Hash;
  }

  /** Size in bytes of the file or directory at an /ipfs/ path; fails (notFound) when it cannot be resolved in time. */
  async size(path: string, timeoutMs?: number): Promise<number> {
    const res = await this.call(`files/stat?arg=${encodeURIComponent(path)}`, undefined, timeoutMs);
    const v = (await res.json()) as { CumulativeSize?: number; Size?: number; Type?: string };
    return v.Type === 'directory' ? (v.CumulativeSize ?? 0) : (v.Size ?? v.CumulativeSize ?? 0);
  }

  /** Pins an /ipfs/ path recursively (idempotent: pinning a pinned CID is a no-op). */
  async pin(path: string, timeoutMs?: number): Promise<void> {
    await this.call(`pin/add?arg=${encodeURIComponent(path)}&recursive=true`, undefined, timeoutMs);
  }

  /** The bytes of a file at an /ipfs/ path, refusing more than maxBytes. */
  async cat(path: string, maxBytes = 1 << 30, timeoutMs?: number): Promise<Uint8Array> {
    const res = await this.call(`cat?arg=${encodeURIComponent(path)}&length=${maxBytes + 1}`, undefined, timeoutMs);
    const buf = new Uint8Array(await res.arrayBuffer());
    if (buf.byteLength > maxBytes) throw new IpfsError(`IPFS cat ${path}: larger than the cap of ${maxBytes} bytes`);
    return buf;
  }
}
