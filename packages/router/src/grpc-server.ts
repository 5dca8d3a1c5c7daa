// The public gRPC edge: tandem.v1.Tandem plus grpc.health.v1 and server reflection. Requests are
// converted to Chat v2 JSON and validated exactly like HTTP ones; errors leave through `toStatus`.
import { Metadata, Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import { addReflection, endSpan, GrpcCode, startServerSpan, TandemError } from '@tandem/kit';
import { HealthImplementation } from 'grpc-health-check';
import { chatEventToProto, parseProtoChatRequest, PROTO_FILES, PROTO_INCLUDE_DIR, SERVICE_NAMES, TandemService, tandemV1 } from '@tandem/proto';
import { keyFromAuthorization, type Principal } from './auth.js';
import { startChat, TRACER_NAME } from './chat-service.js';
import { startGenerate } from './generate-service.js';
import { cohereSampling } from './cohere-sampling.js';
import type { RouterContext } from './router-context.js';

function toStatus(ctx: RouterContext, method: string, e: unknown): { code: status; details: string; metadata: Metadata } {
  const err = TandemError.from(e);
  if (err.code === GrpcCode.INTERNAL) ctx.log('error', 'grpc request failed', { method, error: String((err.cause as Error)?.stack ?? err.cause ?? err.message) });
  ctx.metrics.errors.inc({ route: `grpc-${method}`, code: err.codeName });
  // Kit's status carries the issues (tandem-issues-bin, what @tandem/sdk reads) and retry-after;
  // x-tandem-issue (one URL-encoded issue per entry) is kept for clients that read the older trailer.
  const st = err.toGrpc();
  for (const issue of err.issues.slice(0, 100)) st.metadata.add('x-tandem-issue', encodeURIComponent(issue));
  return st;
}

/** A SERVER span for a streaming method, parented by the caller's trace context (metadata). */
function serverSpan(method: string, md: Metadata) {
  return startServerSpan(TRACER_NAME, `tandem.v1.Tandem/${method}`, md, { 'rpc.system': 'grpc', 'rpc.service': 'tandem.v1.Tandem', 'rpc.method': method });
}

function principalOf(ctx: RouterContext, md: Metadata): Principal {
  const auth = md.get('authorization')[0];
  const key = md.get('x-api-key')[0];
  return ctx.keys.authenticate(keyFromAuthorization(typeof auth === 'string' ? auth : undefined) ?? (typeof key === 'string' ? key : undefined));
}

function deadlineOf(ctx: RouterContext, call: { getDeadline(): Date | number }): number {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(ms) && ms > 0 ? ms : Date.now() + ctx.options.requestTimeoutMs;
}

interface StreamRun<Ev> {
  readonly replica: string;
  readonly id: string;
  readonly events: AsyncIterable<Ev>;
  cancel(): void;
}

/**
 * The lifecycle both streaming methods share: a server span, cancellation, replica/request-id
 * headers, streaming, the error status, and the per-request metrics. `start` does the method's own
 * validation and starts the run; `toMsg` maps an event to a wire message (undefined = not sent).
 */
async function serveStream<Req, Msg, Ev>(
  ctx: RouterContext,
  call: ServerWritableStream<Req, Msg>,
  method: 'Chat' | 'Generate',
  start: (ctx: { principal: Principal; signal: AbortSignal; deadline: number; trace: ReturnType<typeof serverSpan>['ctx'] }) => Promise<StreamRun<Ev>>,
  toMsg: (ev: Ev) => Msg | undefined,
): Promise<void> {
  const route = `grpc-${method.toLowerCase()}`;
  const started = performance.now();
  const { span, ctx: trace } = serverSpan(method, call.metadata);
  let failure: unknown;
  const abort = new AbortController();
  call.on('cancelled', () => abort.abort());
  let replica = 'none';
  let code = 'OK';
  try {
    const principal = principalOf(ctx, call.metadata);
    const run = await start({ principal, signal: abort.signal, deadline: deadlineOf(ctx, call), trace });
    replica = run.replica;
    try {
      const md = new Metadata();
      md.set('x-tandem-replica', run.replica);
      md.set('x-request-id', run.id);
      call.sendMetadata(md);
      for await (const ev of run.events) {
        const msg = toMsg(ev);
        if (msg !== undefined && !call.cancelled) call.write(msg);
      }
    } finally {
      run.cancel();
    }
    if (!call.cancelled) call.end();
  } catch (e) {
    failure = e;
    code = TandemError.from(e).codeName;
    // grpc-js sends the status when the stream emits 'error' (destroy() would drop it).
    if (!call.cancelled) call.emit('error', Object.assign(new Error(), toStatus(ctx, method.toLowerCase(), e)));
  } finally {
    if (abort.signal.aborted && code === 'OK') code = 'CANCELLED';
    endSpan(span, failure);
    ctx.metrics.requests.inc({ route, replica, code });
    ctx.metrics.e2e.observe({ route, code }, (performance.now() - started) / 1000);
  }
}

function chat(ctx: RouterContext, call: ServerWritableStream<tandemV1.ChatRequest, tandemV1.ChatEvent>): Promise<void> {
  return serveStream(ctx, call, 'Chat', ({ principal, signal, deadline, trace }) => {
    // The same validation (and field paths) as the HTTP edge; the proto helper adds proto-only issues.
    const v = parseProtoChatRequest(call.request);
    if (!v.ok) throw new TandemError(GrpcCode.INVALID_ARGUMENT, 'invalid chat request', { issues: v.issues });
    const r = v.value;
    const reqId = call.metadata.get('x-request-id')[0];
    return startChat(ctx.chat, {
      route: 'grpc-chat', request: r, sampling: cohereSampling(r), ...(r.max_tokens !== undefined ? { maxTokens: r.max_tokens } : {}),
      stopSequences: r.stop_sequences ?? [], principal, priority: r.priority ?? 0, deadline, signal,
      ...(typeof reqId === 'string' ? { requestId: reqId } : {}), trace,
    });
  }, chatEventToProto);
}

function generate(ctx: RouterContext, call: ServerWritableStream<tandemV1.GenerateRequest, tandemV1.GenerateEvent>): Promise<void> {
  return serveStream(ctx, call, 'Generate', ({ principal, signal, deadline, trace }) =>
    startGenerate(ctx.chat, { request: call.request, principal, signal, deadline, trace }), (ev: tandemV1.GenerateEvent) => ev);
}

function unary<Req, Res>(ctx: RouterContext, method: string, fn: (req: Req, md: Metadata) => Res) {
  return (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>) => {
    try {
      cb(null, fn(call.request, call.metadata));
    } catch (e) {
      cb(toStatus(ctx, method, e));
    }
  };
}


export interface GrpcEdge {
  readonly server: Server;
  readonly health: HealthImplementation;
  readonly port: number;
}

export async function startGrpcServer(ctx: RouterContext, host: string, port: number): Promise<GrpcEdge> {
  const server = new Server();
  server.addService(TandemService, {
    chat: (call: ServerWritableStream<tandemV1.ChatRequest, tandemV1.ChatEvent>) => void chat(ctx, call),
    generate: (call: ServerWritableStream<tandemV1.GenerateRequest, tandemV1.GenerateEvent>) => void generate(ctx, call),
    tokenize: unary(ctx, 'tokenize', (req: tandemV1.TokenizeRequest, md) => {
      principalOf(ctx, md);
      const tok = ctx.chat.tokenizer;
      const ids = tok.encode(req.text);
      const bos = tok.bosToken !== undefined ? tok.tokenId(tok.bosToken) : undefined;
      const tokens = req.addSpecialTokens && bos !== undefined ? [bos, ...ids] : ids;
      return tandemV1.TokenizeResponse.fromPartial({ tokens, tokenStrings: tokens.map((t) => tok.tokenToString(t) ?? '') });
    }),
    detokenize: unary(ctx, 'detokenize', (req: tandemV1.DetokenizeRequest, md) => {
      principalOf(ctx, md);
      const bad = req.tokens.map((t, i) => (ctx.chat.tokenizer.tokenToString(t) === undefined ? `tokens[${i}]: unknown token id ${t}` : '')).filter(Boolean);
      if (bad.length > 0) throw new TandemError(GrpcCode.INVALID_ARGUMENT, 'invalid detokenize request', { issues: bad });
      return tandemV1.DetokenizeResponse.fromPartial({ text: ctx.chat.tokenizer.decode(req.tokens, { skipSpecialTokens: req.skipSpecialTokens ?? false }) });
    }),
    listModels: unary(ctx, 'listModels', (_req: tandemV1.ListModelsRequest, md) => {
      principalOf(ctx, md);
      const info = ctx.pool.info();
      const ready = ctx.pool.replicas.filter((r) => r.healthy && !r.draining).length;
      return tandemV1.ListModelsResponse.fromPartial({
        models: [{ id: ctx.options.modelName, ownedBy: 'tandem', contextLength: info?.maxSeqLen ?? 0, replicas: ready }],
      });
    }),
  });
  const health = new HealthImplementation({ '': 'NOT_SERVING', [SERVICE_NAMES.tandem]: 'NOT_SERVING' });
  health.addToServer(server);
  addReflection(server, PROTO_INCLUDE_DIR, [PROTO_FILES.tandem]);
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p)));
  });
  return { server, health, port: bound };
}
