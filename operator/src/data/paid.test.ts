// Settlement pays a sealed job's shard only once delivered: the ledger over real plan.ts with the
// predicate from paid.ts, table-driven over delivery states; and the signed digest covers the CIDs.
import type { ShardRecord } from '../api/index.js';
import { ledgers } from '../controllers/settlement/plan.js';
import { resultDigest } from '../settlement/results.js';
import { undelivered } from './paid.js';

const shard = (index: number, state: 'Verified' | 'Failed' = 'Verified'): ShardRecord => ({
  name: `job-${index}`, index,
  status: {
    placement: 'Remote', provider: 'akash', phase: 'Succeeded', attempts: 1, idempotencyKey: `u1-${index}-1`, remoteCost: '1.00',
    result: { outputs: [{ uri: 'f.exr', sha256: 'a'.repeat(64), cid: 'bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am' }], signed: { jobUid: 'u1', shardIndex: index, resultDigest: `0x${'1'.repeat(64)}`, amountClaimed: '1000000', chainId: '31337', verifyingContract: `0x${'e'.repeat(40)}`, signature: '0xsig' } },
    verification: { state, provider: 'akash' },
  },
});
const job = (sealed: boolean, delivered: { index: number; state: string }[]) => ({ spec: { output: sealed ? { encryptTo: { recipient: 'age1x' } } : {} }, status: { delivery: { shards: delivered } } });

test.each([
  ['not sealed: paid as before', job(false, []), [0, 1], 2_000_000n, 0],
  ['sealed, nothing delivered: nothing paid, both still checking', job(true, []), [], 0n, 2],
  ['sealed, shard 0 delivered: only it is paid', job(true, [{ index: 0, state: 'Delivered' }, { index: 1, state: 'Pending' }]), [0], 1_000_000n, 1],
  ['sealed, both delivered: both paid', job(true, [{ index: 0, state: 'Delivered' }, { index: 1, state: 'Delivered' }]), [0, 1], 2_000_000n, 0],
])('%s', (_n, j, paid, owed, checking) => {
  const pred = undelivered(j);
  const l = ledgers({ records: [shard(0), shard(1)], tokenDecimals: 6, estimateMicros: () => 0n, ...(pred ? { undelivered: pred } : {}) }).get('akash')!;
  expect(l.paidShards).toEqual(paid);
  expect(l.owedUnits).toBe(owed);
  expect(l.checking).toBe(checking);
});

test('a rejected output (verification Failed) leaves the provider owed nothing', () => {
  const pred = undelivered(job(true, [{ index: 0, state: 'Delivered' }, { index: 1, state: 'Rejected' }]))!;
  const l = ledgers({ records: [shard(0), shard(1, 'Failed')], tokenDecimals: 6, estimateMicros: () => 0n, undelivered: pred }).get('akash')!;
  expect(l.owedUnits).toBe(0n);
  expect(l.untrusted).toBe(true);
});

test('the signed result digest covers each output CID as well as its plaintext digest', () => {
  // OutputRef names uri and sha256; the reported cid travels with them and canonicalOutputs keeps it.
  const digest = (o: object) => resultDigest([o as { uri: string; sha256: string }]);
  const base = { uri: 'f.exr', sha256: 'a'.repeat(64), cid: 'bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am' };
  expect(digest(base)).not.toBe(digest({ ...base, cid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy' }));
  expect(digest(base)).not.toBe(digest({ ...base, sha256: 'b'.repeat(64) }));
});
