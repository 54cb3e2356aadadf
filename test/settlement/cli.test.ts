// `atelier escrow deploy` against the run's anvil chain: the built CLI deploys the escrow and a test
// token, prints addresses that hold contract code, and mints what it was asked to.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Contract, JsonRpcProvider } from 'ethers';
import { cliPath } from '../support/operator.js';
import { testbed } from '../support/testbed.js';

const run = promisify(execFile);
// anvil's first deterministic account (a well-known development key, funded only on local chains)
const DEPLOYER = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';
const HOLDER = '0x976EA74026E726554dB657fA54763abd0C3a0aa9';

test('atelier escrow deploy prints the addresses of a deployed escrow and a minted test token', async () => {
  const { stdout } = await run(process.execPath, [cliPath, 'escrow', 'deploy', '--rpc-url', testbed().chainUrl, '--test-token', '--mint', `${HOLDER}=1234.5`, '-o', 'json'], {
    env: { ...process.env, NODE_OPTIONS: '', ATELIER_DEPLOYER_KEY: DEPLOYER },
  });
  const r = JSON.parse(stdout) as { chainId: string; escrow: string; token: string };
  expect(r.chainId).toBe('31337');
  const provider = new JsonRpcProvider(testbed().chainUrl);
  try {
    expect((await provider.getCode(r.escrow)).length).toBeGreaterThan(100);
    const token = new Contract(r.token, ['function balanceOf(address) view returns (uint256)', 'function decimals() view returns (uint8)'], provider);
    expect(await token.getFunction('decimals')()).toBe(6n);
    expect(await token.getFunction('balanceOf')(HOLDER)).toBe(1_234_500_000n);
  } finally {
    provider.destroy();
  }
});

test('atelier escrow deploy without a key says so and exits 2', async () => {
  const err = await run(process.execPath, [cliPath, 'escrow', 'deploy', '--rpc-url', testbed().chainUrl], { env: { ...process.env, NODE_OPTIONS: '', ATELIER_DEPLOYER_KEY: '' } }).catch((e: { code: number; stderr: string }) => e);
  expect((err as { code: number }).code).toBe(2);
  expect((err as { stderr: string }).stderr).toMatch(/deployer private key is required/);
});
