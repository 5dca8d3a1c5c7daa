// Cohere Chat v2 request (the @tandem/schemas shape, snake_case) ⇄ tandem.v1.ChatRequest.
// The router turns a proto request back into the Cohere shape and validates it with the same
// validateChatRequest the HTTP edge uses, so gRPC and HTTP report the same field paths
// ("messages[1].tool_calls[0].function.arguments: is not valid JSON").
import {
  formatIssuePath,
  validateChatRequest,
  DEFAULT_CHAT_LIMITS,
  type ChatLimits,
  type ChatMessage,
  type ChatRequest,
  type ChatRequestValidation,
  type Citation,
} from '@tandem/schemas';
import * as pb from '../gen/tandem/v1/tandem.js';

type Path = (string | number)[];
type Json = Record<string, unknown>;

/** Enum tables: Cohere string ⇄ proto number. Zero (*_UNSPECIFIED) means "not set". */
const ROLES = { system: pb.Role.ROLE_SYSTEM, user: pb.Role.ROLE_USER, assistant: pb.Role.ROLE_ASSISTANT, tool: pb.Role.ROLE_TOOL } as const;
const SAFETY = { CONTEXTUAL: pb.SafetyMode.SAFETY_MODE_CONTEXTUAL, STRICT: pb.SafetyMode.SAFETY_MODE_STRICT, OFF: pb.SafetyMode.SAFETY_MODE_OFF } as const;
const TOOL_CHOICE = { REQUIRED: pb.ToolChoice.TOOL_CHOICE_REQUIRED, NONE: pb.ToolChoice.TOOL_CHOICE_NONE } as const;
const CITATION_MODE = {
  ENABLED: pb.CitationMode.CITATION_MODE_ENABLED,
  DISABLED: pb.CitationMode.CITATION_MODE_DISABLED,
  FAST: pb.CitationMode.CITATION_MODE_FAST,
  ACCURATE: pb.CitationMode.CITATION_MODE_ACCURATE,
  OFF: pb.CitationMode.CITATION_MODE_OFF,
} as const;
const CITATION_TYPE = {
  TEXT_CONTENT: pb.CitationType.CITATION_TYPE_TEXT_CONTENT,
  THINKING_CONTENT: pb.CitationType.CITATION_TYPE_THINKING_CONTENT,
  PLAN: pb.CitationType.CITATION_TYPE_PLAN,
} as const;
const RESPONSE_FORMAT = { text: pb.ResponseFormatType.RESPONSE_FORMAT_TYPE_TEXT, json_object: pb.ResponseFormatType.RESPONSE_FORMAT_TYPE_JSON_OBJECT } as const;
const THINKING = { enabled: pb.ThinkingType.THINKING_TYPE_ENABLED, disabled: pb.ThinkingType.THINKING_TYPE_DISABLED } as const;

function invert<K extends string>(table: Record<K, number>): Map<number, K> {
  return new Map(Object.entries(table).map(([k, v]) => [v as number, k as K]));
}
const ROLE_NAMES = invert(ROLES);
const SAFETY_NAMES = invert(SAFETY);
const TOOL_CHOICE_NAMES = invert(TOOL_CHOICE);
const CITATION_MODE_NAMES = invert(CITATION_MODE);
const CITATION_TYPE_NAMES = invert(CITATION_TYPE);
const RESPONSE_FORMAT_NAMES = invert(RESPONSE_FORMAT);
const THINKING_NAMES = invert(THINKING);

function contentToProto(content: ChatMessage['content']): pb.Content[] {
  if (content === undefined) return [];
  if (typeof content === 'string') return [{ text: content }];
  return content.map((b): pb.Content => {
    switch (b.type) {
      case 'text':
        return { text: b.text };
      case 'thinking':
        return { thinking: b.thinking };
      case 'document':
        return { document: { id: b.document.id, dataJson: JSON.stringify(b.document.data) } };
    }
  });
}

export function citationToProto(c: Citation): pb.Citation {
  return {
    start: c.start,
    end: c.end,
    text: c.text,
    sources: c.sources.map((s) => ({
      type: s.type === 'tool' ? pb.CitationSourceType.CITATION_SOURCE_TYPE_TOOL : pb.CitationSourceType.CITATION_SOURCE_TYPE_DOCUMENT,
      id: s.id,
      dataJson: s.type === 'tool' ? json(s.tool_output) : json(s.document),
    })),
    contentIndex: c.content_index,
    type: c.type === undefined ? pb.CitationType.CITATION_TYPE_UNSPECIFIED : CITATION_TYPE[c.type],
  };
}

function json(v: unknown): string | undefined {
  return v === undefined ? undefined : JSON.stringify(v);
}

function messageToProto(m: ChatMessage): pb.Message {
  const out: pb.Message = { role: ROLES[m.role], content: contentToProto(m.content), toolCalls: [], citations: [] };
  if (m.role === 'assistant') {
    out.toolPlan = m.tool_plan;
    out.toolCalls = (m.tool_calls ?? []).map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments }));
    out.citations = (m.citations ?? []).map(citationToProto);
  }
  if (m.role === 'tool') out.toolCallId = m.tool_call_id;
  return out;
}

