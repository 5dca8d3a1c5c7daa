// The HTTP edge (node:http, no framework): Cohere Chat v2, OpenAI Chat Completions, models, health,
// readiness and metrics. Every error leaves through `sendError` (one conversion place); SSE streams
// that fail after the first event end with an error event instead (headers are already sent).
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { endSpan, GrpcCode, type GrpcCodeName, startServerSpan, TandemError, traceMetadataFromHeaders, type TraceContext } from '@tandem/kit';
import { type ChatStreamEvent, validateChatRequest, validateChatRequestBody } from '@tandem/schemas';
import { keyFromAuthorization, type Principal } from './auth.js';
import { type ChatJob, type ChatRun, startChat, TRACER_NAME } from './chat-service.js';
import { cohereSampling } from './cohere-sampling.js';
import { collectChatResponse } from './collect.js';
import { mapOpenAIRequest, OpenAIChunker, openAICompletion } from './openai.js';
import type { RouterContext } from './router-context.js';

const MAX_BODY_BYTES = 32 * 1024 * 1024;

type Route = 'v2-chat' | 'openai-chat';

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new TandemError(GrpcCode.INVALID_ARGUMENT, `request body is larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * The JSON body every HTTP error gets: a message a person can read (every issue with its path on its
 * own line) plus the issues as a list. Kit's toJSON() keeps the message bare; HTTP clients read the
 * message alone, so the issues are folded in here.
 */
function errorBody(e: TandemError): { message: string; code: GrpcCodeName; issues?: readonly string[] } {
  const message = e.issues.length > 0 ? `${e.message}:\n  ${e.issues.join('\n  ')}` : e.message;
  return { message, code: e.codeName, ...(e.issues.length > 0 ? { issues: e.issues } : {}) };
}

function sendError(ctx: RouterContext, res: ServerResponse, route: string, e: unknown, requestId: string): void {
  const err = TandemError.from(e);
  if (err.code === GrpcCode.INTERNAL) ctx.log('error', 'request failed', { request_id: requestId, route, error: String((err.cause as Error)?.stack ?? err.cause ?? err.message) });
  else ctx.log('info', 'request rejected', { request_id: requestId, route, code: err.codeName, error: err.message });
  ctx.metrics.errors.inc({ route, code: err.codeName });
  if (res.headersSent) {
    res.end();
    return;
  }
  const headers: Record<string, string> = { 'x-request-id': requestId };
  if (err.retryAfterSeconds !== undefined) headers['retry-after'] = String(err.retryAfterSeconds);
  const body = errorBody(err);
  const payload = route === 'openai-chat'
    ? { error: { message: body.message, type: err.code === GrpcCode.INVALID_ARGUMENT ? 'invalid_request_error' : 'server_error', param: null, code: body.code, ...(body.issues ? { issues: body.issues } : {}) } }
    : body;
  sendJson(res, err.httpStatus, payload, headers);
}

function deadlineOf(ctx: RouterContext, req: IncomingMessage): number {
  const h = req.headers['x-tandem-timeout-ms'];
  const ms = typeof h === 'string' && /^\d+$/.test(h) ? Number(h) : ctx.options.requestTimeoutMs;
  return Date.now() + ms;
}

function authenticate(ctx: RouterContext, req: IncomingMessage): Principal {
  const p = ctx.keys.authenticate(keyFromAuthorization(req.headers.authorization) ?? (req.headers['x-api-key'] as string | undefined));
  return p;
}

export function createHttpServer(ctx: RouterContext): Server {
  return createServer((req, res) => {
    const requestId = (typeof req.headers['x-request-id'] === 'string' && req.headers['x-request-id']) || randomUUID();
    const url = (req.url ?? '/').split('?')[0];
    void handle(ctx, req, res, url ?? '/', requestId).catch((e) => sendError(ctx, res, 'http', e, requestId));
  });
}

async function handle(ctx: RouterContext, req: IncomingMessage, res: ServerResponse, url: string, requestId: string): Promise<void> {
  if (req.method === 'GET' && url === '/healthz') return sendJson(res, 200, { status: 'ok' });
  if (req.method === 'GET' && url === '/readyz') {
    const ready = ctx.pool.ready();
    return sendJson(res, ready ? 200 : 503, { ready, replicas: ctx.pool.replicas.map((r) => ({ id: r.id, address: r.address, healthy: r.healthy, draining: r.draining })) });
  }
  if (req.method === 'GET' && url === '/metrics') {
    const m = await ctx.metrics.render();
    res.writeHead(200, { 'content-type': m.contentType });
    res.end(m.body);
    return;
  }
  if (req.method === 'GET' && url === '/v1/models') {
    authenticate(ctx, req);
    const info = ctx.pool.info();
    return sendJson(res, 200, { object: 'list', data: [{ id: ctx.options.modelName, object: 'model', created: ctx.createdAt, owned_by: 'tandem', ...(info ? { context_length: info.maxSeqLen } : {}) }] });
  }
  if (url === '/v2/chat' || url === '/v1/chat/completions') {
    const route: Route = url === '/v2/chat' ? 'v2-chat' : 'openai-chat';
    if (req.method !== 'POST') throw new TandemError(GrpcCode.NOT_FOUND, `${url} takes POST`);
    // The server span: parent is the caller's traceparent; the engine call's client span is its child.
    const { span, ctx: traceCtx } = startServerSpan(TRACER_NAME, `POST ${url}`, traceMetadataFromHeaders(req.headers), {
      'http.request.method': 'POST', 'url.path': url, 'tandem.route': route, 'tandem.request_id': requestId,
    });
    let failure: unknown;
    try {
      await chat(ctx, req, res, route, requestId, traceCtx);
    } catch (e) {
      failure = e;
      sendError(ctx, res, route, e, requestId);
    } finally {
      span.setAttribute('http.response.status_code', res.statusCode);
      endSpan(span, failure);
    }
    return;
  }
  throw new TandemError(GrpcCode.NOT_FOUND, `no route for ${req.method} ${url}`);
}

async function chat(ctx: RouterContext, req: IncomingMessage, res: ServerResponse, route: Route, requestId: string, trace: TraceContext): Promise<void> {
  const started = performance.now();
  const principal = authenticate(ctx, req);
  const body = await readBody(req);
  let job: Omit<ChatJob, 'signal'>;
  let stream: boolean;
  let includeUsage = false;
  if (route === 'v2-chat') {
    const v = validateChatRequestBody(body);
    if (!v.ok) throw new TandemError(GrpcCode.INVALID_ARGUMENT, 'invalid chat request', { issues: v.issues });
    const r = v.value;
    stream = r.stream ?? false;
    job = {
      route, request: r, sampling: cohereSampling(r), ...(r.max_tokens !== undefined ? { maxTokens: r.max_tokens } : {}),
      stopSequences: r.stop_sequences ?? [], principal, priority: r.priority ?? 0, deadline: deadlineOf(ctx, req), requestId,
    };
  } else {
    let raw: unknown;
    try {
      raw = JSON.parse(body.toString('utf8'));
    } catch (e) {
      throw new TandemError(GrpcCode.INVALID_ARGUMENT, 'invalid chat completion request', { issues: [`(body): not valid JSON: ${(e as Error).message}`] });
    }
    const { mapped } = mapOpenAIRequest(raw);
    const v = validateChatRequest(mapped.chat);
    if (!v.ok) throw new TandemError(GrpcCode.INVALID_ARGUMENT, 'invalid chat completion request', { issues: v.issues });
    stream = mapped.stream;
    includeUsage = mapped.includeUsage;
    job = {
      route, request: v.value, sampling: mapped.sampling, ...(mapped.maxTokens !== undefined ? { maxTokens: mapped.maxTokens } : {}),
      stopSequences: mapped.stop, principal, priority: v.value.priority ?? 0, deadline: deadlineOf(ctx, req), requestId,
    };
  }
  const abort = new AbortController();
  // The client went away before we finished: cancel (frees the engine's KV blocks).
  res.on('close', () => { if (!res.writableFinished) abort.abort(); });
  const run = await startChat(ctx.chat, { ...job, signal: abort.signal, trace });
  let code = 'OK';
  try {
    const headers = { 'x-tandem-replica': run.replica, 'x-request-id': run.id };
    if (stream) await streamSse(res, route, run, headers, ctx, includeUsage);
    else {
      const events: ChatStreamEvent[] = [];
      for await (const ev of run.events) events.push(ev);
      if (abort.signal.aborted) return;
      const out = route === 'v2-chat' ? collectChatResponse(events) : openAICompletion({ id: `chatcmpl-${run.id}`, model: ctx.options.modelName, created: Math.floor(Date.now() / 1000) }, events);
      sendJson(res, 200, out, headers);
    }
  } catch (e) {
    code = TandemError.from(e).codeName;
    throw e;
  } finally {
    run.cancel();
    if (abort.signal.aborted && code === 'OK') code = 'CANCELLED';
    ctx.metrics.requests.inc({ route, replica: run.replica, code });
    ctx.metrics.e2e.observe({ route, code }, (performance.now() - started) / 1000);
  }
}

async function streamSse(res: ServerResponse, route: Route, run: ChatRun, headers: Record<string, string>, ctx: RouterContext, includeUsage: boolean): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', ...headers });
  const chunker = route === 'openai-chat' ? new OpenAIChunker({ id: `chatcmpl-${run.id}`, model: ctx.options.modelName, created: Math.floor(Date.now() / 1000) }, includeUsage) : undefined;
  const write = (s: string) => { if (!res.writableEnded && !res.destroyed) res.write(s); };
  try {
    for await (const ev of run.events) {
      if (chunker) for (const c of chunker.map(ev)) write(`data: ${JSON.stringify(c)}\n\n`);
      else write(`event: ${ev.type}\ndata: ${JSON.stringify(ev)}\n\n`);
    }
  } catch (e) {
    const err = TandemError.from(e);
    ctx.log('warn', 'stream ended with an error', { request_id: run.id, replica: run.replica, code: err.codeName, error: err.message });
    const message = `${err.codeName}: ${err.message}`;
    if (chunker) write(`data: ${JSON.stringify({ error: { message, type: 'server_error', code: err.codeName } })}\n\n`);
    else write(`event: message-end\ndata: ${JSON.stringify({ type: 'message-end', id: run.id, delta: { finish_reason: 'ERROR', error: message } })}\n\n`);
    res.end();
    throw err;
  }
  write('data: [DONE]\n\n');
  res.end();
}
