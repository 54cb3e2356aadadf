// GracefulShutdown: steps in order on a signal, the budget, skipping the lease release after an
// unclean step, exit codes, a second signal.
import { EventEmitter } from 'node:events';
import { FakeClock, flushMicrotasks } from './clock.js';
import { Controller } from './controller.js';
import { GracefulShutdown } from './signals.js';

describe('GracefulShutdown', () => {
  it('runs steps in order on SIGTERM and exits 0', async () => {
    const emitter = new EventEmitter();
    const exits: number[] = [];
    const order: string[] = [];
    const gs = new GracefulShutdown({ emitter, exit: (c) => exits.push(c), clock: new FakeClock() })
      .add({ name: 'controllers', run: async () => { await flushMicrotasks(); order.push('controllers'); } })
      .add({ name: 'lease', onlyIfClean: true, run: () => { order.push('lease'); } })
      .add({ name: 'server', run: () => { order.push('server'); } })
      .install();
    emitter.emit('SIGTERM', 'SIGTERM');
    expect(gs.signal.aborted).toBe(true);
    await expect(gs.shutdown('again')).resolves.toBe(0);
    expect(order).toEqual(['controllers', 'lease', 'server']);
    expect(exits).toEqual([0]);
    expect(emitter.listenerCount('SIGTERM')).toBe(0);
  });

  it('abandons a step that overruns, skips the lease release, exits 1', async () => {
    const clock = new FakeClock();
    const exits: number[] = [];
    const order: string[] = [];
    let stepSignal: AbortSignal | undefined;
    const gs = new GracefulShutdown({ exit: (c) => exits.push(c), clock, timeoutMs: 10_000, emitter: new EventEmitter() })
      .add({ name: 'controllers', run: (s) => { stepSignal = s; return new Promise(() => undefined); } })
      .add({ name: 'lease', onlyIfClean: true, run: () => { order.push('lease'); } })
      .add({ name: 'server', run: () => { order.push('server'); } });
    const done = gs.shutdown('test');
    await flushMicrotasks();
    clock.advance(10_000);
    await expect(done).resolves.toBe(1);
    expect(stepSignal?.aborted).toBe(true);
    expect(order).toEqual(['server']);
    expect(exits).toEqual([1]);
  });

  it('treats a step returning false or throwing as unclean', async () => {
    const exits: number[] = [];
    const gs = new GracefulShutdown({ exit: (c) => exits.push(c), clock: new FakeClock(), emitter: new EventEmitter() })
      .add({ name: 'drain', run: () => false })
      .add({ name: 'boom', run: () => { throw new Error('x'); } });
    await expect(gs.shutdown('test')).resolves.toBe(1);
  });

  it('exits at once on a second signal', async () => {
    const emitter = new EventEmitter();
    const exits: number[] = [];
    const gs = new GracefulShutdown({ emitter, exit: (c) => exits.push(c), clock: new FakeClock() })
      .add({ name: 'slow', run: () => new Promise(() => undefined) })
      .install();
    emitter.emit('SIGINT', 'SIGINT');
    emitter.emit('SIGINT', 'SIGINT');
    expect(exits).toEqual([1]);
    gs.uninstall();
  });

  it('composes with a Controller: in-flight reconciles finish before the lease step', async () => {
    const order: string[] = [];
    let release!: () => void;
    const c = new Controller({
      name: 'c',
      reconcile: async () => {
        await new Promise<void>((r) => (release = r));
        order.push('reconciled');
      },
    });
    void c.start();
    c.enqueue('a');
    await flushMicrotasks();
    const gs = new GracefulShutdown({ exit: () => undefined, emitter: new EventEmitter() })
      .add({ name: 'controllers', run: () => c.stop(5000) })
      .add({ name: 'lease', onlyIfClean: true, run: () => { order.push('lease released'); } });
    const done = gs.shutdown('test');
    await flushMicrotasks();
    release();
    await expect(done).resolves.toBe(0);
    expect(order).toEqual(['reconciled', 'lease released']);
  });
});
