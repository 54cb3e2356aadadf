// What one remote attempt cost, from the provider's bill to what settlement pays, in-process: the
// RenderJob side's RemoteShards records each attempt's bill in status.result.cost (remoteCost keeps
// the sum over every attempt), and ledgers() pays min(that attempt's bill, the signed claim).
// Found by test/data/burst.test.ts: a shard whose tampered result from one provider was discarded ran
// again at an honest one, and the honest one was paid against the sum of both attempts' bills.
import { FakeClock } from '../../runtime/clock.js';
import { nopLog } from '../../runtime/logger.js';
import { ProviderError, type CostReport, type ProviderAdapter, type ShardSpec } from '../../providers/types.js';
import { RemoteShards } from '../renderjob/remote.js';
import type { ShardRecord, ShardRecordStatus } from '../renderjob/decide.js';
import { ledgers } from './plan.js';

/** A provider with one finished job `r-1` whose bill is `bill` USD; the bill endpoint fails `costFailures` times first. */
function provider(bill: string, costFailures = 0) {
  const calls = { cost: 0 };
  const adapter = {
    type: 'render',
    capabilities: () => ({ provider: 'render', logs: 'none', results: 'native', resultChannel: 'test', billing: 'perSecond', maxGpusPerJob: 8, endsByItself: true, findByKey: 'remote', runsArbitraryImages: true }),
    findByKey: async () => 'r-1',
    getStatus: async () => ({ phase: 'Succeeded', raw: 'COMPLETED' }),
    getResults: async () => ({ supported: true, outputs: [{ uri: 's3://out/shard-0.exr', sha256: 'a'.repeat(64) }], digest: 'd'.repeat(64), integrity: 'reported' }),
    getCost: async (): Promise<CostReport> => {
      calls.cost++;
      if (costFailures-- > 0) throw new ProviderError('render', 'transient', 'HTTP 503 billing unavailable', { status: 503 });
      return { amount: bill, currency: 'USD', usd: bill, basis: 'estimated', seconds: 1 };
    },
    cancel: async () => undefined,
  } as unknown as ProviderAdapter;
  return { adapter, calls };
}

/** Shard 0 on its second attempt, at `honest`, after `earlier` USD of remote attempts (a rejected result elsewhere). */
function rerun(earlier: string | undefined): ShardRecord {
  const status: ShardRecordStatus = {
    phase: 'Running', placement: 'Remote', provider: 'honest', attempts: 2, idempotencyKey: 'u1-0-2', remoteId: 'r-1',
    ...(earlier ? { remoteCost: earlier, cost: earlier } : {}),
    lastFailure: { reason: 'ResultRejected', message: 'tamper r-0: outputs do not match their digests' },
  };
  return { name: 'job-0', index: 0, status };
}

async function finish(bill: string, earlier: string | undefined, costFailures = 0): Promise<{ st: ShardRecordStatus; costReads: number }> {
  const clock = new FakeClock(Date.parse('2026-12-01T12:00:00Z'));
  const { adapter, calls } = provider(bill, costFailures);
  const remote = new RemoteShards({ get: async () => adapter }, clock, nopLog, { event: () => undefined }, { retryBaseMs: 1000, retryMaxMs: 10_000, localPricePerGpuHourMicros: 0n, maxStartsPerReconcile: 100, pollIntervalMs: 1000, providerTimeoutMs: 120_000 });
  let rec = rerun(earlier);
  const record = async (_name: string, status: ShardRecordStatus) => { rec = { ...rec, status: JSON.parse(JSON.stringify(status)) as ShardRecordStatus }; };
  expect(await remote.track(record, 'studio', rec, { shardIndex: 0 } as ShardSpec, 0)).toBeUndefined();
  for (let i = 0; i < 50 && rec.status.costPending; i++) {
    clock.advance(60_000);
    await remote.retryCost(record, 'studio', rec);
  }
  return { st: rec.status, costReads: calls.cost };
}

/** The recorded shard as settlement sees it once verified, with the provider's signed claim. */
function owed(st: ShardRecordStatus, claimed: string): bigint {
  const signed = { jobUid: 'u1', shardIndex: 0, resultDigest: `0x${'d'.repeat(64)}`, amountClaimed: claimed, chainId: '31337', verifyingContract: `0x${'e'.repeat(40)}`, signature: '0xsig' };
  const r: ShardRecord = { name: 'job-0', index: 0, status: { ...st, result: { ...st.result, signed }, verification: { state: 'Skipped', provider: 'honest' } } };
  return ledgers({ records: [r], tokenDecimals: 6, estimateMicros: () => 0n }).get('honest')!.owedUnits;
}

test.each([
  // [case, earlier attempts (USD), this attempt's bill, bill reads that fail first, claim (units), remoteCost, result.cost, owed]
  ['re-run after a rejected attempt elsewhere (burst-s shard 0)', '0.000278', '0.000556', 0, '611', '0.000834', '0.000556', 556n],
  ['the same, its bill read only on the third try (costPending, retryCost)', '0.000278', '0.000556', 2, '611', '0.000834', '0.000556', 556n],
  ['first attempt', undefined, '0.000556', 0, '611', '0.000556', '0.000556', 556n],
  ['claim below the bill', '0.000278', '0.000556', 0, '500', '0.000834', '0.000556', 500n],
])('%s', async (_case, earlier, bill, failures, claimed, remoteCost, resultCost, want) => {
  const { st, costReads } = await finish(bill as string, earlier as string | undefined, failures as number);
  expect(costReads).toBe((failures as number) + 1);
  expect({ phase: st.phase, costPending: st.costPending, remoteCost: st.remoteCost, resultCost: st.result?.cost }).toEqual({ phase: 'Succeeded', costPending: undefined, remoteCost, resultCost });
  expect(owed(st, claimed as string)).toBe(want);
});
