// What the benchmark sees of the shards: one watch on the benchmark's pods, and per shard the
// arrival time (performance.now(), not the API's second-resolution timestamps) of the first event
// in which a pod of that shard existed, was bound to a node, was Running and had finished. From
// these come the milestones "every shard pod exists / is bound / has run / has finished" and each
// job's first-pod time. A shard is (job label, shard index), so a retried attempt is the same shard.
import { performance } from 'node:perf_hooks';
import { ApiError, type KObject, type Kube } from './kube.js';

export const BENCH_JOB_LABEL = 'bench.atelier.dev/job';
export const BENCH_RUN_LABEL = 'bench.atelier.dev/run';

export interface ShardTimes { seen: number; bound?: number; running?: number; finished?: number }

export type Milestone = 'exist' | 'bound' | 'running' | 'finished';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Index of the shard a pod runs: ours (atelier.dev/shard) or the Job controller's completion index. */
function shardOf(pod: KObject): string | undefined {
  const l = pod.metadata.labels ?? {};
  return l['atelier.dev/shard'] ?? l['batch.kubernetes.io/job-completion-index'];
}

export class PodTracker {
  readonly shards = new Map<string, ShardTimes>();
  readonly firstPod = new Map<string, number>();
  readonly reached: Partial<Record<Milestone, number>> = {};
  failedPods = 0;
  events = 0;
  private counts: Record<Milestone, number> = { exist: 0, bound: 0, running: 0, finished: 0 };
  private readonly failedNames = new Set<string>();
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private error: unknown;
  private readonly kube: Kube;
  private readonly namespace: string;
  private readonly selector: string;
  /** Shards expected; milestones are reached when this many shards got there. */
  expected: number;

  constructor(kube: Kube, namespace: string, selector: string, expected: number) {
    this.kube = kube;
    this.namespace = namespace;
    this.selector = selector;
    this.expected = expected;
  }

  /** Lists (to get a resourceVersion; the namespace is expected to be empty of such pods) and starts watching. */
  async start(): Promise<void> {
    const base = `/api/v1/namespaces/${this.namespace}/pods?labelSelector=${encodeURIComponent(this.selector)}`;
    const list = await this.kube.request<{ metadata: { resourceVersion: string }; items: KObject[] }>('GET', `${base}&limit=500`);
    const at = performance.now();
    for (const p of list.items) this.observe(p, at);
    let rv = list.metadata.resourceVersion;
    this.loop = (async () => {
      while (!this.abort.signal.aborted) {
        try {
          rv = (await this.kube.watch(`${base}&watch=1&allowWatchBookmarks=true&timeoutSeconds=3600&resourceVersion=${rv}`, (type, obj, t) => {
            this.events++;
            if (type === 'ADDED' || type === 'MODIFIED') this.observe(obj, t);
          }, this.abort.signal)) ?? rv;
        } catch (e) {
          if (this.abort.signal.aborted) break;
          if (e instanceof ApiError && e.status === 410) { this.error = e; break; } // would need a relist: the run is void
          await sleep(200);
        }
      }
    })();
  }

  private observe(pod: KObject, at: number): void {
    const job = pod.metadata.labels?.[BENCH_JOB_LABEL];
    const shard = shardOf(pod);
    if (job === undefined || shard === undefined) return;
    const key = `${job}/${shard}`;
    let t = this.shards.get(key);
    if (!t) {
      t = { seen: at };
      this.shards.set(key, t);
      if (!this.firstPod.has(job)) this.firstPod.set(job, at);
      this.hit('exist', at);
    }
    const phase = pod.status?.phase;
    if (t.bound === undefined && pod.spec?.nodeName) { t.bound = at; this.hit('bound', at); }
    // A pod first seen finished still ran: count it as running then.
    if (t.running === undefined && (phase === 'Running' || phase === 'Succeeded' || phase === 'Failed')) { t.running = at; this.hit('running', at); }
    if (t.finished === undefined && phase === 'Succeeded') { t.finished = at; this.hit('finished', at); }
    if (phase === 'Failed' && !this.failedNames.has(pod.metadata.name)) { this.failedNames.add(pod.metadata.name); this.failedPods++; }
  }

  private hit(m: Milestone, at: number): void {
    this.counts[m]++;
    if (this.counts[m] >= this.expected && this.reached[m] === undefined) this.reached[m] = at;
  }

  count(m: Milestone): number {
    return this.counts[m];
  }

  /** Waits until milestone m is reached; throws on timeout or a broken watch. */
  async waitFor(m: Milestone, timeoutMs: number, onTick?: () => void): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.reached[m] !== undefined) return this.reached[m]!;
      if (this.error) throw this.error;
      if (Date.now() > deadline) throw new Error(`timed out waiting for every shard pod to be ${m}: ${this.counts[m]}/${this.expected}`);
      onTick?.();
      await sleep(100);
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }
}
