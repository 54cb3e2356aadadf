// Shared by the test/cli suites: running the built `atelier` CLI as a child process (exit code,
// stdout and stderr kept apart, as a pipeline sees them), RenderJob manifests whose shard pods the
// KWOK stages steer (test/testbed/stages/pod.yaml), and the digests the test render reports.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cliPath } from '../support/operator.js';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/operator/src/cli.js ARGS` to its end; stdin is closed (or given), nothing is a TTY. */
export function runCli(args: string[], o: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliRun> {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} missing: run \`make build\` (make test does it)`);
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, NODE_OPTIONS: '', ...o.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs ?? 150_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    p.stdin.end(o.input ?? '');
  });
}

/** The sha256 a successful test-bed pod reports for shard i with `testbed.atelier.dev/render-seed: SEED`. */
export const testRenderSha = (seed: string, shard: number) => createHash('sha256').update(`atelier test render seed=${seed} shard=${shard}`).digest('hex');

export interface TestJob {
  name: string;
  count?: number;
  annotations?: Record<string, string>;
  maxRetries?: number;
  namespace?: string;
  /** Replaces spec.shards entirely (to write what the schema refuses). */
  shards?: Record<string, unknown>;
}

/** A RenderJob manifest as a user writes it (YAML-compatible JSON), LocalOnly on the test-bed's GPUs. */
export function jobManifest(j: TestJob): Record<string, unknown> {
  return {
    apiVersion: 'atelier.dev/v1alpha1',
    kind: 'RenderJob',
    metadata: { name: j.name, ...(j.namespace ? { namespace: j.namespace } : {}) },
    spec: {
      template: {
        image: 'ghcr.io/acme/sdxl-batch:1.4',
        command: ['python', 'render.py'],
        resources: { limits: { 'nvidia.com/gpu': 1 } },
        metadata: { annotations: { 'testbed.atelier.dev/duration': '1s', ...(j.annotations ?? {}) } },
      },
      shards: j.shards ?? { count: j.count ?? 1, ...(j.maxRetries !== undefined ? { maxRetries: j.maxRetries } : {}) },
      placement: { policy: 'LocalOnly' },
      output: { uri: `s3://renders/${j.name}/` },
    },
  };
}
