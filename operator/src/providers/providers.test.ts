// Unit tests for the provider plumbing that needs no server: exact money arithmetic, canonical
// JSON/query forms and Retry-After parsing in http.ts, Render request signing against a vector
// computed independently here, result-report parsing (a `signed` result kept or dropped by shape) and
// digests (the same as settlement's resultDigest), SDL building, and the factory.

import { createHash, createHmac } from 'node:crypto';
import { buildSdl, akashGpu, manifestOf } from './akash/sdl.js';
import { canonicalJson, canonicalQuery, errorDetail, parseRetryAfter } from './http.js';
import { createProviderAdapter } from './index.js';
import { compare, div, formatDecimal, mul, parseUsd, rational, toMicros, usd } from '../money.js';
import { signRequest } from './render/signing.js';
import { resultDigest } from '../settlement/results.js';
import { findResultInLog, outputsDigest, parseResultReport } from './results.js';
import { ProviderError, shardEnv } from './types.js';
import type { ShardSpec } from './types.js';

const shard: ShardSpec = {
  jobUid: 'u',
  jobNamespace: 'studio',
  jobName: 'j',
  shardIndex: 2,
  image: 'img:1',
  command: ['sh', '-c'],
  args: ['echo "hi"'],
  env: [{ name: 'ATELIER_SHARD_INDEX', value: 'user-set' }, { name: 'A', value: 'b' }],
  gpuCount: 2,
  gpuModels: ['nvidia-a100-80gb', 'nvidia-rtx-4090'],
  outputUri: 's3://o/',
};

describe('money', () => {
  test.each([
    ['2.71', '2.71'],
    [2.71, '2.71'],
    ['1e-7', '0.00'],
    ['0.0000005', '0.000001'],
    ['-1.5', '-1.50'],
    ['1000.000000000000000000', '1000.00'],
  ])('usd(%p) = %s', (input, expected) => {
    expect(usd(input)).toBe(expected);
  });

  test('exact arithmetic never goes through floats', () => {
    expect(usd(mul('0.1', '0.2'))).toBe('0.02');
    expect(compare(mul('0.1', 3), '0.3')).toBe(0);
    expect(toMicros(div(1, 3))).toBe(333_333n);
    expect(toMicros(div(2, 3), 'floor')).toBe(666_666n);
    expect(toMicros(div(2, 3), 'ceil')).toBe(666_667n);
    expect(formatDecimal(div('2500000', '0.6'), 6, 'floor')).toBe('4166666.666666');
    expect(parseUsd('2.50')).toBe(2_500_000n);
    expect(rational('12.500')).toEqual({ n: 25n, d: 2n });
    expect(() => rational('abc')).toThrow(RangeError);
    expect(() => rational(Number.NaN)).toThrow(RangeError);
  });
});

