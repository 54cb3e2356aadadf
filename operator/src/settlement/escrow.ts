// The operator's client for AtelierEscrow (ethers v6). It owns three things. Ids: escrowIdFor() derives
// the escrow id from the job uid and provider, so that every retry addresses the same escrow. Amounts:
// decimal strings ("12.34") become token units through the token's own decimals with parseUnits, never
// through floats. Idempotent steps: ensureOpen / ensureFunded / ensureReleased / ensureRefunded each
// first wait for any transaction the caller recorded earlier, then read the escrow's state by id, and
// send only if the step is not done yet; a transaction's hash is handed to `onSent` as soon as it is
// broadcast and before its receipt is awaited, so the controller can persist it (RenderJob status)
// and, after a crash, pass it back as `pendingTx` to wait for that transaction instead of sending
// another. The contract itself allows each of open, release and refund once per id, so even a
// transaction whose hash was lost cannot pay twice; a duplicate just reverts and is reported as done.
import { realClock, type Clock } from '../runtime/clock.js';
import {
  AbiCoder,
  Contract,
  ContractFactory,
  Interface,
  JsonRpcProvider,
  MaxUint256,
  Network,
  getAddress,
  isHexString,
  keccak256,
  parseUnits,
  formatUnits,
  type BlockTag,
  type ContractRunner,
  type Provider,
  type Signer,
  type TransactionReceipt,
  type TransactionResponse,
} from 'ethers';
import { loadArtifacts, type SettlementArtifacts } from './compile.js';
import { SettlementError, classifyError, errorInterface } from './errors.js';

export { SettlementError, classifyError } from './errors.js';
export type { SettlementErrorKind } from './errors.js';

/** Domain tag of escrow ids; a new id scheme gets a new tag, never a silent change. */
export const ESCROW_ID_DOMAIN = 'atelier.escrow.v1';

/**
 * The escrow id of (RenderJob uid, provider): keccak256(abi.encode("atelier.escrow.v1", jobUid,
 * provider)). `provider` is the ComputeProvider's name (stable across payout-address changes). ABI
 * encoding length-prefixes both strings, so no two pairs share an encoding.
 */
export function escrowIdFor(jobUid: string, provider: string): string {
  if (!jobUid) throw new SettlementError('other', 'escrowIdFor: jobUid is empty', { code: 'INVALID_ARGUMENT' });
  if (!provider) throw new SettlementError('other', 'escrowIdFor: provider is empty', { code: 'INVALID_ARGUMENT' });
  return keccak256(AbiCoder.defaultAbiCoder().encode(['string', 'string', 'string'], [ESCROW_ID_DOMAIN, jobUid, provider]));
}

const DECIMAL = /^\d+(\.\d+)?$/;

/** "12.34" with 6 decimals -> 12340000n. Rejects signs, exponents, blanks and more digits than decimals. */
export function toUnits(amount: string, decimals: number): bigint {
  if (typeof amount !== 'string' || !DECIMAL.test(amount)) {
    throw new SettlementError('other', `invalid amount ${JSON.stringify(amount)}: want a non-negative decimal string`, { code: 'INVALID_AMOUNT' });
  }
  const fraction = amount.split('.')[1] ?? '';
  if (fraction.length > decimals) {
    throw new SettlementError('other', `amount ${amount} has more than ${decimals} decimals`, { code: 'INVALID_AMOUNT' });
  }
  return parseUnits(amount, decimals);
}

/** 12340000n with 6 decimals -> "12.34" (no trailing zeros; integers without a point). */
export function fromUnits(units: bigint, decimals: number): string {
  const s = formatUnits(units, decimals);
  return s.endsWith('.0') ? s.slice(0, -2) : s;
}

/**
 * A JSON-RPC provider pinned to `chainId`, so a down endpoint fails fast instead of retrying network
 * detection, and without ethers' 250 ms request cache, which would hand two quick sends the same nonce.
 */
