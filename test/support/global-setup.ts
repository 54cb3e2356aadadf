// Jest globalSetup for the integration project: starts one test-bed cluster and one chain for the
// whole run and hands their addresses to the suites through a JSON file named in the environment.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
// Two H100 nodes with 4 GPUs each and one RTX 4090 node with 2: the suites pick models by selector.
export const TEST_NODE_SPEC = '2:4:nvidia-h100,1:2:nvidia-rtx-4090';

export default async function globalSetup(): Promise<void> {
  const name = process.env.ATELIER_TEST_CLUSTER ?? 'jest';
  const t0 = Date.now();
  const sh = (script: string, ...args: string[]) =>
    execFileSync('bash', [path.join(root, 'test/testbed', script), ...args], {
      env: { ...process.env, NODE_SPEC: TEST_NODE_SPEC },
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 16 * 1024 * 1024,
    }).toString().trim().split('\n').pop()!;
  // A cluster left behind by a killed run is replaced, so every run starts clean.
  sh('cluster.sh', 'down', name);
  sh('chain.sh', 'down', name);
  const kubeconfig = sh('cluster.sh', 'up', name);
  const chainUrl = sh('chain.sh', 'up', name);
  const dir = path.join(root, '.testbed');
  mkdirSync(dir, { recursive: true });
  const info = path.join(dir, `${name}.info.json`);
  writeFileSync(info, JSON.stringify({ name, kubeconfig, chainUrl }));
  process.env.ATELIER_TESTBED_INFO = info;
  console.log(`\nglobal-setup: test-bed "${name}" and chain ready in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
}
