// Builds the Akash SDL (YAML text) for one shard: one service `shard` with the shard's image,
// command, args and env (`"K=V"` strings, including the idempotency marker), one compute profile with
// GPU units and `vendor.nvidia[{model, ram}]` attributes, and a placement price per block in
// micro-denom (the most any provider may bid). Every scalar the user controls is written as a JSON
// string, which is a valid YAML double-quoted scalar, so no value can break the document. The same
// shard, key and options always give the same SDL, hence the same manifest and manifest version:
// manifestOf() validates it and derives both with Akash's own @akashnetwork/chain-sdk
// (generateManifest, manifestToSortedJSON, generateManifestVersion), exactly as the console does
// (akash-network/console apps/api/src/deployment/services/deployment-writer/deployment-writer.service.ts:44-68,
// services/sdl/sdl.service.ts). The version is the deployment's on-chain `hash`, which is how a
// deployment is found again by its key, and the manifest is what a lease needs, so both survive an
// operator restart. Pricing is not part of the manifest, so the console's denom rewrite (to uact on
// mainnet) changes neither. Also maps Atelier GPU names to Akash's.

import { generateManifest, generateManifestVersion, manifestToSortedJSON, yaml } from '@akashnetwork/chain-sdk';
import type { SDLInput } from '@akashnetwork/chain-sdk';
import type { EnvVar, ShardSpec } from '../types.js';
import { akashGpuOf } from '../../gpus/index.js';

export interface AkashGpu {
  model: string;
  ram?: string;
}

/**
 * `nvidia-h100` -> {model: h100}; `nvidia-a100-80gb` -> {model: a100, ram: 80Gi};
 * `nvidia-rtx-4090` -> {model: rtx4090}. Akash names models without vendor or dashes.
 */
export function akashGpu(name: string): AkashGpu {
  const known = akashGpuOf(name);
  if (known) return known;
  let rest = name.toLowerCase().replace(/^nvidia[-_ ]/, '');
  let ram: string | undefined;
  const mem = /[-_ ](\d+)gb?$/.exec(rest);
  if (mem) {
    ram = `${mem[1]}Gi`;
    rest = rest.slice(0, mem.index);
  }
  const gpu: AkashGpu = { model: rest.replace(/[-_ ]/g, '') };
  if (ram) gpu.ram = ram;
  return gpu;
}

/** The Atelier name for an Akash model (inverse of akashGpu for the common cases). */
export function atelierGpuName(vendor: string, model: string, ram?: string, requested: string[] = []): string {
  const hit = requested.find((r) => {
    const g = akashGpu(r);
    return g.model === model.toLowerCase() && (g.ram === undefined || g.ram === ram);
  });
  return hit ?? `${vendor.toLowerCase()}-${model.toLowerCase()}`;
}

export interface SdlInput {
  spec: ShardSpec;
  env: EnvVar[];
  denom: string;
  /** Max price per block for the whole order, micro-denom decimal string. */
  amountPerBlock: string;
  exposePort: number;
  cpu: number;
  memoryGi: number;
  storageGi: number;
}

const q = (s: string): string => JSON.stringify(s);

export function buildSdl(input: SdlInput): string {
  const { spec } = input;
  const lines: string[] = ['---', 'version: "2.0"', 'services:', '  shard:', `    image: ${q(spec.image)}`];
  if (spec.command.length > 0) lines.push('    command:', ...spec.command.map((c) => `      - ${q(c)}`));
  if (spec.args.length > 0) lines.push('    args:', ...spec.args.map((a) => `      - ${q(a)}`));
  if (input.env.length > 0) lines.push('    env:', ...input.env.map((e) => `      - ${q(`${e.name}=${e.value}`)}`));
  lines.push('    expose:', `      - port: ${input.exposePort}`, '        as: 80', '        to:', '          - global: true');
  lines.push(
    'profiles:',
    '  compute:',
    '    shard:',
    '      resources:',
    '        cpu:',
    `          units: ${input.cpu}`,
    '        memory:',
    `          size: ${input.memoryGi}Gi`,
    '        storage:',
    `          - size: ${input.storageGi}Gi`,
    '        gpu:',
    `          units: ${spec.gpuCount}`,
    '          attributes:',
    '            vendor:',
  );
  const gpus = spec.gpuModels.map(akashGpu);
  if (gpus.length === 0) {
    lines.push('              nvidia:');
  } else {
    lines.push('              nvidia:');
    for (const g of gpus) {
      lines.push(`                - model: ${q(g.model)}`);
      if (g.ram) lines.push(`                  ram: ${q(g.ram)}`);
    }
  }
  lines.push(
    '  placement:',
    '    dcloud:',
    '      pricing:',
    '        shard:',
    `          denom: ${q(input.denom)}`,
    `          amount: ${q(input.amountPerBlock)}`,
    'deployment:',
    '  shard:',
    '    dcloud:',
    '      profile: shard',
    '      count: 1',
  );
  return `${lines.join('\n')}\n`;
}

export interface SdlManifest {
  /** What POST /v1/leases takes: manifestToSortedJSON(groups). */
  manifest: string;
  /** base64 of generateManifestVersion(groups): the deployment's `hash`. */
  version: string;
}

/**
 * The manifest and manifest version of an SDL, as the console computes them; an Error with the SDK's
 * validation messages when the SDL is not valid.
 */
export async function manifestOf(sdl: string): Promise<SdlManifest> {
  const result = generateManifest(yaml.raw<SDLInput>(sdl));
  if (!result.ok) throw new Error(`Invalid SDL: ${result.value.map((e) => e.message).join(', ')}`);
  const version = await generateManifestVersion(result.value.groups);
  return { manifest: manifestToSortedJSON(result.value.groups), version: Buffer.from(version).toString('base64') };
}
