// The settlement controller: carries out plan.ts's steps on the chain for jobs with
// spec.settlement.enabled, one at a time (one wallet, one nonce sequence: workers = 1), and keeps
// status.settlement true. It is the only writer of status.settlement (a merge patch of that field
// alone); the RenderJob reconciler writes the rest of the status and reads this controller's view for
// the Settled condition and for deletion.
//
// Every step is idempotent and survives a kill at any moment: EscrowClient reads the escrow by its
// deterministic id before sending, a transaction's hash is written to status.settlement before its
// receipt is awaited, and a restarted operator passes recorded pending hashes back to wait for them
// instead of sending again. The contract itself allows open, release and refund once per escrow, so
// even a hash lost in a crash cannot pay twice. Failures (an unreachable RPC, a revert) show as
// Settled=False with the reason, and the step is tried again with backoff (2 s doubling to 30 s).
import { Wallet } from 'ethers';
import { API_VERSION, gpusPerShard, type EscrowStatus, type RenderJob, type RenderShard, type ComputeProvider, type SettlementStatus } from '../../api/index.js';
import type { SettlementConfig } from '../../config.js';
import { nopSettlementMetrics, type SettlementMetrics } from '../../metrics/metrics.js';
import { EscrowClient, SettlementError, escrowIdFor, fromUnits, makeProvider, toUnits, type SendHooks, type StepResult } from '../../settlement/escrow.js';
import type { ResultDomain } from '../../settlement/results.js';
import { parseMicros } from '../../money.js';
import type { ShardRecord } from '../renderjob/decide.js';
import type { Lister, Log as Logger, Recorder, SecretReader } from '../../runtime/index.js';
import { CLOSED, finished, ledgers, nextSteps, type Step } from './plan.js';

type Condition = { type: string; status: 'True' | 'False' | 'Unknown'; reason: string; message: string };

export interface SettlementDeps {
  cfg: SettlementConfig;
  jobs: Lister<RenderJob>;
  shards: Lister<RenderShard>;
  providers: { get(name: string): ComputeProvider | undefined };
  readSecret: SecretReader;
  /** Merge-patches status.settlement of the job (only that field). */
  writeSettlement(namespace: string, name: string, settlement: SettlementStatus): Promise<void>;
  recorder: Recorder;
  log: Logger;
  metrics?: SettlementMetrics;
  clock: { now(): number };
  /** The job's settlement view changed: its RenderJob should be reconciled (conditions, deletion). */
  onChange(key: string): void;
  /**
   * Fault injection for tests: called right after a transaction is broadcast and before its hash is
   * recorded (the moment a crash is most dangerous). The manager sets it only from
   * ATELIER_TEST_KILL_AFTER_SEND, to SIGKILL the process after the named actions.
   */
  afterBroadcast?: (action: string) => void;
  /** Builds the payer's escrow client (tests may inject one). */
  connect?: (privateKey: string) => Promise<EscrowClient>;
}

/** What the RenderJob reconciler reads. */
export interface SettlementView {
  /** The EIP-712 domain results are signed under, once the chain has been reached (token decimals known). */
  domain(): (ResultDomain & { tokenDecimals: number; escrowAddress: string }) | undefined;
  payoutAddress(provider: string): string | undefined;
  condition(key: string, job: RenderJob): Condition;
  /** True while the job has an escrow that is not closed yet: its finalizer stays. */
  blocksDeletion(key: string, job: RenderJob): boolean;
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

