// The settlement controller: carries out plan.ts's steps on the chain for jobs with
// spec.settlement.enabled and keeps status.settlement and the Settled condition true. It is their
// only writer (server-side apply with its own field manager, so the RenderJob controller's status
// writes never touch them); the RenderJob reconciler reads this controller's view (ports.ts) for the
// signing domain and for deletion. Jobs settle in parallel (several workers) and so do the escrows of
// one job (one per provider): the escrow client serialises broadcasts, so one wallet never picks the
// same nonce twice, while receipts are awaited side by side. Every wait is bounded (a receipt by the
// client's timeout, a reconcile by a time budget and the work queue's abort signal).
//
// Every step is idempotent and survives a kill at any moment: EscrowClient reads the escrow by its
// deterministic id before sending, a transaction's hash is written to status.settlement before its
// receipt is awaited, and a restarted operator passes recorded pending hashes back to wait for them
// instead of sending again. The contract itself allows open, release and refund once per escrow, so
// even a hash lost in a crash cannot pay twice. Failures (an unreachable RPC, a revert) show as
// Settled=False with the reason and an Event, and go back to the work queue as errors: it backs off
// per job and its metrics count them as errors.
import { undelivered } from '../../data/paid.js';
import { API_VERSION, gpusPerShard, type EscrowStatus, type RenderJob, type RenderShard, type ComputeProvider, type SettlementStatus } from '../../api/index.js';
import type { SettlementConfig } from '../../config.js';
import { nopSettlementMetrics, type SettlementMetrics } from '../../metrics/metrics.js';
import { SettlementError, escrowIdFor, fromUnits, toUnits, type EscrowClient, type SendHooks, type StepResult } from '../../settlement/escrow.js';
import { parseMicrosOr } from '../../money.js';
import type { ShardRecord } from '../../api/index.js';
import type { Lister, Log as Logger, Recorder, SecretReader } from '../../runtime/index.js';
import type { SettlementView } from '../ports.js';
import { CLOSED, finished, ledgers, movingShards, nextSteps, type Step } from './plan.js';

export type Condition = { type: string; status: 'True' | 'False' | 'Unknown'; reason: string; message: string; observedGeneration?: number; lastTransitionTime?: string };

export interface SettlementDeps {
  cfg: SettlementConfig;
  jobs: Lister<RenderJob>;
  shards: Lister<RenderShard>;
  providers: { get(name: string): ComputeProvider | undefined };
  readSecret: SecretReader;
  /** Applies status.settlement and the Settled condition of the job (this controller's fields only). */
  writeStatus(namespace: string, name: string, settlement: SettlementStatus, settled: Condition): Promise<void>;
  recorder: Recorder;
  log: Logger;
  metrics?: SettlementMetrics;
  clock: { now(): number };
  /** How long one reconcile may keep sending steps before it hands the job back to the queue. Default 60 s. */
  reconcileBudgetMs?: number;
  /**
   * Fault injection for tests: called right after a transaction is broadcast and before its hash is
   * recorded (the moment a crash is most dangerous). The manager sets it only from
   * ATELIER_TEST_KILL_AFTER_SEND, to SIGKILL the process after the named actions.
   */
  afterBroadcast?: (action: string) => void;
  /** Builds the payer's escrow client from the wallet key (setup.ts: ethers on the configured RPC; tests inject a fake). */
  connect: (privateKey: string) => Promise<EscrowClient>;
}

const DEFAULT_SHARD_MS = 10 * 60_000;
const EMPTY: EscrowStatus[] = [];

export class SettlementController implements SettlementView {
  private client?: EscrowClient;
  private connecting?: Promise<EscrowClient>;
  private decimals?: number;
  private readonly state = new Map<string, EscrowStatus[]>();
  private readonly errors = new Map<string, { reason: string; message: string; failures: number }>();
  /** Jobs this process has reconciled to the end (no step left, no error) since they last changed. */
  private readonly caughtUp = new Set<string>();
  /** Jobs with a step in progress (an escrow may be opening that the status does not show yet). */
  private readonly busy = new Set<string>();
  /** The funding step in progress (open, topUp): one at a time per wallet. */
  private fundingChain: Promise<unknown> = Promise.resolve();
  /** The last status write per job (writes of one job are chained). */
  private readonly writes = new Map<string, Promise<void>>();

