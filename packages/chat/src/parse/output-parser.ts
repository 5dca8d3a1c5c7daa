// Streaming parser: detokenized cmd3 model output → Cohere Chat v2 stream events.
//
// Grammar (Cohere's cmd3 parsing rules): <|START_THINKING|>…<|END_THINKING|> is the tool plan when an
// <|START_ACTION|> follows it, else thinking content; <|START_ACTION|>[…]<|END_ACTION|> holds the tool
// calls; <|START_RESPONSE|>…<|END_RESPONSE|> (or unmarked text) is the answer, with citation markup;
// anything after <|END_RESPONSE|>, <|END_OF_TURN_TOKEN|> or another turn marker is ignored. Trailing
// whitespace of the answer is trimmed.
//
// Determinism: whatever the chunking, the events are the same once adjacent deltas of the same kind
// are merged; every non-delta event (starts, ends, tool calls, citations, message-end) is identical.
//
// Malformed output never throws; it ends as documented in docs/chat.md:
// - unterminated action block: calls are emitted if the buffered text parses as a complete call list,
//   otherwise message-end has finish_reason ERROR and error "unterminated action block";
// - action JSON invalid (or not a list of {tool_name, parameters}): no calls, finish_reason ERROR with
//   the reason in `error`;
// - a citation source naming a document / tool result that does not exist is dropped; a citation left
//   with no source is dropped (its text stays in the answer);
// - an unclosed citation span keeps its text without a citation; a partial tag at the end is text.
import { randomBytes } from 'node:crypto';
import type { ChatStreamEvent, Citation, CitationSource, FinishReason } from '@tandem/schemas';
import type { ChatContext } from '../render/from-request.js';
import { CitationExtractor, extractCitations, type RawCitation } from './citation-extractor.js';

export interface OutputParserOptions {
  /** Documents and tool results of the request, to resolve citation sources. */
  readonly context?: ChatContext;
  /** FAST: citation events inline as spans close; ACCURATE (default): after the text. */
  readonly citationMode?: 'FAST' | 'ACCURATE';
  /** Response id for message-start / message-end. */
  readonly id?: string;
  /** Makes API tool-call ids; default `<name>_<12 random lowercase alphanumerics>` like Cohere. */
  readonly makeToolCallId?: (name: string, index: number) => string;
}

const M = {
  startThinking: '<|START_THINKING|>',
  endThinking: '<|END_THINKING|>',
  startAction: '<|START_ACTION|>',
  endAction: '<|END_ACTION|>',
  startResponse: '<|START_RESPONSE|>',
  endResponse: '<|END_RESPONSE|>',
} as const;
const STOP_MARKERS = ['<|END_OF_TURN_TOKEN|>', '<|START_OF_TURN_TOKEN|>', '<|START_TOOL_RESULT|>', '<|END_TOOL_RESULT|>'];
const ALL_MARKERS = [...Object.values(M), ...STOP_MARKERS];

type Mode = 'answer' | 'thinking' | 'after-thinking' | 'action' | 'done';

function defaultToolCallId(name: string): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(12);
  let s = '';
  for (const b of bytes) s += alphabet[b % alphabet.length];
  return `${name}_${s}`;
}

/** The model's action list as {name, parameters}, or null when it is not a list of calls. */
function asToolCalls(parsed: unknown): { name: string; parameters: Record<string, unknown> }[] | null {
  if (!Array.isArray(parsed)) return null;
  const out: { name: string; parameters: Record<string, unknown> }[] = [];
  for (const c of parsed) {
    if (typeof c !== 'object' || c === null || Array.isArray(c)) return null;
    const call = c as Record<string, unknown>;
    const params = call['parameters'] ?? {};
    if (typeof call['tool_name'] !== 'string' || typeof params !== 'object' || params === null || Array.isArray(params)) return null;
    out.push({ name: call['tool_name'], parameters: params as Record<string, unknown> });
  }
  return out;
}

export class Cmd3OutputParser {
  private readonly opts: OutputParserOptions;
  private pending = ''; // text not yet classified (may end with a partial marker)
  private mode: Mode = 'answer';
  private started = false;
  private ended = false;
  private thinking = '';
  private action = '';
  private contentIndex = 0;
  private text: { index: number; extractor: CitationExtractor; heldSpace: string; open: boolean } | null = null;
  private queuedCitations: Citation[] = [];
  private citationIndex = 0;
  private toolCalls = 0;
  private error: string | undefined;

  constructor(opts: OutputParserOptions = {}) {
    this.opts = opts;
    if (opts.context?.prefill) {
      // The prompt ended with a prefill (e.g. <|START_ACTION|> for tool_choice REQUIRED): start in its state.
      this.pending = opts.context.prefill;
    }
  }

