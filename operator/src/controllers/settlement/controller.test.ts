// The settlement controller in-process: a fake status writer (the store the listers read back), and a
// fake chain behind the escrow client's interface whose balances are the test oracle — what each
// provider received, and how many times an escrow was released — never the controller's own status.
// Scenarios: two providers settled in parallel; a bill not yet known keeps the escrow open; and an
// operator killed right after each broadcast and before each status write, replayed by a fresh one.
import { API_VERSION, type RenderJob, type RenderShard } from '../../api/index.js';
import { FakeClock } from '../../runtime/clock.js';
import { nopLog } from '../../runtime/logger.js';
import type { EscrowClient, EscrowRecord, SendHooks, StepResult, TxAction } from '../../settlement/escrow.js';
import { SettlementController } from './controller.js';

const NS = 'studio';
const PAYOUT = { p1: `0x${'1'.repeat(40)}`, p2: `0x${'2'.repeat(40)}` } as Record<string, string>;
class Killed extends Error {}

/** A chain with one token of 6 decimals and the escrow contract's rules: open, top up, release and refund once each. */
class FakeChain {
  readonly escrows = new Map<string, EscrowRecord>();
  readonly balances = new Map<string, bigint>();
  readonly releases = new Map<string, number>();
  allowance = 0n;
  private n = 0;
  /** Broadcasts seen; a kill after broadcast number `killAfter` (the transaction is mined anyway). */
  broadcasts = 0;
  killAfter?: number;

  private async tx(action: TxAction, hooks: SendHooks, apply: () => void): Promise<{ action: TxAction; hash: string; blockNumber: number; gasUsed: bigint }> {
    const hash = `0x${(++this.n).toString(16).padStart(64, '0')}`;
    apply(); // mined as soon as it is sent
    this.broadcasts++;
    if (this.killAfter !== undefined && this.broadcasts === this.killAfter) throw new Killed(`killed after broadcast ${this.broadcasts} (${action})`);
    await hooks.onSent?.(hash, action);
    return { action, hash, blockNumber: this.n, gasUsed: 21000n };
  }
  private record(id: string): EscrowRecord {
    return this.escrows.get(id) ?? { escrowId: id, payer: 'payer', provider: '', token: 'tok', amount: 0n, deadline: 0n, state: 'None', resultDigest: `0x${'0'.repeat(64)}` };
  }
  private pay(to: string, units: bigint) { this.balances.set(to, (this.balances.get(to) ?? 0n) + units); }
  client(): EscrowClient {
    const units = (s: string) => BigInt(Math.round(Number(s) * 1e6));
    const c = {
      decimals: async () => 6,
      payerAddress: async () => 'payer',
      ensureOpen: async (req: { escrowId: string; provider: string; amount: string }, hooks: SendHooks): Promise<StepResult> => {
        const e = this.record(req.escrowId);
        if (e.state !== 'None') return { escrow: e, sent: [] };
        // As the client does with allowance 'exact': approve exactly this amount, then open, which
        // pulls it (an approve of another step in between overwrites it, and the open reverts).
        const a = await this.tx('approve', hooks, () => { this.allowance = units(req.amount); });
        if (this.allowance < units(req.amount)) throw Object.assign(new Error(`reverted: InsufficientAllowance(${this.allowance}, ${units(req.amount)})`), { reverted: true });
        const t = await this.tx('open', hooks, () => { this.allowance -= units(req.amount); this.escrows.set(req.escrowId, { ...e, provider: req.provider, amount: units(req.amount), state: 'Open' }); });
        return { escrow: this.record(req.escrowId), sent: [a, t] };
      },
      ensureFunded: async (id: string, amount: string, hooks: SendHooks): Promise<StepResult> => {
        const e = this.record(id);
        if (e.state !== 'Open' || e.amount >= units(amount)) return { escrow: e, sent: [] };
        const t = await this.tx('topUp', hooks, () => this.escrows.set(id, { ...e, amount: units(amount) }));
        return { escrow: this.record(id), sent: [t] };
      },
      ensureReleased: async (req: { escrowId: string; amountToProvider: string; resultDigest: string }, hooks: SendHooks): Promise<StepResult> => {
        const e = this.record(req.escrowId);
        if (e.state === 'Released') return { escrow: e, sent: [] };
        if (e.state !== 'Open') throw new Error(`release of a ${e.state} escrow`);
        const owed = units(req.amountToProvider);
        if (owed > e.amount) throw new Error('release above funding');
        const t = await this.tx('release', hooks, () => {
          this.pay(e.provider, owed);
          this.pay('payer', e.amount - owed);
          this.releases.set(req.escrowId, (this.releases.get(req.escrowId) ?? 0) + 1);
          this.escrows.set(req.escrowId, { ...e, state: 'Released', resultDigest: req.resultDigest });
        });
        return { escrow: this.record(req.escrowId), sent: [t] };
      },
      ensureRefunded: async (id: string, hooks: SendHooks): Promise<StepResult> => {
        const e = this.record(id);
        if (e.state !== 'Open') return { escrow: e, sent: [] };
        const t = await this.tx('refund', hooks, () => { this.pay('payer', e.amount); this.escrows.set(id, { ...e, state: 'Refunded' }); });
        return { escrow: this.record(id), sent: [t] };
      },
    };
    return c as unknown as EscrowClient;
  }
}

