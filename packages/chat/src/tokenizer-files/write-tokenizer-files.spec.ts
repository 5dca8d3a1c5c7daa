import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ChatRequest } from '@tandem/schemas';
import { afterAll, describe, expect, it } from 'vitest';
import { renderChatRequest } from '../render/from-request.js';
import { hfTemplateVars, renderChatTemplate } from '../render/jinja.js';
import { ChatTokenizer } from '../tokenizer/tokenizer.js';
import { CMD3_CONTROL_TOKENS, COHERE_SPECIAL_TOKENS } from './special-tokens.js';
import { buildTokenizerFiles, TokenizerFilesError, writeTokenizerFiles } from './write-tokenizer-files.js';

const repo = resolve(import.meta.dirname, '..', '..', '..', '..');
const script = join(repo, 'test', 'python', 'check_tokenizer.py');
const tmp = mkdtempSync(join(tmpdir(), 'tandem-tok-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const PRESETS = [
  ['cohere2-tiny', 384],
  ['cohere2-small', 32768],
  ['command-r7b', 256000],
  ['command-a', 256000],
] as const;

const TEXTS = [
  'Hello, world! 1234567890',
  'Le cœur a ses raisons. 東京タワー 안녕하세요 مرحبا 👨‍👩‍👧',
  '  spaces\n\n\ttabs\r\n',
  ...CMD3_CONTROL_TOKENS.map((t) => `user says ${t} here`),
  CMD3_CONTROL_TOKENS.join(''),
];

const python = spawnSync('python3', ['-c', 'import tokenizers'], { encoding: 'utf8' });
const havePython = python.status === 0;

describe.each(PRESETS)('%s tokenizer files (vocab %i)', (preset, vocabSize) => {
  const dir = join(tmp, preset);
  let loaded: Promise<ChatTokenizer> | undefined;
  const load = (): Promise<ChatTokenizer> =>
    (loaded ??= writeTokenizerFiles(dir, { vocabSize, preset }).then(() => ChatTokenizer.fromDir(dir)));

  it('keeps every id below vocabSize and puts the special tokens where the preset says', async () => {
    const tok = await load();
    const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> }; added_tokens: { id: number }[] };
    const ids = Object.values(json.model.vocab);
    expect(Math.max(...ids, ...json.added_tokens.map((t) => t.id))).toBeLessThan(vocabSize);
    expect(new Set(ids).size).toBe(ids.length);
    for (const t of json.added_tokens) expect(ids).toContain(t.id);
    if (vocabSize === 256000) {
      expect(tok.specialTokens.get('<PAD>')).toBe(0);
      expect(tok.specialTokens.get('<BOS_TOKEN>')).toBe(5);
      expect(tok.specialTokens.get('<|END_OF_TURN_TOKEN|>')).toBe(255001);
      expect(tok.specialTokens.get('<|START_THINKING|>')).toBe(255019);
      expect(tok.specialTokens.get('<|END_RESPONSE|>')).toBe(255022);
    } else {
      const top = [...tok.specialTokens.values()].sort((a, b) => a - b);
      expect(top[0]).toBe(vocabSize - COHERE_SPECIAL_TOKENS.length);
      expect(top.at(-1)).toBe(vocabSize - 1);
    }
    expect(tok.chatTemplate).toContain('# System Preamble');
  });

  it.each(CMD3_CONTROL_TOKENS)('user text containing %s never becomes a control token', async (control) => {
    const tok = await load();
    const userText = `ignore this ${control} and${control}`;
    const ids = tok.encode(userText);
    for (const id of ids) expect(tok.isSpecial(id)).toBe(false);
    expect(tok.decode(ids)).toBe(userText);
    // …while the same string from the template is the single control token.
    expect(tok.encodeTrusted(control)).toEqual([tok.specialTokens.get(control)]);
    // And inside a rendered prompt the user's copy stays text.
    const prompt = renderChatRequest({ model: 'm', messages: [{ role: 'user', content: userText }] }).prompt;
    const promptIds = tok.encodeParts(prompt.parts);
    const controlId = tok.specialTokens.get(control) as number;
    const expectedCount = prompt.parts.filter((p) => p.trusted).map((p) => p.text.split(control).length - 1).reduce((a, b) => a + b, 0);
    expect(promptIds.filter((id) => id === controlId)).toHaveLength(expectedCount);
    expect(tok.decode(promptIds)).toBe(prompt.text);
  });

  it.skipIf(!havePython)('loads unchanged in Python tokenizers with the same ids (test/python/check_tokenizer.py)', async () => {
    const tok = await load();
    const expected = {
      vocab_size: vocabSize,
      special_tokens: Object.fromEntries(tok.specialTokens),
      cases: TEXTS.map((text) => ({ text, trusted: tok.encodeTrusted(text), plain: tok.encode(text) })),
      chat_render: renderChatTemplate(tok.chatTemplate as string, hfTemplateVars({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })),
    };
    const file = join(tmp, `${preset}-expected.json`);
    writeFileSync(file, JSON.stringify(expected));
    const r = spawnSync('python3', [script, '--dir', dir, '--expected', file], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toMatch(/^OK:/);
    expect(r.status).toBe(0);
  });
});

if (!havePython) {
  describe('Python tokenizers check', () => {
    it.skip('skipped: python3 cannot import `tokenizers` (pip install -r test/python/requirements.txt)', () => {});
  });
}

describe('preset chat template', () => {
  it('renders plain conversations exactly like the cmd3 renderer', () => {
    const { tokenizerConfig } = buildTokenizerFiles({ vocabSize: 384, preset: 'cohere2-tiny' });
    const reqs: ChatRequest[] = [
      { model: 'm', messages: [{ role: 'user', content: 'Hi there' }] },
      { model: 'm', messages: [{ role: 'system', content: 'Be terse.' }, { role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }, { role: 'system', content: 'Later note' }, { role: 'user', content: 'c' }] },
    ];
    for (const req of reqs) {
      expect(renderChatTemplate(tokenizerConfig['chat_template'] as string, hfTemplateVars(req))).toBe(renderChatRequest(req).prompt.text);
    }
  });

  it('rejects vocabularies too small or too large, naming the field', () => {
    expect(() => buildTokenizerFiles({ vocabSize: 100, preset: 'x' })).toThrow(TokenizerFilesError);
    expect(() => buildTokenizerFiles({ vocabSize: 100, preset: 'x' })).toThrow(/vocabSize/);
    expect(() => buildTokenizerFiles({ vocabSize: 300000, preset: 'x' })).toThrow(/vocabSize/);
  });

  it('is deterministic', () => {
    expect(JSON.stringify(buildTokenizerFiles({ vocabSize: 384, preset: 'p' }))).toBe(JSON.stringify(buildTokenizerFiles({ vocabSize: 384, preset: 'p' })));
  });
});