export function makeProvider(rpcUrl: string, chainId: number | bigint, pollingIntervalMs = 1000): JsonRpcProvider {
  const provider = new JsonRpcProvider(rpcUrl, Network.from(chainId), { staticNetwork: true, cacheTimeout: -1 });
  provider.pollingInterval = pollingIntervalMs;
  return provider;
}

export const ESCROW_STATES = ['None', 'Open', 'Released', 'Refunded'] as const;
export type EscrowState = (typeof ESCROW_STATES)[number];

export interface EscrowRecord {
  escrowId: string;
  payer: string;
  provider: string;
  token: string;
  /** Funded amount in token units. */
  amount: bigint;
  /** Unix seconds. */
  deadline: bigint;
  state: EscrowState;
  resultDigest: string;
}

export type TxAction = 'approve' | 'open' | 'topUp' | 'release' | 'refund' | 'cancel' | 'deploy' | 'mint';

export interface SendHooks {
  /** Transactions this step sent before (as recorded through onSent) whose outcome is not known. */
  pendingTx?: string | readonly string[];
  /** Called with each hash right after broadcast, before the receipt is awaited; persist it here. */
  onSent?: (hash: string, action: TxAction) => void | Promise<void>;
  /** Stops waiting for receipts (TX_PENDING; the hashes are recorded, so a retry waits for them again). */
  signal?: AbortSignal;
}

export interface TxOutcome {
  action: TxAction;
  hash: string;
  blockNumber: number;
  gasUsed: bigint;
}

export interface StepResult {
  /** The escrow as read after the step. */
  escrow: EscrowRecord;
  /** Transactions this call sent and saw mined (empty when the step was already done). */
  sent: TxOutcome[];
}

export interface OpenRequest {
  escrowId: string;
  token: string;
  /** The provider's payout address. */
  provider: string;
  /** Decimal string in whole tokens, e.g. "120.50". */
  amount: string;
  /** A Date, or unix seconds. */
  deadline: Date | number;
}

export interface ReleaseRequest {
  escrowId: string;
  /** Decimal string in whole tokens; the rest of the funded amount returns to the payer. */
  amountToProvider: string;
  /** bytes32, e.g. results.resultDigest(outputs). */
  resultDigest: string;
}

export interface EscrowClientOptions {
  /** The payer: a Signer connected to a Provider. */
  signer: Signer;
  escrowAddress: string;
  /** Compiled ABIs; loaded (compiled or from cache) by EscrowClient.connect when omitted. */
  artifacts: SettlementArtifacts;
  /** Blocks a receipt must have (1 = mined). Default 1. */
  confirmations?: number;
  /** How often to poll for a receipt. Default 1000 ms. */
  pollIntervalMs?: number;
  /** How long to wait for one transaction before giving up with code TX_PENDING. Default 180 s. */
  waitTimeoutMs?: number;
  /** Approve exactly what a step needs (default), or an unlimited allowance once. */
  allowance?: 'exact' | 'unlimited';
  /** Time for receipt waits (default the real clock). */
  clock?: Pick<Clock, 'now' | 'sleep'>;
}

// The ERC-20 subset the client needs from an arbitrary token: standard signatures, not our contract.
const ERC20_ABI = [
  'function decimals() view returns (uint8)',
  'function balanceOf(address) view returns (uint256)',
  'function allowance(address owner, address spender) view returns (uint256)',
  'function approve(address spender, uint256 amount) returns (bool)',
  // OpenZeppelin 5 errors, so that reverts of common tokens decode by name too.
  'error ERC20InsufficientBalance(address sender, uint256 balance, uint256 needed)',
  'error ERC20InsufficientAllowance(address spender, uint256 allowance, uint256 needed)',
];


function provider(runner: ContractRunner): Provider {
  const p = runner.provider;
  if (!p) throw new SettlementError('other', 'signer is not connected to a provider', { code: 'NO_PROVIDER' });
  return p;
}

