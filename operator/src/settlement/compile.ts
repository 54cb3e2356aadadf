// Compiles the settlement contracts (contracts/*.sol, with the OpenZeppelin files they import resolved
// from node_modules) with solc-js through its standard JSON interface whenever they are needed, so that
// the bytecode deployed is always the bytecode of the source in this tree: nothing is hand-copied and no
// artifact is committed. Compiling costs seconds, so results are cached twice, both keyed by a hash of
// compiler version, settings and sources (imports included): in this process, and on disk under
// `${ATELIER_CACHE:-~/.cache/atelier}/solc/<hash>.json`, which keeps repeated test runs fast. solc itself
// (an 8 MB emscripten module) is loaded only on a cache miss. The operator image compiles nothing at
// run time: its build writes the artifacts once (`node compile.js --write FILE`) to artifacts.json
// beside this module, and the image ships that file instead of the sources, solc and OpenZeppelin.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InterfaceAbi } from 'ethers';

export interface Artifact {
  abi: InterfaceAbi;
  /** Creation bytecode, 0x-prefixed. */
  bytecode: string;
}

export interface SettlementArtifacts {
  escrow: Artifact;
  token: Artifact;
}

export interface CompileOptions {
  /** Root of the on-disk cache; artifacts go to `<cacheDir>/solc/`. Default: defaultCacheDir(). */
  cacheDir?: string;
  /** Directory holding AtelierEscrow.sol and TestToken.sol. Default: located next to this module. */
  contractsDir?: string;
}

// The solc version is pinned by package-lock.json; it is part of the cache key so that an upgrade
// recompiles. Cancun is the oldest EVM the escrow runs on: it uses transient storage for its lock.
const SETTINGS = {
  optimizer: { enabled: true, runs: 1000 },
  evmVersion: 'cancun',
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
} as const;

const memory = new Map<string, Promise<Record<string, Artifact>>>();

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.ATELIER_CACHE || path.join(os.homedir(), '.cache', 'atelier');
}

/** Where the .sol files are: beside this module in the source tree, or in the source tree when run from dist/. */
export function contractsDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [
    path.join(here, 'contracts'),
    path.resolve(here, '../../../../operator/src/settlement/contracts'), // dist/operator/src/settlement
  ];
  const found = candidates.find((d) => existsSync(path.join(d, 'AtelierEscrow.sol')));
  if (!found) throw new Error(`settlement contracts not found in ${candidates.join(' or ')}`);
  return found;
}

/** The cache key: sha256 over the solc package version, the settings and every source (name and text). */
export function cacheKey(solcVersion: string, sources: Record<string, string>): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ solcVersion, settings: SETTINGS }));
  for (const name of Object.keys(sources).sort()) {
    h.update('\0' + name + '\0' + sources[name]);
  }
  return h.digest('hex');
}

async function solcPackageVersion(): Promise<string> {
  // Read from package.json, not from the compiler, so that a cache hit never loads the compiler.
  const pkg = path.join(path.dirname(fileURLToPath(import.meta.resolve('solc'))), 'package.json');
  return (JSON.parse(await readFile(pkg, 'utf8')) as { version: string }).version;
}

interface SolcOutput {
  errors?: Array<{ severity: string; formattedMessage?: string; message: string }>;
  contracts?: Record<string, Record<string, { abi: InterfaceAbi; evm: { bytecode: { object: string } } }>>;
}

async function runSolc(sources: Record<string, string>): Promise<Record<string, Artifact>> {
  const solc = (await import('solc')).default;
  const input = {
    language: 'Solidity',
    sources: Object.fromEntries(Object.entries(sources).map(([name, content]) => [name, { content }])),
    settings: SETTINGS,
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input))) as SolcOutput;
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) {
    throw new Error(`solc: ${errors.map((e) => e.formattedMessage ?? e.message).join('\n')}`);
  }
  const artifacts: Record<string, Artifact> = {};
  for (const file of Object.values(output.contracts ?? {})) {
    for (const [contract, out] of Object.entries(file)) {
      if (artifacts[contract]) throw new Error(`solc: contract name ${contract} is defined twice`);
      artifacts[contract] = { abi: out.abi, bytecode: '0x' + out.evm.bytecode.object };
    }
  }
  return artifacts;
}

/**
 * Compiles `sources` (file name -> Solidity text) and returns every contract's artifact by contract
 * name, from the in-process cache, the disk cache, or solc, in that order.
 */
export function compileSources(sources: Record<string, string>, opts: CompileOptions = {}): Promise<Record<string, Artifact>> {
  return (async () => {
    const key = cacheKey(await solcPackageVersion(), sources);
    let pending = memory.get(key);
    if (!pending) {
      pending = fromDiskOrSolc(key, sources, path.join(opts.cacheDir ?? defaultCacheDir(), 'solc'));
      memory.set(key, pending);
      // A failed compile is not cached, so that a fixed source or a freed disk is picked up.
      pending.catch(() => memory.delete(key));
    }
    return pending;
  })();
}

