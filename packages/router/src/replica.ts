// What the router knows about one replica (rank 0 of a shard group): its static Info, the latest
// Stats poll, and the requests the router itself has in flight there (its token reservations).
// The token budget is the router-level half of batching: a replica is offered work only while the
// tokens reserved on it fit its KV capacity, so queues build in the router (where fairness and
// priorities apply) instead of inside one engine.

export interface ReplicaInfo {
  readonly model: string;
  /** KV block size in positions (the unit of the engine's prefix cache). */
  readonly blockSize: number;
  readonly maxSeqLen: number;
  readonly maxRunning: number;
  /** Tokens the full-attention KV pool holds (every position of every running sequence). */
  readonly kvCapacityTokens: number;
}

export interface ReplicaStats {
  readonly waiting: number;
  readonly running: number;
  /** 0..1, the fullest KV pool. */
  readonly kvUtilization: number;
  readonly draining: boolean;
}

export interface BudgetOptions {
  /** Multiple of KV capacity the router may reserve (the engine preempts when it overflows). */
  readonly overcommit: number;
  /** In-flight requests per replica as a multiple of its maxRunning. */
  readonly concurrencyFactor: number;
}

export const DEFAULT_BUDGET: BudgetOptions = { overcommit: 1.5, concurrencyFactor: 2 };

export class Replica {
  info: ReplicaInfo | undefined;
  stats: ReplicaStats | undefined;
  /** Last successful poll (ms since epoch); 0 = never. */
  lastSeen = 0;
  healthy = false;
  draining = false;
  reservedTokens = 0;
  inflight = 0;
  served = 0;

  constructor(readonly id: string, readonly address: string) {}

  /** Tokens the router may still reserve here. */
  freeTokens(budget: BudgetOptions = DEFAULT_BUDGET): number {
    if (!this.info) return 0;
    return this.info.kvCapacityTokens * budget.overcommit - this.reservedTokens;
  }

  /** Whether a request of `cost` tokens may be sent now. An idle replica takes any request that fits its context. */
  fits(cost: number, budget: BudgetOptions = DEFAULT_BUDGET): boolean {
    if (!this.info) return false;
    if (this.inflight >= Math.max(1, this.info.maxRunning * budget.concurrencyFactor)) return false;
    return this.inflight === 0 || cost <= this.freeTokens(budget);
  }

  reserve(cost: number): void {
    this.reservedTokens += cost;
    this.inflight++;
  }

  release(cost: number): void {
    this.reservedTokens = Math.max(0, this.reservedTokens - cost);
    this.inflight = Math.max(0, this.inflight - 1);
  }
}
