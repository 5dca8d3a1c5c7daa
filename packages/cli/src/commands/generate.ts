// `tandem generate`: one request streamed, or a JSONL batch run concurrently (see batch.ts).
import { z } from 'zod';
import { type GenerateRequest, GenerateRequestSchema, type IssuePath, type SamplingParams } from '@tandem/schemas';
import {
  SAMPLING_FLAGS, type SamplingFlag, UsageError, intFlag, numberFlag, parseFlags, samplingFieldToFlag,
  samplingFlagSpec, tokenListFlag, validateFlags,
} from '../args.js';
import { runBatchFile } from '../batch.js';
import { isInvalidArgument, openEngine, readModelConfig, toEngineRequest } from '../engine.js';
import { logLine, printJson } from '../output.js';
import { runFollowerIfRank, threadsPerRank, withLocalGroup } from '../tp.js';

export const GENERATE_USAGE = `usage:
  tandem generate --model DIR --tokens IDS --max-tokens N [--temperature T] [--top-k K] [--top-p P] [--min-p M]
                  [--seed S] [--repetition-penalty R] [--frequency-penalty F] [--presence-penalty P]
                  [--top-logprobs N] [--stop-token-ids IDS] [--ignore-eos] [--json] [--threads N] [--tp N]
  tandem generate --model DIR --batch-file FILE.jsonl [--threads N] [--kv-memory-mib M] [--max-batch-tokens T] [--tp N]
  --tp N   run a tensor-parallel group of N local processes (this one is rank 0)`;

const samplingFlagSchemas = Object.fromEntries(
  (Object.keys(SAMPLING_FLAGS) as SamplingFlag[]).map((f) => [f, numberFlag().optional()]),
) as Record<SamplingFlag, z.ZodOptional<ReturnType<typeof numberFlag>>>;

const GenerateFlags = z.strictObject({
  help: z.boolean().optional(),
  model: z.string({ message: 'is required (a model folder)' }).min(1),
  tokens: tokenListFlag().optional(),
  'max-tokens': numberFlag().optional(),
  'stop-token-ids': tokenListFlag().optional(),
  'ignore-eos': z.boolean().optional(),
  json: z.boolean().optional(),
  'batch-file': z.string().min(1).optional(),
  threads: intFlag(1).optional(),
  'kv-memory-mib': intFlag(1).optional(),
  'max-batch-tokens': intFlag(1).optional(),
  tp: intFlag(1, 64).optional(),
  ...samplingFlagSchemas,
}).superRefine((f, ctx) => {
  if (f['batch-file'] !== undefined) {
    const single = ['tokens', 'max-tokens', 'stop-token-ids', 'ignore-eos', 'json', ...Object.keys(SAMPLING_FLAGS)] as const;
    for (const k of single) {
      if (f[k as keyof typeof f] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'not allowed with --batch-file (put it in each line)' });
    }
  } else {
    if (f.tokens === undefined) ctx.addIssue({ code: 'custom', path: ['tokens'], message: 'is required (comma-separated token ids), or use --batch-file' });
    if (f['max-tokens'] === undefined) ctx.addIssue({ code: 'custom', path: ['max-tokens'], message: 'is required' });
  }
});

/** GenerateRequest paths back to the flags they came from. */
function requestPathToFlag(path: IssuePath): string {
  const [head, ...rest] = path;
  if (head === 'sampling') return samplingFieldToFlag(rest);
  if (head === 'max_tokens') return '--max-tokens';
  if (head === 'stop_token_ids') return '--stop-token-ids';
  if (head === 'ignore_eos') return '--ignore-eos';
  return `--${String(head)}`;
}

