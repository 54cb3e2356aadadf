// The ComputeProvider reconciler with in-memory fakes (a cache the status writer updates like the
// API server would, a scripted adapter, a Secret store) and a FakeClock: probe cadence, the breaker
// opening and closing through reconciles, spec.paused, credentials handling and the registry the
// RenderJob controller reads.
import type { ComputeProvider, ComputeProviderStatus, RenderShard } from '../../api/index.js';
import type { Offer, ProviderAdapter } from '../../providers/types.js';
import { FakeClock, flushMicrotasks } from '../../runtime/clock.js';
import { ComputeProviderReconciler, scrubSecret, type ProviderLister } from './reconciler.js';
import { ProviderRegistry } from './registry.js';
import { SecretNamespaceNotAllowed, secretReader } from './kube.js';
import { inFlightChanges } from './setup.js';
import { inFlightAt } from '../../kube/cache.js';

const SECRET = 'akash-api-key-VERY-SECRET-0123456789';
const MIN = 60_000;

class Cache implements ProviderLister {
  readonly objects = new Map<string, ComputeProvider>();
  get(name: string) { return this.objects.get(name); }
  list() { return [...this.objects.values()]; }
}

function provider(name: string, spec: Partial<ComputeProvider['spec']> = {}, generation = 1): ComputeProvider {
  return {
    apiVersion: 'atelier.dev/v1alpha1', kind: 'ComputeProvider',
    metadata: { name, generation, uid: `uid-${name}` },
    spec: { type: 'akash', endpoint: 'https://console-api.akash.network', credentialsSecretRef: { namespace: 'atelier-system', name: 'akash-api', key: 'apiKey' }, maxConcurrentShards: 10, ...spec },
  };
}

const h100 = (price = '2.71', available = 8): Offer => ({ offerId: `h100-${price}`, gpuModel: 'nvidia-h100', gpuCount: 1, usdPerGpuHour: price, rawPrice: price, rawUnit: 'USD/h', available });

/** An adapter whose listOffers answers from a script: an offer list, an Error, or 'hang'. */
class ScriptedAdapter {
  readonly type = 'akash' as const;
  calls = 0;
  constructor(public next: () => Offer[] | Error | 'hang') {}
  async listOffers(): Promise<Offer[]> {
    this.calls++;
    const r = this.next();
    if (r === 'hang') return new Promise<Offer[]>(() => {});
    if (r instanceof Error) throw r;
    return r;
  }
}

