// Cohere's golden cmd3 renders, read from ../shared at test time (reference data without a licence:
// never copied into this repository). Skipped, with a message, when ../shared is absent.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderMelodyCase } from './melody-case.js';

const repo = resolve(import.meta.dirname, '..', '..', '..', '..');
const goldenDir = resolve(repo, '..', 'shared', 'reference', 'data', 'melody', 'tests', 'templating', 'cmd3');
const present = existsSync(goldenDir);
const cases = present ? readdirSync(goldenDir).filter((d) => existsSync(join(goldenDir, d, 'input.json'))) : [];

describe.skipIf(!present)('melody cmd3 golden renders (byte for byte)', () => {
  it('found the golden cases', () => expect(cases.length).toBeGreaterThan(5));
  it.each(cases)('%s', (name) => {
    const input = JSON.parse(readFileSync(join(goldenDir, name, 'input.json'), 'utf8')) as unknown;
    const expected = readFileSync(join(goldenDir, name, 'output.txt'), 'utf8');
    expect(renderMelodyCase(input)).toBe(expected);
  });
});

if (!present) {
  describe('melody cmd3 golden renders', () => {
    it.skip(`skipped: ${goldenDir} is absent (the ../shared reference data is not checked out)`, () => {});
  });
}
