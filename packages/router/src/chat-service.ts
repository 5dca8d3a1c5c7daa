// One chat request end to end, whatever edge it came from (HTTP Cohere, HTTP OpenAI, gRPC):
// render (cmd3) → tokenize → rate limit → admit + pick → engine stream → detokenize → stop
// sequences → output parser → Chat v2 events. Failures before the first token are retried on
// another replica; after it the event stream throws UNAVAILABLE (the edge ends the response).
import { randomUUID } from 'node:crypto';
import type { ChatTokenizer } from '@tandem/chat';
import { Cmd3OutputParser, renderChatRequest } from '@tandem/chat';
import { engineV1 } from '@tandem/proto';
import type { ChatRequest, ChatStreamEvent, FinishReason, Usage } from '@tandem/schemas';
import type { Principal } from './auth.js';
import type { EngineGenerateResponse } from './engine-client.js';
import { Metadata } from '@grpc/grpc-js';
import { endSpan, GrpcCode, startClientSpan, TandemError, type TraceContext } from '@tandem/kit';
import type { Logger } from './log.js';
import type { RouterMetrics } from './metrics.js';
import { blockHashes, type PrefixIndex } from './prefix-affinity.js';
import type { RateLimiter } from './rate-limit.js';
import type { Lease, ReplicaPool } from './replica-pool.js';
import { StopMatcher } from './stop-sequences.js';

export interface ChatJob {
  readonly route: string;
  readonly request: ChatRequest;
  readonly sampling: Partial<engineV1.SamplingParams>;
  /** Undefined: up to the context limit. */
  readonly maxTokens?: number;
  readonly stopSequences: readonly string[];
  readonly principal: Principal;
  /** Cohere priority (0 most urgent … 999). */
  readonly priority: number;
  /** Absolute, ms since epoch. */
  readonly deadline?: number;
  readonly signal: AbortSignal;
  readonly requestId?: string;
  /** The request's server span context: the engine call's client span is its child. */
  readonly trace?: TraceContext;
}

export interface ChatRun {
  readonly id: string;
  readonly replica: string;
  readonly promptTokens: number;
  /** Chat v2 events, message-start … message-end (with usage). Throws UNAVAILABLE / DEADLINE_EXCEEDED mid-stream. */
  readonly events: AsyncGenerator<ChatStreamEvent>;
  /** Stops generation and frees the engine request; idempotent. Edges call it in `finally`. */
  cancel(): void;
}

export interface ChatServiceDeps {
  readonly tokenizer: ChatTokenizer;
  readonly pool: ReplicaPool;
  readonly prefixIndex: PrefixIndex;
  readonly rateLimiter: RateLimiter;
  readonly metrics: RouterMetrics;
  readonly log: Logger;
  /** Token ids that end a turn (END_OF_TURN and EOS). */
  readonly stopTokenIds: readonly number[];
  /** Output tokens reserved per request when it sets no max_tokens (for budgets, not a limit). */
  readonly expectedOutputTokens: number;
  readonly maxRetries: number;
  /** Token ids at or above it are rejected before reaching an engine (undefined: the engine checks). */
  readonly vocabSize?: number;
}

/** Tracer name of the router's spans. */
export const TRACER_NAME = '@tandem/router';

const RETRYABLE = new Set(['UNAVAILABLE', 'INTERNAL', 'UNKNOWN']);

function engineFinish(r: engineV1.FinishReason): FinishReason | 'CANCELLED' | undefined {
  switch (r) {
    case engineV1.FinishReason.FINISH_REASON_LENGTH: return 'MAX_TOKENS';
    case engineV1.FinishReason.FINISH_REASON_STOP: return 'COMPLETE';
    case engineV1.FinishReason.FINISH_REASON_ERROR: return 'ERROR';
    case engineV1.FinishReason.FINISH_REASON_CANCELLED: return 'CANCELLED';
    default: return undefined;
  }
}

export function grpcCodeName(e: unknown): string {
  const code = (e as { code?: unknown })?.code;
  const names: Record<number, string> = { 1: 'CANCELLED', 2: 'UNKNOWN', 3: 'INVALID_ARGUMENT', 4: 'DEADLINE_EXCEEDED', 8: 'RESOURCE_EXHAUSTED', 13: 'INTERNAL', 14: 'UNAVAILABLE' };
  return typeof code === 'number' ? (names[code] ?? 'UNKNOWN') : 'UNKNOWN';
}

