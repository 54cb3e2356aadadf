// Reading Prometheus text: samples with their labels, deltas between two scrapes, histogram
// quantiles (interpolated inside the bucket, as PromQL's histogram_quantile does), and the API
// server's write count by resource from apiserver_request_total. Enough for the benchmark's figures;
// not a general parser (no exemplars, no escapes inside label values beyond \" and \\).

export interface Sample { name: string; labels: Record<string, string>; value: number }

export function parseProm(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.lastIndexOf(' ');
    if (space < 0) continue;
    let name: string;
    const labels: Record<string, string> = {};
    if (brace >= 0 && brace < space) {
      name = line.slice(0, brace);
      const body = line.slice(brace + 1, line.lastIndexOf('}'));
      for (const m of body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!.replace(/\\(.)/g, '$1');
    } else {
      name = line.slice(0, space);
    }
    const value = Number(line.slice(space + 1));
    if (!Number.isNaN(value)) out.push({ name, labels, value });
  }
  return out;
}

const matches = (s: Sample, name: string, labels: Record<string, string>) =>
  s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v);

/** Sum of the samples of one metric whose labels include `labels`. */
export function sum(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  let t = 0;
  for (const s of samples) if (matches(s, name, labels)) t += s.value;
  return t;
}

export interface Histogram { buckets: [number, number][]; count: number; sum: number }

/** A histogram's cumulative buckets (le ascending, +Inf last), count and sum; after minus before when before is given. */
export function histogram(after: Sample[], name: string, labels: Record<string, string> = {}, before?: Sample[]): Histogram {
  const read = (ss: Sample[]) => {
    const b = new Map<number, number>();
    for (const s of ss) if (matches(s, `${name}_bucket`, labels)) {
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      b.set(le, (b.get(le) ?? 0) + s.value);
    }
    return { b, count: sum(ss, `${name}_count`, labels), sum: sum(ss, `${name}_sum`, labels) };
  };
  const a = read(after);
  const z = before ? read(before) : { b: new Map<number, number>(), count: 0, sum: 0 };
  const buckets = [...a.b.entries()].map(([le, v]) => [le, v - (z.b.get(le) ?? 0)] as [number, number]).sort((x, y) => x[0] - y[0]);
  return { buckets, count: a.count - z.count, sum: a.sum - z.sum };
}

/** histogram_quantile: linear interpolation within the bucket; the highest finite bound if it falls in +Inf. */
export function quantile(h: Histogram, q: number): number | null {
  const total = h.buckets.at(-1)?.[1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, c] of h.buckets) {
    if (c >= rank) {
      if (le === Infinity) return prevLe;
      if (c === prevCount) return le;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / (c - prevCount);
    }
    prevLe = le;
    prevCount = c;
  }
  return prevLe;
}

const WRITE_VERBS = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'DELETECOLLECTION', 'APPLY', 'CREATE', 'UPDATE']);
/** Writes that the fake nodes make whatever runs (leases, node status): kept out of the per-shard figure. */
export const BACKGROUND_RESOURCES = new Set(['leases', 'nodes']);

/** API server writes by "verb resource[/subresource]" (group-qualified for non-core groups). */
export function apiWrites(samples: Sample[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) {
    if (s.name !== 'apiserver_request_total' || !WRITE_VERBS.has(s.labels.verb ?? '')) continue;
    const r = `${s.labels.resource ?? ''}${s.labels.group ? `.${s.labels.group}` : ''}${s.labels.subresource ? `/${s.labels.subresource}` : ''}`;
    const key = `${s.labels.verb} ${r}`;
    out.set(key, (out.get(key) ?? 0) + s.value);
  }
  return out;
}

export function deltaMap(after: Map<string, number>, before: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d > 0) out.set(k, d);
  }
  return out;
}

/**
 * Writes made by whatever turns jobs into pods (the benchmark client, the Job controller or the
 * operator), from an apiWrites breakdown: pods created, patched (not their status: the scheduler's
 * and the nodes') or deleted, Jobs, RenderJobs and RenderShards, and core/v1 Events (the scheduler
 * writes events.k8s.io Events instead).
 */
export function controllerWrites(byKind: Map<string, number>): number {
  let t = 0;
  for (const [k, v] of byKind) {
    const [verb, res] = k.split(' ') as [string, string];
    if (res === 'pods' ? verb !== 'GET' : /^(jobs\.batch|renderjobs\.atelier\.dev|rendershards\.atelier\.dev|events)(\/|$)/.test(res)) t += v;
  }
  return t;
}

/** The resource of an apiWrites key ("PATCH pods/status" -> "pods"). */
export function resourceOf(key: string): string {
  return key.split(' ')[1]!.split('/')[0]!.split('.')[0]!;
}
