// Stop sequences on streamed text: the engine stops on token ids only, so the router watches the
// detokenized text. Text that could still be the start of a stop sequence is held back, never sent
// and then taken back; the stop sequence itself is not part of the output (Cohere and OpenAI agree).
export class StopMatcher {
  private held = '';
  private readonly longest: number;
  stopped = false;

  constructor(private readonly sequences: readonly string[]) {
    this.longest = Math.max(0, ...sequences.map((s) => s.length));
  }

  /** Text safe to emit now; sets `stopped` when a stop sequence appeared. */
  push(text: string): string {
    if (this.stopped) return '';
    if (this.sequences.length === 0) return text;
    this.held += text;
    let cut = -1;
    for (const s of this.sequences) {
      const at = this.held.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.stopped = true;
      const out = this.held.slice(0, cut);
      this.held = '';
      return out;
    }
    // Keep the longest tail that is a prefix of some stop sequence.
    let keep = 0;
    for (let n = Math.min(this.longest - 1, this.held.length); n > 0; n--) {
      const tail = this.held.slice(this.held.length - n);
      if (this.sequences.some((s) => s.startsWith(tail))) {
        keep = n;
        break;
      }
    }
    const out = this.held.slice(0, this.held.length - keep);
    this.held = this.held.slice(this.held.length - keep);
    return out;
  }

  /** End of output: whatever was held back is plain text. */
  flush(): string {
    const out = this.stopped ? '' : this.held;
    this.held = '';
    return out;
  }
}