/** Validated request → tokens, checked against the model's context. */
export function prepareChat(deps: Pick<ChatServiceDeps, 'tokenizer'>, job: Pick<ChatJob, 'request' | 'maxTokens'>, maxSeqLen: number) {
  const { prompt, context } = renderChatRequest(job.request);
  const ids = deps.tokenizer.encodeParts(prompt.parts);
  const issues: string[] = [];
  // Chat logprobs are not streamed back yet (Generate returns them): refuse rather than ignore.
  if ((job.request as { logprobs?: boolean }).logprobs === true) issues.push('logprobs: not supported on Chat yet; use Generate (tandem.v1) for token logprobs');
  if (ids.length >= maxSeqLen) issues.push(`messages: the rendered prompt is ${ids.length} tokens; the model's context is ${maxSeqLen} tokens`);
  const maxTokens = job.maxTokens ?? Math.max(1, maxSeqLen - ids.length);
  if (issues.length === 0 && ids.length + maxTokens > maxSeqLen) {
    issues.push(`max_tokens: ${maxTokens} output tokens after a ${ids.length}-token prompt exceed the model's context of ${maxSeqLen} tokens (at most ${maxSeqLen - ids.length})`);
  }
  if (issues.length > 0) throw new TandemError(GrpcCode.INVALID_ARGUMENT, 'invalid request', { issues });
  return { prompt, context, ids, maxTokens };
}

export async function startChat(deps: ChatServiceDeps, job: ChatJob): Promise<ChatRun> {
  const started = performance.now();
  const info = deps.pool.info();
  if (!info) throw new TandemError(GrpcCode.UNAVAILABLE, 'no replica is ready yet; retry later', { retryAfterSeconds: 1 });
  const { context, ids, maxTokens } = prepareChat(deps, job, info.maxSeqLen);
  const id = job.requestId ?? randomUUID();
  const opened = await openEngineStream(deps, {
    id, route: job.route, prompt: ids, maxTokens, sampling: job.sampling, stopTokenIds: deps.stopTokenIds, ignoreEos: false,
    principal: job.principal, priority: job.priority, signal: job.signal, started, ...(job.deadline !== undefined ? { deadline: job.deadline } : {}),
    ...(job.trace ? { trace: job.trace } : {}),
  });
  return {
    id, replica: opened.lease.replica.id, promptTokens: ids.length, cancel: opened.cancel,
    events: streamEvents(deps, job, { id, lease: opened.lease, first: opened.first, rest: opened.rest, context, promptTokens: ids.length, started, cancel: opened.cancel }),
  };
}

export interface EngineJob {
  readonly id: string;
  readonly route: string;
  readonly prompt: readonly number[];
  readonly maxTokens: number;
  readonly sampling: Partial<engineV1.SamplingParams>;
  readonly stopTokenIds: readonly number[];
  readonly ignoreEos: boolean;
  readonly principal: Principal;
  readonly priority: number;
  readonly signal: AbortSignal;
  readonly deadline?: number;
  /** performance.now() at arrival (TTFT). */
  readonly started: number;
  /** Parent of the engine call's client span (its context is what the engine receives). */
  readonly trace?: TraceContext;
}

export interface OpenedStream {
  readonly lease: Lease;
  readonly first: EngineGenerateResponse;
  readonly rest: AsyncIterator<EngineGenerateResponse>;
  /** Cancels the engine call and returns the lease; idempotent. */
  readonly cancel: () => void;
}

/**
 * Rate limit, admit, pick, and start the engine stream; resolves at the engine's first message.
 * A replica that fails before it is marked failed and the request goes to another (maxRetries).
 */
