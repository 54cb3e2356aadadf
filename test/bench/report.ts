// Turning measurements into the benchmark's output: percentiles of samples, the per-contender table,
// the targets Atelier is held to (from the "Benchmarks at scale" issue) with a pass/miss per target,
// and the results file. The last two lines printed are always the headline ratios.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface Dist { n: number; p50: number | null; p99: number | null; max: number | null }

/** Nearest-rank percentiles (ms values rounded to 0.1 ms). */
export function dist(samples: number[]): Dist {
  if (samples.length === 0) return { n: 0, p50: null, p99: null, max: null };
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => Math.round(s[Math.max(0, Math.ceil(q * s.length) - 1)]! * 10) / 10;
  return { n: s.length, p50: at(0.5), p99: at(0.99), max: Math.round(s.at(-1)! * 10) / 10 };
}

export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '-';
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
}

export function fmtBytes(b: number | null | undefined): string {
  if (b === null || b === undefined || Number.isNaN(b)) return '-';
  return `${(b / 2 ** 20).toFixed(0)} MiB`;
}

export function fmtNum(v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '-';
  return v.toFixed(digits);
}

/** A plain text table: first row is the header. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

export interface Target { name: string; target: string; value: string; ok: boolean | null }

export function targetsTable(targets: Target[]): string {
  return table([['target', 'goal', 'measured', 'result'], ...targets.map((t) => [t.name, t.target, t.value, t.ok === null ? 'n/a' : t.ok ? 'ok' : 'MISS'])]);
}

export function writeResults(dir: string, stamp: string, data: unknown): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${stamp}.json`);
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}
