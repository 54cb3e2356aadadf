import { parseConfig } from './config.js';

test('defaults', () => {
  const c = parseConfig([], {}, 'host');
  expect(c).toMatchObject({ namespaces: [], metricsAddr: '0.0.0.0:8080', leaderElect: true, leaseNamespace: 'atelier-system', workers: 32, localPricePerGpuHour: '0.00', retryBaseMs: 10_000 });
  expect(c.identity).toMatch(/^host_\d+_/);
});

test('flags beat environment; namespaces split on commas', () => {
  const c = parseConfig(['--namespace', 'a,b', '--namespace', 'c', '--workers', '4', '--leader-elect', 'false'], { ATELIER_WORKERS: '16', ATELIER_NAMESPACES: 'x' }, 'h');
  expect(c.namespaces).toEqual(['a', 'b', 'c']);
  expect(c.workers).toBe(4);
  expect(c.leaderElect).toBe(false);
});

test.each([
  [['--workers', '0'], /--workers must be an integer in 1..256/],
  [['--local-gpu-hour-price', '1,20'], /--local-gpu-hour-price must be a decimal/],
  [['--leader-elect', 'maybe'], /--leader-elect must be true or false/],
  [['--metrics-addr', 'nowhere'], /--metrics-addr must be HOST:PORT/],
  [['--bogus'], /Unknown option '--bogus'/],
])('bad input %j is a clear error', (argv, msg) => {
  expect(() => parseConfig(argv as string[], {}, 'h')).toThrow(msg);
});

test('payout key Secret: flag or environment, key defaults to privateKey; unset means no signing', () => {
  expect(parseConfig([], {}, 'h').payoutKeySecret).toBeUndefined();
  expect(parseConfig(['--payout-key-secret', 'atelier-system/payout'], {}, 'h').payoutKeySecret).toEqual({ namespace: 'atelier-system', name: 'payout', key: 'privateKey' });
  expect(parseConfig([], { ATELIER_PAYOUT_KEY_SECRET: 'ns/wallet', ATELIER_PAYOUT_KEY_SECRET_KEY: 'key.hex' }, 'h').payoutKeySecret).toEqual({ namespace: 'ns', name: 'wallet', key: 'key.hex' });
  expect(parseConfig(['--payout-key-secret', 'a/b', '--payout-key-secret-key', 'k'], { ATELIER_PAYOUT_KEY_SECRET: 'x/y' }, 'h').payoutKeySecret).toEqual({ namespace: 'a', name: 'b', key: 'k' });
});

test.each([
  [['--payout-key-secret', 'payout'], /--payout-key-secret must be NAMESPACE\/NAME/],
  [['--payout-key-secret', 'ns/Payout'], /--payout-key-secret must be NAMESPACE\/NAME/],
  [['--payout-key-secret', 'ns/p', '--payout-key-secret-key', 'a/b'], /--payout-key-secret-key must be a Secret key/],
  [['--payout-key-secret-key', 'k'], /--payout-key-secret-key needs --payout-key-secret/],
])('bad payout key Secret %j is a clear error', (argv, msg) => {
  expect(() => parseConfig(argv as string[], {}, 'h')).toThrow(msg);
});
