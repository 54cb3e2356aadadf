// Two small data structures the runtime needs to stay O(1)/O(log n) per operation at 100,000 keys:
// a FIFO that does not shift arrays (Array#shift is O(n)), and an indexed binary min-heap whose
// entries can be found, re-prioritised and removed by key. The work queue's delayed adds, the fake
// clock's timers and anything else that schedules by time build on them.

/** Array-backed FIFO with a moving head; compacts only when the dead prefix dominates. */
export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head++;
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

interface HeapEntry<K> {
  key: K;
  priority: number;
  seq: number;
}

/**
 * Min-heap keyed by K, ordered by priority then insertion order (so equal priorities stay FIFO).
 * `set` inserts or re-prioritises in O(log n); `remove` and `get` find entries through a position map.
 */
export class IndexedHeap<K> {
  private heap: HeapEntry<K>[] = [];
  private pos = new Map<K, number>();
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  has(key: K): boolean {
    return this.pos.has(key);
  }

  priorityOf(key: K): number | undefined {
    const i = this.pos.get(key);
    return i === undefined ? undefined : this.heap[i]!.priority;
  }

  /** Inserts key, or moves it to the new priority if it is already present. */
  set(key: K, priority: number): void {
    const i = this.pos.get(key);
    if (i === undefined) {
      const entry = { key, priority, seq: this.seq++ };
      this.heap.push(entry);
      this.pos.set(key, this.heap.length - 1);
      this.up(this.heap.length - 1);
      return;
    }
    const entry = this.heap[i]!;
    const old = entry.priority;
    entry.priority = priority;
    if (priority < old) this.up(i);
    else if (priority > old) this.down(i);
  }

  peek(): { key: K; priority: number } | undefined {
    const top = this.heap[0];
    return top ? { key: top.key, priority: top.priority } : undefined;
  }

  pop(): { key: K; priority: number } | undefined {
    const top = this.heap[0];
    if (!top) return undefined;
    this.removeAt(0);
    return { key: top.key, priority: top.priority };
  }

  remove(key: K): boolean {
    const i = this.pos.get(key);
    if (i === undefined) return false;
    this.removeAt(i);
    return true;
  }

  clear(): void {
    this.heap = [];
    this.pos.clear();
  }

  private removeAt(i: number): void {
    const last = this.heap.pop()!;
    this.pos.delete(this.heap.length === i ? last.key : this.heap[i]!.key);
    if (i === this.heap.length) return;
    this.heap[i] = last;
    this.pos.set(last.key, i);
    this.down(i);
    this.up(i);
  }

  private less(a: HeapEntry<K>, b: HeapEntry<K>): boolean {
    return a.priority < b.priority || (a.priority === b.priority && a.seq < b.seq);
  }

  private up(i: number): void {
    const h = this.heap;
    const entry = h[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent]!;
      if (!this.less(entry, p)) break;
      h[i] = p;
      this.pos.set(p.key, i);
      i = parent;
    }
    h[i] = entry;
    this.pos.set(entry.key, i);
  }

  private down(i: number): void {
    const h = this.heap;
    const n = h.length;
    const entry = h[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.less(h[r]!, h[l]!) ? r : l;
      const child = h[c]!;
      if (!this.less(child, entry)) break;
      h[i] = child;
      this.pos.set(child.key, i);
      i = c;
    }
    h[i] = entry;
    this.pos.set(entry.key, i);
  }
}