describe('http helpers', () => {
  test('canonical JSON sorts keys recursively, drops undefined, escapes non-ASCII', () => {
    expect(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: undefined }, e: 'é' })).toBe('{"a":{"d":[{"y":2,"z":1}]},"b":1,"e":"\\u00e9"}');
  });

  test('canonical query sorts by key then value', () => {
    expect(canonicalQuery(new URLSearchParams('z=3&a=1&tag=zebra&tag=apple&filter[job_uuid]=x'))).toBe('a=1&filter%5Bjob_uuid%5D=x&tag=apple&tag=zebra&z=3');
  });

  test('Retry-After in seconds or as an HTTP date', () => {
    const now = Date.parse('2026-06-01T00:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3_000);
    expect(parseRetryAfter('Mon, 01 Jun 2026 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });

  test('error detail from the shapes the providers use', () => {
    expect(errorDetail('{"error":"NotFoundError","message":"Deployment not found"}')).toBe('Deployment not found');
    expect(errorDetail('{"detail":[{"loc":["body"],"msg":"Input should be a valid dictionary"}]}')).toBe('Input should be a valid dictionary');
    expect(errorDetail('{"detail":"Job not found"}')).toBe('Job not found');
    expect(errorDetail('<html>bad gateway</html>')).toBe('<html>bad gateway</html>');
  });
});

test('Render signature matches an independently computed HMAC over the documented canonical string', () => {
  const url = new URL('https://api.compute.x.io/v1/jobs?page=1&limit=10');
  const headers = signRequest({ publicKey: 'pk_abc123', secretKey: 'sk' }, { method: 'GET', url, pathname: '/v1/jobs', query: 'limit=10&page=1', body: '' }, 1706918400000, 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6');
  const emptyHash = createHash('sha256').update('').digest('hex');
  expect(emptyHash).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  const expected = createHmac('sha256', 'sk').update(`pk_abc123|1706918400000|a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6|GET|/v1/jobs|limit=10&page=1|${emptyHash}`).digest('hex');
  expect(headers).toEqual({ 'x-api-key': 'pk_abc123', 'x-time': '1706918400000', 'x-nonce': 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6', 'x-signature': expected });
});

describe('result reports', () => {
  const sha = 'a'.repeat(64);
  test('the last well-formed ATELIER_RESULT line wins', () => {
    const report = findResultInLog(['ATELIER_RESULT {"outputs":[]}', 'noise', `2026-06-01T00:00:00Z ATELIER_RESULT {"state":"succeeded","outputs":[{"uri":"s3://o/a","sha256":"${sha.toUpperCase()}"}]}`, 'ATELIER_RESULT {broken']);
    expect(report).toEqual({ state: 'succeeded', outputs: [{ uri: 's3://o/a', sha256: sha }] });
  });

  const signed = {
    jobUid: '7f1c2d9e-0000-4000-8000-000000000001',
    shardIndex: 3,
    resultDigest: '0x' + 'ab'.repeat(32),
    amountClaimed: '1250000',
    chainId: '31337',
    verifyingContract: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
    signature: '0x' + '1b'.repeat(65),
  };

  test('a well-formed signed result is kept, in the log line and in a result object', () => {
    const outputs = [{ uri: 's3://o/a', sha256: sha }];
    expect(parseResultReport({ outputs, signed })).toEqual({ outputs, signed });
    expect(findResultInLog([`ATELIER_RESULT ${JSON.stringify({ state: 'succeeded', outputs, signed })}`])).toEqual({ state: 'succeeded', outputs, signed });
  });

  test.each([
    ['not an object', 'signed'],
    ['shardIndex as a string', { ...signed, shardIndex: '3' }],
    ['negative shardIndex', { ...signed, shardIndex: -1 }],
    ['short signature', { ...signed, signature: '0x' + '1b'.repeat(64) }],
    ['signature without 0x', { ...signed, signature: '1b'.repeat(65) }],
    ['resultDigest without 0x', { ...signed, resultDigest: 'ab'.repeat(32) }],
    ['short address', { ...signed, verifyingContract: '0x5FbDB2315678afecb367f032d93F642f64180a' }],
    ['decimal amount', { ...signed, amountClaimed: '1.25' }],
    ['numeric amount', { ...signed, amountClaimed: 1250000 }],
    ['hex chainId', { ...signed, chainId: '0x7a69' }],
    ['empty jobUid', { ...signed, jobUid: '' }],
    ['missing signature', { ...signed, signature: undefined }],
  ])('a malformed signed result (%s) is dropped, the outputs stand', (_name, bad) => {
    const outputs = [{ uri: 's3://o/a', sha256: sha }];
    expect(parseResultReport({ outputs, signed: bad })).toEqual({ outputs });
  });

  test('malformed reports are refused', () => {
    expect(parseResultReport({ outputs: [{ uri: 's3://x', sha256: 'nothex' }] })).toBeUndefined();
    expect(parseResultReport({ outputs: 'x' })).toBeUndefined();
  });

  test('the digest ignores output order', () => {
    const a = { uri: 's3://o/a', sha256: sha };
    const b = { uri: 's3://o/b', sha256: 'b'.repeat(64) };
    expect(outputsDigest([a, b])).toBe(outputsDigest([b, a]));
    expect(outputsDigest([a])).not.toBe(outputsDigest([b]));
  });

  test('a report names each uri once', () => {
    expect(parseResultReport({ outputs: [{ uri: 's3://o/a', sha256: sha }, { uri: 's3://o/a', sha256: 'b'.repeat(64) }] })).toBeUndefined();
  });

  test.each([
    ['one output', [{ uri: 's3://o/a', sha256: sha }]],
    ['with a cid', [{ uri: 's3://o/a', sha256: sha, cid: 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi' }]],
    ['cid on some, unsorted', [{ uri: 's3://o/c', sha256: 'c'.repeat(64) }, { uri: 's3://o/a', sha256: sha, cid: 'bafy1' }, { uri: 's3://o/B', sha256: 'b'.repeat(64) }]],
    ['upper-case sha256', [{ uri: 's3://o/b', sha256: 'ABCDEF'.repeat(10) + 'ABCD' }, { uri: 's3://o/a', sha256: sha.toUpperCase() }]],
    ['non-ASCII uri', [{ uri: 's3://o/atrium-été.exr', sha256: sha }]],
    ['empty list', []],
  ])('the recorded digest is the settled resultDigest: %s', (_name, outputs) => {
    expect('0x' + outputsDigest(outputs)).toBe(resultDigest(outputs));
  });
});

describe('Akash SDL', () => {
  test('GPU names map to Akash model and memory', () => {
    expect(akashGpu('nvidia-h100')).toEqual({ model: 'h100' });
    expect(akashGpu('nvidia-a100-80gb')).toEqual({ model: 'a100', ram: '80Gi' });
    expect(akashGpu('nvidia-rtx-4090')).toEqual({ model: 'rtx4090' });
  });

  test('user values are quoted, the Atelier env wins over user env; chain-sdk accepts it; its manifest version depends on the key, not the price', async () => {
    const input = { spec: shard, env: shardEnv(shard, 'key-1'), denom: 'uact', amountPerBlock: '1388.888888', exposePort: 8080, cpu: 4, memoryGi: 24, storageGi: 20 };
    const sdl = buildSdl(input);
    expect(sdl).toContain('      - "echo \\"hi\\""');
    expect(sdl).toContain('      - "ATELIER_SHARD_INDEX=2"');
    expect(sdl).not.toContain('user-set');
    expect(sdl).toContain('          units: 2');
    expect(sdl).toContain('                - model: "a100"\n                  ram: "80Gi"');
    expect(sdl).toContain('          amount: "1388.888888"');
    const m = await manifestOf(sdl);
    expect(m.version).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(JSON.parse(m.manifest)[0].services[0].env).toContain('ATELIER_IDEMPOTENCY_KEY=key-1');
    expect(await manifestOf(buildSdl({ ...input, amountPerBlock: '1', denom: 'uakt' }))).toEqual(m);
    expect((await manifestOf(buildSdl({ ...input, env: shardEnv(shard, 'key-2') }))).version).not.toBe(m.version);
    await expect(manifestOf(sdl.replace('units: 2', 'units: -1'))).rejects.toThrow(/Invalid SDL/);
  });
});

describe('factory', () => {
  test('builds each adapter from a credential value', () => {
    expect(createProviderAdapter({ type: 'akash', endpoint: 'http://x', credential: 'k' }).type).toBe('akash');
    expect(createProviderAdapter({ type: 'bittensor', endpoint: 'http://x', credential: 'cpk_1' }).type).toBe('bittensor');
    expect(createProviderAdapter({ type: 'render', endpoint: 'http://x', credential: 'pk_1:sk_2' }).type).toBe('render');
    expect(createProviderAdapter({ type: 'render', endpoint: 'http://x', credential: '{"publicKey":"pk","secretKey":"sk"}' }).type).toBe('render');
  });

  test('bad credentials fail as auth without quoting them', () => {
    const err = (() => {
      try {
        createProviderAdapter({ type: 'render', endpoint: 'http://x', credential: 'only-a-secret-value' });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ kind: 'auth' });
    expect((err as Error).message).not.toContain('only-a-secret-value');
  });
});
