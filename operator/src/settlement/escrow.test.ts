// Unit tests for the parts of the escrow client that need no chain: escrow ids (deterministic,
// domain-separated, pinned so that a change of scheme is a deliberate one), decimal-string amounts
// and error classification. The client's chain behaviour is tested in test/settlement against anvil.
import { describe, expect, it } from '@jest/globals';
import { Interface } from 'ethers';
import { SettlementError, classifyError, errorInterface } from './errors.js';
import { escrowIdFor, fromUnits, toUnits } from './escrow.js';

describe('escrowIdFor', () => {
  const uid = '3f1c9a52-8d2e-4b7a-9c11-0e5d7f2a6b90';

  it('is pinned: keccak256(abi.encode("atelier.escrow.v1", jobUid, provider))', () => {
    expect(escrowIdFor(uid, 'studio-b')).toBe('0x9164e1c96c659bd84336c476dbd09bc0f8d8ccc0f20ecbb774efd6de98274ee3');
  });

  it('is deterministic and distinct per job and per provider', () => {
    expect(escrowIdFor(uid, 'studio-b')).toBe(escrowIdFor(uid, 'studio-b'));
    const ids = new Set([escrowIdFor(uid, 'studio-b'), escrowIdFor(uid, 'akash'), escrowIdFor('other-uid', 'studio-b'), escrowIdFor('studio-b', uid)]);
    expect(ids.size).toBe(4);
  });

  it.each([
    ['ab', 'c', 'a', 'bc'],
    ['a', 'b|c', 'a|b', 'c'],
  ])('does not confuse (%s, %s) with (%s, %s)', (j1, p1, j2, p2) => {
    expect(escrowIdFor(j1, p1)).not.toBe(escrowIdFor(j2, p2));
  });

  it('returns a bytes32 and rejects empty parts', () => {
    expect(escrowIdFor(uid, 'x')).toMatch(/^0x[0-9a-f]{64}$/);
    expect(() => escrowIdFor('', 'x')).toThrow(SettlementError);
    expect(() => escrowIdFor(uid, '')).toThrow(SettlementError);
  });
});

describe('toUnits / fromUnits', () => {
  it.each<[string, number, bigint]>([
    ['12.34', 6, 12_340_000n],
    ['0', 6, 0n],
    ['0.000001', 6, 1n],
    ['500.00', 6, 500_000_000n],
    ['2.50', 6, 2_500_000n],
    ['0.1', 6, 100_000n], // 0.1 is not a binary float: no 99999
    ['1.5', 18, 1_500_000_000_000_000_000n],
    ['123456789012345678901234567890', 6, 123456789012345678901234567890000000n],
    ['7', 0, 7n],
  ])('%s with %d decimals is %d units', (s, d, u) => {
    expect(toUnits(s, d)).toBe(u);
  });

  it.each([['1.1234567', 6], ['0.5', 0], ['-1', 6], ['1e3', 6], [' 1', 6], ['', 6], ['1.', 6], ['.5', 6], ['1,5', 6], ['0x10', 6], ['NaN', 6]])(
    'rejects %j with %d decimals',
    (s, d) => {
      expect(() => toUnits(s as string, d as number)).toThrow(expect.objectContaining({ kind: 'other', code: 'INVALID_AMOUNT' }));
    },
  );

  it('rejects numbers, so floats never get in', () => {
    expect(() => toUnits(12.34 as unknown as string, 6)).toThrow(SettlementError);
  });

  it.each<[bigint, number, string]>([
    [12_340_000n, 6, '12.34'],
    [1n, 6, '0.000001'],
    [5_000_000n, 6, '5'],
    [0n, 6, '0'],
  ])('%d units with %d decimals is %s', (u, d, s) => {
    expect(fromUnits(u, d)).toBe(s);
    expect(toUnits(fromUnits(u, d), d)).toBe(u);
  });
});

describe('classifyError', () => {
  const errors = errorInterface(['error EscrowNotOpen(bytes32 escrowId, uint8 state)'], ['error EscrowNotOpen(bytes32 escrowId, uint8 state)']);
  const data = new Interface(['error EscrowNotOpen(bytes32 escrowId, uint8 state)']).encodeErrorResult('EscrowNotOpen', ['0x' + '11'.repeat(32), 2]);

  it('decodes a custom error from a call exception', () => {
    const c = classifyError({ code: 'CALL_EXCEPTION', data, message: 'execution reverted' }, errors);
    expect(c).toMatchObject({ kind: 'reverted', reason: 'EscrowNotOpen', args: ['0x' + '11'.repeat(32), 2n] });
  });

  it('finds revert data nested in an RPC error', () => {
    const c = classifyError({ code: 'UNKNOWN_ERROR', message: 'could not coalesce', info: { error: { code: 3, message: 'execution reverted', data } } }, errors);
    expect(c).toMatchObject({ kind: 'reverted', reason: 'EscrowNotOpen' });
  });

  it('keeps an undecodable revert a revert', () => {
    expect(classifyError({ code: 'CALL_EXCEPTION', data: '0xdeadbeef' }, errors)).toMatchObject({ kind: 'reverted', reason: undefined });
  });

  it.each([
    [{ code: 'ECONNREFUSED' }],
    [new Error('fetch failed', { cause: { code: 'ECONNRESET' } })],
    [{ code: 'TIMEOUT', message: 'timeout' }],
    [{ code: 'SERVER_ERROR', message: 'bad response 502' }],
  ])('calls %j unreachable', (err) => {
    expect(classifyError(err).kind).toBe('unreachable');
  });

  it('calls the rest other, with a short message', () => {
    const c = classifyError({ code: 'NONCE_EXPIRED', shortMessage: 'nonce has already been used', message: 'x'.repeat(5000) });
    expect(c).toMatchObject({ kind: 'other', message: 'nonce has already been used (NONCE_EXPIRED)' });
  });

  it('passes a SettlementError through unchanged', () => {
    const e = new SettlementError('other', 'x', { code: 'TX_PENDING' });
    expect(classifyError(e)).toBe(e);
  });
});