export async function openEngineStream(deps: ChatServiceDeps, job: EngineJob): Promise<OpenedStream> {
  const info = deps.pool.info();
  if (!info) throw new TandemError(GrpcCode.UNAVAILABLE, 'no replica is ready yet; retry later', { retryAfterSeconds: 1 });
  deps.rateLimiter.admit(job.principal, job.prompt.length);
  const hashes = blockHashes(job.prompt, info.blockSize);
  const cost = job.prompt.length + Math.min(job.maxTokens, deps.expectedOutputTokens);
  const exclude = new Set<string>();
  const engineReq = engineV1.GenerateRequest.fromPartial({
    requestId: job.id, prompt: [...job.prompt], maxTokens: job.maxTokens, sampling: engineV1.SamplingParams.fromPartial(job.sampling),
    stopTokenIds: [...job.stopTokenIds], ignoreEos: job.ignoreEos, priority: 999 - job.priority, // engine: larger runs first
  });

  for (let attempt = 0; ; attempt++) {
    const lease = await deps.pool.acquire({ tenant: job.principal.tenant, priority: job.priority, cost, prefixHashes: hashes, exclude, signal: job.signal, ...(job.deadline !== undefined ? { deadline: job.deadline } : {}) });
    const abort = new AbortController();
    const onClientAbort = () => abort.abort();
    job.signal.addEventListener('abort', onClientAbort, { once: true });
    // One client span per engine attempt; the engine gets its context (SDK → router → engine, one trace).
    const traceMd = new Metadata();
    const span = startClientSpan(TRACER_NAME, 'tandem.engine.v1.Engine/Generate', job.trace, traceMd, {
      'rpc.system': 'grpc', 'rpc.service': 'tandem.engine.v1.Engine', 'rpc.method': 'Generate', 'tandem.replica': lease.replica.id, 'tandem.request_id': job.id, 'tandem.attempt': attempt,
    });
    const metadata: Record<string, string> = { 'x-request-id': job.id };
    for (const [k, v] of Object.entries(traceMd.getMap())) metadata[k] = String(v);
    const stream = lease.conn.generate(engineReq, { signal: abort.signal, ...(job.deadline !== undefined ? { deadline: job.deadline } : {}), metadata })[Symbol.asyncIterator]();
    let ended = false;
    const cancel = (error?: unknown) => {
      if (!ended) endSpan(span, error);
      ended = true;
      job.signal.removeEventListener('abort', onClientAbort);
      abort.abort();
      lease.release();
    };
    let first: IteratorResult<EngineGenerateResponse>;
    try {
      first = await stream.next();
      if (first.done) throw new TandemError(GrpcCode.UNAVAILABLE, 'engine stream ended before the first token');
    } catch (e) {
      cancel(e);
      if (job.signal.aborted) throw new TandemError(GrpcCode.CANCELLED, 'request cancelled');
      const code = e instanceof TandemError ? e.codeName : grpcCodeName(e);
      if (RETRYABLE.has(code) && attempt < deps.maxRetries) {
        deps.log('warn', 'engine failed before the first token; retrying on another replica', { request_id: job.id, replica: lease.replica.id, error: (e as Error).message });
        deps.pool.markFailed(lease.replica, (e as Error).message);
        exclude.add(lease.replica.id);
        deps.metrics.retries.inc();
        continue;
      }
      if (code === 'INVALID_ARGUMENT') throw new TandemError(GrpcCode.INVALID_ARGUMENT, `engine rejected the request: ${(e as Error).message}`, { cause: e });
      if (code === 'DEADLINE_EXCEEDED') throw new TandemError(GrpcCode.DEADLINE_EXCEEDED, 'deadline exceeded before the first token', { cause: e });
      if (code === 'RESOURCE_EXHAUSTED') throw new TandemError(GrpcCode.RESOURCE_EXHAUSTED, 'the engine is out of capacity; retry later', { retryAfterSeconds: 1, cause: e });
      throw new TandemError(GrpcCode.UNAVAILABLE, `replica ${lease.replica.id} failed and no other replica could take the request; retry later`, { cause: e, retryAfterSeconds: 1 });
    }
    deps.prefixIndex.record(hashes, lease.replica.id);
    if (lease.affinityHit) deps.metrics.prefixHits.inc();
    deps.metrics.ttft.observe({ route: job.route }, (performance.now() - job.started) / 1000);
    deps.metrics.promptTokens.inc({ tenant: job.principal.tenant }, job.prompt.length);
    return { lease, first: first.value, rest: stream, cancel: () => cancel() };
  }
}

