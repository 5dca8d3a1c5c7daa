import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ChatTokenizer, renderChatRequest, writeTokenizerFiles } from '@tandem/chat';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChatCommand } from './chat.js';

const repo = resolve(import.meta.dirname, '..', '..', '..', '..');
const ownCases = join(repo, 'packages', 'chat', 'src', 'render', '__fixtures__', 'cmd3-cases');
const goldens = resolve(repo, '..', 'shared', 'reference', 'data', 'melody', 'tests', 'templating', 'cmd3');
const tmp = mkdtempSync(join(tmpdir(), 'tandem-chat-cli-'));
const model = join(tmp, 'model');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
beforeAll(async () => writeTokenizerFiles(model, { vocabSize: 384, preset: 'cohere2-tiny' }));

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runChatCommand(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

const request = { model: 'm', messages: [{ role: 'user', content: 'Hi <|END_OF_TURN_TOKEN|>' }] };

describe('tandem chat render', () => {
  it('prints the prompt, and its ids with --tokens', async () => {
    const file = join(tmp, 'req.json');
    writeFileSync(file, JSON.stringify(request));
    const { prompt } = renderChatRequest(request as never);
    const r = await run(['render', '--request', file]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${prompt.text}\n`);
    const t = await run(['render', '--request', file, '--model', model, '--tokens']);
    const tok = await ChatTokenizer.fromDir(model);
    expect(JSON.parse(t.out)).toEqual(tok.encodeParts(prompt.parts));
    const viaTemplate = await run(['render', '--request', file, '--model', model, '--template']);
    expect(viaTemplate.out).toBe(r.out);
  });

  it('rejects an invalid request listing every issue', async () => {
    const file = join(tmp, 'bad.json');
    writeFileSync(file, JSON.stringify({ messages: [{ role: 'robot', content: 'x' }], temperature: 3 }));
    const r = await run(['render', '--request', file]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('model:');
    expect(r.err).toContain('temperature:');
    expect(r.err).toContain('messages[0].role');
  });

  it('reports usage errors with exit code 2', async () => {
    expect((await run(['render'])).code).toBe(2);
    expect((await run(['render', '--request', join(tmp, 'req.json'), '--tokens'])).err).toContain('--tokens needs --model');
    // Any other word is a MESSAGE for `tandem chat [--url] MESSAGE` (a running router).
    const r = await run(['--url', 'http://127.0.0.1:9', 'frobnicate']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('cannot reach http://127.0.0.1:9');
    await expect(run(['--url', 'not a url', 'hi'])).rejects.toThrow(/--url: must be a URL/); // main.ts: exit 2
  });
});

describe('tandem chat parse', () => {
  it('prints Chat v2 events as JSON lines, citations resolved against --documents', async () => {
    const text = join(tmp, 'out.txt');
    writeFileSync(text, '<|START_RESPONSE|>Tallest: <co>Emperor 🐧</co: 0:[0]>.<|END_RESPONSE|><|END_OF_TURN_TOKEN|>');
    const docs = join(tmp, 'docs.json');
    writeFileSync(docs, JSON.stringify([{ id: 'p', data: { text: 'Emperor penguins' } }]));
    const r = await run(['parse', '--model', model, '--text-file', text, '--documents', docs]);
    expect(r.code).toBe(0);
    const events = r.out.trim().split('\n').map((l) => JSON.parse(l) as { type: string; delta?: { message?: { content?: { text?: string }; citations?: unknown } } });
    expect(events[0]?.type).toBe('message-start');
    expect(events.at(-1)).toMatchObject({ type: 'message-end', delta: { finish_reason: 'COMPLETE' } });
    expect(events.map((e) => e.delta?.message?.content?.text ?? '').join('')).toBe('Tallest: Emperor 🐧.');
    expect(events.find((e) => e.type === 'citation-start')?.delta?.message?.citations).toMatchObject({ start: 9, end: 18, text: 'Emperor 🐧', sources: [{ type: 'document', id: 'p' }] });
  });
});

describe('tandem chat conformance', () => {
  it('passes the repository cases', async () => {
    const r = await run(['conformance', '--cases', ownCases]);
    expect(r.out).toMatch(/\n?3 passed, 0 failed\n$/);
    expect(r.code).toBe(0);
  });

  it.skipIf(!existsSync(goldens))('passes the melody cmd3 goldens from ../shared', async () => {
    const r = await run(['conformance', '--cases', goldens]);
    expect(r.out).toMatch(/12 passed, 0 failed\n$/);
    expect(r.code).toBe(0);
  });

  it('fails with a non-zero exit and names the failing case', async () => {
    const dir = join(tmp, 'cases');
    cpSync(join(ownCases, 'json_schema_strict'), join(dir, 'good'), { recursive: true });
    mkdirSync(join(dir, 'broken'), { recursive: true });
    writeFileSync(join(dir, 'broken', 'input.json'), JSON.stringify({ messages: [{ role: 'User', content: [{ type: 'text', text: 'x' }] }] }));
    writeFileSync(join(dir, 'broken', 'output.txt'), 'not the render');
    const r = await run(['conformance', '--cases', dir]);
    expect(r.out).toContain('PASS good');
    expect(r.out).toContain('FAIL broken: first difference at character 0');
    expect(r.out).toMatch(/1 passed, 1 failed\n$/);
    expect(r.code).toBe(1);
  });
});
