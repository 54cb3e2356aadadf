// The index-set format of status.shardSets (that of an Indexed Job's completedIndexes).
import { formatIndexSet, parseIndexSet } from './indexset.js';

test.each([
  [[], ''],
  [[3], '3'],
  [[0, 1, 2, 3, 7, 9, 10], '0-3,7,9-10'],
  [[10, 2, 1, 2, 0], '0-2,10'],
])('formats %j as %j and reads it back', (indexes, text) => {
  expect(formatIndexSet(indexes)).toBe(text);
  expect([...parseIndexSet(text)].sort((a, b) => a - b)).toEqual([...new Set(indexes)].sort((a, b) => a - b));
});

test('100,000 shards done in order are one range', () => {
  expect(formatIndexSet(Array.from({ length: 100_000 }, (_, i) => i))).toBe('0-99999');
});

test.each(['1,', 'a', '3-1', '1--2', ' 1'])('refuses %j', (text) => {
  expect(() => parseIndexSet(text)).toThrow(/malformed/);
});
