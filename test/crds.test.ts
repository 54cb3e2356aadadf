// Admission tests for the CRDs in crds/ against a real kube-apiserver: valid objects (and the
// examples) are accepted with their defaults filled in; malformed RenderJobs and ComputeProviders
// are rejected with a message that names the field; immutable fields stay immutable while the knobs
// a user may turn (parallelism, maxRetries, suspend) stay mutable; the status subresource accepts
// what the operator writes. The API server is the product here, so nothing is faked.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { load } from 'js-yaml';
import {
  COMPUTE_PROVIDER_PLURAL,
  GROUP,
  JOB_LABEL,
  RENDER_JOB_PLURAL,
  RENDER_SHARD_PLURAL,
  VERSION,
  type ComputeProvider,
  type RenderJob,
  type RenderJobStatus,
  type RenderShard,
} from '../operator/src/api/index.js';
import { apiErrorMessage, installCrds } from './support/crds.js';
import { clients, freshNamespace, repoRoot, testbed, type Clients } from './support/testbed.js';

let c: Clients;
let ns: string;
const providers: string[] = [];
const suffix = Math.random().toString(36).slice(2, 7);

// Test cases deliberately build objects the types forbid, so they edit plain records.
type Mutable = Record<string, any>;

function validJob(name: string): RenderJob {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'RenderJob',
    metadata: { name },
    spec: {
      template: {
        image: 'ghcr.io/acme/sdxl-batch:1.4',
        command: ['python', 'render.py'],
        env: [{ name: 'PROMPT', value: 'a glass atrium at dusk' }],
        resources: { limits: { 'nvidia.com/gpu': 1, cpu: '4', memory: '24Gi' } },
      },
      shards: { count: 20 },
    },
  };
}

/** A fresh valid job with one change applied to its spec. */
function jobWith(name: string, change: (spec: Mutable) => void): RenderJob {
  const job = validJob(name);
  change(job.spec as Mutable);
  return job;
}

function validProvider(name: string, spec: Mutable = {}): ComputeProvider {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'ComputeProvider',
    metadata: { name },
    spec: {
      type: 'akash',
      endpoint: 'https://console-api.akash.network',
      credentialsSecretRef: { namespace: 'atelier-system', name: 'akash-api', key: 'apiKey' },
      payoutAddress: '0x00000000000000000000000000000000000000aa',
      gpuModels: ['nvidia-h100', 'nvidia-a100-80gb'],
      maxConcurrentShards: 100,
      maxPricePerGpuHour: '3.00',
      allowedNamespaces: ['studio'],
      ...spec,
    },
  };
}

const createJob = async (job: RenderJob): Promise<RenderJob> =>
  (await c.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: RENDER_JOB_PLURAL, body: job })) as RenderJob;

const readJob = async (name: string): Promise<RenderJob> =>
  (await c.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: RENDER_JOB_PLURAL, name })) as RenderJob;

const replaceJob = async (job: RenderJob): Promise<RenderJob> =>
  (await c.custom.replaceNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ns,
    plural: RENDER_JOB_PLURAL,
    name: job.metadata.name!,
    body: job,
  })) as RenderJob;

async function createProvider(p: ComputeProvider): Promise<ComputeProvider> {
  const created = (await c.custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: COMPUTE_PROVIDER_PLURAL, body: p })) as ComputeProvider;
  providers.push(p.metadata.name!);
  return created;
}

/** Resolves to the API server's message when the request is rejected with 422 Invalid; fails the test if it is accepted. */
async function rejection(request: Promise<unknown>): Promise<string> {
  try {
    await request;
  } catch (e) {
    const code = (e as { code?: number }).code;
    const message = apiErrorMessage(e);
    if (code !== 422) throw new Error(`expected 422 Invalid, got ${String(code)}: ${message}`);
    return message;
  }
  throw new Error('expected the API server to reject the object, but it was accepted');
}

beforeAll(async () => {
  await installCrds(testbed().kubeconfig);
  c = clients();
  ns = await freshNamespace(c, 'crds');
});

