// The GPU catalog: one list of the GPU models Atelier knows (catalog.json, the data), with their
// VRAM, approximate relative speed, node label values and each provider's own names, plus the
// reference on-demand cloud prices `atelier plan` compares against. Lookups only — the planner, the
// adapters, the CRD generator (gpu.models enum) and docs/gpus.md all read this one file.
import data from './catalog.json' with { type: 'json' };

export interface AkashGpuAttrs {
  model: string;
  ram?: string;
}

export interface GpuInfo {
  /** Canonical name, used in RenderJob spec.gpu.models, offers and status. */
  name: string;
  vramGi: number;
  /** Dense FP16/BF16 tensor TFLOPS (approximate, vendor spec sheets). */
  fp16TensorTflops: number;
  fp32Tflops: number;
  /** fp16TensorTflops relative to H100 SXM (= 1.0); a coarse prior for shard durations. */
  relativeSpeed: number;
  /** Values of the node label nvidia.com/gpu.product (GPU feature discovery) for this model. */
  nodeLabels: string[];
  akash: AkashGpuAttrs;
  chutes: string;
  render: string;
  vastai: string[];
  nosana: string[];
}

export interface ReferencePrices {
  illustrative: boolean;
  asOf: string;
  source: string;
  /** Canonical GPU name -> USD per GPU-hour, decimal string. */
  pricesPerGpuHour: Record<string, string>;
}

interface CatalogFile {
  speedBasis: string;
  gpus: GpuInfo[];
  referencePrices: ReferencePrices;
}

const catalog = data as unknown as CatalogFile;

export const GPUS: readonly GpuInfo[] = catalog.gpus;
export const SPEED_BASIS: string = catalog.speedBasis;
export const REFERENCE_PRICES: ReferencePrices = catalog.referencePrices;

const byName = new Map(GPUS.map((g) => [g.name, g]));
const byAlias = new Map<string, GpuInfo>();
for (const g of GPUS) for (const a of [g.name, ...g.nodeLabels]) byAlias.set(a.toLowerCase(), g);

/** Canonical names, in catalog order. */
export function knownGpuNames(): string[] {
  return GPUS.map((g) => g.name);
}

export function gpuInfo(name: string): GpuInfo | undefined {
  return byName.get(name) ?? byAlias.get(name.toLowerCase());
}

/** The canonical name for a canonical name or a node label value (case-insensitive); other names unchanged. */
export function canonicalGpuName(name: string): string {
  return byAlias.get(name.toLowerCase())?.name ?? name;
}

/** Names in `names` the catalog does not know (canonical names and node label values are known). */
export function unknownGpuNames(names: readonly string[]): string[] {
  return names.filter((n) => !byAlias.has(n.toLowerCase()));
}

const QUANTITY = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/;
const FACTOR: Record<string, number> = { '': 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };

/** A Kubernetes memory quantity ("48Gi", "40G", "81920Mi") in GiB; throws on anything else. */
export function quantityToGi(q: string): number {
  const m = QUANTITY.exec(q.trim());
  if (!m) throw new Error(`not a memory quantity such as 48Gi: ${JSON.stringify(q)}`);
  return (Number(m[1]) * FACTOR[m[2] ?? '']!) / 2 ** 30;
}

/**
 * The models a job may use: spec.gpu.models (canonicalised; all when empty) narrowed to those with
 * at least `minMemory` of VRAM. Undefined when neither is set (any model). Throws when a name is
 * unknown, listing the known ones.
 */
export function selectGpuModels(models: readonly string[] | undefined, minMemory: string | undefined): string[] | undefined {
  if (!models?.length && minMemory === undefined) return undefined;
  const unknown = unknownGpuNames(models ?? []);
  if (unknown.length) throw new Error(`unknown GPU model(s) ${unknown.join(', ')}; known: ${knownGpuNames().join(', ')}`);
  const base = models?.length ? [...new Set(models.map(canonicalGpuName))] : knownGpuNames();
  if (minMemory === undefined) return base;
  const min = quantityToGi(minMemory);
  return base.filter((n) => byName.get(n)!.vramGi >= min);
}

/** Vast.ai gpu_name values per canonical model (only models Vast lists). */
export function vastGpuNameTable(): Record<string, string[]> {
  return Object.fromEntries(GPUS.filter((g) => g.vastai.length > 0).map((g) => [g.name, [...g.vastai]]));
}

/** Render's gpu_name for a canonical model, when the catalog has it. */
export function renderGpuNameOf(name: string): string | undefined {
  return byName.get(name)?.render;
}

/** Chutes' GPU key for a canonical model, when the catalog has it. */
export function chutesGpuKeyOf(name: string): string | undefined {
  return byName.get(name)?.chutes;
}

/** Akash SDL gpu attributes (vendor nvidia) for a canonical model, when the catalog has it. */
export function akashGpuOf(name: string): AkashGpuAttrs | undefined {
  const a = byName.get(name)?.akash;
  return a ? { ...a } : undefined;
}

/** Reference prices with a ConfigMap's data laid over them (keys: GPU names, plus `source` and `asOf`). */
export function referencePrices(override?: Record<string, string>): ReferencePrices {
  if (!override || Object.keys(override).length === 0) return REFERENCE_PRICES;
  const prices: Record<string, string> = { ...REFERENCE_PRICES.pricesPerGpuHour };
  for (const [k, v] of Object.entries(override)) {
    if (k === 'source' || k === 'asOf') continue;
    if (!/^[0-9]+(\.[0-9]{1,6})?$/.test(v.trim())) throw new Error(`reference price for ${k}: not a decimal USD amount: ${JSON.stringify(v)}`);
    prices[canonicalGpuName(k)] = v.trim();
  }
  return { illustrative: false, asOf: override.asOf ?? 'unknown', source: override.source ?? 'ConfigMap atelier-reference-prices', pricesPerGpuHour: prices };
}