function bytes32(value: string, what: string): string {
  if (!isHexString(value, 32)) throw new SettlementError('other', `${what} must be a 0x-prefixed bytes32, got ${value}`, { code: 'INVALID_ARGUMENT' });
  return value.toLowerCase();
}

function unixSeconds(deadline: Date | number): bigint {
  const s = deadline instanceof Date ? Math.floor(deadline.getTime() / 1000) : deadline;
  if (!Number.isSafeInteger(s) || s <= 0) throw new SettlementError('other', `invalid deadline ${String(deadline)}`, { code: 'INVALID_ARGUMENT' });
  return BigInt(s);
}

export interface WaitOptions {
  confirmations?: number;
  pollIntervalMs?: number;
  timeoutMs?: number;
  /** Time and waiting (default the real clock): the client never reads Date.now() or sets timers itself. */
  clock?: Pick<Clock, 'now' | 'sleep'>;
  /** Gives up waiting (the transaction goes on; its hash is recorded) when aborted. */
  signal?: AbortSignal;
}

/**
 * Waits for `hash` to be mined (with `confirmations`). Returns null when the node does not know the
 * transaction at all (never broadcast, or dropped from the mempool), and throws TX_PENDING when it is
 * known but still unmined at the timeout. Polls plainly, so it leaves no subscriptions behind.
 */
export async function waitForReceipt(p: Provider, hash: string, opts: WaitOptions = {}): Promise<TransactionReceipt | null> {
  const confirmations = opts.confirmations ?? 1;
  const poll = opts.pollIntervalMs ?? 1000;
  const clock = opts.clock ?? realClock;
  const deadline = clock.now() + (opts.timeoutMs ?? 180_000);
  for (;;) {
    const receipt = await p.getTransactionReceipt(hash);
    if (receipt) {
      if (confirmations <= 1 || (await p.getBlockNumber()) - receipt.blockNumber + 1 >= confirmations) return receipt;
    } else if (!(await p.getTransaction(hash))) {
      return null;
    }
    if (clock.now() > deadline || opts.signal?.aborted) {
      throw new SettlementError('other', `transaction ${hash} not confirmed in time`, { code: 'TX_PENDING', txHash: hash });
    }
    await clock.sleep(poll, opts.signal).catch(() => undefined);
  }
}

export class EscrowClient {
  readonly escrowAddress: string;
  private readonly signer: Signer;
  private readonly escrow: Contract;
  private readonly errors: Interface;
  private readonly wait: WaitOptions;
  private readonly allowanceMode: 'exact' | 'unlimited';
  private readonly decimalsCache = new Map<string, number>();
  private payer?: string;
  // Broadcasts from one client are serialised so that two steps never pick the same nonce.
  private sendQueue: Promise<unknown> = Promise.resolve();

  constructor(opts: EscrowClientOptions) {
    this.signer = opts.signer;
    this.escrowAddress = getAddress(opts.escrowAddress);
    this.escrow = new Contract(this.escrowAddress, opts.artifacts.escrow.abi, opts.signer);
    this.errors = errorInterface(opts.artifacts.escrow.abi, opts.artifacts.token.abi, ERC20_ABI);
    this.wait = {
      confirmations: opts.confirmations ?? 1,
      pollIntervalMs: opts.pollIntervalMs ?? 1000,
      timeoutMs: opts.waitTimeoutMs ?? 180_000,
      ...(opts.clock ? { clock: opts.clock } : {}),
    };
    this.allowanceMode = opts.allowance ?? 'exact';
  }

  /** A client whose ABIs come from loadArtifacts() (compiled once, then cached). */
  static async connect(opts: Omit<EscrowClientOptions, 'artifacts'> & { artifacts?: SettlementArtifacts }): Promise<EscrowClient> {
    return new EscrowClient({ ...opts, artifacts: opts.artifacts ?? (await loadArtifacts()) });
  }

