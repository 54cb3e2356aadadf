// Jest globalTeardown: stops the run's cluster, chain and data plane (and any extra cluster a suite left),
// also when tests failed.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

export default async function globalTeardown(): Promise<void> {
  if (process.env.ATELIER_KEEP_TESTBED === '1') return;
  const name = process.env.ATELIER_TEST_CLUSTER ?? 'jest';
  const dir = path.join(root, '.testbed');
  let entries: string[] = [];
  try { entries = readdirSync(dir); } catch { /* nothing started */ }
  for (const e of entries) {
    if (e === name || e.startsWith(`${name}-`)) {
      execFileSync('bash', [path.join(root, 'test/testbed/cluster.sh'), 'down', e], { stdio: 'inherit' });
    } else if (e === `data-${name}` || e.startsWith(`data-${name}-`)) {
      execFileSync('bash', [path.join(root, 'test/testbed/data.sh'), 'down', e.slice('data-'.length)], { stdio: 'inherit' });
    } else if (e === `chain-${name}` || e.startsWith(`chain-${name}-`)) {
      execFileSync('bash', [path.join(root, 'test/testbed/chain.sh'), 'down', e.slice('chain-'.length)], { stdio: 'inherit' });
    }
  }
}
