// Expectations (ReplicaSet / Kueue style): what a controller has asked the API server to create or
// delete for an owner but has not yet seen in its informer cache. A reconcile that finds pending
// expectations for its owner must not act on the cache (it is stale: acting could create a second
// pod); informer handlers observe creates and deletes as they arrive. Every expectation expires after
// a TTL so a lost watch event never blocks an owner forever.
//
// Protocol: expectCreate(owner, name) BEFORE sending the create; if the create fails, call
// observeCreate (nothing will arrive). The informer's add handler calls observeCreate, its delete
// handler observeDelete.
import { type Clock, realClock } from './clock.js';

interface OwnerExpectations {
  /** name -> expiry time (ms). */
  creates: Map<string, number>;
  deletes: Map<string, number>;
}

export interface Pending {
  creates: string[];
  deletes: string[];
}

export interface ExpectationsOptions {
  clock?: Clock;
  /** How long an unobserved expectation blocks its owner; default 5 min. */
  ttlMs?: number;
  /** Called when an expectation expires unobserved (worth a log line: an event was lost). */
  onExpired?: (ownerKey: string, kind: 'create' | 'delete', name: string) => void;
}

export class Expectations {
  private readonly owners = new Map<string, OwnerExpectations>();
  private readonly clock: Clock;
  private readonly ttlMs: number;
  private readonly onExpired?: ExpectationsOptions['onExpired'];

  constructor(options: ExpectationsOptions = {}) {
    this.clock = options.clock ?? realClock;
    this.ttlMs = options.ttlMs ?? 5 * 60_000;
    this.onExpired = options.onExpired;
  }

  expectCreate(ownerKey: string, name: string): void {
    this.entry(ownerKey).creates.set(name, this.clock.now() + this.ttlMs);
  }

  expectDelete(ownerKey: string, name: string): void {
    this.entry(ownerKey).deletes.set(name, this.clock.now() + this.ttlMs);
  }

  /** The object appeared in the cache (or its create failed and will never appear). */
  observeCreate(ownerKey: string, name: string): void {
    const e = this.owners.get(ownerKey);
    if (!e) return;
    e.creates.delete(name);
    this.prune(ownerKey, e);
  }

  /** The object left the cache (or its delete failed / was not needed). */
  observeDelete(ownerKey: string, name: string): void {
    const e = this.owners.get(ownerKey);
    if (!e) return;
    e.deletes.delete(name);
    this.prune(ownerKey, e);
  }

  /** Names still expected for the owner; expired expectations are dropped here. */
  pending(ownerKey: string): Pending {
    const e = this.owners.get(ownerKey);
    if (!e) return { creates: [], deletes: [] };
    const now = this.clock.now();
    const creates = this.live(ownerKey, e.creates, now, 'create');
    const deletes = this.live(ownerKey, e.deletes, now, 'delete');
    this.prune(ownerKey, e);
    return { creates, deletes };
  }

  /** True when nothing is pending for the owner: its cache view can be trusted. */
  satisfied(ownerKey: string): boolean {
    const p = this.pending(ownerKey);
    return p.creates.length === 0 && p.deletes.length === 0;
  }

  /** Forget everything about the owner (it was deleted). */
  deleteOwner(ownerKey: string): void {
    this.owners.delete(ownerKey);
  }

  /** Owners with anything recorded (expired entries included until pending() is asked). */
  size(): number {
    return this.owners.size;
  }

  private entry(ownerKey: string): OwnerExpectations {
    let e = this.owners.get(ownerKey);
    if (!e) {
      e = { creates: new Map(), deletes: new Map() };
      this.owners.set(ownerKey, e);
    }
    return e;
  }

  private live(ownerKey: string, m: Map<string, number>, now: number, kind: 'create' | 'delete'): string[] {
    const out: string[] = [];
    for (const [name, expires] of m) {
      if (expires <= now) {
        m.delete(name);
        this.onExpired?.(ownerKey, kind, name);
      } else {
        out.push(name);
      }
    }
    return out;
  }

  private prune(ownerKey: string, e: OwnerExpectations): void {
    if (e.creates.size === 0 && e.deletes.size === 0) this.owners.delete(ownerKey);
  }
}
