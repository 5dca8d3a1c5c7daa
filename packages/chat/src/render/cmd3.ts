// Renders the cmd3 prompt format (Command R7B / Command A) byte for byte as Cohere's renderer does.
// Layout: BOS, system turn (preamble), conversation turns, documents injected as tool call 0 right
// after the first non-system turn, then the generation prompt.
import type { PromptPart } from '../tokenizer/tokenizer.js';
import * as T from './cmd3-text.js';
import type { Cmd3Citation, Cmd3Content, Cmd3Message, Cmd3Options, Cmd3Tool, RenderedPrompt } from './cmd3-types.js';
import { jsonStringBody, pyJson } from './py-json.js';

export const CMD3_TOKENS = {
  bos: '<BOS_TOKEN>',
  startTurn: '<|START_OF_TURN_TOKEN|>',
  endTurn: '<|END_OF_TURN_TOKEN|>',
  system: '<|SYSTEM_TOKEN|>',
  user: '<|USER_TOKEN|>',
  chatbot: '<|CHATBOT_TOKEN|>',
  startThinking: '<|START_THINKING|>',
  endThinking: '<|END_THINKING|>',
  startResponse: '<|START_RESPONSE|>',
  endResponse: '<|END_RESPONSE|>',
  startAction: '<|START_ACTION|>',
  endAction: '<|END_ACTION|>',
  startToolResult: '<|START_TOOL_RESULT|>',
  endToolResult: '<|END_TOOL_RESULT|>',
} as const;
const K = CMD3_TOKENS;

class PromptBuilder {
  readonly parts: PromptPart[] = [];
  /** Template text. */
  t(text: string): this {
    return this.add(text, true);
  }
  /** User-supplied text. */
  u(text: string): this {
    return this.add(text, false);
  }
  private add(text: string, trusted: boolean): this {
    if (text.length === 0) return this;
    const last = this.parts[this.parts.length - 1];
    if (last && last.trusted === trusted) this.parts[this.parts.length - 1] = { text: last.text + text, trusted };
    else this.parts.push({ text, trusted });
    return this;
  }
  build(): RenderedPrompt {
    return { text: this.parts.map((p) => p.text).join(''), parts: this.parts };
  }
}

export function renderCmd3(opts: Cmd3Options): RenderedPrompt {
  const b = new PromptBuilder();
  const documents = opts.documents ?? [];
  const tools = opts.tools ?? [];
  b.t(K.bos);
  if (opts.skipPreamble) {
    if (opts.preamble) b.t(K.startTurn + K.system).u(opts.preamble).t(K.endTurn);
  } else {
    renderSystemTurn(b, opts, documents.length > 0, tools);
  }
  let renderDocs = documents.length > 0;
  let renderedNonSystem = false;
  for (const message of mergeToolMessages(opts.messages)) {
    if (renderedNonSystem && renderDocs) {
      renderDocuments(b, documents, opts.skipThinking === true);
      renderDocs = false;
    }
    if (message.role !== 'system') renderedNonSystem = true;
    renderMessage(b, message, opts);
  }
  if (renderDocs) renderDocuments(b, documents, opts.skipThinking === true);
  b.t(K.startTurn + K.chatbot);
  if (opts.responsePrefix) b.t(opts.responsePrefix);
  return b.build();
}

