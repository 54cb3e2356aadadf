// A subnet peer signs the results of settled shards with its payout key: a second control plane
// ("site B", one node with 8 H100s) runs the real operator (the built CLI) with --payout-key-secret
// naming a Secret there. Site A's subnet adapter submits shards as the origin's controller would;
// a shard whose origin job settles (spec.settlement) comes back from getResults with a signed
// ShardResult that verifies, with the origin's own check, against site B's payout address, for the
// origin job, shard, escrow domain and outputs, claiming the shard's recorded cost in token units. A
// shard without settlement comes back unsigned. The key shows up nowhere: not in B's operator log,
// its events, or any status. A payout key Secret that cannot be used stops the operator at start
// with a message that names the Secret and not its content.
import { Wallet, getAddress } from 'ethers';
import type { RenderShard } from '../../operator/src/api/index.js';
import { tokenUnits } from '../../operator/src/controllers/subnetsigner.js';
import { SubnetAdapter, type SubnetShardSpec } from '../../operator/src/providers/subnet/adapter.js';
import { verifyResult } from '../../operator/src/settlement/results.js';
import { startOperator, type OperatorProcess } from '../support/operator.js';
import { peerSite } from '../support/subnet-peer.js';
import { freshNamespace, waitFor, type Clients } from '../support/testbed.js';

const GROUP = 'atelier.dev';
const VERSION = 'v1alpha1';
const peer = peerSite(`${process.env.ATELIER_TEST_CLUSTER ?? 'jest'}-signb`);

const payout = Wallet.createRandom();
const KEY_HEX = payout.privateKey.slice(2).toLowerCase();
const ESCROW = getAddress('0x' + 'e5c0'.repeat(10));
const SETTLEMENT = { chainId: '31337', escrowAddress: ESCROW, tokenDecimals: 6 };
const SHA = 'd'.repeat(64);

let kubeconfigB: string;
let b: Clients;
let op: OperatorProcess | undefined;
let ns: string;
let secretNs: string;
let adapter: SubnetAdapter;

function shard(index: number, uri: string, settled: boolean): SubnetShardSpec {
  return {
    jobUid: 'origin-uid-9', jobNamespace: 'studio', jobName: 'atrium', shardIndex: index, shardCount: 100,
    image: 'ghcr.io/acme/sdxl-batch:1.4', command: ['python', 'render.py'], args: [], env: [], gpuCount: 1, gpuModels: ['nvidia-h100'],
    outputUri: 's3://renders/atrium/', ...(settled ? { settlement: SETTLEMENT } : {}),
    template: {
      image: 'ghcr.io/acme/sdxl-batch:1.4', resources: { limits: { 'nvidia.com/gpu': 1 } },
      metadata: { annotations: { 'testbed.atelier.dev/duration': '2s', 'testbed.atelier.dev/message': JSON.stringify({ outputs: [{ uri, sha256: SHA }] }) } },
    },
  };
}

const peerShard = async (remoteId: string) =>
  ((await b.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'rendershards', namespace: ns, labelSelector: `atelier.dev/job=${remoteId}` })) as { items: RenderShard[] }).items[0]!;

beforeAll(async () => {
  ({ kubeconfig: kubeconfigB, clients: b, namespace: ns, op, adapter } = await peer.start({
    prepare: async (c) => {
      const [namespace, secrets] = await Promise.all([freshNamespace(c, 'shared-renders'), freshNamespace(c, 'atelier-system')]);
      secretNs = secrets;
      // As `kubectl create secret generic payout --from-file=privateKey=key.txt` would hold it: no 0x, a newline.
      await c.core.createNamespacedSecret({ namespace: secretNs, body: { metadata: { name: 'payout' }, stringData: { privateKey: `${KEY_HEX}\n` } } });
      return { namespace, args: ['--payout-key-secret', `${secretNs}/payout`, '--secrets-namespace', secretNs] };
    },
  }));
}, 300_000);

afterAll(() => peer.stop(), 120_000);

test('site B logs its payout address (only the address) at start', async () => {
  const l = await op!.waitForLog('signing subnet shard results with the payout key');
  expect(l.payoutAddress).toBe(payout.address);
  expect(l.source).toBe(`${secretNs}/payout`);
});

