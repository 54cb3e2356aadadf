// `atelier escrow deploy`: deploys the escrow contract (compiled from the Solidity sources at run
// time) and, with --test-token, a test ERC-20 minted to the chain's first accounts, then prints the
// addresses for the operator's settlement configuration. The deployer key comes from a file or an
// environment variable, never from a flag, so it stays out of shell history and process lists.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { JsonRpcProvider, NonceManager, Wallet } from 'ethers';
import { deploySettlement } from '../settlement/deploy.js';

export const escrowUsage = `Usage: atelier escrow deploy --rpc-url URL [--key-file PATH | env ATELIER_DEPLOYER_KEY] [--test-token] [--mint ADDR=AMOUNT ...] [-o json]

Deploys AtelierEscrow (and with --test-token a 6-decimal test stablecoin minted as asked) and prints
the addresses to put in the operator's settlement configuration.
`;

export async function escrowCommand(argv: string[], env: Record<string, string | undefined>, out: (s: string) => void): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'deploy') throw new Error(`unknown escrow command ${JSON.stringify(sub ?? '')}`);
  const { values } = parseArgs({
    args: rest, strict: true,
    options: { 'rpc-url': { type: 'string' }, 'key-file': { type: 'string' }, 'test-token': { type: 'boolean' }, mint: { type: 'string', multiple: true }, output: { type: 'string', short: 'o' } },
  });
  const rpcUrl = values['rpc-url'] ?? env.ATELIER_SETTLEMENT_RPC_URL;
  if (!rpcUrl) throw new Error('--rpc-url is required');
  const key = (values['key-file'] ? readFileSync(values['key-file'], 'utf8') : env.ATELIER_DEPLOYER_KEY ?? '').trim();
  if (!/^(0x)?[0-9a-fA-F]{64}$/.test(key)) throw new Error('a deployer private key is required (--key-file PATH or ATELIER_DEPLOYER_KEY), 32 bytes hex');
  const mint = (values.mint ?? []).map((m) => {
    const [to, amount] = m.split('=');
    if (!to || !amount || !/^0x[0-9a-fA-F]{40}$/.test(to) || !/^[0-9]+(\.[0-9]+)?$/.test(amount)) throw new Error(`--mint wants ADDRESS=AMOUNT, got ${JSON.stringify(m)}`);
    return { to, amount };
  });
  const provider = new JsonRpcProvider(rpcUrl);
  try {
    const signer = new NonceManager(new Wallet(key, provider));
    const r = await deploySettlement({ signer, ...(values['test-token'] ? { testToken: { mint } } : {}) });
    if (values.output === 'json') out(JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2));
    else {
      out(`chain id        ${r.chainId}`);
      out(`escrow          ${r.escrow}`);
      if (r.token) out(`test token      ${r.token}`);
      out(`\nOperator settlement configuration (Helm values settlement.*, or environment):`);
      out(`  ATELIER_SETTLEMENT_RPC_URL=${rpcUrl}\n  ATELIER_SETTLEMENT_CHAIN_ID=${r.chainId}\n  ATELIER_SETTLEMENT_ESCROW_ADDRESS=${r.escrow}${r.token ? `\n  ATELIER_SETTLEMENT_TOKEN_ADDRESS=${r.token}` : ''}`);
    }
    return 0;
  } finally {
    provider.destroy();
  }
}
