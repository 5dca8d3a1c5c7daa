// Cohere Chat API v2 request (POST /v2/chat), mirroring cohere-openapi.yaml for the fields Tandem
// supports. Every object is strict: an unknown field is an error that names the field. Checks that
// need the whole request (tool-call pairing, duplicate ids, sizes, surrogates…) live in validate.ts.
import { z } from 'zod';

export const TextContentSchema = z.strictObject({ type: z.literal('text'), text: z.string() });
export type TextContent = z.infer<typeof TextContentSchema>;

export const ThinkingContentSchema = z.strictObject({ type: z.literal('thinking'), thinking: z.string() });
export type ThinkingContent = z.infer<typeof ThinkingContentSchema>;

/** A document: free-form fields (`data`) and an optional client id (auto `doc:<n>` when absent). */
export const DocumentSchema = z.strictObject({
  id: z.string().min(1).optional(),
  data: z.record(z.string(), z.unknown()),
});
export type Document = z.infer<typeof DocumentSchema>;

export const DocumentContentSchema = z.strictObject({ type: z.literal('document'), document: DocumentSchema });
export type DocumentContent = z.infer<typeof DocumentContentSchema>;

// Tool and function names end up verbatim inside the JSON of the prompt; keep them to a safe set.
export const ToolNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 characters of letters, digits, "_", "-" or "."');

export const ToolCallSchema = z.strictObject({
  id: z.string().min(1),
  type: z.literal('function'),
  function: z.strictObject({
    name: ToolNameSchema,
    /** The call's arguments as JSON text (an object). */
    arguments: z.string(),
  }),
});
export type ToolCall = z.infer<typeof ToolCallSchema>;

export const CitationSourceSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('tool'), id: z.string(), tool_output: z.record(z.string(), z.unknown()).optional() }),
  z.strictObject({ type: z.literal('document'), id: z.string(), document: z.record(z.string(), z.unknown()).optional() }),
]);
export type CitationSource = z.infer<typeof CitationSourceSchema>;

export const CitationTypeSchema = z.enum(['TEXT_CONTENT', 'THINKING_CONTENT', 'PLAN']);

/** Citation span: `start`/`end` are Unicode code-point offsets into the cited content, end exclusive. */
export const CitationSchema = z.strictObject({
  start: z.int().min(0),
  end: z.int().min(0),
  text: z.string(),
  sources: z.array(CitationSourceSchema),
  content_index: z.int().min(0).optional(),
  type: CitationTypeSchema.optional(),
});
export type Citation = z.infer<typeof CitationSchema>;

export const SystemMessageSchema = z.strictObject({
  role: z.literal('system'),
  content: z.union([z.string(), z.array(TextContentSchema)]),
});
export const UserMessageSchema = z.strictObject({
  role: z.literal('user'),
  content: z.union([z.string(), z.array(TextContentSchema)]),
});
export const AssistantMessageSchema = z.strictObject({
  role: z.literal('assistant'),
  content: z.union([z.string(), z.array(z.discriminatedUnion('type', [TextContentSchema, ThinkingContentSchema]))]).optional(),
  tool_plan: z.string().optional(),
  tool_calls: z.array(ToolCallSchema).optional(),
  citations: z.array(CitationSchema).optional(),
});
export const ToolMessageSchema = z.strictObject({
  role: z.literal('tool'),
  tool_call_id: z.string().min(1),
  content: z.union([z.string(), z.array(z.discriminatedUnion('type', [TextContentSchema, DocumentContentSchema]))]),
});

export const ChatMessageSchema = z.discriminatedUnion('role', [
  SystemMessageSchema,
  UserMessageSchema,
  AssistantMessageSchema,
  ToolMessageSchema,
]);
export type ChatMessage = z.infer<typeof ChatMessageSchema>;
export type SystemMessage = z.infer<typeof SystemMessageSchema>;
export type UserMessage = z.infer<typeof UserMessageSchema>;
export type AssistantMessage = z.infer<typeof AssistantMessageSchema>;
export type ToolMessage = z.infer<typeof ToolMessageSchema>;

export const ToolSchema = z.strictObject({
  type: z.literal('function'),
  function: z.strictObject({
    name: ToolNameSchema,
    description: z.string().optional(),
    /** JSON Schema of the arguments object. */
    parameters: z.record(z.string(), z.unknown()),
  }),
});
export type Tool = z.infer<typeof ToolSchema>;

export const CitationModeSchema = z.enum(['ENABLED', 'DISABLED', 'FAST', 'ACCURATE', 'OFF']);
export type CitationMode = z.infer<typeof CitationModeSchema>;

export const ResponseFormatSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text') }),
  z.strictObject({ type: z.literal('json_object'), json_schema: z.record(z.string(), z.unknown()).optional() }),
]);
export type ResponseFormat = z.infer<typeof ResponseFormatSchema>;

export const SafetyModeSchema = z.enum(['CONTEXTUAL', 'STRICT', 'OFF']);
export type SafetyMode = z.infer<typeof SafetyModeSchema>;

export const ThinkingSchema = z.strictObject({
  type: z.enum(['enabled', 'disabled']),
  token_budget: z.int().min(1).optional(),
});

export const ChatRequestSchema = z.strictObject({
  model: z.string().min(1),
  messages: z.array(ChatMessageSchema).min(1),
  stream: z.boolean().optional(),
  tools: z.array(ToolSchema).optional(),
  strict_tools: z.boolean().optional(),
  documents: z.array(z.union([z.string(), DocumentSchema])).optional(),
  citation_options: z.strictObject({ mode: CitationModeSchema.optional() }).optional(),
  response_format: ResponseFormatSchema.optional(),
  safety_mode: SafetyModeSchema.optional(),
  max_tokens: z.int().min(1).optional(),
  stop_sequences: z.array(z.string().min(1)).max(5).optional(),
  temperature: z.number().min(0).max(1).optional(),
  seed: z.int().min(0).optional(),
  frequency_penalty: z.number().min(0).max(1).optional(),
  presence_penalty: z.number().min(0).max(1).optional(),
  k: z.int().min(0).max(500).optional(),
  p: z.number().min(0.01).max(0.99).optional(),
  logprobs: z.boolean().optional(),
  tool_choice: z.enum(['REQUIRED', 'NONE']).optional(),
  thinking: ThinkingSchema.optional(),
  priority: z.int().min(0).max(999).optional(),
});
export type ChatRequest = z.infer<typeof ChatRequestSchema>;

/** A list of documents as the request's `documents` field takes them (strings or {id?, data}). */
export const DocumentListSchema = z.array(z.union([z.string(), DocumentSchema]));
