// The router in-process against scripted engines (testing/fake-engine.ts) over real gRPC and HTTP.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import { type Attributes, type Context, type Span, type SpanContext, SpanKind, type SpanOptions, type SpanStatus, trace, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChatTokenizer, writeTokenizerFiles } from '@tandem/chat';
import { TandemError } from '@tandem/kit';
import { TandemGrpcClient, tandemV1 } from '@tandem/proto';
import { startRouter, type RunningRouter } from './router.js';
import { silentLogger } from './log.js';
import { FakeEngine, type FakeEngineOptions } from './testing/fake-engine.js';

let modelDir: string;
let reply: number[];
const running: { router?: RunningRouter; engines: FakeEngine[] } = { engines: [] };

beforeAll(async () => {
  modelDir = mkdtempSync(join(tmpdir(), 'tandem-router-'));
  await writeTokenizerFiles(modelDir, { vocabSize: 4096, preset: 'cohere2-tiny' });
  const tok = await ChatTokenizer.fromDir(modelDir);
  reply = tok.encodeTrusted('<|START_RESPONSE|>Hello there, world.<|END_RESPONSE|><|END_OF_TURN_TOKEN|>');
});

afterEach(async () => {
  await running.router?.close();
  await Promise.all(running.engines.map((e) => e.stop()));
  running.router = undefined;
  running.engines = [];
});

afterAll(() => undefined);

async function stack(engines: Partial<FakeEngineOptions>[], extra: Record<string, unknown> = {}): Promise<{ router: RunningRouter; engines: FakeEngine[] }> {
  const fakes = engines.map((o) => new FakeEngine({ reply, ...o }));
  const addrs = await Promise.all(fakes.map((f) => f.start()));
  const router = await startRouter({ engines: addrs, modelDir, modelName: 'tiny', host: '127.0.0.1', httpPort: 0, grpcPort: 0, pollIntervalMs: 50, ...extra }, { log: silentLogger });
  running.router = router;
  running.engines = fakes;
  await router.waitReady(5000);
  return { router, engines: fakes };
}

const userMsg = { model: 'tiny', messages: [{ role: 'user', content: 'Hi' }] };

