// Rendering through a model folder's own chat template (tokenizer_config.json `chat_template`) with
// @huggingface/jinja, given the variables Hugging Face's apply_chat_template passes.
import { Template } from '@huggingface/jinja';
import type { ChatRequest } from '@tandem/schemas';

export class ChatTemplateError extends Error {
  override readonly name = 'ChatTemplateError';
}

export interface ChatTemplateOptions {
  readonly bosToken?: string;
  readonly eosToken?: string;
  /** Default true. */
  readonly addGenerationPrompt?: boolean;
  /** Extra template variables (e.g. enable_citations). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** Renders a chat template with HF-style variables. Template errors become ChatTemplateError. */
export function renderChatTemplate(template: string, vars: Readonly<Record<string, unknown>>): string {
  try {
    return new Template(template).render({ ...vars });
  } catch (err) {
    throw new ChatTemplateError(`chat template failed: ${(err as Error).message}`, { cause: err });
  }
}

function joinText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.flatMap((c: { type: string; text?: string }) => (c.type === 'text' ? [c.text ?? ''] : [])).join('\n');
}

/**
 * The variables transformers' apply_chat_template would get for this request: messages with string
 * content, tool-call arguments as objects, a tool result's single document as its object, `tools`
 * in the API's function form, `documents` as their data objects, `enable_citations`.
 */
export function hfTemplateVars(req: ChatRequest, opts: ChatTemplateOptions = {}): Record<string, unknown> {
  const messages = req.messages.map((m) => {
    switch (m.role) {
      case 'system':
      case 'user':
        return { role: m.role, content: joinText(m.content) };
      case 'assistant':
        return {
          role: 'assistant',
          content: joinText(m.content),
          ...(m.tool_plan !== undefined ? { tool_plan: m.tool_plan } : {}),
          ...(m.tool_calls
            ? { tool_calls: m.tool_calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.function.name, arguments: JSON.parse(c.function.arguments) as unknown } })) }
            : {}),
        };
      case 'tool': {
        const blocks = typeof m.content === 'string' ? null : m.content;
        const only = blocks?.length === 1 ? blocks[0] : undefined;
        const content = only?.type === 'document' ? only.document.data : joinText(m.content);
        return { role: 'tool', tool_call_id: m.tool_call_id, content };
      }
    }
  });
  const mode = req.citation_options?.mode;
  return {
    messages,
    // Always a list: jinja2 iterates an undefined `tools` as empty, @huggingface/jinja throws.
    tools: req.tools ?? [],
    ...(req.documents && req.documents.length > 0
      ? { documents: req.documents.map((d) => (typeof d === 'string' ? { text: d } : d.data)) }
      : {}),
    enable_citations: mode !== 'OFF' && mode !== 'DISABLED',
    bos_token: opts.bosToken ?? '<BOS_TOKEN>',
    eos_token: opts.eosToken ?? '<|END_OF_TURN_TOKEN|>',
    add_generation_prompt: opts.addGenerationPrompt ?? true,
    ...opts.extra,
  };
}
