// The typed RenderJob construct and the TypeScript example: the example synthesizes to valid
// RenderJob YAML (one per scene, in the namespace asked for, with the spec fields the DESIGN names),
// and the construct refuses, at synth time, the specs the API server would reject.
import { App, Chart, Testing } from 'cdk8s';
import { dump, loadAll } from 'js-yaml';
import { SCENES, synthExampleJobs } from './example-job.js';
import { RenderJob, renderJobSpecProblems, type RenderJobSpec } from './renderjob.js';

const base = (): RenderJobSpec => ({
  template: { image: 'ghcr.io/acme/sdxl-batch:1.4', resources: { limits: { 'nvidia.com/gpu': 1 } } },
  shards: { count: 4 },
});

describe('example-job.ts', () => {
  const objs = synthExampleJobs('studio');

  test('synthesizes one RenderJob per scene as YAML that round-trips', () => {
    const yaml = objs.map((o) => `---\n${dump(o, { noRefs: true })}`).join('');
    const back = (loadAll(yaml) as Record<string, any>[]).filter(Boolean);
    expect(back).toEqual(objs);
    expect(back.map((o) => `${o.apiVersion} ${o.kind} ${o.metadata.namespace}/${o.metadata.name}`)).toEqual(
      SCENES.map((s) => `atelier.dev/v1alpha1 RenderJob studio/flythrough-${s.name}`),
    );
  });

  test('carries the scene into frames, command, env and output', () => {
    const atrium = objs.find((o) => o.metadata.name === 'flythrough-atrium')!;
    expect(atrium.spec.shards.frames).toEqual({ start: 1, end: 240, perShard: 12 });
    expect(atrium.spec.template.command).toContain('/scenes/atrium.blend');
    expect(atrium.spec.template.env).toEqual([{ name: 'SCENE', value: 'atrium' }]);
    expect(atrium.spec.template.resources.limits['nvidia.com/gpu']).toBe(1);
    expect(atrium.spec.output.uri).toBe('s3://renders/flythrough/atrium/');
    expect(atrium.spec.placement).toEqual({ policy: 'Burst', burstAfter: '5m', maxPricePerGpuHour: '2.50' });
    expect(atrium.spec.settlement).toEqual({ enabled: true });
    expect(atrium.metadata.labels).toEqual({ 'app.kubernetes.io/part-of': 'flythrough' });
  });
});

describe('RenderJob construct', () => {
  test('synthesizes apiVersion, kind, metadata and the spec unchanged', () => {
    const chart = Testing.chart();
    new RenderJob(chart, 'job', { metadata: { name: 'one', namespace: 'studio' }, spec: base() });
    expect(Testing.synth(chart)).toEqual([{ apiVersion: 'atelier.dev/v1alpha1', kind: 'RenderJob', metadata: { name: 'one', namespace: 'studio' }, spec: base() }]);
  });

  test.each<[string, (s: RenderJobSpec) => void, RegExp]>([
    ['both count and frames', (s) => { s.shards.frames = { start: 1, end: 10 }; }, /exactly one of count or frames/],
    ['neither count nor frames', (s) => { delete s.shards.count; }, /exactly one of count or frames/],
    ['zero shards', (s) => { s.shards.count = 0; }, /count must be an integer in 1\.\.100000/],
    ['frames backwards', (s) => { delete s.shards.count; s.shards.frames = { start: 10, end: 1 }; }, /end \(1\) is before start \(10\)/],
    ['no GPU limit', (s) => { s.template.resources.limits = { cpu: '4' }; }, /nvidia\.com\/gpu as an integer >= 1/],
    ['fractional GPU', (s) => { s.template.resources.limits['nvidia.com/gpu'] = '0.5'; }, /nvidia\.com\/gpu as an integer >= 1/],
    ['spot-check fraction above 1', (s) => { s.verification = { spotCheckFraction: 1.5 }; }, /spotCheckFraction must be in 0\.\.1/],
  ])('rejects %s', (_name, change, message) => {
    const spec = base();
    change(spec);
    expect(renderJobSpecProblems(spec).join('; ')).toMatch(message);
    expect(() => new RenderJob(new Chart(new App(), 'c'), 'bad', { spec })).toThrow(message);
  });
});
