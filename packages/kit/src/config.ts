// Configuration from one zod schema per process: each field names its environment variable, a
// description and a default. process.env is read here and nowhere else in the code base.
import { z } from 'zod';
import { TandemError } from './errors.js';

export interface ConfigField<S extends z.ZodType = z.ZodType> {
  readonly env: string;
  readonly schema: S;
  readonly description: string;
}

export type ConfigFields = Record<string, ConfigField>;
export type ConfigOf<F extends ConfigFields> = { [K in keyof F]: z.output<F[K]['schema']> };
export type ConfigOverrides<F extends ConfigFields> = { [K in keyof F]?: z.input<F[K]['schema']> | undefined };

export function field<S extends z.ZodType>(env: string, schema: S, description: string): ConfigField<S> {
  return { env, schema, description };
}

/** Env-friendly schemas: each takes its JS type (from code) or a string (from the environment). */
export const env = {
  int: (opts: { min?: number; max?: number } = {}) => {
    let n = z.int();
    if (opts.min !== undefined) n = n.min(opts.min);
    if (opts.max !== undefined) n = n.max(opts.max);
    return z.union([z.number(), z.string().trim().regex(/^-?\d+$/, 'must be an integer').transform(Number)]).pipe(n);
  },
  number: () => z.union([z.number(), z.string().trim().regex(/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/, 'must be a number').transform(Number)]).pipe(z.number()),
  bool: () => z.union([z.boolean(), z.stringbool()]),
  string: () => z.string().min(1),
  /** Comma-separated list from the environment, or an array from code. */
  list: () => z.union([z.array(z.string()), z.string().transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x !== ''))]),
};

export interface LoadConfigOptions<F extends ConfigFields> {
  /** The environment; default process.env. */
  readonly env?: Record<string, string | undefined>;
  /** Values from code (startShard options, CLI flags); they win over the environment. */
  readonly overrides?: ConfigOverrides<F>;
}

/**
 * Reads every field (override, else env var; empty strings count as unset), parses it with its
 * schema and throws one INVALID_ARGUMENT TandemError listing every bad field by env name.
 */
export function loadConfig<F extends ConfigFields>(fields: F, options: LoadConfigOptions<F> = {}): ConfigOf<F> {
  const source = options.env ?? process.env;
  const out: Record<string, unknown> = {};
  const issues: string[] = [];
  for (const [key, f] of Object.entries(fields)) {
    const override = (options.overrides as Record<string, unknown> | undefined)?.[key];
    const raw = override !== undefined ? override : source[f.env] === '' ? undefined : source[f.env];
    const r = f.schema.safeParse(raw);
    if (r.success) out[key] = r.data;
    else for (const issue of r.error.issues) issues.push(`${override !== undefined ? key : f.env}: ${issue.message}${raw === undefined ? ' (not set)' : ''}`);
  }
  if (issues.length > 0) throw TandemError.invalidArgument('configuration', issues);
  return out as ConfigOf<F>;
}

/** A Markdown table of the fields (docs generation). */
export function describeConfig(fields: ConfigFields): string {
  const rows = Object.values(fields).map((f) => {
    const d = f.schema.safeParse(undefined);
    const def = d.success && d.data !== undefined ? `\`${JSON.stringify(d.data)}\`` : '';
    return `| \`${f.env}\` | ${f.description} | ${def} |`;
  });
  return ['| variable | meaning | default |', '| --- | --- | --- |', ...rows].join('\n');
}
