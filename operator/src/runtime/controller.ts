// The reconcile loop: N workers pull keys from a WorkQueue and call reconcile(key). What happens next
// is decided here, once, for every controller (controller-runtime's policy): success forgets the
// key's backoff; `requeueAfter` schedules timed work; `requeue` retries with backoff; a thrown
// TerminalError is reported and not retried; any other error backs off per key. The queue already
// guarantees one worker per key. Also: helpers that turn informer events into queue keys.
import { type Clock, realClock } from './clock.js';
import { errorMessage, isConflict, isTerminal, TerminalError } from './errors.js';
import { type ObjectWithMeta, objectKey } from './keys.js';
import { type Log, nopLog } from './logger.js';
import { type QueueMetrics, type RateLimiter, WorkQueue, type ExponentialBackoffOptions } from './workqueue.js';

export { TerminalError };

export interface ReconcileResult {
  /** Reconcile again after this many ms (timed work: deadlines, polling a provider). */
  requeueAfter?: number;
  /** Reconcile again after the key's backoff delay. */
  requeue?: boolean;
}

/** Reconciles the object named by key ("namespace/name" or "name"); signal aborts on forced shutdown. */
export type ReconcileFn = (key: string, signal: AbortSignal) => Promise<ReconcileResult | void> | ReconcileResult | void;

export type ReconcileOutcome = 'success' | 'requeue' | 'error' | 'terminal';

export interface ReconcileErrorInfo {
  key: string;
  error: unknown;
  /** TerminalError: not retried. */
  terminal: boolean;
  /** Failures in a row for this key, including this one (0 for terminal). */
  retries: number;
}

/** Optional hook per reconcile, e.g. a prom-client counter and histogram (see metrics.ts). */
export interface ControllerMetrics {
  reconciled(outcome: ReconcileOutcome, seconds: number): void;
}

export interface RunWorkersOptions {
  queue: WorkQueue;
  reconcile: ReconcileFn;
  /** Concurrent reconciles (different keys); default 1. */
  workers?: number;
  /** Called for every failed reconcile; default: log (conflicts at debug, others at warn/error). */
  onError?: (info: ReconcileErrorInfo) => void;
  /** Passed to reconcile; abort it to tell in-flight reconciles to give up. */
  signal?: AbortSignal;
  metrics?: ControllerMetrics;
  clock?: Clock;
  logger?: Log;
}

/** Runs workers until the queue shuts down; resolves when every worker has returned. */
export async function runWorkers(options: RunWorkersOptions): Promise<void> {
  const { queue, reconcile } = options;
  const clock = options.clock ?? realClock;
  const log = options.logger ?? nopLog;
  const signal = options.signal ?? new AbortController().signal;
  const onError = options.onError ?? defaultOnError(log, queue.name);
  const metrics = options.metrics;
  const workers = Math.max(1, options.workers ?? 1);

  const processOne = async (key: string): Promise<void> => {
    const started = clock.now();
    let outcome: ReconcileOutcome;
    try {
      const result = await reconcile(key, signal);
      if (result?.requeue) {
        outcome = 'requeue';
        queue.addRateLimited(key);
      } else {
        outcome = 'success';
        queue.forget(key);
        if (result?.requeueAfter !== undefined && result.requeueAfter >= 0) {
          outcome = 'requeue';
          queue.addAfter(key, result.requeueAfter);
        }
      }
    } catch (error) {
      const terminal = isTerminal(error);
      let retries = 0;
      if (terminal) {
        outcome = 'terminal';
        queue.forget(key);
      } else {
        outcome = 'error';
        queue.addRateLimited(key);
        retries = queue.numRequeues(key);
      }
      try {
        onError({ key, error, terminal, retries });
      } catch (hookErr) {
        log.error('reconcile error hook failed', { controller: queue.name, key, error: errorMessage(hookErr) });
      }
    } finally {
      queue.done(key);
    }
    metrics?.reconciled(outcome, (clock.now() - started) / 1000);
  };

  const worker = async (): Promise<void> => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      await processOne(key);
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
}

