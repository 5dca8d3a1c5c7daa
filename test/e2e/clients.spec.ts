// The official openai and cohere-ai clients, unmodified, and @tandem/sdk over gRPC, against the
// local stack. Random weights talk nonsense, so these assert the protocol: event types and order,
// ids, usage counts, finish reasons, and that tools / documents reached the rendered prompt (the
// prompt grows by them).
import { CohereClientV2 } from 'cohere-ai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TandemClient } from '@tandem/sdk';
import type { LocalStack } from '@tandem/cli';
import { MODEL, startStack, WEATHER_TOOL } from './harness.js';

let stack: LocalStack;
let openai: OpenAI;
let cohere: CohereClientV2;
let sdk: TandemClient;

beforeAll(async () => {
  stack = await startStack(1);
  openai = new OpenAI({ apiKey: 'unused', baseURL: `${stack.httpUrl}/v1`, maxRetries: 0 });
  cohere = new CohereClientV2({ token: 'unused', environment: stack.httpUrl });
  sdk = new TandemClient({ address: stack.grpcAddress });
});

afterAll(async () => {
  sdk?.close?.();
  await stack?.stop();
});

const OPENAI_FINISH = ['stop', 'length', 'tool_calls'];
const COHERE_FINISH = ['COMPLETE', 'MAX_TOKENS', 'TOOL_CALL', 'ERROR', 'STOP_SEQUENCE'];
const TOOL_HISTORY_OPENAI = [
  { role: 'user' as const, content: 'What is the weather in Paris?' },
  { role: 'assistant' as const, content: null, tool_calls: [{ id: 'call_1', type: 'function' as const, function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
  { role: 'tool' as const, tool_call_id: 'call_1', content: '{"temperature_c": 21, "sky": "clear"}' },
];

describe('openai client → /v1/chat/completions', () => {
  it('non-streaming: chat.completion with id, finish reason and usage', async () => {
    const r = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hello!' }], max_tokens: 8 });
    expect(r.object).toBe('chat.completion');
    expect(r.id).toMatch(/^chatcmpl-/);
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0]!.message.role).toBe('assistant');
    expect(OPENAI_FINISH).toContain(r.choices[0]!.finish_reason);
    expect(r.usage!.completion_tokens).toBeGreaterThan(0);
    expect(r.usage!.completion_tokens).toBeLessThanOrEqual(8);
    expect(r.usage!.total_tokens).toBe(r.usage!.prompt_tokens + r.usage!.completion_tokens);
  });

  it('streaming: role first, one id throughout, finish reason, then a usage chunk', async () => {
    const stream = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hello!' }], max_tokens: 8, stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    const finishes = chunks.flatMap((c) => c.choices.map((ch) => ch.finish_reason)).filter((f) => f != null);
    expect(finishes).toHaveLength(1);
    expect(OPENAI_FINISH).toContain(finishes[0]);
    expect(chunks.at(-1)!.usage!.completion_tokens).toBeGreaterThan(0);
  });

  it('tools and a tool-call history reach the prompt (streaming and not)', async () => {
    const plain = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'What is the weather in Paris?' }], max_tokens: 4 });
    const withTools = await openai.chat.completions.create({ model: MODEL, messages: TOOL_HISTORY_OPENAI, tools: [WEATHER_TOOL], max_tokens: 4 });
    expect(withTools.usage!.prompt_tokens).toBeGreaterThan(plain.usage!.prompt_tokens + 40);
    expect(OPENAI_FINISH).toContain(withTools.choices[0]!.finish_reason);
    const stream = await openai.chat.completions.create({ model: MODEL, messages: TOOL_HISTORY_OPENAI, tools: [WEATHER_TOOL], tool_choice: 'auto', max_tokens: 4, stream: true });
    let n = 0;
    for await (const c of stream) n += c.choices.length;
    expect(n).toBeGreaterThan(1);
  });

  it('a bad request → BadRequestError naming every field', async () => {
    const err = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'tool', tool_call_id: 'nope', content: 'x' }], max_tokens: 0 } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    const msg = (err as Error).message;
    expect(msg).toContain('max_tokens');
    expect(msg).toContain('messages[0].tool_call_id');
  });

  it('lists the model', async () => {
    const models = await openai.models.list();
    expect(models.data.map((m) => m.id)).toContain(MODEL);
  });
});

