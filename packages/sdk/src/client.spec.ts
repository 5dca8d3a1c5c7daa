// The SDK against an in-test gRPC server implementing tandem.v1. That server is a TEST DOUBLE of
// the router (scripted replies, no model): it checks what the SDK sends and receives. The real
// router is exercised by the end-to-end suites in test/.
import { Metadata, Server, ServerCredentials, status, type ServerWritableStream } from '@grpc/grpc-js';
import { context, ROOT_CONTEXT, trace, TraceFlags, type Context, type ContextManager } from '@opentelemetry/api';
import { chatEventToProto, chatRequestFromProto, TandemService, tandemV1, type TandemServer } from '@tandem/proto';
import type { ChatRequest, ChatStreamEvent } from '@tandem/schemas';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TandemClient, TandemClientError } from './index.js';

const events: ChatStreamEvent[] = [
  { type: 'message-start', id: 'm1', delta: { message: { role: 'assistant' } } },
  { type: 'tool-plan-delta', delta: { message: { tool_plan: 'Use the tool.' } } },
  { type: 'tool-call-start', index: 0, delta: { message: { tool_calls: { id: 'c0', type: 'function', function: { name: 'lookup', arguments: '{"q":' } } } } },
  { type: 'tool-call-delta', index: 0, delta: { message: { tool_calls: { function: { arguments: '"tandem"}' } } } } },
  { type: 'tool-call-end', index: 0 },
  { type: 'content-start', index: 0, delta: { message: { content: { type: 'text', text: '' } } } },
  { type: 'content-delta', index: 0, delta: { message: { content: { text: 'Hi' } } } },
  { type: 'citation-start', index: 0, delta: { message: { citations: { start: 0, end: 2, text: 'Hi', sources: [{ type: 'document', id: 'doc:0' }] } } } },
  { type: 'citation-end', index: 0 },
  { type: 'content-end', index: 0 },
  { type: 'message-end', id: 'm1', delta: { finish_reason: 'TOOL_CALL', usage: { billed_units: { input_tokens: 2, output_tokens: 3 }, tokens: { input_tokens: 20, output_tokens: 3 }, cached_tokens: 0 } } },
];

const request: ChatRequest = {
  model: 'tiny',
  messages: [{ role: 'user', content: 'hello' }],
  documents: [{ id: 'doc:0', data: { text: 'Tandem is a server' } }],
  tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }],
};

/** What the double saw and how it behaves for the next calls. */
const seen: { metadata: Metadata[]; requests: tandemV1.ChatRequest[]; cancelled: number } = { metadata: [], requests: [], cancelled: 0 };
let script: { failFirst: number; failAfterFirstEvent: boolean; hang: boolean } = { failFirst: 0, failAfterFirstEvent: false, hang: false };

function fail(call: ServerWritableStream<unknown, unknown>, code: status, details: string, issues?: string[]) {
  const md = new Metadata();
  if (issues) md.set('tandem-issues-bin', Buffer.from(JSON.stringify(issues)));
  call.emit('error', Object.assign(new Error(details), { code, details, metadata: md }));
}

const routerDouble: TandemServer = {
  chat: (call) => {
    seen.metadata.push(call.metadata);
    seen.requests.push(call.request);
    call.on('cancelled', () => seen.cancelled++);
    if (script.failFirst > 0) {
      script.failFirst--;
      return fail(call, status.UNAVAILABLE, 'no replica ready');
    }
    if (call.request.model === 'bad') return fail(call, status.INVALID_ARGUMENT, 'invalid chat request: 2 problems', ['messages[0].content: x', 'temperature: y']);
    if (script.hang) {
      call.write(chatEventToProto(events[0]!)!);
      return; // never ends: the client must cancel or time out
    }
    if (script.failAfterFirstEvent) {
      call.write(chatEventToProto(events[0]!)!);
      return setTimeout(() => fail(call, status.UNAVAILABLE, 'replica died mid-stream'), 10);
    }
    for (const ev of events) call.write(chatEventToProto(ev)!);
    call.end();
  },
  generate: (call) => {
    call.write({ tokenIds: [1, 2], text: 'ab', logprobs: [-1, -2], top: [] , finishReason: 0 });
    call.write({ tokenIds: [3], text: 'c', logprobs: [-3], top: [], finishReason: tandemV1.FinishReason.FINISH_REASON_MAX_TOKENS, usage: { inputTokens: 4, outputTokens: 3, billedInputTokens: 4, billedOutputTokens: 3, cachedTokens: 0 } });
    call.end();
  },
  tokenize: (call, cb) => cb(null, { tokens: [...call.request.text].map((c) => c.charCodeAt(0)), tokenStrings: [...call.request.text] }),
  detokenize: (call, cb) => cb(null, { text: String.fromCharCode(...call.request.tokens) }),
  listModels: (_call, cb) => cb(null, { models: [{ id: 'tiny', ownedBy: 'tandem', contextLength: 256, vocabSize: 384, replicas: 2, tensorParallel: 1, dtype: 'f32' }] }),
};

