// The cmd3 renderer's own input: what the prompt needs, already resolved from an API request (see
// from-request.ts) or from a melody golden case (melody-case.ts). Prompt-level ids only.
import type { PromptPart } from '../tokenizer/tokenizer.js';

export type Cmd3SafetyMode = 'CONTEXTUAL' | 'STRICT' | 'NONE';

export interface Cmd3Content {
  readonly type: 'text' | 'thinking' | 'document';
  /** Text, thinking text, or a document's JSON object. */
  readonly text?: string;
  readonly document?: Record<string, unknown>;
}

/** A citation to re-insert as <co>…</co: …> markup; offsets in code points of the content text. */
export interface Cmd3Citation {
  readonly start: number;
  readonly end: number;
  readonly isThinking: boolean;
  readonly sources: readonly { readonly toolCallIndex: number; readonly resultIndices: readonly number[] }[];
}

export interface Cmd3ToolCall {
  /** Prompt id: a small integer as a string. */
  readonly id: string;
  readonly name: string;
  /** Arguments as a JSON value (serialised with Python spacing). */
  readonly parameters: unknown;
}

export type Cmd3Message =
  | { readonly role: 'user' | 'system'; readonly content: readonly Cmd3Content[] }
  | {
      readonly role: 'chatbot';
      readonly content: readonly Cmd3Content[];
      readonly toolCalls?: readonly Cmd3ToolCall[];
      readonly citations?: readonly Cmd3Citation[];
    }
  | { readonly role: 'tool'; readonly toolCallId: string; readonly content: readonly Cmd3Content[] };

export interface Cmd3Tool {
  readonly name: string;
  readonly description: string;
  readonly parameters: unknown;
}

export interface Cmd3Options {
  readonly messages: readonly Cmd3Message[];
  /** Documents for grounded generation (tool call 0). */
  readonly documents?: readonly Record<string, unknown>[];
  readonly tools?: readonly Cmd3Tool[];
  /** Developer preamble ("# Developer Preamble" section). */
  readonly preamble?: string;
  /** Leave out the system turn (only `preamble` is rendered, as a bare system turn). Default false. */
  readonly skipPreamble?: boolean;
  /** Default CONTEXTUAL. */
  readonly safetyMode?: Cmd3SafetyMode;
  /** Grounding section and citation markup in history. Default true. */
  readonly citations?: boolean;
  /** "## Reasoning" section. Default false. */
  readonly reasoning?: boolean;
  /** Leave out plans/reflections (thinking blocks) everywhere. Default false. */
  readonly skipThinking?: boolean;
  readonly jsonMode?: boolean;
  /** Schema text, inserted verbatim after the JSON-mode instruction. */
  readonly jsonSchema?: string;
  /** Text after the generation prompt (prefill). Trusted: may contain control tokens. */
  readonly responsePrefix?: string;
  /** Literal replacements applied to message text, e.g. {"<|x|>": "\\<\\|x\\|\\>"}. */
  readonly escapedSpecialTokens?: Readonly<Record<string, string>>;
}

export interface RenderedPrompt {
  readonly text: string;
  /** The same text split into template (trusted) and user-supplied (untrusted) pieces. */
  readonly parts: readonly PromptPart[];
}