  constructor(private readonly d: SettlementDeps) {}

  domain() {
    if (this.decimals === undefined) return undefined;
    return { chainId: this.d.cfg.chainId, verifyingContract: this.d.cfg.escrowAddress, escrowAddress: this.d.cfg.escrowAddress, tokenDecimals: this.decimals };
  }

  payoutAddress(provider: string): string | undefined {
    return this.d.providers.get(provider)?.spec.payoutAddress;
  }

  private escrowsOf(key: string, job: RenderJob): EscrowStatus[] {
    return this.state.get(key) ?? job.status?.settlement?.escrows ?? EMPTY;
  }

  /** The Settled condition this controller holds true for the job now. */
  settledCondition(key: string, job: RenderJob): Condition {
    const err = this.errors.get(key) ?? (this.decimals === undefined ? this.errors.get('') : undefined);
    if (err) return { type: 'Settled', status: 'False', reason: err.reason, message: err.message };
    // A bill not read yet: what is owed is not known, so nothing is settled (even with every escrow closed).
    const unbilled = this.d.shards.byIndex('job', key).filter((r) => r.status?.costPending && r.status.placement === 'Remote').length;
    if (unbilled > 0) return { type: 'Settled', status: 'False', reason: 'CostUnknown', message: `the bill of ${unbilled} remote shard(s) could not be read from the provider yet; nothing is paid for them until it is` };
    const escrows = this.escrowsOf(key, job);
    const over = finished(job);
    if (escrows.length === 0) {
      // Finished with no escrow: settled only once this process has looked (a restart must not
      // claim it before working out what is owed).
      if (over && !this.caughtUp.has(key)) return { type: 'Settled', status: 'False', reason: 'Settling', message: 'working out what is owed' };
      return over
        ? { type: 'Settled', status: 'True', reason: 'NothingToSettle', message: 'no provider was owed anything' }
        : { type: 'Settled', status: 'False', reason: 'Pending', message: 'no escrow yet: nothing has burst to a provider' };
    }
    const open = escrows.filter((e) => !e.state || !CLOSED.has(e.state));
    // Token amounts, summed exactly in the token's units (escrows are in the token's decimals, not USD micros).
    const dec = this.decimals ?? 6;
    const sum = (f: (e: EscrowStatus) => string | undefined) => fromUnits(escrows.reduce((n, e) => n + unitsOf(f(e), dec), 0n), dec);
    if (open.length === 0) {
      const withheld = escrows.filter((e) => e.state === 'Withheld').map((e) => e.provider);
      return {
        type: 'Settled', status: 'True', reason: 'Settled',
        message: `released ${sum((e) => e.released)} to ${escrows.filter((e) => e.state === 'Released').length} provider(s), refunded ${sum((e) => e.refunded)}${withheld.length ? `; withheld from ${withheld.join(', ')} (verification failed)` : ''}`,
      };
    }
    return over
      ? { type: 'Settled', status: 'False', reason: 'Settling', message: `${open.length} escrow(s) being released or refunded` }
      : { type: 'Settled', status: 'False', reason: 'EscrowOpen', message: `${open.length} escrow(s) hold ${sum((e) => e.funded)}; paid when results are verified` };
  }

  blocksDeletion(key: string, job: RenderJob): boolean {
    return this.busy.has(key) || this.escrowsOf(key, job).some((e) => !e.state || !CLOSED.has(e.state));
  }

  /** Connects to the chain (wallet from its Secret, token decimals); retried by callers until it works. */
  async ensureConnected(): Promise<EscrowClient> {
    if (this.client && this.decimals !== undefined) return this.client;
    this.connecting ??= (async () => {
      const { namespace, name, key } = this.d.cfg.walletSecret;
      let privateKey: string;
      try {
        privateKey = (await this.d.readSecret(namespace, name, key)).trim();
      } catch (e) {
        throw new SettlementError('other', `the settlement wallet Secret ${namespace}/${name} (key ${key}) could not be read: ${statusText(e)}`, { code: 'WALLET_SECRET' });
      }
      let client: EscrowClient;
      try {
        client = await this.d.connect(privateKey);
      } catch (e) {
        // ethers redacts the key in its message; ours names only the Secret.
        if (e instanceof SettlementError) throw e;
        throw new SettlementError('other', `the settlement wallet Secret ${namespace}/${name} (key ${key}) does not hold a usable private key (32 bytes, hex)`, { code: 'WALLET_KEY' });
      }
      await client.preflight?.(this.d.cfg.tokenAddress, this.d.cfg.chainId);
      this.decimals = await client.decimals(this.d.cfg.tokenAddress);
      this.client = client;
      this.d.log.info('settlement connected', { payer: await client.payerAddress(), escrow: this.d.cfg.escrowAddress, token: this.d.cfg.tokenAddress, decimals: this.decimals });
      return client;
    })().finally(() => { this.connecting = undefined; });
    return this.connecting;
  }

