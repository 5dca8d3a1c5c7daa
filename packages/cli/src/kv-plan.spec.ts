import { describe, expect, it } from 'vitest';
import { planKv } from './kv-plan.js';

const commandA = {
  model: 'command-a', numSlidingLayers: 48, numFullLayers: 16, numKvHeads: 8, headDim: 128,
  slidingWindow: 4096, maxPositionEmbeddings: 131072,
};

describe('planKv', () => {
  it.each([8192, 131072])('command-a at %i equals (16·L + 48·min(L,4096)) × 2 × 8 × 128 × bytes', (L) => {
    for (const [dtype, bytes] of [['bf16', 2], ['f32', 4]] as const) {
      const plan = planKv(commandA, L, dtype, 16);
      expect(plan.total_bytes).toBe((16 * L + 48 * Math.min(L, 4096)) * 2 * 8 * 128 * bytes);
      expect(plan.sliding_pool_bytes).toBe(48 * Math.min(L, 4096) * 2 * 8 * 128 * bytes);
      expect(plan.full_pool_bytes).toBe(16 * L * 2 * 8 * 128 * bytes);
      expect(plan.all_full_attention_bytes).toBe(64 * L * 2 * 8 * 128 * bytes);
    }
  });

  it('gives 62.5 % and 27.3 % of the all-full layout', () => {
    expect(planKv(commandA, 8192, 'bf16', 16).ratio).toBe(0.625);
    expect(planKv(commandA, 131072, 'bf16', 16).ratio.toFixed(3)).toBe('0.273');
    expect(planKv(commandA, 8192, 'bf16', 16).total_bytes).toBe(1_342_177_280);
  });

  it('rounds to blocks: full ceil(L/B), sliding at most ceil(W/B)+1', () => {
    const p = planKv(commandA, 8192, 'bf16', 16).blocks;
    expect([p.full_blocks_per_layer, p.sliding_blocks_per_layer]).toEqual([512, 257]);
    expect(p.total_bytes).toBe((16 * 512 + 48 * 257) * 16 * 2 * 8 * 128 * 2);
    const short = planKv(commandA, 100, 'bf16', 16).blocks;
    expect([short.full_blocks_per_layer, short.sliding_blocks_per_layer]).toEqual([7, 7]);
    const odd = planKv({ ...commandA, slidingWindow: 6 }, 1000, 'f32', 4).blocks;
    expect(odd.sliding_blocks_per_layer).toBe(3);
  });

  it('short contexts hold the whole prompt in both kinds (ratio 1)', () => {
    const plan = planKv(commandA, 4096, 'bf16', 16);
    expect(plan.ratio).toBe(1);
    expect(plan.positions).toEqual({ sliding: 4096, full: 4096 });
  });
});
