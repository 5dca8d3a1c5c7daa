// Shared flag handling: node:util parseArgs for syntax, zod for every value, errors that name the flag.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { type IssuePath, zodIssueLines } from '@tandem/schemas';

/** Bad command line: main prints it with the command's usage and exits 2. */
export class UsageError extends Error {
  constructor(message: string, readonly usage?: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type FlagSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

export interface ParsedFlags {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/** Syntax only (unknown flags, missing values); values stay strings until `validateFlags`. */
export function parseFlags(argv: readonly string[], spec: FlagSpec, usage: string, allowPositionals = false): ParsedFlags {
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options: { help: { type: 'boolean', short: 'h' }, ...spec }, strict: true, allowPositionals });
    return { values: values as ParsedFlags['values'], positionals };
  } catch (e) {
    // parseArgs messages already name the flag ("Unknown option '--foo'", "Option '--x <value>' argument missing")
    throw new UsageError((e as Error).message, usage);
  }
}

/** Renders an issue path as the flag it came from: ['top-p'] → --top-p. */
export const flagPath = (path: IssuePath): string => (path.length === 0 ? '(flags)' : `--${String(path[0])}`);

/** Validates parsed flag values; every problem is reported, each naming its flag. */
export function validateFlags<S extends z.ZodType>(schema: S, values: unknown, usage: string, formatPath = flagPath): z.output<S> {
  const r = schema.safeParse(values);
  if (r.success) return r.data;
  throw new UsageError(zodIssueLines(r.error, { formatPath }).join('\n'), usage);
}

// Value schemas for flags given as strings.
export const intFlag = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.string()
    .regex(/^[+-]?\d+$/, { message: 'must be an integer' })
    .transform(Number)
    .pipe(z.int().min(min, { message: `must be an integer >= ${min}` }).max(max, { message: `must be an integer <= ${max}` }));

export const numberFlag = () =>
  z.string()
    .refine((s) => s.trim() !== '' && !Number.isNaN(Number(s)), { message: 'must be a number' })
    .transform(Number);

export const tokenListFlag = () =>
  z.string()
    .transform((s, ctx) => {
      const parts = s.split(',').map((p) => p.trim()).filter((p) => p !== '');
      const out: number[] = [];
      for (const p of parts) {
        if (!/^\d+$/.test(p)) {
          ctx.addIssue({ code: 'custom', message: `"${p}" is not a token id (comma-separated integers >= 0)` });
          return z.NEVER;
        }
        out.push(Number(p));
      }
      if (out.length === 0) {
        ctx.addIssue({ code: 'custom', message: 'needs at least one token id (e.g. 5,42,7)' });
        return z.NEVER;
      }
      return out;
    });

/** The maps from sampling flags to SamplingParams fields. */
export const SAMPLING_FLAGS = {
  temperature: 'temperature',
  'top-k': 'top_k',
  'top-p': 'top_p',
  'min-p': 'min_p',
  'repetition-penalty': 'repetition_penalty',
  'frequency-penalty': 'frequency_penalty',
  'presence-penalty': 'presence_penalty',
  seed: 'seed',
  'top-logprobs': 'top_logprobs',
} as const;

export type SamplingFlag = keyof typeof SAMPLING_FLAGS;

export const samplingFlagSpec: FlagSpec = Object.fromEntries(
  Object.keys(SAMPLING_FLAGS).map((k) => [k, { type: 'string' as const }]),
);

/** Renders a SamplingParams path as its flag (top_p → --top-p). */
export function samplingFieldToFlag(path: IssuePath): string {
  const field = String(path[0]);
  const flag = Object.entries(SAMPLING_FLAGS).find(([, f]) => f === field)?.[0];
  return flag ? `--${flag}` : field;
}
