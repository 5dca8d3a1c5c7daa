// OpenAI Chat Completions (POST /v1/chat/completions) on top of the Chat v2 pipeline: the request is
// mapped onto a Cohere v2 request (message indices preserved, so issue paths like
// `messages[2].tool_call_id` point at the client's own message) plus engine sampling; Chat v2 events
// are mapped back to chat.completion / chat.completion.chunk objects.
// Choices (vLLM / OpenAI behaviour where Cohere differs): temperature 0..2 and penalties -2..2 go to
// the engine unchanged; n must be 1; unknown fields are ignored like OpenAI-compatible servers do;
// a forced tool choice ({type:"function"}) becomes Cohere's REQUIRED (the model may pick any tool).
import { z } from 'zod';
import { type ChatRequest, type ChatStreamEvent, type FinishReason, type Usage, validateChatRequest, zodIssueLines } from '@tandem/schemas';
import type { engineV1 } from '@tandem/proto';
import { GrpcCode, TandemError } from '@tandem/kit';

const TextPart = z.object({ type: z.literal('text'), text: z.string() });
const Content = z.union([z.string(), z.array(TextPart)]);
const ToolCallIn = z.object({
  id: z.string().min(1),
  type: z.literal('function'),
  function: z.object({ name: z.string(), arguments: z.string() }),
});

const MessageIn = z.discriminatedUnion('role', [
  z.object({ role: z.literal('system'), content: Content, name: z.string().optional() }),
  z.object({ role: z.literal('developer'), content: Content, name: z.string().optional() }),
  z.object({ role: z.literal('user'), content: Content, name: z.string().optional() }),
  z.object({
    role: z.literal('assistant'),
    content: Content.nullable().optional(),
    tool_calls: z.array(ToolCallIn).optional(),
    name: z.string().optional(),
    refusal: z.string().nullable().optional(),
  }),
  z.object({ role: z.literal('tool'), content: Content, tool_call_id: z.string().min(1) }),
]);

export const OpenAIChatRequestSchema = z.object({
  model: z.string().min(1),
  messages: z.array(MessageIn).min(1),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullable().optional(),
  max_tokens: z.int().min(1).nullable().optional(),
  max_completion_tokens: z.int().min(1).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().gt(0).max(1).nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  seed: z.int().min(0).nullable().optional(),
  n: z.literal(1, { message: 'only n = 1 is supported' }).nullable().optional(),
  stop: z.union([z.string().min(1), z.array(z.string().min(1)).max(4)]).nullable().optional(),
  tools: z.array(z.object({
    type: z.literal('function'),
    function: z.object({ name: z.string(), description: z.string().optional(), parameters: z.record(z.string(), z.unknown()).optional(), strict: z.boolean().nullable().optional() }),
  })).optional(),
  tool_choice: z.union([
    z.enum(['none', 'auto', 'required']),
    z.object({ type: z.literal('function'), function: z.object({ name: z.string() }) }),
  ]).optional(),
  response_format: z.discriminatedUnion('type', [
    z.object({ type: z.literal('text') }),
    z.object({ type: z.literal('json_object') }),
    z.object({ type: z.literal('json_schema'), json_schema: z.object({ name: z.string(), schema: z.record(z.string(), z.unknown()).optional(), strict: z.boolean().nullable().optional() }) }),
  ]).optional(),
  user: z.string().optional(),
  // Tandem extension (also read by vLLM-style clients): 0 most urgent … 999.
  priority: z.int().min(0).max(999).optional(),
});
export type OpenAIChatRequest = z.infer<typeof OpenAIChatRequestSchema>;

export interface MappedOpenAIRequest {
  readonly chat: ChatRequest;
  readonly sampling: Partial<engineV1.SamplingParams>;
  readonly maxTokens?: number;
  readonly stop: string[];
  readonly includeUsage: boolean;
  readonly stream: boolean;
}

const text = (c: z.infer<typeof Content> | null | undefined): string => (c == null ? '' : typeof c === 'string' ? c : c.map((p) => p.text).join(''));

