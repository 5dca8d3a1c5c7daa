// Bad requests and bad model folders fail with a clear error naming the field or file, and never
// disturb a request the engine is already serving.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Engine, EngineError, type GenerateRequest } from '../index.js';
import { collect, expectKvFree, makePrompt, Recorder, TINY } from './helpers.js';

function engineError(fn: () => unknown, field: RegExp, code = 'INVALID_ARGUMENT'): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(EngineError);
  expect((caught as EngineError).code).toBe(code);
  expect((caught as EngineError).message).toMatch(field);
}

const ok = { prompt: [5, 6, 7], maxTokens: 4 } satisfies GenerateRequest;

// [label, request, field the message must name]
const invalidRequests: [string, GenerateRequest, RegExp][] = [
  ['token id = vocab', { ...ok, prompt: [5, 384] }, /prompt\[1\]/],
  ['token id far past vocab', { ...ok, prompt: [100000] }, /prompt\[0\]/],
  ['negative token id', { ...ok, prompt: [-1] }, /prompt\[0\]/],
  ['token id beyond int32', { ...ok, prompt: [2 ** 40] }, /prompt\[0\]/],
  ['empty prompt', { ...ok, prompt: [] }, /prompt/],
  ['maxTokens 0', { ...ok, maxTokens: 0 }, /max_?tokens/i],
  ['maxTokens -3', { ...ok, maxTokens: -3 }, /max_?tokens/i],
  ['prompt + maxTokens past maxSeqLen', { ...ok, maxTokens: 1000 }, /max_?tokens/i],
  ['NaN temperature', { ...ok, sampling: { temperature: Number.NaN } }, /temperature/],
  ['negative temperature', { ...ok, sampling: { temperature: -0.5 } }, /temperature/],
  ['topP 0', { ...ok, sampling: { topP: 0 } }, /top_?p/i],
  ['topP 1.5', { ...ok, sampling: { topP: 1.5 } }, /top_?p/i],
  ['stop token past vocab', { ...ok, stopTokenIds: [999] }, /stop_?token_?ids\[0\]/i],
  ['too many top logprobs', { ...ok, sampling: { topLogprobs: 50 } }, /top_?logprobs/i],
  ['negative seed', { ...ok, sampling: { seed: -1 } }, /seed/],
];

// [label, request, field]: wrong JS types are TypeErrors naming the field.
const wrongTypes: [string, unknown, RegExp][] = [
  ['prompt a string', { ...ok, prompt: 'hello' }, /^prompt:/],
  ['prompt with a fraction', { ...ok, prompt: [1, 2.5] }, /^prompt\[1\]:/],
  ['prompt with a string id', { ...ok, prompt: [1, '2'] }, /^prompt\[1\]:/],
  ['maxTokens missing', { prompt: [1] }, /^maxTokens:/],
  ['maxTokens a string', { ...ok, maxTokens: '4' }, /^maxTokens:/],
  ['temperature a string', { ...ok, sampling: { temperature: 'hot' } }, /^sampling\.temperature:/],
  ['sampling not an object', { ...ok, sampling: 3 }, /^sampling:/],
  ['ignoreEos a number', { ...ok, ignoreEos: 1 }, /^ignoreEos:/],
  ['stopTokenIds a number', { ...ok, stopTokenIds: 3 }, /^stopTokenIds:/],
];

describe('bad input', () => {
  let engine: Engine;
  let tmp: string;

  beforeAll(async () => {
    engine = await Engine.load({ modelDir: TINY });
    tmp = mkdtempSync(join(tmpdir(), 'tandem-bad-model-'));
  });
  afterEach(() => expectKvFree(engine));
  afterAll(async () => {
    rmSync(tmp, { recursive: true, force: true });
    await engine?.close();
  });

  it.each(invalidRequests)('generate rejects %s with EngineError naming the field', (_, request, field) => {
    engineError(() => engine.generate(request), field);
  });

  it.each(wrongTypes)('generate rejects %s with a TypeError naming the field', (_, request, field) => {
    expect(() => engine.generate(request as GenerateRequest)).toThrow(TypeError);
    expect(() => engine.generate(request as GenerateRequest)).toThrow(field);
  });

  it('logits rejects empty and out-of-vocab prompts', async () => {
    await expect(engine.logits([])).rejects.toMatchObject({ name: 'EngineError', code: 'INVALID_ARGUMENT' });
    await expect(engine.logits([1, 384])).rejects.toThrow(/tokens\[1\]/);
    await expect(engine.logits('abc' as unknown as number[])).rejects.toThrow(TypeError);
  });

  it('a missing config.json names the file', async () => {
    const dir = join(tmp, 'no-config');
    mkdirSync(dir);
    copyFileSync(join(TINY, 'model.safetensors'), join(dir, 'model.safetensors'));
    const err = await Engine.load({ modelDir: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).code).toBe('NOT_FOUND');
    expect((err as EngineError).message).toContain('config.json');
  });

  it('a truncated safetensors file names the file and the tensor', async () => {
    const dir = join(tmp, 'truncated');
    mkdirSync(dir);
    copyFileSync(join(TINY, 'config.json'), join(dir, 'config.json'));
    const bytes = readFileSync(join(TINY, 'model.safetensors'));
    writeFileSync(join(dir, 'model.safetensors'), bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const stages: string[] = [];
    const err = await Engine.load({ modelDir: dir, onProgress: (_, stage) => stages.push(stage) }).catch((e: unknown) => e);
    expect(stages.length).toBeGreaterThan(0); // progress up to the failure, delivered before the rejection
    expect(err).toBeInstanceOf(EngineError);
    expect(['MODEL_FORMAT', 'IO_ERROR']).toContain((err as EngineError).code);
    expect((err as EngineError).message).toContain('model.safetensors');
    expect((err as EngineError).message).toMatch(/tensor \S+/);
  });

  it('bad load options reject before any work', async () => {
    await expect(Engine.load({ modelDir: 42 } as never)).rejects.toThrow(/modelDir/);
    await expect(Engine.load({ modelDir: TINY, threads: -1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(Engine.load({ modelDir: TINY, blockSize: 1.5 })).rejects.toThrow(/blockSize/);
    await expect(Engine.load({ modelDir: join(tmp, 'does-not-exist') })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('keeps serving a running request through all of the above', async () => {
    const request = { prompt: makePrompt(12, 4242), maxTokens: 200, ignoreEos: true };
    const expected = (await collect(engine.generate(request))).tokens;

    const running = new Recorder(engine.generate(request));
    await running.waitFor(2);
    for (const [, bad, field] of invalidRequests) engineError(() => engine.generate(bad), field);
    for (const [, bad] of wrongTypes) expect(() => engine.generate(bad as GenerateRequest)).toThrow(TypeError);
    await expect(engine.logits([999])).rejects.toBeInstanceOf(EngineError);
    await expect(Engine.load({ modelDir: join(tmp, 'does-not-exist') })).rejects.toBeInstanceOf(EngineError);
    expect(running.outcome.finish).toBeUndefined(); // still mid-stream while the errors happened

    const out = await running.done;
    expect(out.finish).toBe('length');
    expect(out.tokens).toEqual(expected);
  });
});
