// Streaming removal of citation markup ("<co>span</co: 1:[0,2],0:[1]>", legacy "<co: 0,1>…</co: 0,1>")
// from generated text. Offsets are Unicode code points of the cleaned text, end exclusive.

export interface RawCitation {
  /** Code-point offsets into the cleaned text. */
  readonly start: number;
  readonly end: number;
  readonly text: string;
  /** Prompt tool-call index → result indices. */
  readonly sources: readonly { readonly toolCallIndex: number; readonly resultIndices: readonly number[] }[];
}

export interface ExtractorOutput {
  readonly text: string;
  readonly citations: readonly RawCitation[];
}

const OPENER = /^<co(?::[^<>]*)?>/;
const CLOSER = /^<\/co:([^<>]*)>/;
// A tag longer than this without its ">" is not a tag.
const MAX_TAG = 256;

/** Parses a closer payload such as "1:[0,2],0:[1]" or the legacy "0,1" (tool call 0). */
export function parseCitationSources(payload: string): RawCitation['sources'] {
  const p = payload.trim();
  if (!p.includes('[')) {
    const indices = p.split(',').map((s) => s.trim()).filter((s) => /^\d+$/.test(s)).map(Number);
    return indices.length > 0 ? [{ toolCallIndex: 0, resultIndices: indices }] : [];
  }
  const out: { toolCallIndex: number; resultIndices: number[] }[] = [];
  for (const piece of p.split(']')) {
    const m = /^[\s,]*(\d+)\s*:\s*\[([\d\s,]*)$/.exec(piece);
    if (!m) continue; // malformed piece: ignored (Cohere's parser does the same)
    const indices = (m[2] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
    if (indices.length > 0) out.push({ toolCallIndex: Number(m[1]), resultIndices: indices });
  }
  return out;
}

function cpLen(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Could `tail` still grow into a match of `tag` (a literal prefix like "<co" or "</co")? */
function couldStart(tail: string, tag: string): boolean {
  return tag.startsWith(tail) || (tail.startsWith(tag) && !tail.includes('>') && tail.length < MAX_TAG);
}

export class CitationExtractor {
  private buf = '';
  private inSpan = false;
  private span = '';
  private emitted = 0; // code points of cleaned text produced so far

  /** Adds raw text; returns cleaned text and the citations completed by it. */
  push(raw: string): ExtractorOutput {
    this.buf += raw;
    let text = '';
    const citations: RawCitation[] = [];
    for (;;) {
      if (!this.inSpan) {
        const at = this.buf.indexOf('<');
        if (at < 0) {
          text += this.buf;
          this.buf = '';
          break;
        }
        text += this.buf.slice(0, at);
        this.buf = this.buf.slice(at);
        const m = OPENER.exec(this.buf);
        if (m) {
          this.buf = this.buf.slice(m[0].length);
          this.inSpan = true;
          this.span = '';
          continue;
        }
        if (couldStart(this.buf, '<co') && !/^<co[^:>]/.test(this.buf)) break; // wait for more
        text += '<';
        this.buf = this.buf.slice(1);
      } else {
        const at = this.buf.indexOf('<');
        if (at < 0) {
          this.span += this.buf;
          this.buf = '';
          break;
        }
        this.span += this.buf.slice(0, at);
        this.buf = this.buf.slice(at);
        const m = CLOSER.exec(this.buf);
        if (m) {
          this.buf = this.buf.slice(m[0].length);
          this.inSpan = false;
          const start = this.emitted + cpLen(text);
          text += this.span;
          citations.push({ start, end: start + cpLen(this.span), text: this.span, sources: parseCitationSources(m[1] ?? '') });
          this.span = '';
          continue;
        }
        if (couldStart(this.buf, '</co:') && !/^<\/co:[^>]*</.test(this.buf)) break;
        this.span += '<';
        this.buf = this.buf.slice(1);
      }
    }
    // Span text is only released with its closer, so it is not counted until then.
    this.emitted += cpLen(text);
    return { text, citations };
  }

  /** Ends the stream: a partial tag is plain text; an unclosed span's text is kept, uncited. */
  finish(): ExtractorOutput {
    const text = this.span + this.buf;
    this.span = '';
    this.buf = '';
    this.inSpan = false;
    this.emitted += cpLen(text);
    return { text, citations: [] };
  }
}

/** Whole-string extraction. */
export function extractCitations(raw: string): ExtractorOutput {
  const x = new CitationExtractor();
  const a = x.push(raw);
  const b = x.finish();
  return { text: a.text + b.text, citations: [...a.citations, ...b.citations] };
}
