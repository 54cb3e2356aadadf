// The peer side of a private subnetwork's settlement: this cluster runs shards that an origin site
// sent it (providers/subnet/), and when the origin job settles on-chain the peer RenderJob names what
// to sign for (providers/subnet/names.ts SETTLEMENT_ANNOTATIONS). For each Succeeded RenderShard of
// such a job whose result is not signed yet, this controller signs the EIP-712 ShardResult
// {origin job uid, origin shard index, '0x' + outputs digest, amountClaimed} with this site's payout
// key (settlement/results.ts) and merge-patches status.result.{digest, signed}; the origin's adapter
// hands it up and the origin's controller checks the signer against the ComputeProvider's
// payoutAddress. amountClaimed is the shard's recorded cost (status.cost, USD) in token units,
// floor(cost x 10^decimals), computed exactly. Signing is deterministic (RFC 6979), so a second
// signature after a crash or a lost leadership is the same bytes; a write goes with the shard's
// resourceVersion, so a result is never signed from a stale view.
//
// Runs only when the operator has a payout key (--payout-key-secret), only while leading, and reads
// the key once at start. The key never leaves the Wallet: not in logs, events, status or errors.
import type * as k8s from '@kubernetes/client-node';
import { Wallet, type Signer } from 'ethers';
import { GROUP, RENDER_SHARD_PLURAL, VERSION, shardCount, type RenderJob, type RenderShard } from '../api/index.js';
import type { ShardResultSigned } from '../api/generated.js';
import { mergePatch } from '../kube/client.js';
import { outputsDigest, parseResultReport } from '../providers/results.js';
import { signingRequest } from '../providers/subnet/names.js';
import { Controller, errorMessage, splitKey, type ControllerMetrics, type EventType, type Log, type QueueMetrics } from '../runtime/index.js';
import { signResult } from '../settlement/results.js';
import { microsToUnits, parseMicros } from '../money.js';
import type { Lister as FullLister, SecretReader } from '../runtime/index.js';

export interface PayoutKeyRef {
  namespace: string;
  name: string;
  key: string;
}

/** Only lookups by name are needed here. */
type Lister<T> = Pick<FullLister<T>, 'get'>;

export interface SignedResultWriter {
  /** Merge-patches status.result.{digest, signed}, conditional on resourceVersion (409 when stale). */
  patchSignedResult(namespace: string, name: string, resourceVersion: string | undefined, result: { digest: string; signed: ShardResultSigned }): Promise<void>;
}

export interface SubnetSignerDeps {
  shards: Lister<RenderShard>;
  jobs: Lister<RenderJob>;
  signer: Signer;
  /** The signer's address, the payout address the origin checks signatures against. */
  address: string;
  writer: SignedResultWriter;
  recorder: { event(obj: { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string; uid?: string } }, type: EventType, reason: string, message: string): void };
  log: Log;
}

/** A shard's job may reach the cache after the shard: look again this soon. */
const JOB_NOT_CACHED_RETRY_MS = 2000;

/** floor(usd x 10^decimals) for a USD decimal string (at most 6 fraction digits), exactly. */
export function tokenUnits(usd: string, decimals: number): bigint {
  const micros = parseMicros(usd);
  if (micros < 0n) throw new Error(`cost ${usd} is negative`);
  return microsToUnits(micros, decimals, 'floor');
}

/** Reads the payout key from its Secret once; errors name the Secret, never its content. */
export async function loadPayoutWallet(readSecret: SecretReader, ref: PayoutKeyRef): Promise<Wallet> {
  let text: string;
  try {
    text = await readSecret(ref.namespace, ref.name, ref.key);
  } catch (e) {
    throw new Error(`reading the payout key Secret ${ref.namespace}/${ref.name}: ${errorMessage(e)}`);
  }
  const hex = text.trim();
  const bad = new Error(`Secret ${ref.namespace}/${ref.name} key ${ref.key} does not hold a private key (32 bytes, hex)`);
  if (!/^(0x)?[0-9a-fA-F]{64}$/.test(hex)) throw bad;
  try {
    return new Wallet(hex.startsWith('0x') ? hex : `0x${hex}`);
  } catch {
    throw bad;
  }
}

export function apiSignedResultWriter(custom: k8s.CustomObjectsApi): SignedResultWriter {
  return {
    async patchSignedResult(namespace, name, resourceVersion, result) {
      const body = { metadata: resourceVersion ? { resourceVersion } : {}, status: { result } };
      await custom.patchNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, plural: RENDER_SHARD_PLURAL, namespace, name, body }, mergePatch());
    },
  };
}

export class SubnetSigner {
  constructor(private readonly d: SubnetSignerDeps) {}

