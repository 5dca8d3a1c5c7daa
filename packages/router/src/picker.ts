// Endpoint picking as in gateway-api-inference-extension: filters drop replicas that cannot take the
// request, scorers rate the rest in [0,1], and the picker takes the highest weighted sum (ties → the
// replica with fewer requests in flight, then by id, so picking is deterministic and testable).
import { type BudgetOptions, DEFAULT_BUDGET, type Replica } from './replica.js';

export interface PickRequest {
  /** Tokens the request reserves (prompt + expected output). */
  readonly cost: number;
  /** Per replica id, 0..1 share of the prompt's blocks it served last (see PrefixIndex.match). */
  readonly prefixMatch: ReadonlyMap<string, number>;
  /** Replicas already tried for this request (failover must go elsewhere). */
  readonly exclude: ReadonlySet<string>;
}

export type Filter = (r: Replica, req: PickRequest) => boolean;
export type Scorer = (r: Replica, req: PickRequest, all: readonly Replica[]) => number;

/** Healthy: polled successfully and its channel works. */
export const healthyFilter: Filter = (r) => r.healthy && r.info !== undefined;
/** Draining replicas (SIGTERM, scale-down) take no new work. */
export const notDrainingFilter: Filter = (r) => !r.draining && !(r.stats?.draining ?? false);
/** Not tried before for this request. */
export const notExcludedFilter: Filter = (r, req) => !req.exclude.has(r.id);

export function budgetFilter(budget: BudgetOptions = DEFAULT_BUDGET): Filter {
  return (r, req) => r.fits(req.cost, budget);
}

/** 1 for the replica with the fewest reserved tokens, 0 for the most, linear between. */
export const leastOutstandingScorer: Scorer = (r, _req, all) => {
  const values = all.map((x) => x.reservedTokens);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return hi === lo ? 1 : (hi - r.reservedTokens) / (hi - lo);
};

/** Free share of the fullest KV pool at the last poll (1 = empty). */
export const kvHeadroomScorer: Scorer = (r) => 1 - Math.min(1, Math.max(0, r.stats?.kvUtilization ?? 0));

/** Share of the prompt's blocks this replica served last (its prefix cache likely holds them). */
export const prefixAffinityScorer: Scorer = (r, req) => req.prefixMatch.get(r.id) ?? 0;

export interface WeightedScorer {
  readonly name: string;
  readonly weight: number;
  readonly score: Scorer;
}

export interface PickerConfig {
  readonly filters: readonly Filter[];
  readonly scorers: readonly WeightedScorer[];
}

export function defaultPicker(budget: BudgetOptions = DEFAULT_BUDGET): PickerConfig {
  return {
    filters: [healthyFilter, notDrainingFilter, notExcludedFilter, budgetFilter(budget)],
    // Equal weights: a replica holding most of the prompt wins among similarly loaded ones (a cache
    // hit saves that prefill), but a shared template prefix alone does not pull every request onto
    // one busy replica.
    scorers: [
      { name: 'prefix-affinity', weight: 1, score: prefixAffinityScorer },
      { name: 'least-outstanding', weight: 1, score: leastOutstandingScorer },
      { name: 'kv-headroom', weight: 1, score: kvHeadroomScorer },
    ],
  };
}

/** The chosen replica, or undefined when every replica is filtered out. */
export function pickReplica(replicas: readonly Replica[], req: PickRequest, config: PickerConfig): Replica | undefined {
  const candidates = replicas.filter((r) => config.filters.every((f) => f(r, req)));
  let best: Replica | undefined;
  let bestScore = -Infinity;
  for (const r of candidates) {
    let s = 0;
    for (const sc of config.scorers) s += sc.weight * Math.min(1, Math.max(0, sc.score(r, req, candidates)));
    if (s > bestScore || (s === bestScore && best && (r.inflight < best.inflight || (r.inflight === best.inflight && r.id < best.id)))) {
      best = r;
      bestScore = s;
    }
  }
  return best;
}
