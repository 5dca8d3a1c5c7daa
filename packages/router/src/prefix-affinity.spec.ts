import { describe, expect, it } from 'vitest';
import { blockHashes, PrefixIndex } from './prefix-affinity.js';

const seq = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

describe('blockHashes', () => {
  it('hashes only full blocks, chained (a change early changes every later hash)', () => {
    expect(blockHashes(seq(47), 16)).toHaveLength(2);
    const a = blockHashes(seq(48), 16);
    const b = blockHashes([999, ...seq(47, 1)], 16);
    expect(a).toHaveLength(3);
    expect(b.every((h, i) => h !== a[i])).toBe(true);
    const c = blockHashes([...seq(32), 7, 7, 7, ...seq(13)], 16);
    expect(c.slice(0, 2)).toEqual(a.slice(0, 2));
    expect(c[2]).not.toBe(a[2]);
  });
});

describe('PrefixIndex', () => {
  it('scores the replica that served the longest shared prefix', () => {
    const idx = new PrefixIndex();
    idx.record(blockHashes(seq(64), 16), 'a'); // 4 blocks on a
    idx.record(blockHashes(seq(32), 16), 'b'); // first 2 blocks now on b
    const m = idx.match(blockHashes([...seq(64), ...seq(64, 500)], 16)); // 8 blocks, first 4 shared
    expect(m.get('a')).toBe(4 / 8);
    expect(m.get('b')).toBe(2 / 8);
    expect(idx.match(blockHashes(seq(64, 9000), 16)).size).toBe(0);
  });

  it('is bounded (LRU) and forgets a dead replica', () => {
    const idx = new PrefixIndex(4);
    idx.record(blockHashes(seq(96), 16), 'a');
    expect(idx.size).toBe(4);
    idx.forget('a');
    expect(idx.size).toBe(0);
  });
});
