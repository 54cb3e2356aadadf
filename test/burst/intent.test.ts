// The conditional RenderShard status write that lets a fresh remote intent skip findByKey
// (JobWriter.patchShardStatusIf, remote.ts freshIntents), against the real API server: the write
// is made only over the status the server holds now, and a write that lands between that read and
// it (another leader's) makes it fail with 409 — the status subresource honours a resourceVersion
// carried in a merge patch. Oracle: the object as the API server returns it afterwards.
import { ApiJobWriter } from '../../operator/src/controllers/renderjob/writer.js';
import type { ShardRecordStatus } from '../../operator/src/controllers/renderjob/decide.js';
import { makeClients } from '../../operator/src/kube/client.js';
import { installCrds } from '../support/crds.js';
import { clients, freshNamespace, kubeConfig, type Clients } from '../support/testbed.js';

let c: Clients;
let ns: string;
const target = (name: string) => ({ group: 'atelier.dev', version: 'v1alpha1', plural: 'rendershards', namespace: ns, name });
const statusOf = async (name: string) => ((await c.custom.getNamespacedCustomObject(target(name))) as { status?: ShardRecordStatus }).status ?? {};

beforeAll(async () => {
  c = clients();
  await installCrds();
  ns = await freshNamespace(c, 'burst-intent');
}, 120_000);

async function shard(name: string, status?: ShardRecordStatus): Promise<void> {
  await c.custom.createNamespacedCustomObject({ group: 'atelier.dev', version: 'v1alpha1', plural: 'rendershards', namespace: ns, body: { apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderShard', metadata: { name }, spec: { jobName: 'job', index: 0 } } });
  if (status) await new ApiJobWriter(makeClients(kubeConfig())).patchShardStatus(ns, name, status);
}

const intent: ShardRecordStatus = { phase: 'Scheduled', placement: 'Remote', provider: 'prov', idempotencyKey: 'uid-0-2', attempts: 2 };
const free = (cur: ShardRecordStatus) => !cur.idempotencyKey && (cur.attempts ?? 0) < 2;

test('written over a record with no live intent and an earlier attempt', async () => {
  await shard('a', { phase: 'Pending', attempts: 1 });
  const w = new ApiJobWriter(makeClients(kubeConfig()));
  expect(await w.patchShardStatusIf(ns, 'a', intent, free)).toBe(true);
  expect(await statusOf('a')).toMatchObject({ idempotencyKey: 'uid-0-2', attempts: 2, phase: 'Scheduled' });
});

test('refused, nothing written, when the record already holds that attempt', async () => {
  await shard('b', { phase: 'Scheduled', attempts: 2, idempotencyKey: 'uid-0-2', remoteId: 'r-1', provider: 'prov' });
  const w = new ApiJobWriter(makeClients(kubeConfig()));
  expect(await w.patchShardStatusIf(ns, 'b', { ...intent, provider: 'other' }, free)).toBe(false);
  expect(await statusOf('b')).toMatchObject({ remoteId: 'r-1', provider: 'prov' });
});

test('a write landing between the read and the write: 409, refused, the other write stands', async () => {
  await shard('c', { phase: 'Pending', attempts: 1 });
  const w = new ApiJobWriter(makeClients(kubeConfig()));
  const other = new ApiJobWriter(makeClients(kubeConfig()));
  const made = await w.patchShardStatusIf(ns, 'c', intent, async (cur) => {
    // Another leader records the same attempt after our read: our write must not go through.
    await other.patchShardStatus(ns, 'c', { ...intent, provider: 'elsewhere' });
    return free(cur);
  });
  expect(await statusOf('c')).toMatchObject({ provider: 'elsewhere', idempotencyKey: 'uid-0-2' });
  expect(made).toBe(false);
});
