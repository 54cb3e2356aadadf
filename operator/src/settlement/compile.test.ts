// Unit tests for run-time compilation: the settlement artifacts come out of solc with the expected
// entry points, results are cached in process and on disk under <cacheDir>/solc/<key>.json (the disk
// copy is really used: a doctored file is returned as is), the key follows the sources, and compiler
// errors surface with solc's message. The sources include the OpenZeppelin files the escrow imports
// (resolved from node_modules, relative imports by solc's unit names), and writeArtifacts writes the
// artifacts the image ships (scripts/test-image.sh checks that the image loads them without solc).
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Interface } from 'ethers';
import { cacheKey, clearMemoryCache, compileSources, importsOf, loadArtifacts, readContractSources, writeArtifacts } from './compile.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'atelier-solc-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const TINY = { 'Tiny.sol': '// SPDX-License-Identifier: Apache-2.0\npragma solidity ^0.8.28;\ncontract Tiny { function one() external pure returns (uint256) { return 1; } }\n' };

describe('loadArtifacts', () => {
  it('compiles the escrow and the test token from source', async () => {
    const { escrow, token } = await loadArtifacts();
    const e = new Interface(escrow.abi);
    for (const f of ['open', 'topUp', 'release', 'refund', 'cancel', 'escrows']) expect(e.getFunction(f)).not.toBeNull();
    for (const ev of ['EscrowOpened', 'EscrowToppedUp', 'EscrowReleased', 'EscrowRefunded']) expect(e.getEvent(ev)).not.toBeNull();
    expect(e.getFunction('escrows')!.outputs.map((o) => o.name)).toEqual(['payer', 'provider', 'token', 'amount', 'deadline', 'state', 'resultDigest']);
    const t = new Interface(token.abi);
    for (const f of ['transfer', 'transferFrom', 'approve', 'allowance', 'balanceOf', 'decimals', 'mint']) expect(t.getFunction(f)).not.toBeNull();
    expect(escrow.bytecode).toMatch(/^0x[0-9a-f]{200,}$/);
    expect(token.bytecode).toMatch(/^0x[0-9a-f]{200,}$/);
    expect(await loadArtifacts()).toEqual({ escrow, token });
  });
});

describe('compileSources', () => {
  it('caches on disk by source hash, and reads the disk copy after a restart', async () => {
    const first = await compileSources(TINY, { cacheDir: tmp });
    expect(first.Tiny!.bytecode).toMatch(/^0x[0-9a-f]+$/);
    expect(await compileSources(TINY, { cacheDir: tmp })).toBe(first); // same process: same object
    const files = readdirSync(path.join(tmp, 'solc'));
    expect(files).toHaveLength(1);
    const file = path.join(tmp, 'solc', files[0]!);
    const doctored = { Tiny: { ...JSON.parse(readFileSync(file, 'utf8')).Tiny, bytecode: '0xfeed' } };
    writeFileSync(file, JSON.stringify(doctored));
    clearMemoryCache(); // as if the process restarted
    expect((await compileSources(TINY, { cacheDir: tmp })).Tiny!.bytecode).toBe('0xfeed');
  });

  it('keys the cache on every source and on nothing else', () => {
    const two = { 'A.sol': 'a', 'B.sol': 'b' };
    expect(cacheKey('0.8.37', two)).toBe(cacheKey('0.8.37', { 'B.sol': 'b', 'A.sol': 'a' }));
    expect(cacheKey('0.8.37', two)).not.toBe(cacheKey('0.8.37', { 'A.sol': 'a', 'B.sol': 'b ' }));
    expect(cacheKey('0.8.37', two)).not.toBe(cacheKey('0.8.38', two));
    expect(cacheKey('0.8.37', { 'A.sol': 'ab' })).not.toBe(cacheKey('0.8.37', { 'A.sola': 'b' }));
  });

  it('reports compiler errors and caches nothing for them', async () => {
    const bad = { 'Bad.sol': 'pragma solidity ^0.8.28;\ncontract Bad { function f( }\n' };
    await expect(compileSources(bad, { cacheDir: tmp })).rejects.toThrow(/solc: .*ParserError/s);
    expect(readdirSync(path.join(tmp, 'solc'))).toHaveLength(1);
  });
});

describe('imports', () => {
  it('finds every form of Solidity import', () => {
    const src = 'import "./A.sol";\nimport {B, C} from "../B.sol";\nimport * as D from \'@x/y/D.sol\';\n  import "E.sol" as E;\n// import "no.sol" is a comment\n';
    expect(importsOf(src)).toEqual(['./A.sol', '../B.sol', '@x/y/D.sol', 'E.sol']);
  });

  it('reads the OpenZeppelin files the escrow imports, transitively, under solc\'s unit names', async () => {
    const sources = await readContractSources();
    const names = Object.keys(sources);
    expect(names).toEqual(expect.arrayContaining([
      'AtelierEscrow.sol', 'TestToken.sol',
      '@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol',
      '@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol',
      '@openzeppelin/contracts/token/ERC20/IERC20.sol', // imported as "../IERC20.sol" by SafeERC20
      '@openzeppelin/contracts/utils/TransientSlot.sol',
    ]));
    expect(sources['@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol']).toContain('library SafeERC20');
    expect(names.filter((n) => n.includes('..'))).toEqual([]);
  });

  it('writeArtifacts writes exactly what loadArtifacts compiles', async () => {
    const file = path.join(tmp, 'artifacts.json');
    await writeArtifacts(file);
    const written = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const { escrow, token } = await loadArtifacts();
    expect(written).toEqual({ AtelierEscrow: escrow, TestToken: token });
  });
});
