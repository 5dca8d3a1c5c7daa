// Turns every zod issue into one line "path: message", so a caller sees all that is wrong at once
// (never only the first bad field).
import type { z } from 'zod';

export type IssuePath = readonly PropertyKey[];

export interface FormatZodErrorOptions {
  /** Renders a path; default `a.b[2].c`, or `(root)` for the empty path. */
  formatPath?: (path: IssuePath) => string;
}

/** Default path rendering: dotted keys, numeric indices in brackets. */
export function formatIssuePath(path: IssuePath): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}

/** One line per problem; an unrecognized_keys issue becomes one line per unknown key, naming it. */
export function zodIssueLines(error: z.ZodError, options: FormatZodErrorOptions = {}): string[] {
  const fmt = options.formatPath ?? formatIssuePath;
  const lines: string[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) lines.push(`${fmt([...issue.path, key])}: unknown field`);
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // Report the branch that got furthest instead of a bare "invalid input".
      const best = [...issue.errors].sort((a, b) => a.length - b.length)[0] ?? [];
      for (const inner of best) {
        lines.push(`${fmt([...issue.path, ...inner.path])}: ${inner.message}`);
      }
    } else {
      lines.push(`${fmt(issue.path)}: ${issue.message}`);
    }
  }
  return lines;
}

/** All issues, one per line, each starting with its path ("sampling.top_p: ..."). */
export function formatZodError(error: z.ZodError, options: FormatZodErrorOptions = {}): string {
  return zodIssueLines(error, options).join('\n');
}

/** Thrown by `parseOrThrow`: carries the issue lines for callers that print them differently. */
export class ValidationError extends Error {
  constructor(
    readonly what: string,
    readonly lines: readonly string[],
  ) {
    super(`invalid ${what}:\n  ${lines.join('\n  ')}`);
    this.name = 'ValidationError';
  }
}

/** safeParse, and on failure throw a ValidationError listing every issue. */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
  options: FormatZodErrorOptions = {},
): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ValidationError(what, zodIssueLines(result.error, options));
}
