// An example of RenderJobs written in TypeScript: one frame-range job per scene of a flythrough,
// all sharing a template, bursting to providers after five minutes and settling on-chain. The loop
// and the shared defaults are the point: what would be N near-identical YAML files is one function.
// example-job.test.ts checks the YAML it synthesizes; test/install/cdk8s.test.ts applies it to a
// real API server. Run it: compile with tsc (see install.ts) and `node .../cdk8s/example-job.js`.
import { pathToFileURL } from 'node:url';
import { App, Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { dump } from 'js-yaml';
import { RenderJob, type RenderJobSpec } from './renderjob.js';

export interface Scene {
  name: string;
  blendFile: string;
  frames: { start: number; end: number };
}

export const SCENES: Scene[] = [
  { name: 'atrium', blendFile: '/scenes/atrium.blend', frames: { start: 1, end: 240 } },
  { name: 'lobby', blendFile: '/scenes/lobby.blend', frames: { start: 1, end: 120 } },
  { name: 'rooftop', blendFile: '/scenes/rooftop.blend', frames: { start: 1, end: 360 } },
];

function sceneSpec(scene: Scene, outputBase: string): RenderJobSpec {
  return {
    template: {
      image: 'ghcr.io/acme/blender-render:4.2',
      command: ['blender', '--background', scene.blendFile, '--python', '/opt/atelier/render_range.py'],
      env: [{ name: 'SCENE', value: scene.name }],
      resources: { limits: { 'nvidia.com/gpu': 1, cpu: '8', memory: '32Gi' } },
      metadata: { labels: { team: 'lookdev', scene: scene.name } },
    },
    gpu: { models: ['nvidia-h100', 'nvidia-rtx-4090'] },
    shards: { frames: { ...scene.frames, perShard: 12 }, parallelism: 16, maxRetries: 3 },
    placement: { policy: 'Burst', burstAfter: '5m', maxPricePerGpuHour: '2.50' },
    budget: { maxCost: '120.00' },
    output: { uri: `${outputBase}${scene.name}/` },
    verification: { spotCheckFraction: 0.05 },
    settlement: { enabled: true },
  };
}

/** One RenderJob per scene, in `namespace`. */
export class FlythroughJobs extends Chart {
  constructor(scope: Construct, id: string, namespace: string, scenes: Scene[] = SCENES) {
    super(scope, id, { namespace, labels: { 'app.kubernetes.io/part-of': 'flythrough' } });
    for (const scene of scenes) {
      new RenderJob(this, scene.name, { metadata: { name: `flythrough-${scene.name}` }, spec: sceneSpec(scene, 's3://renders/flythrough/') });
    }
  }
}

/** The example's manifests as plain objects. */
export function synthExampleJobs(namespace = 'studio', scenes: Scene[] = SCENES): Record<string, any>[] {
  return new FlythroughJobs(new App(), 'flythrough', namespace, scenes).toJson();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(synthExampleJobs().map((o) => `---\n${dump(o, { noRefs: true })}`).join(''));
}