test('a settled shard comes back signed by B\'s payout key; an unsettled one unsigned; the key is nowhere', async () => {
  const settledUri = 's3://renders/atrium/0007.exr';
  const plainUri = 's3://renders/atrium/0008.exr';
  const [settled, plain] = await Promise.all([
    adapter.submit(shard(7, settledUri, true), { idempotencyKey: 'origin-uid-9-7-1' }),
    adapter.submit(shard(8, plainUri, false), { idempotencyKey: 'origin-uid-9-8-1' }),
  ]);
  for (const { remoteId } of [settled, plain]) {
    await waitFor(`peer job ${remoteId} Succeeded`, async () => {
      const st = await adapter.getStatus(remoteId);
      if (st.phase === 'Failed') throw new Error(`peer job failed: ${st.raw} ${st.message}`);
      return st.phase === 'Succeeded';
    }, 120_000, 200);
  }
  const job = (await b.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'renderjobs', namespace: ns, name: settled.remoteId })) as { metadata: { annotations: Record<string, string> } };
  expect(job.metadata.annotations).toMatchObject({
    'atelier.dev/origin-job-uid': 'origin-uid-9', 'atelier.dev/settlement-chain-id': '31337', 'atelier.dev/settlement-escrow': ESCROW, 'atelier.dev/settlement-token-decimals': '6',
  });

  // getResults waits (transient errors) until the peer has signed
  const res = await waitFor('signed results', async () => {
    const r = await adapter.getResults(settled.remoteId);
    return r.supported ? r : undefined;
  }, 60_000, 250);
  expect(res.outputs).toEqual([{ uri: settledUri, sha256: SHA }]);
  expect(res.signed).toBeDefined();
  const signed = res.signed!;
  expect(signed.resultDigest).toBe(`0x${res.digest}`);
  const outputs = res.outputs.map((o) => ({ uri: o.uri, sha256: o.sha256 }));
  const domain = { chainId: 31337n, verifyingContract: ESCROW };
  expect(verifyResult(signed, payout.address, { jobUid: 'origin-uid-9', shardIndex: 7, domain, outputs })).toEqual({ ok: true, signer: payout.address });
  // signed for one job, shard and escrow only
  expect(verifyResult(signed, payout.address, { jobUid: 'origin-uid-9', shardIndex: 8, domain, outputs })).toMatchObject({ ok: false, reason: 'WrongShard' });
  expect(verifyResult(signed, payout.address, { domain: { chainId: 1n, verifyingContract: ESCROW } })).toMatchObject({ ok: false, reason: 'WrongDomain' });
  expect(verifyResult(signed, Wallet.createRandom().address)).toMatchObject({ ok: false, reason: 'WrongSigner' });

  // the claim is the peer shard's recorded cost, in 6-decimal token units
  const ps = await peerShard(settled.remoteId);
  expect(ps.status!.cost).toBeDefined();
  expect(signed.amountClaimed).toBe(tokenUnits(ps.status!.cost!, 6).toString());
  expect(BigInt(signed.amountClaimed)).toBeGreaterThan(0n); // ~2 GPU-seconds at 2.00 USD/GPU-hour
  expect(ps.status!.result).toMatchObject({ digest: res.digest, signed: { signature: signed.signature } });

  // no settlement: no annotations, nothing signed, results at once
  const plainRes = await adapter.getResults(plain.remoteId);
  expect(plainRes).toEqual({ supported: true, outputs: [{ uri: plainUri, sha256: SHA }], digest: expect.any(String), integrity: 'reported' });
  expect((await peerShard(plain.remoteId)).status!.result!.signed).toBeUndefined();

  // the key: not in B's operator log, events, or any object's status
  const events = (await b.core.listNamespacedEvent({ namespace: ns })).items;
  expect(events.some((e) => e.reason === 'ResultSigned' && e.message!.includes(payout.address))).toBe(true);
  const objects = await Promise.all(['renderjobs', 'rendershards'].map((plural) => b.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural, namespace: ns })));
  const everything = JSON.stringify({ log: op!.raw, events, objects }).toLowerCase();
  expect(everything).toContain(payout.address.slice(2).toLowerCase());
  expect(everything).not.toContain(KEY_HEX);
  expect(everything).not.toContain(KEY_HEX.slice(0, 24));

  await Promise.all([adapter.cancel(settled.remoteId), adapter.cancel(plain.remoteId)]);
});

test('a payout key Secret that cannot be used stops the operator at start, naming the Secret and not its content', async () => {
  const junk = `not-a-key-${Math.random().toString(36).slice(2)}`;
  await b.core.createNamespacedSecret({ namespace: secretNs, body: { metadata: { name: 'junk' }, stringData: { wallet: junk } } });
  for (const [args, msg] of [
    [['--payout-key-secret', `${secretNs}/junk`, '--payout-key-secret-key', 'wallet'], `Secret ${secretNs}/junk key wallet does not hold a private key`],
    [['--payout-key-secret', `${secretNs}/absent`], `reading the payout key Secret ${secretNs}/absent`],
  ] as const) {
    const bad = startOperator(kubeconfigB, ['--namespace', ns, '--leader-elect', 'false', '--secrets-namespace', secretNs, ...args]);
    expect(await bad.exited).toBe(1);
    const text = bad.raw.join('\n');
    expect(text).toContain(msg);
    expect(text).not.toContain(junk);
  }
});
