// Tensor parallelism through the binding: rank 0 (Engine.load with worldSize) and a follower
// (runFollower) in one process, each on its own libuv worker, talking over loopback TCP.
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Engine, EngineError, runFollower } from '../index.js';
import { collect, maxAbsDiff, readGolden, TINY, TINY_BF16 } from './helpers.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

describe.each([TINY, TINY_BF16])('TP=2 on %s', (dir) => {
  it('logits within 1e-4 of TP=1, golden greedy tokens, follower resolves on close', async () => {
    const golden = readGolden(dir);
    const leaderAddr = `127.0.0.1:${await freePort()}`;
    const follower = runFollower({ modelDir: dir, threads: 1, rank: 1, worldSize: 2, leaderAddr });
    const [tp, one] = await Promise.all([
      Engine.load({ modelDir: dir, threads: 1, worldSize: 2, leaderAddr }),
      Engine.load({ modelDir: dir, threads: 1 }),
    ]);
    try {
      expect(tp.info.tpWorldSize).toBe(2);
      expect(tp.info.numKvHeads).toBe(one.info.numKvHeads);  // the model's, not the rank's
      expect(tp.info.weightBytes).toBeLessThan(one.info.weightBytes * 0.6);
      const prompt = golden.prompts[2]!;
      const [a, b] = [await one.logits(prompt, { allPositions: true }), await tp.logits(prompt, { allPositions: true })];
      a.forEach((row, i) => expect(maxAbsDiff(row, b[i]!)).toBeLessThan(1e-4));
      const out = await collect(tp.generate({ prompt, maxTokens: golden.cases[2]!.greedy.new_tokens.length, ignoreEos: true }));
      expect(out.tokens).toEqual(golden.cases[2]!.greedy.new_tokens);
      const s = tp.stats();
      expect(s.collectiveOps).toBeGreaterThan(0);
      expect(s.collectiveBytes).toBeGreaterThan(0);
      expect(one.stats().collectiveOps).toBe(0);
    } finally {
      await Promise.all([tp.close(), one.close()]);
    }
    await expect(follower).resolves.toBeUndefined();
  }, 30_000);
});

describe('TP errors', () => {
  it('a missing follower fails the load with UNAVAILABLE naming the rank, inside the timeout', async () => {
    const leaderAddr = `127.0.0.1:${await freePort()}`;
    const t0 = performance.now();
    const err = await Engine.load({ modelDir: TINY, worldSize: 2, leaderAddr, rendezvousTimeoutMs: 400 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).code).toBe('UNAVAILABLE');
    expect((err as EngineError).message).toContain('rank 1 of 2 did not join');
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('bad follower options are INVALID_ARGUMENT naming the field; wrong JS types are TypeErrors', async () => {
    const err = await runFollower({ modelDir: TINY, rank: 0, worldSize: 2, leaderAddr: '127.0.0.1:1' }).catch((e: unknown) => e);
    expect((err as EngineError).code).toBe('INVALID_ARGUMENT');
    expect((err as EngineError).message).toMatch(/^rank: 0 is not a follower rank/);
    await expect(runFollower({ modelDir: TINY, rank: 1, worldSize: 2, leaderAddr: 5 as unknown as string })).rejects.toThrow(TypeError);
    await expect(Engine.load({ modelDir: TINY, worldSize: 2 })).rejects.toThrow(/leader_addr: required/);
  });

  it('tpTransport picks the collectives\' transport (auto = shared memory on one host); a bad value names tp_transport', async () => {
    for (const [asked, got] of [[undefined, 'shm'], ['tcp', 'tcp'], ['shm', 'shm']] as const) {
      const leaderAddr = `127.0.0.1:${await freePort()}`;
      const opts = { modelDir: TINY, threads: 1, worldSize: 2, leaderAddr, ...(asked ? { tpTransport: asked } : {}) };
      const follower = runFollower({ ...opts, rank: 1 });
      const tp = await Engine.load(opts);
      try {
        expect(tp.info.tpTransport).toBe(got);
        const out = await collect(tp.generate({ prompt: [5, 6, 7], maxTokens: 3, ignoreEos: true }));
        expect(out.tokens).toHaveLength(3);
      } finally {
        await tp.close();
      }
      await expect(follower).resolves.toBeUndefined();
    }
    const one = await Engine.load({ modelDir: TINY, threads: 1 });
    expect(one.info.tpTransport).toBe('none');
    await one.close();
    const err = await Engine.load({ modelDir: TINY, worldSize: 2, leaderAddr: '127.0.0.1:1', tpTransport: 'udp' as 'tcp' }).catch((e: unknown) => e);
    expect((err as EngineError).code).toBe('INVALID_ARGUMENT');
    expect((err as EngineError).message).toContain('tp_transport: "udp" is not one of auto, tcp, shm');
    await expect(runFollower({ modelDir: TINY, rank: 1, worldSize: 2, leaderAddr: '127.0.0.1:1', tpTransport: 3 as unknown as 'tcp' })).rejects.toThrow(TypeError);
  }, 30_000);
});