function setup(opts: { secrets?: Record<string, string>; inFlight?: (provider: string) => number } = {}) {
  const clock = new FakeClock(Date.parse('2026-11-24T12:00:00Z'));
  const cache = new Cache();
  const secrets = new Map(Object.entries(opts.secrets ?? { 'atelier-system/akash-api/apiKey': SECRET }));
  const writes: ComputeProviderStatus[] = [];
  const events: { type: string; reason: string; message: string }[] = [];
  const logs: string[] = [];
  const built: string[] = [];
  let script: () => Offer[] | Error | 'hang' = () => [h100()];
  const adapters: ScriptedAdapter[] = [];
  const log = (level: string) => (message: string, fields?: Record<string, unknown>) => { logs.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`); };
  const r = new ComputeProviderReconciler({
    providers: cache,
    adapterFor: (_p, credentials) => {
      built.push(credentials);
      const a = new ScriptedAdapter(() => script());
      adapters.push(a);
      return a as unknown as ProviderAdapter;
    },
    readSecret: async (ns, name, key) => {
      const v = secrets.get(`${ns}/${name}/${key}`);
      if (v === undefined) throw Object.assign(new Error('HTTP-Code: 404'), { code: 404, body: JSON.stringify({ message: `secrets "${name}" not found` }) });
      return v;
    },
    writer: {
      async patchStatus(name, status) {
        writes.push(status);
        const o = cache.objects.get(name)!;
        cache.objects.set(name, { ...o, status: JSON.parse(JSON.stringify(status)) as ComputeProviderStatus });
      },
    },
    clock,
    recorder: { event: (_o, type, reason, message) => events.push({ type, reason, message }) },
    log: { error: log('error'), warn: log('warn'), info: log('info'), debug: log('debug') },
    config: { probeIntervalMs: MIN, probeTimeoutMs: 10_000, breaker: { coolDownMs: 5 * MIN, maxCoolDownMs: 20 * MIN } },
    ...(opts.inFlight ? { registry: new ProviderRegistry({ clock, breaker: { coolDownMs: 5 * MIN, maxCoolDownMs: 20 * MIN }, inFlight: opts.inFlight }) } : {}),
  });
  return {
    clock, cache, secrets, writes, events, logs, built, adapters, r, registry: r.registry,
    script: (f: () => Offer[] | Error | 'hang') => { script = f; },
    status: (name = 'akash') => cache.objects.get(name)!.status!,
    ready: (name = 'akash') => cache.objects.get(name)!.status!.conditions!.find((c) => c.type === 'Ready')!,
  };
}

test('a healthy provider: probed, status written once, probed again only when due', async () => {
  const t = setup();
  t.cache.objects.set('akash', provider('akash'));
  expect(await t.r.reconcile('akash')).toEqual({ requeueAfterMs: MIN });
  expect(t.ready()).toMatchObject({ status: 'True', reason: 'ProbeSucceeded' });
  expect(t.status()).toMatchObject({ offers: [{ gpuModel: 'nvidia-h100', pricePerGpuHour: '2.71', available: 8 }], lastProbeTime: '2026-11-24T12:00:00.000Z', consecutiveFailures: 0, shardsInFlight: 0, reliability: '1.00' });
  expect(t.events.map((e) => e.reason)).toEqual(['ProviderReady']);
  // our own status write comes back as an update event: no probe, no write
  t.clock.advance(1000);
  expect(await t.r.reconcile('akash')).toEqual({ requeueAfterMs: MIN - 1000 });
  expect(t.adapters[0]!.calls).toBe(1);
  expect(t.writes).toHaveLength(1);
  // due: probed again with the same adapter (one adapter per provider)
  t.clock.advance(MIN);
  await t.r.reconcile('akash');
  expect(t.adapters).toHaveLength(1);
  expect(t.adapters[0]!.calls).toBe(2);
  expect(t.registry.plannerView()).toEqual({
    providers: [{ name: 'akash', inFlight: 0, reliability: 1, paused: false, maxConcurrentShards: 10 }],
    offers: [{ provider: 'akash', offerId: 'h100-2.71', gpuModel: 'nvidia-h100', pricePerGpuHourMicros: 2_710_000n, available: 8 }],
  });
});

test('failures open the circuit, which pauses the provider; after the cool-down a half-open probe closes it', async () => {
  const t = setup();
  t.cache.objects.set('akash', provider('akash'));
  await t.r.reconcile('akash');
  t.script(() => new Error('HTTP 503 from console-api'));
  for (let i = 1; i <= 2; i++) {
    t.clock.advance(MIN);
    expect(await t.r.reconcile('akash')).toEqual({ requeueAfterMs: MIN });
    expect(t.ready()).toMatchObject({ status: 'False', reason: 'ProbeFailed' });
    expect(t.status().consecutiveFailures).toBe(i);
    expect(t.registry.state('akash')!.accepting).toBe(true); // not paused before the breaker opens
  }
  t.clock.advance(MIN);
  expect(await t.r.reconcile('akash')).toEqual({ requeueAfterMs: 5 * MIN });
  expect(t.ready()).toMatchObject({ status: 'False', reason: 'CircuitOpen' });
  expect(t.status().pausedReason).toMatch(/^CircuitOpen: 3 failures in a row; last: HTTP 503 from console-api; next probe at /);
  expect(t.status().offers).toEqual([{ gpuModel: 'nvidia-h100', pricePerGpuHour: '2.71', available: 8 }]); // last good probe
  expect(t.registry.plannerView().providers[0]).toMatchObject({ paused: true, pausedReason: 'CircuitOpen' });
  expect(t.registry.breakerState('akash')).toBe('Open');
  expect(t.events.map((e) => e.reason)).toEqual(['ProviderReady', 'ProbeFailed', 'ProbeFailed', 'ProbeFailed', 'CircuitOpened']);

  // while open: no probes
  t.clock.advance(2 * MIN);
  expect(await t.r.reconcile('akash')).toEqual({ requeueAfterMs: 3 * MIN });
  expect(t.adapters[0]!.calls).toBe(4);

  // half-open: one probe; it succeeds and closes the breaker
  t.script(() => [h100('2.50', 4)]);
  t.clock.advance(3 * MIN);
  expect(await t.r.reconcile('akash')).toEqual({ requeueAfterMs: MIN });
  expect(t.ready()).toMatchObject({ status: 'True', reason: 'ProbeSucceeded' });
  expect(t.status().pausedReason).toBeUndefined();
  expect(t.status().consecutiveFailures).toBe(0);
  expect(t.status().offers).toEqual([{ gpuModel: 'nvidia-h100', pricePerGpuHour: '2.50', available: 4 }]);
  expect(t.registry.state('akash')!.accepting).toBe(true);
  expect(t.events.map((e) => e.reason).slice(-2)).toEqual(['CircuitClosed', 'ProviderReady']);
});

test('a failed half-open probe reopens the circuit for twice as long', async () => {
  const t = setup();
  t.cache.objects.set('akash', provider('akash'));
  t.script(() => new Error('down'));
  for (let i = 0; i < 3; i++) { await t.r.reconcile('akash'); t.clock.advance(MIN); }
  t.clock.advance(5 * MIN);
  expect(await t.r.reconcile('akash')).toEqual({ requeueAfterMs: 10 * MIN });
  expect(t.events.at(-1)!.reason).toBe('CircuitOpened');
});

test('a probe that hangs fails after the probe timeout', async () => {
  const t = setup();
  t.cache.objects.set('akash', provider('akash'));
  t.script(() => 'hang');
  const done = t.r.reconcile('akash');
  await flushMicrotasks();
  await t.clock.advanceAsync(10_000);
  await done;
  expect(t.ready()).toMatchObject({ status: 'False', reason: 'ProbeFailed', message: expect.stringContaining('probe timed out after 10s') });
});

test('spec.paused: no probe, Ready False Paused; unpausing probes at once', async () => {
  const t = setup();
  t.cache.objects.set('akash', provider('akash', { paused: true }));
  expect(await t.r.reconcile('akash')).toEqual({});
  expect(t.adapters).toHaveLength(0);
  expect(t.ready()).toMatchObject({ status: 'False', reason: 'Paused' });
  expect(t.status().pausedReason).toBe('spec.paused is true');
  expect(t.registry.plannerView().providers[0]).toMatchObject({ paused: true, pausedReason: 'spec.paused' });
  t.cache.objects.set('akash', { ...provider('akash', { paused: false }, 2), status: t.status() });
  await t.r.reconcile('akash');
  expect(t.ready()).toMatchObject({ status: 'True' });
  expect(t.status().pausedReason).toBeUndefined();
});

test('credentials: only from the Secret, never in status, events or logs; a rotated Secret gets a new adapter', async () => {
  const t = setup();
  t.cache.objects.set('akash', provider('akash'));
  t.script(() => new Error(`401 Unauthorized: invalid x-api-key ${SECRET}`));
  await t.r.reconcile('akash');
  expect(t.built).toEqual([SECRET]);
  const everything = JSON.stringify({ writes: t.writes, events: t.events, logs: t.logs });
  expect(everything).not.toContain(SECRET);
  expect(t.ready().message).toContain('[REDACTED]');

  t.secrets.set('atelier-system/akash-api/apiKey', 'rotated-key-0000000000');
  t.script(() => [h100()]);
  t.clock.advance(MIN);
  await t.r.reconcile('akash');
  expect(t.built).toEqual([SECRET, 'rotated-key-0000000000']);
  expect(t.ready().status).toBe('True');
  // a spec edit that does not change what the adapter is built from keeps the adapter (and its state)
  t.cache.objects.set('akash', { ...provider('akash', { maxPricePerGpuHour: '2.00' }, 2), status: t.status() });
  await t.r.reconcile('akash');
  expect(t.built).toHaveLength(2);
  expect(t.adapters[1]!.calls).toBe(2); // the generation change itself makes a probe due
});

test('a missing Secret or credentials ref: Ready False with the reason, retried at the next probe', async () => {
  const t = setup({ secrets: {} });
  t.cache.objects.set('akash', provider('akash'));
  expect(await t.r.reconcile('akash')).toEqual({ requeueAfterMs: MIN });
  expect(t.ready()).toMatchObject({ status: 'False', reason: 'CredentialsUnavailable', message: 'reading Secret atelier-system/akash-api key apiKey: HTTP 404: secrets "akash-api" not found' });
  expect(t.registry.plannerView().providers[0]!.paused).toBe(true);
  t.cache.objects.set('render', provider('render', { type: 'render', credentialsSecretRef: undefined }));
  await t.r.reconcile('render');
  expect(t.ready('render')).toMatchObject({ status: 'False', reason: 'CredentialsMissing', message: 'spec.credentialsSecretRef is not set' });
  // the Secret appears: the next due probe works
  t.secrets.set('atelier-system/akash-api/apiKey', SECRET);
  t.clock.advance(MIN);
  await t.r.reconcile('akash');
  expect(t.ready().status).toBe('True');
});

test('subnet providers read the kubeconfig from spec.subnet.kubeconfigSecretRef', async () => {
  const t = setup({ secrets: { 'atelier-system/studio-b/kubeconfig': 'apiVersion: v1\nkind: Config' } });
  t.cache.objects.set('studio-b', provider('studio-b', { type: 'subnet', endpoint: undefined, credentialsSecretRef: undefined, subnet: { kubeconfigSecretRef: { namespace: 'atelier-system', name: 'studio-b', key: 'kubeconfig' }, namespace: 'shared-renders' } }));
  await t.r.reconcile('studio-b');
  expect(t.built).toEqual(['apiVersion: v1\nkind: Config']);
});

test('an open breaker written before a restart is restored from the status', async () => {
  const t = setup();
  const openedAt = t.clock.now() - MIN;
  t.cache.objects.set('akash', {
    ...provider('akash'),
    status: { consecutiveFailures: 3, conditions: [{ type: 'Ready', status: 'False', reason: 'CircuitOpen', message: 'x', lastTransitionTime: new Date(openedAt).toISOString() }] },
  });
  expect(await t.r.reconcile('akash')).toEqual({ requeueAfterMs: 4 * MIN });
  expect(t.adapters).toHaveLength(0);
  expect(t.registry.plannerView().providers[0]!.paused).toBe(true);
});

test('a deleted provider leaves the registry', async () => {
  const t = setup();
  t.cache.objects.set('akash', provider('akash'));
  await t.r.reconcile('akash');
  t.cache.objects.delete('akash');
  expect(await t.r.reconcile('akash')).toEqual({});
  expect(t.registry.names()).toEqual([]);
});

describe('ProviderRegistry', () => {
  test('in-flight counts are read from the RenderShards (level-based): the planner and the status see them; outcomes feed the breaker at once', async () => {
    // Before: nothing in production reported in-flight counts to the registry, so status.shardsInFlight stayed 0.
    const shards = new Map<string, RenderShard>();
    const shard = (name: string, st: RenderShard['status']): RenderShard => ({ apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderShard', metadata: { name, namespace: 'studio' }, spec: { jobName: 'a', index: 0 }, status: st });
    const t = setup({ inFlight: (p) => [...shards.values()].filter((s) => inFlightAt(s).includes(p)).length });
    t.cache.objects.set('akash', provider('akash'));
    await t.r.reconcile('akash');
    const running = { placement: 'Remote' as const, provider: 'akash', idempotencyKey: 'k', phase: 'Running' as const };
    shards.set('a-0', shard('a-0', running));
    shards.set('a-1', shard('a-1', { ...running, phase: 'Scheduled' }));
    shards.set('a-2', shard('a-2', { ...running, phase: 'Succeeded' })); // finished: not in flight
    shards.set('a-3', shard('a-3', { placement: 'Local', phase: 'Running' }));
    expect(t.registry.inFlight('akash')).toBe(2);
    expect(t.registry.plannerView().providers[0]!.inFlight).toBe(2);
    // what the ComputeProvider setup watches: an update that moves a shard in or out of flight
    expect(inFlightChanges(shards.get('a-1'), shard('a-1', { ...running, phase: 'Succeeded' }))).toEqual(['akash']);
    expect(inFlightChanges(shards.get('a-0'), shard('a-0', { ...running, phase: 'Running', startTime: 'x' }))).toEqual([]);
    await t.r.reconcile('akash');
    expect(t.status().shardsInFlight).toBe(2);
    for (let i = 0; i < 3; i++) t.registry.recordOutcome('akash', false, 'submit failed');
    expect(t.registry.breakerState('akash')).toBe('Open');
    // the planner's next look, in the same instant, already sees the breaker open
    expect(t.registry.plannerView().providers[0]).toMatchObject({ paused: true, pausedReason: 'CircuitOpen' });
    expect(await t.registry.get('akash')).toBe(t.adapters[0]); // still there for tracking and cancelling
    expect(t.registry.state('akash')).toMatchObject({ accepting: false, pausedReason: 'CircuitOpen' });
  });

  test('a 402 pauses the provider (InsufficientFunds on its status, not its breaker) until the pause ends', async () => {
    const t = setup();
    t.cache.objects.set('akash', provider('akash'));
    await t.r.reconcile('akash');
    t.registry.recordInsufficientFunds('akash', 'HTTP 402: insufficient balance');
    expect(t.registry.plannerView().providers[0]).toMatchObject({ paused: true, pausedReason: 'InsufficientFunds' });
    expect(t.registry.breakerState('akash')).toBe('Closed');
    await t.r.reconcile('akash');
    expect(t.status().conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'InsufficientFunds' });
    t.clock.advance(5 * MIN + 1);
    expect(t.registry.plannerView().providers[0]!.paused).toBe(false);
    await t.r.reconcile('akash');
    expect(t.status().conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True' });
  });

  test('a probe that changes nothing the planner sees is not a change', async () => {
    const t = setup();
    t.cache.objects.set('akash', provider('akash'));
    await t.r.reconcile('akash');
    const changed: string[] = [];
    t.registry.onChange((p) => changed.push(p));
    t.clock.advance(MIN);
    await t.r.reconcile('akash'); // same offers again
    expect(t.adapters[0]!.calls).toBe(2);
    expect(changed).toEqual([]);
  });

  test('an unknown provider is not probed into existence', () => {
    const reg = new ProviderRegistry({ clock: new FakeClock() });
    expect(reg.recordOutcome('nope', false)).toBeUndefined();
    expect(reg.state('nope')).toBeUndefined();
  });
});

test('scrubSecret removes the value and its long pieces', () => {
  expect(scrubSecret('token abcdefgh12345 in a message', 'user: x\n  token: abcdefgh12345\n')).toBe('token [REDACTED] in a message');
  expect(scrubSecret('nothing here', undefined)).toBe('nothing here');
});

test('a Secret reference outside the operator namespace is refused before any API call, and the provider says why (SecretNamespaceNotAllowed)', async () => {
  let calls = 0;
  const read = secretReader({ readNamespacedSecret: async () => { calls++; return { data: { apiKey: Buffer.from('x').toString('base64') } }; } } as never, 'atelier-system');
  await expect(read('kube-system', 'bootstrap-token-abcdef', 'token-secret')).rejects.toBeInstanceOf(SecretNamespaceNotAllowed);
  expect(calls).toBe(0);
  expect(await read('atelier-system', 'akash-api', 'apiKey')).toBe('x');
  expect(calls).toBe(1);
  const t = setup();
  (t.r as unknown as { d: { readSecret: typeof read } }).d.readSecret = read;
  t.cache.objects.set('akash', provider('akash', { credentialsSecretRef: { namespace: 'kube-system', name: 'bootstrap-token-abcdef', key: 'token-secret' } }));
  await t.r.reconcile('akash');
  expect(t.status().conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'SecretNamespaceNotAllowed' });
  expect(t.status().conditions?.find((c) => c.type === 'Ready')?.message).toMatch(/only from the operator's namespace "atelier-system", not "kube-system"/);
  expect(t.built).toEqual([]);
});
