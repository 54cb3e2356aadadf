// The chaos suite's judge, judged: checkWorld over small hand-made worlds, one breach each, so a
// chaos run that prints `violations: 0` means the breaches it looks for were absent, not unseen.
import { checkWorld, shardOfKey, type ChainView, type Run, type WorldInput } from './world.js';

const UID = '0b5c2f4e-1111-4222-8333-444455556666';
const PAYEE = '0x00000000000000000000000000000000000000aa';
const ID = '0x' + '11'.repeat(32);

function chain(o: Partial<{ state: number; released: bigint; count: number }> = {}): ChainView {
  const released = o.released ?? 2000n;
  return {
    opened: new Map([[ID, { provider: PAYEE, amount: 5000n }]]),
    released: released > 0n ? new Map([[ID, { provider: PAYEE, toProvider: released, count: o.count ?? 1 }]]) : new Map(),
    refunded: new Map(),
    states: new Map([[ID, o.state ?? 2]]),
  };
}

const remote = (place: string, start: number, end: number, good = true, billed = 2000n): Run => ({ place, shard: `${UID}/0`, start, end, good, live: false, provider: 'p', billedMicros: billed });
const local = (place: string, start: number, end: number, good = true): Run => ({ place, shard: `${UID}/0`, start, end, good, live: false });

function world(runs: Run[], over: Partial<WorldInput> = {}): WorldInput {
  return {
    jobs: new Map([[UID, { name: 'j' }]]), runs, chain: chain(), payees: new Map([[PAYEE, 'p']]), noFindByKey: new Set(),
    memory: { baseline: 100 * 2 ** 20, end: 100 * 2 ** 20 }, ...over,
  };
}

test.each([
  { what: 'one good remote run, paid what it billed', w: world([remote('p/1', 0, 10)]), violations: [] },
  { what: 'a failed local run, then a good remote run, then the spot check re-run here', w: world([local('a/1', 0, 5, false), remote('p/1', 6, 10), local('a/2', 11, 15)], { jobs: new Map([[UID, { name: 'j', spotCheckFraction: 1 }]]) }), violations: [] },
  { what: 'the spot check pod whose whole-second startedAt reads up to 999 ms before the remote run ended', w: world([remote('p/1', 0, 10_400), local('a/1', 10_000, 13_000)], { jobs: new Map([[UID, { name: 'j', spotCheckFraction: 1 }]]) }), violations: [] },
  { what: 'a local pod that started a second before the remote run ended', w: world([remote('p/1', 0, 10_400), local('a/1', 9_000, 13_000)], { jobs: new Map([[UID, { name: 'j', spotCheckFraction: 1 }]]) }), violations: [/succeeded 2 times/, /two places at once/] },
  { what: 'a good local run after the good remote run of a shard not chosen for a spot check', w: world([remote('p/1', 0, 10), local('a/1', 20, 30)]), violations: [/succeeded 2 times/] },
  { what: 'two good spot check re-runs', w: world([remote('p/1', 0, 10), local('a/1', 20, 30), local('a/2', 40, 50)], { jobs: new Map([[UID, { name: 'j', spotCheckFraction: 1 }]]) }), violations: [/succeeded 2 times/] },
  { what: 'two good runs of one shard', w: world([local('a/1', 0, 10), remote('p/1', 20, 30)]), violations: [/succeeded 2 times/] },
  { what: 'two runs at once', w: world([local('a/1', 0, 10_000, false), remote('p/1', 5_000, 15_000)]), violations: [/two places at once/] },
  { what: 'a remote run still going', w: world([remote('p/1', 0, 10), { ...remote('p/2', 20, 30, false, 0n), live: true }]), violations: [/still running/] },
  { what: 'no good run and the job did not fail', w: world([remote('p/1', 0, 10, false, 0n)], { chain: chain({ released: 0n, state: 3 }) }), violations: [/never succeeded/] },
  { what: 'no good run, the job failed with a reason', w: world([remote('p/1', 0, 10, false, 0n)], { jobs: new Map([[UID, { name: 'j', failedReason: 'ShardFailed' }]]), chain: chain({ released: 0n, state: 3 }) }), violations: [] },
  { what: 'an escrow left open', w: world([remote('p/1', 0, 10)], { chain: chain({ state: 1 }) }), violations: [/neither released nor refunded/] },
  { what: 'an escrow released twice', w: world([remote('p/1', 0, 10)], { chain: chain({ count: 2 }) }), violations: [/released 2 times/] },
  { what: 'paid more than billed', w: world([remote('p/1', 0, 10)], { chain: chain({ released: 2001n }) }), violations: [/paid 2001 token units.*says 2000/] },
  { what: 'paid for a run that failed verification', w: world([remote('p/1', 0, 10, false, 2000n), local('a/1', 11, 20)], { jobs: new Map([[UID, { name: 'j', spotCheckFraction: 1 }]]) }), violations: [/paid 2000 token units.*says 0/] },
  { what: 'the operator heap did not come back', w: world([remote('p/1', 0, 10)], { memory: { baseline: 100 * 2 ** 20, end: 400 * 2 ** 20 } }), violations: [/heap/] },
])('$what', ({ w, violations }) => {
  const r = checkWorld(w, 1000);
  expect(r.violations).toHaveLength(violations.length);
  violations.forEach((re, i) => expect(r.violations[i]).toMatch(re));
});

test('an unrecorded run on a provider that cannot find jobs by key is the known exception, counted apart', () => {
  const w = world([remote('p/1', 0, 10), remote('p/2', 0, 10, true, 1900n)], { noFindByKey: new Set(['p']), recordedRun: () => 'p/1' });
  const r = checkWorld(w, 1000);
  expect(r.exceptions).toEqual([expect.stringMatching(/p\/2 ran unrecorded/)]);
  // it ran beside the recorded run: that overlap is still a violation the exception does not hide
  expect(r.violations).toEqual([expect.stringMatching(/two places at once/)]);
});

test('an idempotency key names its shard', () => {
  expect(shardOfKey(`${UID}-12-3`)).toBe(`${UID}/12`);
});
