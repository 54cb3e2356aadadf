// Builders shared by the adapter-against-fake tests: a shard spec builder (plain, or settled on a
// test escrow with a seeded test render), and an adapter clock that reads the fake's ManualClock and
// records (instead of waiting out) every backoff sleep, so retry timing is asserted exactly and the
// suites run in milliseconds. Also the assertions the suites share about a fake's signed results.

import { verifyResult } from '../../operator/src/settlement/results.js';
import type { OutputRef, ResultDomain, SignedShardResult } from '../../operator/src/settlement/results.js';
import type { Clock, ProviderAdapter, ResultSet, ShardOutput, ShardSpec } from '../../operator/src/providers/types.js';
import { ManualClock, WRONG_RENDER_SUFFIX, fakePayoutKey, testRenderContent, usdToTokenUnits } from './server.js';

/** The signing domain settled test shards carry: anvil's chain id and its first deployment address. */
export const TEST_SETTLEMENT = { chainId: '31337', escrowAddress: '0x5FbDB2315678afecb367f032d93F642f64180aa3', tokenDecimals: 6 };
export const TEST_DOMAIN: ResultDomain = { chainId: 31337n, verifyingContract: TEST_SETTLEMENT.escrowAddress };
export const TEST_SEED = 'lighting-sweep-7';

export interface RecordingClock extends Clock {
  manual: ManualClock;
  sleeps: number[];
}

export function recordingClock(manual = new ManualClock()): RecordingClock {
  const sleeps: number[] = [];
  return {
    manual,
    sleeps,
    now: () => manual.now(),
    sleep: async (ms: number) => {
      sleeps.push(ms);
    },
  };
}

export function makeShard(overrides: Partial<ShardSpec> = {}): ShardSpec {
  return {
    jobUid: '7f1c2d9e-0000-4000-8000-000000000001',
    jobNamespace: 'studio',
    jobName: 'lighting-sweep',
    shardIndex: 3,
    shardCount: 400,
    image: 'ghcr.io/acme/sdxl-batch:1.4',
    command: ['python', 'render.py'],
    args: ['--steps', '30'],
    env: [{ name: 'PROMPT', value: 'a glass atrium at dusk' }],
    gpuCount: 1,
    gpuModels: ['nvidia-h100'],
    outputUri: 's3://renders/lighting/',
    frames: { start: 19, end: 24 },
    ...overrides,
  };
}

/** A shard of a job that settles on-chain (TEST_SETTLEMENT) and renders deterministically (TEST_SEED). */
export function settledShard(overrides: Partial<ShardSpec> = {}): ShardSpec {
  return makeShard({ settlement: TEST_SETTLEMENT, env: [{ name: 'ATELIER_TEST_RENDER_SEED', value: TEST_SEED }], ...overrides });
}

/** An adapter's outputs as settlement's OutputRef list (an interface has no index signature to match). */
export function outputRefs(outputs: readonly ShardOutput[]): OutputRef[] {
  return outputs.map((o) => ({ ...o }));
}

/** Runs fn and returns what it threw (fails the test when it does not throw). */
export async function thrown(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to throw');
}

/**
 * Runs `before` on a submitted job, advances the fake's clock by `ms`, expects the job Succeeded and
 * returns its results (fails the test when the adapter has none).
 */
export async function resultsAfter(adapter: ProviderAdapter, clock: RecordingClock, remoteId: string, ms: number, before?: (remoteId: string) => void): Promise<ResultSet> {
  before?.(remoteId);
  clock.manual.advance(ms);
  const st = await adapter.getStatus(remoteId);
  expect(st.phase === 'Succeeded' ? st.phase : st).toBe('Succeeded');
  const results = await adapter.getResults(remoteId);
  if (!results.supported) throw new Error('expected results');
  return results;
}

/** The fake's payout key is the derived test key for `name` (fakePayoutKey), whose address is `address`. */
export function expectDerivedPayoutKey(fake: { opts: { payoutKey: string }; payoutAddress: string }, name: string, address: string): void {
  expect(fake.opts.payoutKey).toBe(fakePayoutKey(name));
  expect(fake.payoutAddress).toBe(address);
}

/**
 * The results of settledShard() carry `signed`, by payoutAddress, for its job, shard, outputs and
 * TEST_DOMAIN, over the results' digest, claiming costUsd in token units (TEST_SETTLEMENT's
 * decimals). Returns it.
 */
export function expectSettledSigned(results: ResultSet, payoutAddress: string, costUsd: string): SignedShardResult {
  const signed = results.signed;
  if (!signed) throw new Error('expected a signed result');
  const shard = settledShard();
  expect(verifyResult(signed, payoutAddress, { outputs: outputRefs(results.outputs), jobUid: shard.jobUid, shardIndex: shard.shardIndex, domain: TEST_DOMAIN })).toEqual({ ok: true, signer: payoutAddress });
  expect(signed.resultDigest).toBe('0x' + results.digest);
  expect(signed.amountClaimed).toBe(usdToTokenUnits(costUsd, TEST_SETTLEMENT.tokenDecimals).toString());
  return signed;
}

/**
 * A `wrong` render of settledShard(): its bytes are the test render with WRONG_RENDER_SUFFIX, and the
 * results are signed by payoutAddress all the same.
 */
export function expectWrongRender(bytes: Buffer | undefined, results: ResultSet, payoutAddress: string): void {
  const right = testRenderContent(TEST_SEED, settledShard().shardIndex);
  expect(bytes).not.toEqual(right);
  expect(bytes?.toString()).toBe(right.toString() + WRONG_RENDER_SUFFIX);
  expect(verifyResult(results.signed!, payoutAddress, { outputs: outputRefs(results.outputs), domain: TEST_DOMAIN })).toMatchObject({ ok: true });
}