afterAll(async () => {
  if (!c) return;
  for (const name of providers) {
    await c.custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: COMPUTE_PROVIDER_PLURAL, name }).catch(() => undefined);
  }
  if (ns) await c.core.deleteNamespace({ name: ns }).catch(() => undefined);
});

describe('RenderJob admission', () => {
  it('accepts a valid job and fills in the defaults', async () => {
    const created = await createJob(validJob('valid'));
    expect(created.spec.placement?.policy).toBe('LocalOnly');
    expect(created.spec.placement?.burstAfter).toBe('60s');
    expect(created.spec.shards.maxRetries).toBe(3);
    expect(created.spec.suspend).toBe(false);
    expect(created.spec.verification?.spotCheckFraction).toBe(0);
    expect(created.spec.settlement?.enabled).toBe(false);
  });

  it('accepts a frames job, defaulting perShard to 1, and a GPU count given as a string', async () => {
    const created = await createJob(
      jobWith('frames', (s) => {
        delete s.shards.count;
        s.shards.frames = { start: 1, end: 100 };
        s.template.resources.limits['nvidia.com/gpu'] = '2';
      }),
    );
    expect(created.spec.shards.frames).toEqual({ start: 1, end: 100, perShard: 1 });
  });

  it('accepts GPU models by catalog name or node label value, minMemory and per-model priors', async () => {
    const job = jobWith('gpu-catalog', (s) => (s.gpu = { models: ['nvidia-h100', 'NVIDIA-GeForce-RTX-4090'], minMemory: '24Gi', expectedShardSeconds: { 'nvidia-h100': 300, 'nvidia-rtx-4090': 1200 } }));
    const created = await createJob(job);
    expect(created.spec.gpu).toEqual({ models: ['nvidia-h100', 'NVIDIA-GeForce-RTX-4090'], minMemory: '24Gi', expectedShardSeconds: { 'nvidia-h100': 300, 'nvidia-rtx-4090': 1200 } });
  });

  it('accepts a fully specified job', async () => {
    await createJob(
      jobWith('full', (s) => {
        s.template.args = ['--steps', '30'];
        s.template.env.push({ name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
        s.template.resources.requests = { cpu: '2', memory: '16Gi' };
        s.template.metadata = { labels: { team: 'lookdev' }, annotations: { 'example.com/note': 'x' } };
        s.template.nodeSelector = { 'topology.kubernetes.io/zone': 'a' };
        s.template.tolerations = [{ key: 'gpu', operator: 'Exists', effect: 'NoSchedule' }];
        s.template.serviceAccountName = 'renderer';
        s.gpu = { models: ['nvidia-h100', 'nvidia-rtx-4090'] };
        s.shards.parallelism = 50;
        s.shards.maxRetries = 0;
        s.placement = { policy: 'Burst', burstAfter: '1h30m', providers: ['akash', 'studio-b'], maxPricePerGpuHour: '2.50' };
        s.budget = { maxCost: '500.00' };
        s.deadline = '2026-12-01T00:00:00Z';
        s.output = { uri: 's3://renders/lighting/' };
        s.verification = { spotCheckFraction: 0.05 };
        s.settlement = { enabled: true };
        s.suspend = true;
      }),
    );
  });

  it('accepts every examples/renderjob-*.yaml', async () => {
    const dir = path.join(repoRoot, 'examples');
    const files = readdirSync(dir).filter((f) => /^renderjob-.*\.yaml$/.test(f));
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const f of files) {
      const job = load(readFileSync(path.join(dir, f), 'utf8')) as RenderJob;
      job.metadata = { name: `example-${path.basename(f, '.yaml')}` };
      await expect(createJob(job)).resolves.toBeDefined();
    }
  });

  // Each case: a valid job with one thing wrong, and the substrings the user must see.
  const invalid: [string, (s: Mutable) => void, string[]][] = [
    ['neither count nor frames', (s) => delete s.shards.count, ['spec.shards', 'exactly one of shards.count or shards.frames']],
    ['both count and frames', (s) => (s.shards.frames = { start: 1, end: 10 }), ['spec.shards', 'exactly one of shards.count or shards.frames']],
    ['frames ending before they start', (s) => { delete s.shards.count; s.shards.frames = { start: 10, end: 9 }; }, ['spec.shards.frames.end', 'must be >= shards.frames.start']],
    ['perShard 0', (s) => { delete s.shards.count; s.shards.frames = { start: 1, end: 9, perShard: 0 }; }, ['spec.shards.frames.perShard', 'greater than or equal to 1']],
    ['frames yielding too many shards', (s) => { delete s.shards.count; s.shards.frames = { start: 0, end: 100000, perShard: 1 }; }, ['spec.shards.frames.perShard', 'more than 100000 shards']],
    ['count 0', (s) => (s.shards.count = 0), ['spec.shards.count', 'greater than or equal to 1']],
    ['count over 100000', (s) => (s.shards.count = 100001), ['spec.shards.count', 'less than or equal to 100000']],
    ['parallelism 0', (s) => (s.shards.parallelism = 0), ['spec.shards.parallelism', 'greater than or equal to 1']],
    ['maxRetries 101', (s) => (s.shards.maxRetries = 101), ['spec.shards.maxRetries', 'less than or equal to 100']],
    ['negative maxRetries', (s) => (s.shards.maxRetries = -1), ['spec.shards.maxRetries', 'greater than or equal to 0']],
    ['unknown placement policy', (s) => (s.placement = { policy: 'Sometimes' }), ['spec.placement.policy', 'Unsupported value', 'LocalOnly']],
    ['malformed burstAfter', (s) => (s.placement = { burstAfter: 'soon' }), ['spec.placement.burstAfter', 'must be a duration such as 60s']],
    ['burstAfter without a unit', (s) => (s.placement = { burstAfter: '60' }), ['spec.placement.burstAfter', 'must be a duration']],
    ['price with a currency', (s) => (s.placement = { maxPricePerGpuHour: '2.50 USD' }), ['spec.placement.maxPricePerGpuHour', 'decimal amount in USD']],
    ['price as a number', (s) => (s.placement = { maxPricePerGpuHour: 2.5 }), ['spec.placement.maxPricePerGpuHour', 'must be of type string']],
    ['negative budget', (s) => (s.budget = { maxCost: '-5' }), ['spec.budget.maxCost', 'decimal amount in USD']],
    ['budget with 7 decimals', (s) => (s.budget = { maxCost: '1.0000001' }), ['spec.budget.maxCost', 'decimal amount in USD']],
    ['no GPU limit', (s) => delete s.template.resources.limits['nvidia.com/gpu'], ['spec.template.resources.limits', "limits['nvidia.com/gpu'] must be a whole number of GPUs >= 1"]],
    ['zero GPUs', (s) => (s.template.resources.limits['nvidia.com/gpu'] = 0), ['spec.template.resources.limits', 'nvidia.com/gpu']],
    ['a fraction of a GPU', (s) => (s.template.resources.limits['nvidia.com/gpu'] = '500m'), ['spec.template.resources.limits', 'nvidia.com/gpu']],
    ['no resources', (s) => delete s.template.resources, ['spec.template.resources', 'Required value']],
    ['no template', (s) => delete s.template, ['spec.template', 'Required value']],
    ['no image', (s) => delete s.template.image, ['spec.template.image', 'Required value']],
    ['env with value and valueFrom', (s) => (s.template.env = [{ name: 'A', value: 'x', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }]), ['spec.template.env[0]', 'value or valueFrom, not both']],
    ['spotCheckFraction over 1', (s) => (s.verification = { spotCheckFraction: 1.5 }), ['spec.verification.spotCheckFraction', 'less than or equal to 1']],
    ['negative spotCheckFraction', (s) => (s.verification = { spotCheckFraction: -0.1 }), ['spec.verification.spotCheckFraction', 'greater than or equal to 0']],
    ['deadline that is not a date-time', (s) => (s.deadline = 'next tuesday'), ['spec.deadline', 'date-time']],
    ['duplicate GPU models', (s) => (s.gpu = { models: ['nvidia-h100', 'nvidia-h100'] }), ['spec.gpu.models[1]', 'Duplicate value']],
    ['an unknown GPU model', (s) => (s.gpu = { models: ['nvidia-h100', 'nvidia-x'] }), ['spec.gpu.models', 'unknown GPU model; known: nvidia-b200, nvidia-h200, nvidia-h100', 'nvidia-rtx-4090']],
    ['minMemory that is not a quantity', (s) => (s.gpu = { minMemory: '48 gigs' }), ['spec.gpu.minMemory', 'should match']],
    ['a prior for an unknown GPU model', (s) => (s.gpu = { expectedShardSeconds: { 'nvidia-x': 300 } }), ['spec.gpu.expectedShardSeconds', 'unknown GPU model; known:']],
    ['a prior of 0 seconds', (s) => (s.gpu = { expectedShardSeconds: { 'nvidia-h100': 0 } }), ['spec.gpu.expectedShardSeconds.nvidia-h100', 'greater than or equal to 1']],
  ];

  it.each(invalid)('rejects %s', async (_what, change, substrings) => {
    const name = `bad-${Math.random().toString(36).slice(2, 8)}`;
    const message = await rejection(createJob(jobWith(name, change)));
    for (const s of substrings) expect(message).toContain(s);
  });

  it('rejects changes to template and to the shard split, but not to parallelism, maxRetries or suspend', async () => {
    await createJob(jobWith('immutable', (s) => (s.shards.parallelism = 5)));

    const changedImage = await readJob('immutable');
    changedImage.spec.template.image = 'ghcr.io/acme/sdxl-batch:1.5';
    expect(await rejection(replaceJob(changedImage))).toContain('template is immutable');

    const changedEnv = await readJob('immutable');
    changedEnv.spec.template.env = [{ name: 'PROMPT', value: 'something else' }];
    expect(await rejection(replaceJob(changedEnv))).toContain('template is immutable');

    const changedCount = await readJob('immutable');
    changedCount.spec.shards.count = 21;
    const countMessage = await rejection(replaceJob(changedCount));
    expect(countMessage).toContain('spec.shards');
    expect(countMessage).toContain('shards.count and shards.frames are immutable');

    const toFrames = await readJob('immutable');
    delete toFrames.spec.shards.count;
    toFrames.spec.shards.frames = { start: 1, end: 20 };
    expect(await rejection(replaceJob(toFrames))).toContain('are immutable');

    const knobs = await readJob('immutable');
    knobs.spec.shards.parallelism = 10;
    knobs.spec.shards.maxRetries = 7;
    knobs.spec.suspend = true;
    knobs.spec.placement = { ...knobs.spec.placement, policy: 'Burst' };
    const updated = await replaceJob(knobs);
    expect(updated.spec.shards).toEqual({ count: 20, parallelism: 10, maxRetries: 7 });
    expect(updated.spec.suspend).toBe(true);
    expect(updated.metadata.generation).toBe(2);
  });

  it('rejects changes to the frame range of a frames job', async () => {
    await createJob(jobWith('frames-immutable', (s) => { delete s.shards.count; s.shards.frames = { start: 1, end: 100, perShard: 7 }; }));
    const changed = await readJob('frames-immutable');
    changed.spec.shards.frames!.perShard = 8;
    expect(await rejection(replaceJob(changed))).toContain('are immutable');
  });

  it('takes status only through the status subresource, in the documented shape', async () => {
    await createJob(validJob('with-status'));
    const job = await readJob('with-status');
    const status: RenderJobStatus = {
      phase: 'Running',
      observedGeneration: 1,
      conditions: [{ type: 'Accepted', status: 'True', reason: 'Valid', message: 'spec accepted', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 1 }],
      progress: '12/20',
      shards: { total: 20, pending: 2, running: 6, succeeded: 12, failed: 0, local: 14, remote: 6 },
      providers: [{ name: 'akash', running: 2, succeeded: 4, failed: 0, cost: '1.20' }],
      cost: { local: '0', remote: '1.20', total: '1.20', currency: 'USD' },
      settlement: {
        escrows: [{ provider: 'akash', escrowId: '0xabc', funded: '10', released: '0', refunded: '0', transactions: [{ kind: 'Fund', hash: '0xdef', state: 'Confirmed' }] }],
      },
      startTime: '2026-01-01T00:00:00Z',
      lastScheduleMessage: '6 shards waiting for local GPUs longer than 60s burst to akash',
    };

    // Status written through the main resource is dropped.
    const viaMain = await replaceJob({ ...job, status });
    expect(viaMain.status).toBeUndefined();

    const viaStatus = (await c.custom.replaceNamespacedCustomObjectStatus({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: RENDER_JOB_PLURAL,
      name: 'with-status',
      body: { ...(await readJob('with-status')), status },
    })) as RenderJob;
    expect(viaStatus.status).toEqual(status);

    const badPhase = await readJob('with-status');
    badPhase.status = { ...status, phase: 'Exploded' as RenderJobStatus['phase'] };
    const message = await rejection(
      c.custom.replaceNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, namespace: ns, plural: RENDER_JOB_PLURAL, name: 'with-status', body: badPhase }),
    );
    expect(message).toContain('status.phase');
  });
});