  /**
   * Checks what configuration alone cannot: the RPC serves chain `chainId`, and a contract is deployed
   * at the escrow and token addresses. Throws a SettlementError (code CHAIN_MISMATCH or NO_CONTRACT)
   * that says which; an unreachable RPC is classified as usual.
   */
  async preflight(token: string, chainId: number): Promise<void> {
    const p = this.signer.provider;
    if (!p) return;
    let served: bigint;
    let codes: string[];
    try {
      served = BigInt(await (p as unknown as { send(m: string, a: unknown[]): Promise<string> }).send('eth_chainId', []));
      codes = await Promise.all([p.getCode(this.escrowAddress), p.getCode(token)]);
    } catch (err) {
      throw classifyError(err, this.errors);
    }
    if (served !== BigInt(chainId)) throw new SettlementError('other', `the settlement RPC serves chain ${served}, but the configured chain id is ${chainId}`, { code: 'CHAIN_MISMATCH' });
    const missing = [['escrow', this.escrowAddress], ['token', token]].filter((_, i) => codes[i] === '0x');
    if (missing.length) throw new SettlementError('other', `no contract on chain ${chainId} at the ${missing.map(([k, a]) => `${k} address ${a}`).join(' and the ')}`, { code: 'NO_CONTRACT' });
  }

  /** The payer's (signer's) address. */
  async payerAddress(): Promise<string> {
    this.payer ??= getAddress(await this.signer.getAddress());
    return this.payer;
  }

  /** The escrow's on-chain record; state None (and zero fields) when it was never opened. */
  read(escrowId: string): Promise<EscrowRecord> {
    return this.guard(() => this.readRaw(escrowId));
  }

  /** The token's decimals, read once per token. */
  decimals(token: string): Promise<number> {
    return this.guard(() => this.decimalsRaw(token));
  }

  /** Converts a decimal string to `token` units with the token's decimals. */
  async toTokenUnits(token: string, amount: string): Promise<bigint> {
    return toUnits(amount, await this.decimals(token));
  }

  /** Makes the escrow's allowance from the payer at least `units`; sends approve only when it is short. */
  ensureAllowance(token: string, units: bigint, hooks: SendHooks = {}): Promise<TxOutcome[]> {
    return this.guard(async () => {
      await this.awaitPending(hooks);
      return this.allowanceRaw(token, units, hooks);
    });
  }

  /**
   * Opens the escrow unless it exists. An existing escrow must belong to this payer, provider and token
   * (else ESCROW_CONFLICT); its amount is not compared (ensureFunded raises it). Approves first if needed.
   */
  ensureOpen(req: OpenRequest, hooks: SendHooks = {}): Promise<StepResult> {
    return this.guard(async () => {
      const id = bytes32(req.escrowId, 'escrowId');
      const token = getAddress(req.token);
      const payee = getAddress(req.provider);
      const deadline = unixSeconds(req.deadline);
      await this.awaitPending(hooks);
      const check = async (e: EscrowRecord) => {
        if (e.state === 'None') return false;
        const me = await this.payerAddress();
        if (e.payer !== me || e.provider !== payee || e.token !== token) {
          throw new SettlementError('other', `escrow ${id} exists with payer ${e.payer}, provider ${e.provider}, token ${e.token}`, { code: 'ESCROW_CONFLICT' });
        }
        return true;
      };
      const existing = await this.readRaw(id);
      if (await check(existing)) return { escrow: existing, sent: [] };

      const units = toUnits(req.amount, await this.decimalsRaw(token));
      const sent = await this.allowanceRaw(token, units, hooks);
      const open = await this.sendUnlessDone(
        'open',
        () => this.escrow.getFunction('open').send(id, token, payee, units, deadline),
        hooks,
        async (tag) => check(await this.readRaw(id, tag)),
      );
      if (open) sent.push(open);
      return { escrow: await this.readRaw(id), sent };
    });
  }

