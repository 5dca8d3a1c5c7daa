// `tandem logits`: the model's (scaled) logits for a token prompt, as float32 JSON.
import { z } from 'zod';
import { UsageError, intFlag, parseFlags, tokenListFlag, validateFlags } from '../args.js';
import { isInvalidArgument, openEngine, readModelConfig } from '../engine.js';
import { float32ArrayToJson, flushStdout, logLine } from '../output.js';
import { runFollowerIfRank, threadsPerRank, withLocalGroup } from '../tp.js';

export const LOGITS_USAGE = `usage: tandem logits --model DIR --tokens 1,2,3 [--all-positions] [--threads N] [--tp N]
  --tp N   run a tensor-parallel group of N local processes (this one is rank 0)`;

const LogitsFlags = z.strictObject({
  help: z.boolean().optional(),
  model: z.string({ message: 'is required (a model folder)' }).min(1),
  tokens: tokenListFlag(),
  'all-positions': z.boolean().optional(),
  threads: intFlag(1).optional(),
  tp: intFlag(1, 64).optional(),
});

export async function runLogitsCommand(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, {
    model: { type: 'string' }, tokens: { type: 'string' }, 'all-positions': { type: 'boolean' }, threads: { type: 'string' },
    tp: { type: 'string' },
  }, LOGITS_USAGE);
  if (parsed.values.help) { logLine(LOGITS_USAGE); return 0; }
  const flags = validateFlags(LogitsFlags, parsed.values, LOGITS_USAGE);
  const threads = threadsPerRank(flags.threads, flags.tp ?? 1);
  const followerExit = await runFollowerIfRank(flags.model, threads);
  if (followerExit !== undefined) return followerExit;
  const config = await readModelConfig(flags.model);
  const bad = flags.tokens.findIndex((t) => t >= config.vocab_size);
  if (bad >= 0) {
    throw new UsageError(`--tokens: token id ${flags.tokens[bad]} (index ${bad}) is >= vocab_size ${config.vocab_size}`, LOGITS_USAGE);
  }
  const rows = await withLocalGroup(flags.tp ?? 1, async (tpOptions) => {
    const engine = await openEngine({ modelDir: flags.model, threads, ...tpOptions });
    try {
      return await engine.logits(flags.tokens, { allPositions: flags['all-positions'] ?? false });
    } catch (e) {
      if (isInvalidArgument(e)) throw new UsageError((e as Error).message, LOGITS_USAGE);
      throw e;
    } finally {
      await engine.close();
    }
  });
  // Written row by row: a 256k-vocab model over many positions is too big for one string.
  process.stdout.write(`{"tokens":${JSON.stringify(flags.tokens)},"logits":[`);
  rows.forEach((row, i) => process.stdout.write((i > 0 ? ',' : '') + float32ArrayToJson(row)));
  process.stdout.write(']}\n');
  await flushStdout();
  return 0;
}
