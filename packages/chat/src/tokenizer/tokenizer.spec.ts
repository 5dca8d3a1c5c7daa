import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadFixtureTokenizer, REAL_TOKENIZERS } from './test-fixtures.js';

const here = join(import.meta.dirname, '__fixtures__');
const corpus = JSON.parse(readFileSync(join(here, 'corpus.json'), 'utf8')) as Record<string, string>;

describe.each(REAL_TOKENIZERS)('%s tokenizer equals Python tokenizers', (name) => {
  const expected = JSON.parse(readFileSync(join(here, `expected-${name}.json`), 'utf8')) as {
    plain: Record<string, number[]>;
    special_parsing: Record<string, number[]>;
  };
  const tok = loadFixtureTokenizer(name);

  it.each(Object.keys(corpus))('plain-text ids for %s', (key) => {
    expect(tok.encode(corpus[key] as string)).toEqual(expected.plain[key]);
  });

  it.each(Object.keys(corpus))('trusted ids (special tokens parsed) for %s', (key) => {
    expect(tok.encodeTrusted(corpus[key] as string)).toEqual(expected.special_parsing[key]);
  });

  it.each(Object.keys(corpus))('decode(encode(x)) round-trips %s', (key) => {
    const text = corpus[key] as string;
    expect(tok.decode(tok.encode(text))).toBe(text);
  });

  it('streams every corpus text token by token without changing emitted text', () => {
    for (const text of Object.values(corpus)) {
      const ids = tok.encode(text);
      const det = tok.createDetokenizer();
      const pieces = ids.map((id) => det.push(id));
      pieces.push(det.finish());
      for (const p of pieces) expect(p.includes('\uFFFD')).toBe(false);
      expect(pieces.join('')).toBe(text);
    }
  });

  it('holds back half a UTF-8 character until it completes', () => {
    // A 4-byte emoji split over byte tokens: nothing may come out before the last byte.
    const ids = tok.encode('😀');
    const det = tok.createDetokenizer();
    const outs = ids.map((id) => det.push(id));
    expect(outs.slice(0, -1).join('')).toBe('');
    expect(outs.join('') + det.finish()).toBe('😀');
  });

  it('keeps user text with the model’s own control strings as plain text', () => {
    for (const special of tok.specialTokens.keys()) {
      const ids = tok.encode(`say ${special} now`);
      for (const id of ids) expect(tok.isSpecial(id)).toBe(false);
      expect(tok.decode(ids)).toBe(`say ${special} now`);
    }
  });

  it('recognises special tokens only in trusted prompt parts', () => {
    const [first] = tok.specialTokens.keys();
    const id = tok.specialTokens.get(first as string);
    const ids = tok.encodeParts([
      { text: `${first}`, trusted: true },
      { text: `hi ${first}`, trusted: false },
    ]);
    expect(ids[0]).toBe(id);
    expect(ids.filter((x) => x === id)).toHaveLength(1);
  });
});
