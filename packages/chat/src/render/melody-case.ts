// Reads a melody-style golden case (input.json: melody's render options) into Cmd3Options, so the
// same renderer that serves API requests can be checked against Cohere's golden renders. Also used
// by `tandem chat conformance`.
import { Template } from '@huggingface/jinja';
import { renderCmd3 } from './cmd3.js';
import type { Cmd3Citation, Cmd3Content, Cmd3Message, Cmd3Options, Cmd3SafetyMode } from './cmd3-types.js';

export class MelodyCaseError extends Error {
  override readonly name = 'MelodyCaseError';
}

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown, what: string): string => {
  if (typeof v !== 'string') throw new MelodyCaseError(`${what}: expected a string`);
  return v;
};

function content(blocks: unknown, at: string): Cmd3Content[] {
  return list(blocks).map((raw, i) => {
    if (!isRecord(raw)) throw new MelodyCaseError(`${at}.content[${i}]: expected an object`);
    switch (raw['type']) {
      case 'text':
        return { type: 'text', text: str(raw['text'], `${at}.content[${i}].text`) };
      case 'thinking':
        return { type: 'thinking', text: str(raw['thinking'], `${at}.content[${i}].thinking`) };
      case 'document':
        if (!isRecord(raw['document'])) throw new MelodyCaseError(`${at}.content[${i}].document: expected an object`);
        return { type: 'document', document: raw['document'] };
      default:
        throw new MelodyCaseError(`${at}.content[${i}].type: unsupported content type ${JSON.stringify(raw['type'])}`);
    }
  });
}

function citations(raw: unknown): Cmd3Citation[] {
  return list(raw).filter(isRecord).map((c) => ({
    start: Number(c['start_index']),
    end: Number(c['end_index']),
    isThinking: c['is_thinking'] === true,
    sources: list(c['sources']).filter(isRecord).map((s) => ({
      toolCallIndex: Number(s['tool_call_index']),
      resultIndices: list(s['tool_result_indices']).map(Number),
    })),
  }));
}

/** Converts melody render options into Cmd3Options (tool call ids renumbered as Cohere does). */
export function cmd3OptionsFromMelody(input: unknown): Cmd3Options {
  if (!isRecord(input)) throw new MelodyCaseError('input.json: expected an object');
  const documents = list(input['documents']).map((d, i) => {
    if (!isRecord(d)) throw new MelodyCaseError(`documents[${i}]: expected an object`);
    return d;
  });
  let next = documents.length > 0 ? 1 : 0;
  const ids = new Map<string, string>();
  const promptId = (id: string): string => {
    let p = ids.get(id);
    if (p === undefined) ids.set(id, (p = String(next++)));
    return p;
  };
  const messages: Cmd3Message[] = list(input['messages']).map((raw, i) => {
    const at = `messages[${i}]`;
    if (!isRecord(raw)) throw new MelodyCaseError(`${at}: expected an object`);
    const role = str(raw['role'], `${at}.role`).toLowerCase();
    const blocks = content(raw['content'], at);
    if (role === 'user' || role === 'system') return { role, content: blocks };
    if (role === 'chatbot') {
      const toolCalls = list(raw['tool_calls']).filter(isRecord).map((c, j) => ({
        id: promptId(str(c['id'], `${at}.tool_calls[${j}].id`)),
        name: str(c['name'], `${at}.tool_calls[${j}].name`),
        parameters: JSON.parse(str(c['parameters'], `${at}.tool_calls[${j}].parameters`)) as unknown,
      }));
      return { role, content: blocks, toolCalls, citations: citations(raw['citations']) };
    }
    if (role === 'tool') return { role, toolCallId: promptId(str(raw['tool_call_id'], `${at}.tool_call_id`)), content: blocks };
    throw new MelodyCaseError(`${at}.role: unknown role ${JSON.stringify(raw['role'])}`);
  });
  const reasoning = input['reasoning_type'];
  const escaped = input['escaped_special_tokens'];
  return {
    messages,
    documents,
    tools: list(input['available_tools']).filter(isRecord).map((t, i) => ({
      name: str(t['name'], `available_tools[${i}].name`),
      description: typeof t['description'] === 'string' ? t['description'] : '',
      parameters: t['parameters'] ?? {},
    })),
    preamble: typeof input['dev_instruction'] === 'string' ? input['dev_instruction'] : undefined,
    skipPreamble: input['skip_preamble'] === true,
    safetyMode: (typeof input['safety_mode'] === 'string' ? input['safety_mode'].toUpperCase() : 'CONTEXTUAL') as Cmd3SafetyMode,
    citations: String(input['citation_quality'] ?? 'on').toLowerCase() !== 'off',
    reasoning: reasoning === 'enabled',
    skipThinking: reasoning === 'disabled',
    jsonMode: input['json_mode'] === true,
    jsonSchema: typeof input['json_schema'] === 'string' ? input['json_schema'] : undefined,
    responsePrefix: typeof input['response_prefix'] === 'string' ? input['response_prefix'] : undefined,
    escapedSpecialTokens: isRecord(escaped) ? (escaped as Record<string, string>) : undefined,
  };
}

/**
 * Renders a melody golden case. A case with its own `template` is rendered through Jinja (melody's
 * Liquid templates of that shape are valid Jinja): roles upper-case, content items as {type, data}.
 */
export function renderMelodyCase(input: unknown): string {
  const opts = cmd3OptionsFromMelody(input);
  const template = isRecord(input) ? input['template'] : undefined;
  if (typeof template !== 'string') return renderCmd3(opts).text;
  // @huggingface/jinja always trims the first newline after a block tag (trim_blocks); Liquid keeps
  // it, so double it to survive. (lstrip_blocks differences remain: a documented limitation.)
  const liquidLike = template.replace(/([^-])%\}\n/g, '$1%}\n\n');
  return new Template(liquidLike).render({
    preamble: opts.preamble ?? '',
    messages: opts.messages.map((m) => ({
      role: m.role.toUpperCase(),
      content: m.content.map((c) => ({ type: c.type, data: c.type === 'document' ? JSON.stringify(c.document) : c.text })),
    })),
  });
}
