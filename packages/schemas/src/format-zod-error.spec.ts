import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { ValidationError, formatIssuePath, formatZodError, parseOrThrow } from './format-zod-error.js';

describe('formatZodError', () => {
  it('renders paths with dots and brackets', () => {
    expect(formatIssuePath(['a', 2, 'b'])).toBe('a[2].b');
    expect(formatIssuePath([])).toBe('(root)');
  });

  it('accepts a custom path renderer (the CLI names flags this way)', () => {
    const r = z.strictObject({ 'top-p': z.number() }).safeParse({ 'top-p': 'x' });
    expect(formatZodError(r.error!, { formatPath: (p) => `--${String(p[0])}` })).toMatch(/^--top-p: /);
  });

  it('parseOrThrow throws a ValidationError carrying every line', () => {
    const schema = z.strictObject({ a: z.int(), b: z.string() });
    let caught: unknown;
    try {
      parseOrThrow(schema, { a: 1.5, b: 2, c: 0 }, 'thing');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    const err = caught as ValidationError;
    expect(err.lines).toHaveLength(3);
    expect(err.message).toMatch(/^invalid thing:/);
    expect(err.lines).toContain('c: unknown field');
  });
});
