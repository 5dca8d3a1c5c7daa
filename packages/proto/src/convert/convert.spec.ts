import { parseChatRequest, type ChatRequest, type ChatStreamEvent } from '@tandem/schemas';
import { describe, expect, it } from 'vitest';
import * as pb from '../gen/tandem/v1/tandem.js';
import { chatEventFromProto, chatEventToProto, ChatResponseCollector } from './chat-event.js';
import { chatRequestToProto, parseProtoChatRequest } from './chat-request.js';

const full: ChatRequest = parseChatRequest({
  model: 'command-a',
  messages: [
    { role: 'system', content: 'be brief' },
    { role: 'user', content: [{ type: 'text', text: 'weather in Paris?' }] },
    {
      role: 'assistant',
      tool_plan: 'I will call get_weather',
      tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","days":2}' } }],
    },
    { role: 'tool', tool_call_id: 'call_1', content: [{ type: 'document', document: { id: 'w1', data: { temp: 21, sky: 'clear' } } }] },
    {
      role: 'assistant',
      content: [{ type: 'text', text: 'It is 21 degrees.' }],
      citations: [{ start: 6, end: 16, text: '21 degrees', sources: [{ type: 'tool', id: 'w1', tool_output: { temp: 21 } }], type: 'TEXT_CONTENT' }],
    },
    { role: 'user', content: 'thanks' },
  ],
  documents: ['plain text doc', { id: 'd2', data: { title: 'T', snippet: 'S', n: 12345678901234 } }],
  tools: [{ type: 'function', function: { name: 'get_weather', description: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
  tool_choice: 'REQUIRED',
  thinking: { type: 'enabled', token_budget: 100 },
  safety_mode: 'STRICT',
  citation_options: { mode: 'FAST' },
  max_tokens: 50,
  stop_sequences: ['END'],
  temperature: 0.5,
  seed: 7,
  frequency_penalty: 0.1,
  presence_penalty: 0.2,
  k: 10,
  p: 0.9,
  logprobs: true,
  priority: 2,
  strict_tools: true,
});

function viaWire(req: pb.ChatRequest): pb.ChatRequest {
  return pb.ChatRequest.decode(pb.ChatRequest.encode(req).finish());
}

describe('chat request conversion', () => {
  it('round-trips a Cohere request with tools, tool results, citations and documents through the wire', () => {
    const back = parseProtoChatRequest(viaWire(chatRequestToProto(full)));
    expect(back.ok).toBe(true);
    if (!back.ok) return;
    // String contents come back as one text block: the same request to the renderer.
    expect(back.value.messages[0]).toEqual({ role: 'system', content: [{ type: 'text', text: 'be brief' }] });
    const { messages: _a, ...rest } = back.value;
    const { messages: _b, ...expected } = full;
    expect(rest).toEqual(expected);
    expect(back.value.messages.slice(2, 5)).toEqual(full.messages.slice(2, 5));
  });

  it('round-trips response_format with its JSON schema', () => {
    const req = parseChatRequest({ model: 'm', messages: [{ role: 'user', content: 'hi' }], response_format: { type: 'json_object', json_schema: { type: 'object', required: ['a'] } } });
    const back = parseProtoChatRequest(viaWire(chatRequestToProto(req)));
    expect(back.ok && back.value.response_format).toEqual(req.response_format);
  });

  it('reports every problem with its Cohere field path', () => {
    const req = pb.ChatRequest.fromPartial({
      model: '',
      messages: [
        { role: pb.Role.ROLE_UNSPECIFIED, content: [{ text: 'x' }] },
        { role: pb.Role.ROLE_ASSISTANT, toolCalls: [{ id: 'c', name: 'f', arguments: '{not json' }] },
        { role: pb.Role.ROLE_USER, content: [{}] },
      ],
      tools: [{ name: 'f', parametersJson: '[1]' }],
      documents: [{ id: 'd', dataJson: 'nope' }],
      safetyMode: 42 as pb.SafetyMode,
      temperature: 3,
    });
    const r = parseProtoChatRequest(viaWire(req));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const text = r.issues.join('\n');
    for (const path of [
      'model:',
      'messages[0].role:',
      'messages[1].tool_calls[0].function.arguments: is not valid JSON',
      'messages[2].content[0]:',
      'tools[0].function.parameters: must be a JSON object',
      'documents[0].data: is not valid JSON',
      'safety_mode: unknown enum value 42',
      'temperature:',
    ]) {
      expect(text).toContain(path);
    }
  });

  it('passes a role-foreign field on so the schema names it', () => {
    const r = parseProtoChatRequest(pb.ChatRequest.fromPartial({ model: 'm', messages: [{ role: pb.Role.ROLE_USER, content: [{ text: 'x' }], toolCallId: 'c1' }] }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.join('\n')).toContain('messages[0].tool_call_id');
  });
});

const stream: ChatStreamEvent[] = [
  { type: 'message-start', id: 'msg_1', delta: { message: { role: 'assistant' } } },
  { type: 'tool-plan-delta', delta: { message: { tool_plan: 'I will ' } } },
  { type: 'tool-plan-delta', delta: { message: { tool_plan: 'look' } } },
  { type: 'tool-call-start', index: 0, delta: { message: { tool_calls: { id: 'c0', type: 'function', function: { name: 'search', arguments: '' } } } } },
  { type: 'tool-call-delta', index: 0, delta: { message: { tool_calls: { function: { arguments: '{"q":' } } } } },
  { type: 'tool-call-delta', index: 0, delta: { message: { tool_calls: { function: { arguments: '"x"}' } } } } },
  { type: 'tool-call-end', index: 0 },
  { type: 'content-start', index: 0, delta: { message: { content: { type: 'text', text: '' } } } },
  { type: 'content-delta', index: 0, delta: { message: { content: { text: 'Hello ' } } }, logprobs: { token_ids: [5], logprobs: [-0.5] } },
  { type: 'content-delta', index: 0, delta: { message: { content: { text: 'world' } } } },
  { type: 'citation-start', index: 0, delta: { message: { citations: { start: 0, end: 5, text: 'Hello', sources: [{ type: 'document', id: 'doc:0', document: { a: 1 } }] } } } },
  { type: 'citation-end', index: 0 },
  { type: 'content-end', index: 0 },
  {
    type: 'message-end',
    id: 'msg_1',
    delta: { finish_reason: 'TOOL_CALL', usage: { billed_units: { input_tokens: 3, output_tokens: 4 }, tokens: { input_tokens: 30, output_tokens: 4 }, cached_tokens: 16 } },
  },
];

describe('chat event conversion', () => {
  it('round-trips every event type through the wire', () => {
    for (const ev of stream) {
      const p = chatEventToProto(ev);
      expect(p).toBeDefined();
      const back = chatEventFromProto(pb.ChatEvent.decode(pb.ChatEvent.encode(p!).finish()));
      expect(back).toEqual(ev);
    }
  });

  it('drops debug events and rejects an empty proto event', () => {
    expect(chatEventToProto({ type: 'debug', prompt: 'x' })).toBeUndefined();
    expect(() => chatEventFromProto({})).toThrow(TypeError);
  });

  it('collects a stream into the non-streaming response', () => {
    const c = new ChatResponseCollector();
    for (const ev of stream) c.add(ev);
    expect(c.done).toBe(true);
    expect(c.response()).toEqual({
      id: 'msg_1',
      finish_reason: 'TOOL_CALL',
      message: {
        role: 'assistant',
        content: [{ type: 'text', text: 'Hello world' }],
        tool_plan: 'I will look',
        tool_calls: [{ id: 'c0', type: 'function', function: { name: 'search', arguments: '{"q":"x"}' } }],
        citations: [{ start: 0, end: 5, text: 'Hello', sources: [{ type: 'document', id: 'doc:0', document: { a: 1 } }] }],
      },
      usage: { billed_units: { input_tokens: 3, output_tokens: 4 }, tokens: { input_tokens: 30, output_tokens: 4 }, cached_tokens: 16 },
      logprobs: [{ token_ids: [5], logprobs: [-0.5] }],
    });
  });

  it('reports a stream cut before message-end as not done with finish ERROR', () => {
    const c = new ChatResponseCollector();
    c.add(stream[0]!);
    expect(c.done).toBe(false);
    expect(c.response().finish_reason).toBe('ERROR');
  });
});
