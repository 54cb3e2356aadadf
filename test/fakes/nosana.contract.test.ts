// Contract test of the Nosana fake (test/fakes/nosana.ts): its answers, read over HTTP through a
// whole deployment lifecycle, checked against schemas transcribed from the deployment manager's
// source (`nosana-ci/nosana-deployment-manager` @afe5852 unless another commit is named; file and
// lines beside each schema) and, for job results, against the FlowState schema Nosana publishes in
// @nosana/types (jobSchemas, the schema the manager flattens into JobResults). Undeclared fields are
// errors: the manager's Fastify response schemas drop what they do not declare.

import { jobSchemas } from '@nosana/types';
import { MARKET_H100, NosanaFake } from './nosana.js';
import { ManualClock } from './server.js';
import { problems } from './shape.js';
import type { Schema } from './shape.js';

const ISO: Schema = { type: 'string', minLength: 20 };
/** src/router/schema/components/publicKey.schema.ts:3 */
const PUBLIC_KEY: Schema = { type: 'string', minLength: 43, maxLength: 44 };
/** src/types/deployment.ts:3-12 */
const DEPLOYMENT_STATUS = ['DRAFT', 'ERROR', 'STARTING', 'RUNNING', 'STOPPING', 'STOPPED', 'INSUFFICIENT_FUNDS', 'ARCHIVED'];

/** src/router/schema/components/deployment.schema.ts:20-58 (the SIMPLE / SIMPLE-EXTEND branch, :38-44) */
const DEPLOYMENT: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'vault', 'market', 'owner', 'status', 'replicas', 'timeout', 'endpoints', 'confidential', 'active_revision', 'active_jobs', 'created_at', 'updated_at', 'strategy'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    vault: PUBLIC_KEY,
    market: PUBLIC_KEY,
    owner: PUBLIC_KEY,
    status: { type: 'string', enum: DEPLOYMENT_STATUS },
    replicas: { type: 'number', minimum: 0 },
    timeout: { type: 'number', minimum: 1 },
    // src/router/schema/components/endpoint.schema.ts:3-7
    endpoints: { type: 'array', items: { type: 'object', required: ['opId', 'port', 'url'], properties: { opId: { type: 'string' }, port: { anyOf: [{ type: 'number' }, { type: 'string' }] }, url: { type: 'string' } } } },
    confidential: { type: 'boolean' },
    active_revision: { type: 'number', minimum: 1 },
    active_jobs: { type: 'number', minimum: 0 },
    created_at: ISO,
    updated_at: ISO,
    strategy: { type: 'string', enum: ['SIMPLE', 'SIMPLE-EXTEND'] },
  },
};

/** src/router/schema/components/pagination.schema.ts:30-40 */
const PAGINATION: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['cursor_next', 'cursor_prev', 'total_items'],
  properties: { cursor_next: { type: 'string', nullable: true }, cursor_prev: { type: 'string', nullable: true }, total_items: { type: 'number' } },
};

/** src/router/routes/get/deployments/list.ts:67-70 with pagination.schema.ts:51-56 */
const DEPLOYMENT_LIST: Schema = { type: 'object', additionalProperties: false, required: ['deployments', 'pagination'], properties: { deployments: { type: 'array', items: DEPLOYMENT }, pagination: PAGINATION } };

/** src/router/schema/components/job.schema.ts:6-17 */
const JOB: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['tx', 'deployment', 'job', 'market', 'node', 'revision', 'state', 'time_start', 'created_at', 'updated_at'],
  properties: {
    tx: { type: 'string' },
    deployment: PUBLIC_KEY,
    job: PUBLIC_KEY,
    market: { type: 'string' },
    node: { ...PUBLIC_KEY, nullable: true },
    revision: { type: 'number', minimum: 1 },
    state: { type: 'string', enum: ['QUEUED', 'RUNNING', 'COMPLETED', 'STOPPED'] },
    time_start: { type: 'number', minimum: 0 },
    created_at: ISO,
    updated_at: ISO,
  },
};

/** src/router/schema/get/deployments/[id]/getDeploymentJobs.schema.ts:12,36 */
const JOB_LIST: Schema = { type: 'object', additionalProperties: false, required: ['jobs', 'pagination'], properties: { jobs: { type: 'array', items: JOB }, pagination: PAGINATION } };