describe('cohere-ai client → /v2/chat', () => {
  it('non-streaming: id, assistant message, finish reason, usage', async () => {
    const r = await cohere.chat({ model: MODEL, messages: [{ role: 'user', content: 'Hello!' }], maxTokens: 8 });
    expect(r.id).toMatch(/[0-9a-f-]{36}/);
    expect(r.message.role).toBe('assistant');
    expect(COHERE_FINISH).toContain(r.finishReason);
    expect(r.usage!.tokens!.outputTokens).toBeGreaterThan(0);
    expect(r.usage!.tokens!.outputTokens).toBeLessThanOrEqual(8);
    expect(r.usage!.billedUnits!.inputTokens).toBeGreaterThan(0);
  });

  it('streaming: message-start first, message-end last with usage, matched starts/ends', async () => {
    const stream = await cohere.chatStream({ model: MODEL, messages: [{ role: 'user', content: 'Hello!' }], maxTokens: 8 });
    const events: { type?: string; index?: number }[] = [];
    for await (const ev of stream) events.push(ev as { type?: string });
    expect(events[0]!.type).toBe('message-start');
    const end = events.at(-1) as { type: string; delta: { finishReason: string; usage: { tokens: { outputTokens: number } } } };
    expect(end.type).toBe('message-end');
    expect(COHERE_FINISH).toContain(end.delta.finishReason);
    expect(end.delta.usage.tokens.outputTokens).toBeGreaterThan(0);
    const count = (t: string) => events.filter((e) => e.type === t).length;
    expect(count('content-start')).toBe(count('content-end'));
    expect(count('tool-call-start')).toBe(count('tool-call-end'));
  });

  it('documents, tools and a tool-call history reach the prompt', async () => {
    const base = await cohere.chat({ model: MODEL, messages: [{ role: 'user', content: 'Summarise.' }], maxTokens: 2 });
    const docs = await cohere.chat({
      model: MODEL, maxTokens: 2,
      messages: [{ role: 'user', content: 'Summarise.' }],
      documents: [{ id: 'penguins', data: { title: 'Penguins', text: 'Emperor penguins are the tallest penguins, up to 122 cm.' } }, 'A plain string document about krill.'],
    });
    expect(docs.usage!.tokens!.inputTokens!).toBeGreaterThan(base.usage!.tokens!.inputTokens! + 20);
    const tools = await cohere.chat({
      model: MODEL, maxTokens: 2, tools: [WEATHER_TOOL],
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', toolPlan: 'I will look it up.', toolCalls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', toolCallId: 'call_1', content: [{ type: 'document', document: { data: { temperature_c: 21 } } }] },
      ],
    });
    expect(tools.usage!.tokens!.inputTokens!).toBeGreaterThan(base.usage!.tokens!.inputTokens! + 40);
    expect(COHERE_FINISH).toContain(tools.finishReason);
    const stream = await cohere.chatStream({ model: MODEL, maxTokens: 2, tools: [WEATHER_TOOL], messages: [{ role: 'user', content: 'Weather in Paris?' }], documents: ['doc text'] });
    const types: string[] = [];
    for await (const ev of stream) types.push((ev as { type: string }).type);
    expect(types[0]).toBe('message-start');
    expect(types.at(-1)).toBe('message-end');
  });

  it('a bad request → BadRequestError with the field paths', async () => {
    const err = await cohere.chat({ model: MODEL, messages: [], temperature: 5 } as never).catch((e: unknown) => e);
    expect((err as { statusCode?: number }).statusCode).toBe(400);
    const body = JSON.stringify((err as { body?: unknown }).body);
    expect(body).toContain('messages');
    expect(body).toContain('temperature');
  });
});

describe('@tandem/sdk → gRPC tandem.v1', () => {
  it('chat(): typed events in order; chatComplete(): the collected response', async () => {
    const types: string[] = [];
    for await (const ev of sdk.chat({ model: MODEL, messages: [{ role: 'user', content: 'Hello!' }], max_tokens: 6 })) types.push(ev.type);
    expect(types[0]).toBe('message-start');
    expect(types.at(-1)).toBe('message-end');
    const r = await sdk.chatComplete({ model: MODEL, messages: TOOL_HISTORY_OPENAI.map((m) => m.role === 'assistant' ? { role: 'assistant' as const, tool_calls: m.tool_calls } : m) as never, tools: [WEATHER_TOOL], documents: ['a document'], max_tokens: 6 });
    expect(COHERE_FINISH).toContain(r.finish_reason);
    expect(r.usage?.tokens?.output_tokens).toBeGreaterThan(0);
    expect(r.usage?.tokens?.input_tokens).toBeGreaterThan(100);
  });

  it('listModels and tokenize round trip', async () => {
    const models = await sdk.listModels();
    expect(models[0]).toMatchObject({ id: MODEL, replicas: 1 });
    const t = await sdk.tokenize(MODEL, 'Hello world');
    expect(await sdk.detokenize(MODEL, t.tokens)).toBe('Hello world');
  });
});