  /** Feeds detokenized text; returns the events it completes. */
  push(chunk: string): ChatStreamEvent[] {
    const out: ChatStreamEvent[] = [];
    this.start(out);
    if (this.ended) return out;
    this.pending += chunk;
    this.drain(out, false);
    return out;
  }

  /** Ends the output; `reason` is why generation stopped (COMPLETE for end of turn). */
  finish(reason: FinishReason = 'COMPLETE'): ChatStreamEvent[] {
    const out: ChatStreamEvent[] = [];
    this.start(out);
    if (this.ended) return out;
    this.drain(out, true);
    if (this.mode === 'thinking' || this.mode === 'after-thinking') this.flushThinkingAsContent(out);
    if (this.mode === 'action') this.finishAction(out, false);
    this.closeText(out);
    this.ended = true;
    const finish: FinishReason = this.error !== undefined ? 'ERROR' : this.toolCalls > 0 ? 'TOOL_CALL' : reason;
    out.push({
      type: 'message-end',
      ...(this.opts.id !== undefined ? { id: this.opts.id } : {}),
      delta: { finish_reason: finish, ...(this.error !== undefined ? { error: this.error } : {}) },
    });
    return out;
  }

  private start(out: ChatStreamEvent[]): void {
    if (this.started) return;
    this.started = true;
    out.push({ type: 'message-start', ...(this.opts.id !== undefined ? { id: this.opts.id } : {}), delta: { message: { role: 'assistant' } } });
  }

  /** Splits pending text at markers; holds back a tail that may still become a marker. */
  private drain(out: ChatStreamEvent[], final: boolean): void {
    while (this.pending.length > 0 && this.mode !== 'done') {
      const at = this.pending.indexOf('<|');
      if (at < 0) {
        // A lone trailing "<" may start a marker.
        const keep = !final && this.pending.endsWith('<') ? 1 : 0;
        this.onText(this.pending.slice(0, this.pending.length - keep), out);
        this.pending = this.pending.slice(this.pending.length - keep);
        return;
      }
      if (at > 0) {
        this.onText(this.pending.slice(0, at), out);
        this.pending = this.pending.slice(at);
        continue;
      }
      const marker = ALL_MARKERS.find((mk) => this.pending.startsWith(mk));
      if (marker) {
        this.pending = this.pending.slice(marker.length);
        this.onMarker(marker, out);
        continue;
      }
      if (!final && ALL_MARKERS.some((mk) => mk.startsWith(this.pending))) return; // partial marker
      this.onText('<|', out); // not a marker: plain text
      this.pending = this.pending.slice(2);
    }
    if (this.mode === 'done') this.pending = '';
  }

  private onMarker(marker: string, out: ChatStreamEvent[]): void {
    switch (this.mode) {
      case 'thinking':
        if (marker === M.endThinking) this.mode = 'after-thinking';
        else if (marker === M.startAction) this.beginAction(out);
        else if (marker === M.startResponse) this.flushThinkingAsContent(out);
        else if (marker !== M.startThinking) this.stop(out);
        return;
      case 'after-thinking':
        if (marker === M.startAction) this.beginAction(out);
        else if (marker === M.startThinking) this.mode = 'thinking'; // another block: same buffer
        else {
          this.flushThinkingAsContent(out);
          if (marker !== M.startResponse) this.stop(out);
        }
        return;
      case 'action':
        if (marker === M.endAction) this.finishAction(out, true);
        else this.action += marker; // inside JSON: keep verbatim, the JSON parse will decide
        return;
      case 'answer':
        if (marker === M.startThinking) this.mode = 'thinking';
        else if (marker === M.startAction) this.beginAction(out);
        else if (marker === M.startResponse) return;
        else this.stop(out);
        return;
      case 'done':
        return;
    }
  }

  private onText(text: string, out: ChatStreamEvent[]): void {
    if (text.length === 0) return;
    switch (this.mode) {
      case 'thinking':
        this.thinking += text;
        return;
      case 'after-thinking':
        if (text.trim() === '') return; // whitespace between blocks
        this.flushThinkingAsContent(out);
        this.answerText(text.trimStart(), out); // whitespace between blocks is not content
        return;
      case 'action':
        this.action += text;
        return;
      case 'answer':
        this.answerText(text, out);
        return;
      case 'done':
        return;
    }
  }

  private stop(out: ChatStreamEvent[]): void {
    this.closeText(out);
    this.mode = 'done';
  }

  private beginAction(out: ChatStreamEvent[]): void {
    if (this.thinking.length > 0) {
      const { text, citations } = extractCitations(this.thinking);
      this.thinking = '';
      if (text.length > 0) out.push({ type: 'tool-plan-delta', delta: { message: { tool_plan: text } } });
      for (const c of citations) this.emitCitation(c, 0, 'PLAN', out, true);
    }
    this.mode = 'action';
    this.action = '';
  }