/** A minimal context manager so the test can make a span context "active" (the API alone is no-op). */
class StackContextManager implements ContextManager {
  private stack: Context[] = [];
  active(): Context {
    return this.stack[this.stack.length - 1] ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    this.stack.push(ctx);
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.stack.pop();
    }
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.stack = [];
    return this;
  }
}

let server: Server;
let address = '';
const clients: TandemClient[] = [];
const client = (o: Partial<ConstructorParameters<typeof TandemClient>[0]> = {}) => {
  const c = new TandemClient({ address, apiKey: 'sk-test', random: () => 0.5, retry: { initialBackoffMs: 5 }, ...o });
  clients.push(c);
  return c;
};

beforeAll(async () => {
  server = new Server();
  server.addService(TandemService, routerDouble);
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  address = `127.0.0.1:${port}`;
});
afterEach(() => {
  seen.metadata = [];
  seen.requests = [];
  seen.cancelled = 0;
  script = { failFirst: 0, failAfterFirstEvent: false, hang: false };
});
afterAll(() => {
  for (const c of clients) c.close();
  server.forceShutdown();
});

async function drain<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('TandemClient.chat', () => {
  it('streams typed Cohere events in order and sends the request with tools and documents', async () => {
    const got = await drain(client().chat(request));
    expect(got).toEqual(events);
    const sent = chatRequestFromProto(seen.requests[0]!).request;
    expect(sent['tools']).toEqual(request.tools);
    expect(sent['documents']).toEqual(request.documents);
  });

  it('sends the API key as a Bearer authorization header', async () => {
    await drain(client().chat(request));
    expect(seen.metadata[0]!.get('authorization')).toEqual(['Bearer sk-test']);
  });

  it('propagates the active trace context as W3C traceparent', async () => {
    const mgr = new StackContextManager();
    context.setGlobalContextManager(mgr);
    try {
      const sc = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: TraceFlags.SAMPLED };
      // The context active when chat() is called is the one sent, even if iteration happens later.
      const stream = context.with(trace.setSpanContext(ROOT_CONTEXT, sc), () => client().chat(request));
      await drain(stream);
      expect(seen.metadata[0]!.get('traceparent')).toEqual(['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01']);
    } finally {
      context.disable();
    }
  });

  it('collects the final response with chatComplete', async () => {
    const r = await client().chatComplete(request);
    expect(r).toMatchObject({
      id: 'm1',
      finish_reason: 'TOOL_CALL',
      message: {
        content: [{ type: 'text', text: 'Hi' }],
        tool_plan: 'Use the tool.',
        tool_calls: [{ id: 'c0', function: { name: 'lookup', arguments: '{"q":"tandem"}' } }],
        citations: [{ start: 0, end: 2, text: 'Hi' }],
      },
      usage: { tokens: { input_tokens: 20, output_tokens: 3 } },
    });
  });

  it('retries UNAVAILABLE before the first event, up to the attempt limit', async () => {
    script.failFirst = 2;
    expect(await drain(client().chat(request))).toHaveLength(events.length);
    expect(seen.requests).toHaveLength(3);
    script.failFirst = 5;
    const err = await drain(client({ retry: { maxAttempts: 2, initialBackoffMs: 5 } }).chat(request)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TandemClientError);
    expect((err as TandemClientError).code).toBe(status.UNAVAILABLE);
    expect(seen.requests).toHaveLength(5);
  });

  it('does not retry once an event was received', async () => {
    script.failAfterFirstEvent = true;
    const got: ChatStreamEvent[] = [];
    const err = await (async () => {
      for await (const ev of client().chat(request)) got.push(ev);
    })().catch((e: unknown) => e);
    expect(got.map((e) => e.type)).toEqual(['message-start']);
    expect((err as TandemClientError).code).toBe(status.UNAVAILABLE);
    expect((err as TandemClientError).message).toBe('replica died mid-stream');
    expect(seen.requests).toHaveLength(1);
  });

  it('cancels the call when the AbortSignal fires', async () => {
    script.hang = true;
    const ac = new AbortController();
    const it = client().chat(request, { signal: ac.signal });
    const first = await it.next();
    expect(first.value).toMatchObject({ type: 'message-start' });
    setTimeout(() => ac.abort(), 20);
    const err = await it.next().catch((e: unknown) => e);
    expect((err as TandemClientError).code).toBe(status.CANCELLED);
    await new Promise((r) => setTimeout(r, 50));
    expect(seen.cancelled).toBe(1);
  });

  it('ends with DEADLINE_EXCEEDED when the deadline passes', async () => {
    script.hang = true;
    const t0 = Date.now();
    const err = await drain(client({ deadlineMs: 100 }).chat(request)).catch((e: unknown) => e);
    expect((err as TandemClientError).code).toBe(status.DEADLINE_EXCEEDED);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('surfaces every server-side issue with its path', async () => {
    const err = (await drain(client().chat({ ...request, model: 'bad' })).catch((e: unknown) => e)) as TandemClientError;
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.codeName).toBe('INVALID_ARGUMENT');
    expect(err.issues).toEqual(['messages[0].content: x', 'temperature: y']);
  });

  it('rejects an invalid request locally with every problem, without calling the server', async () => {
    const bad = { model: '', messages: [{ role: 'user', content: '' }], temperature: 5 } as unknown as ChatRequest;
    const err = (await drain(client().chat(bad)).catch((e: unknown) => e)) as TandemClientError;
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.issues.join('\n')).toContain('model');
    expect(err.issues.join('\n')).toContain('temperature');
    expect(err.issues.join('\n')).toContain('messages[0].content');
    expect(seen.requests).toHaveLength(0);
  });
});

