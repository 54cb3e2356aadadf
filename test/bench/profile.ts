// Summaries of what PROFILE=1 leaves beside the results: a V8 CPU profile (.cpuprofile, from
// --cpu-prof) as self time by function and by package, and a heap snapshot (.heapsnapshot) as
// retained-by-nobody self size by constructor. Enough to name the hot spot in a report without
// opening DevTools.
//   node test/bench/run.mjs profile.ts FILE.cpuprofile|FILE.heapsnapshot [TOP]
import { readFileSync } from 'node:fs';

interface CpuNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }
interface CpuProfile { nodes: CpuNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

function where(url: string): string {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1]!;
  if (url.includes('/dist/operator/')) return 'atelier';
  if (url.startsWith('node:') || url === '') return url || '(native/gc)';
  return url.replace(/^file:\/\/.*\/(?=[^/]+\/[^/]+$)/, '');
}

export function summarizeCpu(file: string, top = 25): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) selfUs.set(p.samples[i]!, (selfUs.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  const byFn = new Map<string, number>();
  const byPkg = new Map<string, number>();
  let total = 0;
  for (const n of p.nodes) {
    const us = selfUs.get(n.id) ?? 0;
    if (!us) continue;
    total += us;
    const fn = `${n.callFrame.functionName || '(anonymous)'} ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + us);
    const pkg = n.callFrame.functionName === '(idle)' ? '(idle)' : where(n.callFrame.url);
    byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + us);
  }
  const fmt = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([k, us]) => `${(us / 1e6).toFixed(2).padStart(8)} s ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`).join('\n');
  return `CPU profile ${file}: ${(total / 1e6).toFixed(1)} s sampled\n\nby package:\n${fmt(byPkg)}\n\nby function (self time):\n${fmt(byFn)}\n`;
}

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] }; node_count: number };
  nodes: number[];
  strings: string[];
}

export function summarizeHeap(file: string, top = 25): string {
  const h = JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshot;
  const f = h.snapshot.meta.node_fields;
  const width = f.length;
  const iType = f.indexOf('type');
  const iName = f.indexOf('name');
  const iSize = f.indexOf('self_size');
  const types = h.snapshot.meta.node_types[0];
  const bySize = new Map<string, { size: number; count: number }>();
  let total = 0;
  for (let i = 0; i < h.nodes.length; i += width) {
    const type = types[h.nodes[i + iType]!]!;
    const size = h.nodes[i + iSize]!;
    total += size;
    const name = type === 'object' || type === 'closure' ? `${type === 'closure' ? 'closure ' : ''}${h.strings[h.nodes[i + iName]!]}` : `(${type})`;
    const e = bySize.get(name) ?? { size: 0, count: 0 };
    e.size += size;
    e.count++;
    bySize.set(name, e);
  }
  const rows = [...bySize.entries()].sort((a, b) => b[1].size - a[1].size).slice(0, top)
    .map(([k, v]) => `${(v.size / 2 ** 20).toFixed(1).padStart(8)} MiB ${String(v.count).padStart(9)}  ${k}`);
  return `heap snapshot ${file}: ${(total / 2 ** 20).toFixed(1)} MiB in ${h.nodes.length / width} objects\n\nself size by constructor:\n${rows.join('\n')}\n`;
}

const [file, topArg] = process.argv.slice(2);
if (file) {
  const top = Number(topArg ?? 25);
  process.stdout.write(file.endsWith('.heapsnapshot') ? summarizeHeap(file, top) : summarizeCpu(file, top));
}
