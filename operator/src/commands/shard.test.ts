// `atelier shard` argument and environment checks (its real run, with IPFS, is test/data/shard.test.ts)
// and the delivery lines of `atelier status`.
import { mkdtemp, readFile, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { publishOutputs, shardCommand } from './shard.js';
import { deliveryLines } from './status.js';

test('the command must follow --', async () => {
  await expect(shardCommand(['sh'], {}, () => undefined)).rejects.toThrow(/after --/);
});

test('a failing command reports failed with its exit code; nothing is published', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'shard-unit-'));
  const lines: string[] = [];
  const code = await shardCommand(['--', 'sh', '-c', 'exit 3'], { PATH: process.env.PATH, ATELIER_OUTPUT_DIR: `${dir}/out`, ATELIER_TERMINATION_LOG: `${dir}/t` }, (s) => lines.push(s));
  expect(code).toBe(3);
  expect(JSON.parse(await readFile(`${dir}/t`, 'utf8'))).toEqual({ outputs: [], state: 'failed', message: 'command exited 3' });
  expect(lines).toEqual(['ATELIER_RESULT {"outputs":[],"state":"failed","message":"command exited 3"}']);
});

test('outputs are never published unsealed, nor without an IPFS API; an empty output dir publishes nothing', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'shard-unit-'));
  expect(await publishOutputs({}, dir)).toEqual([]);
  await mkdir(`${dir}/f`, { recursive: true });
  await writeFile(`${dir}/f/a.exr`, 'x');
  await expect(publishOutputs({ ATELIER_IPFS_API: 'http://127.0.0.1:1' }, dir)).rejects.toThrow(/ATELIER_ENCRYPT_TO/);
  await expect(publishOutputs({ ATELIER_ENCRYPT_TO: 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p' }, dir)).rejects.toThrow(/ATELIER_IPFS_API/);
  await expect(publishOutputs({ ATELIER_ENCRYPT_TO: 'not-a-key', ATELIER_IPFS_API: 'http://127.0.0.1:1' }, dir)).rejects.toThrow(/age/);
});

test('status shows delivery progress and the rejected shards of a sealed job', () => {
  expect(deliveryLines(undefined, 4, false)).toEqual([]);
  const lines = deliveryLines({ delivered: 6, rejected: 1, bytes: 12_500_000, shards: [{ index: 0, state: 'Delivered', objects: 3 }, { index: 1, state: 'Delivered', objects: 3 }, { index: 2, state: 'Rejected', objects: 0, message: 'OutputDigestMismatch' }] }, 4, true);
  expect(lines[0]).toMatch(/2\/4 shard\(s\), 6 object\(s\), 12\.5 MB$/);
  expect(lines[1]).toBe('    shard 2: Rejected — OutputDigestMismatch');
});
