import { describe, expect, it } from 'vitest';
import { ChatStreamEventSchema, ChatResponseSchema } from './response.js';
import { findInvalidUtf8, validateChatRequest, validateChatRequestBody } from './validate.js';

type Req = Record<string, unknown>;
const base = (): Req => ({
  model: 'command-a',
  messages: [{ role: 'user', content: 'What is the weather?' }],
});
const withTool = (): Req => ({
  model: 'command-a',
  tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }],
  messages: [
    { role: 'user', content: 'Weather in Paris?' },
    { role: 'assistant', tool_plan: 'I will call it', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
    { role: 'tool', tool_call_id: 'c1', content: [{ type: 'document', document: { data: { temp: '20C' } } }] },
  ],
});

function issuesOf(req: unknown): string[] {
  const r = validateChatRequest(req);
  if (r.ok) throw new Error('expected the request to be rejected');
  return r.issues;
}

// [name, request, expected "path: message" fragments]
const bad: [string, () => unknown, string[]][] = [
  ['not an object', () => 42, ['(root)']],
  ['missing model', () => ({ messages: base()['messages'] }), ['model:']],
  ['empty model', () => ({ ...base(), model: '' }), ['model:']],
  ['missing messages', () => ({ model: 'x' }), ['messages:']],
  ['empty messages', () => ({ ...base(), messages: [] }), ['messages:']],
  ['unknown top-level field', () => ({ ...base(), temprature: 0.5 }), ['temprature: unknown field']],
  ['unknown message field', () => ({ ...base(), messages: [{ role: 'user', content: 'hi', name: 'bob' }] }), ['messages[0].name: unknown field']],
  ['unknown role', () => ({ ...base(), messages: [{ role: 'chatbot', content: 'hi' }] }), ['messages[0].role']],
  ['missing role', () => ({ ...base(), messages: [{ content: 'hi' }] }), ['messages[0].role']],
  ['user content wrong type', () => ({ ...base(), messages: [{ role: 'user', content: 7 }] }), ['messages[0].content']],
  ['empty user content', () => ({ ...base(), messages: [{ role: 'user', content: '' }] }), ['messages[0].content: user message content must not be empty']],
  ['unknown content block type', () => ({ ...base(), messages: [{ role: 'user', content: [{ type: 'audio', text: 'x' }] }] }), ['messages[0].content']],
  ['text block missing text', () => ({ ...base(), messages: [{ role: 'user', content: [{ type: 'text' }] }] }), ['messages[0].content']],
  ['assistant without content or calls', () => ({ ...base(), messages: [{ role: 'user', content: 'a' }, { role: 'assistant' }, { role: 'user', content: 'b' }] }), ['messages[1]: assistant message needs content or tool_calls']],
  ['tool call without tool result', () => { const r = withTool(); (r['messages'] as unknown[]).pop(); return r; }, ['messages[1].tool_calls[0]: tool call "c1" has no tool result']],
  ['tool call result missing before next user turn', () => { const r = withTool(); const m = r['messages'] as unknown[]; m.splice(2, 1, { role: 'user', content: 'and?' }, m[2]); return r; }, ['messages[1].tool_calls[0]: tool call "c1" has no tool result']],
  ['tool result for unknown id', () => { const r = withTool(); (r['messages'] as Req[])[2]!['tool_call_id'] = 'zzz'; return r; }, ['messages[2].tool_call_id: tool result for unknown tool call id "zzz"']],
  ['duplicate tool call ids', () => { const r = withTool(); const m = r['messages'] as Req[]; (m[1]!['tool_calls'] as unknown[]).push({ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }); return r; }, ['messages[1].tool_calls[1].id: duplicate tool call id "c1"']],
  ['duplicate tool ids across turns', () => { const r = withTool(); const m = r['messages'] as unknown[]; m.push(m[1], m[2]); return r; }, ['messages[3].tool_calls[0].id: duplicate tool call id "c1" (first used at messages[1].tool_calls[0])']],
  ['tool arguments not JSON', () => { const r = withTool(); ((r['messages'] as Req[])[1]!['tool_calls'] as Req[])[0]!['function'] = { name: 'get_weather', arguments: '{city:' }; return r; }, ['messages[1].tool_calls[0].function.arguments: is not valid JSON']],
  ['tool arguments not an object', () => { const r = withTool(); ((r['messages'] as Req[])[1]!['tool_calls'] as Req[])[0]!['function'] = { name: 'get_weather', arguments: '[1]' }; return r; }, ['messages[1].tool_calls[0].function.arguments: must be a JSON object']],
  ['tool call wrong type', () => { const r = withTool(); ((r['messages'] as Req[])[1]!['tool_calls'] as Req[])[0]!['type'] = 'fn'; return r; }, ['messages[1].tool_calls[0].type']],
  ['tool message missing tool_call_id', () => { const r = withTool(); delete (r['messages'] as Req[])[2]!['tool_call_id']; return r; }, ['messages[2].tool_call_id']],
  ['tool_plan without tool_calls', () => ({ ...base(), messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'x', tool_plan: 'p' }, { role: 'user', content: 'b' }] }), ['messages[1].tool_plan: tool_plan given without tool_calls']],
  ['bad tool name', () => { const r = withTool(); ((r['tools'] as Req[])[0]!['function'] as Req)['name'] = 'get weather!'; return r; }, ['tools[0].function.name']],
  ['duplicate tool names', () => { const r = withTool(); (r['tools'] as unknown[]).push((r['tools'] as unknown[])[0]); return r; }, ['tools[1].function.name: duplicate tool name "get_weather"']],
  ['tool parameters unknown type', () => { const r = withTool(); ((r['tools'] as Req[])[0]!['function'] as Req)['parameters'] = { type: 'objekt' }; return r; }, ['tools[0].function.parameters.type: unknown JSON schema type "objekt"']],
  ['tool parameters required not in properties', () => { const r = withTool(); ((r['tools'] as Req[])[0]!['function'] as Req)['parameters'] = { type: 'object', properties: {}, required: ['city'] }; return r; }, ['tools[0].function.parameters.required[0]: required property "city" is not in properties']],
  ['tool missing parameters', () => { const r = withTool(); delete ((r['tools'] as Req[])[0]!['function'] as Req)['parameters']; return r; }, ['tools[0].function.parameters']],
  ['tool unknown field', () => { const r = withTool(); (r['tools'] as Req[])[0]!['strict'] = true; return r; }, ['tools[0].strict: unknown field']],
  ['document without text (object)', () => ({ ...base(), documents: [{ data: { n: 1 } }] }), ['documents[0]: document has no text']],
  ['document without text (string)', () => ({ ...base(), documents: ['   '] }), ['documents[0]: document has no text']],
  ['document missing data', () => ({ ...base(), documents: [{ id: 'a' }] }), ['documents[0]']],
  ['document unknown field', () => ({ ...base(), documents: [{ data: { text: 'x' }, title: 'y' }] }), ['documents[0].title: unknown field']],
  ['json schema not an object type', () => ({ ...base(), response_format: { type: 'json_object', json_schema: { type: 'array', items: { type: 'string' } } } }), ['response_format.json_schema.type: top-level json_schema type must be "object"']],
  ['json schema invalid nested type', () => ({ ...base(), response_format: { type: 'json_object', json_schema: { type: 'object', properties: { a: { type: 'str' } } } } }), ['response_format.json_schema.properties.a.type: unknown JSON schema type "str"']],
  ['json schema properties not object', () => ({ ...base(), response_format: { type: 'json_object', json_schema: { type: 'object', properties: [1] } } }), ['response_format.json_schema.properties: properties must be an object']],
  ['json schema enum empty', () => ({ ...base(), response_format: { type: 'json_object', json_schema: { type: 'object', properties: { a: { enum: [] } } } } }), ['response_format.json_schema.properties.a.enum: enum must be a non-empty array']],
  ['response_format unknown type', () => ({ ...base(), response_format: { type: 'xml' } }), ['response_format']],
  ['json mode with tools', () => ({ ...withTool(), response_format: { type: 'json_object' } }), ['response_format: json_object response_format cannot be combined with tools or documents']],
  ['oversized content', () => ({ ...base(), messages: [{ role: 'user', content: 'x'.repeat(1_000_001) }] }), ['messages[0].content: is too long: 1000001 characters']],
  ['oversized total', () => ({ ...base(), messages: Array.from({ length: 5 }, () => ({ role: 'user', content: 'y'.repeat(900_000) })) }), ['messages: request content is too large']],
  ['lone high surrogate', () => ({ ...base(), messages: [{ role: 'user', content: 'bad \uD83D here' }] }), ['messages[0].content: contains a lone UTF-16 surrogate']],
  ['lone low surrogate in document', () => ({ ...base(), documents: [{ data: { text: 'x\uDE00' } }] }), ['documents[0].data.text: contains a lone UTF-16 surrogate']],
  ['temperature out of range', () => ({ ...base(), temperature: 1.5 }), ['temperature:']],
  ['p out of range', () => ({ ...base(), p: 1 }), ['p:']],
  ['k out of range', () => ({ ...base(), k: 501 }), ['k:']],
  ['max_tokens zero', () => ({ ...base(), max_tokens: 0 }), ['max_tokens:']],
  ['max_tokens not integer', () => ({ ...base(), max_tokens: 1.5 }), ['max_tokens:']],
  ['too many stop sequences', () => ({ ...base(), stop_sequences: ['a', 'b', 'c', 'd', 'e', 'f'] }), ['stop_sequences:']],
  ['safety mode unknown', () => ({ ...base(), safety_mode: 'NONE' }), ['safety_mode:']],
  ['citation mode unknown', () => ({ ...base(), citation_options: { mode: 'SLOW' } }), ['citation_options.mode:']],
  ['thinking budget zero', () => ({ ...base(), thinking: { type: 'enabled', token_budget: 0 } }), ['thinking.token_budget:']],
  ['tool_choice without tools', () => ({ ...base(), tool_choice: 'REQUIRED' }), ['tool_choice: tool_choice needs tools']],
  ['priority out of range', () => ({ ...base(), priority: 1000 }), ['priority:']],
  ['stream not boolean', () => ({ ...base(), stream: 'yes' }), ['stream:']],
  ['negative citation offset', () => ({ ...base(), messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b', citations: [{ start: -1, end: 1, text: 'b', sources: [] }] }, { role: 'user', content: 'c' }] }), ['messages[1].citations[0].start:']],
];

describe('validateChatRequest rejects bad requests with every issue and its path', () => {
  it('has at least 40 cases', () => expect(bad.length).toBeGreaterThanOrEqual(40));
  it.each(bad)('%s', (_name, make, expected) => {
    const issues = issuesOf(make());
    for (const fragment of expected) {
      expect(issues.some((l) => l.includes(fragment)), `${fragment} in\n${issues.join('\n')}`).toBe(true);
    }
  });

  it('reports all problems at once, structural and semantic', () => {
    const r = withTool();
    r['temperature'] = 9;
    r['extra'] = 1;
    (r['messages'] as Req[])[2]!['tool_call_id'] = 'nope';
    const issues = issuesOf(r);
    expect(issues.some((l) => l.startsWith('temperature:'))).toBe(true);
    expect(issues.some((l) => l.startsWith('extra: unknown field'))).toBe(true);
    expect(issues.some((l) => l.startsWith('messages[2].tool_call_id: tool result for unknown'))).toBe(true);
    expect(issues.some((l) => l.startsWith('messages[1].tool_calls[0]: tool call "c1" has no tool result'))).toBe(true);
  });

  it('accepts valid requests', () => {
    expect(validateChatRequest(base()).ok).toBe(true);
    expect(validateChatRequest(withTool()).ok).toBe(true);
    expect(validateChatRequest({ ...base(), documents: ['plain text doc', { id: 'd1', data: { title: 'T', snippet: 'S' } }], citation_options: { mode: 'FAST' }, safety_mode: 'STRICT' }).ok).toBe(true);
    expect(validateChatRequest({ ...base(), response_format: { type: 'json_object', json_schema: { type: 'object', properties: { a: { type: ['string', 'null'] } }, required: ['a'] } } }).ok).toBe(true);
  });
});

describe('raw bodies', () => {
  const enc = new TextEncoder();
  it('rejects invalid UTF-8 with its byte offset', () => {
    const body = Uint8Array.from([...enc.encode('{"model":"a","messages":[{"role":"user","content":"'), 0xc3, 0x28, ...enc.encode('"}]}')]);
    const r = validateChatRequestBody(body);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues[0]).toMatch(/^\(body\): invalid UTF-8 at byte 51/);
  });
  it('finds overlong, surrogate and truncated encodings', () => {
    expect(findInvalidUtf8(Uint8Array.from([0xc0, 0x80]))).toBe(0);
    expect(findInvalidUtf8(Uint8Array.from([0x61, 0xed, 0xa0, 0x80]))).toBe(1);
    expect(findInvalidUtf8(Uint8Array.from([0x61, 0xf0, 0x9f]))).toBe(1);
    expect(findInvalidUtf8(enc.encode('ok 😀 é 中'))).toBe(-1);
  });
  it('rejects a body that is not JSON', () => {
    const r = validateChatRequestBody(enc.encode('{"model":'));
    expect(r.ok).toBe(false);
  });
  it('accepts a valid body', () => {
    expect(validateChatRequestBody(enc.encode(JSON.stringify(base()))).ok).toBe(true);
  });
});

describe('response and stream event schemas', () => {
  it('accept documented shapes and reject unknown fields', () => {
    expect(ChatStreamEventSchema.safeParse({ type: 'content-delta', index: 0, delta: { message: { content: { text: 'Hi' } } } }).success).toBe(true);
    expect(ChatStreamEventSchema.safeParse({ type: 'message-end', delta: { finish_reason: 'COMPLETE' } }).success).toBe(true);
    expect(ChatStreamEventSchema.safeParse({ type: 'content-end', index: 0, extra: 1 }).success).toBe(false);
    expect(ChatStreamEventSchema.safeParse({ type: 'nope' }).success).toBe(false);
    expect(ChatResponseSchema.safeParse({ id: 'x', finish_reason: 'TOOL_CALL', message: { role: 'assistant', tool_plan: 'p', tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: '{}' } }] } }).success).toBe(true);
    expect(ChatResponseSchema.safeParse({ id: 'x', finish_reason: 'DONE', message: { role: 'assistant' } }).success).toBe(false);
  });
});