function defaultOnError(log: Log, controller: string): (info: ReconcileErrorInfo) => void {
  return ({ key, error, terminal, retries }) => {
    const fields = { controller, key, error: errorMessage(error), retries };
    if (terminal) log.error('reconcile failed permanently', fields);
    else if (isConflict(error)) log.debug('reconcile conflict, requeued', fields);
    else log.warn('reconcile failed, backing off', fields);
  };
}

export interface ControllerOptions {
  name: string;
  reconcile: ReconcileFn;
  workers?: number;
  /** Supply a queue, or let the controller build one from clock/rateLimiter/backoff/queueMetrics. */
  queue?: WorkQueue;
  clock?: Clock;
  rateLimiter?: RateLimiter;
  backoff?: ExponentialBackoffOptions;
  queueMetrics?: QueueMetrics;
  metrics?: ControllerMetrics;
  onError?: (info: ReconcileErrorInfo) => void;
  logger?: Log;
}

/** A named work queue plus its workers, with a graceful stop. */
export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  private readonly options: ControllerOptions;
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;

  constructor(options: ControllerOptions) {
    this.options = options;
    this.name = options.name;
    this.queue = options.queue ?? new WorkQueue({
      name: options.name,
      clock: options.clock,
      rateLimiter: options.rateLimiter,
      backoff: options.backoff,
      metrics: options.queueMetrics,
    });
  }

  /** Starts the workers; the promise resolves once stop() has let them all finish. */
  start(): Promise<void> {
    this.running ??= runWorkers({
      queue: this.queue,
      reconcile: this.options.reconcile,
      workers: this.options.workers,
      onError: this.options.onError,
      signal: this.abort.signal,
      metrics: this.options.metrics,
      clock: this.options.clock,
      logger: this.options.logger,
    });
    return this.running;
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** Enqueues key after delayMs (events of one object batched into one reconcile). */
  enqueueAfter(key: string, delayMs: number): void {
    this.queue.addAfter(key, delayMs);
  }

  /** New objects queued ahead of the backlog and not yet handed to a worker. */
  urgentWaiting(): number {
    return this.queue.urgentLen();
  }

  /** Enqueues key ahead of the backlog (a new object). */
  enqueueUrgent(key: string): void {
    this.queue.addUrgent(key);
  }

  /**
   * Stops handing out keys and waits up to timeoutMs for in-flight reconciles. If they do not finish
   * in time their signal is aborted. Returns true if every in-flight reconcile finished in time.
   */
  async stop(timeoutMs = 30_000): Promise<boolean> {
    const clean = await this.queue.shutdownWithDrain(timeoutMs);
    if (!clean) this.abort.abort(new Error(`controller ${this.name}: shutdown timeout`));
    else await this.running;
    return clean;
  }
}

// ---------------------------------------------------------------------------------------------
// Event handler helpers: informer events -> queue keys. Reconcile reads current state, so every
// event kind maps to the same "enqueue the key" (habit 1: never branch on create/update/delete).

export interface Handler<T> {
  add?(obj: T): void;
  update?(oldObj: T, newObj: T): void;
  delete?(obj: T): void;
}

/** A handler that enqueues keysOf(obj) for every add, update and delete (default: the object's key). */
export function enqueueHandler<T extends ObjectWithMeta>(
  queue: { add(key: string): void },
  keysOf: (obj: T) => readonly string[] | string | undefined = (o) => objectKey(o),
): Required<Handler<T>> {
  const push = (obj: T): void => {
    const keys = keysOf(obj);
    if (keys === undefined) return;
    if (typeof keys === 'string') queue.add(keys);
    else for (const k of keys) queue.add(k);
  };
  return {
    add: push,
    update: (oldObj, newObj) => {
      push(oldObj);
      push(newObj);
    },
    delete: push,
  };
}

/** keysOf for owned objects: the key of the controlling owner of the given kind, if any. */
export function controllerOwnerKey<T extends ObjectWithMeta>(kind: string): (obj: T) => string | undefined {
  return (obj) => {
    const ref = obj.metadata?.ownerReferences?.find((r) => r.controller && r.kind === kind);
    if (!ref?.name) return undefined;
    const ns = obj.metadata?.namespace;
    return ns ? `${ns}/${ref.name}` : ref.name;
  };
}