/** OpenAI messages → Chat v2 messages, index for index (so issue paths match the client's). */
function mapMessages(list: readonly z.infer<typeof MessageIn>[]): unknown[] {
  return list.map((m) => {
    switch (m.role) {
      case 'system':
      case 'developer':
        return { role: 'system' as const, content: text(m.content) };
      case 'user':
        return { role: 'user' as const, content: text(m.content) };
      case 'assistant': {
        const t = text(m.content);
        return {
          role: 'assistant' as const,
          ...(t !== '' ? { content: t } : {}),
          ...(m.tool_calls && m.tool_calls.length > 0 ? { tool_calls: m.tool_calls.map((c) => ({ id: c.id, type: 'function' as const, function: c.function })) } : {}),
        };
      }
      case 'tool':
        return { role: 'tool' as const, tool_call_id: m.tool_call_id, content: text(m.content) };
    }
  });
}

/** Parses and maps; throws INVALID_ARGUMENT with every problem and its path. */
export function mapOpenAIRequest(raw: unknown): { mapped: MappedOpenAIRequest; chat: unknown } {
  const r = OpenAIChatRequestSchema.safeParse(raw);
  if (!r.success) {
    // Report the conversation's semantic problems too (tool-call pairing…) when the messages parse.
    const issues = zodIssueLines(r.error);
    const msgs = z.array(MessageIn).min(1).safeParse((raw as { messages?: unknown } | null)?.messages);
    if (msgs.success) {
      const v = validateChatRequest({ model: 'm', messages: mapMessages(msgs.data) });
      if (!v.ok) issues.push(...v.issues.filter((i) => i.startsWith('messages') && !issues.includes(i)));
    }
    throw new TandemError(GrpcCode.INVALID_ARGUMENT, 'invalid chat completion request', { issues });
  }
  const req = r.data;
  const messages = mapMessages(req.messages);
  const rf = req.response_format;

  const chat = {
    model: req.model,
    messages,
    ...(req.tools ? { tools: req.tools.map((t) => ({ type: 'function', function: { name: t.function.name, ...(t.function.description !== undefined ? { description: t.function.description } : {}), parameters: t.function.parameters ?? { type: 'object', properties: {} } } })) } : {}),
    ...(req.tool_choice === 'none' ? { tool_choice: 'NONE' } : req.tool_choice === 'required' || typeof req.tool_choice === 'object' ? { tool_choice: 'REQUIRED' } : {}),
    ...(rf?.type === 'json_object' ? { response_format: { type: 'json_object' } } : {}),
    ...(rf?.type === 'json_schema' ? { response_format: { type: 'json_object', ...(rf.json_schema.schema ? { json_schema: rf.json_schema.schema } : {}) } } : {}),
    ...(req.priority !== undefined ? { priority: req.priority } : {}),
    citation_options: { mode: 'OFF' }, // OpenAI has no citations: keep the prompt free of the grounding section
  };
  const stop = req.stop == null ? [] : typeof req.stop === 'string' ? [req.stop] : req.stop;
  const maxTokens = req.max_completion_tokens ?? req.max_tokens ?? undefined;
  const sampling: Partial<engineV1.SamplingParams> = {
    temperature: req.temperature ?? 1, // OpenAI's default
    ...(req.top_p != null ? { topP: req.top_p } : {}),
    ...(req.frequency_penalty != null ? { frequencyPenalty: req.frequency_penalty } : {}),
    ...(req.presence_penalty != null ? { presencePenalty: req.presence_penalty } : {}),
    ...(req.seed != null ? { seed: req.seed } : {}),
  };
  return {
    chat,
    mapped: {
      chat: chat as ChatRequest, sampling, ...(maxTokens != null ? { maxTokens } : {}), stop,
      includeUsage: req.stream_options?.include_usage ?? false, stream: req.stream ?? false,
    },
  };
}

