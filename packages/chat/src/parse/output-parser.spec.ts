import type { ChatStreamEvent } from '@tandem/schemas';
import { ChatStreamEventSchema } from '@tandem/schemas';
import { describe, expect, it } from 'vitest';
import type { ChatContext } from '../render/from-request.js';
import { Cmd3OutputParser, type OutputParserOptions } from './output-parser.js';

const context: ChatContext = {
  documents: [
    { id: 'doc-a', data: { title: 'Penguins', text: 'Emperor penguins are the tallest.' } },
    { id: 'doc:1', data: { text: '東京は日本の首都です。' } },
  ],
  toolResults: new Map([
    ['0', [
      { apiId: 'doc-a', output: { title: 'Penguins', text: 'Emperor penguins are the tallest.' } },
      { apiId: 'doc:1', output: { text: '東京は日本の首都です。' } },
    ]],
    ['1', [{ apiId: 'get_weather_abc:0', output: { temp: '24°C' } }]],
  ]),
  prefill: '',
  citations: true,
};

const opts = (extra: Partial<OutputParserOptions> = {}): OutputParserOptions => ({
  context,
  id: 'r1',
  makeToolCallId: (name, i) => `${name}_${i}`,
  ...extra,
});

/** Merges adjacent deltas of the same kind and index (chunking only changes delta sizes). */
function coalesce(events: ChatStreamEvent[]): ChatStreamEvent[] {
  const out: ChatStreamEvent[] = [];
  for (const e of events) {
    const last = out[out.length - 1];
    if (last?.type === 'content-delta' && e.type === 'content-delta' && last.index === e.index) {
      const a = last.delta.message.content;
      const b = e.delta.message.content;
      out[out.length - 1] = { ...last, delta: { message: { content: {
        ...(a.text !== undefined || b.text !== undefined ? { text: (a.text ?? '') + (b.text ?? '') } : {}),
        ...(a.thinking !== undefined || b.thinking !== undefined ? { thinking: (a.thinking ?? '') + (b.thinking ?? '') } : {}),
      } } } };
    } else if (last?.type === 'tool-plan-delta' && e.type === 'tool-plan-delta') {
      out[out.length - 1] = { type: 'tool-plan-delta', delta: { message: { tool_plan: last.delta.message.tool_plan + e.delta.message.tool_plan } } };
    } else out.push(e);
  }
  return out;
}

function run(chunks: string[], o = opts()): ChatStreamEvent[] {
  const p = new Cmd3OutputParser(o);
  const events = chunks.flatMap((c) => p.push(c));
  events.push(...p.finish());
  return events;
}

function textOf(events: ChatStreamEvent[]): string {
  return events.flatMap((e) => (e.type === 'content-delta' ? [e.delta.message.content.text ?? ''] : [])).join('');
}

const cases: Record<string, string> = {
  plain: 'Hello there! How can I help?  \n',
  response: '<|START_RESPONSE|>The tallest penguins are the <co>Emperor penguins.</co: 0:[0]> They live in Antarctica.<|END_RESPONSE|><|END_OF_TURN_TOKEN|>',
  emojiCjk: '<|START_RESPONSE|>🐧🐧 Fun: <co>東京は首都</co: 0:[1]> and 👨‍👩‍👧 <co>24°C</co: 1:[0]>!<|END_RESPONSE|>',
  toolCalls: '<|START_THINKING|>I will check the weather and the <co>docs</co: 0:[0]>.<|END_THINKING|><|START_ACTION|>[\n    {"tool_call_id": "1", "tool_name": "get_weather", "parameters": {"city": "Paris"}},\n    {"tool_call_id": "2", "tool_name": "search", "parameters": {"q": "a<|b"}}\n]<|END_ACTION|><|END_OF_TURN_TOKEN|>',
  reflection: '<|START_THINKING|>The docs answer it.<|END_THINKING|>\n<|START_RESPONSE|>Yes, <co>Emperor</co: 0:[0],1:[0]> ones.<|END_RESPONSE|>',
  legacy: 'It is <co: 0,1>true</co: 0,1> indeed.',
  badDoc: '<|START_RESPONSE|>See <co>here</co: 0:[7],5:[0]> now.<|END_RESPONSE|>',
  lookalikes: 'a < b and <code> and <|notmarker|> and <cow> stay text',
  unclosedCitation: '<|START_RESPONSE|>Start <co>never closed',
  unterminatedAction: '<|START_ACTION|>[{"tool_call_id": "1", "tool_name": "f", "parameters": {"x": 1',
  unterminatedButComplete: '<|START_ACTION|>[{"tool_call_id": "1", "tool_name": "f", "parameters": {}}]',
  invalidJson: '<|START_ACTION|>[{"tool_name": "f", "parameters": {x}}]<|END_ACTION|>',
  notAList: '<|START_ACTION|>{"tool_name": "f"}<|END_ACTION|>',
  afterEnd: '<|START_RESPONSE|>Done.<|END_RESPONSE|>garbage <|START_ACTION|>[]',
};

