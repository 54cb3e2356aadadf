// `atelier shard [--fetch-only] -- <command…>`: the shard-side wrapper, so a studio's render image
// changes nothing. It fetches the job's inputs by CID (ATELIER_INPUTS, from the IPFS API or a
// gateway), runs the command with the ATELIER_* environment, then for every file the command wrote
// under ATELIER_OUTPUT_DIR: hashes the plaintext (sha256), seals it to ATELIER_ENCRYPT_TO (age),
// adds the ciphertext to IPFS and reports {"outputs":[{uri: name, sha256, cid}]} — as the
// termination message (a local pod) and as an `ATELIER_RESULT …` line on stdout (a remote shard),
// the formats the operator reads (decide.ts parseResult, providers/results.ts). --fetch-only is the
// init container of a local pod: it fetches the inputs into ATELIER_INPUTS_ROOT and exits.
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseCidRef } from '../data/cid.js';
import { sha256Hex } from '../data/delivery.js';
import { IpfsClient } from '../data/ipfs.js';
import { OUTPUTS_DIR } from '../data/inputs.js';
import { parseRecipients, seal } from '../data/seal.js';
import { RESULT_LOG_PREFIX } from '../providers/results.js';

export const shardUsage = `atelier shard [--fetch-only] -- <command…>
  Runs a shard's command between fetching its inputs and publishing its sealed outputs.
  Environment: ATELIER_INPUTS (JSON [{name,cid,path}]), ATELIER_IPFS_API or ATELIER_IPFS_GATEWAY,
  ATELIER_OUTPUT_DIR (default ${OUTPUTS_DIR}), ATELIER_ENCRYPT_TO (age recipients),
  ATELIER_TERMINATION_LOG (default /dev/termination-log), ATELIER_MAX_INPUT_BYTES.
`;

interface InputEntry { name: string; cid: string; path: string }
export interface OutputEntry { uri: string; sha256: string; cid: string }
type Env = Record<string, string | undefined>;

function parseInputs(env: Env): InputEntry[] {
  const raw = env.ATELIER_INPUTS;
  if (!raw) return [];
  const v = JSON.parse(raw) as InputEntry[];
  if (!Array.isArray(v) || v.some((i) => typeof i?.name !== 'string' || typeof i?.cid !== 'string' || typeof i?.path !== 'string')) {
    throw new Error('ATELIER_INPUTS must be a JSON list of {name, cid, path}');
  }
  return v;
}

/** Fetches one input's bytes from the IPFS API when given, else from the gateway. */
async function fetchInput(env: Env, cidRef: string, maxBytes: number): Promise<Uint8Array> {
  const ref = parseCidRef(cidRef);
  if (env.ATELIER_IPFS_API) return new IpfsClient({ api: env.ATELIER_IPFS_API }).cat(`/ipfs/${ref.cid}${ref.path}`, maxBytes);
  if (!env.ATELIER_IPFS_GATEWAY) throw new Error('neither ATELIER_IPFS_API nor ATELIER_IPFS_GATEWAY is set');
  const res = await fetch(`${env.ATELIER_IPFS_GATEWAY.replace(/\/+$/, '')}/ipfs/${ref.cid}${ref.path}`, { signal: AbortSignal.timeout(300000) });
  if (!res.ok) throw new Error(`gateway answered ${res.status} for ${ref.cid}`);
  const buf = new Uint8Array(await res.arrayBuffer());
  if (buf.byteLength > maxBytes) throw new Error(`input ${ref.cid} is larger than ${maxBytes} bytes`);
  return buf;
}

/** Writes every input where the shard sees it (or, with root, where the init container's volume is). */
export async function fetchInputs(env: Env, root?: string): Promise<InputEntry[]> {
  const inputs = parseInputs(env);
  const max = Number(env.ATELIER_MAX_INPUT_BYTES ?? 1 << 30);
  for (const [n, i] of inputs.entries()) {
    const dest = root ? path.join(root, `${n}-${i.name}`) : i.path;
    await mkdir(path.dirname(dest), { recursive: true });
    await writeFile(dest, await fetchInput(env, i.cid, max));
  }
  return inputs;
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}

/** Hashes, seals and adds every file under dir; the report's outputs, in name order. */
export async function publishOutputs(env: Env, dir: string): Promise<OutputEntry[]> {
  const files = await listFiles(dir);
  if (files.length === 0) return [];
  if (!env.ATELIER_ENCRYPT_TO) throw new Error('ATELIER_ENCRYPT_TO is not set: outputs are never published unsealed');
  if (!env.ATELIER_IPFS_API) throw new Error('ATELIER_IPFS_API is not set: outputs cannot be published');
  const recipients = parseRecipients(env.ATELIER_ENCRYPT_TO);
  const ipfs = new IpfsClient({ api: env.ATELIER_IPFS_API, timeoutMs: 300000 });
  const out: OutputEntry[] = [];
  for (const f of files) {
    const plain = await readFile(path.join(dir, f));
    const cid = await ipfs.add(await seal(plain, recipients));
    out.push({ uri: f.split(path.sep).join('/'), sha256: sha256Hex(plain), cid });
  }
  return out;
}

function runCommand(cmd: string[], env: Env): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0]!, cmd.slice(1), { stdio: 'inherit', env: env as NodeJS.ProcessEnv });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

async function report(env: Env, body: object, write: (s: string) => void): Promise<void> {
  const json = JSON.stringify(body);
  write(`${RESULT_LOG_PREFIX}${json}`);
  await writeFile(env.ATELIER_TERMINATION_LOG ?? '/dev/termination-log', json).catch(() => undefined);
}

/** The command's entry point; returns the exit code (the wrapped command's on its failure). */
export async function shardCommand(args: string[], env: Env, write: (s: string) => void): Promise<number> {
  const fetchOnly = args[0] === '--fetch-only';
  const dash = args.indexOf('--');
  const cmd = dash >= 0 ? args.slice(dash + 1) : [];
  if (fetchOnly) {
    const got = await fetchInputs(env, env.ATELIER_INPUTS_ROOT ?? '/atelier-fetch');
    write(`atelier shard: fetched ${got.length} input(s)`);
    return 0;
  }
  if (cmd.length === 0) throw new Error('give the command after --');
  await fetchInputs(env);
  const outDir = env.ATELIER_OUTPUT_DIR ?? OUTPUTS_DIR;
  await mkdir(outDir, { recursive: true });
  const code = await runCommand(cmd, { ...env, ATELIER_OUTPUT_DIR: outDir });
  if (code !== 0) {
    await report(env, { outputs: [], state: 'failed', message: `command exited ${code}` }, write);
    return code;
  }
  const outputs = await publishOutputs(env, outDir);
  await report(env, { outputs, state: 'succeeded' }, write);
  return 0;
}
