// Folds a Chat v2 event stream into the non-streaming response (the same content, ids, citations,
// finish reason and usage a client would assemble from the stream).
import type { ChatResponse, ChatStreamEvent, Citation, ToolCall } from '@tandem/schemas';

export function collectChatResponse(events: readonly ChatStreamEvent[]): ChatResponse {
  let id = '';
  const content: { type: 'text' | 'thinking'; text: string }[] = [];
  const calls: ToolCall[] = [];
  const citations: Citation[] = [];
  let plan = '';
  let finish: ChatResponse['finish_reason'] = 'COMPLETE';
  let usage: ChatResponse['usage'];
  for (const ev of events) {
    switch (ev.type) {
      case 'message-start':
        id = ev.id ?? id;
        break;
      case 'content-start': {
        const c = ev.delta.message.content;
        content[ev.index] = { type: c.type, text: (c.type === 'thinking' ? c.thinking : c.text) ?? '' };
        break;
      }
      case 'content-delta': {
        const c = content[ev.index];
        if (c) c.text += (c.type === 'thinking' ? ev.delta.message.content.thinking : ev.delta.message.content.text) ?? '';
        break;
      }
      case 'tool-plan-delta':
        plan += ev.delta.message.tool_plan;
        break;
      case 'tool-call-start': {
        const t = ev.delta.message.tool_calls;
        calls[ev.index] = { id: t.id, type: 'function', function: { name: t.function.name, arguments: t.function.arguments } };
        break;
      }
      case 'tool-call-delta': {
        const c = calls[ev.index];
        if (c) c.function.arguments += ev.delta.message.tool_calls.function.arguments;
        break;
      }
      case 'citation-start':
        citations.push(ev.delta.message.citations);
        break;
      case 'message-end':
        id = ev.id ?? id;
        finish = ev.delta.finish_reason;
        usage = ev.delta.usage;
        break;
      default:
        break;
    }
  }
  const blocks = content.filter((c) => c !== undefined).map((c) => (c.type === 'thinking' ? { type: 'thinking' as const, thinking: c.text } : { type: 'text' as const, text: c.text }));
  return {
    id,
    finish_reason: finish,
    message: {
      role: 'assistant',
      ...(blocks.length > 0 ? { content: blocks } : {}),
      ...(plan ? { tool_plan: plan } : {}),
      ...(calls.length > 0 ? { tool_calls: calls.filter((c) => c !== undefined) } : {}),
      ...(citations.length > 0 ? { citations } : {}),
    },
    ...(usage ? { usage } : {}),
  };
}

/** The error text of a message-end with finish_reason ERROR, if any. */
export function endError(events: readonly ChatStreamEvent[]): string | undefined {
  const end = events.find((e) => e.type === 'message-end');
  return end?.type === 'message-end' ? end.delta.error : undefined;
}