  async reconcile(key: string, signal?: AbortSignal): Promise<{ requeueAfterMs?: number }> {
    const [namespace, name] = key.split('/') as [string, string];
    const job = this.d.jobs.get(namespace, name);
    if (!job) {
      this.state.delete(key);
      this.errors.delete(key);
      this.caughtUp.delete(key);
      return {};
    }
    if (!job.spec.settlement?.enabled) return {};
    let client: EscrowClient;
    try {
      client = await this.ensureConnected();
      this.errors.delete('');
    } catch (e) {
      return this.failed('', job, e, 'connect');
    }
    const escrows = [...this.escrowsOf(key, job).map((e) => ({ ...e, transactions: [...(e.transactions ?? [])] }))];
    this.state.set(key, escrows);
    this.busy.add(key);
    let done: boolean;
    try {
      done = await this.runSteps(client, job, key, escrows, signal);
    } catch (e) {
      return this.failed(key, job, e, 'step');
    } finally {
      this.busy.delete(key);
    }
    this.errors.delete(key);
    if (done) this.caughtUp.add(key);
    await this.publish(job, key, escrows);
    if (!done) return { requeueAfterMs: 0 }; // the time budget ran out with steps left: go on after other jobs
    const open = escrows.some((e) => !e.state || !CLOSED.has(e.state));
    // Shard and job events bring the job back; the requeue is a safety net while escrows are open.
    return open ? { requeueAfterMs: 60_000 } : {};
  }

