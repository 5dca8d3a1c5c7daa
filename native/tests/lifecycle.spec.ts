// Cancellation, early exit from for-await, close(), and the promise that nothing blocks the
// Node event loop while the engine works.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { activeIsa, Engine, EngineError } from '../index.js';
import { collect, expectKvFree, makePrompt, Recorder, TINY, waitIdle } from './helpers.js';

const LONG = { prompt: makePrompt(16, 99), maxTokens: 230, ignoreEos: true };

describe('lifecycle', () => {
  let engine: Engine;

  beforeAll(async () => {
    engine = await Engine.load({ modelDir: TINY });
  });
  afterEach(() => expectKvFree(engine));
  afterAll(async () => engine?.close());

  it('cancel() mid-stream ends the iterator with a cancelled event and frees the blocks', async () => {
    const gen = engine.generate(LONG);
    const rec = new Recorder(gen);
    await rec.waitFor(3);
    const s = engine.stats();
    expect(s.running).toBe(1);
    expect(s.slidingBlocksUsed + s.fullBlocksUsed).toBeGreaterThan(0);
    gen.cancel();
    const out = await rec.done;
    expect(out.finish).toBe('cancelled');
    expect(out.tokens.length).toBeGreaterThanOrEqual(3);
    expect(out.tokens.length).toBeLessThan(LONG.maxTokens);
    // The final event was published after the blocks were returned.
    expectKvFree(engine);
    expect(engine.cancel(gen.requestId)).toBe(false);
    gen.cancel(); // no-op once finished
  });

  it('engine.cancel(requestId) cancels a waiting or running request', async () => {
    const gen = engine.generate(LONG);
    const rec = new Recorder(gen);
    expect(engine.cancel(gen.requestId)).toBe(true);
    expect((await rec.done).finish).toBe('cancelled');
    expect(() => engine.cancel(1 as unknown as bigint)).toThrow(TypeError);
  });

  it('breaking out of for-await cancels the request', async () => {
    const gen = engine.generate(LONG);
    let seen = 0;
    for await (const ev of gen) {
      seen += ev.tokens.length;
      if (seen >= 2) break;
    }
    await waitIdle(engine);
    expect(engine.stats().generatedTokensTotal).toBeGreaterThan(0);
    expect(engine.cancel(gen.requestId)).toBe(false);
  });

  it('a Generation can be iterated only once', async () => {
    const gen = engine.generate({ prompt: [5, 6], maxTokens: 2 });
    const out = await collect(gen);
    expect(out.events.length).toBeGreaterThan(0);
    expect(() => gen[Symbol.asyncIterator]()).toThrow(/only once/);
  });

  it('request ids are distinct bigints', async () => {
    const a = engine.generate({ prompt: [5], maxTokens: 1 });
    const b = engine.generate({ prompt: [5], maxTokens: 1 });
    expect(typeof a.requestId).toBe('bigint');
    expect(a.requestId).not.toBe(b.requestId);
    const [ea, eb] = await Promise.all([collect(a), collect(b)]);
    expect(ea.events.at(-1)!.requestId).toBe(a.requestId);
    expect(eb.events.at(-1)!.requestId).toBe(b.requestId);
  });

  it('the event loop keeps ticking during long generations and logits', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      const t0 = Date.now();
      const gens = Array.from({ length: 4 }, (_, i) =>
        collect(engine.generate({ ...LONG, prompt: makePrompt(16, 500 + i) })),
      );
      const logits = engine.logits(makePrompt(200, 7), { allPositions: true });
      await Promise.all([...gens, logits]);
      const elapsed = Date.now() - t0;
      // A blocked loop would tick ~0 times; a free one about once per ms (timers clamp to 1 ms).
      expect(ticks).toBeGreaterThan(Math.min(20, elapsed / 10));
      expect((await logits).length).toBe(200);
    } finally {
      clearInterval(timer);
    }
  });

  it('activeIsa() names the kernel variant in use', () => {
    expect(['scalar', 'avx2', 'avx512', 'avx512bf16']).toContain(activeIsa());
    expect(engine.info.isa).toBe(activeIsa());
  });
});

describe('close', () => {
  it('cancels in-flight requests, then rejects further use; close() is idempotent', async () => {
    const engine = await Engine.load({ modelDir: TINY });
    const recs = [new Recorder(engine.generate(LONG)), new Recorder(engine.generate(LONG))];
    await recs[0]!.waitFor(1);
    const closing = engine.close();
    expect(engine.close()).toBe(closing);
    await closing;
    for (const rec of recs) expect((await rec.done).finish).toBe('cancelled');
    expect(() => engine.stats()).toThrow(EngineError);
    expect(() => engine.generate({ prompt: [1], maxTokens: 1 })).toThrow(/closed/);
    await expect(engine.logits([1])).rejects.toThrow(/closed/);
    expect(engine.cancel(1n)).toBe(false);
  });

  it('waits for a running logits call before freeing the engine', async () => {
    const engine = await Engine.load({ modelDir: TINY });
    const logits = engine.logits(makePrompt(200, 3), { allPositions: true });
    const closed = engine.close();
    const rows = await logits;
    await closed;
    expect(rows).toHaveLength(200);
    expect(rows.every((r) => r.length === 384 && r.every(Number.isFinite))).toBe(true);
  });

  it('Engine cannot be constructed directly', () => {
    expect(() => new (Engine as unknown as new () => Engine)()).toThrow(/Engine\.load/);
  });
});
