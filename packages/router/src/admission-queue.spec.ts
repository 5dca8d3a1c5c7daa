import { describe, expect, it } from 'vitest';
import { AdmissionQueue } from './admission-queue.js';
import { TandemError } from '@tandem/kit';

function drain<T>(q: AdmissionQueue<T>): T[] {
  const out: T[] = [];
  for (let item = q.pop(); item; item = q.pop()) out.push(item.value);
  return out;
}

describe('AdmissionQueue', () => {
  it('serves lower priority values first, FIFO inside one tenant', () => {
    const q = new AdmissionQueue<string>({ maxQueued: 10 });
    q.push({ tenant: 't', priority: 5, cost: 10, value: 'p5-a' });
    q.push({ tenant: 't', priority: 0, cost: 10, value: 'p0-a' });
    q.push({ tenant: 't', priority: 5, cost: 10, value: 'p5-b' });
    q.push({ tenant: 't', priority: 0, cost: 10, value: 'p0-b' });
    expect(q.peek()?.value).toBe('p0-a');
    expect(drain(q)).toEqual(['p0-a', 'p0-b', 'p5-a', 'p5-b']);
  });

  it('a flooding tenant cannot starve another: the newcomer is served next', () => {
    const q = new AdmissionQueue<string>({ maxQueued: 1000 });
    for (let i = 0; i < 100; i++) q.push({ tenant: 'flood', priority: 0, cost: 100, value: `f${i}` });
    expect(q.pop()?.value).toBe('f0');
    q.push({ tenant: 'quiet', priority: 0, cost: 100, value: 'q0' });
    expect(q.pop()?.value).toBe('q0');
  });

  it.each([
    { name: 'equal cost interleaves', costA: 10, costB: 10, expectFirst6: ['a0', 'b0', 'a1', 'b1', 'a2', 'b2'] },
    { name: 'shares tokens, not requests', costA: 10, costB: 30, expectFirst6: ['a0', 'b0', 'a1', 'a2', 'a3', 'b1'] },
  ])('fair share by tokens: $name', ({ costA, costB, expectFirst6 }) => {
    const q = new AdmissionQueue<string>({ maxQueued: 100 });
    for (let i = 0; i < 10; i++) q.push({ tenant: 'a', priority: 0, cost: costA, value: `a${i}` });
    for (let i = 0; i < 10; i++) q.push({ tenant: 'b', priority: 0, cost: costB, value: `b${i}` });
    expect(drain(q).slice(0, 6)).toEqual(expectFirst6);
  });

  it('weights give a tenant a larger share', () => {
    const q = new AdmissionQueue<string>({ maxQueued: 100, weight: (t) => (t === 'gold' ? 2 : 1) });
    for (let i = 0; i < 6; i++) q.push({ tenant: 'gold', priority: 0, cost: 10, value: `g${i}` });
    for (let i = 0; i < 6; i++) q.push({ tenant: 'std', priority: 0, cost: 10, value: `s${i}` });
    expect(drain(q).slice(0, 6)).toEqual(['g0', 's0', 'g1', 'g2', 's1', 'g3']);
  });

  it('full queue → RESOURCE_EXHAUSTED with a retry hint; per-tenant bound too', () => {
    const q = new AdmissionQueue<number>({ maxQueued: 3, maxQueuedPerTenant: 2 });
    q.push({ tenant: 'a', priority: 0, cost: 1, value: 1 });
    q.push({ tenant: 'a', priority: 0, cost: 1, value: 2 });
    let err: unknown;
    try { q.push({ tenant: 'a', priority: 0, cost: 1, value: 3 }, 4); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(TandemError);
    expect((err as TandemError).codeName).toBe('RESOURCE_EXHAUSTED');
    expect((err as TandemError).retryAfterSeconds).toBe(4);
    expect((err as TandemError).message).toContain('tenant "a"');
    q.push({ tenant: 'b', priority: 0, cost: 1, value: 4 });
    expect(() => q.push({ tenant: 'c', priority: 0, cost: 1, value: 5 })).toThrow(/queue is full/);
    expect(q.size).toBe(3);
  });

  it('remove() takes out a waiting item and keeps counts right', () => {
    const q = new AdmissionQueue<string>({ maxQueued: 10 });
    q.push({ tenant: 'a', priority: 0, cost: 5, value: 'x' });
    q.push({ tenant: 'a', priority: 0, cost: 7, value: 'y' });
    expect(q.remove('x')).toBe(true);
    expect(q.remove('x')).toBe(false);
    expect(q.size).toBe(1);
    expect(q.tokens).toBe(7);
    expect(drain(q)).toEqual(['y']);
    expect(q.tokens).toBe(0);
  });
});
