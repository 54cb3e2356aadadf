// The data plane as the RenderJob controller sees it: two small hooks. `gate(job)` runs before any
// shard of a job starts — it resolves the sealing recipient (spec.output.encryptTo, inline or from
// a Secret in the operator's namespace) and checks, sizes and pins every input (inputs.ts); its
// success is remembered per job generation, so it runs once. `decoratePod` / `decorateSpec` hand the
// inputs and the recipient to a local pod (init container + env) or a remote shard spec (env with
// the CIDs and the gateway). A job that asks for inputs or sealing on an operator without
// --ipfs-api is held with DataPlaneNotConfigured.
import type * as k8s from '@kubernetes/client-node';
import type { SecretReader } from '../runtime/index.js';
import type { DataConfig } from './config.js';
import { gateInputs, inputsEnv, withInputs, type JobInput } from './inputs.js';
import { IpfsClient } from './ipfs.js';
import { parseRecipients } from './recipients.js';

export interface DataJob {
  metadata: { uid?: string; generation?: number; name?: string; namespace?: string };
  spec: { inputs?: JobInput[]; output?: { uri: string; encryptTo?: { recipient?: string; secretKeyRef?: { name: string; key?: string } } } };
}

/** Why a job's shards may not start yet; undefined when they may. */
export interface Hold { reason: string; message: string }

export interface DataHooks {
  gate(job: DataJob): Promise<Hold | undefined>;
  decoratePod(pod: k8s.V1Pod, job: DataJob): k8s.V1Pod;
  decorateSpec<S extends { env: { name: string; value: string }[] }>(spec: S, job: DataJob): S;
  /** Forgets a job that is gone (namespace/name). */
  forget(key: string): void;
}

const keyOf = (job: DataJob) => `${job.metadata.namespace}/${job.metadata.name}`;

export const needsData = (job: DataJob) => (job.spec.inputs?.length ?? 0) > 0 || !!job.spec.output?.encryptTo;

/** What an operator without a data plane says to a job that needs one. */
export function noDataPlane(job: DataJob): Hold | undefined {
  return needsData(job) ? { reason: 'DataPlaneNotConfigured', message: 'the job has spec.inputs or spec.output.encryptTo but the operator has no --ipfs-api; nothing starts' } : undefined;
}

export class DataPlane implements DataHooks {
  private readonly ipfs: IpfsClient;
  /** namespace/name -> the uid and generation whose gate passed, and the recipients resolved for it. */
  private readonly passed = new Map<string, { uid: string; generation: number; recipients: string[] }>();

  constructor(private readonly cfg: DataConfig, private readonly readSecret: SecretReader, secretsNamespace: string, ipfs?: IpfsClient) {
    this.ipfs = ipfs ?? new IpfsClient({ api: cfg.ipfsApi, timeoutMs: cfg.inputTimeoutMs });
    this.secretsNamespace = secretsNamespace;
  }
  private readonly secretsNamespace: string;

  async gate(job: DataJob): Promise<Hold | undefined> {
    if (!needsData(job)) return undefined;
    const uid = job.metadata.uid ?? '';
    const gen = job.metadata.generation ?? 0;
    const was = this.passed.get(keyOf(job));
    if (was?.uid === uid && was.generation === gen) return undefined;
    let recipients: string[] = [];
    const to = job.spec.output?.encryptTo;
    if (to) {
      try {
        recipients = parseRecipients(to.recipient ?? (await this.readSecret(this.secretsNamespace, to.secretKeyRef!.name, to.secretKeyRef!.key ?? 'recipient')));
      } catch (e) {
        return { reason: 'EncryptToUnavailable', message: `spec.output.encryptTo: ${(e as Error).message}` };
      }
    }
    const g = await gateInputs(this.ipfs, job.spec.inputs ?? [], { resolveTimeoutMs: this.cfg.inputTimeoutMs, maxBytes: this.cfg.maxInputBytes });
    if (!g.ok) return { reason: g.reason, message: g.message };
    this.passed.set(keyOf(job), { uid, generation: gen, recipients });
    return undefined;
  }

  private env(job: DataJob, local: boolean): Record<string, string> {
    const was = this.passed.get(keyOf(job));
    const recipients = was && was.uid === job.metadata.uid ? was.recipients : [];
    return {
      ...(job.spec.inputs?.length ? inputsEnv(job.spec.inputs, this.cfg.ipfsGateway) : { ATELIER_IPFS_GATEWAY: this.cfg.ipfsGateway }),
      ...(recipients.length ? { ATELIER_ENCRYPT_TO: recipients.join(',') } : {}),
      ...(local ? { ATELIER_IPFS_API: this.cfg.ipfsApi } : {}),
    };
  }

  decoratePod(pod: k8s.V1Pod, job: DataJob): k8s.V1Pod {
    if (!needsData(job)) return pod;
    const withIn = withInputs(pod, job.spec.inputs ?? [], { image: this.cfg.shardImage, gateway: this.cfg.ipfsGateway });
    const extra = Object.entries(this.env(job, true)).filter(([k]) => !withIn.spec!.containers[0]!.env?.some((e) => e.name === k));
    const containers = withIn.spec!.containers.map((c, n) => (n === 0 ? { ...c, env: [...(c.env ?? []), ...extra.map(([name, value]) => ({ name, value }))] } : c));
    return { ...withIn, spec: { ...withIn.spec!, containers } };
  }

  decorateSpec<S extends { env: { name: string; value: string }[] }>(spec: S, job: DataJob): S {
    if (!needsData(job)) return spec;
    const env = this.env(job, false);
    const add = Object.entries(env).map(([name, value]) => ({ name, value }));
    const data = { inputs: (job.spec.inputs ?? []).map((i) => ({ ...i })), ...(env.ATELIER_ENCRYPT_TO ? { recipient: env.ATELIER_ENCRYPT_TO } : {}) };
    return { ...spec, env: [...spec.env.filter((e) => !add.some((a) => a.name === e.name)), ...add], data };
  }

  forget(key: string): void {
    this.passed.delete(key);
  }
}
