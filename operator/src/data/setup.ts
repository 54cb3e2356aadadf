// The delivery controller's setup: builds the Deliverer (deliverer.ts) from the operator context
// when the data plane has the studio's identity Secret — the IPFS client, an S3 client whose
// credentials come from a Secret in the operator's namespace, the status writer (server-side apply
// as its own field manager: status.delivery and the Delivered condition only) — and watches
// RenderJobs with sealed outputs and their RenderShards.
import { S3Client } from '@aws-sdk/client-s3';
import { API_VERSION, GROUP, VERSION, type RenderJob } from '../api/index.js';
import { secretReader } from '../controllers/computeprovider/kube.js';
import { controllerFor, jobKeyOfShard, keyOf, type OperatorContext } from '../controllers/context.js';
import { applyPatch, isNotFound, mergePatch } from '../kube/client.js';
import type { Controller } from '../runtime/index.js';
import type { DataConfig } from './config.js';
import { Deliverer, type Condition, type DeliveryStatus, type JobView } from './deliverer.js';
import { IpfsClient } from './ipfs.js';

export const DELIVERY_FIELD_MANAGER = 'atelier-delivery';

function jobView(j: RenderJob): JobView {
  const m = j.metadata;
  return {
    namespace: m.namespace!, name: m.name!, uid: m.uid!, phase: j.status?.phase, total: j.status?.shards?.total ?? 0,
    outputUri: j.spec.output?.uri ?? '', sealed: !!j.spec.output?.encryptTo, metadata: { name: m.name!, namespace: m.namespace!, uid: m.uid! },
  };
}

export function setupDeliveryController(ctx: OperatorContext, cfg: DataConfig): Controller | undefined {
  if (!cfg.identitySecret) return undefined;
  const { caches, clients, log } = ctx;
  const read = secretReader(clients.core, ctx.cfg.secretsNamespace);
  const id = cfg.identitySecret;
  let s3: S3Client | undefined;
  const s3Client = async () => {
    if (s3 || !cfg.s3) return s3;
    const c = cfg.s3.credentialsSecret;
    const [accessKeyId, secretAccessKey] = [await read(c.namespace, c.name, 'accessKeyId'), await read(c.namespace, c.name, 'secretAccessKey')];
    s3 = new S3Client({ endpoint: cfg.s3.endpoint, region: cfg.s3.region, forcePathStyle: true, credentials: { accessKeyId: accessKeyId.trim(), secretAccessKey: secretAccessKey.trim() } });
    return s3;
  };
  const get = (key: string) => { const [ns, n] = key.split('/') as [string, string]; return caches.jobLister.get(ns, n); };
  let deliverer: Deliverer | undefined;
  const make = async () => deliverer ??= new Deliverer({
    ipfs: new IpfsClient({ api: cfg.ipfsApi, timeoutMs: 120_000 }),
    ...((await s3Client()) ? { s3: (await s3Client())! } : {}),
    identity: async () => (await read(id.namespace, id.name, id.key)).trim(),
    job: (key) => { const j = get(key); return j ? jobView(j) : undefined; },
    shards: (key) => caches.shardLister.byIndex('job', key).map((r) => ({
      name: r.metadata.name!, index: r.spec.index, phase: r.status?.phase, placement: r.status?.placement, provider: r.status?.provider,
      outputs: r.status?.result?.outputs as { uri: string; sha256: string; cid?: string }[] | undefined, verification: r.status?.verification,
    })),
    writeStatus: (namespace, name, delivery, cond) => writeStatus(ctx, namespace, name, delivery, cond),
    rejectShard: async (namespace, name, provider, message) => {
      const body = { status: { verification: { state: 'Failed', message: message.slice(0, 1000), ...(provider ? { provider } : {}) } } };
      await clients.custom.patchNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, plural: 'rendershards', namespace, name, body }, mergePatch()).catch((e) => { if (!isNotFound(e)) throw e; });
    },
    recorder: ctx.recorder, log,
    ...(cfg.testKillAfterObjects ? { afterObject: killAfter(cfg.testKillAfterObjects, ctx) } : {}),
  });
  const controller = controllerFor(ctx, 'delivery', 4, { reconcile: async (key) => (await make()).reconcile(key) });
  const sealed = (key: string | undefined) => { if (key && get(key)?.spec.output?.encryptTo) controller.enqueue(key); };
  for (const i of caches.jobs) i.addEventHandler({ add: (j) => sealed(keyOf(j)), update: (_o, j) => sealed(keyOf(j)), delete: (j) => deliverer?.forget(j.metadata.uid!) });
  for (const i of caches.shards) i.addEventHandler({ add: (s) => sealed(jobKeyOfShard(s)), update: (_o, s) => sealed(jobKeyOfShard(s)) });
  return controller;
}

/** Test-only fault injection: SIGKILL this process right after the n-th object is written. */
function killAfter(n: number, ctx: OperatorContext): (key: string) => void {
  let written = 0;
  return (key) => {
    if (++written < n) return;
    ctx.log.warn('ATELIER_TEST_KILL_AFTER_OBJECTS: killing the operator after writing an object', { key, written });
    process.kill(process.pid, 'SIGKILL');
  };
}

/** Applies status.delivery and the Delivered condition when they changed (lastTransitionTime moves only on a flip). */
async function writeStatus(ctx: OperatorContext, namespace: string, name: string, delivery: DeliveryStatus, cond: Condition): Promise<void> {
  const job = ctx.caches.jobLister.get(namespace, name);
  const prev = job?.status?.conditions?.find((c) => c.type === 'Delivered');
  const same = prev?.status === cond.status && prev.reason === cond.reason && prev.message === cond.message;
  if (same && JSON.stringify(job?.status?.delivery ?? {}) === JSON.stringify(delivery)) return;
  const now = new Date(ctx.clock.now()).toISOString();
  const condition = { ...cond, observedGeneration: job?.metadata.generation ?? 0, lastTransitionTime: prev?.status === cond.status ? prev.lastTransitionTime : now };
  const body = { apiVersion: API_VERSION, kind: 'RenderJob', metadata: { name, namespace }, status: { delivery, conditions: [condition] } };
  ctx.metrics.apiWrites.inc({ kind: 'jobDelivery' });
  await ctx.clients.custom.patchNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, plural: 'renderjobs', namespace, name, body, fieldManager: DELIVERY_FIELD_MANAGER, force: true }, applyPatch())
    .catch((e) => { if (!isNotFound(e)) throw e; });
}