async function fromDiskOrSolc(key: string, sources: Record<string, string>, dir: string): Promise<Record<string, Artifact>> {
  const file = path.join(dir, `${key}.json`);
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Record<string, Artifact>;
  } catch {
    // Missing or unreadable (e.g. a torn write by an older version): compile again.
  }
  const artifacts = await runSolc(sources);
  try {
    await mkdir(dir, { recursive: true });
    // Write-then-rename so that a concurrent reader never sees half a file.
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await writeFile(tmp, JSON.stringify(artifacts));
    await rename(tmp, file);
  } catch {
    // The disk cache is an optimisation: a read-only home still compiles, just every time.
  }
  return artifacts;
}

// `import "x";`, `import {A} from "x";`, `import * as A from "x";`, `import "x" as A;`.
const IMPORT = /^\s*import\s+(?:[^"';]*?\s+from\s+)?["']([^"']+)["']/gm;

/** The import paths a Solidity source names, as written. */
export function importsOf(source: string): string[] {
  return [...source.matchAll(IMPORT)].map((m) => m[1]!);
}

/**
 * Reads every .sol file in the contracts directory and, transitively, every file they import: a package
 * path (`@openzeppelin/contracts/…`) is read from node_modules, a relative one against its importer's
 * source unit name, which is how solc names units, so the input needs no import callback.
 */
export async function readContractSources(dir: string = contractsDir()): Promise<Record<string, string>> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.sol')).sort();
  const sources: Record<string, string> = {};
  const queue: Array<[unit: string, file: string]> = names.map((n) => [n, path.join(dir, n)]);
  for (let next = queue.shift(); next; next = queue.shift()) {
    const [unit, file] = next;
    if (unit in sources) continue;
    const text = await readFile(file, 'utf8');
    sources[unit] = text;
    for (const spec of importsOf(text)) {
      if (spec.startsWith('./') || spec.startsWith('../')) {
        const target = path.posix.join(path.posix.dirname(unit), spec);
        queue.push([target, path.join(path.dirname(file), spec)]);
      } else {
        queue.push([spec, resolvePackageFile(spec)]);
      }
    }
  }
  return sources;
}

/** `@scope/pkg/dir/File.sol` -> the file in that package as node resolves it from here. */
function resolvePackageFile(spec: string): string {
  const parts = spec.split('/');
  const pkgName = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
  const rest = parts.slice(spec.startsWith('@') ? 2 : 1).join('/');
  const pkgJson = fileURLToPath(import.meta.resolve(`${pkgName}/package.json`));
  return path.join(path.dirname(pkgJson), rest);
}

/** artifacts.json beside this module (written into dist/ by the image build), if there is one. */
export function prebuiltArtifactsFile(): string {
  return path.join(path.dirname(fileURLToPath(import.meta.url)), 'artifacts.json');
}

function pick(all: Record<string, Artifact>): SettlementArtifacts {
  const one = (name: string): Artifact => {
    const a = all[name];
    if (!a) throw new Error(`solc: no artifact for contract ${name}`);
    return a;
  };
  return { escrow: one('AtelierEscrow'), token: one('TestToken') };
}

/**
 * The escrow and test-token artifacts, compiled from the sources in this tree; where the sources are
 * absent (the operator image), read from the prebuilt artifacts.json beside this module instead.
 */
export async function loadArtifacts(opts: CompileOptions = {}): Promise<SettlementArtifacts> {
  if (!opts.contractsDir) {
    const prebuilt = prebuiltArtifactsFile();
    let dir: string | undefined;
    try {
      dir = contractsDir();
    } catch {
      // No sources here: only the prebuilt artifacts can serve.
    }
    if (!dir && existsSync(prebuilt)) return pick(JSON.parse(readFileSync(prebuilt, 'utf8')) as Record<string, Artifact>);
  }
  return pick(await compileSources(await readContractSources(opts.contractsDir), opts));
}

/** Compiles the settlement contracts and writes the escrow's and the test token's artifacts, by name, to `file`. */
export async function writeArtifacts(file: string): Promise<void> {
  const all = await compileSources(await readContractSources());
  pick(all); // fails here, at build time, if either contract is missing
  const wanted = Object.fromEntries(Object.entries(all).filter(([name]) => name === 'AtelierEscrow' || name === 'TestToken'));
  await writeFile(file, JSON.stringify(wanted));
}

/** Forgets the in-process cache (tests of the disk cache use it). */
export function clearMemoryCache(): void {
  memory.clear();
}

// `node dist/operator/src/settlement/compile.js --write FILE`: the image build's artifact step.
if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1]) && process.argv[2] === '--write' && process.argv[3]) {
  writeArtifacts(process.argv[3]).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