  /** Raises an open escrow's funded amount to `amount` (a total, not an increment) unless it is there already. */
  ensureFunded(escrowId: string, amount: string, hooks: SendHooks = {}): Promise<StepResult> {
    return this.guard(async () => {
      const id = bytes32(escrowId, 'escrowId');
      await this.awaitPending(hooks);
      const e = await this.readRaw(id);
      await this.requireOpenAndMine(e);
      const units = toUnits(amount, await this.decimalsRaw(e.token));
      if (e.amount >= units) return { escrow: e, sent: [] };
      const sent = await this.allowanceRaw(e.token, units - e.amount, hooks);
      const topUp = await this.sendUnlessDone(
        'topUp',
        () => this.escrow.getFunction('topUp').send(id, units),
        hooks,
        async (tag) => (await this.readRaw(id, tag)).amount >= units,
      );
      if (topUp) sent.push(topUp);
      return { escrow: await this.readRaw(id), sent };
    });
  }

  /**
   * Releases `amountToProvider` to the provider and the rest to the payer, unless already released.
   * A released escrow is reported as done whatever digest it carries (compare escrow.resultDigest);
   * a refunded one fails with ESCROW_REFUNDED, a missing one with ESCROW_NOT_OPEN.
   */
  ensureReleased(req: ReleaseRequest, hooks: SendHooks = {}): Promise<StepResult> {
    return this.guard(async () => {
      const id = bytes32(req.escrowId, 'escrowId');
      const digest = bytes32(req.resultDigest, 'resultDigest');
      await this.awaitPending(hooks);
      const e = await this.readRaw(id);
      if (e.state === 'Released') return { escrow: e, sent: [] };
      if (e.state === 'Refunded') throw new SettlementError('other', `escrow ${id} was refunded; nothing to release`, { code: 'ESCROW_REFUNDED' });
      await this.requireOpenAndMine(e);
      const units = toUnits(req.amountToProvider, await this.decimalsRaw(e.token));
      const release = await this.sendUnlessDone(
        'release',
        () => this.escrow.getFunction('release').send(id, units, digest),
        hooks,
        async (tag) => (await this.readRaw(id, tag)).state === 'Released',
      );
      return { escrow: await this.readRaw(id), sent: release ? [release] : [] };
    });
  }

