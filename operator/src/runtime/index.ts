// The controller runtime's public surface, in one import: clock, work queue and controller loop,
// informers, expectations, leader election, events, logging, the health/metrics server and graceful
// shutdown. Nothing here knows about RenderJobs; controllers build on it.
export * from './clock.js';
export * from './collections.js';
export * from './controller.js';
export * from './errors.js';
export * from './events.js';
export * from './expectations.js';
export * from './informer.js';
export * from './keys.js';
export * from './leader.js';
export * from './logger.js';
export * from './metrics.js';
export * from './server.js';
export * from './signals.js';
export * from './workqueue.js';
export * from './types.js';
