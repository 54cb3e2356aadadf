import { costOfGpuMillis, formatMicros, parseMicros, parseMicrosOr } from './money.js';

test.each([
  ['2.50', 2_500_000n],
  ['0', 0n],
  ['500.00', 500_000_000n],
  ['0.000001', 1n],
  ['-1.5', -1_500_000n],
])('parseMicros(%s)', (s, want) => expect(parseMicros(s)).toBe(want));

test.each(['', '1.', '.5', '1.2345678', 'abc', '1e3', '1,5'])('parseMicros rejects %j', (s) => {
  expect(() => parseMicros(s)).toThrow(/decimal amount/);
});

test.each([
  [2_500_000n, '2.50'],
  [0n, '0.00'],
  [125n, '0.000125'],
  [-1_500_000n, '-1.50'],
  [123_456_789n, '123.456789'],
])('formatMicros(%s)', (m, want) => expect(formatMicros(m)).toBe(want));

test('costOfGpuMillis: one GPU-hour at 2.50 costs 2.50; 90 GPU-seconds cost 0.0625', () => {
  expect(costOfGpuMillis(3_600_000n, 2_500_000n)).toBe(2_500_000n);
  expect(costOfGpuMillis(90_000n, 2_500_000n)).toBe(62_500n);
  // rounding half up at the micro-dollar
  expect(costOfGpuMillis(1n, 1_800_000n)).toBe(1n);
  expect(costOfGpuMillis(1n, 1_799_999n)).toBe(0n);
});

describe('parseMicrosOr', () => {
  it('parses what parses and falls back on absent or unreadable values', () => {
    expect(parseMicrosOr('1.25', 0n)).toBe(1_250_000n);
    expect(parseMicrosOr(undefined, 0n)).toBe(0n);
    expect(parseMicrosOr('', undefined)).toBeUndefined();
    expect(parseMicrosOr('1.2345678', undefined)).toBeUndefined();
    expect(parseMicrosOr('abc', 7n)).toBe(7n);
  });
});