describe('TandemClient unary and generate', () => {
  it('generates in token batches with finish reason and usage on the last', async () => {
    const chunks = await drain(client().generate({ model: 'tiny', prompt: 'x', maxTokens: 3 }));
    expect(chunks.map((c) => c.text).join('')).toBe('abc');
    expect(chunks[0]!.finishReason).toBeUndefined();
    expect(chunks[1]).toMatchObject({ finishReason: 'MAX_TOKENS', usage: { tokens: { input_tokens: 4, output_tokens: 3 } } });
  });

  it('tokenizes, detokenizes and lists models', async () => {
    const c = client();
    expect(await c.tokenize('tiny', 'hi')).toEqual({ tokens: [104, 105], tokenStrings: ['h', 'i'] });
    expect(await c.detokenize('tiny', [104, 105])).toBe('hi');
    expect(await c.listModels()).toEqual([{ id: 'tiny', ownedBy: 'tandem', contextLength: 256, vocabSize: 384, replicas: 2, tensorParallel: 1, dtype: 'f32' }]);
  });

  it('maps an unreachable server to UNAVAILABLE after bounded retries', async () => {
    const c = new TandemClient({ address: '127.0.0.1:1', retry: { maxAttempts: 2, initialBackoffMs: 5 }, deadlineMs: 3000 });
    clients.push(c);
    const err = (await c.listModels().catch((e: unknown) => e)) as TandemClientError;
    expect(err).toBeInstanceOf(TandemClientError);
    expect([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]).toContain(err.code);
  });
});
