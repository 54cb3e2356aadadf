// Shard index sets as the RenderJob status keeps them (status.shardSets.succeeded): a sorted,
// comma-separated list of indexes and closed ranges, "0-4999,5001,5003-5010", the format of an
// Indexed Job's status.completedIndexes. 100,000 shards done in order are one range; the worst case
// (every other index) stays well inside etcd's object limit at the CRD's 100,000 shards.

/** Parses an index set; throws on anything but the canonical grammar (digits, '-', ','). */
export function parseIndexSet(s: string | undefined): Set<number> {
  const out = new Set<number>();
  if (!s) return out;
  for (const part of s.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`malformed shard index set near ${JSON.stringify(part.slice(0, 32))}`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new Error(`malformed shard index range ${part}`);
    for (let i = a; i <= b; i++) out.add(i);
  }
  return out;
}

/** Formats indexes as a canonical index set (sorted, adjacent indexes merged into ranges). */
export function formatIndexSet(indexes: Iterable<number>): string {
  const sorted = [...new Set(indexes)].sort((x, y) => x - y);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(j === i ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
