// Cohere Chat v2 stream events (@tandem/schemas ChatStreamEvent) ⇄ tandem.v1.ChatEvent, and the
// collector that folds a stream of events into the non-streaming ChatResponse.
import type { ChatResponse, ChatStreamEvent, Citation, FinishReason, ToolCall, Usage } from '@tandem/schemas';
import * as pb from '../gen/tandem/v1/tandem.js';
import { citationToProto } from './chat-request.js';

const FINISH = {
  COMPLETE: pb.FinishReason.FINISH_REASON_COMPLETE,
  STOP_SEQUENCE: pb.FinishReason.FINISH_REASON_STOP_SEQUENCE,
  MAX_TOKENS: pb.FinishReason.FINISH_REASON_MAX_TOKENS,
  TOOL_CALL: pb.FinishReason.FINISH_REASON_TOOL_CALL,
  ERROR: pb.FinishReason.FINISH_REASON_ERROR,
  TIMEOUT: pb.FinishReason.FINISH_REASON_TIMEOUT,
} as const satisfies Record<FinishReason, pb.FinishReason>;
const FINISH_NAMES = new Map<number, FinishReason>(Object.entries(FINISH).map(([k, v]) => [v as number, k as FinishReason]));

export function finishReasonToProto(r: FinishReason): pb.FinishReason {
  return FINISH[r];
}
/** Unknown or unset → ERROR (a stream that ends without a reason did not complete). */
export function finishReasonFromProto(r: pb.FinishReason): FinishReason {
  return FINISH_NAMES.get(r) ?? 'ERROR';
}

export function usageToProto(u: Usage | undefined): pb.Usage {
  return {
    inputTokens: u?.tokens?.input_tokens ?? 0,
    outputTokens: u?.tokens?.output_tokens ?? 0,
    billedInputTokens: u?.billed_units?.input_tokens ?? 0,
    billedOutputTokens: u?.billed_units?.output_tokens ?? 0,
    cachedTokens: u?.cached_tokens ?? 0,
  };
}
export function usageFromProto(u: pb.Usage): Usage {
  return {
    billed_units: { input_tokens: u.billedInputTokens, output_tokens: u.billedOutputTokens },
    tokens: { input_tokens: u.inputTokens, output_tokens: u.outputTokens },
    cached_tokens: u.cachedTokens,
  };
}

function citationFromProto(c: pb.Citation): Citation {
  const out: Citation = {
    start: c.start,
    end: c.end,
    text: c.text,
    sources: c.sources.map((s) => {
      const data = s.dataJson === undefined ? undefined : (JSON.parse(s.dataJson) as Record<string, unknown>);
      if (s.type === pb.CitationSourceType.CITATION_SOURCE_TYPE_TOOL) return data === undefined ? { type: 'tool', id: s.id } : { type: 'tool', id: s.id, tool_output: data };
      return data === undefined ? { type: 'document', id: s.id } : { type: 'document', id: s.id, document: data };
    }),
  };
  if (c.contentIndex !== undefined) out.content_index = c.contentIndex;
  const type = ({ 1: 'TEXT_CONTENT', 2: 'THINKING_CONTENT', 3: 'PLAN' } as const)[c.type as 1 | 2 | 3];
  if (type !== undefined) out.type = type;
  return out;
}

/** One Cohere stream event → its proto case; `debug` events are not sent over gRPC (undefined). */
export function chatEventToProto(ev: ChatStreamEvent): pb.ChatEvent | undefined {
  switch (ev.type) {
    case 'message-start':
      return { messageStart: { id: ev.id ?? '' } };
    case 'content-start':
      return { contentStart: { index: ev.index, type: ev.delta.message.content.type === 'thinking' ? pb.ContentType.CONTENT_TYPE_THINKING : pb.ContentType.CONTENT_TYPE_TEXT } };
    case 'content-delta': {
      const c = ev.delta.message.content;
      const thinking = c.thinking !== undefined;
      const lp = ev.logprobs;
      return {
        contentDelta: {
          index: ev.index,
          type: thinking ? pb.ContentType.CONTENT_TYPE_THINKING : pb.ContentType.CONTENT_TYPE_TEXT,
          text: (thinking ? c.thinking : c.text) ?? '',
          logprobs: lp === undefined ? undefined : { text: lp.text, tokenIds: lp.token_ids, logprobs: lp.logprobs ?? [] },
        },
      };
    }
    case 'content-end':
      return { contentEnd: { index: ev.index } };
    case 'tool-plan-delta':
      return { toolPlanDelta: { text: ev.delta.message.tool_plan } };
    case 'tool-call-start': {
      const c = ev.delta.message.tool_calls;
      return { toolCallStart: { index: ev.index, id: c.id, name: c.function.name, arguments: c.function.arguments } };
    }
    case 'tool-call-delta':
      return { toolCallDelta: { index: ev.index, arguments: ev.delta.message.tool_calls.function.arguments } };
    case 'tool-call-end':
      return { toolCallEnd: { index: ev.index } };
    case 'citation-start':
      return { citationStart: { index: ev.index, citation: citationToProto(ev.delta.message.citations) } };
    case 'citation-end':
      return { citationEnd: { index: ev.index } };
    case 'message-end':
      return {
        messageEnd: { id: ev.id ?? '', finishReason: FINISH[ev.delta.finish_reason], usage: usageToProto(ev.delta.usage), error: ev.delta.error },
      };
    case 'debug':
      return undefined;
  }
}