describe('Cmd3OutputParser', () => {
  it.each(Object.keys(cases))('%s: identical events for every split point', (name) => {
    const text = cases[name] as string;
    const whole = run([text]);
    for (const e of whole) expect(ChatStreamEventSchema.safeParse(e).success, JSON.stringify(e)).toBe(true);
    const cps = [...text];
    const expected = coalesce(whole);
    for (let i = 0; i <= cps.length; i++) {
      expect(coalesce(run([cps.slice(0, i).join(''), cps.slice(i).join('')]))).toEqual(expected);
    }
    expect(coalesce(run(cps))).toEqual(expected);
  });

  it('plain text is the answer, trailing whitespace trimmed', () => {
    const ev = run([cases['plain'] as string]);
    expect(textOf(ev)).toBe('Hello there! How can I help?');
    expect(ev[0]).toEqual({ type: 'message-start', id: 'r1', delta: { message: { role: 'assistant' } } });
    expect(ev.at(-1)).toEqual({ type: 'message-end', id: 'r1', delta: { finish_reason: 'COMPLETE' } });
  });

  it('citations index the final text in code points, documents resolved', () => {
    const ev = run([cases['response'] as string]);
    const text = textOf(ev);
    expect(text).toBe('The tallest penguins are the Emperor penguins. They live in Antarctica.');
    const cites = ev.flatMap((e) => (e.type === 'citation-start' ? [e.delta.message.citations] : []));
    expect(cites).toEqual([{
      start: 29, end: 46, text: 'Emperor penguins.', content_index: 0, type: 'TEXT_CONTENT',
      sources: [{ type: 'document', id: 'doc-a', document: { title: 'Penguins', text: 'Emperor penguins are the tallest.', id: 'doc-a' } }],
    }]);
    // ACCURATE (default): citations come after the text, before content-end.
    expect(ev.map((e) => e.type).slice(-4)).toEqual(['citation-start', 'citation-end', 'content-end', 'message-end']);
  });

  it('counts emoji and CJK as code points', () => {
    const ev = run([cases['emojiCjk'] as string]);
    const text = textOf(ev);
    const cps = [...text];
    const cites = ev.flatMap((e) => (e.type === 'citation-start' ? [e.delta.message.citations] : []));
    expect(cites).toHaveLength(2);
    for (const c of cites) expect(cps.slice(c.start, c.end).join('')).toBe(c.text);
    expect(cites[0]).toMatchObject({ start: 8, end: 13, text: '東京は首都' });
    expect(cites[1]?.sources).toEqual([{ type: 'tool', id: 'get_weather_abc:0', tool_output: { temp: '24°C' } }]);
  });

  it('FAST mode emits citations inline', () => {
    const ev = run([...(cases['response'] as string)], opts({ citationMode: 'FAST' }));
    const types = ev.map((e) => e.type);
    expect(types.indexOf('citation-start')).toBeLessThan(types.lastIndexOf('content-delta'));
  });

  it('tool plan and several tool calls', () => {
    const ev = run([cases['toolCalls'] as string]);
    expect(ev.filter((e) => e.type === 'tool-plan-delta').map((e) => (e.type === 'tool-plan-delta' ? e.delta.message.tool_plan : '')).join('')).toBe('I will check the weather and the docs.');
    expect(ev.find((e) => e.type === 'citation-start')).toMatchObject({ delta: { message: { citations: { type: 'PLAN', start: 33, end: 37 } } } });
    const starts = ev.filter((e) => e.type === 'tool-call-start');
    expect(starts).toEqual([
      { type: 'tool-call-start', index: 0, delta: { message: { tool_calls: { id: 'get_weather_0', type: 'function', function: { name: 'get_weather', arguments: '' } } } } },
      { type: 'tool-call-start', index: 1, delta: { message: { tool_calls: { id: 'search_1', type: 'function', function: { name: 'search', arguments: '' } } } } },
    ]);
    expect(ev.filter((e) => e.type === 'tool-call-delta').map((e) => (e.type === 'tool-call-delta' ? e.delta.message.tool_calls.function.arguments : ''))).toEqual(['{"city":"Paris"}', '{"q":"a<|b"}']);
    expect(ev.at(-1)).toMatchObject({ delta: { finish_reason: 'TOOL_CALL' } });
  });

  it('a reflection followed by a response is thinking content', () => {
    const ev = run([cases['reflection'] as string]);
    expect(ev.find((e) => e.type === 'content-start')).toMatchObject({ index: 0, delta: { message: { content: { type: 'thinking' } } } });
    expect(textOf(ev)).toBe('Yes, Emperor ones.');
    const cite = ev.find((e) => e.type === 'citation-start');
    expect(cite).toMatchObject({ delta: { message: { citations: { content_index: 1, start: 5, end: 12 } } } });
    if (cite?.type === 'citation-start') expect(cite.delta.message.citations.sources.map((s) => s.id)).toEqual(['doc-a', 'get_weather_abc:0']);
  });

  it('legacy citation tags, unknown sources dropped, look-alike tags kept as text', () => {
    expect(textOf(run([cases['legacy'] as string]))).toBe('It is true indeed.');
    const bad = run([cases['badDoc'] as string]);
    expect(textOf(bad)).toBe('See here now.');
    expect(bad.some((e) => e.type === 'citation-start')).toBe(false);
    expect(textOf(run([cases['lookalikes'] as string]))).toBe(cases['lookalikes']);
  });

  it('malformed output ends in the documented result, never an exception', () => {
    expect(textOf(run([cases['unclosedCitation'] as string]))).toBe('Start never closed');
    expect(run([cases['unterminatedAction'] as string]).at(-1)).toMatchObject({ delta: { finish_reason: 'ERROR', error: 'unterminated action block' } });
    const ok = run([cases['unterminatedButComplete'] as string]);
    expect(ok.filter((e) => e.type === 'tool-call-start')).toHaveLength(1);
    expect(ok.at(-1)).toMatchObject({ delta: { finish_reason: 'TOOL_CALL' } });
    const inv = run([cases['invalidJson'] as string]);
    expect(inv.some((e) => e.type === 'tool-call-start')).toBe(false);
    expect(inv.at(-1)).toMatchObject({ delta: { finish_reason: 'ERROR' } });
    expect(run([cases['notAList'] as string]).at(-1)).toMatchObject({ delta: { finish_reason: 'ERROR', error: expect.stringContaining('expected a list') } });
    expect(textOf(run([cases['afterEnd'] as string]))).toBe('Done.');
  });

  it('passes the stop reason through and ignores pushes after finish', () => {
    const p = new Cmd3OutputParser(opts());
    p.push('partial answer');
    expect(p.finish('MAX_TOKENS').at(-1)).toMatchObject({ delta: { finish_reason: 'MAX_TOKENS' } });
    expect(p.push('more')).toEqual([]);
  });

  it('starts in the prefill state (tool_choice REQUIRED)', () => {
    const ev = run(['[{"tool_call_id": "0", "tool_name": "f", "parameters": {}}]<|END_ACTION|>'], opts({ context: { ...context, prefill: '<|START_ACTION|>' } }));
    expect(ev.filter((e) => e.type === 'tool-call-start')).toHaveLength(1);
  });
});
