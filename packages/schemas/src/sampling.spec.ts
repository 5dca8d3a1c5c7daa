import { describe, expect, it } from 'vitest';
import { formatZodError } from './format-zod-error.js';
import { BatchFileLineSchema, GenerateRequestSchema, SamplingParamsSchema } from './sampling.js';

function problems(schema: { safeParse: (v: unknown) => { success: boolean; error?: unknown } }, value: unknown): string {
  const r = schema.safeParse(value);
  if (r.success) return '';
  return formatZodError(r.error as never);
}

describe('SamplingParamsSchema', () => {
  it('accepts a full valid set and an empty object', () => {
    const ok = {
      temperature: 0.7, top_k: 40, top_p: 1, min_p: 0, repetition_penalty: 1.1,
      frequency_penalty: -2, presence_penalty: 2, seed: 123, top_logprobs: 20,
    };
    expect(SamplingParamsSchema.parse(ok)).toEqual(ok);
    expect(SamplingParamsSchema.parse({})).toEqual({});
  });

  it.each([
    [{ temperature: -0.1 }, 'temperature: must be >= 0'],
    [{ temperature: Number.NaN }, 'temperature:'],
    [{ temperature: Number.POSITIVE_INFINITY }, 'temperature:'],
    [{ top_k: 1.5 }, 'top_k:'],
    [{ top_k: -1 }, 'top_k: must be an integer >= 0'],
    [{ top_p: 0 }, 'top_p: must be in (0, 1]'],
    [{ top_p: 1.5 }, 'top_p: must be in (0, 1]'],
    [{ min_p: -0.01 }, 'min_p: must be in [0, 1]'],
    [{ min_p: 1.01 }, 'min_p: must be in [0, 1]'],
    [{ repetition_penalty: 0 }, 'repetition_penalty: must be > 0'],
    [{ frequency_penalty: 2.5 }, 'frequency_penalty: must be in [-2, 2]'],
    [{ presence_penalty: -3 }, 'presence_penalty: must be in [-2, 2]'],
    [{ seed: -1 }, 'seed: must be an integer >= 0'],
    [{ seed: 0.5 }, 'seed:'],
    [{ top_logprobs: 21 }, 'top_logprobs: must be an integer in [0, 20]'],
    [{ temperature: '0.5' }, 'temperature:'],
    [{ topP: 0.5 }, 'topP: unknown field'],
  ])('rejects %j naming the field', (value, expected) => {
    expect(problems(SamplingParamsSchema, value)).toContain(expected);
  });
});

describe('GenerateRequestSchema', () => {
  it('accepts a minimal request', () => {
    expect(GenerateRequestSchema.parse({ tokens: [5, 6], max_tokens: 1 })).toEqual({ tokens: [5, 6], max_tokens: 1 });
  });

  it('lists every problem with its path, not just the first', () => {
    const text = problems(GenerateRequestSchema, {
      tokens: [1, -2, 3.5],
      max_tokens: 0,
      sampling: { top_p: 2, temprature: 1 },
      stop_token_ids: ['x'],
      extra: true,
    });
    const lines = text.split('\n');
    expect(lines).toEqual(expect.arrayContaining([
      'tokens[1]: token ids are integers >= 0',
      expect.stringMatching(/^tokens\[2\]: /),
      'max_tokens: must be an integer >= 1',
      'sampling.top_p: must be in (0, 1]',
      'sampling.temprature: unknown field',
      expect.stringMatching(/^stop_token_ids\[0\]: /),
      'extra: unknown field',
    ]));
    expect(lines).toHaveLength(7);
  });

  it('rejects an empty prompt and a missing max_tokens', () => {
    const text = problems(GenerateRequestSchema, { tokens: [] });
    expect(text).toContain('tokens: must hold at least one token id');
    expect(text).toContain('max_tokens:');
  });
});

describe('BatchFileLineSchema', () => {
  it('adds arrive_step and stays strict', () => {
    expect(BatchFileLineSchema.parse({ tokens: [1], max_tokens: 2, arrive_step: 3 }).arrive_step).toBe(3);
    expect(problems(BatchFileLineSchema, { tokens: [1], max_tokens: 2, arrive_step: -1 })).toContain('arrive_step:');
    expect(problems(BatchFileLineSchema, { tokens: [1], max_tokens: 2, arrival: 1 })).toBe('arrival: unknown field');
  });
});
