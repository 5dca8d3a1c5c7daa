// Maps a validated Chat v2 request onto the cmd3 renderer's options, following Cohere's behaviour:
// first system message = developer preamble, tool-call ids renumbered to small integers (documents
// take 0), safety forced to CONTEXTUAL with tools/documents, citations on unless OFF/DISABLED.
import type { ChatRequest, ChatMessage } from '@tandem/schemas';
import { CMD3_TOKENS, renderCmd3 } from './cmd3.js';
import type { Cmd3Citation, Cmd3Content, Cmd3Message, Cmd3Options, Cmd3SafetyMode, RenderedPrompt } from './cmd3-types.js';

/** A document with its resolved API id (client id, else `doc:<index>`). */
export interface ResolvedDocument {
  readonly id: string;
  readonly data: Record<string, unknown>;
}

/** What the output parser needs to turn prompt-level references back into API ids. */
export interface ChatContext {
  readonly documents: readonly ResolvedDocument[];
  /** Tool results by prompt tool-call id, in result order; bucket "0" is the documents when present. */
  readonly toolResults: ReadonlyMap<string, readonly { readonly apiId: string; readonly output: Record<string, unknown> }[]>;
  /** Text the prompt ends with after the generation prompt (the parser starts in its state). */
  readonly prefill: string;
  /** Whether citations are enabled. */
  readonly citations: boolean;
}

export interface PreparedChat {
  readonly options: Cmd3Options;
  readonly context: ChatContext;
}

function texts(content: ChatMessage['content']): Cmd3Content[] {
  if (content === undefined) return [];
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  return content.map((c): Cmd3Content => {
    if (c.type === 'text') return { type: 'text', text: c.text };
    if (c.type === 'thinking') return { type: 'thinking', text: c.thinking };
    return { type: 'document', document: c.document.data };
  });
}

export function prepareCmd3(req: ChatRequest): PreparedChat {
  const documents: ResolvedDocument[] = (req.documents ?? []).map((d, i) =>
    typeof d === 'string' ? { id: `doc:${i}`, data: { text: d } } : { id: d.id ?? `doc:${i}`, data: d.data },
  );
  const docIndex = new Map(documents.map((d, i) => [d.id, i]));
  let next = documents.length > 0 ? 1 : 0;
  const toPrompt = new Map<string, string>();
  const promptId = (apiId: string): string => {
    let p = toPrompt.get(apiId);
    if (p === undefined) toPrompt.set(apiId, (p = String(next++)));
    return p;
  };
  const toolResults = new Map<string, { apiId: string; output: Record<string, unknown> }[]>();
  if (documents.length > 0) toolResults.set('0', documents.map((d) => ({ apiId: d.id, output: d.data })));

  let preamble: string | undefined;
  const messages: Cmd3Message[] = [];
  req.messages.forEach((m, i) => {
    if (m.role === 'system') {
      const text = texts(m.content).map((c) => c.text ?? '').join('\n');
      if (i === 0) preamble = text;
      else messages.push({ role: 'system', content: [{ type: 'text', text }] });
    } else if (m.role === 'user') {
      messages.push({ role: 'user', content: texts(m.content) });
    } else if (m.role === 'assistant') {
      const calls = m.tool_calls ?? [];
      const citations = mapCitations(m.citations ?? [], docIndex, toPrompt);
      if (calls.length > 0) {
        const plan = m.tool_plan ?? texts(m.content).find((c) => c.type === 'text')?.text;
        messages.push({
          role: 'chatbot',
          content: plan !== undefined ? [{ type: 'text', text: plan }] : [],
          toolCalls: calls.map((c) => ({ id: promptId(c.id), name: c.function.name, parameters: JSON.parse(c.function.arguments) as unknown })),
          citations,
        });
      } else {
        messages.push({ role: 'chatbot', content: texts(m.content), citations });
      }
    } else {
      const id = promptId(m.tool_call_id);
      const content = texts(m.content);
      messages.push({ role: 'tool', toolCallId: id, content });
      const bucket = toolResults.get(id) ?? [];
      for (const c of content) {
        bucket.push({ apiId: `${m.tool_call_id}:${bucket.length}`, output: c.type === 'document' ? (c.document ?? {}) : { content: c.text ?? '' } });
      }
      toolResults.set(id, bucket);
    }
  });

  const grounded = documents.length > 0 || (req.tools ?? []).length > 0;
  const safety: Cmd3SafetyMode = grounded ? 'CONTEXTUAL' : req.safety_mode === 'OFF' ? 'NONE' : (req.safety_mode ?? 'CONTEXTUAL');
  const mode = req.citation_options?.mode;
  const citations = mode !== 'OFF' && mode !== 'DISABLED';
  const rf = req.response_format;
  const prefill = req.tool_choice === 'REQUIRED' ? CMD3_TOKENS.startAction : req.tool_choice === 'NONE' ? CMD3_TOKENS.startResponse : '';
  const options: Cmd3Options = {
    messages,
    documents: documents.map((d) => d.data),
    tools: (req.tools ?? []).map((t) => ({ name: t.function.name, description: t.function.description ?? '', parameters: t.function.parameters })),
    preamble,
    safetyMode: safety,
    citations,
    reasoning: req.thinking?.type === 'enabled',
    skipThinking: req.thinking?.type === 'disabled',
    jsonMode: rf?.type === 'json_object',
    jsonSchema: rf?.type === 'json_object' && rf.json_schema ? JSON.stringify(rf.json_schema, null, 4) : undefined,
    responsePrefix: prefill || undefined,
  };
  return { options, context: { documents, toolResults, prefill, citations } };
}

function mapCitations(
  list: NonNullable<Extract<ChatMessage, { role: 'assistant' }>['citations']>,
  docIndex: ReadonlyMap<string, number>,
  toPrompt: ReadonlyMap<string, string>,
): Cmd3Citation[] {
  const out: Cmd3Citation[] = [];
  for (const c of list) {
    const buckets = new Map<number, number[]>();
    for (const s of c.sources) {
      let bucket: number | undefined;
      let index: number | undefined;
      if (s.type === 'document') {
        bucket = 0;
        index = docIndex.get(s.id);
      } else {
        const cut = s.id.lastIndexOf(':');
        const p = cut > 0 ? toPrompt.get(s.id.slice(0, cut)) : undefined;
        bucket = p === undefined ? undefined : Number(p);
        index = cut > 0 ? Number(s.id.slice(cut + 1)) : undefined;
      }
      if (bucket === undefined || index === undefined || !Number.isInteger(index)) continue; // unknown source: dropped
      buckets.set(bucket, [...(buckets.get(bucket) ?? []), index]);
    }
    if (buckets.size === 0) continue;
    out.push({
      start: c.start,
      end: c.end,
      isThinking: c.type === 'THINKING_CONTENT' || c.type === 'PLAN',
      sources: [...buckets].map(([toolCallIndex, resultIndices]) => ({ toolCallIndex, resultIndices })),
    });
  }
  return out;
}

/** Validated request → rendered cmd3 prompt plus the context the output parser needs. */
export function renderChatRequest(req: ChatRequest): { prompt: RenderedPrompt; context: ChatContext } {
  const prepared = prepareCmd3(req);
  return { prompt: renderCmd3(prepared.options), context: prepared.context };
}