/** What each provider billed per shard (its own record), in USD. */
const BILLED: Record<number, { provider: string; usd: string }> = { 0: { provider: 'p1', usd: '1.25' }, 1: { provider: 'p1', usd: '0.75' }, 2: { provider: 'p2', usd: '2.00' } };

function shard(index: number, extra: Partial<NonNullable<RenderShard['status']>> = {}): RenderShard {
  const b = BILLED[index]!;
  return {
    apiVersion: API_VERSION, kind: 'RenderShard', metadata: { name: `job-${index}`, namespace: NS }, spec: { jobName: 'job', index },
    status: {
      phase: 'Succeeded', placement: 'Remote', provider: b.provider, attempts: 1, idempotencyKey: `uid-job-${index}-1`, remoteId: `r${index}`, remoteCost: b.usd,
      result: { outputs: [{ uri: `s3://o/${index}`, sha256: 'a'.repeat(64) }], signed: { jobUid: 'uid-job', shardIndex: index, resultDigest: `0x${String(index).repeat(64)}`, amountClaimed: String(Number(b.usd) * 1e6), chainId: '31337', verifyingContract: `0x${'e'.repeat(40)}`, signature: '0x', signer: PAYOUT[b.provider] } },
      verification: { state: 'Skipped', provider: b.provider },
      ...extra,
    },
  };
}

function world(shards = [shard(0), shard(1), shard(2)]) {
  const clock = new FakeClock(Date.parse('2026-12-01T12:00:00Z'));
  const chain = new FakeChain();
  const job: RenderJob = {
    apiVersion: API_VERSION, kind: 'RenderJob',
    metadata: { name: 'job', namespace: NS, uid: 'uid-job', generation: 1, creationTimestamp: new Date(clock.now()) as unknown as Date },
    spec: { template: { image: 'r', resources: { limits: { 'nvidia.com/gpu': 1 } } }, shards: { count: 3 }, settlement: { enabled: true } },
    status: { phase: 'Succeeded' },
  } as RenderJob;
  let writes = 0;
  let killWrite: number | undefined;
  const controller = () => new SettlementController({
    cfg: { rpcUrl: 'http://x', chainId: 31337, escrowAddress: `0x${'e'.repeat(40)}`, tokenAddress: 'tok', walletSecret: { namespace: 'a', name: 'w', key: 'k' }, escrowGraceMs: 0 },
    jobs: { get: () => job, byIndex: () => [] },
    shards: { get: () => undefined, byIndex: () => shards },
    providers: { get: (n) => ({ apiVersion: API_VERSION, kind: 'ComputeProvider', metadata: { name: n }, spec: { type: 'render', payoutAddress: PAYOUT[n] } }) as never },
    readSecret: async () => '0xkey',
    writeStatus: async (_ns, _n, settlement, settled) => {
      writes++;
      if (killWrite !== undefined && writes === killWrite) throw new Killed(`killed before status write ${writes}`);
      job.status = { ...job.status, settlement: JSON.parse(JSON.stringify(settlement)), conditions: [settled as never] };
    },
    recorder: { event: () => undefined }, log: nopLog, clock,
    connect: async () => chain.client(),
  });
  const settleUntilDone = async (c = controller(), passes = 20) => {
    for (let i = 0; i < passes; i++) {
      await c.reconcile(`${NS}/job`);
      if (job.status?.conditions?.find((x) => x.type === 'Settled')?.status === 'True') return;
    }
  };
  return { clock, chain, job, controller, settleUntilDone, shards, setKillWrite: (k?: number) => { writes = 0; killWrite = k; }, writes: () => writes };
}