/** A proto event → the Cohere stream event; throws TypeError on an event with no case set. */
export function chatEventFromProto(ev: pb.ChatEvent): ChatStreamEvent {
  if (ev.messageStart) return { type: 'message-start', id: ev.messageStart.id, delta: { message: { role: 'assistant' } } };
  if (ev.contentStart) {
    const type = ev.contentStart.type === pb.ContentType.CONTENT_TYPE_THINKING ? 'thinking' : 'text';
    return { type: 'content-start', index: ev.contentStart.index, delta: { message: { content: type === 'thinking' ? { type, thinking: '' } : { type, text: '' } } } };
  }
  if (ev.contentDelta) {
    const d = ev.contentDelta;
    const content = d.type === pb.ContentType.CONTENT_TYPE_THINKING ? { thinking: d.text } : { text: d.text };
    const out: ChatStreamEvent = { type: 'content-delta', index: d.index, delta: { message: { content } } };
    if (d.logprobs) {
      out.logprobs = { token_ids: d.logprobs.tokenIds, logprobs: d.logprobs.logprobs };
      if (d.logprobs.text !== undefined) out.logprobs.text = d.logprobs.text;
    }
    return out;
  }
  if (ev.contentEnd) return { type: 'content-end', index: ev.contentEnd.index };
  if (ev.toolPlanDelta) return { type: 'tool-plan-delta', delta: { message: { tool_plan: ev.toolPlanDelta.text } } };
  if (ev.toolCallStart) {
    const c = ev.toolCallStart;
    return { type: 'tool-call-start', index: c.index, delta: { message: { tool_calls: { id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } } } } };
  }
  if (ev.toolCallDelta) return { type: 'tool-call-delta', index: ev.toolCallDelta.index, delta: { message: { tool_calls: { function: { arguments: ev.toolCallDelta.arguments } } } } };
  if (ev.toolCallEnd) return { type: 'tool-call-end', index: ev.toolCallEnd.index };
  if (ev.citationStart) {
    return { type: 'citation-start', index: ev.citationStart.index, delta: { message: { citations: citationFromProto(ev.citationStart.citation ?? { start: 0, end: 0, text: '', sources: [], type: 0 }) } } };
  }
  if (ev.citationEnd) return { type: 'citation-end', index: ev.citationEnd.index };
  if (ev.messageEnd) {
    const m = ev.messageEnd;
    const delta: { finish_reason: FinishReason; usage?: Usage; error?: string } = { finish_reason: finishReasonFromProto(m.finishReason) };
    if (m.usage) delta.usage = usageFromProto(m.usage);
    if (m.error !== undefined) delta.error = m.error;
    return { type: 'message-end', id: m.id, delta };
  }
  throw new TypeError('chat event has no case set');
}

/**
 * Folds stream events into the non-streaming Chat v2 response (what `stream: false` returns):
 * text/thinking contents in order, the tool plan, complete tool calls, citations, usage, finish.
 */
export class ChatResponseCollector {
  private id = '';
  private readonly contents: ({ type: 'text'; text: string } | { type: 'thinking'; thinking: string })[] = [];
  private toolPlan: string | undefined;
  private readonly toolCalls: ToolCall[] = [];
  private readonly citations: Citation[] = [];
  private readonly logprobs: NonNullable<ChatResponse['logprobs']> = [];
  private finish: FinishReason | undefined;
  private usage: Usage | undefined;
  private error: string | undefined;

  add(ev: ChatStreamEvent): void {
    switch (ev.type) {
      case 'message-start':
        this.id = ev.id ?? this.id;
        break;
      case 'content-start': {
        const c = ev.delta.message.content;
        this.contents[ev.index] = c.type === 'thinking' ? { type: 'thinking', thinking: c.thinking ?? '' } : { type: 'text', text: c.text ?? '' };
        break;
      }
      case 'content-delta': {
        const block = (this.contents[ev.index] ??= { type: 'text', text: '' });
        const d = ev.delta.message.content;
        if (block.type === 'thinking') block.thinking += d.thinking ?? d.text ?? '';
        else block.text += d.text ?? d.thinking ?? '';
        if (ev.logprobs) this.logprobs.push(ev.logprobs);
        break;
      }
      case 'tool-plan-delta':
        this.toolPlan = (this.toolPlan ?? '') + ev.delta.message.tool_plan;
        break;
      case 'tool-call-start': {
        const c = ev.delta.message.tool_calls;
        this.toolCalls[ev.index] = { id: c.id, type: 'function', function: { name: c.function.name, arguments: c.function.arguments } };
        break;
      }
      case 'tool-call-delta': {
        const call = this.toolCalls[ev.index];
        if (call) call.function.arguments += ev.delta.message.tool_calls.function.arguments;
        break;
      }
      case 'citation-start':
        this.citations.push(ev.delta.message.citations);
        break;
      case 'message-end':
        this.id = ev.id ?? this.id;
        this.finish = ev.delta.finish_reason;
        this.usage = ev.delta.usage;
        this.error = ev.delta.error;
        break;
      default:
        break;
    }
  }

  /** True once message-end arrived. */
  get done(): boolean {
    return this.finish !== undefined;
  }
  /** The error message carried by message-end (finish_reason ERROR), if any. */
  get errorMessage(): string | undefined {
    return this.error;
  }

  response(): ChatResponse {
    const message: ChatResponse['message'] = { role: 'assistant' };
    const contents = this.contents.filter((c) => c !== undefined);
    if (contents.length > 0) message.content = contents;
    if (this.toolPlan !== undefined) message.tool_plan = this.toolPlan;
    const calls = this.toolCalls.filter((c) => c !== undefined);
    if (calls.length > 0) message.tool_calls = calls;
    if (this.citations.length > 0) message.citations = this.citations;
    const out: ChatResponse = { id: this.id, finish_reason: this.finish ?? 'ERROR', message };
    if (this.usage) out.usage = this.usage;
    if (this.logprobs.length > 0) out.logprobs = this.logprobs;
    return out;
  }
}
