// The admission queue: strict priorities, and fair sharing between tenants inside one priority.
//
// Fairness is start-time fair queueing (a virtual-clock cousin of deficit round robin): each item gets
// a start tag max(V, lastFinish[tenant]) and a finish tag start + cost/weight; the next item is the
// tenant head with the smallest start tag. A tenant that floods the queue only pushes its own tags
// forward, so another tenant's new request is served after at most one request of each busy tenant.
// Priorities follow Cohere's `priority` field: lower values are served first (0 is the default and
// most urgent); a lower level is only served when every more urgent level is empty.
import { GrpcCode, TandemError } from '@tandem/kit';

export interface QueueItem<T> {
  readonly tenant: string;
  /** 0..999, lower first. */
  readonly priority: number;
  /** Tokens the request will cost (prompt + expected output); the unit of fairness. */
  readonly cost: number;
  readonly value: T;
}

export interface AdmissionQueueOptions {
  /** Most requests waiting in total; beyond it push() throws RESOURCE_EXHAUSTED. */
  readonly maxQueued: number;
  /** Most requests one tenant may have waiting (defaults to maxQueued). */
  readonly maxQueuedPerTenant?: number;
  /** Weight per tenant (default 1): a tenant of weight 2 gets twice the tokens. */
  readonly weight?: (tenant: string) => number;
}

interface Entry<T> extends QueueItem<T> {
  readonly seq: number;
  readonly start: number;
}

interface Level<T> {
  readonly tenants: Map<string, Entry<T>[]>;
  virtual: number;
  readonly lastFinish: Map<string, number>;
}

export class AdmissionQueue<T> {
  private readonly levels = new Map<number, Level<T>>();
  private readonly perTenant = new Map<string, number>();
  private seq = 0;
  private count = 0;
  private queuedCost = 0;

  constructor(private readonly options: AdmissionQueueOptions) {
    if (!(options.maxQueued >= 0)) throw new RangeError('maxQueued: must be >= 0');
  }

  get size(): number {
    return this.count;
  }

  /** Tokens of all waiting requests. */
  get tokens(): number {
    return this.queuedCost;
  }

  /** Adds an item; throws RESOURCE_EXHAUSTED (with a retry hint) when the queue is full. */
  push(item: QueueItem<T>, retryAfterSeconds = 1): void {
    const mine = this.perTenant.get(item.tenant) ?? 0;
    const perTenant = this.options.maxQueuedPerTenant ?? this.options.maxQueued;
    if (this.count >= this.options.maxQueued) {
      throw new TandemError(GrpcCode.RESOURCE_EXHAUSTED, `the router queue is full (${this.options.maxQueued} requests waiting); retry later`, { retryAfterSeconds });
    }
    if (mine >= perTenant) {
      throw new TandemError(GrpcCode.RESOURCE_EXHAUSTED, `tenant "${item.tenant}" has ${mine} requests waiting (at most ${perTenant}); retry later`, { retryAfterSeconds });
    }
    let level = this.levels.get(item.priority);
    if (!level) this.levels.set(item.priority, (level = { tenants: new Map(), virtual: 0, lastFinish: new Map() }));
    const weight = Math.max(1e-6, this.options.weight?.(item.tenant) ?? 1);
    const start = Math.max(level.virtual, level.lastFinish.get(item.tenant) ?? 0);
    level.lastFinish.set(item.tenant, start + Math.max(1, item.cost) / weight);
    const list = level.tenants.get(item.tenant) ?? [];
    list.push({ ...item, seq: this.seq++, start });
    level.tenants.set(item.tenant, list);
    this.perTenant.set(item.tenant, mine + 1);
    this.count++;
    this.queuedCost += item.cost;
  }

  /** The item that pop() would return, without removing it. */
  peek(): QueueItem<T> | undefined {
    return this.select()?.entry;
  }

  pop(): QueueItem<T> | undefined {
    const sel = this.select();
    if (!sel) return undefined;
    sel.level.virtual = sel.entry.start;
    this.removeEntry(sel.level, sel.entry);
    return sel.entry;
  }

  /** Removes a waiting item (cancelled or timed out); false when it is no longer queued. */
  remove(value: T): boolean {
    for (const level of this.levels.values()) {
      for (const list of level.tenants.values()) {
        const entry = list.find((e) => e.value === value);
        if (entry) {
          this.removeEntry(level, entry);
          return true;
        }
      }
    }
    return false;
  }

  private select(): { level: Level<T>; entry: Entry<T> } | undefined {
    const priorities = [...this.levels.keys()].sort((a, b) => a - b);
    for (const p of priorities) {
      const level = this.levels.get(p)!;
      let best: Entry<T> | undefined;
      for (const list of level.tenants.values()) {
        const head = list[0];
        if (head && (!best || head.start < best.start || (head.start === best.start && head.seq < best.seq))) best = head;
      }
      if (best) return { level, entry: best };
    }
    return undefined;
  }

  private removeEntry(level: Level<T>, entry: Entry<T>): void {
    const list = level.tenants.get(entry.tenant)!;
    list.splice(list.indexOf(entry), 1);
    if (list.length === 0) level.tenants.delete(entry.tenant);
    if (level.tenants.size === 0) {
      // An idle level forgets its clock so that tags stay small and new tenants start level.
      this.levels.delete(entry.priority);
    }
    const n = (this.perTenant.get(entry.tenant) ?? 1) - 1;
    if (n === 0) this.perTenant.delete(entry.tenant);
    else this.perTenant.set(entry.tenant, n);
    this.count--;
    this.queuedCost -= entry.cost;
  }
}
