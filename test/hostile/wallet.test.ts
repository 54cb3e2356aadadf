// Hostile settlement configuration against the test-bed's real chain (anvil), through the settlement
// controller's own connection path (SettlementController.ensureConnected with the real ethers client):
// a wallet Secret holding no usable key, an escrow or token address with no contract behind it, a
// chain id the RPC does not serve, a wallet without funds or allowance. Each: a SettlementError that
// says which, and names the Secret and never its content; nothing is sent.
import { HDNodeWallet, Wallet } from 'ethers';
import { SettlementController } from '../../operator/src/controllers/settlement/controller.js';
import { deploySettlement } from '../../operator/src/settlement/deploy.js';
import { EscrowClient, makeProvider } from '../../operator/src/settlement/escrow.js';
import { nopLog } from '../../operator/src/runtime/index.js';
import { testbed } from '../support/testbed.js';

const MNEMONIC = 'test test test test test test test test test test test junk';
let url: string;
let escrow: string;
let token: string;
// an account of its own (index 7), so its nonces are nobody else's
const deployer = () => HDNodeWallet.fromPhrase(MNEMONIC, undefined, `m/44'/60'/0'/0/7`).connect(makeProvider(url, 31337, 200));

beforeAll(async () => {
  url = testbed().chainUrl;
  const d = await deploySettlement({ signer: deployer(), testToken: { mint: [] } });
  escrow = d.escrow;
  token = d.token!;
}, 120_000);

function controller(o: { key: string; chainId?: number; escrow?: string; token?: string }) {
  const cfg = { rpcUrl: url, chainId: o.chainId ?? 31337, escrowAddress: o.escrow ?? escrow, tokenAddress: o.token ?? token, walletSecret: { namespace: 'atelier-system', name: 'studio-wallet', key: 'privateKey' }, escrowGraceMs: 0 };
  return new SettlementController({
    cfg, jobs: { get: () => undefined, byIndex: () => [] }, shards: { get: () => undefined, byIndex: () => [] }, providers: { get: () => undefined },
    readSecret: async () => o.key, writeStatus: async () => undefined, recorder: { event: () => undefined }, log: nopLog, clock: { now: () => Date.now() },
    connect: async (privateKey) => EscrowClient.connect({ signer: new Wallet(privateKey, makeProvider(cfg.rpcUrl, cfg.chainId)), escrowAddress: cfg.escrowAddress, pollIntervalMs: 200, waitTimeoutMs: 10_000 }),
  });
}

const NOWHERE = '0x000000000000000000000000000000000000dEaD';
const funded = () => HDNodeWallet.fromPhrase(MNEMONIC, undefined, `m/44'/60'/0'/0/8`).privateKey;

test.each([
  { what: 'a wallet key that is not a key', o: () => ({ key: 'not-a-key-0123' }), code: 'WALLET_KEY', message: /Secret atelier-system\/studio-wallet \(key privateKey\) does not hold a usable private key/ },
  { what: 'a wallet key one byte short', o: () => ({ key: funded().slice(0, -2) }), code: 'WALLET_KEY', message: /does not hold a usable private key/ },
  { what: 'an escrow address with no contract', o: () => ({ key: funded(), escrow: NOWHERE }), code: 'NO_CONTRACT', message: /no contract on chain 31337 at the escrow address 0x000000000000000000000000000000000000dEaD/ },
  { what: 'a token address with no contract', o: () => ({ key: funded(), token: NOWHERE }), code: 'NO_CONTRACT', message: /at the token address 0x000000000000000000000000000000000000dEaD/ },
  { what: 'a chain id the RPC does not serve', o: () => ({ key: funded(), chainId: 5 }), code: 'CHAIN_MISMATCH', message: /the settlement RPC serves chain 31337, but the configured chain id is 5/ },
])('$what: a clear error, the key nowhere in it', async ({ o, code, message }) => {
  const opts = o();
  const err = await controller(opts).ensureConnected().then(() => undefined, (e: unknown) => e as Error & { code?: string });
  expect(err).toBeDefined();
  expect({ code: err!.code, name: err!.name }).toEqual({ code, name: 'SettlementError' });
  expect(err!.message).toMatch(message);
  expect(err!.message).not.toContain(opts.key.replace(/^0x/, '').slice(0, 16));
});

test('a wallet without funds or allowance connects, and its first open fails with the token\'s own reason, sending nothing', async () => {
  const poor = Wallet.createRandom().privateKey;
  const client = await controller({ key: poor }).ensureConnected();
  const before = await makeProvider(url, 31337).getTransactionCount(new Wallet(poor).address);
  const err = await client.ensureOpen({ escrowId: '0x' + '42'.repeat(32), token, provider: NOWHERE, amount: '1.00', deadline: Math.floor(Date.now() / 1000) + 3600 }).then(() => undefined, (e: unknown) => e as Error & { kind?: string });
  console.log(`poor wallet: ${err?.name} ${err?.kind}: ${err?.message}`);
  expect(err?.name).toBe('SettlementError');
  expect(err!.message).not.toContain(poor.slice(2, 18));
  expect(await makeProvider(url, 31337).getTransactionCount(new Wallet(poor).address)).toBe(before);
});