function renderSystemTurn(b: PromptBuilder, opts: Cmd3Options, hasDocs: boolean, tools: readonly Cmd3Tool[]): void {
  const safety = opts.safetyMode ?? 'CONTEXTUAL';
  b.t(`${K.startTurn}${K.system}# System Preamble\n`);
  if (safety !== 'NONE') b.t(`${safety === 'STRICT' ? T.SAFETY_STRICT : T.SAFETY_CONTEXTUAL}\n`);
  b.t(`\n${T.CUTOFF_LINE}\n\n${T.LANGUAGES_LINE}`);
  if (opts.reasoning) b.t(`\n\n${T.REASONING_PREAMBLE}`);
  if (tools.length > 0 || hasDocs) {
    const citations = opts.citations ?? true;
    const pieces = opts.skipThinking
      ? citations ? T.TOOL_USE_SKIP_THINKING_CITATIONS : T.TOOL_USE_SKIP_THINKING_NO_CITATIONS
      : citations ? T.TOOL_USE_CITATIONS : T.TOOL_USE_NO_CITATIONS;
    // Odd pieces are the "you may skip this step" notes, dropped when reasoning is on.
    b.t(`\n\n${pieces.filter((_, i) => i % 2 === 0 || !opts.reasoning).join('')}\n\n\`\`\`json\n[`);
    let first = true;
    if (hasDocs) {
      b.t(`\n    ${T.DIRECT_INJECTED_DOCUMENT_TOOL}`);
      first = false;
    }
    for (const tool of tools) {
      b.t(`${first ? '' : ','}\n    {"name": "`).u(tool.name).t('", "description": "').u(jsonStringBody(tool.description));
      b.t('", "parameters": ').u(pyJson(tool.parameters)).t(', "responses": null}');
      first = false;
    }
    b.t('\n]\n```');
  }
  b.t(`\n\n${T.DEFAULT_PREAMBLE}`);
  const preamble = opts.preamble ?? '';
  if (opts.jsonMode || preamble !== '') {
    b.t(`\n\n${T.DEVELOPER_PREAMBLE_HEADER}\n`);
    if (preamble !== '') {
      b.u(preamble);
      if (opts.jsonMode) b.t('\n');
    }
    if (opts.jsonMode) {
      b.t(T.JSON_MODE_INSTRUCTION);
      if (opts.jsonSchema) b.t(`\n${T.JSON_SCHEMA_INTRO}\n`).u(opts.jsonSchema);
    }
  }
  b.t(K.endTurn);
}

function renderDocuments(b: PromptBuilder, documents: readonly Record<string, unknown>[], skipThinking: boolean): void {
  b.t(K.startTurn + K.chatbot);
  if (!skipThinking) b.t(K.startThinking + T.DOCUMENT_TOOL_PLAN + K.endThinking);
  b.t(`${K.startAction}[\n    {"tool_call_id": "0", "tool_name": "direct-injected-document", "parameters": {}}\n]${K.endAction}${K.endTurn}`);
  b.t(K.startTurn + K.system + K.startToolResult);
  renderToolResults(b, [{ id: '0', results: documents }]);
  b.t(K.endToolResult + K.endTurn);
}

interface ToolResultGroup {
  id: string;
  results: unknown[] | readonly Record<string, unknown>[];
}

function renderToolResults(b: PromptBuilder, groups: readonly ToolResultGroup[]): void {
  b.t('[\n');
  groups.forEach((g, gi) => {
    b.t(`    {\n        "tool_call_id": "${g.id}",\n        "results": {\n`);
    g.results.forEach((r, ri) => {
      b.t(`            "${ri}": `).u(pyJson(r));
      if (ri < g.results.length - 1) b.t(',\n');
    });
    b.t('\n        },\n        "is_error": null\n    }');
    if (gi < groups.length - 1) b.t(',\n');
  });
  b.t('\n]');
}

type MergedMessage = Cmd3Message | { readonly role: 'tool-results'; readonly groups: ToolResultGroup[] };

/** Consecutive tool messages become one turn; results for the same call id accumulate in one entry. */
function mergeToolMessages(messages: readonly Cmd3Message[]): MergedMessage[] {
  const out: MergedMessage[] = [];
  for (const m of messages) {
    if (m.role !== 'tool') {
      out.push(m);
      continue;
    }
    let last = out[out.length - 1];
    if (!last || last.role !== 'tool-results') {
      last = { role: 'tool-results', groups: [] };
      out.push(last);
    }
    let group = last.groups.find((g) => g.id === m.toolCallId);
    if (!group) {
      group = { id: m.toolCallId, results: [] };
      last.groups.push(group);
    }
    for (const c of m.content) (group.results as unknown[]).push(toolResultObject(c));
  }
  return out;
}

