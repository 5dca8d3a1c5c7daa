// Raw completion (tandem.v1 Generate): a text prompt (tokenized as plain text, no chat template) or
// token ids → engine → token batches with their incremental text. Stop sequences end the stream
// (text before them is kept), like Chat; failover before the first token is shared with Chat.
import { randomUUID } from 'node:crypto';
import { tandemV1, engineV1 } from '@tandem/proto';
import type { Principal } from './auth.js';
import { type ChatServiceDeps, grpcCodeName, openEngineStream } from './chat-service.js';
import type { EngineGenerateResponse } from './engine-client.js';
import { GrpcCode, TandemError, type TraceContext } from '@tandem/kit';
import { StopMatcher } from './stop-sequences.js';

export interface GenerateJob {
  readonly request: tandemV1.GenerateRequest;
  readonly principal: Principal;
  readonly signal: AbortSignal;
  readonly deadline?: number;
  readonly requestId?: string;
  /** The request's server span context. */
  readonly trace?: TraceContext;
}

/** Every problem of a Generate request, with its field path. */
export function checkGenerate(r: tandemV1.GenerateRequest, vocabSize: number | undefined, maxSeqLen: number): string[] {
  const issues: string[] = [];
  const hasText = r.prompt !== undefined;
  if (hasText === r.promptTokens.length > 0) issues.push('prompt: exactly one of prompt or prompt_tokens is required');
  if (hasText && r.prompt === '') issues.push('prompt: must not be empty');
  if (vocabSize !== undefined) r.promptTokens.forEach((t, i) => { if (t >= vocabSize) issues.push(`prompt_tokens[${i}]: token id ${t} is outside the vocabulary (size ${vocabSize})`); });
  if (r.maxTokens < 1) issues.push('max_tokens: must be >= 1');
  if (r.maxTokens > maxSeqLen) issues.push(`max_tokens: must be <= the model's context of ${maxSeqLen}`);
  if (r.stopSequences.length > 8) issues.push('stop_sequences: at most 8');
  r.stopSequences.forEach((s, i) => { if (s === '') issues.push(`stop_sequences[${i}]: must not be empty`); });
  if (r.priority !== undefined && r.priority > 999) issues.push('priority: must be 0..999');
  const sp = r.sampling;
  if (sp?.temperature !== undefined && !(sp.temperature >= 0 && sp.temperature <= 2)) issues.push('sampling.temperature: must be 0..2');
  if (sp?.topP !== undefined && !(sp.topP > 0 && sp.topP <= 1)) issues.push('sampling.top_p: must be in (0, 1]');
  if (sp?.topLogprobs !== undefined && sp.topLogprobs > 20) issues.push('sampling.top_logprobs: must be 0..20');
  return issues;
}

const FINISH: Record<number, tandemV1.FinishReason> = {
  [engineV1.FinishReason.FINISH_REASON_LENGTH]: tandemV1.FinishReason.FINISH_REASON_MAX_TOKENS,
  [engineV1.FinishReason.FINISH_REASON_STOP]: tandemV1.FinishReason.FINISH_REASON_COMPLETE,
  [engineV1.FinishReason.FINISH_REASON_ERROR]: tandemV1.FinishReason.FINISH_REASON_ERROR,
  [engineV1.FinishReason.FINISH_REASON_CANCELLED]: tandemV1.FinishReason.FINISH_REASON_ERROR,
};

export async function startGenerate(deps: ChatServiceDeps, job: GenerateJob): Promise<{ replica: string; id: string; events: AsyncGenerator<tandemV1.GenerateEvent>; cancel: () => void }> {
  const started = performance.now();
  const info = deps.pool.info();
  if (!info) throw new TandemError(GrpcCode.UNAVAILABLE, 'no replica is ready yet; retry later', { retryAfterSeconds: 1 });
  const r = job.request;
  const issues = checkGenerate(r, deps.vocabSize, info.maxSeqLen);
  const prompt = r.prompt !== undefined ? deps.tokenizer.encode(r.prompt) : r.promptTokens;
  if (issues.length === 0 && prompt.length + r.maxTokens > info.maxSeqLen) {
    issues.push(`max_tokens: ${r.maxTokens} after a ${prompt.length}-token prompt exceeds the model's context of ${info.maxSeqLen} tokens`);
  }
  if (issues.length > 0) throw new TandemError(GrpcCode.INVALID_ARGUMENT, 'invalid generate request', { issues });
  const id = job.requestId ?? randomUUID();
  const sp = r.sampling;
  const opened = await openEngineStream(deps, {
    id, route: 'grpc-generate', prompt, maxTokens: r.maxTokens, started,
    sampling: { ...(sp ?? {}), topLogprobs: sp?.topLogprobs ?? 0 },
    stopTokenIds: r.stopTokenIds.length > 0 ? r.stopTokenIds : [], ignoreEos: r.ignoreEos ?? false,
    principal: job.principal, priority: r.priority ?? 0, signal: job.signal, ...(job.deadline !== undefined ? { deadline: job.deadline } : {}),
    ...(job.trace ? { trace: job.trace } : {}),
  });
  async function* events(): AsyncGenerator<tandemV1.GenerateEvent> {
    const detok = deps.tokenizer.createDetokenizer();
    const stop = new StopMatcher(r.stopSequences);
    let completion = 0;
    try {
      for (let msg: EngineGenerateResponse | undefined = opened.first; msg; ) {
        completion += msg.tokenIds.length;
        const text = stop.push(detok.push(msg.tokenIds));
        const usage = { inputTokens: prompt.length, outputTokens: completion, billedInputTokens: prompt.length, billedOutputTokens: completion, cachedTokens: 0 };
        if (stop.stopped) {
          yield tandemV1.GenerateEvent.fromPartial({ tokenIds: msg.tokenIds, text, finishReason: tandemV1.FinishReason.FINISH_REASON_STOP_SEQUENCE, usage });
          return;
        }
        const finish = FINISH[msg.finishReason];
        const tail = finish !== undefined ? stop.push(detok.finish()) + stop.flush() : '';
        yield tandemV1.GenerateEvent.fromPartial({
          tokenIds: msg.tokenIds, text: text + tail, ...(r.logprobs ? { logprobs: msg.logprobs, top: msg.top } : {}),
          ...(finish !== undefined ? { finishReason: finish, usage, ...(msg.error ? { error: msg.error } : {}) } : {}),
        });
        if (finish !== undefined) return;
        let next: IteratorResult<EngineGenerateResponse>;
        try {
          next = await opened.rest.next();
        } catch (e) {
          if (job.signal.aborted) return;
          if (grpcCodeName(e) === 'DEADLINE_EXCEEDED') throw new TandemError(GrpcCode.DEADLINE_EXCEEDED, 'deadline exceeded while generating');
          deps.pool.markFailed(opened.lease.replica, (e as Error).message);
          throw new TandemError(GrpcCode.UNAVAILABLE, `replica ${opened.lease.replica.id} failed after ${completion} tokens were streamed; the output is incomplete — retry the request`, { cause: e });
        }
        if (next.done) throw new TandemError(GrpcCode.UNAVAILABLE, `replica ${opened.lease.replica.id} ended the stream without finishing`);
        msg = next.value;
      }
    } finally {
      opened.cancel();
      deps.metrics.outputTokens.inc({ tenant: job.principal.tenant }, completion);
      deps.rateLimiter.charge(job.principal, completion);
    }
  }
  return { replica: opened.lease.replica.id, id, events: events(), cancel: opened.cancel };
}