const owed = (p: string) => Object.values(BILLED).filter((b) => b.provider === p).reduce((n, b) => n + BigInt(Math.round(Number(b.usd) * 1e6)), 0n);

describe('SettlementController in-process', () => {
  test('escrows of two providers opened while the job runs: funding steps do not overwrite each other\'s allowance', async () => {
    const w = world([shard(0, { phase: 'Running', idempotencyKey: 'uid-job-0-1' }), shard(2, { phase: 'Running', idempotencyKey: 'uid-job-2-1' })]);
    w.job.status = { phase: 'Running' };
    const c = w.controller();
    await c.reconcile(`${NS}/job`); // both escrows need opening in the same round
    expect([...w.chain.escrows.values()].map((e) => e.state)).toEqual(['Open', 'Open']);
    expect(w.job.status?.conditions?.find((x) => x.type === 'Settled')).toMatchObject({ status: 'False', reason: 'EscrowOpen' });
  });

  test('each provider is paid exactly what it billed, once; the Settled condition is written by the controller', async () => {
    const w = world();
    await w.settleUntilDone();
    expect(w.chain.balances.get(PAYOUT.p1!)).toBe(owed('p1'));
    expect(w.chain.balances.get(PAYOUT.p2!)).toBe(owed('p2'));
    expect([...w.chain.releases.values()]).toEqual([1, 1]);
    expect(w.job.status?.conditions?.find((c) => c.type === 'Settled')).toMatchObject({ status: 'True', reason: 'Settled', observedGeneration: 1 });
    expect(w.job.status?.settlement?.escrows?.map((e) => e.state)).toEqual(['Released', 'Released']);
  });

  test('a shard whose bill is not known keeps its provider\'s escrow open; the other provider is paid', async () => {
    const w = world([shard(0), shard(1, { costPending: true, remoteCost: undefined }), shard(2)]);
    await w.settleUntilDone(undefined, 5);
    expect(w.chain.balances.get(PAYOUT.p1!) ?? 0n).toBe(0n);
    expect(w.chain.balances.get(PAYOUT.p2!)).toBe(owed('p2'));
    expect(w.job.status?.conditions?.find((c) => c.type === 'Settled')?.status).toBe('False');
    // the bill is read: now p1 is paid for both shards, exactly
    w.shards[1] = shard(1);
    await w.settleUntilDone();
    expect(w.chain.balances.get(PAYOUT.p1!)).toBe(owed('p1'));
    expect([...w.chain.releases.values()]).toEqual([1, 1]);
  });

  test('killed right after each broadcast, or before each status write, and restarted: every provider paid exactly once', async () => {
    const clean = world();
    await clean.settleUntilDone();
    const broadcasts = clean.chain.broadcasts;
    const writes = clean.writes();
    expect(broadcasts).toBeGreaterThanOrEqual(4);
    const kills: string[] = [];
    for (const [kind, n] of [['broadcast', broadcasts], ['write', writes]] as const) {
      for (let k = 1; k <= n; k++) {
        const w = world();
        if (kind === 'broadcast') w.chain.killAfter = k; else w.setKillWrite(k);
        const died = await w.controller().reconcile(`${NS}/job`).then(() => false, (e: unknown) => e instanceof Killed || (e as { cause?: unknown }).cause instanceof Killed);
        if (died) kills.push(`${kind}#${k}`);
        w.chain.killAfter = undefined;
        w.setKillWrite(undefined);
        await w.settleUntilDone();
        const where = `${kind} ${k}`;
        expect({ where, p1: w.chain.balances.get(PAYOUT.p1!), p2: w.chain.balances.get(PAYOUT.p2!), releases: [...w.chain.releases.values()] })
          .toEqual({ where, p1: owed('p1'), p2: owed('p2'), releases: [1, 1] });
      }
    }
    expect(kills.length).toBeGreaterThan(broadcasts);
  });
});
