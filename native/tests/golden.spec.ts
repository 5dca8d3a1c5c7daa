// The engine through the binding against transformers' outputs: logits within 1e-4 and greedy
// tokens exact, via logits() and via generate() (the server's path).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../index.js';
import { collect, expectKvFree, maxAbsDiff, readGolden, TINY, TINY_BF16 } from './helpers.js';

const TOLERANCE = 1e-4;

const models = [
  { name: 'cohere2-tiny (f32, one file)', dir: TINY, dtype: 'f32' },
  { name: 'cohere2-tiny-bf16-sharded (bf16, two shards)', dir: TINY_BF16, dtype: 'bf16' },
] as const;

describe.each(models)('$name', ({ dir, dtype }) => {
  const golden = readGolden(dir);
  let engine: Engine;
  const progress: [number, string][] = [];

  beforeAll(async () => {
    engine = await Engine.load({ modelDir: dir, onProgress: (f, stage) => progress.push([f, stage]) });
  });
  afterEach(() => expectKvFree(engine));
  afterAll(async () => engine?.close());

  it('reports the model and reaches full load progress', () => {
    expect(engine.info).toMatchObject({
      vocabSize: 384,
      hiddenSize: 64,
      numLayers: 8,
      numSlidingLayers: 6,
      numFullLayers: 2,
      slidingWindow: 6,
      logitScale: 0.25,
      bosTokenId: 5,
      eosTokenId: 3,
      weightDtype: dtype,
    });
    expect(typeof engine.info.isa).toBe('string');
    expect(progress.length).toBeGreaterThan(0);
    for (const [f] of progress) expect(f).toBeGreaterThanOrEqual(0);
    expect(Math.max(...progress.map(([f]) => f))).toBe(1);
  });

  it('final-position logits match for every prompt', async () => {
    for (const [i, prompt] of golden.prompts.entries()) {
      const rows = await engine.logits(prompt);
      expect(rows).toHaveLength(1);
      expect(maxAbsDiff(rows[0]!, golden.cases[i]!.final_logits), `prompt ${i}`).toBeLessThanOrEqual(TOLERANCE);
    }
  });

  it('every position of the 17-token prompt matches', async () => {
    const i = golden.cases.findIndex((c) => c.all_logits !== undefined);
    const expected = golden.cases[i]!.all_logits!;
    const rows = await engine.logits(Int32Array.from(golden.prompts[i]!), { allPositions: true });
    expect(rows).toHaveLength(17);
    for (const [p, row] of rows.entries()) {
      expect(maxAbsDiff(row, expected[p]!), `position ${p}`).toBeLessThanOrEqual(TOLERANCE);
    }
  });

  it('greedy generate() reproduces 24 tokens exactly for each prompt', async () => {
    for (const [i, prompt] of golden.prompts.entries()) {
      const out = await collect(engine.generate({ prompt, maxTokens: 24, ignoreEos: true }));
      expect(out.tokens, `prompt ${i}`).toEqual(golden.cases[i]!.greedy.new_tokens);
      expect(out.finish).toBe('length');
      const last = out.events.at(-1)!;
      expect(last.promptTokens).toBe(prompt.length);
      expect(last.completionTokens).toBe(24);
      for (const ev of out.events) for (const lp of ev.logprobs) expect(lp).toBeLessThanOrEqual(0);
    }
  });

  it('the three prompts generated together give the same tokens', async () => {
    const outs = await Promise.all(
      golden.prompts.map((prompt) => collect(engine.generate({ prompt, maxTokens: 24, ignoreEos: true }))),
    );
    for (const [i, out] of outs.entries()) expect(out.tokens, `prompt ${i}`).toEqual(golden.cases[i]!.greedy.new_tokens);
  });

  it('top logprobs list the chosen greedy token first', async () => {
    const out = await collect(
      engine.generate({ prompt: golden.prompts[1]!, maxTokens: 4, ignoreEos: true, sampling: { topLogprobs: 3 } }),
    );
    expect(out.tokens).toHaveLength(4);
    for (const ev of out.events) {
      expect(ev.top).toHaveLength(ev.tokens.length);
      for (const [j, tok] of ev.tokens.entries()) {
        expect(ev.top[j]!.ids).toHaveLength(3);
        expect(ev.top[j]!.ids[0]).toBe(tok);
        expect(ev.top[j]!.logprobs[0]).toBeCloseTo(ev.logprobs[j]!, 5);
      }
    }
  });
});
