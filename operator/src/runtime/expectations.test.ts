// Expectations: pending until observed, independent per owner, expire after the TTL.
import { FakeClock } from './clock.js';
import { Expectations } from './expectations.js';

describe('Expectations', () => {
  it('keeps creates and deletes pending until observed', () => {
    const ex = new Expectations({ clock: new FakeClock() });
    expect(ex.satisfied('ns/job')).toBe(true);
    ex.expectCreate('ns/job', 'job-0');
    ex.expectCreate('ns/job', 'job-1');
    ex.expectDelete('ns/job', 'job-9');
    expect(ex.pending('ns/job')).toEqual({ creates: ['job-0', 'job-1'], deletes: ['job-9'] });
    ex.observeCreate('ns/job', 'job-0');
    ex.observeCreate('ns/job', 'unrelated');
    ex.observeDelete('ns/job', 'job-9');
    expect(ex.pending('ns/job')).toEqual({ creates: ['job-1'], deletes: [] });
    expect(ex.satisfied('ns/job')).toBe(false);
    ex.observeCreate('ns/job', 'job-1');
    expect(ex.satisfied('ns/job')).toBe(true);
    expect(ex.size()).toBe(0);
  });

  it('keeps owners apart', () => {
    const ex = new Expectations({ clock: new FakeClock() });
    ex.expectCreate('a/job', 'p');
    ex.observeCreate('b/job', 'p');
    expect(ex.pending('a/job').creates).toEqual(['p']);
    expect(ex.satisfied('b/job')).toBe(true);
    ex.deleteOwner('a/job');
    expect(ex.satisfied('a/job')).toBe(true);
  });

  it('expires unobserved expectations after the TTL', () => {
    const clock = new FakeClock();
    const expired: string[] = [];
    const ex = new Expectations({ clock, ttlMs: 60_000, onExpired: (o, k, n) => expired.push(`${o} ${k} ${n}`) });
    ex.expectCreate('ns/job', 'old');
    clock.advance(30_000);
    ex.expectDelete('ns/job', 'newer');
    clock.advance(29_999);
    expect(ex.pending('ns/job')).toEqual({ creates: ['old'], deletes: ['newer'] });
    clock.advance(1);
    expect(ex.pending('ns/job')).toEqual({ creates: [], deletes: ['newer'] });
    expect(expired).toEqual(['ns/job create old']);
    clock.advance(30_000);
    expect(ex.satisfied('ns/job')).toBe(true);
    expect(ex.size()).toBe(0);
  });

  it('re-expecting a name restarts its TTL', () => {
    const clock = new FakeClock();
    const ex = new Expectations({ clock, ttlMs: 1000 });
    ex.expectCreate('o', 'p');
    clock.advance(900);
    ex.expectCreate('o', 'p');
    clock.advance(900);
    expect(ex.pending('o').creates).toEqual(['p']);
  });
});
