// `tandem bench engine`: prefill and decode throughput on cohere2-small, and batch-1 decode as a
// fraction of the memory-bandwidth roofline measured in the same run.
import { z } from 'zod';
import type { Engine } from '@tandem/engine';
import { UsageError, intFlag, parseFlags, validateFlags } from '../args.js';
import { openEngine } from '../engine.js';
import { logLine, printJson } from '../output.js';
import { ensureCachedModel } from '../paths.js';
import { NormalStream } from '../prng.js';

export const BENCH_USAGE = `usage: tandem bench engine [--model DIR] [--threads N] [--prompt-tokens P] [--decode-tokens D]
                          [--batch B] [--bandwidth-mib M]
       tandem bench tp [--model DIR] [--decode-tokens D] [--batch B] [--rounds R]
       tandem bench router [--help]   router added latency vs the engine, max streams/s
  default model: cohere2-small, created once under .tandem/models`;

const BenchFlags = z.strictObject({
  help: z.boolean().optional(),
  model: z.string().min(1).optional(),
  threads: intFlag(1).optional(),
  'prompt-tokens': intFlag(1).optional(),
  'decode-tokens': intFlag(2).optional(),
  batch: intFlag(2).optional(),
  'bandwidth-mib': intFlag(64).optional(),
});

/** Best-of-n timed Buffer.copy: bytes read + written per second (one thread, so a lower bound). */
export function measureBandwidth(mib: number, repeats = 5): number {
  const size = mib * 1024 * 1024;
  const src = Buffer.alloc(size, 1);
  const dst = Buffer.alloc(size, 0);
  src.copy(dst); // fault every page in before timing
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    src.copy(dst);
    best = Math.min(best, performance.now() - t0);
  }
  return (2 * size) / (best / 1000);
}

export function randomTokens(n: number, vocab: number, seed: number): number[] {
  const s = new NormalStream(seed, 'bench-prompt');
  return Array.from({ length: n }, (_, i) => (i === 0 ? 5 : 10 + Math.floor(s.uniform() * (vocab - 10))));
}

async function prefillRate(engine: Engine, tokens: number[]): Promise<number> {
  await engine.logits(tokens.slice(0, 8)); // warm-up
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 2; i++) {
    const t0 = performance.now();
    await engine.logits(tokens);
    best = Math.min(best, performance.now() - t0);
  }
  return tokens.length / (best / 1000);
}

/** Decode tok/s over `batch` concurrent requests, counted from the moment every one has its first token. */
export async function decodeRate(engine: Engine, batch: number, decodeTokens: number, vocab: number): Promise<number> {
  const firsts: number[] = [];
  const stamps: { t: number; n: number }[] = [];
  await Promise.all(Array.from({ length: batch }, async (_, b) => {
    const gen = engine.generate({ prompt: randomTokens(8 + b, vocab, 1000 + b), maxTokens: decodeTokens, ignoreEos: true });
    let first = true;
    for await (const ev of gen) {
      if (ev.error) throw new Error(`bench request failed: ${ev.error}`);
      if (ev.tokens.length === 0) continue;
      const t = performance.now();
      if (first) { firsts.push(t); first = false; stamps.push({ t, n: ev.tokens.length - 1 }); } else stamps.push({ t, n: ev.tokens.length });
    }
  }));
  const t0 = Math.max(...firsts);
  const after = stamps.filter((s) => s.t > t0);
  const end = Math.max(...after.map((s) => s.t));
  const tokens = after.reduce((sum, s) => sum + s.n, 0);
  if (tokens === 0 || end <= t0) throw new Error('bench: too few decode tokens to time; raise --decode-tokens');
  return tokens / ((end - t0) / 1000);
}

export async function runBenchCommand(argv: string[]): Promise<number> {
  const [suite, ...rest] = argv;
  if (suite === '--help' || suite === '-h') { logLine(BENCH_USAGE); return 0; }
  if (suite === 'tp') return (await import('./bench-tp.js')).runBenchTp(rest, BENCH_USAGE);
  if (suite === 'router') return (await import('./bench-router.js')).runBenchRouter(rest);
  if (suite !== 'engine') throw new UsageError(suite ? `unknown bench suite "${suite}" (available: engine, router, tp)` : 'missing bench suite (engine, router, tp)', BENCH_USAGE);
  const parsed = parseFlags(rest, {
    model: { type: 'string' }, threads: { type: 'string' }, 'prompt-tokens': { type: 'string' },
    'decode-tokens': { type: 'string' }, batch: { type: 'string' }, 'bandwidth-mib': { type: 'string' },
  }, BENCH_USAGE);
  if (parsed.values.help) { logLine(BENCH_USAGE); return 0; }
  const flags = validateFlags(BenchFlags, parsed.values, BENCH_USAGE);
  const modelDir = flags.model ?? (await ensureCachedModel('cohere2-small'));
  const promptTokens = flags['prompt-tokens'] ?? 256;
  const decodeTokens = flags['decode-tokens'] ?? 64;
  const batch = flags.batch ?? 16;

  logLine('measuring memory bandwidth (timed Buffer.copy)...');
  const bandwidth = measureBandwidth(flags['bandwidth-mib'] ?? 1024);
  const engine = await openEngine({ modelDir, threads: flags.threads }, true);
  try {
    const info = engine.info;
    logLine(`model ${modelDir}: ${info.numLayers} layers, hidden ${info.hiddenSize}, vocab ${info.vocabSize}, ${info.weightDtype}, ` +
      `isa ${info.isa}, ${info.threads} threads`);
    const prefill = await prefillRate(engine, randomTokens(promptTokens, info.vocabSize, 7));
    const decode1 = await decodeRate(engine, 1, decodeTokens, info.vocabSize);
    const decodeB = await decodeRate(engine, batch, decodeTokens, info.vocabSize);
    // Every decode step streams all weights once (the tied head reads the whole embedding matrix).
    const weightBytesPerToken = info.weightBytes;
    const roofline = bandwidth / weightBytesPerToken;
    const result = {
      model: modelDir, weight_dtype: info.weightDtype, isa: info.isa, threads: info.threads,
      prompt_tokens: promptTokens, decode_tokens: decodeTokens,
      prefill_tok_s: prefill, decode_tok_s_batch1: decode1, [`decode_tok_s_batch${batch}`]: decodeB,
      batch, decode_tok_s_batched: decodeB,
      weight_bytes_per_token: weightBytesPerToken, memory_bandwidth_bytes_s: bandwidth,
      roofline_decode_tok_s: roofline, batch1_roofline_fraction: decode1 / roofline,
    };
    const rows: [string, string][] = [
      ['prefill', `${prefill.toFixed(1)} tok/s (${promptTokens}-token prompt)`],
      ['decode batch 1', `${decode1.toFixed(1)} tok/s`],
      [`decode batch ${batch}`, `${decodeB.toFixed(1)} tok/s`],
      ['weight bytes/token', `${(weightBytesPerToken / 1e6).toFixed(1)} MB`],
      ['memory bandwidth', `${(bandwidth / 1e9).toFixed(2)} GB/s (Buffer.copy, read+write)`],
      ['roofline decode', `${roofline.toFixed(1)} tok/s`],
      ['batch-1 / roofline', `${(100 * result.batch1_roofline_fraction).toFixed(1)} %`],
    ];
    for (const [k, v] of rows) logLine(`  ${k.padEnd(20)} ${v}`);
    printJson(result);
    return 0;
  } finally {
    await engine.close();
  }
}
