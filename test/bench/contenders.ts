// The three ways the benchmark runs the same shards, all submitted through the same client with the
// same number of requests in flight:
//   limit           the shard pods themselves, created directly: what the API server, scheduler and
//                   nodes can do with no controller in between;
//   job-controller  one Indexed Job per job (completions = parallelism = shards), the pods created by
//                   kube-controller-manager's Job controller;
//   atelier         one RenderJob per job, the pods created by the Atelier operator.
// Every pod is the operator's own shard pod (buildPod from the operator's source): one nvidia.com/gpu,
// restartPolicy Never, the test-bed duration annotation; the Job's template is that pod with the
// shard index taken from the completion-index annotation.
import { performance } from 'node:perf_hooks';
import { buildPod, type JobTemplate } from '../../operator/src/controllers/renderjob/pods.js';
import { listAll, pool, type Kube } from './kube.js';
import { BENCH_JOB_LABEL, BENCH_RUN_LABEL } from './observe.js';

export type ContenderName = 'limit' | 'job-controller' | 'atelier';
export const CONTENDERS: ContenderName[] = ['limit', 'job-controller', 'atelier'];

export const GROUP = 'atelier.dev';
export const VERSION = 'v1alpha1';
export const RENDERJOBS = (ns: string) => `/apis/${GROUP}/${VERSION}/namespaces/${ns}/renderjobs`;
export const RENDERSHARDS = (ns: string) => `/apis/${GROUP}/${VERSION}/namespaces/${ns}/rendershards`;

export interface Batch {
  namespace: string;
  /** Value of the run label on every object of this batch (selects its pods). */
  run: string;
  jobs: string[];
  shards: number;
  /** Go duration each shard pod runs (test-bed annotation). */
  duration: string;
  concurrency: number;
}

/** The RenderJob template every contender's pods come from. */
export function shardTemplate(b: Batch, job: string): JobTemplate {
  return {
    image: 'ghcr.io/acme/sdxl-batch:1.4',
    command: ['python', 'render.py'],
    resources: { limits: { 'nvidia.com/gpu': 1 } },
    metadata: {
      labels: { [BENCH_RUN_LABEL]: b.run, [BENCH_JOB_LABEL]: job },
      annotations: { 'testbed.atelier.dev/duration': b.duration },
    },
  } as JobTemplate;
}

function operatorPod(b: Batch, job: string, index: number) {
  const pod = buildPod({
    job: { name: job, namespace: b.namespace, uid: '', apiVersion: `${GROUP}/${VERSION}`, kind: 'RenderJob' },
    template: shardTemplate(b, job), outputUri: `s3://renders/${job}/`,
    index, attempt: 1, total: b.shards,
  });
  delete pod.metadata!.ownerReferences; // no owner exists here
  delete pod.metadata!.finalizers; // atelier.dev/outcome is the operator's: nobody here would remove it
  return pod;
}

export function renderJob(b: Batch, job: string, extra: { finalizers?: string[] } = {}) {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'RenderJob',
    metadata: { name: job, namespace: b.namespace, labels: { [BENCH_RUN_LABEL]: b.run }, ...(extra.finalizers ? { finalizers: extra.finalizers } : {}) },
    spec: {
      template: shardTemplate(b, job),
      shards: { count: b.shards },
      output: { uri: `s3://renders/${job}/` },
    },
  };
}

function indexedJob(b: Batch, job: string) {
  const pod = operatorPod(b, job, 0);
  const labels = { ...pod.metadata!.labels };
  delete labels['atelier.dev/shard']; // per index: the Job controller labels each pod with its completion index
  delete labels['atelier.dev/attempt'];
  const container = pod.spec!.containers[0]!;
  container.env = container.env!.map((e) => (e.name === 'ATELIER_SHARD_INDEX'
    ? { name: e.name, valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } } }
    : e));
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: job, namespace: b.namespace, labels: { [BENCH_RUN_LABEL]: b.run } },
    spec: {
      completions: b.shards,
      parallelism: b.shards,
      completionMode: 'Indexed',
      backoffLimitPerIndex: 3, // as a RenderJob's default maxRetries
      template: { metadata: { labels, annotations: pod.metadata!.annotations }, spec: pod.spec },
    },
  };
}

/**
 * Submits the batch; onJobStart(job, t) gets the time each job's work exists: the create response of
 * its Job / RenderJob, or (limit) the moment its first pod create was sent.
 */
export async function submit(kube: Kube, c: ContenderName, b: Batch, onJobStart: (job: string, at: number) => void): Promise<void> {
  switch (c) {
    case 'limit': {
      const items = b.jobs.flatMap((job) => Array.from({ length: b.shards }, (_, index) => ({ job, index })));
      await pool(items, b.concurrency, async ({ job, index }) => {
        if (index === 0) onJobStart(job, performance.now());
        await kube.request('POST', `/api/v1/namespaces/${b.namespace}/pods`, operatorPod(b, job, index), { idempotent: true });
      });
      return;
    }
    case 'job-controller':
      await pool(b.jobs, b.concurrency, async (job) => {
        await kube.request('POST', `/apis/batch/v1/namespaces/${b.namespace}/jobs`, indexedJob(b, job), { idempotent: true });
        onJobStart(job, performance.now());
      });
      return;
    case 'atelier':
      await pool(b.jobs, b.concurrency, async (job) => {
        await kube.request('POST', RENDERJOBS(b.namespace), renderJob(b, job), { idempotent: true });
        onJobStart(job, performance.now());
      });
      return;
  }
}

/** Jobs of the batch whose parent object does not yet say it is complete (0 for the limit, which has none). */
export async function incompleteParents(kube: Kube, c: ContenderName, b: Batch): Promise<number> {
  const sel = `labelSelector=${encodeURIComponent(`${BENCH_RUN_LABEL}=${b.run}`)}`;
  if (c === 'limit') return 0;
  if (c === 'job-controller') {
    const l = await listAll(kube, `/apis/batch/v1/namespaces/${b.namespace}/jobs?${sel}`);
    const done = l.items.filter((j) => ((j.status?.conditions ?? []) as { type: string; status: string }[]).some((x) => x.type === 'Complete' && x.status === 'True')).length;
    return b.jobs.length - done;
  }
  const l = await listAll(kube, `${RENDERJOBS(b.namespace)}?${sel}`);
  return b.jobs.length - l.items.filter((j) => j.status?.phase === 'Succeeded').length;
}
