// When a running remote shard is looked at again (runningPollMs): every poll interval at first, then
// an eighth of its run time so far, at most 30 s, and never past its maxDuration.
import { runningPollMs } from './remote.js';

test.each([
  // [poll interval, ran so far, maxDuration (0: none), next look]
  [5000, 0, 0, 5000],
  [5000, 20_000, 0, 5000],
  [5000, 80_000, 0, 10_000],
  [5000, 600_000, 0, 30_000],
  [5000, 3_600_000, 0, 30_000],
  [5000, 590_000, 600_000, 10_001], // ten seconds before its limit: looked at right after it
  [5000, 599_000, 600_000, 5000], // never sooner than the poll interval
  [60_000, 600_000, 0, 60_000], // a longer configured interval stays the floor
])('interval %i ms, ran %i ms, limit %i ms: next look in %i ms', (poll, ran, limit, want) => {
  expect(runningPollMs(poll, ran, limit)).toBe(want);
});
