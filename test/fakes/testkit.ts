// Builders shared by the adapter-against-fake tests: a shard spec builder, and an adapter clock
// that reads the fake's ManualClock and records (instead of waiting out) every backoff sleep, so
// retry timing is asserted exactly and the suites run in milliseconds.

import type { Clock, ShardSpec } from '../../operator/src/providers/types.js';
import { ManualClock } from './server.js';

export interface RecordingClock extends Clock {
  manual: ManualClock;
  sleeps: number[];
}

export function recordingClock(manual = new ManualClock()): RecordingClock {
  const sleeps: number[] = [];
  return {
    manual,
    sleeps,
    now: () => manual.now(),
    sleep: async (ms: number) => {
      sleeps.push(ms);
    },
  };
}

export function makeShard(overrides: Partial<ShardSpec> = {}): ShardSpec {
  return {
    jobUid: '7f1c2d9e-0000-4000-8000-000000000001',
    jobNamespace: 'studio',
    jobName: 'lighting-sweep',
    shardIndex: 3,
    shardCount: 400,
    image: 'ghcr.io/acme/sdxl-batch:1.4',
    command: ['python', 'render.py'],
    args: ['--steps', '30'],
    env: [{ name: 'PROMPT', value: 'a glass atrium at dusk' }],
    gpuCount: 1,
    gpuModels: ['nvidia-h100'],
    outputUri: 's3://renders/lighting/',
    frames: { start: 19, end: 24 },
    ...overrides,
  };
}

/** Runs fn and returns what it threw (fails the test when it does not throw). */
export async function thrown(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to throw');
}