/**
 * src/router/schema/get/deployments/[id]/jobs/[id]/getDeploymentJobById.schema.ts:6-18; state is the
 * on-chain number (buildDeploymentJobResponse.ts:17-35, convertJobState.ts:18-23); jobResult is
 * FlowState (jobResults.schema.ts:6-18, from @nosana/types jobSchemas).
 */
const JOB_DETAIL: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['confidential', 'revision', 'market', 'node', 'state', 'jobStatus', 'jobDefinition', 'jobResult', 'timeStart', 'timeEnd', 'listedAt'],
  properties: {
    confidential: { type: 'boolean' },
    revision: { type: 'number', minimum: 1 },
    market: PUBLIC_KEY,
    // Declared a PublicKey, but a job without a node answers DEFAULT_NODE_ADDRESS, 32 ones
    // (buildDeploymentJobResponse.ts:10,28-34); the serializer does not check lengths.
    node: { anyOf: [PUBLIC_KEY, { const: '11111111111111111111111111111111' }] },
    state: { type: 'number', enum: [0, 1, 2, 3] },
    jobStatus: { type: 'string', nullable: true },
    jobDefinition: { $ref: '#/components/schemas/JobDefinition' },
    jobResult: { $ref: '#/components/schemas/FlowState', nullable: true },
    timeStart: { type: 'number', minimum: 0 },
    timeEnd: { type: 'number', minimum: 0 },
    listedAt: { type: 'number', minimum: 0 },
  },
};

/** src/router/schema/components/error.schema.ts:3-5 */
const ERROR: Schema = { type: 'object', additionalProperties: false, required: ['error'], properties: { error: { type: 'string' } } };
/** src/router/routes/post/deployments/[id]/deploymentStop.ts:53-57 */
const STOP_ANSWER: Schema = { type: 'object', additionalProperties: false, required: ['status', 'updated_at'], properties: { status: { const: 'STOPPING' }, updated_at: ISO } };

const COMPONENTS = jobSchemas.components.schemas as Record<string, Schema>;

