// Logger: JSON lines with message and fields, level filtering, and redaction of secret-looking
// fields at any depth without touching the caller's objects.
import { PassThrough } from 'node:stream';
import { createLogger, redact, REDACTED } from './logger.js';

function capture(level = 'info') {
  const stream = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  stream.on('data', (chunk: Buffer) => {
    for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l));
  });
  return { logger: createLogger({ level, stream, component: 'test' }), lines };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('createLogger', () => {
  it('writes a fixed message plus fields as JSON', async () => {
    const { logger, lines } = capture();
    logger.info('reconciled', { key: 'studio/sweep', shards: 4 });
    await settle();
    expect(lines).toEqual([
      expect.objectContaining({ level: 'info', message: 'reconciled', key: 'studio/sweep', shards: 4, component: 'test', timestamp: expect.any(String) }),
    ]);
  });

  it('filters by level', async () => {
    const { logger, lines } = capture('warn');
    logger.info('hidden');
    logger.debug('hidden');
    logger.warn('shown');
    await settle();
    expect(lines.map((l) => l.message)).toEqual(['shown']);
  });

  it('redacts secret-looking fields at any depth', async () => {
    const { logger, lines } = capture();
    const fields = {
      apiKey: 'sk-live-123',
      provider: { name: 'akash', credentials: { accessToken: 'tok', password: 'pw', nested: [{ privateKey: '0xabc', note: 'ok' }] } },
      wallet: { mnemonic: 'abandon abandon', address: '0x1234' },
      secretRef: { name: 'akash-api' },
      key: 'studio/sweep',
    };
    logger.info('provider configured', fields);
    await settle();
    const line = lines[0]!;
    expect(line.apiKey).toBe(REDACTED);
    expect(line.provider).toEqual({ name: 'akash', credentials: { accessToken: REDACTED, password: REDACTED, nested: [{ privateKey: REDACTED, note: 'ok' }] } });
    expect(line.wallet).toEqual({ mnemonic: REDACTED, address: '0x1234' });
    expect(line.secretRef).toBe(REDACTED);
    expect(line.key).toBe('studio/sweep');
    expect(JSON.stringify(line)).not.toMatch(/sk-live|tok"|pw"|0xabc|abandon/);
    // The caller's object is untouched.
    expect(fields.provider.credentials.accessToken).toBe('tok');
  });

  it('keeps errors readable', async () => {
    const { logger, lines } = capture();
    logger.error('failed', { error: Object.assign(new Error('boom'), { code: 500, token: 'x' }) });
    await settle();
    expect(lines[0]!.error).toMatchObject({ name: 'Error', message: 'boom', code: 500, token: REDACTED });
  });
});

describe('redact', () => {
  it('returns the same object when nothing needs redacting and survives cycles', () => {
    const plain = { a: 1, b: { c: [1, 2] } };
    expect(redact(plain)).toBe(plain);
    const cyclic: Record<string, unknown> = { name: 'x' };
    cyclic.self = cyclic;
    expect(redact(cyclic)).toEqual({ name: 'x', self: '[Circular]' });
    expect(redact({ Token: 'x', tokens: ['a'], KEY: 1 })).toEqual({ Token: REDACTED, tokens: REDACTED, KEY: REDACTED });
  });
});