export async function runGenerateCommand(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, {
    model: { type: 'string' }, tokens: { type: 'string' }, 'max-tokens': { type: 'string' },
    'stop-token-ids': { type: 'string' }, 'ignore-eos': { type: 'boolean' }, json: { type: 'boolean' },
    'batch-file': { type: 'string' }, threads: { type: 'string' }, 'kv-memory-mib': { type: 'string' },
    'max-batch-tokens': { type: 'string' }, tp: { type: 'string' }, ...samplingFlagSpec,
  }, GENERATE_USAGE);
  if (parsed.values.help) { logLine(GENERATE_USAGE); return 0; }
  const flags = validateFlags(GenerateFlags, parsed.values, GENERATE_USAGE);
  const threads = threadsPerRank(flags.threads, flags.tp ?? 1);
  const followerExit = await runFollowerIfRank(flags.model, threads);
  if (followerExit !== undefined) return followerExit;
  const tp = flags.tp ?? 1;
  const baseOptions = {
    modelDir: flags.model,
    threads,
    kvMemoryBytes: flags['kv-memory-mib'] !== undefined ? flags['kv-memory-mib'] * 1024 * 1024 : undefined,
    maxBatchTokens: flags['max-batch-tokens'],
  };
  if (flags['batch-file'] !== undefined) {
    const file = flags['batch-file'];
    return withLocalGroup(tp, (tpOptions) => runBatchFile(file, { ...baseOptions, ...tpOptions }, GENERATE_USAGE));
  }

  const sampling: SamplingParams = {};
  for (const [flag, field] of Object.entries(SAMPLING_FLAGS) as [SamplingFlag, keyof SamplingParams][]) {
    const v = flags[flag];
    if (v !== undefined) sampling[field] = v;
  }
  const request: GenerateRequest = validateFlags(GenerateRequestSchema, {
    tokens: flags.tokens,
    max_tokens: flags['max-tokens'],
    ...(Object.keys(sampling).length > 0 ? { sampling } : {}),
    ...(flags['stop-token-ids'] ? { stop_token_ids: flags['stop-token-ids'] } : {}),
    ...(flags['ignore-eos'] !== undefined ? { ignore_eos: flags['ignore-eos'] } : {}),
  }, GENERATE_USAGE, requestPathToFlag);

  const config = await readModelConfig(flags.model);
  for (const [what, ids] of [['--tokens', request.tokens], ['--stop-token-ids', request.stop_token_ids ?? []]] as const) {
    const bad = ids.find((t) => t >= config.vocab_size);
    if (bad !== undefined) throw new UsageError(`${what}: token id ${bad} is >= vocab_size ${config.vocab_size}`, GENERATE_USAGE);
  }
  return withLocalGroup(tp, (tpOptions) => generateOne({ ...baseOptions, ...tpOptions }, request, flags.json ?? false));
}

async function generateOne(engineOptions: Parameters<typeof openEngine>[0], request: GenerateRequest, json: boolean): Promise<number> {
  const engine = await openEngine(engineOptions);
  try {
    let gen;
    try {
      gen = engine.generate(toEngineRequest(request));
    } catch (e) {
      if (isInvalidArgument(e)) throw new UsageError((e as Error).message, GENERATE_USAGE);
      throw e;
    }
    const onSigint = () => gen.cancel();
    process.once('SIGINT', onSigint);
    const tokens: number[] = [];
    const logprobs: number[] = [];
    const top: { ids: number[]; logprobs: number[] }[] = [];
    let finish = 'error';
    let error: string | undefined;
    let promptTokens = request.tokens.length;
    const started = performance.now();
    let firstAt: number | undefined;
    try {
      for await (const ev of gen) {
        if (ev.tokens.length > 0) {
          firstAt ??= performance.now();
          if (!json) process.stdout.write(`${tokens.length > 0 ? ' ' : ''}${ev.tokens.join(' ')}`);
          tokens.push(...ev.tokens);
          logprobs.push(...ev.logprobs);
          top.push(...ev.top);
        }
        promptTokens = ev.promptTokens;
        if (ev.finish) finish = ev.finish;
        if (ev.error) error = ev.error;
      }
    } finally {
      process.off('SIGINT', onSigint);
    }
    const elapsed = (performance.now() - started) / 1000;
    const decodeRate = firstAt !== undefined && tokens.length > 1 ? (tokens.length - 1) / ((performance.now() - firstAt) / 1000) : 0;
    if (json) {
      const out: Record<string, unknown> = {
        tokens, finish_reason: finish, usage: { prompt_tokens: promptTokens, completion_tokens: tokens.length },
      };
      if (request.sampling?.top_logprobs) { out.logprobs = logprobs; out.top_logprobs = top; }
      if (error) out.error = error;
      printJson(out);
    } else {
      process.stdout.write('\n');
    }
    logLine(`finish: ${finish}, ${tokens.length} tokens in ${elapsed.toFixed(2)} s (decode ${decodeRate.toFixed(1)} tok/s)`);
    if (error) logLine(`error: ${error}`);
    return finish === 'error' ? 1 : 0;
  } finally {
    await engine.close();
  }
}
