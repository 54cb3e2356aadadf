// What `atelier escrow deploy` does: deploys AtelierEscrow and, for development chains, a TestToken
// minted to the given accounts, and returns the addresses for the operator's configuration. It is a
// one-off administrative action, so it is not idempotent like the escrow steps: running it twice
// deploys twice. Hashes are reported through onSent as they are broadcast, so a CLI can print them.
import { Contract, getAddress, type Signer } from 'ethers';
import { loadArtifacts, type SettlementArtifacts } from './compile.js';
import { SettlementError, classifyError, errorInterface } from './errors.js';
import {
  TEST_TOKEN_DECIMALS,
  deployEscrow,
  deployTestToken,
  toUnits,
  waitForReceipt,
  type SendHooks,
  type TxOutcome,
  type WaitOptions,
} from './escrow.js';

export interface TestTokenRequest {
  name?: string;
  symbol?: string;
  /** Accounts to mint to, with decimal-string amounts in whole tokens ("10000"). */
  mint?: Array<{ to: string; amount: string }>;
}

export interface DeployRequest {
  signer: Signer;
  /** Also deploy a TestToken (and mint); omit on real chains, where the token already exists. */
  testToken?: TestTokenRequest;
  onSent?: SendHooks['onSent'];
  wait?: WaitOptions;
  artifacts?: SettlementArtifacts;
}

export interface DeployResult {
  chainId: bigint;
  deployer: string;
  escrow: string;
  /** Present when a test token was deployed. */
  token?: string;
  transactions: TxOutcome[];
}

export async function deploySettlement(req: DeployRequest): Promise<DeployResult> {
  const provider = req.signer.provider;
  if (!provider) throw new SettlementError('other', 'signer is not connected to a provider', { code: 'NO_PROVIDER' });
  const artifacts = req.artifacts ?? (await loadArtifacts());
  const { chainId } = await provider.getNetwork();
  const deployer = getAddress(await req.signer.getAddress());
  const common = { artifacts, ...(req.onSent ? { onSent: req.onSent } : {}), ...(req.wait ? { wait: req.wait } : {}) };
  const transactions: TxOutcome[] = [];
  const record = (d: { txHash: string; blockNumber: number; gasUsed: bigint }) =>
    transactions.push({ action: 'deploy', hash: d.txHash, blockNumber: d.blockNumber, gasUsed: d.gasUsed });

  const escrow = await deployEscrow(req.signer, common);
  record(escrow);
  const result: DeployResult = { chainId, deployer, escrow: escrow.address, transactions };
  if (!req.testToken) return result;

  const t = req.testToken;
  // Validate every amount before spending gas on the token.
  const mints = (t.mint ?? []).map((m) => ({ to: getAddress(m.to), units: toUnits(m.amount, TEST_TOKEN_DECIMALS) }));
  const token = await deployTestToken(req.signer, { ...common, ...(t.name ? { name: t.name } : {}), ...(t.symbol ? { symbol: t.symbol } : {}) });
  record(token);
  result.token = token.address;

  const contract = new Contract(token.address, artifacts.token.abi, req.signer);
  const errors = errorInterface(artifacts.token.abi);
  for (const m of mints) {
    let hash: string | undefined;
    try {
      const tx = await contract.getFunction('mint').send(m.to, m.units);
      hash = tx.hash;
      await req.onSent?.(tx.hash, 'mint');
      const receipt = await waitForReceipt(provider, tx.hash, req.wait);
      if (!receipt || receipt.status !== 1) throw new SettlementError('reverted', `mint ${tx.hash} failed`, { txHash: tx.hash });
      transactions.push({ action: 'mint', hash: tx.hash, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed });
    } catch (err) {
      throw classifyError(err, errors, hash);
    }
  }
  return result;
}
