// `tandem generate --batch-file`: every line is a request; all run at once through the engine's
// continuous batching, each submitted when the engine reaches its arrive_step, and results are
// printed one JSON line per request in input order.
import { readFile } from 'node:fs/promises';
import type { Engine, Generation } from '@tandem/engine';
import { type BatchFileLine, BatchFileLineSchema, zodIssueLines } from '@tandem/schemas';
import { UsageError } from './args.js';
import { openEngine, readModelConfig, toEngineRequest } from './engine.js';
import { logLine, printJson } from './output.js';

export interface BatchEntry { line: number; request: BatchFileLine }

export interface BatchResult {
  line: number;
  tokens: number[];
  finish_reason: string;
  usage: { prompt_tokens: number; completion_tokens: number };
  error?: string;
}

/** Parses a JSONL batch; returns every problem of every line ("line 3: sampling.top_p: ..."). */
export function parseBatchFile(text: string, vocabSize?: number): { entries: BatchEntry[]; errors: string[] } {
  const entries: BatchEntry[] = [];
  const errors: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (e) {
      errors.push(`line ${line}: not valid JSON (${(e as Error).message})`);
      return;
    }
    const r = BatchFileLineSchema.safeParse(json);
    if (!r.success) {
      for (const l of zodIssueLines(r.error)) errors.push(`line ${line}: ${l}`);
      return;
    }
    if (vocabSize !== undefined) {
      const check = (ids: readonly number[], field: string) => ids.forEach((t, j) => {
        if (t >= vocabSize) errors.push(`line ${line}: ${field}[${j}]: token id ${t} is >= vocab_size ${vocabSize}`);
      });
      check(r.data.tokens, 'tokens');
      check(r.data.stop_token_ids ?? [], 'stop_token_ids');
    }
    entries.push({ line, request: r.data });
  });
  if (entries.length === 0 && errors.length === 0) errors.push('the batch file holds no requests');
  return { entries, errors };
}

async function collect(gen: Generation, line: number, promptLen: number): Promise<BatchResult> {
  const result: BatchResult = { line, tokens: [], finish_reason: 'error', usage: { prompt_tokens: promptLen, completion_tokens: 0 } };
  for await (const ev of gen) {
    result.tokens.push(...ev.tokens);
    result.usage = { prompt_tokens: ev.promptTokens, completion_tokens: ev.completionTokens };
    if (ev.finish) result.finish_reason = ev.finish;
    if (ev.error) result.error = ev.error;
  }
  return result;
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Runs entries on an open engine. A request is submitted once stats().steps >= its arrive_step; if the
 * engine goes idle before that step is reached (nothing left to step), the next one is submitted at
 * once, since waiting could never end. `onResult` sees results in input order.
 */
export async function runBatch(engine: Engine, entries: readonly BatchEntry[], onResult: (r: BatchResult) => void): Promise<BatchResult[]> {
  const results: (BatchResult | undefined)[] = new Array(entries.length);
  let nextToPrint = 0;
  const flush = () => {
    while (nextToPrint < entries.length && results[nextToPrint]) onResult(results[nextToPrint++]!);
  };
  const order = entries.map((e, i) => ({ i, at: e.request.arrive_step ?? 0 })).sort((a, b) => a.at - b.at || a.i - b.i);
  const inflight = new Set<Promise<void>>();
  let outstanding = 0;
  const submit = (i: number) => {
    const entry = entries[i]!;
    let gen: Generation;
    try {
      gen = engine.generate(toEngineRequest(entry.request));
    } catch (e) {
      // rejected at submission (the engine validates too): report it on its line, keep going
      results[i] = { line: entry.line, tokens: [], finish_reason: 'error', usage: { prompt_tokens: entry.request.tokens.length, completion_tokens: 0 }, error: (e as Error).message };
      flush();
      return;
    }
    outstanding++;
    const p = collect(gen, entry.line, entry.request.tokens.length)
      .catch((e: unknown) => ({ line: entry.line, tokens: [], finish_reason: 'error', usage: { prompt_tokens: entry.request.tokens.length, completion_tokens: 0 }, error: (e as Error).message }))
      .then((r) => { results[i] = r; outstanding--; flush(); });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };
  let k = 0;
  while (k < order.length) {
    const steps = engine.stats().steps;
    while (k < order.length && order[k]!.at <= steps) submit(order[k++]!.i);
    if (k >= order.length) break;
    const s = engine.stats();
    if (outstanding === 0 || s.running + s.waiting === 0) {
      // idle engine: its step counter cannot reach the next arrive_step
      if (outstanding === 0) submit(order[k++]!.i);
      else await tick();
    } else {
      await tick();
    }
  }
  await Promise.all([...inflight]);
  flush();
  return results as BatchResult[];
}

export async function runBatchFile(
  file: string,
  engineOptions: Parameters<typeof openEngine>[0],
  usage: string,
): Promise<number> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--batch-file: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, usage);
  }
  const config = await readModelConfig(engineOptions.modelDir);
  const { entries, errors } = parseBatchFile(text, config.vocab_size);
  if (errors.length > 0) throw new UsageError(`--batch-file ${file}:\n  ${errors.join('\n  ')}`, usage);
  const engine = await openEngine(engineOptions);
  const started = performance.now();
  let failed = 0;
  let generated = 0;
  try {
    await runBatch(engine, entries, (r) => {
      if (r.error) failed++;
      generated += r.tokens.length;
      printJson(r);
    });
  } finally {
    const stats = engine.stats();
    await engine.close();
    const secs = (performance.now() - started) / 1000;
    logLine(`${entries.length} requests, ${generated} tokens in ${secs.toFixed(2)} s (${(generated / secs).toFixed(1)} tok/s), ` +
      `${stats.steps} engine steps, ${stats.preemptions} preemptions${failed ? `, ${failed} failed` : ''}`);
  }
  return failed > 0 ? 1 : 0;
}