async function post(router: RunningRouter, path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${router.httpUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

function sseEvents(text: string): { event?: string; data: string }[] {
  return text.split('\n\n').filter((b) => b.trim() !== '').map((b) => {
    const ev = /^event: (.*)$/m.exec(b)?.[1];
    const data = /^data: (.*)$/m.exec(b)?.[1] ?? '';
    return { ...(ev ? { event: ev } : {}), data };
  });
}

describe('HTTP /v2/chat', () => {
  it('non-streaming: the reply, the replica header, usage and finish reason', async () => {
    const { router } = await stack([{}]);
    const res = await post(router, '/v2/chat', userMsg);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-tandem-replica')).toBe('r0');
    const body = (await res.json()) as { id: string; finish_reason: string; message: { content: { text: string }[] }; usage: { tokens: { input_tokens: number; output_tokens: number } } };
    expect(body.finish_reason).toBe('COMPLETE');
    expect(body.message.content[0]?.text).toBe('Hello there, world.');
    expect(body.usage.tokens.output_tokens).toBe(reply.length);
    expect(body.usage.tokens.input_tokens).toBeGreaterThan(10);
  });

  it('forwards the W3C trace context to the engine', async () => {
    const { router, engines } = await stack([{}]);
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    expect((await post(router, '/v2/chat', userMsg, { traceparent: tp })).status).toBe(200);
    expect(engines[0]!.traceparents).toEqual([tp]);
  });

  it('streaming: typed SSE events in Cohere order, then [DONE]', async () => {
    const { router } = await stack([{}]);
    const res = await post(router, '/v2/chat', { ...userMsg, stream: true });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const events = sseEvents(await res.text());
    const types = events.map((e) => e.event ?? e.data);
    expect(types[0]).toBe('message-start');
    expect(types.slice(-3)).toEqual(['content-end', 'message-end', '[DONE]']);
    expect(types).toContain('content-delta');
    const text = events.filter((e) => e.event === 'content-delta').map((e) => (JSON.parse(e.data) as { delta: { message: { content: { text: string } } } }).delta.message.content.text).join('');
    expect(text).toBe('Hello there, world.');
  });

  it('max_tokens → MAX_TOKENS; stop_sequences → STOP_SEQUENCE and the text stops before it', async () => {
    const { router } = await stack([{}]);
    const a = (await (await post(router, '/v2/chat', { ...userMsg, max_tokens: 3 })).json()) as { finish_reason: string; usage: { tokens: { output_tokens: number } } };
    expect(a.finish_reason).toBe('MAX_TOKENS');
    expect(a.usage.tokens.output_tokens).toBe(3);
    const b = (await (await post(router, '/v2/chat', { ...userMsg, stop_sequences: ['world'] })).json()) as { finish_reason: string; message: { content: { text: string }[] } };
    expect(b.finish_reason).toBe('STOP_SEQUENCE');
    expect(b.message.content[0]?.text).toBe('Hello there,');
  });

  it('reports every validation problem with its path (400) and keeps serving', async () => {
    const { router } = await stack([{}]);
    const res = await post(router, '/v2/chat', { model: '', messages: [{ role: 'user', content: 'x' }, { role: 'tool', tool_call_id: 'nope', content: 'r' }], temperature: 7, bogus: 1 });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { issues: string[]; message: string };
    const paths = body.issues.map((i) => i.split(':')[0]);
    expect(paths).toEqual(expect.arrayContaining(['model', 'temperature', 'bogus']));
    expect(body.message).toContain('temperature');
    expect((await post(router, '/v2/chat', '{"model": ')).status).toBe(400);
    expect((await post(router, '/v2/chat', userMsg)).status).toBe(200);
  });

  it('a prompt longer than the context is INVALID_ARGUMENT naming max_tokens', async () => {
    const { router } = await stack([{ maxSeqLen: 1000 }]);
    const res = await post(router, '/v2/chat', { ...userMsg, max_tokens: 900 });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { issues: string[] }).issues[0]).toMatch(/^max_tokens: /);
  });

  it('logprobs on Chat is refused with a clear issue, not silently ignored', async () => {
    const { router } = await stack([{}]);
    const res = await post(router, '/v2/chat', { ...userMsg, logprobs: true });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { issues: string[] }).issues).toEqual([expect.stringMatching(/^logprobs: not supported on Chat yet/)]);
  });
});

describe('HTTP /v1/chat/completions', () => {
  it('non-streaming chat.completion with usage', async () => {
    const { router } = await stack([{}]);
    const res = await post(router, '/v1/chat/completions', { model: 'tiny', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'Hi' }] });
    const body = (await res.json()) as { object: string; choices: { message: { content: string }; finish_reason: string }[]; usage: { completion_tokens: number; total_tokens: number; prompt_tokens: number } };
    expect(body.object).toBe('chat.completion');
    expect(body.choices[0]?.message.content).toBe('Hello there, world.');
    expect(body.choices[0]?.finish_reason).toBe('stop');
    expect(body.usage.total_tokens).toBe(body.usage.prompt_tokens + body.usage.completion_tokens);
  });

  it('streaming chunks, a usage chunk when asked, then [DONE]', async () => {
    const { router } = await stack([{}]);
    const res = await post(router, '/v1/chat/completions', { ...userMsg, stream: true, stream_options: { include_usage: true } });
    const events = sseEvents(await res.text());
    expect(events.at(-1)?.data).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data) as { choices: { delta: { content?: string }; finish_reason: string | null }[]; usage?: unknown });
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Hello there, world.');
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('stop');
    expect(chunks.at(-1)?.usage).toMatchObject({ completion_tokens: reply.length });
  });

  it('OpenAI-style error body with every path', async () => {
    const { router } = await stack([{}]);
    const res = await post(router, '/v1/chat/completions', { model: 'tiny', messages: [{ role: 'wizard' }], temperature: 3, n: 2 });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { message: string; issues: string[] } };
    expect(body.error.issues.length).toBeGreaterThanOrEqual(3);
    expect(body.error.message).toContain('messages[0]');
  });
});