/** A validated Cohere Chat v2 request → the proto message (what the SDK sends). `stream` is implied. */
export function chatRequestToProto(req: ChatRequest): pb.ChatRequest {
  return {
    model: req.model,
    messages: req.messages.map(messageToProto),
    documents: (req.documents ?? []).map((d) => (typeof d === 'string' ? { text: d } : { id: d.id, dataJson: JSON.stringify(d.data) })),
    tools: (req.tools ?? []).map((t) => ({ name: t.function.name, description: t.function.description, parametersJson: JSON.stringify(t.function.parameters) })),
    strictTools: req.strict_tools,
    toolChoice: req.tool_choice === undefined ? pb.ToolChoice.TOOL_CHOICE_UNSPECIFIED : TOOL_CHOICE[req.tool_choice],
    responseFormat:
      req.response_format === undefined
        ? undefined
        : { type: RESPONSE_FORMAT[req.response_format.type], jsonSchema: req.response_format.type === 'json_object' ? json(req.response_format.json_schema) : undefined },
    safetyMode: req.safety_mode === undefined ? pb.SafetyMode.SAFETY_MODE_UNSPECIFIED : SAFETY[req.safety_mode],
    citationMode: req.citation_options?.mode === undefined ? pb.CitationMode.CITATION_MODE_UNSPECIFIED : CITATION_MODE[req.citation_options.mode],
    maxTokens: req.max_tokens,
    stopSequences: req.stop_sequences ?? [],
    temperature: req.temperature,
    seed: req.seed,
    frequencyPenalty: req.frequency_penalty,
    presencePenalty: req.presence_penalty,
    k: req.k,
    p: req.p,
    logprobs: req.logprobs,
    thinking: req.thinking === undefined ? undefined : { type: THINKING[req.thinking.type], tokenBudget: req.thinking.token_budget },
    priority: req.priority,
  };
}

/** Collects "path: message" issues while decoding. */
class Issues {
  readonly lines: string[] = [];
  add(path: Path, message: string): void {
    this.lines.push(`${formatIssuePath(path)}: ${message}`);
  }
  /** A proto enum value: zero → undefined (unset), unknown → an issue naming the allowed names. */
  enumValue<K extends string>(names: Map<number, K>, value: number, path: Path, prefix: string): K | undefined {
    if (value === 0) return undefined;
    const name = names.get(value);
    if (name === undefined) this.add(path, `unknown enum value ${value} (expected one of ${[...names.keys()].map((k) => `${prefix}${String(names.get(k)).toUpperCase()}`).join(', ')})`);
    return name;
  }
  /** JSON text that must hold an object; a bad one becomes an issue and `{}` so checks go on. */
  object(text: string, path: Path): Json {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      this.add(path, 'is not valid JSON');
      return {};
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      this.add(path, 'must be a JSON object');
      return {};
    }
    return v as Json;
  }
}

function documentFromProto(d: pb.Document, path: Path, issues: Issues): unknown {
  if (d.text !== undefined) {
    if (d.id !== undefined) return { id: d.id, data: { text: d.text } };
    return d.text;
  }
  if (d.dataJson === undefined) {
    issues.add(path, 'set text or data_json');
    return { data: {} };
  }
  const out: Json = { data: issues.object(d.dataJson, [...path, 'data']) };
  if (d.id !== undefined) out['id'] = d.id;
  return out;
}

function contentFromProto(blocks: pb.Content[], path: Path, issues: Issues): unknown[] {
  return blocks.map((b, j) => {
    const at = [...path, j];
    if (b.text !== undefined) return { type: 'text', text: b.text };
    if (b.thinking !== undefined) return { type: 'thinking', thinking: b.thinking };
    if (b.document !== undefined) return { type: 'document', document: documentFromProto(b.document, [...at, 'document'], issues) };
    issues.add(at, 'empty content block (set text, thinking or document)');
    return { type: 'text', text: '' };
  });
}

function citationFromProto(c: pb.Citation, path: Path, issues: Issues): Json {
  const out: Json = {
    start: c.start,
    end: c.end,
    text: c.text,
    sources: c.sources.map((s, k) => {
      const at = [...path, 'sources', k];
      const type = s.type === pb.CitationSourceType.CITATION_SOURCE_TYPE_TOOL ? 'tool' : s.type === pb.CitationSourceType.CITATION_SOURCE_TYPE_DOCUMENT ? 'document' : undefined;
      if (type === undefined) issues.add([...at, 'type'], 'must be CITATION_SOURCE_TYPE_TOOL or CITATION_SOURCE_TYPE_DOCUMENT');
      const src: Json = { type: type ?? 'document', id: s.id };
      if (s.dataJson !== undefined) src[type === 'tool' ? 'tool_output' : 'document'] = issues.object(s.dataJson, [...at, type === 'tool' ? 'tool_output' : 'document']);
      return src;
    }),
  };
  if (c.contentIndex !== undefined) out['content_index'] = c.contentIndex;
  const type = issues.enumValue(CITATION_TYPE_NAMES, c.type, [...path, 'type'], 'CITATION_TYPE_');
  if (type !== undefined) out['type'] = type;
  return out;
}