  /**
   * Returns unspent funds to the payer: nothing to do when the escrow was never opened, was released
   * (the rest went back then) or refunded. An open one is refunded after its deadline (refund) or, by
   * the payer, before it (cancel). The deadline is compared with the chain's time, not this host's.
   */
  ensureRefunded(escrowId: string, hooks: SendHooks = {}): Promise<StepResult> {
    return this.guard(async () => {
      const id = bytes32(escrowId, 'escrowId');
      await this.awaitPending(hooks);
      const e = await this.readRaw(id);
      if (e.state !== 'Open') return { escrow: e, sent: [] };
      const latest = await provider(this.signer).getBlock('latest');
      const pastDeadline = latest !== null && BigInt(latest.timestamp) > e.deadline;
      if (!pastDeadline && e.payer !== (await this.payerAddress())) {
        throw new SettlementError('other', `escrow ${id} belongs to payer ${e.payer} and its deadline has not passed`, { code: 'NOT_PAYER' });
      }
      const action = pastDeadline ? 'refund' : 'cancel';
      const tx = await this.sendUnlessDone(
        action,
        () => this.escrow.getFunction(action).send(id),
        hooks,
        async (tag) => (await this.readRaw(id, tag)).state !== 'Open',
      );
      return { escrow: await this.readRaw(id), sent: tx ? [tx] : [] };
    });
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw classifyError(err, this.errors);
    }
  }

  private async readRaw(escrowId: string, blockTag: BlockTag = 'latest'): Promise<EscrowRecord> {
    const r = await this.escrow.getFunction('escrows').staticCall(escrowId, { blockTag });
    const state = ESCROW_STATES[Number(r[5])];
    if (!state) throw new SettlementError('other', `escrow ${escrowId} has unknown state ${String(r[5])}`, { code: 'UNKNOWN_STATE' });
    return {
      escrowId: escrowId.toLowerCase(),
      payer: getAddress(r[0] as string),
      provider: getAddress(r[1] as string),
      token: getAddress(r[2] as string),
      amount: r[3] as bigint,
      deadline: r[4] as bigint,
      state,
      resultDigest: (r[6] as string).toLowerCase(),
    };
  }

  private async decimalsRaw(token: string): Promise<number> {
    const key = getAddress(token);
    let d = this.decimalsCache.get(key);
    if (d === undefined) {
      d = Number(await new Contract(key, ERC20_ABI, this.signer).getFunction('decimals').staticCall());
      this.decimalsCache.set(key, d);
    }
    return d;
  }

  private async requireOpenAndMine(e: EscrowRecord): Promise<void> {
    if (e.state !== 'Open') throw new SettlementError('other', `escrow ${e.escrowId} is ${e.state}, not Open`, { code: 'ESCROW_NOT_OPEN' });
    if (e.payer !== (await this.payerAddress())) {
      throw new SettlementError('other', `escrow ${e.escrowId} belongs to payer ${e.payer}`, { code: 'NOT_PAYER' });
    }
  }

  private async allowanceRaw(token: string, units: bigint, hooks: SendHooks): Promise<TxOutcome[]> {
    const erc20 = new Contract(getAddress(token), ERC20_ABI, this.signer);
    const me = await this.payerAddress();
    const enough = async (blockTag: BlockTag = 'latest') =>
      ((await erc20.getFunction('allowance').staticCall(me, this.escrowAddress, { blockTag })) as bigint) >= units;
    if (await enough()) return [];
    const value = this.allowanceMode === 'unlimited' ? MaxUint256 : units;
    const tx = await this.sendUnlessDone('approve', () => erc20.getFunction('approve').send(this.escrowAddress, value), hooks, enough);
    return tx ? [tx] : [];
  }

  /** Waits for every recorded transaction; their success or failure only matters through the state read next. */
  private async awaitPending(hooks: SendHooks): Promise<void> {
    const hashes = hooks.pendingTx === undefined ? [] : typeof hooks.pendingTx === 'string' ? [hooks.pendingTx] : hooks.pendingTx;
    for (const hash of hashes) {
      await waitForReceipt(provider(this.signer), bytes32(hash, 'pendingTx'), { ...this.wait, ...(hooks.signal ? { signal: hooks.signal } : {}) });
    }
  }

  /**
   * Broadcasts, reports the hash, waits for the receipt. If anything fails (the estimate reverts, the
   * transaction reverts, it is dropped), `isDone` is asked once more: when another transaction of ours
   * (one whose hash was lost in a crash) did the step meanwhile, the step is done and null is returned;
   * when that transaction is still pending (nodes estimate against the pending block, so the duplicate
   * is refused before it is sent), the step fails with TX_PENDING and the caller retries later.
   */
  private async sendUnlessDone(
    action: TxAction,
    broadcast: () => Promise<TransactionResponse>,
    hooks: SendHooks,
    isDone: (blockTag: BlockTag) => Promise<boolean>,
  ): Promise<TxOutcome | null> {
    let hash: string | undefined;
    try {
      const tx = await this.serialised(broadcast);
      hash = tx.hash;
      await hooks.onSent?.(tx.hash, action);
      const receipt = await waitForReceipt(provider(this.signer), tx.hash, { ...this.wait, ...(hooks.signal ? { signal: hooks.signal } : {}) });
      if (!receipt) throw new SettlementError('other', `transaction ${tx.hash} (${action}) was dropped`, { code: 'TX_DROPPED', txHash: tx.hash });
      if (receipt.status !== 1) throw await this.explainRevert(tx, receipt);
      return { action, hash: tx.hash, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed };
    } catch (err) {
      const classified = classifyError(err, this.errors, hash);
      // A callback failure or an unreachable node says nothing about the chain: report it as it is.
      if (classified.kind === 'unreachable' || (hash !== undefined && classified.code === undefined && classified.kind === 'other')) throw classified;
      let done: 'mined' | 'pending' | false = false;
      try {
        done = (await isDone('latest')) ? 'mined' : (await isDone('pending')) ? 'pending' : false;
      } catch (checkErr) {
        // A conflict found while checking is the real news; a failed read is not.
        if (checkErr instanceof SettlementError && checkErr.code === 'ESCROW_CONFLICT') throw checkErr;
        throw classified;
      }
      if (done === 'mined') return null;
      if (done === 'pending') {
        throw new SettlementError('other', `${action}: an earlier transaction doing this step is still pending`, { code: 'TX_PENDING', cause: classified });
      }
      throw classified;
    }
  }

  private serialised<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.sendQueue.then(fn, fn);
    this.sendQueue = run.catch(() => undefined);
    return run;
  }

  // A mined revert carries no reason; replaying the call on the state at that block usually recovers it.
  private async explainRevert(tx: TransactionResponse, receipt: TransactionReceipt): Promise<SettlementError> {
    try {
      await provider(this.signer).call({ to: tx.to, from: tx.from, data: tx.data, value: tx.value, blockTag: receipt.blockNumber });
    } catch (err) {
      const c = classifyError(err, this.errors, tx.hash);
      if (c.kind === 'reverted') return c;
    }
    return new SettlementError('reverted', `transaction ${tx.hash} reverted`, { txHash: tx.hash });
  }
}