  /**
   * Rounds of plan.ts steps until none is left (true) or the time budget or the abort signal says
   * stop (false). Within a round, the escrows of different providers move in parallel.
   */
  private async runSteps(client: EscrowClient, job: RenderJob, key: string, escrows: EscrowStatus[], signal?: AbortSignal): Promise<boolean> {
    const decimals = this.decimals!;
    const records: ShardRecord[] = this.d.shards.byIndex('job', key).map((r) => ({ name: r.metadata.name!, index: r.spec.index, status: r.status ?? {} }));
    const expectedMs = meanMs(records) ?? DEFAULT_SHARD_MS;
    const gpus = gpusPerShard(job.spec);
    const estimateMicros = (provider: string) => {
      const offers = this.d.providers.get(provider)?.status?.offers ?? [];
      const price = offers.reduce((m, o) => { const p = parseMicrosOr(o.pricePerGpuHour, 0n); return p > m ? p : m; }, 0n);
      return (price * BigInt(gpus) * BigInt(Math.round(expectedMs))) / 3_600_000n;
    };
    const until = this.d.clock.now() + (this.d.reconcileBudgetMs ?? 60_000);
    for (let round = 0; round < 8; round++) {
      const notDelivered = undelivered(job);
      const known = job.status?.untrustedProviders ?? [];
      const led = ledgers({ records, tokenDecimals: decimals, estimateMicros, untrusted: known, ...(notDelivered ? { undelivered: notDelivered } : {}) });
      const byProvider = new Map(escrows.map((e) => [e.provider, e]));
      const moving = movingShards({ records, untrusted: known, ...(notDelivered ? { undelivered: notDelivered } : {}) });
      const steps = nextSteps({ job, ledgers: led, escrows: byProvider, tokenDecimals: decimals, fundedUnits: (p) => unitsOf(byProvider.get(p)?.funded, decimals), moving });
      if (steps.length === 0) return true;
      if (signal?.aborted || this.d.clock.now() > until) return false;
      const perProvider = new Map<string, Step[]>();
      for (const step of steps) perProvider.set(step.provider, [...(perProvider.get(step.provider) ?? []), step]);
      const results = await Promise.allSettled([...perProvider.values()].map(async (list) => {
        for (const step of list) {
          // Funding steps approve the escrow contract for exactly their amount first: two of them at
          // once would overwrite each other's allowance (one open reverting with InsufficientAllowance),
          // so they go one at a time across all jobs; releases and refunds need no allowance.
          if (step.kind === 'open' || step.kind === 'topUp') await this.funding(() => this.execute(client, job, key, escrows, step, decimals, signal));
          else await this.execute(client, job, key, escrows, step, decimals, signal);
        }
      }));
      const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failure) throw failure.reason;
    }
    return false;
  }

  private funding<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.fundingChain.then(fn, fn);
    this.fundingChain = run.catch(() => undefined);
    return run;
  }

  /** Records the failure as Settled=False with its reason (and an Event when the reason is new), then hands it to the work queue's backoff. */
  private async failed(key: string, job: RenderJob, e: unknown, what: string): Promise<never> {
    const err = e instanceof SettlementError ? e : undefined;
    const reason = err?.kind === 'unreachable' ? 'RpcUnavailable' : err?.kind === 'reverted' ? 'TransactionReverted' : err?.code === 'WALLET_SECRET' ? 'WalletUnavailable' : 'SettlementError';
    const message = (e as Error).message.slice(0, 512);
    const prev = this.errors.get(key);
    this.errors.set(key, { reason, message, failures: (prev?.failures ?? 0) + 1 });
    if (!prev || prev.reason !== reason) {
      this.d.log.warn('settlement step failed, will retry', { job: `${job.metadata.namespace}/${job.metadata.name}`, what, reason, error: message });
      this.d.recorder.event({ apiVersion: API_VERSION, kind: 'RenderJob', metadata: job.metadata }, 'Warning', reason, `settlement: ${message}`);
    }
    const jobKey = `${job.metadata.namespace}/${job.metadata.name}`;
    await this.publish(job, jobKey, this.escrowsOf(jobKey, job)).catch(() => undefined);
    throw e;
  }

  /** Applies status.settlement and Settled when they differ from what the cache shows (a write that changes nothing is skipped). */
  private async publish(job: RenderJob, key: string, escrows: EscrowStatus[]): Promise<void> {
    const want = this.settledCondition(key, job);
    const was = job.status?.conditions?.find((c) => c.type === 'Settled');
    const settlement = trimmed(escrows);
    const same = was && was.status === want.status && was.reason === want.reason && was.message === want.message && was.observedGeneration === job.metadata.generation;
    if (same && JSON.stringify(job.status?.settlement ?? { escrows: [] }) === JSON.stringify(settlement)) return;
    await this.persist(job, escrows, want, was);
  }

  private async persist(job: RenderJob, escrows: EscrowStatus[], want?: Condition, was?: Condition): Promise<void> {
    const key = `${job.metadata.namespace}/${job.metadata.name}`;
    const c = want ?? this.settledCondition(key, job);
    const prev = was ?? job.status?.conditions?.find((x) => x.type === 'Settled');
    const settled: Condition = {
      ...c, observedGeneration: job.metadata.generation ?? 0,
      lastTransitionTime: prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : new Date(this.d.clock.now()).toISOString(),
    };
    const body = trimmed(escrows);
    // One write at a time per job: escrows moving in parallel must not land out of order (a recorded
    // transaction hash overwritten by an older copy of the list).
    const prevWrite = this.writes.get(key) ?? Promise.resolve();
    const write = prevWrite.catch(() => undefined).then(() => this.d.writeStatus(job.metadata.namespace!, job.metadata.name!, body, settled));
    this.writes.set(key, write);
    try {
      await write;
    } finally {
      if (this.writes.get(key) === write) this.writes.delete(key);
    }
  }

  /** One step on one escrow: its intent recorded first (a new escrow), sent idempotently, and what the chain then shows recorded. */
  private async execute(client: EscrowClient, job: RenderJob, _key: string, escrows: EscrowStatus[], step: Step, decimals: number, signal?: AbortSignal): Promise<void> {
    const entry = await this.escrowEntry(job, escrows, step);
    const before = unitsOf(entry.funded, decimals);
    const r = await this.send(client, job, escrows, entry, step, decimals, signal);
    this.recordMined(entry, r);
    this.applyChainState(job, entry, step, r, before, decimals);
    await this.persist(job, escrows);
  }

  /** The escrow a step works on; a new one is recorded (Opening, with its deterministic id) before anything is sent. */
  private async escrowEntry(job: RenderJob, escrows: EscrowStatus[], step: Step): Promise<EscrowStatus> {
    let e = escrows.find((x) => x.provider === step.provider);
    if (!e) {
      const payout = this.payoutAddress(step.provider);
      if (!payout) throw new SettlementError('other', `ComputeProvider ${step.provider} has no spec.payoutAddress; its escrow cannot be opened`, { code: 'NO_PAYOUT_ADDRESS' });
      const deadlineMs = (job.spec.deadline ? Date.parse(job.spec.deadline) : Date.parse(String(job.metadata.creationTimestamp)) + 7 * 86_400_000) + this.d.cfg.escrowGraceMs;
      e = { provider: step.provider, escrowId: escrowIdFor(job.metadata.uid!, step.provider), payoutAddress: payout, deadline: new Date(Math.max(deadlineMs, this.d.clock.now() + 3600_000)).toISOString(), transactions: [] };
      escrows.push(e);
      escrows.sort((a, b) => a.provider.localeCompare(b.provider));
      // Intent first: the escrow (its id, Opening) is on the status before anything is sent.
      e.state = 'Opening';
      await this.persist(job, escrows);
    }
    return e;
  }

  /** Sends the step (the client reads the escrow first and reuses recorded pending hashes, so a retry never sends twice). */
  private async send(client: EscrowClient, job: RenderJob, escrows: EscrowStatus[], entry: EscrowStatus, step: Step, decimals: number, signal?: AbortSignal): Promise<StepResult> {
    const m = this.d.metrics ?? nopSettlementMetrics;
    const hooks: SendHooks = {
      ...(signal ? { signal } : {}),
      pendingTx: (entry.transactions ?? []).filter((t) => t.state === 'Pending' && t.hash).map((t) => t.hash!),
      onSent: async (hash, action) => {
        this.d.afterBroadcast?.(action);
        entry.transactions = [...(entry.transactions ?? []), { kind: action, hash, state: 'Pending' }];
        await this.persist(job, escrows);
      },
    };
    try {
      switch (step.kind) {
        case 'open':
          entry.state ??= 'Opening';
          return await client.ensureOpen({ escrowId: entry.escrowId!, token: this.d.cfg.tokenAddress, provider: entry.payoutAddress!, amount: fromUnits(step.fundUnits, decimals), deadline: new Date(entry.deadline!) }, hooks);
          break;
        case 'topUp':
          return await client.ensureFunded(entry.escrowId!, fromUnits(step.fundUnits, decimals), hooks);
          break;
        case 'release':
          entry.state = 'Releasing';
          entry.owed = fromUnits(step.owedUnits, decimals);
          entry.resultDigest = step.resultDigest;
          return await client.ensureReleased({ escrowId: entry.escrowId!, amountToProvider: entry.owed, resultDigest: step.resultDigest }, hooks);
          break;
        case 'refund':
          entry.state = 'Refunding';
          if (step.withheld) entry.owed = '0';
          return await client.ensureRefunded(entry.escrowId!, hooks);
      }
    } catch (err) {
      const se = err instanceof SettlementError ? err : undefined;
      m.transaction(step.kind, se?.kind === 'reverted' ? 'reverted' : 'error');
      entry.message = `${step.kind}: ${(err as Error).message}`.slice(0, 512);
      for (const t of entry.transactions ?? []) if (t.state === 'Pending' && se?.kind === 'reverted' && (err as { txHash?: string }).txHash === t.hash) t.state = 'Failed';
      await this.persist(job, escrows).catch(() => undefined);
      throw err;
    }
  }

  /** The step's transactions as mined: pending ones confirmed, new ones added. */
  private recordMined(entry: EscrowStatus, r: StepResult): void {
    const m = this.d.metrics ?? nopSettlementMetrics;
    const mined = new Map(r.sent.map((t) => [t.hash, t]));
    for (const t of entry.transactions ?? []) {
      if (t.state !== 'Pending') continue;
      const s = mined.get(t.hash!);
      t.state = 'Confirmed';
      if (s) t.block = s.blockNumber;
    }
    for (const t of r.sent) {
      m.transaction(t.action, 'confirmed');
      if (!(entry.transactions ?? []).some((x) => x.hash === t.hash)) entry.transactions = [...(entry.transactions ?? []), { kind: t.action, hash: t.hash, state: 'Confirmed', block: t.blockNumber }];
    }
  }

  /** What the chain shows after the step, on the escrow's status, with the metrics and Events it deserves. */
  private applyChainState(job: RenderJob, entry: EscrowStatus, step: Step, r: StepResult, before: bigint, decimals: number): void {
    const m = this.d.metrics ?? nopSettlementMetrics;
    const ref = { apiVersion: API_VERSION, kind: 'RenderJob', metadata: job.metadata };
    const chain = r.escrow;
    entry.funded = fromUnits(chain.amount, decimals);
    entry.message = undefined;
    const sentHash = r.sent.at(-1)?.hash;
    switch (chain.state) {
      case 'Open':
        entry.state = step.kind === 'refund' || step.kind === 'release' ? entry.state : 'Open';
        if (chain.amount > before) m.amount('escrowed', step.provider, Number(fromUnits(chain.amount - before, decimals)));
        if (step.kind === 'open' && r.sent.length) this.d.recorder.event(ref, 'Normal', 'EscrowOpened', `escrow for ${step.provider} opened with ${entry.funded} (tx ${sentHash})`);
        break;
      case 'Released': {
        const owed = unitsOf(entry.owed, decimals);
        entry.state = 'Released';
        entry.released = entry.owed ?? '0';
        entry.refunded = fromUnits(chain.amount > owed ? chain.amount - owed : 0n, decimals);
        if (chain.amount > before) m.amount('escrowed', step.provider, Number(fromUnits(chain.amount - before, decimals)));
        if (r.sent.some((t) => t.action === 'release')) {
          m.amount('released', step.provider, Number(entry.released));
          m.amount('refunded', step.provider, Number(entry.refunded));
          this.d.recorder.event(ref, 'Normal', 'EscrowReleased', `paid ${entry.released} to ${step.provider} for verified shards, returned ${entry.refunded} (tx ${sentHash})`);
        }
        break;
      }
      case 'Refunded':
        entry.state = step.kind === 'refund' && step.withheld ? 'Withheld' : 'Refunded';
        entry.released = '0';
        entry.refunded = entry.funded;
        if (r.sent.some((t) => t.action === 'refund' || t.action === 'cancel')) {
          m.amount('refunded', step.provider, Number(entry.refunded));
          this.d.recorder.event(ref, step.kind === 'refund' && step.withheld ? 'Warning' : 'Normal', step.kind === 'refund' && step.withheld ? 'EscrowWithheld' : 'EscrowRefunded',
            `returned ${entry.refunded} from the escrow for ${step.provider}${step.kind === 'refund' && step.withheld ? ': a result failed verification, nothing is paid' : ''} (tx ${sentHash})`);
        }
        break;
      case 'None':
        // Never opened (an open that was not sent before a crash): nothing was escrowed.
        if (step.kind === 'refund') {
          entry.state = step.withheld ? 'Withheld' : 'Refunded';
          entry.funded = '0';
          entry.released = '0';
          entry.refunded = '0';
        }
        break;
      default:
        break;
    }
  }
}

function statusText(e: unknown): string {
  const code = (e as { code?: number }).code;
  return code === 404 ? 'not found' : code === 403 ? 'forbidden' : (e as Error).message?.split('\n')[0]?.slice(0, 200) ?? 'error';
}

/** status.settlement as written: each escrow keeps its last 16 transactions. */
function trimmed(escrows: EscrowStatus[]): { escrows: EscrowStatus[] } {
  return { escrows: escrows.map((e) => ({ ...e, transactions: e.transactions?.slice(-16) })) };
}

function unitsOf(amount: string | undefined, decimals: number): bigint {
  if (!amount) return 0n;
  try { return toUnits(amount, decimals); } catch { return 0n; }
}

function meanMs(records: ShardRecord[]): number | undefined {
  let n = 0;
  let sum = 0;
  for (const r of records) {
    const { startTime, completionTime, phase } = r.status;
    if (phase === 'Succeeded' && startTime && completionTime) { sum += Date.parse(completionTime) - Date.parse(startTime); n++; }
  }
  return n ? sum / n : undefined;
}
