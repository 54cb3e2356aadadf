// Graceful shutdown on SIGTERM/SIGINT: run the registered steps in order within one overall budget
// (typically: stop controllers, which stops handing out keys and waits for in-flight reconciles;
// then release the leader Lease; then stop informers and close the HTTP server), then exit.
// A step that overruns its share of the budget is abandoned (its signal aborts) and marks the
// shutdown unclean; steps flagged `onlyIfClean` (releasing the Lease) are then skipped, because a
// reconcile may still be running and a successor must not start until the Lease expires. Exit code:
// 0 after a clean shutdown, 1 otherwise. A second signal exits at once with 1.
import { type Clock, realClock } from './clock.js';
import { errorMessage } from './errors.js';
import { type Log, nopLog } from './logger.js';

export interface ShutdownStep {
  name: string;
  /** Should finish before the signal aborts (the remaining budget). */
  run: (signal: AbortSignal) => unknown;
  /** Skip this step if an earlier one failed or overran (e.g. releasing the Lease). */
  onlyIfClean?: boolean;
}

export interface GracefulShutdownOptions {
  /** Overall budget for all steps; default 30 s (Kubernetes' default grace period). */
  timeoutMs?: number;
  signals?: NodeJS.Signals[];
  /** Default process.exit; tests inject their own. */
  exit?: (code: number) => void;
  /** Where signals come from; default process. */
  emitter?: Pick<NodeJS.EventEmitter, 'on' | 'off'>;
  clock?: Clock;
  logger?: Log;
}

export class GracefulShutdown {
  private readonly steps: ShutdownStep[] = [];
  private readonly opts: GracefulShutdownOptions;
  private readonly log: Log;
  private readonly clock: Clock;
  private readonly controller = new AbortController();
  private running: Promise<number> | undefined;
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    if (this.running) {
      this.log.warn('second signal, exiting now', { signal: sig });
      this.exit(1);
      return;
    }
    void this.shutdown(`signal ${sig}`);
  };

  constructor(options: GracefulShutdownOptions = {}) {
    this.opts = options;
    this.log = options.logger ?? nopLog;
    this.clock = options.clock ?? realClock;
  }

  /** Aborts when shutdown begins: long-running loops can watch it to stop accepting work. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Appends a step; steps run in the order added. */
  add(step: ShutdownStep): this {
    this.steps.push(step);
    return this;
  }

  /** Listens for the signals. */
  install(): this {
    const em = this.opts.emitter ?? process;
    for (const s of this.opts.signals ?? ['SIGTERM', 'SIGINT']) em.on(s, this.onSignal);
    return this;
  }

  uninstall(): void {
    const em = this.opts.emitter ?? process;
    for (const s of this.opts.signals ?? ['SIGTERM', 'SIGINT']) em.off(s, this.onSignal);
  }

  /** Runs the steps (once; later calls get the same result), then exits. Resolves with the exit code. */
  shutdown(reason: string): Promise<number> {
    this.running ??= this.runSteps(reason).then((code) => {
      this.exit(code);
      return code;
    });
    return this.running;
  }

  private async runSteps(reason: string): Promise<number> {
    const budget = this.opts.timeoutMs ?? 30_000;
    const deadline = this.clock.now() + budget;
    this.log.info('shutting down', { reason, timeoutMs: budget });
    this.controller.abort(new Error(`shutting down: ${reason}`));
    let clean = true;
    for (const step of this.steps) {
      if (step.onlyIfClean && !clean) {
        this.log.warn('shutdown step skipped after an unclean step', { step: step.name });
        continue;
      }
      const remaining = Math.max(0, deadline - this.clock.now());
      const stepAbort = new AbortController();
      const timer = this.clock.setTimer(remaining, () => stepAbort.abort(new Error('shutdown budget exhausted')));
      try {
        const outcome = await Promise.race([
          Promise.resolve().then(() => step.run(stepAbort.signal)).then((v) => (v === false ? 'failed' : 'ok')),
          new Promise<'timeout'>((resolve) => stepAbort.signal.addEventListener('abort', () => resolve('timeout'), { once: true })),
        ]);
        if (outcome !== 'ok') {
          clean = false;
          this.log.warn('shutdown step did not finish cleanly', { step: step.name, outcome });
        }
      } catch (err) {
        clean = false;
        this.log.error('shutdown step failed', { step: step.name, error: errorMessage(err) });
      } finally {
        timer.cancel();
      }
    }
    this.uninstall();
    this.log.info('shutdown complete', { clean });
    return clean ? 0 : 1;
  }

  private exit(code: number): void {
    (this.opts.exit ?? ((c: number) => process.exit(c)))(code);
  }
}
