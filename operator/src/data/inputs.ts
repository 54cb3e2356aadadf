// The inputs gate and the inputs' hand-off to shards. Before any shard of a job starts, every
// spec.inputs[] entry must resolve on the configured IPFS node within a bound, fit under the size
// cap, and be pinned there (so garbage collection cannot drop it mid-job). The first failure names
// the input and its CID, for `Accepted=False` and an Event. Then: the init container that fetches
// the inputs into a local pod, and the environment a shard (local or remote) reads them from.
import type * as k8s from '@kubernetes/client-node';
import { ipfsPath, parseCidRef } from './cid.js';
import { IpfsError, type IpfsClient } from './ipfs.js';

export interface JobInput {
  name: string;
  /** A CID or an ipfs:// URI. */
  cid: string;
  /** Where the shard sees the file (absolute path in the container). */
  path?: string;
  /** An environment variable that receives the path (or, without path, the CID). */
  env?: string;
}

export interface GateOptions {
  /** How long one input may take to resolve, in ms. */
  resolveTimeoutMs: number;
  /** Largest input accepted, in bytes. */
  maxBytes: number;
}

export type GateResult =
  | { ok: true; sizes: Record<string, number> }
  | { ok: false; reason: 'InputsUnavailable' | 'InputTooLarge' | 'InputInvalid'; input: string; message: string };

/** Checks, sizes and pins every input in order; stops at the first that fails. Idempotent. */
export async function gateInputs(ipfs: IpfsClient, inputs: JobInput[], o: GateOptions): Promise<GateResult> {
  const sizes: Record<string, number> = {};
  for (const inp of inputs) {
    let path: string;
    try {
      path = ipfsPath(parseCidRef(inp.cid));
    } catch (e) {
      return { ok: false, reason: 'InputInvalid', input: inp.name, message: `input ${inp.name}: ${(e as Error).message}` };
    }
    try {
      const size = await ipfs.size(path, o.resolveTimeoutMs);
      if (size > o.maxBytes) {
        return { ok: false, reason: 'InputTooLarge', input: inp.name, message: `input ${inp.name} (${inp.cid}) is ${size} bytes, over the cap of ${o.maxBytes}` };
      }
      await ipfs.pin(path, o.resolveTimeoutMs);
      sizes[inp.name] = size;
    } catch (e) {
      if (!(e instanceof IpfsError)) throw e;
      return { ok: false, reason: 'InputsUnavailable', input: inp.name, message: `input ${inp.name} (${inp.cid}) could not be retrieved within ${o.resolveTimeoutMs}ms: ${e.message}` };
    }
  }
  return { ok: true, sizes };
}

/** Default directory for inputs that name no path. */
export const INPUTS_DIR = '/atelier/inputs';
export const OUTPUTS_DIR = '/atelier/outputs';

/** Where each input lands in the shard's filesystem. */
export function inputPath(inp: JobInput): string {
  return inp.path ?? `${INPUTS_DIR}/${inp.name}`;
}

/** The environment a shard reads its inputs from: ATELIER_INPUTS (JSON) plus each input's own env var. */
export function inputsEnv(inputs: JobInput[], gateway: string): Record<string, string> {
  const env: Record<string, string> = {
    ATELIER_INPUTS: JSON.stringify(inputs.map((i) => ({ name: i.name, cid: parseCidRef(i.cid).cid + parseCidRef(i.cid).path, path: inputPath(i) }))),
    ATELIER_IPFS_GATEWAY: gateway,
  };
  for (const i of inputs) if (i.env) env[i.env] = inputPath(i);
  return env;
}

/**
 * Adds the inputs' fetch step to a local shard pod: an init container running `atelier shard
 * --fetch-only` from the operator image into a shared emptyDir, mounted where the shard expects
 * each input. Pure: returns a new pod, the caller's is untouched.
 */
export function withInputs(pod: k8s.V1Pod, inputs: JobInput[], o: { image: string; gateway: string }): k8s.V1Pod {
  if (inputs.length === 0) return pod;
  const env = Object.entries(inputsEnv(inputs, o.gateway)).map(([name, value]) => ({ name, value }));
  const mounts = inputs.map((i, n) => ({ name: 'atelier-inputs', mountPath: inputPath(i), subPath: `${n}-${i.name}` }));
  const spec = pod.spec!;
  const fetchEnv = [...env, { name: 'ATELIER_INPUTS_ROOT', value: '/atelier-fetch' }];
  return {
    ...pod,
    spec: {
      ...spec,
      volumes: [...(spec.volumes ?? []), { name: 'atelier-inputs', emptyDir: {} }],
      initContainers: [...(spec.initContainers ?? []), {
        name: 'atelier-fetch-inputs',
        image: o.image,
        args: ['shard', '--fetch-only'],
        env: fetchEnv,
        volumeMounts: [{ name: 'atelier-inputs', mountPath: '/atelier-fetch' }],
      }],
      containers: spec.containers.map((c, n) => (n === 0 ? { ...c, env: [...(c.env ?? []), ...env], volumeMounts: [...(c.volumeMounts ?? []), ...mounts] } : c)),
    },
  };
}
