// Whole-request validation of a Chat v2 request: the zod structure plus the semantic rules a schema
// cannot express. Every problem is reported (never only the first), each as "path: message".
import { formatIssuePath, zodIssueLines } from '../format-zod-error.js';
import { checkJsonSchema } from './json-schema-check.js';
import { ChatRequestSchema, type ChatRequest } from './request.js';

export interface ChatLimits {
  /** Longest single string (UTF-16 code units) anywhere in the request. */
  readonly maxStringChars: number;
  /** Total characters of message contents, tool plans and documents. */
  readonly maxTotalChars: number;
  /** Most messages in one request. */
  readonly maxMessages: number;
}

/** Defaults: generous enough for 256k-token contexts, small enough to bound memory. */
export const DEFAULT_CHAT_LIMITS: ChatLimits = { maxStringChars: 1_000_000, maxTotalChars: 4_000_000, maxMessages: 10_000 };

export type ChatRequestValidation = { ok: true; value: ChatRequest } | { ok: false; issues: string[] };

export class ChatRequestError extends Error {
  constructor(readonly issues: readonly string[]) {
    super(`invalid chat request:\n  ${issues.join('\n  ')}`);
    this.name = 'ChatRequestError';
  }
}

type Path = (string | number)[];
type Issue = { path: Path; message: string };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function walkStrings(v: unknown, path: Path, limits: ChatLimits, out: Issue[]): void {
  if (typeof v === 'string') {
    if (LONE_SURROGATE.test(v)) out.push({ path, message: 'contains a lone UTF-16 surrogate (not valid Unicode)' });
    if (v.length > limits.maxStringChars) {
      out.push({ path, message: `is too long: ${v.length} characters (at most ${limits.maxStringChars})` });
    }
  } else if (Array.isArray(v)) {
    v.forEach((x, i) => walkStrings(x, [...path, i], limits, out));
  } else if (isRecord(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (LONE_SURROGATE.test(k)) out.push({ path: [...path, k], message: 'field name contains a lone UTF-16 surrogate' });
      walkStrings(x, [...path, k], limits, out);
    }
  }
}

function contentChars(content: unknown): number {
  if (typeof content === 'string') return content.length;
  let n = 0;
  for (const block of arr(content)) {
    if (!isRecord(block)) continue;
    for (const key of ['text', 'thinking'] as const) if (typeof block[key] === 'string') n += (block[key] as string).length;
    if (isRecord(block['document'])) n += JSON.stringify(block['document']).length;
  }
  return n;
}

function isEmptyContent(content: unknown): boolean {
  if (typeof content === 'string') return content.length === 0;
  return Array.isArray(content) && content.length === 0;
}

function documentHasText(doc: unknown): boolean {
  if (typeof doc === 'string') return doc.trim().length > 0;
  if (!isRecord(doc) || !isRecord(doc['data'])) return true; // structural error reported by zod
  return Object.values(doc['data']).some((v) => typeof v === 'string' && v.trim().length > 0);
}

