// Runs the real operator (the built CLI, `node dist/operator/src/cli.js run`) as a child process
// against a test-bed cluster, so suites can kill it at any moment and start it again, run two
// replicas, and read its JSON logs.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, waitFor } from './testbed.js';

export const cliPath = path.join(repoRoot, 'dist/operator/src/cli.js');

export interface OperatorProcess {
  proc: ChildProcess;
  logs: Record<string, unknown>[];
  raw: string[];
  /** Address of /metrics, /healthz and /readyz once the server listens. */
  metricsUrl(): Promise<string>;
  waitForLog(msg: string | RegExp, timeoutMs?: number): Promise<Record<string, unknown>>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export function startOperator(kubeconfig: string, extraArgs: string[] = [], env: Record<string, string> = {}): OperatorProcess {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} missing: run \`make build\` (make test does it)`);
  const proc = spawn(process.execPath, [cliPath, 'run', '--kubeconfig', kubeconfig, '--metrics-addr', '127.0.0.1:0', '--lease-namespace', 'default', '--retry-base', '1', ...extraArgs], {
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const raw: string[] = [];
  let buf = '';
  const onData = (chunk: Buffer) => {
    buf += chunk.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      raw.push(line);
      try { logs.push(JSON.parse(line) as Record<string, unknown>); } catch { /* not JSON: kept in raw */ }
    }
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const waitForLog = (msg: string | RegExp, timeoutMs = 60000) =>
    waitFor(`operator log ${String(msg)}`, async () => {
      if (proc.exitCode !== null) throw new Error(`operator exited ${proc.exitCode}: ${raw.slice(-10).join('\n')}`);
      return logs.find((l) => (typeof msg === 'string' ? l.message === msg : msg.test(String(l.message))));
    }, timeoutMs, 100);
  return {
    proc, logs, raw, exited, waitForLog,
    async metricsUrl() {
      const l = await waitForLog('serving health and metrics');
      return `http://${String(l.address)}`;
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}
