// The command-line tools the install suites drive, as the user would: helm and kubectl from the
// test-bed's binary cache (${ATELIER_CACHE:-~/.cache/atelier}/bin/current), pointed at this run's
// cluster. run() never throws on a non-zero exit: suites assert on the exit code and stderr.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot, testbed } from '../support/testbed.js';

const binDir = path.join(process.env.ATELIER_CACHE || path.join(os.homedir(), '.cache', 'atelier'), 'bin', 'current');
export const chartDir = path.join(repoRoot, 'charts/atelier');

export interface RunResult { code: number; stdout: string; stderr: string }

export function bin(name: 'helm' | 'kubectl'): string {
  const p = path.join(binDir, name);
  if (!existsSync(p)) throw new Error(`${name} not found at ${p}: run \`make binaries\``);
  return p;
}

/** Runs a command with optional stdin; resolves with its exit code and output. */
export function run(cmd: string, args: string[], input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, HELM_CACHE_HOME: path.join(os.tmpdir(), 'atelier-helm-cache') } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** Like run(), but rejects with the command's stderr when it fails. */
export async function runOk(cmd: string, args: string[], input?: string): Promise<string> {
  const r = await run(cmd, args, input);
  if (r.code !== 0) throw new Error(`${path.basename(cmd)} ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

export const helm = (...args: string[]) => run(bin('helm'), [...args, '--kubeconfig', testbed().kubeconfig]);
export const helmOk = (...args: string[]) => runOk(bin('helm'), [...args, '--kubeconfig', testbed().kubeconfig]);
export const kubectl = (args: string[], input?: string) => run(bin('kubectl'), ['--kubeconfig', testbed().kubeconfig, ...args], input);
export const kubectlOk = (args: string[], input?: string) => runOk(bin('kubectl'), ['--kubeconfig', testbed().kubeconfig, ...args], input);
