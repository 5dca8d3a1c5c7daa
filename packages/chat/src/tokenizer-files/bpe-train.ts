// A small deterministic byte-level BPE trainer, enough to give preset tokenizers real merges.
import { bytesToByteLevel } from '../tokenizer/tokenizer.js';

// GPT-2 pre-tokenization with digits split one by one (Cohere's "command-r" pre-tokenizer).
const WORD = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Learns up to `maxMerges` merges from `corpus`; ties break on the pair's text, so output is stable. */
export function trainByteLevelBpe(corpus: string, maxMerges: number): [string, string][] {
  const counts = new Map<string, number>();
  for (const m of corpus.matchAll(WORD)) counts.set(m[0], (counts.get(m[0]) ?? 0) + 1);
  const enc = new TextEncoder();
  const words = [...counts].map(([w, n]) => ({ symbols: [...bytesToByteLevel(enc.encode(w))], n }));
  const merges: [string, string][] = [];
  while (merges.length < maxMerges) {
    const pairs = new Map<string, number>();
    for (const w of words) {
      for (let i = 0; i + 1 < w.symbols.length; i++) {
        const key = `${w.symbols[i]}\u0000${w.symbols[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + w.n);
      }
    }
    let best: string | undefined;
    let bestN = 1;
    for (const [k, n] of pairs) if (n > bestN || (n === bestN && best !== undefined && k < best)) [best, bestN] = [k, n];
    if (best === undefined) break;
    const [a, b] = best.split('\u0000') as [string, string];
    merges.push([a, b]);
    for (const w of words) {
      const s = w.symbols;
      for (let i = 0; i + 1 < s.length; i++) {
        if (s[i] === a && s[i + 1] === b) s.splice(i, 2, a + b);
      }
    }
  }
  return merges;
}