describe('failover, cancel, backpressure, auth', () => {
  it('a replica that fails before the first token → retried on the other one', async () => {
    const { router, engines } = await stack([{ failBeforeFirst: status.UNAVAILABLE }, {}]);
    for (let i = 0; i < 4; i++) {
      const res = await post(router, '/v2/chat', userMsg);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-tandem-replica')).toBe('r1');
    }
    expect(engines[1]!.requests.length).toBe(4);
  });

  it('a replica that dies after the first token → the stream ends with UNAVAILABLE', async () => {
    const { router } = await stack([{ failAfterBatches: 2 }]);
    const events = sseEvents(await (await post(router, '/v2/chat', { ...userMsg, stream: true })).text());
    const end = JSON.parse(events.at(-1)!.data) as { type: string; delta: { finish_reason: string; error: string } };
    expect(end.type).toBe('message-end');
    expect(end.delta.finish_reason).toBe('ERROR');
    expect(end.delta.error).toMatch(/^UNAVAILABLE: replica r0 failed after \d+ tokens/);
    const res = await post(router, '/v2/chat', userMsg);
    expect([503, 200]).toContain(res.status); // either out of rotation until the next poll, or back
  });

  it('a client that disconnects mid-stream cancels the engine request', async () => {
    const { router, engines } = await stack([{ delayMs: 50, batch: 1 }]);
    const res = await post(router, '/v2/chat', { ...userMsg, stream: true });
    const reader = res.body!.getReader();
    await reader.read();
    expect(engines[0]!.active).toBe(1);
    await reader.cancel();
    const until = Date.now() + 3000;
    while (engines[0]!.active > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(engines[0]!.active).toBe(0);
    expect(engines[0]!.generated).toBeLessThan(reply.length);
  });

  it('a full queue answers 429 with Retry-After', async () => {
    const { router } = await stack([{ delayMs: 30, batch: 1 }], { maxQueued: 1 });
    // maxRunning 8 × concurrency factor 2 = 16 in flight; then 1 queued; the rest are refused.
    const all = await Promise.all(Array.from({ length: 24 }, () => post(router, '/v2/chat', userMsg)));
    const codes = all.map((r) => r.status);
    expect(codes.filter((c) => c === 429).length).toBeGreaterThan(0);
    expect(codes.filter((c) => c === 200).length).toBeGreaterThanOrEqual(16);
    const refused = all.find((r) => r.status === 429)!;
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it('API keys: 401 without or with a wrong key, 200 with a good one', async () => {
    const keys = JSON.stringify([{ id: 'team-a', key: 'tk-0123456789abcdef' }]);
    const { router } = await stack([{}], { apiKeysJson: keys });
    expect((await post(router, '/v2/chat', userMsg)).status).toBe(401);
    expect((await post(router, '/v2/chat', userMsg, { authorization: 'Bearer tk-0123456789abcdeX' })).status).toBe(401);
    expect((await post(router, '/v2/chat', userMsg, { authorization: 'Bearer tk-0123456789abcdef' })).status).toBe(200);
  });

  it('health, readiness, models and metrics', async () => {
    const { router } = await stack([{}]);
    expect((await fetch(`${router.httpUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${router.httpUrl}/readyz`)).status).toBe(200);
    const models = (await (await fetch(`${router.httpUrl}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data[0]?.id).toBe('tiny');
    await post(router, '/v2/chat', userMsg);
    const metrics = await (await fetch(`${router.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/tandem_router_requests_total\{route="v2-chat",replica="r0",code="OK"\} 1/);
    expect(metrics).toMatch(/tandem_router_time_to_first_token_seconds_count\{route="v2-chat"\} 1/);
    // The two series the operator's HPA scales on.
    expect(metrics).toMatch(/^tandem_router_queue_depth \d/m);
    expect(metrics).toMatch(/^tandem_router_kv_utilization_ratio (0|0?\.\d+|1)$/m);
  });
});

describe('gRPC tandem.v1', () => {
  function client(router: RunningRouter) {
    return new TandemGrpcClient(router.grpcAddress, credentials.createInsecure());
  }

  it('Chat streams typed events and the replica in metadata', async () => {
    const { router } = await stack([{}]);
    const c = client(router);
    const call = c.chat(tandemV1.ChatRequest.fromPartial({ model: 'tiny', messages: [{ role: tandemV1.Role.ROLE_USER, content: [{ text: 'Hi' }] }] }));
    let replica: unknown;
    call.on('metadata', (md: Metadata) => { replica = md.get('x-tandem-replica')[0]; });
    const events: tandemV1.ChatEvent[] = [];
    for await (const ev of call) events.push(ev as tandemV1.ChatEvent);
    c.close();
    expect(replica).toBe('r0');
    expect(events[0]?.messageStart).toBeDefined();
    expect(events.at(-1)?.messageEnd?.finishReason).toBe(tandemV1.FinishReason.FINISH_REASON_COMPLETE);
    expect(events.at(-1)?.messageEnd?.usage?.outputTokens).toBe(reply.length);
    expect(events.filter((e) => e.contentDelta).map((e) => e.contentDelta!.text).join('')).toBe('Hello there, world.');
  });

  it('Chat with bad fields → INVALID_ARGUMENT listing every path', async () => {
    const { router } = await stack([{}]);
    const c = client(router);
    const call = c.chat(tandemV1.ChatRequest.fromPartial({ model: 'tiny', messages: [{ role: tandemV1.Role.ROLE_UNSPECIFIED, content: [{ text: 'x' }] }], tools: [{ name: 'bad name!', parametersJson: '{oops' }] }));
    const err = await new Promise<{ code: number; details: string }>((resolve) => {
      call.on('error', (e) => resolve(e as never));
      call.on('data', () => undefined);
    });
    c.close();
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toContain('messages[0].role');
    expect(err.details).toContain('tools[0].function.parameters: is not valid JSON');
    expect(err.details).toContain('tools[0].function.name');
  });

  it('Generate streams token batches with incremental text; bad fields → INVALID_ARGUMENT', async () => {
    const { router } = await stack([{}]);
    const c = client(router);
    const evs: tandemV1.GenerateEvent[] = [];
    for await (const ev of c.generate(tandemV1.GenerateRequest.fromPartial({ model: 'tiny', prompt: 'Once upon', maxTokens: 5 }))) evs.push(ev as tandemV1.GenerateEvent);
    expect(evs.flatMap((e) => e.tokenIds)).toEqual(reply.slice(0, 5));
    expect(evs.at(-1)?.finishReason).toBe(tandemV1.FinishReason.FINISH_REASON_MAX_TOKENS);
    expect(evs.at(-1)?.usage?.outputTokens).toBe(5);
    const bad = c.generate(tandemV1.GenerateRequest.fromPartial({ model: 'tiny', maxTokens: 0, stopSequences: [''] }));
    const err = await new Promise<{ code: number; details: string }>((resolve) => { bad.on('error', (e) => resolve(e as never)); bad.on('data', () => undefined); });
    c.close();
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    for (const p of ['prompt:', 'max_tokens:', 'stop_sequences[0]:']) expect(err.details).toContain(p);
    // The issues also ride in the tandem-issues-bin trailer, decoded the way @tandem/sdk does.
    const decoded = TandemError.from(err);
    expect(decoded.message).toBe('invalid generate request');
    expect(decoded.issues.map((i) => i.split(':')[0])).toEqual(['prompt', 'max_tokens', 'stop_sequences[0]']);
  });

  it('Tokenize / Detokenize / ListModels', async () => {
    const { router } = await stack([{}]);
    const c = client(router);
    const tok = await new Promise<tandemV1.TokenizeResponse>((res, rej) => c.tokenize({ model: 'tiny', text: 'Hello world' }, (e, r) => (e ? rej(e) : res(r))));
    const detok = await new Promise<tandemV1.DetokenizeResponse>((res, rej) => c.detokenize({ model: 'tiny', tokens: tok.tokens }, (e, r) => (e ? rej(e) : res(r))));
    const models = await new Promise<tandemV1.ListModelsResponse>((res, rej) => c.listModels({}, (e, r) => (e ? rej(e) : res(r))));
    c.close();
    expect(detok.text).toBe('Hello world');
    expect(models.models[0]).toMatchObject({ id: 'tiny', replicas: 1 });
  });
});

/** A minimal recording TracerProvider (no SDK): spans keep their kind, parent, attributes, status. */
interface Recorded { name: string; kind: SpanKind; parentSpanId?: string; sc: SpanContext; attributes: Attributes; status?: SpanStatus; ended: boolean }
function recordingProvider(): TracerProvider & { spans: Recorded[] } {
  const spans: Recorded[] = [];
  const hex = (n: number) => Array.from({ length: n }, () => Math.floor(Math.random() * 16).toString(16)).join('');
  const tracer = {
    startSpan(name: string, options: SpanOptions = {}, ctx?: Context): Span {
      const parent = ctx ? trace.getSpanContext(ctx) : undefined;
      const r: Recorded = { name, kind: options.kind ?? SpanKind.INTERNAL, sc: { traceId: parent?.traceId ?? hex(32), spanId: hex(16), traceFlags: 1 }, attributes: { ...options.attributes }, ended: false };
      if (parent) r.parentSpanId = parent.spanId;
      spans.push(r);
      const span: Span = {
        spanContext: () => r.sc,
        setAttribute: (k, v) => { if (v !== undefined) r.attributes[k] = v; return span; },
        setAttributes: (a) => { Object.assign(r.attributes, a); return span; },
        addEvent: () => span, addLink: () => span, addLinks: () => span, recordException: () => undefined,
        setStatus: (st) => { r.status = st; return span; },
        updateName: (n) => { r.name = n; return span; },
        end: () => { r.ended = true; },
        isRecording: () => !r.ended,
      };
      return span;
    },
  } as unknown as Tracer;
  return { spans, getTracer: () => tracer };
}

describe('OpenTelemetry spans', () => {
  const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  let provider: ReturnType<typeof recordingProvider>;
  beforeAll(() => {
    provider = recordingProvider();
    trace.setGlobalTracerProvider(provider);
  });
  afterAll(() => trace.disable());

  it('HTTP chat: a server span under the caller, a client span under it, whose context the engine gets', async () => {
    provider.spans.length = 0;
    const { router, engines } = await stack([{}]);
    expect((await post(router, '/v2/chat', userMsg, { traceparent: tp })).status).toBe(200);
    const server = provider.spans.find((sp) => sp.kind === SpanKind.SERVER)!;
    const client = provider.spans.find((sp) => sp.kind === SpanKind.CLIENT)!;
    expect(server).toMatchObject({ name: 'POST /v2/chat', parentSpanId: 'b7ad6b7169203331', ended: true, attributes: { 'http.response.status_code': 200 } });
    expect(server.sc.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(client).toMatchObject({ name: 'tandem.engine.v1.Engine/Generate', parentSpanId: server.sc.spanId, ended: true, attributes: { 'tandem.replica': 'r0' } });
    expect(engines[0]!.traceparents).toEqual([`00-0af7651916cd43dd8448eb211c80319c-${client.sc.spanId}-01`]);
  });

  it('gRPC Generate with bad fields: the server span ends with ERROR and the gRPC code', async () => {
    provider.spans.length = 0;
    const { router } = await stack([{}]);
    const c = new TandemGrpcClient(router.grpcAddress, credentials.createInsecure());
    const md = new Metadata();
    md.set('traceparent', tp);
    const bad = c.generate(tandemV1.GenerateRequest.fromPartial({ model: 'tiny', maxTokens: 0 }), md);
    await new Promise((resolve) => { bad.on('error', resolve); bad.on('data', () => undefined); });
    c.close();
    await new Promise((r) => setTimeout(r, 20));
    const server = provider.spans.find((sp) => sp.kind === SpanKind.SERVER)!;
    expect(server).toMatchObject({ name: 'tandem.v1.Tandem/Generate', parentSpanId: 'b7ad6b7169203331', ended: true, attributes: { 'rpc.grpc.status_code': status.INVALID_ARGUMENT } });
    expect(server.status?.message).toMatch(/^INVALID_ARGUMENT: invalid generate request/);
    expect(provider.spans.filter((sp) => sp.kind === SpanKind.CLIENT)).toEqual([]);
  });
});

describe('engineService (cluster discovery)', () => {
  it('serves through replicas resolved from a DNS name', async () => {
    const fake = new FakeEngine({ reply });
    const port = Number((await fake.start()).split(':')[1]);
    running.engines = [fake];
    const asked: string[] = [];
    const router = await startRouter(
      { engineService: `m-engine.ns.svc:${port}`, modelDir, modelName: 'tiny', host: '127.0.0.1', httpPort: 0, grpcPort: 0, pollIntervalMs: 50 },
      { log: silentLogger, resolve: async (host) => { asked.push(host); return ['127.0.0.1']; } },
    );
    running.router = router;
    await router.waitReady(5000);
    expect(asked[0]).toBe('m-engine.ns.svc');
    const res = await post(router, '/v2/chat', userMsg);
    expect(res.status).toBe(200);
    expect(fake.requests).toHaveLength(1);
  });
});
