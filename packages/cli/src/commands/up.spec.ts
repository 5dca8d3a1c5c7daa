// `tandem up`: its flags and the restart policy of its self-healing shard groups (the groups
// themselves, killed and respawned with real processes, are covered by test/e2e/tp-faults.spec.ts).
import { describe, expect, it } from 'vitest';
import { runTandem } from '../test-support.js';
import { DEFAULT_TP, RestartBackoff } from './up.js';

describe('RestartBackoff', () => {
  it('waits 1 s, then doubles up to 30 s while the group keeps failing soon after each start', () => {
    const b = new RestartBackoff();
    const delays: number[] = [];
    let t = 0;
    for (let i = 0; i < 8; i++) {
      const d = b.next(t, t + 5000); // up 5 s, then failed
      delays.push(d);
      t += 5000 + d;
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  });

  it('starts over at 1 s once a group stayed up a minute', () => {
    const b = new RestartBackoff();
    expect([b.next(0, 100), b.next(1000, 1100), b.next(3000, 3100)]).toEqual([1000, 2000, 4000]);
    expect(b.next(10_000, 70_000)).toBe(1000);
    expect(b.next(71_000, 72_000)).toBe(2000);
    expect(b.next(74_000, 74_000 + 59_999)).toBe(4000);
  });
});

describe('tandem up flags', () => {
  it('defaults to two tensor-parallel ranks per replica, and says so', async () => {
    expect(DEFAULT_TP).toBe(2);
    const r = await runTandem(['up', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/--tp N +tensor-parallel ranks per replica \(default 2\)/);
  });

  it('rejects a tensor-parallel size below 1, naming the flag', async () => {
    const r = await runTandem(['up', '--tp', '0']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--tp: must be an integer >= 1');
  });
});
