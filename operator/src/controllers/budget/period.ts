// A RenderBudget's period boundaries, in UTC: a Day from 00:00, a Week from Monday 00:00, a Month
// from the 1st 00:00 of the calendar month. Pure (the instant is passed in), so the budget
// controller, the ledger and `atelier plan` agree on when a period starts and when it resets.
export type BudgetPeriod = 'Day' | 'Week' | 'Month';

export interface PeriodWindow {
  /** Epoch ms of the period's first instant. */
  start: number;
  /** Epoch ms of the next period's first instant: when the budget resets. */
  end: number;
}

const DAY_MS = 86_400_000;

/** The period of kind `period` that contains the instant `now` (epoch ms). */
export function periodWindow(period: BudgetPeriod, now: number): PeriodWindow {
  const d = new Date(now);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  const dayStart = Date.UTC(y, m, d.getUTCDate());
  switch (period) {
    case 'Day':
      return { start: dayStart, end: dayStart + DAY_MS };
    case 'Week': {
      // getUTCDay: Sunday 0 … Saturday 6; weeks start on Monday (ISO 8601).
      const sinceMonday = (d.getUTCDay() + 6) % 7;
      const start = dayStart - sinceMonday * DAY_MS;
      return { start, end: start + 7 * DAY_MS };
    }
    case 'Month':
      return { start: Date.UTC(y, m, 1), end: Date.UTC(y, m + 1, 1) };
    default:
      throw new Error(`period must be Day, Week or Month, not ${JSON.stringify(period)}`);
  }
}
