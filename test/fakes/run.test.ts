// The fakes as `make dev` uses them: started standalone with `node test/fakes/run.ts <name>`, they
// print their URL and credentials (with the payout address their results are signed by), answer the
// provider API, and take faults and per-job actions at runtime through /_fake/ (state, faults,
// jobs/{id}/{action}, every-job/{action}).

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const runTs = fileURLToPath(new URL('./run.ts', import.meta.url));

async function startStandalone(name: string): Promise<{ child: ChildProcess; url: string; credentials: Record<string, string> }> {
  const child = spawn(process.execPath, [runTs, name, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const lines = await new Promise<string[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fake ${name} did not start: ${err}`)), 15_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const parts = out.split('\n');
      if (parts.length >= 3) {
        clearTimeout(timer);
        resolve(parts);
      }
    });
    child.on('exit', (code) => reject(new Error(`fake ${name} exited ${code}: ${err}`)));
  });
  return { child, url: lines[0] as string, credentials: JSON.parse(lines[1] as string) as Record<string, string> };
}

describe('standalone fakes', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) c.kill('SIGTERM');
  });

  test.each([
    ['akash', '/v1/gpu-prices', '0x53Aeef6B27C9874d3ac42472D66e9bc58f438B62'],
    ['render', '/v1/jobs', '0xb0201C306a6044930033fF3266C5855F7b867f29'],
    ['chutes', '/pricing', '0xc206dA590239a648E4FA62ef96834E2A58B9FfB6'],
    ['nosana', '/deployments', '0xfDC67618739f156591fAE42cf3743B7Bf2131D21'],
    ['vastai', '/api/v0/bundles/', '0x81De0357F941bEA7cB1B3368078fAe5748e306B2'],
  ])('%s starts, serves, and takes runtime faults', async (name, probe, payoutAddress) => {
    const { child, url, credentials } = await startStandalone(name);
    children.push(child);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(Object.keys(credentials).length).toBeGreaterThan(1);
    expect(credentials.payoutAddress).toBe(payoutAddress);
    expect(await (await fetch(`${url}/_fake/state`)).json()).toMatchObject({ running: 0, jobs: [], submissions: {} });

    const inject = await fetch(`${url}/_fake/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'status', status: 503, count: 1, match: { path: probe } }) });
    expect(inject.status).toBe(204);
    expect((await fetch(`${url}${probe}`)).status).toBe(503);
    expect((await fetch(`${url}${probe}`)).status).not.toBe(503);
    expect((await fetch(`${url}/_fake/jobs/nope/fail`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${url}/_fake/every-job/wrong`, { method: 'POST' })).status).toBe(204);
    expect((await fetch(`${url}/_fake/every-job/nope`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${url}/_fake/every-job`, { method: 'DELETE' })).status).toBe(204);
  });
});
