// The circuit breaker: consecutive failures and error rate open it, the cool-down turns it half-open,
// one probe closes it or reopens it for longer. Time is passed in (FakeClock values).
import { FakeClock } from '../../runtime/clock.js';
import { CircuitBreaker, DEFAULT_BREAKER } from './breaker.js';

const COOL = DEFAULT_BREAKER.coolDownMs;

describe('CircuitBreaker', () => {
  test.each([
    { name: 'three failures in a row open it', outcomes: 'FFF', state: 'Open', transitions: [undefined, undefined, 'Opened'] },
    { name: 'a success resets the run', outcomes: 'FFSFF', state: 'Closed', transitions: [undefined, undefined, undefined, undefined, undefined] },
    { name: 'an error rate of 50% over 10 outcomes opens it', outcomes: 'FSFSFSFSFS'.slice(0, 9) + 'F', state: 'Open' },
    { name: 'an error rate below the threshold keeps it closed', outcomes: 'FSSFSSFSSFSS', state: 'Closed' },
  ])('$name', ({ outcomes, state, transitions }) => {
    const clock = new FakeClock();
    const b = new CircuitBreaker();
    const got = [...outcomes].map((o) => { const t = b.record(o === 'S', clock.now(), o === 'F' ? 'boom' : undefined); clock.advance(1000); return t; });
    expect(b.state(clock.now())).toBe(state);
    if (transitions) expect(got).toEqual(transitions);
    expect(b.allowsWork(clock.now())).toBe(state === 'Closed');
  });

  test('open: no work, no probe; after the cool-down one half-open probe decides', () => {
    const clock = new FakeClock();
    const b = new CircuitBreaker();
    for (let i = 0; i < 3; i++) b.record(false, clock.now(), 'HTTP 503');
    expect(b.snapshot(clock.now())).toMatchObject({ state: 'Open', consecutiveFailures: 3, openUntil: clock.now() + COOL, openReason: '3 failures in a row; last: HTTP 503' });
    expect(b.allowsProbe(clock.now())).toBe(false);
    clock.advance(COOL - 1);
    expect(b.state(clock.now())).toBe('Open');
    clock.advance(1);
    expect(b.state(clock.now())).toBe('HalfOpen');
    expect(b.allowsProbe(clock.now())).toBe(true);
    expect(b.allowsWork(clock.now())).toBe(false);
    expect(b.record(true, clock.now())).toBe('Closed');
    expect(b.snapshot(clock.now())).toEqual({ state: 'Closed', consecutiveFailures: 0, errorRate: 0, reliability: 1, samples: 0 });
  });

  test('a failed half-open probe reopens it for twice as long, capped', () => {
    const clock = new FakeClock();
    const b = new CircuitBreaker({ coolDownMs: 1000, maxCoolDownMs: 3000 });
    for (let i = 0; i < 3; i++) b.record(false, clock.now());
    const periods: number[] = [];
    for (let i = 0; i < 4; i++) {
      const until = b.snapshot(clock.now()).openUntil!;
      periods.push(until - clock.now());
      clock.advance(until - clock.now());
      expect(b.record(false, clock.now(), 'still down')).toBe('Reopened');
    }
    expect(periods).toEqual([1000, 2000, 3000, 3000]);
    clock.advance(3000);
    expect(b.record(true, clock.now())).toBe('Closed');
    for (let i = 0; i < 3; i++) b.record(false, clock.now());
    expect(b.snapshot(clock.now()).openUntil! - clock.now()).toBe(1000); // back to the first cool-down
  });

  test('outcomes arriving while open change the counts, not the state', () => {
    const b = new CircuitBreaker();
    for (let i = 0; i < 3; i++) b.record(false, 0);
    expect(b.record(true, 10)).toBeUndefined();
    expect(b.record(false, 20)).toBeUndefined();
    expect(b.state(30)).toBe('Open');
  });

  test('restore: failures in a row and an open breaker survive a restart', () => {
    const b = new CircuitBreaker();
    b.restore({ consecutiveFailures: 4, openedAt: 1000, reason: 'before restart' });
    expect(b.snapshot(2000)).toMatchObject({ state: 'Open', consecutiveFailures: 4, openUntil: 1000 + COOL });
    expect(b.state(1000 + COOL)).toBe('HalfOpen');
  });

  test('reliability is the success ratio over the window', () => {
    const b = new CircuitBreaker({ windowSize: 4, failureThreshold: 99, minSamples: 99 });
    for (const ok of [false, true, true, true, true]) b.record(ok, 0);
    expect(b.snapshot(0)).toMatchObject({ samples: 4, errorRate: 0, reliability: 1 });
    b.record(false, 0);
    expect(b.snapshot(0).reliability).toBe(0.75);
  });
});
