import { describe, expect, it } from 'vitest';
import { StopMatcher } from './stop-sequences.js';

function run(seqs: string[], chunks: string[]): { text: string; stopped: boolean } {
  const m = new StopMatcher(seqs);
  let text = '';
  for (const c of chunks) text += m.push(c);
  text += m.flush();
  return { text, stopped: m.stopped };
}

describe('StopMatcher', () => {
  it.each([
    { seqs: [], chunks: ['ab', 'c'], text: 'abc', stopped: false },
    { seqs: ['END'], chunks: ['hello E', 'N', 'D more'], text: 'hello ', stopped: true },
    { seqs: ['END'], chunks: ['hello E', 'NX'], text: 'hello ENX', stopped: false },
    { seqs: ['xy', 'abc'], chunks: ['12a', 'bxy'], text: '12abxy'.slice(0, 4), stopped: true },
    { seqs: ['\n\n'], chunks: ['a\n', '\nb'], text: 'a', stopped: true },
    { seqs: ['END'], chunks: ['trailing E'], text: 'trailing E', stopped: false },
  ])('$seqs over $chunks', ({ seqs, chunks, text, stopped }) => {
    expect(run(seqs, chunks)).toEqual({ text, stopped });
  });

  it('never emits held text early: every prefix of the output is final', () => {
    const m = new StopMatcher(['STOP']);
    expect(m.push('aST')).toBe('a');
    expect(m.push('O')).toBe('');
    expect(m.push('x')).toBe('STOx');
  });
});
