// The replicas behind the router: polls each engine's Stats/Info, keeps health, and hands out
// leases. A request that cannot be placed at once waits in the admission queue (priorities, tenant
// fairness); whenever capacity frees up (a request ends, a poll lands, a replica comes back) the
// queue head is offered to the picker again.
// Membership is fixed (a static address list) or discovered: `discover` runs before every poll
// round; new addresses become replicas, vanished ones leave rotation at once and are dropped (their
// connection closed) when their last in-flight request ends.
import { AdmissionQueue } from './admission-queue.js';
import { type EngineConnection, type EngineInfo, type EngineStats, GrpcEngineConnection } from './engine-client.js';
import { GrpcCode, TandemError } from '@tandem/kit';
import type { RouterMetrics } from './metrics.js';
import { defaultPicker, pickReplica, type PickerConfig } from './picker.js';
import type { PrefixIndex } from './prefix-affinity.js';
import { type BudgetOptions, DEFAULT_BUDGET, Replica, type ReplicaInfo, type ReplicaStats } from './replica.js';

export interface PoolOptions {
  /** Static membership (local mode). */
  readonly addresses?: readonly string[];
  /** Dynamic membership (cluster): the current engine addresses, called every pollIntervalMs. */
  readonly discover?: () => Promise<readonly string[]>;
  readonly connect?: (address: string) => EngineConnection;
  readonly pollIntervalMs?: number;
  readonly budget?: BudgetOptions;
  readonly picker?: PickerConfig;
  readonly maxQueued?: number;
  readonly maxQueuedPerTenant?: number;
  /** Longest a request waits for a replica before RESOURCE_EXHAUSTED. */
  readonly maxQueueWaitMs?: number;
  readonly tenantWeight?: (tenant: string) => number;
  readonly metrics: RouterMetrics;
  readonly prefixIndex: PrefixIndex;
  readonly log?: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
}

export interface AcquireRequest {
  readonly tenant: string;
  readonly priority: number;
  readonly cost: number;
  readonly prefixHashes: readonly string[];
  readonly exclude: ReadonlySet<string>;
  readonly signal: AbortSignal;
  readonly deadline?: number;
}

export interface Lease {
  readonly replica: Replica;
  readonly conn: EngineConnection;
  /** The replica served this prompt's prefix before. */
  readonly affinityHit: boolean;
  /** Returns the reservation; idempotent. */
  release(): void;
}

interface Waiter {
  readonly req: AcquireRequest;
  readonly resolve: (l: Lease) => void;
  readonly reject: (e: unknown) => void;
  readonly enqueuedAt: number;
}

export function toReplicaInfo(i: EngineInfo): ReplicaInfo {
  const blocks = i.fullBlocksTotal > 0 ? i.fullBlocksTotal : i.slidingBlocksTotal;
  return { model: i.model, blockSize: i.blockSize || 16, maxSeqLen: i.maxSeqLen, maxRunning: i.maxRunning || 1, kvCapacityTokens: blocks * (i.blockSize || 16) };
}

export function toReplicaStats(s: EngineStats): ReplicaStats {
  let util = 0;
  for (const p of s.kvPools) if (p.blocksTotal > 0) util = Math.max(util, p.blocksUsed / p.blocksTotal);
  return { waiting: s.waiting, running: s.running, kvUtilization: util, draining: s.draining };
}

export class ReplicaPool {
  /** Replicas in rotation. */
  readonly replicas: Replica[] = [];
  /** Removed from discovery but still serving in-flight requests. */
  private readonly leaving: Replica[] = [];
  private readonly conns = new Map<string, EngineConnection>();
  private readonly connect: (address: string) => EngineConnection;
  private nextId = 0;
  /** The last discovery failed (logged once until it succeeds again). */
  private discoveryFailing = false;
  private discovering = false;
  private readonly queue: AdmissionQueue<Waiter>;
  private readonly picker: PickerConfig;
  private readonly budget: BudgetOptions;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly firstPoll: Promise<void>;

  constructor(private readonly options: PoolOptions) {
    if ((options.addresses === undefined) === (options.discover === undefined)) throw new Error('ReplicaPool: give exactly one of addresses or discover');
    if (options.addresses !== undefined && options.addresses.length === 0) throw new Error('engines: at least one engine address is needed');
    this.budget = options.budget ?? DEFAULT_BUDGET;
    this.picker = options.picker ?? defaultPicker(this.budget);
    this.queue = new AdmissionQueue<Waiter>({
      maxQueued: options.maxQueued ?? 1024,
      maxQueuedPerTenant: options.maxQueuedPerTenant ?? options.maxQueued ?? 1024,
      ...(options.tenantWeight ? { weight: options.tenantWeight } : {}),
    });
    this.connect = options.connect ?? ((a: string) => new GrpcEngineConnection(a));
    for (const a of options.addresses ?? []) this.add(a);
    this.firstPoll = this.pollAll();
    this.timer = setInterval(() => void this.pollAll(), options.pollIntervalMs ?? 500);
    this.timer.unref();
  }