  private flushThinkingAsContent(out: ChatStreamEvent[]): void {
    const raw = this.thinking;
    this.thinking = '';
    this.mode = 'answer';
    const { text, citations } = extractCitations(raw);
    if (text.trim() === '') return;
    const index = this.contentIndex++;
    out.push({ type: 'content-start', index, delta: { message: { content: { type: 'thinking', thinking: '' } } } });
    out.push({ type: 'content-delta', index, delta: { message: { content: { thinking: text } } } });
    for (const c of citations) this.emitCitation(c, index, 'THINKING_CONTENT', out, true);
    out.push({ type: 'content-end', index });
  }

  private finishAction(out: ChatStreamEvent[], terminated: boolean): void {
    this.mode = 'done';
    const raw = this.action.trim();
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (err) {
      this.error = terminated ? `invalid tool call JSON: ${(err as Error).message}` : 'unterminated action block';
      return;
    }
    const calls = asToolCalls(parsed);
    if (calls === null) {
      this.error = 'invalid tool call JSON: expected a list of {"tool_call_id", "tool_name", "parameters"} objects';
      return;
    }
    const make = this.opts.makeToolCallId ?? defaultToolCallId;
    calls.forEach(({ name, parameters }) => {
      const index = this.toolCalls++;
      const args = JSON.stringify(parameters);
      out.push({ type: 'tool-call-start', index, delta: { message: { tool_calls: { id: make(name, index), type: 'function', function: { name, arguments: '' } } } } });
      out.push({ type: 'tool-call-delta', index, delta: { message: { tool_calls: { function: { arguments: args } } } } });
      out.push({ type: 'tool-call-end', index });
    });
  }

  private answerText(raw: string, out: ChatStreamEvent[]): void {
    if (!this.text) this.text = { index: -1, extractor: new CitationExtractor(), heldSpace: '', open: false };
    const { text, citations } = this.text.extractor.push(raw);
    this.emitAnswer(text, out);
    for (const c of citations) this.emitCitation(c, this.text.index, 'TEXT_CONTENT', out, false);
  }

  /** Emits answer text, holding trailing whitespace back until something follows it. */
  private emitAnswer(text: string, out: ChatStreamEvent[]): void {
    const t = this.text;
    if (!t || text.length === 0) return;
    const all = t.heldSpace + text;
    const body = all.trimEnd();
    t.heldSpace = all.slice(body.length);
    if (body.length === 0) return;
    if (!t.open) {
      t.open = true;
      t.index = this.contentIndex++;
      out.push({ type: 'content-start', index: t.index, delta: { message: { content: { type: 'text', text: '' } } } });
    }
    out.push({ type: 'content-delta', index: t.index, delta: { message: { content: { text: body } } } });
  }

  private closeText(out: ChatStreamEvent[]): void {
    const t = this.text;
    if (!t) return;
    const rest = t.extractor.finish();
    this.emitAnswer(rest.text, out);
    for (const c of this.queuedCitations) {
      const index = this.citationIndex++;
      out.push({ type: 'citation-start', index, delta: { message: { citations: { ...c, content_index: t.index } } } });
      out.push({ type: 'citation-end', index });
    }
    this.queuedCitations = [];
    if (t.open) out.push({ type: 'content-end', index: t.index });
    this.text = null;
  }

  private emitCitation(raw: RawCitation, contentIndex: number, type: Citation['type'], out: ChatStreamEvent[], now: boolean): void {
    const sources = this.resolveSources(raw);
    if (sources.length === 0) return;
    const citation: Citation = { start: raw.start, end: raw.end, text: raw.text, sources, content_index: contentIndex, type };
    if (now || this.opts.citationMode === 'FAST') {
      // In FAST mode the text content may not be open yet when the span is the first text.
      const index = this.citationIndex++;
      out.push({ type: 'citation-start', index, delta: { message: { citations: citation } } });
      out.push({ type: 'citation-end', index });
    } else {
      this.queuedCitations.push(citation);
    }
  }

  private resolveSources(raw: RawCitation): CitationSource[] {
    const ctx = this.opts.context;
    const out: CitationSource[] = [];
    for (const s of raw.sources) {
      const bucket = ctx?.toolResults.get(String(s.toolCallIndex));
      for (const r of s.resultIndices) {
        const result = bucket?.[r];
        if (!result) continue; // names a document / result that does not exist: dropped
        const isDoc = s.toolCallIndex === 0 && (ctx?.documents.length ?? 0) > 0;
        out.push(isDoc ? { type: 'document', id: result.apiId, document: { ...result.output, id: result.apiId } } : { type: 'tool', id: result.apiId, tool_output: result.output });
      }
    }
    return out;
  }
}
