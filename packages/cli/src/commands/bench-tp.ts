// `tandem bench tp`: decode tok/s at batch 1 and B for TP=1 (2 threads) against TP=2 (two local
// processes, 1 thread each), with rank 0's collective traffic per step and every rank's RSS.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { intFlag, parseFlags, validateFlags } from '../args.js';
import { openEngine } from '../engine.js';
import { logLine, printJson } from '../output.js';
import { ensureCachedModel } from '../paths.js';
import { runFollowerIfRank, withLocalGroup } from '../tp.js';
import { decodeRate } from './bench.js';

const BenchTpFlags = z.strictObject({
  help: z.boolean().optional(),
  model: z.string().min(1).optional(),
  'decode-tokens': intFlag(2).optional(),
  batch: intFlag(2).optional(),
});

/** VmRSS / RssAnon / RssFile of a process in bytes (mapped weights show up as RssFile). */
export function rssOf(pid: number | 'self'): { rss: number; anon: number; file: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
}

interface RunResult {
  tp: number; threads_per_rank: number;
  decode_tok_s_batch1: number; decode_tok_s_batched: number;
  collective_ops_per_step: number; collective_bytes_per_step: number; collective_ms_per_step: number;
  rss_per_rank: { rank: number; rss: number; anon: number; file: number }[];
}

async function runOne(modelDir: string, tp: number, threads: number, batch: number, decodeTokens: number): Promise<RunResult> {
  return withLocalGroup(tp, async (tpOptions) => {
    const engine = await openEngine({ modelDir, threads, ...tpOptions });
    try {
      const vocab = engine.info.vocabSize;
      await decodeRate(engine, 1, 4, vocab);  // warm-up: fault the weights in on every rank
      const before = engine.stats();
      const d1 = await decodeRate(engine, 1, decodeTokens, vocab);
      const dB = await decodeRate(engine, batch, decodeTokens, vocab);
      const after = engine.stats();
      const steps = Math.max(1, after.steps - before.steps);
      // Followers are this process's children spawned by withLocalGroup: find them by parent pid.
      const pids = tp > 1 ? followerPids() : [];
      const rss = [{ rank: 0, ...rssOf('self') }, ...pids.map((pid, i) => ({ rank: i + 1, ...rssOf(pid) }))];
      return {
        tp, threads_per_rank: threads, decode_tok_s_batch1: d1, decode_tok_s_batched: dB,
        collective_ops_per_step: (after.collectiveOps - before.collectiveOps) / steps,
        collective_bytes_per_step: (after.collectiveBytes - before.collectiveBytes) / steps,
        collective_ms_per_step: (1000 * (after.collectiveSeconds - before.collectiveSeconds)) / steps,
        rss_per_rank: rss,
      };
    } finally {
      await engine.close();
    }
  });
}

function followerPids(): number[] {
  const out: number[] = [];
  for (const line of readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim().split(/\s+/)) {
    if (line) out.push(Number(line));
  }
  return out;
}

export async function runBenchTp(argv: string[], usage: string): Promise<number> {
  const parsed = parseFlags(argv, { model: { type: 'string' }, 'decode-tokens': { type: 'string' }, batch: { type: 'string' } }, usage);
  if (parsed.values.help) { logLine(usage); return 0; }
  const flags = validateFlags(BenchTpFlags, parsed.values, usage);
  const modelDir = flags.model ?? (await ensureCachedModel('cohere2-small'));
  const followerExit = await runFollowerIfRank(modelDir, 1);
  if (followerExit !== undefined) return followerExit;
  const batch = flags.batch ?? 16;
  const decodeTokens = flags['decode-tokens'] ?? 32;
  logLine(`bench tp on ${modelDir}: decode ${decodeTokens} tokens, batch 1 and ${batch}`);
  // TP=2 first: rank 0's RSS then is not inflated by what the TP=1 engine left in the heap.
  const tp2 = await runOne(modelDir, 2, 1, batch, decodeTokens);
  const tp1 = await runOne(modelDir, 1, 2, batch, decodeTokens);
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  for (const r of [tp1, tp2]) {
    logLine(`  TP=${r.tp} (${r.threads_per_rank} thread${r.threads_per_rank > 1 ? 's' : ''}/rank): decode batch 1 ${r.decode_tok_s_batch1.toFixed(1)} tok/s, ` +
      `batch ${batch} ${r.decode_tok_s_batched.toFixed(1)} tok/s`);
    if (r.tp > 1) {
      logLine(`    collectives/step: ${r.collective_ops_per_step.toFixed(1)} calls, ${(r.collective_bytes_per_step / 1024).toFixed(1)} KiB, ` +
        `${r.collective_ms_per_step.toFixed(2)} ms`);
    }
    for (const p of r.rss_per_rank) logLine(`    rank ${p.rank} RSS ${mib(p.rss)} (file-backed ${mib(p.file)}, anon ${mib(p.anon)})`);
  }
  const result = {
    model: modelDir, batch, decode_tokens: decodeTokens, tp1, tp2,
    speedup_batch1: tp2.decode_tok_s_batch1 / tp1.decode_tok_s_batch1,
    speedup_batched: tp2.decode_tok_s_batched / tp1.decode_tok_s_batched,
  };
  logLine(`  TP=2 / TP=1: batch 1 ${result.speedup_batch1.toFixed(2)}x, batch ${batch} ${result.speedup_batched.toFixed(2)}x`);
  printJson(result);
  return 0;
}