  /** Resolves after the first round of polls (ready or not). */
  started(): Promise<void> {
    return this.firstPoll;
  }

  get queueDepth(): number {
    return this.queue.size;
  }

  ready(): boolean {
    return this.replicas.some((r) => r.healthy && !r.draining && r.info !== undefined);
  }

  /** Info of any replica that has answered (they serve one model). */
  info(): ReplicaInfo | undefined {
    return this.replicas.find((r) => r.healthy && r.info)?.info ?? this.replicas.find((r) => r.info)?.info;
  }

  /** Every replica the pool still holds a connection to (in rotation or draining its requests). */
  get members(): readonly Replica[] {
    return [...this.replicas, ...this.leaving];
  }

  private add(address: string): void {
    const back = this.leaving.findIndex((r) => r.address === address);
    if (back >= 0) {
      // Came back before its requests ended: same replica, same connection.
      this.replicas.push(...this.leaving.splice(back, 1));
      return;
    }
    const r = new Replica(`r${this.nextId++}`, address);
    this.conns.set(r.id, this.connect(address));
    this.replicas.push(r);
  }

  private remove(r: Replica): void {
    const i = this.replicas.indexOf(r);
    if (i >= 0) this.replicas.splice(i, 1);
    this.options.prefixIndex.forget(r.id);
    if (r.inflight > 0) {
      if (!this.leaving.includes(r)) this.leaving.push(r);
      return;
    }
    const j = this.leaving.indexOf(r);
    if (j >= 0) this.leaving.splice(j, 1);
    this.conns.get(r.id)?.close();
    this.conns.delete(r.id);
    this.options.metrics.inflight.remove({ replica: r.id });
    this.options.metrics.replicaHealthy.remove({ replica: r.id });
  }

  /** Reconciles membership with `addresses` (the discovered set). */
  setMembers(addresses: readonly string[]): void {
    const want = new Set(addresses);
    const have = new Set(this.replicas.map((r) => r.address));
    for (const r of [...this.replicas]) {
      if (want.has(r.address)) continue;
      this.options.log?.('info', 'replica removed', { replica: r.id, address: r.address, inflight: r.inflight });
      this.remove(r);
    }
    for (const a of addresses) {
      if (have.has(a)) continue;
      this.add(a);
      this.options.log?.('info', 'replica discovered', { replica: this.replicas[this.replicas.length - 1]!.id, address: a });
    }
    // Requests queued for a replica that just left may have no candidate now.
    this.pump();
  }

  private async rediscover(): Promise<void> {
    const discover = this.options.discover;
    if (!discover || this.discovering) return;
    this.discovering = true;
    try {
      const addresses = await discover();
      if (this.closed) return;
      if (this.discoveryFailing) this.options.log?.('info', 'engine discovery recovered', { replicas: addresses.length });
      this.discoveryFailing = false;
      this.setMembers(addresses);
    } catch (e) {
      // Keep the last known set: a DNS hiccup must not empty the pool.
      if (!this.discoveryFailing) this.options.log?.('warn', 'engine discovery failed; keeping the last known replicas', { why: (e as Error).message, replicas: this.replicas.length });
      this.discoveryFailing = true;
    } finally {
      this.discovering = false;
    }
  }

  connection(r: Replica): EngineConnection {
    return this.conns.get(r.id)!;
  }

  /** A replica failed a call: out of rotation (and its prefix cache forgotten) until a poll succeeds. */
  markFailed(r: Replica, why: string): void {
    if (r.healthy) this.options.log?.('warn', 'replica marked unhealthy', { replica: r.id, address: r.address, why });
    r.healthy = false;
    this.options.metrics.replicaHealthy.set({ replica: r.id }, 0);
    this.options.prefixIndex.forget(r.id);
    this.pump();
  }

  acquire(req: AcquireRequest): Promise<Lease> {
    if (req.signal.aborted) return Promise.reject(new TandemError(GrpcCode.CANCELLED, 'request cancelled'));
    if (!this.anyCandidate(req)) return Promise.reject(this.noReplica(req));
    if (this.queue.size === 0) {
      // Nobody waiting: place at once when a replica fits (a full queue must not block a free replica).
      const lease = this.tryPlace(req, Date.now());
      if (lease) return Promise.resolve(lease);
    }
    return new Promise<Lease>((resolve, reject) => {
      const waiter: Waiter = { req, resolve, reject, enqueuedAt: Date.now() };
      const retryAfter = Math.max(1, Math.ceil(this.queue.size / Math.max(1, this.totalSlots())));
      this.queue.push({ tenant: req.tenant, priority: req.priority, cost: req.cost, value: waiter }, retryAfter);
      const cleanup = () => {
        clearTimeout(timer);
        req.signal.removeEventListener('abort', onAbort);
      };
      const fail = (e: TandemError) => {
        if (this.queue.remove(waiter)) {
          cleanup();
          this.options.metrics.queueDepth.set(this.queue.size);
          reject(e);
        }
      };
      const onAbort = () => fail(new TandemError(GrpcCode.CANCELLED, 'request cancelled while queued'));
      req.signal.addEventListener('abort', onAbort, { once: true });
      const maxWait = this.options.maxQueueWaitMs ?? 60_000;
      const until = Math.min(Date.now() + maxWait, req.deadline ?? Infinity);
      const timer = setTimeout(() => {
        if (req.deadline !== undefined && Date.now() >= req.deadline) fail(new TandemError(GrpcCode.DEADLINE_EXCEEDED, 'deadline exceeded while waiting for a replica'));
        else fail(new TandemError(GrpcCode.RESOURCE_EXHAUSTED, `no replica had capacity within ${maxWait} ms; retry later`, { retryAfterSeconds: 1 }));
      }, Math.max(0, until - Date.now()));
      // Resolution path (pump) clears the timer and listener through these wrappers.
      (waiter as { resolve: (l: Lease) => void }).resolve = (l) => { cleanup(); resolve(l); };
      (waiter as { reject: (e: unknown) => void }).reject = (e) => { cleanup(); reject(e); };
      this.options.metrics.queueDepth.set(this.queue.size);
      this.pump();
    });
  }

