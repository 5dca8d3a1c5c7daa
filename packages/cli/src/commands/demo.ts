// `tandem demo` (what `npm start` runs for now): the small model, a few prompts, tokens and speed.
import { z } from 'zod';
import { intFlag, parseFlags, validateFlags } from '../args.js';
import { openEngine } from '../engine.js';
import { ensureCachedModel } from '../paths.js';

export const DEMO_USAGE = 'usage: tandem demo [--model DIR] [--max-tokens N] [--threads N]';

const DemoFlags = z.strictObject({
  help: z.boolean().optional(),
  model: z.string().min(1).optional(),
  'max-tokens': intFlag(1).optional(),
  threads: intFlag(1).optional(),
});

const PROMPTS = [[5, 1200, 873, 42], [5, 17, 17, 17, 17], [5, 30000, 2, 999, 4096, 12], [5]];

export async function runDemoCommand(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, { model: { type: 'string' }, 'max-tokens': { type: 'string' }, threads: { type: 'string' } }, DEMO_USAGE);
  if (parsed.values.help) { process.stderr.write(`${DEMO_USAGE}\n`); return 0; }
  const flags = validateFlags(DemoFlags, parsed.values, DEMO_USAGE);
  const modelDir = flags.model ?? (await ensureCachedModel('cohere2-small'));
  const maxTokens = flags['max-tokens'] ?? 32;
  const engine = await openEngine({ modelDir, threads: flags.threads }, true);
  try {
    const info = engine.info;
    const out = (s: string) => process.stdout.write(`${s}\n`);
    out(`model ${modelDir} (${info.numLayers} layers, vocab ${info.vocabSize}, ${info.weightDtype}, isa ${info.isa}, ${info.threads} threads)`);
    const started = performance.now();
    // the prompts are written for cohere2-small's vocabulary; fold them into a smaller one
    const prompts = PROMPTS.map((p) => p.map((t) => t % info.vocabSize));
    const results = await Promise.all(prompts.map(async (prompt) => {
      const t0 = performance.now();
      const tokens: number[] = [];
      let finish = '';
      for await (const ev of engine.generate({ prompt, maxTokens, sampling: { temperature: 0.8, topP: 0.95, seed: 1 }, ignoreEos: true })) {
        tokens.push(...ev.tokens);
        if (ev.error) throw new Error(ev.error);
        if (ev.finish) finish = ev.finish;
      }
      return { prompt, tokens, finish, secs: (performance.now() - t0) / 1000 };
    }));
    const secs = (performance.now() - started) / 1000;
    let total = 0;
    for (const r of results) {
      total += r.tokens.length;
      out(`prompt [${r.prompt.join(' ')}] → ${r.tokens.join(' ')}  (${r.finish}, ${(r.tokens.length / r.secs).toFixed(1)} tok/s)`);
    }
    out(`${results.length} prompts run concurrently: ${total} tokens in ${secs.toFixed(2)} s = ${(total / secs).toFixed(1)} tok/s`);
    return 0;
  } finally {
    await engine.close();
  }
}
