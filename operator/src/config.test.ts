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