  condition(key: string, job: RenderJob): Condition {
    const err = this.errors.get(key) ?? (this.decimals === undefined ? this.errors.get('') : undefined);
    if (err) return { type: 'Settled', status: 'False', reason: err.reason, message: err.message };
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
      const client = this.d.connect
        ? await this.d.connect(privateKey)
        : await EscrowClient.connect({ signer: new Wallet(privateKey, makeProvider(this.d.cfg.rpcUrl, this.d.cfg.chainId)), escrowAddress: this.d.cfg.escrowAddress, pollIntervalMs: 500 });
      this.decimals = await client.decimals(this.d.cfg.tokenAddress);
      this.client = client;
      this.d.log.info('settlement connected', { payer: await client.payerAddress(), escrow: this.d.cfg.escrowAddress, token: this.d.cfg.tokenAddress, decimals: this.decimals });
      return client;
    })().finally(() => { this.connecting = undefined; });
    return this.connecting;
  }

  async reconcile(key: string): Promise<{ requeueAfterMs?: number }> {
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
      if (this.errors.get('')) { this.errors.delete(''); this.d.onChange(key); }
    } catch (e) {
      return this.failed('', job, e, 'connect');
    }
    const decimals = this.decimals!;
    const escrows = [...this.escrowsOf(key, job).map((e) => ({ ...e, transactions: [...(e.transactions ?? [])] }))];
    this.state.set(key, escrows);
    const records: ShardRecord[] = this.d.shards.byIndex('job', key).map((r) => ({ name: r.metadata.name!, index: r.spec.index, status: r.status ?? {} }));
    const expectedMs = meanMs(records) ?? DEFAULT_SHARD_MS;
    const gpus = gpusPerShard(job.spec);
    const estimateMicros = (provider: string) => {
      const offers = this.d.providers.get(provider)?.status?.offers ?? [];
      const price = offers.reduce((m, o) => { const p = toMicrosSafe(o.pricePerGpuHour); return p > m ? p : m; }, 0n);
      return (price * BigInt(gpus) * BigInt(Math.round(expectedMs))) / 3_600_000n;
    };
    this.busy.add(key);
    try {
      for (let round = 0; round < 8; round++) {
        const led = ledgers({ records, tokenDecimals: decimals, estimateMicros });
        const byProvider = new Map(escrows.map((e) => [e.provider, e]));
        const steps = nextSteps({ job, ledgers: led, escrows: byProvider, tokenDecimals: decimals, fundedUnits: (p) => unitsOf(byProvider.get(p)?.funded, decimals) });
        if (steps.length === 0) break;
        for (const step of steps) await this.execute(client, job, key, escrows, step, decimals);
      }
    } catch (e) {
      return this.failed(key, job, e, 'step');
    } finally {
      this.busy.delete(key);
    }
    const hadError = this.errors.delete(key);
    if (!this.caughtUp.has(key)) { this.caughtUp.add(key); this.d.onChange(key); } else if (hadError) this.d.onChange(key);
    const open = escrows.some((e) => !e.state || !CLOSED.has(e.state));
    // Shard and job events bring the job back; the requeue is a safety net while escrows are open.
    return open ? { requeueAfterMs: 60_000 } : {};
  }

  private failed(key: string, job: RenderJob, e: unknown, what: string): { requeueAfterMs: number } {
    const err = e instanceof SettlementError ? e : undefined;
    const reason = err?.kind === 'unreachable' ? 'RpcUnavailable' : err?.kind === 'reverted' ? 'TransactionReverted' : err?.code === 'WALLET_SECRET' ? 'WalletUnavailable' : 'SettlementError';
    const message = (e as Error).message.slice(0, 512);
    const prev = this.errors.get(key);
    const failures = (prev?.failures ?? 0) + 1;
    this.errors.set(key, { reason, message, failures });
    if (!prev || prev.reason !== reason) {
      this.d.log.warn('settlement step failed, will retry', { job: `${job.metadata.namespace}/${job.metadata.name}`, what, reason, error: message });
      this.d.recorder.event({ apiVersion: API_VERSION, kind: 'RenderJob', metadata: job.metadata }, 'Warning', reason, `settlement: ${message}`);
    }
    this.d.onChange(`${job.metadata.namespace}/${job.metadata.name}`);
    return { requeueAfterMs: Math.min(30_000, 2000 * 2 ** Math.min(failures - 1, 4)) };
  }

  private async persist(job: RenderJob, escrows: EscrowStatus[]): Promise<void> {
    await this.d.writeSettlement(job.metadata.namespace!, job.metadata.name!, { escrows: escrows.map((e) => ({ ...e, transactions: e.transactions?.slice(-16) })) });
  }

  private async execute(client: EscrowClient, job: RenderJob, key: string, escrows: EscrowStatus[], step: Step, decimals: number): Promise<void> {
    const m = this.d.metrics ?? nopSettlementMetrics;
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
    const entry = e;
    const hooks: SendHooks = {
      pendingTx: (entry.transactions ?? []).filter((t) => t.state === 'Pending' && t.hash).map((t) => t.hash!),
      onSent: async (hash, action) => {
        this.d.afterBroadcast?.(action);
        entry.transactions = [...(entry.transactions ?? []), { kind: action, hash, state: 'Pending' }];
        await this.persist(job, escrows);
      },
    };
    const before = unitsOf(entry.funded, decimals);
    let r: StepResult;
    const ref = { apiVersion: API_VERSION, kind: 'RenderJob', metadata: job.metadata };
    try {
      switch (step.kind) {
        case 'open':
          entry.state ??= 'Opening';
          r = await client.ensureOpen({ escrowId: entry.escrowId!, token: this.d.cfg.tokenAddress, provider: entry.payoutAddress!, amount: fromUnits(step.fundUnits, decimals), deadline: new Date(entry.deadline!) }, hooks);
          break;
        case 'topUp':
          r = await client.ensureFunded(entry.escrowId!, fromUnits(step.fundUnits, decimals), hooks);
          break;
        case 'release':
          entry.state = 'Releasing';
          entry.owed = fromUnits(step.owedUnits, decimals);
          entry.resultDigest = step.resultDigest;
          r = await client.ensureReleased({ escrowId: entry.escrowId!, amountToProvider: entry.owed, resultDigest: step.resultDigest }, hooks);
          break;
        case 'refund':
          entry.state = 'Refunding';
          if (step.withheld) entry.owed = '0';
          r = await client.ensureRefunded(entry.escrowId!, hooks);
          break;
      }
    } catch (err) {
      const se = err instanceof SettlementError ? err : undefined;
      m.transaction(step.kind, se?.kind === 'reverted' ? 'reverted' : 'error');
      entry.message = `${step.kind}: ${(err as Error).message}`.slice(0, 512);
      for (const t of entry.transactions ?? []) if (t.state === 'Pending' && se?.kind === 'reverted' && (err as { txHash?: string }).txHash === t.hash) t.state = 'Failed';
      await this.persist(job, escrows).catch(() => undefined);
      throw err;
    }
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
    await this.persist(job, escrows);
    this.d.onChange(key);
  }
}

function statusText(e: unknown): string {
  const code = (e as { code?: number }).code;
  return code === 404 ? 'not found' : code === 403 ? 'forbidden' : (e as Error).message?.split('\n')[0]?.slice(0, 200) ?? 'error';
}

function unitsOf(amount: string | undefined, decimals: number): bigint {
  if (!amount) return 0n;
  try { return toUnits(amount, decimals); } catch { return 0n; }
}

function toMicrosSafe(v: string | undefined): bigint {
  if (!v) return 0n;
  try { return parseMicros(v); } catch { return 0n; }
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
