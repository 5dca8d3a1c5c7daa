import { describe, expect, it } from 'vitest';
import { parseBatchFile, runBatch } from './batch.js';
import { TINY, readGolden, tryLoadEngine } from './test-support.js';

const engineModule = await tryLoadEngine();

describe('parseBatchFile', () => {
  it('keeps line numbers across blank lines and collects every error', () => {
    const text = [
      JSON.stringify({ tokens: [1], max_tokens: 2 }),
      '',
      JSON.stringify({ tokens: [1], max_tokens: 2, arrive_step: 4, sampling: { seed: 3 } }),
      JSON.stringify({ tokens: [1.5], max_tokens: 2, sampling: { top_k: -1, min_p: 2 } }),
      '[]',
    ].join('\n');
    const { entries, errors } = parseBatchFile(text, 384);
    expect(entries.map((e) => e.line)).toEqual([1, 3]);
    expect(entries[1]!.request.arrive_step).toBe(4);
    expect(errors).toEqual([
      expect.stringMatching(/^line 4: tokens\[0\]: /),
      'line 4: sampling.top_k: must be an integer >= 0',
      'line 4: sampling.min_p: must be in [0, 1]',
      expect.stringMatching(/^line 5: \(root\): /),
    ]);
  });

  it('checks token ids against the vocabulary and rejects an empty file', () => {
    expect(parseBatchFile(JSON.stringify({ tokens: [1], max_tokens: 1, stop_token_ids: [384] }), 384).errors)
      .toEqual(['line 1: stop_token_ids[0]: token id 384 is >= vocab_size 384']);
    expect(parseBatchFile('\n\n').errors).toEqual(['the batch file holds no requests']);
  });
});

describe.skipIf(!engineModule)('runBatch on the tiny model', () => {
  it('submits by arrive_step, never waits on a step an idle engine cannot reach, reports in input order', async () => {
    const golden = readGolden();
    const engine = await engineModule!.Engine.load({ modelDir: TINY, threads: 1 });
    try {
      const entries = golden.prompts.map((tokens, i) => ({
        line: i + 1, request: { tokens, max_tokens: 24, ignore_eos: true, arrive_step: [1_000_000, 3, 0][i] },
      }));
      const seen: number[] = [];
      const results = await runBatch(engine, entries, (r) => seen.push(r.line));
      expect(seen).toEqual([1, 2, 3]);
      results.forEach((r, i) => {
        expect(r.tokens).toEqual(golden.cases[i]!.greedy.new_tokens);
        expect(r.finish_reason).toBe('length');
      });
      const s = engine.stats();
      expect([s.slidingBlocksUsed, s.fullBlocksUsed, s.running, s.waiting]).toEqual([0, 0, 0, 0]);
    } finally {
      await engine.close();
    }
  });
});
