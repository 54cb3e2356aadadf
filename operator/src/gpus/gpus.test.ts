// The GPU catalog's lookups and its consistency with the provider adapters' own name functions.
import { canonicalGpuName, GPUS, knownGpuNames, quantityToGi, referencePrices, selectGpuModels, unknownGpuNames, vastGpuNameTable } from './index.js';
import { VAST_GPU_NAMES } from '../providers/vastai/adapter.js';
import { akashGpu } from '../providers/akash/sdl.js';
import { renderGpuName } from '../providers/render/adapter.js';
import { chutesGpuKey } from '../providers/bittensor/adapter.js';

test('every entry is complete and H100 is the speed reference', () => {
  expect(new Set(knownGpuNames()).size).toBe(GPUS.length);
  for (const g of GPUS) {
    expect(g.vramGi).toBeGreaterThan(0);
    expect(g.relativeSpeed).toBeGreaterThan(0);
    // relativeSpeed is the stated ratio of dense FP16/BF16 TFLOPS, to two digits
    expect(Math.abs(g.relativeSpeed - g.fp16TensorTflops / 989)).toBeLessThan(0.01);
    expect(g.nodeLabels.length).toBeGreaterThan(0);
  }
  expect(GPUS.find((g) => g.name === 'nvidia-h100')!.relativeSpeed).toBe(1);
});

test('node label values canonicalise; unknown names are reported', () => {
  expect(canonicalGpuName('NVIDIA-H100-80GB-HBM3')).toBe('nvidia-h100');
  expect(canonicalGpuName('nvidia-geforce-rtx-4090')).toBe('nvidia-rtx-4090');
  expect(canonicalGpuName('mystery')).toBe('mystery');
  expect(unknownGpuNames(['nvidia-h100', 'nvidia-x'])).toEqual(['nvidia-x']);
});

test('minMemory selects models from the catalog', () => {
  expect(quantityToGi('48Gi')).toBe(48);
  expect(quantityToGi('81920Mi')).toBe(80);
  expect(() => quantityToGi('48 gigs')).toThrow(/memory quantity/);
  expect(selectGpuModels(undefined, undefined)).toBeUndefined();
  expect(selectGpuModels(['nvidia-rtx-4090', 'nvidia-h100'], '48Gi')).toEqual(['nvidia-h100']);
  const big = selectGpuModels(undefined, '80Gi')!;
  expect(big).toEqual(GPUS.filter((g) => g.vramGi >= 80).map((g) => g.name));
  expect(big).toContain('nvidia-a100-80gb');
  expect(big).not.toContain('nvidia-a100-40gb');
  expect(() => selectGpuModels(['nvidia-x'], undefined)).toThrow(/unknown GPU model\(s\) nvidia-x; known: nvidia-b200, .*nvidia-rtx-3090/);
});

test('provider names in the catalog are what the adapters send', () => {
  expect(VAST_GPU_NAMES).toEqual(vastGpuNameTable());
  for (const g of GPUS) {
    expect({ g: g.name, akash: akashGpu(g.name) }).toEqual({ g: g.name, akash: g.akash });
    expect({ g: g.name, render: renderGpuName(g.name) }).toEqual({ g: g.name, render: g.render });
    expect({ g: g.name, chutes: chutesGpuKey(g.name) }).toEqual({ g: g.name, chutes: g.chutes });
  }
});

test('reference prices: defaults are marked illustrative; a ConfigMap overrides them', () => {
  const d = referencePrices();
  expect(d.illustrative).toBe(true);
  expect(d.asOf).toMatch(/^\d{4}-\d{2}$/);
  const o = referencePrices({ 'NVIDIA-H100-80GB-HBM3': '3.00', asOf: '2026-11', source: 'our contract' });
  expect(o).toMatchObject({ illustrative: false, asOf: '2026-11', source: 'our contract' });
  expect(o.pricesPerGpuHour['nvidia-h100']).toBe('3.00');
  expect(o.pricesPerGpuHour['nvidia-l4']).toBe(d.pricesPerGpuHour['nvidia-l4']);
  expect(() => referencePrices({ 'nvidia-h100': 'cheap' })).toThrow(/nvidia-h100/);
});
