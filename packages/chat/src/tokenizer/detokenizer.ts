// Streaming detokenizer. Guarantees: (1) never emits part of a UTF-8 character, (2) never changes
// text it already emitted — the concatenation of every push() result plus finish() equals
// decode(all ids) for byte-level tokenizers (special tokens included, no space clean-up).
import type { ChatTokenizer } from './tokenizer.js';

export class IncrementalDetokenizer {
  private readonly tokenizer: ChatTokenizer;
  // Byte-level path: a streaming UTF-8 decoder holds an incomplete trailing character back.
  private readonly utf8 = new TextDecoder('utf-8', { fatal: false });
  // Generic path (non-byte-level decoders): re-decode a short window of ids (prefix/read offsets).
  private readonly ids: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;
  private emitted = '';

  constructor(tokenizer: ChatTokenizer) {
    this.tokenizer = tokenizer;
  }

  /** Adds one or more token ids; returns the text that became final (possibly ''). */
  push(ids: number | readonly number[]): string {
    const list = typeof ids === 'number' ? [ids] : ids;
    let out = '';
    for (const id of list) out += this.pushOne(id);
    this.emitted += out;
    return out;
  }

  /** Ends the stream: an incomplete trailing character comes out as U+FFFD. */
  finish(): string {
    let out: string;
    if (this.ids.length === 0) {
      out = this.utf8.decode();
    } else {
      const prefix = this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset));
      const all = this.tokenizer.decode(this.ids.slice(this.prefixOffset));
      out = all.slice(prefix.length);
      this.prefixOffset = this.readOffset = this.ids.length;
    }
    this.emitted += out;
    return out;
  }

  /** Everything emitted so far. */
  get text(): string {
    return this.emitted;
  }

  private pushOne(id: number): string {
    const bytes = this.ids.length === 0 ? this.tokenizer.tokenBytes(id) : null;
    if (bytes !== null) return this.utf8.decode(bytes, { stream: true });
    this.ids.push(id);
    const prefix = this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const all = this.tokenizer.decode(this.ids.slice(this.prefixOffset));
    // A trailing U+FFFD may be half a character; wait for more ids (a character spans ≤ 4 tokens).
    const pending = this.ids.length - this.readOffset;
    if (all.length <= prefix.length || (all.endsWith('\uFFFD') && pending < 4)) return '';
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    return all.slice(prefix.length);
  }
}