  /** Offers queued requests to the picker, head first, while they can be placed. */
  private pump(): void {
    for (let head = this.queue.peek(); head; head = this.queue.peek()) {
      const w = head.value;
      const lease = this.tryPlace(w.req, w.enqueuedAt);
      if (!lease) {
        if (this.anyCandidate(w.req)) break; // capacity will free up: keep waiting (head of line)
        this.queue.pop();
        w.reject(this.noReplica(w.req));
        continue;
      }
      this.queue.pop();
      w.resolve(lease);
    }
    this.options.metrics.queueDepth.set(this.queue.size);
  }

  private tryPlace(req: AcquireRequest, since: number): Lease | undefined {
    const match = this.options.prefixIndex.match(req.prefixHashes);
    const r = pickReplica(this.replicas, { cost: req.cost, prefixMatch: match, exclude: req.exclude }, this.picker);
    if (!r) return undefined;
    r.reserve(req.cost);
    this.options.metrics.inflight.set({ replica: r.id }, r.inflight);
    this.options.metrics.queueWait.observe((Date.now() - since) / 1000);
    let released = false;
    return {
      replica: r,
      conn: this.connection(r),
      affinityHit: (match.get(r.id) ?? 0) > 0,
      release: () => {
        if (released) return;
        released = true;
        r.release(req.cost);
        if (this.leaving.includes(r)) {
          if (r.inflight === 0) this.remove(r);
        } else this.options.metrics.inflight.set({ replica: r.id }, r.inflight);
        this.pump();
      },
    };
  }

  private anyCandidate(req: AcquireRequest): boolean {
    return this.replicas.some((r) => r.healthy && r.info && !r.draining && !req.exclude.has(r.id));
  }

  private noReplica(req: AcquireRequest): TandemError {
    const tried = req.exclude.size > 0 ? ` (${req.exclude.size} tried and failed)` : '';
    return new TandemError(GrpcCode.UNAVAILABLE, `no ready replica can serve the request${tried}; retry later`, { retryAfterSeconds: 1 });
  }

  private totalSlots(): number {
    return this.replicas.reduce((n, r) => n + (r.healthy && r.info ? r.info.maxRunning : 0), 0);
  }

  private async pollAll(): Promise<void> {
    await this.rediscover();
    await Promise.all(this.replicas.map((r) => this.poll(r)));
    // What the HPA scales on (besides queue depth): the mean KV utilisation of healthy replicas.
    const live = this.replicas.filter((r) => r.healthy && r.stats);
    this.options.metrics.kvUtilization.set(live.length ? live.reduce((a, r) => a + r.stats!.kvUtilization, 0) / live.length : 0);
  }

  private async poll(r: Replica): Promise<void> {
    const conn = this.conns.get(r.id);
    if (this.closed || !conn || !this.replicas.includes(r)) return;
    try {
      const stats = await conn.stats(1000);
      if (!r.info || !r.healthy) r.info = toReplicaInfo(await conn.info(1000));
      r.stats = toReplicaStats(stats);
      r.draining = stats.draining;
      r.lastSeen = Date.now();
      if (!this.replicas.includes(r)) return; // removed while the poll was out
      if (!r.healthy) this.options.log?.('info', 'replica ready', { replica: r.id, address: r.address, model: r.info.model });
      r.healthy = true;
      this.options.metrics.replicaHealthy.set({ replica: r.id }, 1);
      this.pump();
    } catch (e) {
      if (r.healthy || r.lastSeen === 0) {
        if (r.lastSeen !== 0) this.markFailed(r, `stats poll failed: ${(e as Error).message}`);
        r.lastSeen = r.lastSeen === 0 ? -1 : r.lastSeen;
      }
      r.healthy = false;
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    for (let head = this.queue.pop(); head; head = this.queue.pop()) head.value.reject(new TandemError(GrpcCode.UNAVAILABLE, 'the router is shutting down'));
    for (const c of this.conns.values()) c.close();
  }
}