  /** Reconciles one RenderShard ("namespace/name"). */
  async reconcile(key: string): Promise<{ requeueAfterMs?: number }> {
    const { namespace, name } = splitKey(key);
    if (!namespace) return {};
    const shard = this.d.shards.get(namespace, name);
    const st = shard?.status;
    if (!shard || st?.phase !== 'Succeeded' || st.result?.signed) return {};
    const job = this.d.jobs.get(namespace, shard.spec.jobName);
    if (!job) return { requeueAfterMs: JOB_NOT_CACHED_RETRY_MS };
    const req = signingRequest(job.metadata);
    if (!req) return {};
    const refuse = (why: string) => {
      this.d.log.warn('shard result not signed', { shard: key, reason: why });
      this.d.recorder.event(ref(shard), 'Warning', 'ResultNotSigned', `not signed for settlement: ${why}`);
      return {};
    };
    if ('problem' in req) return refuse(req.problem);
    // The origin sends one shard per peer job; a second shard would claim the same origin shard.
    let count: number;
    try {
      count = shardCount(job.spec);
    } catch (e) {
      return refuse(errorMessage(e));
    }
    if (count !== 1 || shard.spec.index !== 0) return refuse(`a settled peer job has exactly one shard; this is shard ${shard.spec.index} of ${count}`);
    const report = parseResultReport({ outputs: st.result?.outputs ?? [] });
    if (!report) return refuse('the shard\'s outputs are malformed (each needs a uri and a sha256, each uri once)');
    const digest = outputsDigest(report.outputs);
    if (st.result?.digest !== undefined && st.result.digest.toLowerCase() !== digest) return refuse(`the recorded digest ${st.result.digest} is not the outputs' digest ${digest}`);
    if (st.cost === undefined) {
      this.d.log.debug('shard cost not recorded yet, not signing', { shard: key });
      return {};
    }
    let amount: bigint;
    try {
      amount = tokenUnits(st.cost, req.tokenDecimals);
    } catch (e) {
      return refuse(errorMessage(e));
    }
    if (amount >= 1n << 256n) return refuse(`the claim of ${amount} token units does not fit a uint256`);
    // Every input is checked above, so a failure here is the signer's (this process's): back off and retry.
    const signed = await signResult(this.d.signer, { chainId: BigInt(req.chainId), verifyingContract: req.escrowAddress }, {
      jobUid: req.jobUid, shardIndex: req.shardIndex, resultDigest: `0x${digest}`, amountClaimed: amount,
    });
    const body: ShardResultSigned = {
      jobUid: signed.jobUid, shardIndex: signed.shardIndex, resultDigest: signed.resultDigest, amountClaimed: String(signed.amountClaimed),
      chainId: String(signed.chainId), verifyingContract: signed.verifyingContract, signature: signed.signature,
    };
    await this.d.writer.patchSignedResult(namespace, name, shard.metadata.resourceVersion, { digest, signed: body });
    this.d.recorder.event(ref(shard), 'Normal', 'ResultSigned',
      `signed by ${this.d.address} for job ${req.jobUid} shard ${req.shardIndex}: ${body.amountClaimed} token units on chain ${body.chainId} escrow ${body.verifyingContract}`);
    this.d.log.info('shard result signed', {
      shard: key, originJobUid: req.jobUid, originShard: req.shardIndex, amountClaimed: body.amountClaimed, chainId: body.chainId, escrow: body.verifyingContract, payoutAddress: this.d.address,
    });
    return {};
  }
}

function ref(s: RenderShard) {
  return { apiVersion: `${GROUP}/${VERSION}`, kind: 'RenderShard', metadata: { name: s.metadata.name, namespace: s.metadata.namespace, uid: s.metadata.uid } };
}

/** Only shards that may need a signature are queued: Succeeded, result not signed. */
export function needsSignature(s: RenderShard): boolean {
  return s.status?.phase === 'Succeeded' && !s.status.result?.signed;
}

export interface SubnetSignerOptions {
  ref: PayoutKeyRef;
  readSecret: SecretReader;
  custom: k8s.CustomObjectsApi;
  shards: Lister<RenderShard>;
  jobs: Lister<RenderJob>;
  recorder: SubnetSignerDeps['recorder'];
  log: Log;
  queueMetrics?: QueueMetrics;
  metrics?: ControllerMetrics;
  workers?: number;
}

/**
 * Reads the payout key and builds the controller: `handler` goes on the RenderShard informers,
 * `controller` is started and stopped with the others (leader only). Logs the payout address.
 */
export async function createSubnetSigner(o: SubnetSignerOptions): Promise<{ controller: Controller; handler: { add(s: RenderShard): void; update(old: RenderShard, s: RenderShard): void }; address: string }> {
  const wallet = await loadPayoutWallet(o.readSecret, o.ref);
  const address = wallet.address;
  const signer = new SubnetSigner({ shards: o.shards, jobs: o.jobs, signer: wallet, address, writer: apiSignedResultWriter(o.custom), recorder: o.recorder, log: o.log });
  const controller = new Controller({
    name: 'subnetsigner', workers: o.workers ?? 2, logger: o.log,
    ...(o.queueMetrics ? { queueMetrics: o.queueMetrics } : {}), ...(o.metrics ? { metrics: o.metrics } : {}),
    reconcile: async (key) => {
      const r = await signer.reconcile(key);
      return r.requeueAfterMs !== undefined ? { requeueAfter: r.requeueAfterMs } : {};
    },
  });
  const enqueue = (s: RenderShard) => { if (needsSignature(s)) controller.enqueue(`${s.metadata.namespace}/${s.metadata.name}`); };
  o.log.info('signing subnet shard results with the payout key', { payoutAddress: address, source: `${o.ref.namespace}/${o.ref.name}` });
  return { controller, handler: { add: enqueue, update: (_old, s) => enqueue(s) }, address };
}
