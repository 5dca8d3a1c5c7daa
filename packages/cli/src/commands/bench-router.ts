// `tandem bench router [--model DIR] [--pairs N] [--seconds S] [--max-concurrency C] [--threads N]`:
// starts the local stack (one shard + the router, real processes on loopback) and measures, in one run,
// 1. the router's added latency: time to first token of the same chat through the router
//    (POST /v2/chat, stream) versus straight to the engine (tandem.engine.v1 Generate with the token
//    ids the router would send), alternated pair by pair; p50 / p99 of both and of the difference;
// 2. the maximum sustained streams/s: closed loops of short streams (max_tokens 4) at rising
//    concurrency, each level held for --seconds; the best level without errors.
// Prints human lines on stderr and one JSON summary on stdout.
import { credentials } from '@grpc/grpc-js';
import { z } from 'zod';
import { ChatTokenizer, renderChatRequest } from '@tandem/chat';
import { EngineGrpcClient, engineV1 } from '@tandem/proto';
import { parseChatRequest } from '@tandem/schemas';
import { intFlag, parseFlags, validateFlags } from '../args.js';
import { logLine, printJson } from '../output.js';
import { ensureCachedModel } from '../paths.js';
import { startLocalStack } from './up.js';

export const BENCH_ROUTER_USAGE = 'usage: tandem bench router [--model DIR] [--pairs N] [--seconds S] [--max-concurrency C] [--threads N]';

const Flags = z.strictObject({
  help: z.boolean().optional(),
  model: z.string().min(1).optional(),
  pairs: intFlag(10, 100_000).optional(),
  seconds: intFlag(1, 600).optional(),
  'max-concurrency': intFlag(1, 1024).optional(),
  threads: intFlag(1, 1024).optional(),
});

function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? Number.NaN;
}

const CHAT = { model: 'bench', messages: [{ role: 'user' as const, content: 'Say hello.' }], max_tokens: 1, temperature: 0 };

async function routerTtft(url: string, body: unknown): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v2/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok || !res.body) throw new Error(`router answered HTTP ${res.status}: ${await res.text()}`);
  const reader = res.body.getReader();
  await reader.read(); // headers + the first event arrive once the engine has produced the first token
  const dt = performance.now() - t0;
  while (!(await reader.read()).done) { /* drain */ }
  return dt;
}

function engineTtft(client: InstanceType<typeof EngineGrpcClient>, prompt: number[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let dt = -1;
    const call = client.generate(engineV1.GenerateRequest.fromPartial({ prompt, maxTokens: 1, sampling: { temperature: 0 } }));
    call.on('data', () => { if (dt < 0) dt = performance.now() - t0; });
    call.on('error', reject);
    call.on('end', () => resolve(dt));
  });
}

async function streamsPerSecond(url: string, concurrency: number, seconds: number): Promise<{ rate: number; errors: number; p99: number }> {
  const until = performance.now() + seconds * 1000;
  const lat: number[] = [];
  let errors = 0;
  const body = JSON.stringify({ ...CHAT, max_tokens: 4, stream: true });
  const loop = async () => {
    while (performance.now() < until) {
      const t0 = performance.now();
      try {
        const res = await fetch(`${url}/v2/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        await res.text();
        if (res.ok) lat.push(performance.now() - t0);
        else errors++;
      } catch {
        errors++;
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { rate: lat.length / ((performance.now() - t0) / 1000), errors, p99: pct(lat, 99) };
}

export async function runBenchRouter(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, { model: { type: 'string' }, pairs: { type: 'string' }, seconds: { type: 'string' }, 'max-concurrency': { type: 'string' }, threads: { type: 'string' } }, BENCH_ROUTER_USAGE);
  if (parsed.values.help) { logLine(BENCH_ROUTER_USAGE); return 0; }
  const flags = validateFlags(Flags, parsed.values, BENCH_ROUTER_USAGE);
  const modelDir = flags.model ?? (await ensureCachedModel('cohere2-tiny'));
  const pairs = flags.pairs ?? 200;
  const seconds = flags.seconds ?? 5;
  const maxConc = flags['max-concurrency'] ?? 64;
  logLine(`bench router: model ${modelDir}; starting one shard and the router…`);
  const stack = await startLocalStack({
    modelDir, replicas: 1, httpPort: 0, grpcPort: 0, enginePort: 0, childStderr: 'ignore', ...(flags.threads ? { threads: flags.threads } : {}),
    env: { TANDEM_MAX_SEQ_LEN: '16384', TANDEM_LOG_LEVEL: 'warn' },
  });
  const engine = new EngineGrpcClient(stack.shards[0]!.address, credentials.createInsecure());
  try {
    // The exact ids the router sends for CHAT: same renderer, same tokenizer.
    const tok = await ChatTokenizer.fromDir(modelDir);
    const prompt = tok.encodeParts(renderChatRequest(parseChatRequest(CHAT)).prompt.parts);
    for (let i = 0; i < 10; i++) { await routerTtft(stack.httpUrl, CHAT); await engineTtft(engine, prompt); } // warm up (prefix cache, JIT)
    const viaRouter: number[] = [];
    const direct: number[] = [];
    const added: number[] = [];
    for (let i = 0; i < pairs; i++) {
      const d = await engineTtft(engine, prompt);
      const r = await routerTtft(stack.httpUrl, { ...CHAT, stream: true });
      direct.push(d);
      viaRouter.push(r);
      added.push(r - d);
    }
    const f = (x: number) => Number(x.toFixed(2));
    const latency = {
      pairs, prompt_tokens: prompt.length,
      direct_ms: { p50: f(pct(direct, 50)), p99: f(pct(direct, 99)) },
      router_ms: { p50: f(pct(viaRouter, 50)), p99: f(pct(viaRouter, 99)) },
      added_ms: { p50: f(pct(added, 50)), p99: f(pct(added, 99)) },
    };
    logLine(`time to first token over ${pairs} pairs (${prompt.length}-token prompt): engine p50 ${latency.direct_ms.p50} ms p99 ${latency.direct_ms.p99} ms; via router p50 ${latency.router_ms.p50} ms p99 ${latency.router_ms.p99} ms`);
    logLine(`router added latency: p50 ${latency.added_ms.p50} ms, p99 ${latency.added_ms.p99} ms`);
    const levels: { concurrency: number; streams_per_s: number; errors: number; p99_ms: number }[] = [];
    for (let c = 1; c <= maxConc; c *= 2) {
      const r = await streamsPerSecond(stack.httpUrl, c, seconds);
      levels.push({ concurrency: c, streams_per_s: f(r.rate), errors: r.errors, p99_ms: f(r.p99) });
      logLine(`  concurrency ${c}: ${r.rate.toFixed(1)} streams/s, p99 ${r.p99.toFixed(1)} ms, ${r.errors} errors`);
      const best = Math.max(...levels.map((l) => l.streams_per_s));
      if (r.errors > 0 || (levels.length >= 3 && r.rate < 0.95 * best && levels.at(-2)!.streams_per_s < best * 1.0)) break; // saturated
    }
    const ok = levels.filter((l) => l.errors === 0);
    const best = ok.reduce((a, b) => (b.streams_per_s > a.streams_per_s ? b : a), ok[0] ?? levels[0]!);
    logLine(`max sustained: ${best.streams_per_s} streams/s at concurrency ${best.concurrency} (4-token streams, ${seconds} s per level)`);
    printJson({ suite: 'router', model: modelDir, latency, throughput: { levels, max_streams_per_s: best.streams_per_s, at_concurrency: best.concurrency } });
    return 0;
  } finally {
    engine.close();
    await stack.stop(5000);
  }
}
