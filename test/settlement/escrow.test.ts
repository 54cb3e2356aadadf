// Contract and client tests for settlement against a real anvil chain started for this suite: every
// path and every revert of AtelierEscrow (including tokens that return nothing, return false, charge
// a fee or try to re-enter), the idempotent EscrowClient steps (a repeated step sends nothing; a crash
// after broadcast pays exactly once, with or without the recorded hash), error classification, the
// deploy helper and an EIP-712 result checked against the deployed escrow. Gas used by the contract
// steps is collected and printed as a table at the end, for the issue note.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Contract, ContractFactory, HDNodeWallet, ZeroAddress, ZeroHash, id as hashText, type InterfaceAbi, type JsonRpcProvider, type TransactionResponse } from 'ethers';
import { startChain, stopChain } from '../support/testbed.js';
import { compileSources, loadArtifacts, type SettlementArtifacts } from '../../operator/src/settlement/compile.js';
import { classifyError, errorInterface, SettlementError } from '../../operator/src/settlement/errors.js';
import {
  EscrowClient,
  deployEscrow,
  deployTestToken,
  escrowIdFor,
  makeProvider,
  toUnits,
  type TxAction,
} from '../../operator/src/settlement/escrow.js';
import { deploySettlement } from '../../operator/src/settlement/deploy.js';
import { resultDigest, signResult, verifyResult } from '../../operator/src/settlement/results.js';
import { QUIRKY_TOKEN_SOURCE } from './quirky-token.js';

// Per process, so that two runs on one machine never share (or stop) each other's chain.
const CHAIN = `settlement-${process.pid}`;
const MNEMONIC = 'test test test test test test test test test test test junk';
const STATE = { None: 0n, Open: 1n, Released: 2n, Refunded: 3n };

let rpcUrl: string;
let provider: JsonRpcProvider;
let artifacts: SettlementArtifacts;
let payer: HDNodeWallet;
let payee: HDNodeWallet; // the compute provider's payout account
let stranger: HDNodeWallet;
let escrowAddr: string;
let tokenAddr: string;
let escrow: Contract; // connected as payer
let token: Contract; // connected as payer (the deployer, so it may mint)
const gas = new Map<string, bigint[]>();
let seq = 0;