/** Semantic rules over the raw input; guarded so it runs (and reports) even when zod also fails. */
function semanticIssues(input: unknown, limits: ChatLimits): Issue[] {
  const issues: Issue[] = [];
  if (!isRecord(input)) return issues;
  walkStrings(input, [], limits, issues);
  const messages = arr(input['messages']);
  if (messages.length > limits.maxMessages) {
    issues.push({ path: ['messages'], message: `too many messages: ${messages.length} (at most ${limits.maxMessages})` });
  }

  let total = 0;
  const callSeen = new Map<string, string>(); // id → where first defined
  const pending = new Map<string, Path>(); // tool calls still waiting for a result
  messages.forEach((m, i) => {
    if (!isRecord(m)) return;
    const role = m['role'];
    total += contentChars(m['content']);
    if (typeof m['tool_plan'] === 'string') total += m['tool_plan'].length;
    if ((role === 'user' || role === 'system' || role === 'tool') && isEmptyContent(m['content'])) {
      issues.push({ path: ['messages', i, 'content'], message: `${role} message content must not be empty` });
    }
    if (role === 'assistant') {
      const calls = arr(m['tool_calls']);
      if (calls.length === 0 && (m['content'] === undefined || isEmptyContent(m['content']))) {
        issues.push({ path: ['messages', i], message: 'assistant message needs content or tool_calls' });
      }
      if (m['tool_plan'] !== undefined && calls.length === 0) {
        issues.push({ path: ['messages', i, 'tool_plan'], message: 'tool_plan given without tool_calls' });
      }
      calls.forEach((c, j) => {
        if (!isRecord(c)) return;
        const at: Path = ['messages', i, 'tool_calls', j];
        const id = c['id'];
        if (typeof id === 'string') {
          const first = callSeen.get(id);
          if (first !== undefined) issues.push({ path: [...at, 'id'], message: `duplicate tool call id "${id}" (first used at ${first})` });
          else {
            callSeen.set(id, formatIssuePath(at));
            pending.set(id, at);
          }
        }
        const fn = c['function'];
        if (isRecord(fn) && typeof fn['arguments'] === 'string') {
          let parsed: unknown;
          try {
            parsed = JSON.parse(fn['arguments']);
          } catch {
            issues.push({ path: [...at, 'function', 'arguments'], message: 'is not valid JSON' });
            return;
          }
          if (!isRecord(parsed)) issues.push({ path: [...at, 'function', 'arguments'], message: 'must be a JSON object' });
        }
      });
    } else if (role === 'tool') {
      const id = m['tool_call_id'];
      if (typeof id === 'string') {
        if (!callSeen.has(id)) {
          issues.push({ path: ['messages', i, 'tool_call_id'], message: `tool result for unknown tool call id "${id}" (no earlier assistant tool call has it)` });
        }
        pending.delete(id);
      }
    } else if (role === 'user') {
      // A new user turn while calls still wait for results: those calls never got one.
      flushPending(pending, issues);
    }
  });
  flushPending(pending, issues);

  const documents = arr(input['documents']);
  documents.forEach((d, i) => {
    if (!documentHasText(d)) issues.push({ path: ['documents', i], message: 'document has no text (needs at least one non-empty string field)' });
    total += typeof d === 'string' ? d.length : JSON.stringify(d ?? null).length;
  });
  if (total > limits.maxTotalChars) {
    issues.push({ path: ['messages'], message: `request content is too large: ${total} characters (at most ${limits.maxTotalChars})` });
  }

  const tools = arr(input['tools']);
  const names = new Map<string, number>();
  tools.forEach((t, i) => {
    if (!isRecord(t) || !isRecord(t['function'])) return;
    const fn = t['function'];
    if (typeof fn['name'] === 'string') {
      const first = names.get(fn['name']);
      if (first !== undefined) issues.push({ path: ['tools', i, 'function', 'name'], message: `duplicate tool name "${fn['name']}" (also tools[${first}])` });
      else names.set(fn['name'], i);
    }
    if (isRecord(fn['parameters'])) issues.push(...checkJsonSchema(fn['parameters'], ['tools', i, 'function', 'parameters']));
  });

  const rf = input['response_format'];
  if (isRecord(rf) && rf['type'] === 'json_object') {
    if (tools.length > 0 || documents.length > 0) {
      issues.push({ path: ['response_format'], message: 'json_object response_format cannot be combined with tools or documents' });
    }
    const schema = rf['json_schema'];
    if (isRecord(schema)) {
      issues.push(...checkJsonSchema(schema, ['response_format', 'json_schema']));
      if (schema['type'] !== 'object') {
        issues.push({ path: ['response_format', 'json_schema', 'type'], message: 'top-level json_schema type must be "object"' });
      }
    }
  }
  if (input['tool_choice'] !== undefined && tools.length === 0) {
    issues.push({ path: ['tool_choice'], message: 'tool_choice needs tools' });
  }
  return issues;
}

function flushPending(pending: Map<string, Path>, issues: Issue[]): void {
  for (const [id, at] of pending) {
    issues.push({ path: at, message: `tool call "${id}" has no tool result (a tool message with this tool_call_id must follow it)` });
  }
  pending.clear();
}

/** Validates a parsed JSON request body, returning every problem with its path. */
export function validateChatRequest(input: unknown, limits: ChatLimits = DEFAULT_CHAT_LIMITS): ChatRequestValidation {
  const structural = ChatRequestSchema.safeParse(input);
  const lines = structural.success ? [] : zodIssueLines(structural.error);
  for (const issue of semanticIssues(input, limits)) lines.push(`${formatIssuePath(issue.path)}: ${issue.message}`);
  if (lines.length > 0 || !structural.success) return { ok: false, issues: [...new Set(lines)] };
  return { ok: true, value: structural.data };
}

/** validateChatRequest, throwing ChatRequestError on failure. */
export function parseChatRequest(input: unknown, limits: ChatLimits = DEFAULT_CHAT_LIMITS): ChatRequest {
  const r = validateChatRequest(input, limits);
  if (!r.ok) throw new ChatRequestError(r.issues);
  return r.value;
}

/** Byte offset of the first invalid UTF-8 sequence, or -1 when the bytes are valid UTF-8. */
export function findInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    let need: number;
    let min: number;
    if (b < 0x80) { i++; continue; }
    else if (b >= 0xc2 && b <= 0xdf) { need = 1; min = 0x80; }
    else if (b >= 0xe0 && b <= 0xef) { need = 2; min = 0x800; }
    else if (b >= 0xf0 && b <= 0xf4) { need = 3; min = 0x10000; }
    else return i;
    let cp = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/** Validates a raw request body: UTF-8, then JSON, then validateChatRequest. */
export function validateChatRequestBody(body: Uint8Array, limits: ChatLimits = DEFAULT_CHAT_LIMITS): ChatRequestValidation {
  const bad = findInvalidUtf8(body);
  if (bad >= 0) return { ok: false, issues: [`(body): invalid UTF-8 at byte ${bad}`] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(body));
  } catch (err) {
    return { ok: false, issues: [`(body): not valid JSON: ${(err as Error).message}`] };
  }
  return validateChatRequest(parsed, limits);
}
