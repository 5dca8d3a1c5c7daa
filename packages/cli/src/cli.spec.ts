// The real `tandem` binary, spawned: golden logits and tokens, batch invariance, exit codes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TINY, TINY_BF16, readGolden, runTandem, tryLoadEngine } from './test-support.js';

const engineModule = await tryLoadEngine();
const golden = readGolden();
const tmp = mkdtempSync(join(tmpdir(), 'tandem-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function maxAbsDiff(a: readonly number[], b: readonly number[]): number {
  expect(a.length).toBe(b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
}

describe.skipIf(!engineModule)('tandem logits / generate against the HF golden fixture', () => {
  it('logits: final position of every golden prompt within 1e-4', async () => {
    for (const [i, prompt] of golden.prompts.entries()) {
      const r = await runTandem(['logits', '--model', TINY, '--tokens', prompt.join(',')]);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { tokens: number[]; logits: number[][] };
      expect(out.tokens).toEqual(prompt);
      expect(out.logits).toHaveLength(1);
      expect(maxAbsDiff(out.logits[0]!, golden.cases[i]!.final_logits)).toBeLessThan(1e-4);
    }
  });

  it('logits --all-positions: every position of the 17-token prompt within 1e-4', async () => {
    const c = golden.cases.find((x) => x.all_logits)!;
    const prompt = golden.prompts[golden.cases.indexOf(c)]!;
    const r = await runTandem(['logits', '--model', TINY, '--tokens', prompt.join(','), '--all-positions']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { logits: number[][] };
    expect(out.logits).toHaveLength(prompt.length);
    out.logits.forEach((row, p) => expect(maxAbsDiff(row, c.all_logits![p]!)).toBeLessThan(1e-4));
  });

  it('generate --json greedy equals the golden tokens (prompts shorter and longer than the window)', async () => {
    for (const [i, prompt] of golden.prompts.entries()) {
      const r = await runTandem(['generate', '--model', TINY, '--tokens', prompt.join(','), '--max-tokens', '24', '--ignore-eos', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.tokens).toEqual(golden.cases[i]!.greedy.new_tokens);
      expect(out.finish_reason).toBe('length');
      expect(out.usage).toEqual({ prompt_tokens: prompt.length, completion_tokens: 24 });
    }
  });

  it('generate streams token ids on stdout without --json', async () => {
    const r = await runTandem(['generate', '--model', TINY, '--tokens', golden.prompts[1]!.join(','), '--max-tokens', '5']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split(' ').map(Number)).toEqual(golden.cases[1]!.greedy.new_tokens.slice(0, 5));
    expect(r.stderr).toMatch(/finish: length, 5 tokens/);
  });

  it('bf16 sharded fixture: generate equals its golden tokens', async () => {
    const g = readGolden(TINY_BF16);
    const r = await runTandem(['generate', '--model', TINY_BF16, '--tokens', g.prompts[2]!.join(','), '--max-tokens', '24', '--ignore-eos', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).tokens).toEqual(g.cases[2]!.greedy.new_tokens);
  });

  it('--batch-file: 14 requests of different lengths arriving at different steps equal each alone, in input order', async () => {
    const long = golden.prompts[2]!;
    const lines = Array.from({ length: 14 }, (_, i) => {
      const tokens = long.slice(0, 3 + ((i * 7) % 38));
      const sampled = i % 2 === 1;
      return {
        tokens,
        max_tokens: 6 + (i % 5) * 3,
        arrive_step: (i * 3) % 11,
        ignore_eos: true,
        ...(sampled ? { sampling: { temperature: 0.8, top_p: 0.9, seed: 100 + i } } : {}),
      };
    });
    // the three golden prompts as well: their greedy tokens are known without running anything
    golden.prompts.forEach((p, i) => lines.push({ tokens: p, max_tokens: 24, arrive_step: 2 + i * 5, ignore_eos: true }));
    const file = join(tmp, 'batch.jsonl');
    writeFileSync(file, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
    const r = await runTandem(['generate', '--model', TINY, '--batch-file', file]);
    expect(r.code, r.stderr).toBe(0);
    const outs = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(outs.map((o) => o.line)).toEqual(lines.map((_, i) => i + 1));

    const engine = await engineModule!.Engine.load({ modelDir: TINY, threads: 1 });
    try {
      for (const [i, line] of lines.entries()) {
        const alone: number[] = [];
        const sampling = 'sampling' in line && line.sampling
          ? { temperature: line.sampling.temperature, topP: line.sampling.top_p, seed: line.sampling.seed } : undefined;
        for await (const ev of engine.generate({ prompt: line.tokens, maxTokens: line.max_tokens, ignoreEos: true, sampling })) alone.push(...ev.tokens);
        expect(outs[i].tokens, `line ${i + 1}`).toEqual(alone);
        expect(outs[i].finish_reason).toBe('length');
      }
      const s = engine.stats();
      expect([s.slidingBlocksUsed, s.fullBlocksUsed]).toEqual([0, 0]);
    } finally {
      await engine.close();
    }
    golden.prompts.forEach((_, k) => expect(outs[14 + k].tokens).toEqual(golden.cases[k]!.greedy.new_tokens));
  });
});

describe('bad usage exits 2 and names the flag', () => {
  it('lists every bad generate flag at once', async () => {
    const r = await runTandem(['generate', '--model', TINY, '--tokens', '1,2', '--max-tokens', '0', '--top-p', '1.5', '--temperature=-1', '--seed', '1.5']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--max-tokens: must be an integer >= 1');
    expect(r.stderr).toContain('--top-p: must be in (0, 1]');
    expect(r.stderr).toContain('--temperature: must be >= 0');
    expect(r.stderr).toContain('--seed:');
    expect(r.stdout).toBe('');
  });

  // independent processes: run them side by side
  it.concurrent.for([
    [['generate', '--bogus'], "Unknown option '--bogus'"],
    [['generate', '--model', TINY, '--max-tokens', '3'], '--tokens: is required'],
    [['generate', '--model', TINY, '--tokens', '1,x', '--max-tokens', '3'], '--tokens: "x" is not a token id'],
    [['generate', '--model', TINY, '--tokens', '1,999', '--max-tokens', '3'], '--tokens: token id 999 is >= vocab_size 384'],
    [['generate', '--model', TINY, '--tokens', '1', '--max-tokens', '3', '--temperature', 'warm'], '--temperature: must be a number'],
    [['generate', '--model', TINY, '--batch-file', 'x.jsonl', '--tokens', '1'], '--tokens: not allowed with --batch-file'],
    [['logits', '--model', TINY, '--tokens', ''], '--tokens: needs at least one token id'],
    [['logits', '--tokens', '1'], '--model: is required'],
    [['model', 'plan', '--preset', 'command-a'], '--context:'],
    [['model', 'plan', '--preset', 'command-a', '--model', TINY, '--context', '8'], '--model: give exactly one of'],
    [['model', 'init', '--preset', 'gpt-9', '--out', 'x'], '--preset: must be one of'],
    [['model', 'init', '--preset', 'cohere2-tiny', '--out', 'x', '--layers', '9'], '--layers must be an integer in [1, 8]'],
    [['model', 'frobnicate'], 'unknown subcommand "model frobnicate"'],
    [['frobnicate'], 'unknown command "frobnicate"'],
    [['bench', 'gpu'], 'unknown bench suite "gpu"'],
  ] as [string[], string][])('%j', async ([args, expected], { expect }) => {
    const r = await runTandem(args);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(expected);
  });

  it('a bad batch file reports every bad line with its number and field paths', async () => {
    const file = join(tmp, 'bad.jsonl');
    writeFileSync(file, [
      JSON.stringify({ tokens: [1, 2], max_tokens: 3 }),
      JSON.stringify({ tokens: [1], max_tokens: 3, sampling: { top_p: 0 } }),
      '{not json',
      '',
      JSON.stringify({ tokens: [], max_tokens: 0, arrive: 2 }),
      JSON.stringify({ tokens: [400], max_tokens: 1 }),
    ].join('\n'));
    const r = await runTandem(['generate', '--model', TINY, '--batch-file', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('line 2: sampling.top_p: must be in (0, 1]');
    expect(r.stderr).toContain('line 3: not valid JSON');
    expect(r.stderr).toContain('line 5: tokens: must hold at least one token id');
    expect(r.stderr).toContain('line 5: max_tokens: must be an integer >= 1');
    expect(r.stderr).toContain('line 5: arrive: unknown field');
    expect(r.stderr).toContain('line 6: tokens[0]: token id 400 is >= vocab_size 384');
    expect(r.stderr).not.toContain('line 1:');
  });
});

describe.skipIf(!engineModule)('tandem bench / demo', () => {
  it('bench engine prints every number as JSON (tiny model, short run)', async () => {
    const r = await runTandem(['bench', 'engine', '--model', TINY, '--prompt-tokens', '16', '--decode-tokens', '6',
      '--batch', '3', '--bandwidth-mib', '64', '--threads', '1']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    for (const k of ['prefill_tok_s', 'decode_tok_s_batch1', 'decode_tok_s_batch3', 'memory_bandwidth_bytes_s', 'roofline_decode_tok_s', 'batch1_roofline_fraction']) {
      expect(out[k], k).toBeGreaterThan(0);
    }
    expect(out.weight_bytes_per_token).toBeGreaterThanOrEqual(369_216 * 4);
    expect(r.stderr).toMatch(/batch-1 \/ roofline/);
  });

  it('demo generates from its prompts and reports tokens/s', async () => {
    const r = await runTandem(['demo', '--model', TINY, '--max-tokens', '5', '--threads', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/4 prompts run concurrently: 20 tokens in .* tok\/s/);
  });
});

describe('tandem model', () => {
  it('plan --preset command-a prints the acceptance numbers as JSON', async () => {
    for (const [L, ratio] of [[8192, 0.625], [131072, 0.2734375]] as const) {
      const r = await runTandem(['model', 'plan', '--preset', 'command-a', '--context', String(L)]);
      expect(r.code, r.stderr).toBe(0);
      const plan = JSON.parse(r.stdout);
      expect(plan.total_bytes).toBe((16 * L + 48 * Math.min(L, 4096)) * 2 * 8 * 128 * 2);
      expect(plan.ratio).toBe(ratio);
    }
  });

  it('plan --model reads the folder config (dtype from it)', async () => {
    const r = await runTandem(['model', 'plan', '--model', TINY_BF16, '--context', '100']);
    expect(r.code, r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect([plan.dtype, plan.layers.sliding, plan.layers.full, plan.positions.sliding]).toEqual(['bf16', 6, 2, 6]);
  });

  it.skipIf(!engineModule)('init --preset cohere2-tiny --seed writes a model that `tandem logits` loads', async () => {
    const out = join(tmp, 'tiny');
    const init = await runTandem(['model', 'init', '--preset', 'cohere2-tiny', '--out', out, '--seed', '3']);
    expect(init.code, init.stderr).toBe(0);
    expect(JSON.parse(init.stdout)).toMatchObject({ preset: 'cohere2-tiny', parameters: 369_216, files: ['model.safetensors'] });
    const r = await runTandem(['logits', '--model', out, '--tokens', '5,6,7']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).logits[0]).toHaveLength(384);
  });

  it('a broken model folder is a clear error, not a crash', async () => {
    const r = await runTandem(['logits', '--model', tmp, '--tokens', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/config\.json: cannot read/);
  });
});
