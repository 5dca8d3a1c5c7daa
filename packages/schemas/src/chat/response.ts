// Cohere Chat API v2 non-streaming response and SSE stream events (cohere-openapi.yaml:
// the /v2/chat response and StreamedChatResponseV2).
import { z } from 'zod';
import { CitationSchema, TextContentSchema, ThinkingContentSchema, ToolCallSchema } from './request.js';

export const FinishReasonSchema = z.enum(['COMPLETE', 'STOP_SEQUENCE', 'MAX_TOKENS', 'TOOL_CALL', 'ERROR', 'TIMEOUT']);
export type FinishReason = z.infer<typeof FinishReasonSchema>;

export const UsageSchema = z.strictObject({
  billed_units: z
    .strictObject({
      input_tokens: z.int().min(0).optional(),
      output_tokens: z.int().min(0).optional(),
      search_units: z.int().min(0).optional(),
      classifications: z.int().min(0).optional(),
    })
    .optional(),
  tokens: z.strictObject({ input_tokens: z.int().min(0).optional(), output_tokens: z.int().min(0).optional() }).optional(),
  cached_tokens: z.int().min(0).optional(),
});
export type Usage = z.infer<typeof UsageSchema>;

export const LogprobItemSchema = z.strictObject({
  text: z.string().optional(),
  token_ids: z.array(z.int()),
  logprobs: z.array(z.number()).optional(),
});

export const AssistantMessageResponseSchema = z.strictObject({
  role: z.literal('assistant'),
  content: z.array(z.discriminatedUnion('type', [TextContentSchema, ThinkingContentSchema])).optional(),
  tool_plan: z.string().optional(),
  tool_calls: z.array(ToolCallSchema).optional(),
  citations: z.array(CitationSchema).optional(),
});

export const ChatResponseSchema = z.strictObject({
  id: z.string(),
  finish_reason: FinishReasonSchema,
  message: AssistantMessageResponseSchema,
  usage: UsageSchema.optional(),
  logprobs: z.array(LogprobItemSchema).optional(),
});
export type ChatResponse = z.infer<typeof ChatResponseSchema>;

const index = z.int().min(0);

export const MessageStartEventSchema = z.strictObject({
  type: z.literal('message-start'),
  id: z.string().optional(),
  delta: z.strictObject({ message: z.strictObject({ role: z.literal('assistant') }) }),
});
export const ContentStartEventSchema = z.strictObject({
  type: z.literal('content-start'),
  index,
  delta: z.strictObject({
    message: z.strictObject({
      content: z.strictObject({ type: z.enum(['text', 'thinking']), text: z.string().optional(), thinking: z.string().optional() }),
    }),
  }),
});
export const ContentDeltaEventSchema = z.strictObject({
  type: z.literal('content-delta'),
  index,
  delta: z.strictObject({
    message: z.strictObject({ content: z.strictObject({ text: z.string().optional(), thinking: z.string().optional() }) }),
  }),
  logprobs: LogprobItemSchema.optional(),
});
export const ContentEndEventSchema = z.strictObject({ type: z.literal('content-end'), index });
export const ToolPlanDeltaEventSchema = z.strictObject({
  type: z.literal('tool-plan-delta'),
  delta: z.strictObject({ message: z.strictObject({ tool_plan: z.string() }) }),
});
export const ToolCallStartEventSchema = z.strictObject({
  type: z.literal('tool-call-start'),
  index,
  delta: z.strictObject({
    message: z.strictObject({
      tool_calls: z.strictObject({
        id: z.string(),
        type: z.literal('function'),
        function: z.strictObject({ name: z.string(), arguments: z.string() }),
      }),
    }),
  }),
});
export const ToolCallDeltaEventSchema = z.strictObject({
  type: z.literal('tool-call-delta'),
  index,
  delta: z.strictObject({
    message: z.strictObject({ tool_calls: z.strictObject({ function: z.strictObject({ arguments: z.string() }) }) }),
  }),
});
export const ToolCallEndEventSchema = z.strictObject({ type: z.literal('tool-call-end'), index });
export const CitationStartEventSchema = z.strictObject({
  type: z.literal('citation-start'),
  index,
  delta: z.strictObject({ message: z.strictObject({ citations: CitationSchema }) }),
});
export const CitationEndEventSchema = z.strictObject({ type: z.literal('citation-end'), index });
export const MessageEndEventSchema = z.strictObject({
  type: z.literal('message-end'),
  id: z.string().optional(),
  delta: z.strictObject({
    finish_reason: FinishReasonSchema,
    usage: UsageSchema.optional(),
    error: z.string().optional(),
  }),
});
export const DebugEventSchema = z.strictObject({ type: z.literal('debug'), prompt: z.string().optional() });

export const ChatStreamEventSchema = z.discriminatedUnion('type', [
  MessageStartEventSchema,
  ContentStartEventSchema,
  ContentDeltaEventSchema,
  ContentEndEventSchema,
  ToolPlanDeltaEventSchema,
  ToolCallStartEventSchema,
  ToolCallDeltaEventSchema,
  ToolCallEndEventSchema,
  CitationStartEventSchema,
  CitationEndEventSchema,
  MessageEndEventSchema,
  DebugEventSchema,
]);
export type ChatStreamEvent = z.infer<typeof ChatStreamEventSchema>;