describe('RenderShard admission', () => {
  const shard = (name: string, spec: Mutable): RenderShard => ({
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'RenderShard',
    metadata: { name, labels: { [JOB_LABEL]: 'valid' } },
    spec: spec as RenderShard['spec'],
  });
  const create = (s: RenderShard) =>
    c.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: RENDER_SHARD_PLURAL, body: s }) as Promise<RenderShard>;

  it('accepts a shard and keeps its spec immutable', async () => {
    await create(shard('valid-3', { jobName: 'valid', index: 3, frames: { start: 22, end: 28 } }));
    const got = (await c.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: RENDER_SHARD_PLURAL, name: 'valid-3' })) as RenderShard;
    got.spec.index = 4;
    const message = await rejection(
      c.custom.replaceNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: RENDER_SHARD_PLURAL, name: 'valid-3', body: got }),
    );
    expect(message).toContain('RenderShard spec is immutable');
  });

  it('rejects a shard without a job, with a negative index, or with a reversed range', async () => {
    expect(await rejection(create(shard('no-job', { index: 0 })))).toContain('spec.jobName');
    expect(await rejection(create(shard('neg', { jobName: 'valid', index: -1 })))).toContain('spec.index');
    expect(await rejection(create(shard('rev', { jobName: 'valid', index: 0, frames: { start: 5, end: 4 } })))).toContain('frames.end must be >= frames.start');
  });
});

