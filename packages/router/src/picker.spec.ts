import { describe, expect, it } from 'vitest';
import {
  defaultPicker, healthyFilter, kvHeadroomScorer, leastOutstandingScorer, notDrainingFilter, pickReplica,
  prefixAffinityScorer, type PickRequest,
} from './picker.js';
import { Replica } from './replica.js';

function replica(id: string, o: { reserved?: number; inflight?: number; kv?: number; healthy?: boolean; draining?: boolean; capacity?: number } = {}): Replica {
  const r = new Replica(id, `127.0.0.1:${id}`);
  r.info = { model: 'm', blockSize: 16, maxSeqLen: 4096, maxRunning: 8, kvCapacityTokens: o.capacity ?? 10_000 };
  r.stats = { waiting: 0, running: 0, kvUtilization: o.kv ?? 0, draining: false };
  r.healthy = o.healthy ?? true;
  r.draining = o.draining ?? false;
  r.reservedTokens = o.reserved ?? 0;
  r.inflight = o.inflight ?? (o.reserved ? 1 : 0);
  return r;
}
const req = (o: Partial<PickRequest> = {}): PickRequest => ({ cost: 100, prefixMatch: new Map(), exclude: new Set(), ...o });

describe('filters', () => {
  it.each([
    { healthy: true, draining: false, keep: true },
    { healthy: false, draining: false, keep: false },
    { healthy: true, draining: true, keep: false },
  ])('healthy=$healthy draining=$draining → kept $keep', ({ healthy, draining, keep }) => {
    const r = replica('a', { healthy, draining });
    expect(healthyFilter(r, req()) && notDrainingFilter(r, req())).toBe(keep);
  });
});

describe('scorers (all in [0,1])', () => {
  it.each([
    { reserved: [0, 500, 1000], expected: [1, 0.5, 0] },
    { reserved: [300, 300], expected: [1, 1] },
  ])('least outstanding tokens $reserved', ({ reserved, expected }) => {
    const all = reserved.map((t, i) => replica(String(i), { reserved: t }));
    expect(all.map((r) => leastOutstandingScorer(r, req(), all))).toEqual(expected);
  });

  it.each([
    { kv: 0, expected: 1 },
    { kv: 0.25, expected: 0.75 },
    { kv: 1, expected: 0 },
  ])('kv headroom at utilisation $kv → $expected', ({ kv, expected }) => {
    expect(kvHeadroomScorer(replica('a', { kv }), req(), [])).toBe(expected);
  });

  it('prefix affinity is the matched share for that replica, 0 elsewhere', () => {
    const m = new Map([['a', 0.75]]);
    expect(prefixAffinityScorer(replica('a'), req({ prefixMatch: m }), [])).toBe(0.75);
    expect(prefixAffinityScorer(replica('b'), req({ prefixMatch: m }), [])).toBe(0);
  });
});

describe('pickReplica', () => {
  const cfg = defaultPicker();
  it.each([
    { name: 'least loaded wins', replicas: () => [replica('a', { reserved: 900 }), replica('b', { reserved: 100 })], r: req(), want: 'b' },
    { name: 'prefix affinity beats a KV headroom gap', replicas: () => [replica('a', { kv: 0.5 }), replica('b')], r: req({ prefixMatch: new Map([['a', 0.9]]) }), want: 'a' },
    { name: 'a shared template prefix alone does not beat load', replicas: () => [replica('a', { reserved: 900 }), replica('b', { reserved: 100 })], r: req({ prefixMatch: new Map([['a', 0.45]]) }), want: 'b' },
    { name: 'kv headroom breaks load ties', replicas: () => [replica('a', { kv: 0.9 }), replica('b', { kv: 0.1 })], r: req(), want: 'b' },
    { name: 'unhealthy skipped even with affinity', replicas: () => [replica('a', { healthy: false }), replica('b')], r: req({ prefixMatch: new Map([['a', 1]]) }), want: 'b' },
    { name: 'excluded (already failed) skipped', replicas: () => [replica('a'), replica('b', { reserved: 5000 })], r: req({ exclude: new Set(['a']) }), want: 'b' },
    { name: 'over budget → none', replicas: () => [replica('a', { reserved: 14_990, capacity: 10_000 })], r: req({ cost: 100 }), want: undefined },
    { name: 'idle replica takes a request larger than its budget', replicas: () => [replica('a', { capacity: 10 })], r: req({ cost: 100 }), want: 'a' },
    { name: 'ties → by id', replicas: () => [replica('b'), replica('a')], r: req(), want: 'a' },
  ])('$name', ({ replicas, r, want }) => {
    expect(pickReplica(replicas(), r, cfg)?.id).toBe(want);
  });
});