const units = (s: string) => toUnits(s, 6);
const wallet = (i: number) => HDNodeWallet.fromPhrase(MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`).connect(provider);
const freshId = (label = 'job') => escrowIdFor(`uid-${label}-${++seq}-${Date.now()}`, 'studio-b');
const balance = async (who: string, t: Contract = token) => (await t.getFunction('balanceOf').staticCall(who)) as bigint;
const chainNow = async () => BigInt((await provider.getBlock('latest'))!.timestamp);
const nonce = (w: HDNodeWallet) => provider.getTransactionCount(w.address, 'latest');

async function mined(action: string, p: Promise<TransactionResponse>) {
  const tx = await p;
  const receipt = (await tx.wait())!;
  expect(receipt.status).toBe(1);
  const list = gas.get(action) ?? [];
  list.push(receipt.gasUsed);
  gas.set(action, list);
  return receipt;
}

// Asserts that `p` reverts with the custom error `name`, and returns the decoded arguments.
async function reverts(p: Promise<unknown>, name: string): Promise<readonly unknown[]> {
  const errors = errorInterface(artifacts.escrow.abi, artifacts.token.abi);
  try {
    await p;
  } catch (err) {
    const c = classifyError(err, errors);
    expect({ kind: c.kind, reason: c.reason }).toEqual({ kind: 'reverted', reason: name });
    return c.args ?? [];
  }
  throw new Error(`expected a revert with ${name}, but the call succeeded`);
}

async function increaseTime(seconds: number) {
  await provider.send('evm_increaseTime', [seconds]);
  await provider.send('evm_mine', []);
}

// Opens an escrow through the raw contract (approve + open) as `from`, returning its id.
async function openRaw(amount: string, deadlineIn = 3600, from: HDNodeWallet = payer, t: Contract = token) {
  const escrowId = freshId();
  const tAs = t.connect(from) as Contract;
  const eAs = escrow.connect(from) as Contract;
  await mined('approve', tAs.getFunction('approve').send(escrowAddr, units(amount)));
  const deadline = (await chainNow()) + BigInt(deadlineIn);
  const receipt = await mined('open', eAs.getFunction('open').send(escrowId, await t.getAddress(), payee.address, units(amount), deadline));
  return { escrowId, deadline, receipt };
}

beforeAll(async () => {
  rpcUrl = await startChain(CHAIN);
  provider = makeProvider(rpcUrl, 31337, 50);
  artifacts = await loadArtifacts();
  [payer, payee, stranger] = [wallet(0), wallet(1), wallet(2)];
  escrowAddr = (await deployEscrow(payer, { artifacts })).address;
  tokenAddr = (await deployTestToken(payer, { artifacts })).address;
  escrow = new Contract(escrowAddr, artifacts.escrow.abi, payer);
  token = new Contract(tokenAddr, artifacts.token.abi, payer);
  await mined('mint', token.getFunction('mint').send(payer.address, units('1000000')));
  await mined('mint', token.getFunction('mint').send(stranger.address, units('1000')));
}, 120_000);

afterAll(async () => {
  provider?.destroy();
  await stopChain(CHAIN);
  const rows = ['approve', 'open', 'topUp', 'release', 'refund', 'cancel'].filter((a) => gas.has(a)).map((a) => {
    const v = gas.get(a)!.map(Number);
    return { step: a, samples: v.length, min: Math.min(...v), max: Math.max(...v) };
  });
  console.log(`AtelierEscrow gas used (anvil, solc 0.8.37, optimizer 1000 runs, TestToken)\n${
    ['step     samples   min gas   max gas', ...rows.map((r) => `${r.step.padEnd(8)} ${String(r.samples).padStart(7)} ${String(r.min).padStart(9)} ${String(r.max).padStart(9)}`)].join('\n')
  }`);
});

describe('AtelierEscrow contract', () => {
  it('open pulls the amount from the payer and records the escrow', async () => {
    const before = await balance(payer.address);
    const { escrowId, deadline, receipt } = await openRaw('120.50');
    expect(await balance(payer.address)).toBe(before - units('120.50'));
    expect(await balance(escrowAddr)).toBeGreaterThanOrEqual(units('120.50'));
    const r = await escrow.getFunction('escrows').staticCall(escrowId);
    expect([...r]).toEqual([payer.address, payee.address, tokenAddr, units('120.50'), deadline, STATE.Open, ZeroHash]);
    const ev = receipt.logs.map((l) => escrow.interface.parseLog(l)).find((l) => l?.name === 'EscrowOpened')!;
    expect([...ev.args]).toEqual([escrowId, payer.address, payee.address, tokenAddr, units('120.50'), deadline]);
  });

  it('reports an unknown id as state None', async () => {
    const r = await escrow.getFunction('escrows').staticCall(freshId());
    expect(r[5]).toBe(STATE.None);
    expect(r[0]).toBe(ZeroAddress);
  });

  it('refuses to open an existing id, even for another payer', async () => {
    const { escrowId } = await openRaw('1');
    const deadline = (await chainNow()) + 3600n;
    await token.getFunction('approve').send(escrowAddr, units('1'));
    await reverts(escrow.getFunction('open').send(escrowId, tokenAddr, payee.address, units('1'), deadline), 'EscrowExists');
    await (token.connect(stranger) as Contract).getFunction('approve').send(escrowAddr, units('1'));
    const args = await reverts((escrow.connect(stranger) as Contract).getFunction('open').send(escrowId, tokenAddr, stranger.address, units('1'), deadline), 'EscrowExists');
    expect(args).toEqual([escrowId]);
  });

  it('validates open arguments by name', async () => {
    const deadline = (await chainNow()) + 3600n;
    const open = (t: string, p: string, amount: bigint, d: bigint) => escrow.getFunction('open').send(freshId(), t, p, amount, d);
    await reverts(open(tokenAddr, payee.address, 0n, deadline), 'ZeroAmount');
    await reverts(open(ZeroAddress, payee.address, 1n, deadline), 'ZeroAddress');
    await reverts(open(tokenAddr, ZeroAddress, 1n, deadline), 'ZeroAddress');
    await reverts(open(tokenAddr, payee.address, 1n, (await chainNow()) - 1n), 'DeadlineInPast');
    await reverts(open(stranger.address, payee.address, 1n, deadline), 'TokenNotContract');
    await token.getFunction('approve').send(escrowAddr, 0n);
    // The token's own error passes through the escrow, so the cause is visible by name.
    await reverts(open(tokenAddr, payee.address, units('5'), deadline), 'InsufficientAllowance');
  });

  it('release pays the provider exactly the amount and refunds the rest to the payer', async () => {
    const { escrowId } = await openRaw('100');
    const [p0, q0, e0] = [await balance(payer.address), await balance(payee.address), await balance(escrowAddr)];
    const digest = hashText('outputs-1');
    const receipt = await mined('release', escrow.getFunction('release').send(escrowId, units('63.25'), digest));
    expect(await balance(payee.address)).toBe(q0 + units('63.25'));
    expect(await balance(payer.address)).toBe(p0 + units('36.75'));
    expect(await balance(escrowAddr)).toBe(e0 - units('100'));
    const r = await escrow.getFunction('escrows').staticCall(escrowId);
    expect([r[3], r[5], r[6]]).toEqual([units('100'), STATE.Released, digest]);
    const ev = receipt.logs.map((l) => escrow.interface.parseLog(l)).find((l) => l?.name === 'EscrowReleased')!;
    expect([...ev.args]).toEqual([escrowId, payee.address, units('63.25'), units('36.75'), digest]);
  });

  it('release of everything, or of nothing, skips the empty transfer', async () => {
    const all = await openRaw('10');
    const q0 = await balance(payee.address);
    await mined('release', escrow.getFunction('release').send(all.escrowId, units('10'), hashText('all')));
    expect(await balance(payee.address)).toBe(q0 + units('10'));
    const none = await openRaw('10');
    const p0 = await balance(payer.address);
    await mined('release', escrow.getFunction('release').send(none.escrowId, 0n, ZeroHash));
    expect(await balance(payer.address)).toBe(p0 + units('10'));
    expect(await balance(payee.address)).toBe(q0 + units('10'));
  });

  it('release twice reverts and pays nothing more', async () => {
    const { escrowId } = await openRaw('10');
    await mined('release', escrow.getFunction('release').send(escrowId, units('4'), hashText('x')));
    const q0 = await balance(payee.address);
    const args = await reverts(escrow.getFunction('release').send(escrowId, units('4'), hashText('x')), 'EscrowNotOpen');
    expect(args).toEqual([escrowId, STATE.Released]);
    expect(await balance(payee.address)).toBe(q0);
  });

  it('release by anyone but the payer reverts (the provider included)', async () => {
    const { escrowId } = await openRaw('10');
    await reverts((escrow.connect(stranger) as Contract).getFunction('release').send(escrowId, units('1'), ZeroHash), 'NotPayer');
    const args = await reverts((escrow.connect(payee) as Contract).getFunction('release').send(escrowId, units('10'), ZeroHash), 'NotPayer');
    expect(args).toEqual([escrowId, payee.address]);
  });

  it('release of more than funded reverts', async () => {
    const { escrowId } = await openRaw('10');
    const args = await reverts(escrow.getFunction('release').send(escrowId, units('10.000001'), ZeroHash), 'AmountExceedsFunded');
    expect(args).toEqual([escrowId, units('10.000001'), units('10')]);
  });

  it('release or refund of an id never opened reverts', async () => {
    const escrowId = freshId();
    expect(await reverts(escrow.getFunction('release').send(escrowId, 0n, ZeroHash), 'EscrowNotOpen')).toEqual([escrowId, STATE.None]);
    await reverts(escrow.getFunction('refund').send(escrowId), 'EscrowNotOpen');
    await reverts(escrow.getFunction('cancel').send(escrowId), 'EscrowNotOpen');
  });

  it('refund before the deadline reverts', async () => {
    const { escrowId, deadline } = await openRaw('10', 600);
    const args = await reverts(escrow.getFunction('refund').send(escrowId), 'DeadlineNotReached');
    expect(args.slice(0, 2)).toEqual([escrowId, deadline]);
  });

  it('refund after the deadline returns everything to the payer, whoever triggers it', async () => {
    const { escrowId } = await openRaw('25', 60);
    await increaseTime(61);
    const p0 = await balance(payer.address);
    const receipt = await mined('refund', (escrow.connect(stranger) as Contract).getFunction('refund').send(escrowId));
    expect(await balance(payer.address)).toBe(p0 + units('25'));
    const r = await escrow.getFunction('escrows').staticCall(escrowId);
    expect(r[5]).toBe(STATE.Refunded);
    const ev = receipt.logs.map((l) => escrow.interface.parseLog(l)).find((l) => l?.name === 'EscrowRefunded')!;
    expect([...ev.args]).toEqual([escrowId, payer.address, units('25')]);
    // Refunded is final: no second refund, no release.
    await reverts(escrow.getFunction('refund').send(escrowId), 'EscrowNotOpen');
    await reverts(escrow.getFunction('release').send(escrowId, 0n, ZeroHash), 'EscrowNotOpen');
  });

  it('refund after release reverts, even past the deadline', async () => {
    const { escrowId } = await openRaw('10', 60);
    await mined('release', escrow.getFunction('release').send(escrowId, units('10'), hashText('done')));
    await increaseTime(61);
    expect(await reverts(escrow.getFunction('refund').send(escrowId), 'EscrowNotOpen')).toEqual([escrowId, STATE.Released]);
  });

  it('cancel returns everything before the deadline, by the payer only', async () => {
    const { escrowId } = await openRaw('7', 3600);
    await reverts((escrow.connect(stranger) as Contract).getFunction('cancel').send(escrowId), 'NotPayer');
    const p0 = await balance(payer.address);
    await mined('cancel', escrow.getFunction('cancel').send(escrowId));
    expect(await balance(payer.address)).toBe(p0 + units('7'));
    await reverts(escrow.getFunction('cancel').send(escrowId), 'EscrowNotOpen');
  });

  it('topUp raises the funded amount to a total, and a replay reverts', async () => {
    const { escrowId } = await openRaw('10');
    await token.getFunction('approve').send(escrowAddr, units('5'));
    const p0 = await balance(payer.address);
    await mined('topUp', escrow.getFunction('topUp').send(escrowId, units('15')));
    expect(await balance(payer.address)).toBe(p0 - units('5'));
    expect((await escrow.getFunction('escrows').staticCall(escrowId))[3]).toBe(units('15'));
    await reverts(escrow.getFunction('topUp').send(escrowId, units('15')), 'AmountNotIncreased');
    await reverts((escrow.connect(stranger) as Contract).getFunction('topUp').send(escrowId, units('20')), 'NotPayer');
    await mined('release', escrow.getFunction('release').send(escrowId, units('15'), ZeroHash));
    await reverts(escrow.getFunction('topUp').send(escrowId, units('20')), 'EscrowNotOpen');
  });

  describe('with misbehaving tokens', () => {
    let quirky: Contract;
    beforeAll(async () => {
      const { QuirkyToken } = await compileSources({ 'QuirkyToken.sol': QUIRKY_TOKEN_SOURCE });
      const d = await deployTestTokenLike(QuirkyToken!);
      quirky = new Contract(d, QuirkyToken!.abi, payer);
      await quirky.getFunction('mint').send(payer.address, units('1000'));
    });

    async function deployTestTokenLike(a: { abi: InterfaceAbi; bytecode: string }): Promise<string> {
      const c = await new ContractFactory(a.abi, a.bytecode, payer).deploy();
      await c.waitForDeployment();
      return c.getAddress();
    }

    it('works with a token whose transfers return nothing (USDT style)', async () => {
      await quirky.getFunction('setMode').send(1);
      const { escrowId } = await openRaw('10', 3600, payer, quirky);
      const q0 = await balance(payee.address, quirky);
      await escrow.getFunction('release').send(escrowId, units('3'), ZeroHash);
      expect(await balance(payee.address, quirky)).toBe(q0 + units('3'));
      expect(await balance(escrowAddr, quirky)).toBe(0n);
    });

    it('refuses a token that returns false', async () => {
      await quirky.getFunction('setMode').send(2);
      await quirky.getFunction('approve').send(escrowAddr, units('10'));
      const deadline = (await chainNow()) + 3600n;
      await reverts(escrow.getFunction('open').send(freshId(), await quirky.getAddress(), payee.address, units('10'), deadline), 'SafeERC20FailedOperation');
    });

    it('refuses a token that delivers less than asked (fee on transfer)', async () => {
      await quirky.getFunction('setMode').send(3);
      await quirky.getFunction('approve').send(escrowAddr, units('10'));
      const deadline = (await chainNow()) + 3600n;
      const args = await reverts(escrow.getFunction('open').send(freshId(), await quirky.getAddress(), payee.address, units('10'), deadline), 'TransferAmountMismatch');
      expect(args.slice(1)).toEqual([units('10'), units('9.9')]);
    });

    it('blocks reentrancy from inside a token transfer', async () => {
      await quirky.getFunction('setMode').send(0);
      const { escrowId } = await openRaw('10', 3600, payer, quirky);
      // The token, when paying out, tries to release the same escrow again.
      const call = escrow.interface.encodeFunctionData('release', [escrowId, units('10'), ZeroHash]);
      await quirky.getFunction('setReentry').send(escrowAddr, call);
      await quirky.getFunction('setMode').send(4);
      const q0 = await balance(payee.address, quirky);
      await escrow.getFunction('release').send(escrowId, units('4'), ZeroHash);
      expect(await quirky.getFunction('reenterSucceeded').staticCall()).toBe(false);
      const data = (await quirky.getFunction('reenterRevertData').staticCall()) as string;
      expect(escrow.interface.parseError(data)?.name).toBe('ReentrancyGuardReentrantCall');
      expect(await balance(payee.address, quirky)).toBe(q0 + units('4'));
    });
  });
});

describe('EscrowClient', () => {
  let client: EscrowClient;
  const sentLog: Array<[string, TxAction]> = [];
  const hooks = { onSent: (hash: string, action: TxAction) => void sentLog.push([hash, action]) };
  const newClient = () => new EscrowClient({ signer: payer, escrowAddress: escrowAddr, artifacts, pollIntervalMs: 50, waitTimeoutMs: 30_000 });
  const deadlineIn = async (s: number) => Number((await chainNow()) + BigInt(s));

  beforeAll(() => {
    client = newClient();
  });

  it('ensureOpen twice sends approve and open once', async () => {
    const escrowId = freshId();
    const n0 = await nonce(payer);
    const req = { escrowId, token: tokenAddr, provider: payee.address, amount: '42.42', deadline: await deadlineIn(3600) };
    const first = await client.ensureOpen(req, hooks);
    expect(first.sent.map((t) => t.action)).toEqual(['approve', 'open']);
    expect(sentLog.slice(-2).map(([h]) => h)).toEqual(first.sent.map((t) => t.hash));
    expect(first.escrow).toMatchObject({ state: 'Open', amount: units('42.42'), payer: payer.address, provider: payee.address, token: tokenAddr });
    const second = await client.ensureOpen(req, hooks);
    expect(second.sent).toEqual([]);
    expect(await nonce(payer)).toBe(n0 + 2);
  });

  it('ensureOpen refuses an id opened for someone else', async () => {
    const escrowId = freshId();
    const deadline = await deadlineIn(3600);
    await client.ensureOpen({ escrowId, token: tokenAddr, provider: payee.address, amount: '1', deadline });
    await expect(client.ensureOpen({ escrowId, token: tokenAddr, provider: stranger.address, amount: '1', deadline })).rejects.toMatchObject({
      kind: 'other', code: 'ESCROW_CONFLICT',
    });
  });

  it('ensureFunded raises to a total once', async () => {
    const escrowId = freshId();
    await client.ensureOpen({ escrowId, token: tokenAddr, provider: payee.address, amount: '10', deadline: await deadlineIn(3600) });
    const a = await client.ensureFunded(escrowId, '12.5');
    expect(a.sent.map((t) => t.action)).toEqual(['approve', 'topUp']);
    expect(a.escrow.amount).toBe(units('12.5'));
    expect((await client.ensureFunded(escrowId, '12.5')).sent).toEqual([]);
    expect((await client.ensureFunded(escrowId, '11')).sent).toEqual([]);
  });

  it('ensureReleased twice pays once', async () => {
    const escrowId = freshId();
    await client.ensureOpen({ escrowId, token: tokenAddr, provider: payee.address, amount: '50', deadline: await deadlineIn(3600) });
    const [p0, q0, n0] = [await balance(payer.address), await balance(payee.address), await nonce(payer)];
    const req = { escrowId, amountToProvider: '30.5', resultDigest: hashText('r') };
    const first = await client.ensureReleased(req, hooks);
    expect(first.sent.map((t) => t.action)).toEqual(['release']);
    const second = await client.ensureReleased(req, hooks);
    expect(second.sent).toEqual([]);
    expect(second.escrow).toMatchObject({ state: 'Released', resultDigest: hashText('r') });
    expect(await balance(payee.address)).toBe(q0 + units('30.5'));
    expect(await balance(payer.address)).toBe(p0 + units('19.5'));
    expect(await nonce(payer)).toBe(n0 + 1);
  });

  it('ensureReleased classifies a refused release as reverted with its error name', async () => {
    const escrowId = freshId();
    await client.ensureOpen({ escrowId, token: tokenAddr, provider: payee.address, amount: '5', deadline: await deadlineIn(3600) });
    const err = await client.ensureReleased({ escrowId, amountToProvider: '6', resultDigest: ZeroHash }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SettlementError);
    expect(err).toMatchObject({ kind: 'reverted', reason: 'AmountExceedsFunded' });
    await expect(client.ensureReleased({ escrowId: freshId(), amountToProvider: '1', resultDigest: ZeroHash })).rejects.toMatchObject({ code: 'ESCROW_NOT_OPEN' });
    await expect(client.ensureReleased({ escrowId, amountToProvider: '1.0000001', resultDigest: ZeroHash })).rejects.toMatchObject({ code: 'INVALID_AMOUNT' });
  });

  it('ensureRefunded cancels before the deadline, refunds after it, and is a no-op when settled', async () => {
    const early = freshId();
    await client.ensureOpen({ escrowId: early, token: tokenAddr, provider: payee.address, amount: '9', deadline: await deadlineIn(3600) });
    const p0 = await balance(payer.address);
    const a = await client.ensureRefunded(early, hooks);
    expect(a.sent.map((t) => t.action)).toEqual(['cancel']);
    expect(a.escrow.state).toBe('Refunded');
    expect(await balance(payer.address)).toBe(p0 + units('9'));
    expect((await client.ensureRefunded(early)).sent).toEqual([]);

    const late = freshId();
    await client.ensureOpen({ escrowId: late, token: tokenAddr, provider: payee.address, amount: '9', deadline: await deadlineIn(30) });
    await increaseTime(31);
    const b = await client.ensureRefunded(late, hooks);
    expect(b.sent.map((t) => t.action)).toEqual(['refund']);
    expect((await client.ensureRefunded(late)).sent).toEqual([]);

    expect((await client.ensureRefunded(freshId())).sent).toEqual([]); // never opened
    const released = freshId();
    await client.ensureOpen({ escrowId: released, token: tokenAddr, provider: payee.address, amount: '1', deadline: await deadlineIn(3600) });
    await client.ensureReleased({ escrowId: released, amountToProvider: '1', resultDigest: ZeroHash });
    expect((await client.ensureRefunded(released)).sent).toEqual([]);
    await expect(client.ensureReleased({ escrowId: early, amountToProvider: '1', resultDigest: ZeroHash })).rejects.toMatchObject({ code: 'ESCROW_REFUNDED' });
  });

  describe('crash after broadcast (automine off, so the transaction is still pending at the crash)', () => {
    async function setup(amount: string) {
      const escrowId = freshId('crash');
      await client.ensureOpen({ escrowId, token: tokenAddr, provider: payee.address, amount, deadline: await deadlineIn(3600) });
      return escrowId;
    }
    async function withManualMining<T>(fn: (mine: () => Promise<void>) => Promise<T>): Promise<T> {
      await provider.send('evm_setAutomine', [false]);
      try {
        return await fn(async () => void (await provider.send('evm_mine', [])));
      } finally {
        await provider.send('evm_setAutomine', [true]);
      }
    }

    it('a new client with the recorded hash waits for it and pays exactly once', async () => {
      const escrowId = await setup('20');
      const req = { escrowId, amountToProvider: '12', resultDigest: hashText('crash-1') };
      const [p0, q0, n0] = [await balance(payer.address), await balance(payee.address), await nonce(payer)];
      const recorded: string[] = [];
      await withManualMining(async (mine) => {
        // The first incarnation persists the hash, then dies before the receipt.
        await expect(
          newClient().ensureReleased(req, { onSent: (h) => { recorded.push(h); throw new Error('operator killed'); } }),
        ).rejects.toThrow('operator killed');
        expect(recorded).toHaveLength(1);
        expect((await client.read(escrowId)).state).toBe('Open'); // still pending
        // The restarted operator retries with the recorded hash; the block comes while it waits.
        const retried = newClient().ensureReleased(req, { pendingTx: recorded, onSent: () => { throw new Error('must not send'); } });
        setTimeout(() => void mine(), 300);
        const r = await retried;
        expect(r.sent).toEqual([]);
        expect(r.escrow.state).toBe('Released');
      });
      expect(await balance(payee.address)).toBe(q0 + units('12'));
      expect(await balance(payer.address)).toBe(p0 + units('8'));
      expect(await nonce(payer)).toBe(n0 + 1);
    });

    it('even with the hash lost, the retry never pays twice and reports done once mined', async () => {
      const escrowId = await setup('20');
      const req = { escrowId, amountToProvider: '5', resultDigest: hashText('crash-2') };
      const [p0, q0] = [await balance(payer.address), await balance(payee.address)];
      await withManualMining(async (mine) => {
        await expect(newClient().ensureReleased(req, { onSent: () => { throw new Error('killed before persisting'); } })).rejects.toThrow();
        // The restarted operator has no hash. Until the block comes it may only be told "pending"
        // (anvil estimates against the pending block, so the duplicate is refused before sending);
        // a node that estimated against the latest block would let the duplicate out, to revert.
        const retrier = newClient();
        const first = await retrier.ensureReleased(req).catch((e: unknown) => e);
        expect(first).toMatchObject({ kind: 'other', code: 'TX_PENDING' });
        await mine();
        const second = await retrier.ensureReleased(req);
        expect(second.sent).toEqual([]);
        expect(second.escrow.state).toBe('Released');
      });
      expect(await balance(payee.address)).toBe(q0 + units('5'));
      expect(await balance(payer.address)).toBe(p0 + units('15'));
    });
  });

  it('classifies a dead RPC endpoint as unreachable', async () => {
    const dead = makeProvider('http://127.0.0.1:9', 31337);
    const offline = new EscrowClient({ signer: payer.connect(dead), escrowAddress: escrowAddr, artifacts });
    await expect(offline.read(freshId())).rejects.toMatchObject({ kind: 'unreachable' });
    await expect(offline.ensureOpen({ escrowId: freshId(), token: tokenAddr, provider: payee.address, amount: '1', deadline: 4102444800 })).rejects.toMatchObject({ kind: 'unreachable' });
    dead.destroy();
  });
});

describe('deploySettlement', () => {
  it('deploys escrow and test token and mints to the given accounts', async () => {
    const deployer = wallet(3);
    const sent: string[] = [];
    const r = await deploySettlement({
      signer: deployer,
      artifacts,
      testToken: { mint: [{ to: payee.address, amount: '500' }, { to: stranger.address, amount: '0.5' }] },
      onSent: (h) => void sent.push(h),
      wait: { pollIntervalMs: 50 },
    });
    expect(r.chainId).toBe(31337n);
    expect(r.transactions.map((t) => t.action)).toEqual(['deploy', 'deploy', 'mint', 'mint']);
    expect(sent).toEqual(r.transactions.map((t) => t.hash));
    const t = new Contract(r.token!, artifacts.token.abi, provider);
    expect(await balance(payee.address, t)).toBe(units('500'));
    expect(await balance(stranger.address, t)).toBe(units('0.5'));
    expect(await t.getFunction('decimals').staticCall()).toBe(6n);
    expect(await provider.getCode(r.escrow)).not.toBe('0x');
    expect((await deploySettlement({ signer: deployer, artifacts })).token).toBeUndefined();
  });
});

describe('a signed shard result, end to end', () => {
  it('is verified against the escrow domain, then paid with its digest', async () => {
    const client = new EscrowClient({ signer: payer, escrowAddress: escrowAddr, artifacts, pollIntervalMs: 50 });
    const jobUid = `uid-e2e-${Date.now()}`;
    const escrowId = escrowIdFor(jobUid, 'studio-b');
    await client.ensureOpen({ escrowId, token: tokenAddr, provider: payee.address, amount: '10', deadline: Number(await chainNow()) + 3600 });
    const outputs = [{ uri: 's3://r/b.png', sha256: 'b'.repeat(64) }, { uri: 's3://r/a.png', sha256: 'a'.repeat(64) }];
    const domain = { chainId: 31337n, verifyingContract: escrowAddr };
    const signed = await signResult(payee, domain, { jobUid, shardIndex: 0, resultDigest: resultDigest(outputs), amountClaimed: units('7') });
    const check = verifyResult(signed, payee.address, { domain, jobUid, shardIndex: 0, outputs, maxAmountClaimed: units('10') });
    expect(check).toEqual({ ok: true, signer: payee.address });
    const other = { chainId: 31337n, verifyingContract: tokenAddr };
    expect(verifyResult(signed, payee.address, { domain: other })).toMatchObject({ ok: false, reason: 'WrongDomain' });
    const q0 = await balance(payee.address);
    await client.ensureReleased({ escrowId, amountToProvider: '7', resultDigest: signed.resultDigest });
    expect(await balance(payee.address)).toBe(q0 + units('7'));
    expect((await client.read(escrowId)).resultDigest).toBe(resultDigest(outputs));
  });
});