export interface DeployedContract {
  address: string;
  txHash: string;
  blockNumber: number;
  gasUsed: bigint;
}

async function deploy(signer: Signer, abi: SettlementArtifacts['escrow'], args: unknown[], onSent?: SendHooks['onSent'], wait: WaitOptions = {}): Promise<DeployedContract> {
  const errors = errorInterface(abi.abi);
  let hash: string | undefined;
  try {
    const contract = await new ContractFactory(abi.abi, abi.bytecode, signer).deploy(...args);
    const tx = contract.deploymentTransaction();
    if (!tx) throw new SettlementError('other', 'deployment transaction missing', { code: 'DEPLOY_FAILED' });
    hash = tx.hash;
    await onSent?.(tx.hash, 'deploy');
    const receipt = await waitForReceipt(provider(signer), tx.hash, wait);
    if (!receipt || receipt.status !== 1 || !receipt.contractAddress) {
      throw new SettlementError(receipt ? 'reverted' : 'other', `deployment ${tx.hash} failed`, { code: 'DEPLOY_FAILED', txHash: tx.hash });
    }
    return { address: getAddress(receipt.contractAddress), txHash: tx.hash, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed };
  } catch (err) {
    throw classifyError(err, errors, hash);
  }
}

/** Deploys AtelierEscrow from the source compiled at run time. */
export async function deployEscrow(
  signer: Signer,
  opts: { artifacts?: SettlementArtifacts; onSent?: SendHooks['onSent']; wait?: WaitOptions } = {},
): Promise<DeployedContract> {
  const artifacts = opts.artifacts ?? (await loadArtifacts());
  return deploy(signer, artifacts.escrow, [], opts.onSent, opts.wait);
}

/** TestToken.sol's decimals (like USDC). */
export const TEST_TOKEN_DECIMALS = 6;

/** Deploys TestToken (6 decimals, mint restricted to the deployer). */
export async function deployTestToken(
  signer: Signer,
  opts: { name?: string; symbol?: string; artifacts?: SettlementArtifacts; onSent?: SendHooks['onSent']; wait?: WaitOptions } = {},
): Promise<DeployedContract> {
  const artifacts = opts.artifacts ?? (await loadArtifacts());
  return deploy(signer, artifacts.token, [opts.name ?? 'Atelier Test Dollar', opts.symbol ?? 'tUSD'], opts.onSent, opts.wait);
}
