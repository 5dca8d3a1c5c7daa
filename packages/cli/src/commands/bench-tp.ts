// `tandem bench tp`: decode tok/s at batch 1 and B for TP=1 (2 threads) against TP=2 (two local
// processes, 1 thread each) over each collective transport (shared memory, TCP), with rank 0's
// collective traffic per step and every rank's RSS.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { intFlag, parseFlags, validateFlags } from '../args.js';
import { openEngine } from '../engine.js';
import { logLine, printJson } from '../output.js';
import { ensureCachedModel } from '../paths.js';
import type { TpTransport } from '@tandem/engine';
import { runFollowerIfRank, withLocalGroup } from '../tp.js';
import { decodeRate } from './bench.js';

const BenchTpFlags = z.strictObject({
  help: z.boolean().optional(),
  model: z.string().min(1).optional(),
  'decode-tokens': intFlag(2).optional(),
  batch: intFlag(2).optional(),
  rounds: intFlag(1, 20).optional(),
});

/** VmRSS / RssAnon / RssFile of a process in bytes (mapped weights show up as RssFile). */
export function rssOf(pid: number | 'self'): { rss: number; anon: number; file: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
}

interface RunResult {
  tp: number; threads_per_rank: number; transport: string;
  decode_tok_s_batch1: number; decode_tok_s_batched: number;
  collective_ops_per_step: number; collective_bytes_per_step: number; collective_ms_per_step: number;
  rss_per_rank: { rank: number; rss: number; anon: number; file: number }[];
}

async function runOne(modelDir: string, tp: number, threads: number, batch: number, decodeTokens: number, transport?: TpTransport): Promise<RunResult> {
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
        tp, threads_per_rank: threads, transport: engine.info.tpTransport, decode_tok_s_batch1: d1, decode_tok_s_batched: dB,
        collective_ops_per_step: (after.collectiveOps - before.collectiveOps) / steps,
        collective_bytes_per_step: (after.collectiveBytes - before.collectiveBytes) / steps,
        collective_ms_per_step: (1000 * (after.collectiveSeconds - before.collectiveSeconds)) / steps,
        rss_per_rank: rss,
      };
    } finally {
      await engine.close();
    }
  }, transport);
}

function followerPids(): number[] {
  const out: number[] = [];
  for (const line of readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim().split(/\s+/)) {
    if (line) out.push(Number(line));
  }
  return out;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Config { readonly name: string; readonly tp: number; readonly threads: number; readonly transport?: TpTransport }
const CONFIGS: readonly Config[] = [
  { name: 'tp1', tp: 1, threads: 2 },
  { name: 'tp2', tp: 2, threads: 1, transport: 'shm' },
  { name: 'tp2_tcp', tp: 2, threads: 1, transport: 'tcp' },
];

export async function runBenchTp(argv: string[], usage: string): Promise<number> {
  const parsed = parseFlags(argv, { model: { type: 'string' }, 'decode-tokens': { type: 'string' }, batch: { type: 'string' }, rounds: { type: 'string' } }, usage);
  if (parsed.values.help) { logLine(usage); return 0; }
  const flags = validateFlags(BenchTpFlags, parsed.values, usage);
  const modelDir = flags.model ?? (await ensureCachedModel('cohere2-small'));
  const followerExit = await runFollowerIfRank(modelDir, 1);
  if (followerExit !== undefined) return followerExit;
  const batch = flags.batch ?? 16;
  const decodeTokens = flags['decode-tokens'] ?? 32;
  const rounds = flags.rounds ?? 3;
  logLine(`bench tp on ${modelDir}: decode ${decodeTokens} tokens, batch 1 and ${batch}, ${rounds} round(s) of ${CONFIGS.map((c) => c.name).join(', ')} (order rotated each round)`);
  // Rounds interleave the configurations so a noisy neighbour hits them alike; ratios are taken
  // within a round, then the median over rounds is reported.
  const runs = new Map<string, RunResult[]>(CONFIGS.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < CONFIGS.length; i++) {
      const c = CONFIGS[(i + r) % CONFIGS.length]!;
      runs.get(c.name)!.push(await runOne(modelDir, c.tp, c.threads, batch, decodeTokens, c.transport));
    }
  }
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const summary: Record<string, unknown> = { model: modelDir, batch, decode_tokens: decodeTokens, rounds };
  for (const c of CONFIGS) {
    const rs = runs.get(c.name)!;
    const b1 = rs.map((x) => x.decode_tok_s_batch1), bB = rs.map((x) => x.decode_tok_s_batched);
    const last = rs.at(-1)!;
    logLine(`  TP=${c.tp}${c.tp > 1 ? ` over ${last.transport}` : ''} (${c.threads} thread${c.threads > 1 ? 's' : ''}/rank): decode batch 1 ${median(b1).toFixed(1)} tok/s, ` +
      `batch ${batch} ${median(bB).toFixed(1)} tok/s (median of ${rounds}; range ${Math.min(...bB).toFixed(0)}–${Math.max(...bB).toFixed(0)})`);
    if (c.tp > 1) {
      logLine(`    collectives/step: ${median(rs.map((x) => x.collective_ops_per_step)).toFixed(1)} calls, ` +
        `${(median(rs.map((x) => x.collective_bytes_per_step)) / 1024).toFixed(1)} KiB, ${median(rs.map((x) => x.collective_ms_per_step)).toFixed(2)} ms`);
    }
    for (const p of last.rss_per_rank) logLine(`    rank ${p.rank} RSS ${mib(p.rss)} (file-backed ${mib(p.file)}, anon ${mib(p.anon)})`);
    summary[c.name] = { ...last, decode_tok_s_batch1: median(b1), decode_tok_s_batched: median(bB), rounds: rs };
  }
  const ratio = (name: string, key: 'decode_tok_s_batch1' | 'decode_tok_s_batched') =>
    median(runs.get(name)!.map((x, r) => x[key] / runs.get('tp1')![r]![key]));
  for (const name of ['tp2', 'tp2_tcp']) {
    const b1 = ratio(name, 'decode_tok_s_batch1'), bB = ratio(name, 'decode_tok_s_batched');
    summary[`speedup_${name === 'tp2' ? '' : 'tcp_'}batch1`] = b1;
    summary[`speedup_${name === 'tp2' ? '' : 'tcp_'}batched`] = bB;
    logLine(`  TP=2 / TP=1 over ${name === 'tp2' ? 'shm' : 'tcp'}: batch 1 ${b1.toFixed(2)}x, batch ${batch} ${bB.toFixed(2)}x (median of per-round ratios)`);
  }
  printJson(summary);
  return 0;
}