describe('Nosana fake against the deployment manager source', () => {
  const clock = new ManualClock();
  const fake = new NosanaFake({ clock, markets: { [MARKET_H100]: 1 } });
  const auth = { authorization: `Bearer ${fake.opts.apiKey}` };
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = auth): Promise<{ status: number; body: unknown }> => {
    const res = await fetch(`${fake.url}${path}`, { method, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
  };
  const fits = (value: unknown, schema: Schema) => expect(problems(value, schema, COMPONENTS)).toEqual([]);
  const createBody = (key: string, extra: Record<string, unknown> = {}) => ({
    name: `atelier-${key}`, market: MARKET_H100, replicas: 1, timeout: 10, strategy: 'SIMPLE', autostart: true, idempotency_key: key,
    job_definition: { version: '0.1', type: 'container', meta: { trigger: 'api' }, ops: [{ type: 'container/run', id: 'shard', args: { image: 'ghcr.io/acme/r:1', gpu: true, env: { ATELIER_SHARD_INDEX: '0', ATELIER_OUTPUT_URI: 's3://o/' } } }] },
    ...extra,
  });

  beforeAll(async () => {
    await fake.start();
  });
  afterAll(async () => {
    await fake.stop();
  });

  test('the schema checker itself rejects what the source does not declare', () => {
    expect(problems({ error: 'x', detail: 'y' }, ERROR)).toEqual(['$.detail: not in the source schema']);
    expect(problems({ status: 'DONE', updated_at: '2026-06-01T00:00:00.000Z' }, STOP_ANSWER)).toHaveLength(1);
    expect(problems({ status: 'x', startTime: 0, endTime: null, opStates: [{}] }, { $ref: '#/components/schemas/FlowState' }, COMPONENTS).length).toBeGreaterThan(0);
  });

  test('a deployment through its lifecycle: every answer fits the source schemas', async () => {
    const created = await call('POST', '/deployments/create', createBody('k1'));
    expect(created.status).toBe(200);
    fits(created.body, DEPLOYMENT);
    // deploymentCreate.idempotency.test.ts (889ba81c):41-47: autostart leaves it STARTING, the key is not in the answer.
    expect(created.body).toMatchObject({ status: 'STARTING', strategy: 'SIMPLE', replicas: 1, timeout: 10 });
    expect(created.body).not.toHaveProperty('idempotency_key');
    const id = (created.body as { id: string }).id;

    const stages: string[] = [];
    for (const advance of [0, 2_000, 5_000, 30_000, 30_000]) {
      clock.advance(advance);
      const d = await call('GET', `/deployments/${id}`);
      fits(d.body, DEPLOYMENT);
      const jobs = await call('GET', `/deployments/${id}/jobs`);
      fits(jobs.body, JOB_LIST);
      const job = (jobs.body as { jobs: { job: string; state: string }[] }).jobs[0];
      stages.push(`${(d.body as { status: string }).status}/${job?.state ?? '-'}`);
      if (job) {
        const detail = await call('GET', `/deployments/${id}/jobs/${job.job}`);
        expect(detail.status).toBe(200);
        fits(detail.body, JOB_DETAIL);
      }
    }
    // jobAllActiveJobsStop.ts:25-43: STOPPED once no job is QUEUED or RUNNING.
    expect(stages).toEqual(['STARTING/-', 'RUNNING/QUEUED', 'RUNNING/RUNNING', 'RUNNING/RUNNING', 'STOPPED/COMPLETED']);
    const list = await call('GET', '/deployments?idempotency_key=k1');
    fits(list.body, DEPLOYMENT_LIST);
    expect((list.body as { deployments: { id: string }[] }).deployments.map((d) => d.id)).toEqual([id]);
  });

  test('status codes and error bodies: 400, 401, 404, 409 and the 500 of a stop in the wrong state', async () => {
    const bad = await call('POST', '/deployments/create', createBody('k2', { job_definition: { version: '0.2', ops: [] } }));
    expect(bad).toEqual({ status: 400, body: { error: 'Invalid request body.' } }); // deploymentCreate.ts (f076cf4):28-31, errors/index.ts:13
    fits(bad.body, ERROR);
    const unauthorized = await call('GET', '/deployments', undefined, { authorization: 'Bearer nope' });
    expect(unauthorized).toEqual({ status: 401, body: 'Unauthorized' }); // deploymentCreate.schema.ts:93-99
    const missing = await call('GET', `/deployments/${'1'.repeat(44)}`);
    expect(missing).toEqual({ status: 404, body: { error: 'Deployment not found.' } }); // getDeployment.ts:21-24, errors/index.ts:18
    const first = await call('POST', '/deployments/create', createBody('k3'));
    expect(first.status).toBe(200);
    const again = await call('POST', '/deployments/create', createBody('k3'));
    expect(again.status).toBe(409); // deploymentCreate.idempotency.test.ts (889ba81c):39-47
    fits(again.body, ERROR);
    expect(fake.submissionsFor('k3')).toBe(1);
    // deploymentStop.ts:21-27: STARTING cannot be stopped.
    const early = await call('POST', `/deployments/${(first.body as { id: string }).id}/stop`);
    expect(early).toEqual({ status: 500, body: { error: 'Deployment is in the incorrect state.' } });
    clock.advance(2_500);
    const stop = await call('POST', `/deployments/${(first.body as { id: string }).id}/stop`);
    expect(stop.status).toBe(200);
    fits(stop.body, STOP_ANSWER);
    const notFoundJob = await call('GET', `/deployments/${(first.body as { id: string }).id}/jobs/${'2'.repeat(44)}`);
    expect(notFoundJob).toEqual({ status: 404, body: { error: 'Job not found' } }); // getDeploymentJobById.ts:22-26
  });

  test('the list filters the real route has: limit 10|20|50|100, status, newest first', async () => {
    expect((await call('GET', '/deployments?limit=7')).status).toBe(400); // pagination.schema.ts:9-18
    const all = await call('GET', '/deployments?limit=100');
    fits(all.body, DEPLOYMENT_LIST);
    const rows = (all.body as { deployments: { created_at: string; status: string }[] }).deployments;
    expect(rows.map((r) => r.created_at)).toEqual([...rows.map((r) => r.created_at)].sort().reverse()); // list.ts:22 sort_order desc
    const stopped = await call('GET', '/deployments?status=STOPPED,STOPPING');
    expect((stopped.body as { deployments: { status: string }[] }).deployments.every((d) => ['STOPPED', 'STOPPING'].includes(d.status))).toBe(true);
  });
});