export function openAIFinish(f: FinishReason): 'stop' | 'length' | 'tool_calls' | 'content_filter' {
  switch (f) {
    case 'MAX_TOKENS': return 'length';
    case 'TOOL_CALL': return 'tool_calls';
    default: return 'stop';
  }
}

export function openAIUsage(u: Usage | undefined): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  const p = u?.tokens?.input_tokens ?? 0;
  const c = u?.tokens?.output_tokens ?? 0;
  return { prompt_tokens: p, completion_tokens: c, total_tokens: p + c };
}

interface ChunkBase {
  readonly id: string;
  readonly model: string;
  readonly created: number;
}

/** Maps Chat v2 events to chat.completion.chunk objects, one call per event. */
export class OpenAIChunker {
  private readonly base: ChunkBase;
  private toolIndex = new Map<number, number>();

  constructor(base: ChunkBase, private readonly includeUsage: boolean) {
    this.base = base;
  }

  private chunk(delta: Record<string, unknown>, finish: string | null = null): Record<string, unknown> {
    return { id: this.base.id, object: 'chat.completion.chunk', created: this.base.created, model: this.base.model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] };
  }

  map(ev: ChatStreamEvent): Record<string, unknown>[] {
    switch (ev.type) {
      case 'message-start':
        return [this.chunk({ role: 'assistant', content: '' })];
      case 'content-delta': {
        const t = ev.delta.message.content.text;
        return t ? [this.chunk({ content: t })] : []; // thinking is not part of OpenAI's content
      }
      case 'tool-call-start': {
        const i = this.toolIndex.size;
        this.toolIndex.set(ev.index, i);
        const t = ev.delta.message.tool_calls;
        return [this.chunk({ tool_calls: [{ index: i, id: t.id, type: 'function', function: { name: t.function.name, arguments: t.function.arguments } }] })];
      }
      case 'tool-call-delta':
        return [this.chunk({ tool_calls: [{ index: this.toolIndex.get(ev.index) ?? 0, function: { arguments: ev.delta.message.tool_calls.function.arguments } }] })];
      case 'message-end': {
        const out = [this.chunk({}, openAIFinish(ev.delta.finish_reason))];
        if (this.includeUsage) out.push({ id: this.base.id, object: 'chat.completion.chunk', created: this.base.created, model: this.base.model, choices: [], usage: openAIUsage(ev.delta.usage) });
        return out;
      }
      default:
        return [];
    }
  }
}

/** The non-streaming chat.completion object. */
export function openAICompletion(base: ChunkBase, events: readonly ChatStreamEvent[]): Record<string, unknown> {
  let content = '';
  const calls: { id: string; type: 'function'; function: { name: string; arguments: string } }[] = [];
  const byIndex = new Map<number, (typeof calls)[number]>();
  let finish: FinishReason = 'COMPLETE';
  let usage: Usage | undefined;
  for (const ev of events) {
    if (ev.type === 'content-delta') content += ev.delta.message.content.text ?? '';
    else if (ev.type === 'tool-call-start') {
      const t = ev.delta.message.tool_calls;
      const c = { id: t.id, type: 'function' as const, function: { name: t.function.name, arguments: t.function.arguments } };
      calls.push(c);
      byIndex.set(ev.index, c);
    } else if (ev.type === 'tool-call-delta') {
      const c = byIndex.get(ev.index);
      if (c) c.function.arguments += ev.delta.message.tool_calls.function.arguments;
    } else if (ev.type === 'message-end') {
      finish = ev.delta.finish_reason;
      usage = ev.delta.usage;
    }
  }
  return {
    id: base.id, object: 'chat.completion', created: base.created, model: base.model,
    choices: [{
      index: 0,
      message: { role: 'assistant', content: calls.length > 0 && content === '' ? null : content, refusal: null, ...(calls.length > 0 ? { tool_calls: calls } : {}) },
      logprobs: null,
      finish_reason: openAIFinish(finish),
    }],
    usage: openAIUsage(usage),
  };
}
