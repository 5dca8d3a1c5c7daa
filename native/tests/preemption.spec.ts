// With a KV budget that holds only two max-length sequences, twelve concurrent requests force
// the scheduler to preempt; the tokens must still equal each request run alone.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Engine, type GenerateRequest } from '../index.js';
import { collect, expectKvFree, makePrompt, readGolden, TINY } from './helpers.js';

// blockSize 16, maxSeqLen 128: one max-length sequence needs 8 full blocks; 256 KiB holds the
// pools for one or two such sequences, while twelve requests of ~100 positions need ~84 blocks.
const SMALL_KV = 256 * 1024;
const MAX_SEQ_LEN = 128;

describe('preemption under a small KV budget', () => {
  let small: Engine;
  let roomy: Engine;

  beforeAll(async () => {
    [small, roomy] = await Promise.all([
      Engine.load({ modelDir: TINY, kvMemoryBytes: SMALL_KV, maxSeqLen: MAX_SEQ_LEN, blockSize: 16 }),
      Engine.load({ modelDir: TINY, maxSeqLen: MAX_SEQ_LEN }),
    ]);
  });
  afterEach(() => {
    expectKvFree(small);
    expectKvFree(roomy);
  });
  afterAll(async () => {
    await Promise.all([small?.close(), roomy?.close()]);
  });

  it('sizes the pools from kvMemoryBytes', () => {
    expect(small.info.kvBytes).toBeLessThanOrEqual(SMALL_KV);
    expect(small.info.fullBlocksTotal).toBeGreaterThanOrEqual(MAX_SEQ_LEN / 16);
    expect(small.info.fullBlocksTotal).toBeLessThan(roomy.info.fullBlocksTotal);
  });

  it('twelve concurrent greedy requests preempt and still match their solo runs', async () => {
    const reqs: GenerateRequest[] = Array.from({ length: 12 }, (_, i) => ({
      prompt: makePrompt(20 + 3 * i, 300 + i),
      maxTokens: 40,
      ignoreEos: true,
    }));
    const expected: number[][] = [];
    for (const r of reqs) expected.push((await collect(roomy.generate(r))).tokens);

    const before = small.stats().preemptions;
    const outs = await Promise.all(reqs.map((r) => collect(small.generate(r))));
    for (const [i, o] of outs.entries()) {
      expect(o.finish).toBe('length');
      expect(o.tokens, `request ${i}`).toEqual(expected[i]);
    }
    expect(small.stats().preemptions).toBeGreaterThan(before);
  });

  it('golden greedy tokens survive preemption too', async () => {
    const golden = readGolden(TINY);
    const before = small.stats().preemptions;
    // Padding requests keep the pools full while the golden prompts run.
    const fillers = Array.from({ length: 6 }, (_, i) =>
      collect(small.generate({ prompt: makePrompt(60, 900 + i), maxTokens: 60, ignoreEos: true })),
    );
    const outs = await Promise.all(
      golden.prompts.map((prompt) => collect(small.generate({ prompt, maxTokens: 24, ignoreEos: true }))),
    );
    await Promise.all(fillers);
    for (const [i, o] of outs.entries()) expect(o.tokens, `prompt ${i}`).toEqual(golden.cases[i]!.greedy.new_tokens);
    expect(small.stats().preemptions).toBeGreaterThan(before);
  });
});