describe('ComputeProvider admission', () => {
  it('accepts a valid provider and a valid subnet provider', async () => {
    const created = await createProvider(validProvider(`akash-${suffix}`));
    expect(created.spec.paused).toBe(false);
    await createProvider(
      validProvider(`studio-b-${suffix}`, {
        type: 'subnet',
        endpoint: undefined,
        subnet: { kubeconfigSecretRef: { namespace: 'atelier-system', name: 'studio-b', key: 'kubeconfig' }, namespace: 'shared-renders' },
      }),
    );
  });

  const invalid: [string, Mutable, string[]][] = [
    ['subnet without subnet', { type: 'subnet' }, ['spec.subnet', 'required when type is subnet']],
    ['subnet settings on another type', { subnet: { kubeconfigSecretRef: { namespace: 'a', name: 'b', key: 'c' }, namespace: 'd' } }, ['spec.subnet', 'only be set when type is subnet']],
    ['unknown type', { type: 'aws' }, ['spec.type', 'Unsupported value']],
    ['bad payout address', { payoutAddress: '0x1234' }, ['spec.payoutAddress', '0x followed by 40 hex digits']],
    ['bad price', { maxPricePerGpuHour: 'cheap' }, ['spec.maxPricePerGpuHour', 'decimal amount in USD']],
    ['zero concurrency', { maxConcurrentShards: 0 }, ['spec.maxConcurrentShards', 'greater than or equal to 1']],
    ['endpoint that is not a URL', { endpoint: 'not a url' }, ['spec.endpoint', 'must be an absolute URL']],
    ['secret ref without a key', { credentialsSecretRef: { namespace: 'a', name: 'b' } }, ['spec.credentialsSecretRef.key', 'Required value']],
  ];

  it.each(invalid)('rejects %s', async (_what, spec, substrings) => {
    const message = await rejection(createProvider(validProvider(`bad-${Math.random().toString(36).slice(2, 8)}`, spec)));
    for (const s of substrings) expect(message).toContain(s);
  });
});
