// Period boundaries in UTC, table-driven: day starts, Monday week starts (across month and year
// ends), calendar months of 28, 29, 30 and 31 days.
import { describe, expect, it } from '@jest/globals';
import { periodWindow, type BudgetPeriod } from './period.js';

const iso = (ms: number) => new Date(ms).toISOString();

describe('periodWindow', () => {
  const cases: [BudgetPeriod, string, string, string][] = [
    ['Day', '2026-12-06T00:16:40Z', '2026-12-06T00:00:00.000Z', '2026-12-07T00:00:00.000Z'],
    ['Day', '2026-12-31T23:59:59.999Z', '2026-12-31T00:00:00.000Z', '2027-01-01T00:00:00.000Z'],
    ['Day', '2026-03-01T00:00:00Z', '2026-03-01T00:00:00.000Z', '2026-03-02T00:00:00.000Z'],
    // 2026-12-06 is a Sunday: its week began on Monday 2026-11-30.
    ['Week', '2026-12-06T23:00:00Z', '2026-11-30T00:00:00.000Z', '2026-12-07T00:00:00.000Z'],
    ['Week', '2026-12-07T00:00:00Z', '2026-12-07T00:00:00.000Z', '2026-12-14T00:00:00.000Z'],
    ['Week', '2026-12-02T12:00:00Z', '2026-11-30T00:00:00.000Z', '2026-12-07T00:00:00.000Z'],
    // Across a year end: Thursday 2027-01-01 belongs to the week of Monday 2026-12-28.
    ['Week', '2027-01-01T08:00:00Z', '2026-12-28T00:00:00.000Z', '2027-01-04T00:00:00.000Z'],
    ['Month', '2026-12-06T00:16:40Z', '2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z'],
    ['Month', '2026-02-28T23:59:59Z', '2026-02-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z'],
    ['Month', '2028-02-29T12:00:00Z', '2028-02-01T00:00:00.000Z', '2028-03-01T00:00:00.000Z'],
    ['Month', '2026-04-30T23:59:59.999Z', '2026-04-01T00:00:00.000Z', '2026-05-01T00:00:00.000Z'],
    ['Month', '2026-05-01T00:00:00Z', '2026-05-01T00:00:00.000Z', '2026-06-01T00:00:00.000Z'],
    ['Month', '2026-01-31T10:00:00Z', '2026-01-01T00:00:00.000Z', '2026-02-01T00:00:00.000Z'],
  ];
  it.each(cases)('%s containing %s starts %s and resets %s', (period, now, start, end) => {
    const w = periodWindow(period, Date.parse(now));
    expect([iso(w.start), iso(w.end)]).toEqual([start, end]);
    expect(w.start).toBeLessThanOrEqual(Date.parse(now));
    expect(w.end).toBeGreaterThan(Date.parse(now));
  });

  it('rejects an unknown period', () => {
    expect(() => periodWindow('Year' as BudgetPeriod, 0)).toThrow(/Day, Week or Month/);
  });
});