function messageFromProto(m: pb.Message, i: number, issues: Issues): Json {
  const path: Path = ['messages', i];
  const role = m.role === 0 ? undefined : ROLE_NAMES.get(m.role);
  if (role === undefined) issues.add([...path, 'role'], m.role === 0 ? 'is required (ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT or ROLE_TOOL)' : `unknown enum value ${m.role}`);
  const out: Json = { role: role ?? 'user' };
  if (m.content.length > 0 || role !== 'assistant') out['content'] = contentFromProto(m.content, [...path, 'content'], issues);
  // Fields a role does not take are passed on so the schema names them as unknown fields.
  if (m.toolPlan !== undefined) out['tool_plan'] = m.toolPlan;
  if (m.toolCalls.length > 0) {
    out['tool_calls'] = m.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
  }
  if (m.citations.length > 0) out['citations'] = m.citations.map((c, k) => citationFromProto(c, [...path, 'citations', k], issues));
  if (m.toolCallId !== undefined) out['tool_call_id'] = m.toolCallId;
  return out;
}

/**
 * Proto → the Cohere-shaped JSON (not yet validated) plus the issues only the proto form can have
 * (bad JSON text, unknown enum numbers, empty oneofs). Feed `request` to validateChatRequest.
 */
export function chatRequestFromProto(msg: pb.ChatRequest): { request: Json; issues: string[] } {
  const issues = new Issues();
  const r: Json = { model: msg.model, messages: msg.messages.map((m, i) => messageFromProto(m, i, issues)) };
  if (msg.documents.length > 0) r['documents'] = msg.documents.map((d, i) => documentFromProto(d, ['documents', i], issues));
  if (msg.tools.length > 0) {
    r['tools'] = msg.tools.map((t, i) => {
      const fn: Json = { name: t.name, parameters: issues.object(t.parametersJson, ['tools', i, 'function', 'parameters']) };
      if (t.description !== undefined) fn['description'] = t.description;
      return { type: 'function', function: fn };
    });
  }
  if (msg.strictTools !== undefined) r['strict_tools'] = msg.strictTools;
  const toolChoice = issues.enumValue(TOOL_CHOICE_NAMES, msg.toolChoice, ['tool_choice'], 'TOOL_CHOICE_');
  if (toolChoice !== undefined) r['tool_choice'] = toolChoice;
  if (msg.responseFormat !== undefined) {
    const type = issues.enumValue(RESPONSE_FORMAT_NAMES, msg.responseFormat.type, ['response_format', 'type'], 'RESPONSE_FORMAT_TYPE_');
    if (type === undefined && msg.responseFormat.type === 0) issues.add(['response_format', 'type'], 'is required');
    const rf: Json = { type: type ?? 'text' };
    if (msg.responseFormat.jsonSchema !== undefined) rf['json_schema'] = issues.object(msg.responseFormat.jsonSchema, ['response_format', 'json_schema']);
    r['response_format'] = rf;
  }
  const safety = issues.enumValue(SAFETY_NAMES, msg.safetyMode, ['safety_mode'], 'SAFETY_MODE_');
  if (safety !== undefined) r['safety_mode'] = safety;
  const citationMode = issues.enumValue(CITATION_MODE_NAMES, msg.citationMode, ['citation_options', 'mode'], 'CITATION_MODE_');
  if (citationMode !== undefined) r['citation_options'] = { mode: citationMode };
  const scalars: [keyof pb.ChatRequest, string][] = [
    ['maxTokens', 'max_tokens'], ['temperature', 'temperature'], ['seed', 'seed'], ['frequencyPenalty', 'frequency_penalty'],
    ['presencePenalty', 'presence_penalty'], ['k', 'k'], ['p', 'p'], ['logprobs', 'logprobs'], ['priority', 'priority'],
  ];
  for (const [from, to] of scalars) if (msg[from] !== undefined) r[to] = msg[from];
  if (msg.stopSequences.length > 0) r['stop_sequences'] = msg.stopSequences;
  if (msg.thinking !== undefined) {
    const type = issues.enumValue(THINKING_NAMES, msg.thinking.type, ['thinking', 'type'], 'THINKING_TYPE_');
    if (type === undefined && msg.thinking.type === 0) issues.add(['thinking', 'type'], 'is required');
    const th: Json = { type: type ?? 'disabled' };
    if (msg.thinking.tokenBudget !== undefined) th['token_budget'] = msg.thinking.tokenBudget;
    r['thinking'] = th;
  }
  return { request: r, issues: issues.lines };
}

/** Proto → a validated ChatRequest, or every issue (proto-level and schema-level) with its path. */
export function parseProtoChatRequest(msg: pb.ChatRequest, limits: ChatLimits = DEFAULT_CHAT_LIMITS): ChatRequestValidation {
  const { request, issues } = chatRequestFromProto(msg);
  const checked = validateChatRequest(request, limits);
  if (issues.length === 0) return checked;
  const all = [...issues];
  if (!checked.ok) for (const line of checked.issues) if (!all.includes(line)) all.push(line);
  return { ok: false, issues: all };
}