interface StreamState {
  readonly id: string;
  readonly lease: Lease;
  readonly first: EngineGenerateResponse;
  readonly rest: AsyncIterator<EngineGenerateResponse>;
  readonly context: ReturnType<typeof renderChatRequest>['context'];
  readonly promptTokens: number;
  readonly started: number;
  readonly cancel: () => void;
}

async function* streamEvents(deps: ChatServiceDeps, job: ChatJob, s: StreamState): AsyncGenerator<ChatStreamEvent> {
  const mode = job.request.citation_options?.mode === 'FAST' ? 'FAST' : 'ACCURATE';
  const parser = new Cmd3OutputParser({ context: s.context, citationMode: mode, id: s.id });
  const detok = deps.tokenizer.createDetokenizer();
  const stop = new StopMatcher(job.stopSequences);
  let completion = 0;
  let finish: FinishReason | 'CANCELLED' | undefined;
  let engineError: string | undefined;
  let firstTokenAt = 0;
  let lastTokenAt = 0;
  try {
    let msg: EngineGenerateResponse | undefined = s.first;
    while (msg) {
      if (msg.tokenIds.length > 0) {
        const now = performance.now();
        if (firstTokenAt === 0) firstTokenAt = now;
        lastTokenAt = now;
        completion += msg.tokenIds.length;
      }
      const text = stop.push(detok.push(msg.tokenIds));
      if (text) yield* parser.push(text);
      if (stop.stopped) {
        finish = 'STOP_SEQUENCE';
        break;
      }
      finish = engineFinish(msg.finishReason);
      if (finish) {
        if (finish === 'ERROR') engineError = msg.error || 'the engine failed while generating';
        if (msg.usage) completion = Math.max(completion, msg.usage.completionTokens);
        break;
      }
      let next: IteratorResult<EngineGenerateResponse>;
      try {
        next = await s.rest.next();
      } catch (e) {
        if (job.signal.aborted) return;
        if (grpcCodeName(e) === 'DEADLINE_EXCEEDED') {
          finish = 'TIMEOUT';
          break;
        }
        deps.pool.markFailed(s.lease.replica, (e as Error).message);
        deps.log('warn', 'engine failed mid-stream', { request_id: s.id, replica: s.lease.replica.id, error: (e as Error).message });
        throw new TandemError(GrpcCode.UNAVAILABLE, `replica ${s.lease.replica.id} failed after ${completion} tokens were streamed; the response is incomplete — retry the request`, { cause: e });
      }
      msg = next.done ? undefined : next.value;
      if (!msg) throw new TandemError(GrpcCode.UNAVAILABLE, `replica ${s.lease.replica.id} ended the stream without finishing; the response is incomplete — retry the request`);
    }
    // An engine-side failure is an error status, not a finish reason: the HTTP routes then answer
    // 5xx (or end the stream with an error event) instead of a 200 that looks complete.
    if (finish === 'CANCELLED') {
      if (job.signal.aborted) return;
      throw new TandemError(GrpcCode.UNAVAILABLE, `replica ${s.lease.replica.id} cancelled the request after ${completion} tokens (is it shutting down?); the response is incomplete — retry the request`);
    }
    if (engineError !== undefined) {
      throw new TandemError(GrpcCode.INTERNAL, `replica ${s.lease.replica.id} failed after ${completion} tokens: ${engineError}`);
    }
    const tail = stop.push(detok.finish()) + stop.flush();
    if (tail) yield* parser.push(tail);
    const usage: Usage = {
      billed_units: { input_tokens: s.promptTokens, output_tokens: completion },
      tokens: { input_tokens: s.promptTokens, output_tokens: completion },
    };
    for (const ev of parser.finish(finish ?? 'COMPLETE')) {
      if (ev.type === 'message-end') {
        yield { ...ev, delta: { ...ev.delta, usage } };
      } else {
        yield ev;
      }
    }
  } finally {
    s.cancel();
    deps.metrics.outputTokens.inc({ tenant: job.principal.tenant }, completion);
    deps.rateLimiter.charge(job.principal, completion);
    if (completion > 1 && lastTokenAt > firstTokenAt) deps.metrics.tpot.observe({ route: job.route }, (lastTokenAt - firstTokenAt) / 1000 / (completion - 1));
  }
}