function toolResultObject(c: Cmd3Content): unknown {
  if (c.type === 'document') return c.document ?? {};
  return { content: c.text ?? '' };
}

function escapeText(text: string, opts: Cmd3Options): string {
  const map = opts.escapedSpecialTokens;
  if (!map) return text;
  let out = text;
  for (const [from, to] of Object.entries(map)) out = out.split(from).join(to);
  return out;
}

function renderMessage(b: PromptBuilder, m: MergedMessage, opts: Cmd3Options): void {
  if (m.role === 'tool-results') {
    if (m.groups.length === 0) return;
    b.t(K.startTurn + K.system + K.startToolResult);
    renderToolResults(b, m.groups);
    b.t(K.endToolResult + K.endTurn);
    return;
  }
  if (m.role === 'tool') return; // merged above
  const calls = m.role === 'chatbot' ? (m.toolCalls ?? []) : [];
  if (calls.length === 0 && m.content.length === 0) return;
  const skipThinking = opts.skipThinking === true;
  if (m.role === 'chatbot') {
    b.t(K.startTurn + K.chatbot);
    const cites = m.citations ?? [];
    const first = m.content[0];
    if (calls.length > 0) {
      if (first && !skipThinking) {
        b.t(K.startThinking).u(withCitations(escapeText(first.text ?? '', opts), cites, true)).t(K.endThinking);
      }
      b.t(`${K.startAction}[\n`);
      calls.forEach((c, i) => {
        b.t(`    {"tool_call_id": "${c.id}", "tool_name": "`).u(c.name).t('", "parameters": ').u(pyJson(c.parameters)).t('}');
        if (i < calls.length - 1) b.t(',\n');
      });
      b.t(`\n]${K.endAction}`);
    } else {
      if (first?.type === 'thinking' && !skipThinking) {
        b.t(K.startThinking).u(withCitations(escapeText(first.text ?? '', opts), cites, true)).t(K.endThinking);
      }
      b.t(K.startResponse);
      const textBlock = first?.type === 'text' ? first : m.content[1]?.type === 'text' ? m.content[1] : undefined;
      if (textBlock) b.u(withCitations(escapeText(textBlock.text ?? '', opts), cites, false));
      b.t(K.endResponse);
    }
    b.t(K.endTurn);
    return;
  }
  b.t(K.startTurn + (m.role === 'user' ? K.user : K.system));
  m.content.forEach((c, i) => {
    if (c.type === 'text' && i > 0 && m.content[i - 1]?.type === 'text') b.t('\n');
    b.u(c.type === 'document' ? pyJson(c.document ?? {}) : escapeText(c.text ?? '', opts));
  });
  b.t(K.endTurn);
}

/**
 * Re-inserts citation markup into a stored assistant text: "<co>span</co: 1:[0,2]>". Offsets are
 * code points; citations that fall outside the text or overlap an earlier one are left out.
 */
export function withCitations(text: string, citations: readonly Cmd3Citation[], thinking: boolean): string {
  const chars = [...text];
  const picked = citations
    .filter((c) => c.isThinking === thinking && c.start >= 0 && c.start <= c.end && c.end <= chars.length && c.sources.length > 0)
    .sort((a, b) => a.start - b.start || a.end - b.end);
  let out = '';
  let pos = 0;
  for (const c of picked) {
    if (c.start < pos) continue;
    const sources = c.sources.map((s) => `${s.toolCallIndex}:[${s.resultIndices.join(',')}]`).join(',');
    out += chars.slice(pos, c.start).join('') + '<co>' + chars.slice(c.start, c.end).join('') + `</co: ${sources}>`;
    pos = c.end;
  }
  return out + chars.slice(pos).join('');
}
