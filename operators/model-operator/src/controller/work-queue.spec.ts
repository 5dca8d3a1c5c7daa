import { describe, expect, it } from 'vitest';
import { WorkQueue } from './work-queue.js';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe('WorkQueue', () => {
  it('coalesces triggers for a key while it runs, then runs once more', async () => {
    const runs: string[] = [];
    let release!: () => void;
    const q = new WorkQueue(async (key) => {
      runs.push(key);
      if (runs.length === 1) await new Promise<void>((r) => (release = r));
      return {};
    }, () => undefined);
    q.add('a');
    await tick();
    q.add('a');
    q.add('a');
    release();
    await tick(20);
    expect(runs).toEqual(['a', 'a']);
    q.stop();
  });

  it('retries a failing key with exponential backoff and reports each error', async () => {
    const errors: number[] = [];
    let calls = 0;
    const q = new WorkQueue(
      async () => {
        calls++;
        if (calls < 3) throw new Error('boom');
        return {};
      },
      (_k, _e, retry) => errors.push(retry),
      { baseDelayMs: 10, maxDelayMs: 1000 },
    );
    q.add('a');
    await tick(80);
    expect(calls).toBe(3);
    expect(errors).toEqual([10, 20]);
    expect(q.backoff(30)).toBe(1000);
    q.stop();
  });

  it('requeues after the delay a reconcile asks for', async () => {
    let calls = 0;
    const q = new WorkQueue(async () => ({ requeueAfterMs: calls++ === 0 ? 15 : undefined }), () => undefined);
    q.add('a');
    await tick(50);
    expect(calls).toBe(2);
    q.stop();
  });
});
