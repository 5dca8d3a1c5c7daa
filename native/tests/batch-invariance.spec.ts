// A request's tokens must not depend on what else is in the batch: 14 requests of different
// prompt lengths, each started while earlier ones are mid-stream (prefill chunks mixed with
// decodes), must equal the same requests run one at a time.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Engine, type GenerateRequest, type SamplingParams } from '../index.js';
import { collect, expectKvFree, makePrompt, Recorder, TINY } from './helpers.js';

const LENGTHS = [1, 3, 7, 12, 17, 23, 30, 5, 41, 2, 55, 9, 64, 33];
const MAX_TOKENS = 20;

function requests(sampling: (i: number) => SamplingParams | undefined): GenerateRequest[] {
  return LENGTHS.map((len, i) => ({
    prompt: makePrompt(len, 1000 + i),
    maxTokens: MAX_TOKENS,
    ignoreEos: true,
    sampling: sampling(i),
  }));
}

async function alone(engine: Engine, reqs: GenerateRequest[]): Promise<number[][]> {
  const out: number[][] = [];
  for (const r of reqs) out.push((await collect(engine.generate(r))).tokens);
  return out;
}

// Request i starts once request i-1 has streamed (i % 3) + 1 events, so arrivals land at
// different points of the others' prefill and decode.
async function staggered(engine: Engine, reqs: GenerateRequest[]): Promise<number[][]> {
  const recorders: Recorder[] = [];
  for (const [i, r] of reqs.entries()) {
    if (i > 0) await recorders[i - 1]!.waitFor((i % 3) + 1);
    recorders.push(new Recorder(engine.generate(r)));
  }
  const outs = await Promise.all(recorders.map((rec) => rec.done));
  for (const o of outs) expect(o.finish).toBe('length');
  return outs.map((o) => o.tokens);
}

describe('batch invariance', () => {
  let engine: Engine;

  beforeAll(async () => {
    engine = await Engine.load({ modelDir: TINY });
  });
  afterEach(() => expectKvFree(engine));
  afterAll(async () => engine?.close());

  it('greedy: 14 staggered requests equal each request run alone', async () => {
    const reqs = requests(() => undefined);
    const expected = await alone(engine, reqs);
    const stepsBefore = engine.stats().steps;
    const got = await staggered(engine, reqs);
    for (const [i, tokens] of got.entries()) expect(tokens, `request ${i} (prompt ${LENGTHS[i]})`).toEqual(expected[i]);
    // Really batched: far fewer steps than the requests' decode steps one by one.
    expect(engine.stats().steps - stepsBefore).toBeLessThan(LENGTHS.length * MAX_TOKENS);
  });

  it('seeded sampling (temperature 0.8, topP 0.9): staggered equals alone', async () => {
    const reqs = requests((i) => ({ temperature: 0.8, topP: 0.9, seed: 77 + i * 13 }));
    const expected = await alone(engine, reqs);
    const got = await staggered(engine, reqs);
    for (const [i, tokens] of got.entries()) expect(tokens, `request ${i} (prompt ${LENGTHS[i]})`).toEqual(expected[i]);
    // The seed matters: sampling is not secretly greedy.
    const greedy = await alone(engine, requests(() => undefined));
    expect(got).not.toEqual(greedy);
  });

  it('the same seed twice gives the same tokens; a bigint seed equals its number', async () => {
    const prompt = makePrompt(10, 5);
    const run = (seed: number | bigint) =>
      collect(engine.generate({ prompt, maxTokens: 16, ignoreEos: true, sampling: { temperature: 1, seed } }));
    const [a, b, c] = await Promise.all([run(123), run(123), run(123n)]);
    expect(b.tokens).toEqual(a.tokens);
    expect(c.tokens).toEqual(a.tokens);
  });
});
