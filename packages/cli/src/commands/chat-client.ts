// `tandem chat [--url URL] [--api-key KEY] [--max-tokens N] MESSAGE`: streams one reply from a
// running router (POST /v2/chat with stream: true) to the terminal: text as it arrives on stdout,
// tool calls and the finish reason / usage on stderr. Exit 1 when the server answers an error.
import { z } from 'zod';
import { intFlag, parseFlags, UsageError, validateFlags } from '../args.js';

export const CHAT_CLIENT_USAGE = 'usage: tandem chat [--url http://127.0.0.1:8080] [--api-key KEY] [--max-tokens N] [--model NAME] MESSAGE';

const Flags = z.strictObject({
  help: z.boolean().optional(),
  url: z.url({ message: 'must be a URL like http://127.0.0.1:8080' }).optional(),
  'api-key': z.string().min(1).optional(),
  'max-tokens': intFlag(1).optional(),
  model: z.string().min(1).optional(),
});

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

/** Parses one SSE stream into (event, data) pairs. */
async function* sse(body: ReadableStream<Uint8Array>): AsyncGenerator<{ event: string | undefined; data: string }> {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let cut: number;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      yield { event, data };
    }
  }
}

export async function runChatClient(argv: string[], io: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) }): Promise<number> {
  const parsed = parseFlags(argv, { url: { type: 'string' }, 'api-key': { type: 'string' }, 'max-tokens': { type: 'string' }, model: { type: 'string' } }, CHAT_CLIENT_USAGE, true);
  if (parsed.values.help) { io.err(`${CHAT_CLIENT_USAGE}\n`); return 0; }
  const flags = validateFlags(Flags, parsed.values, CHAT_CLIENT_USAGE);
  const message = parsed.positionals.join(' ').trim();
  if (message === '') throw new UsageError('MESSAGE: missing (the text to send)', CHAT_CLIENT_USAGE);
  const base = (flags.url ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  const key = flags['api-key'] ?? process.env['TANDEM_API_KEY'];
  let res: Response;
  try {
    res = await fetch(`${base}/v2/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify({ model: flags.model ?? 'default', messages: [{ role: 'user', content: message }], stream: true, ...(flags['max-tokens'] ? { max_tokens: flags['max-tokens'] } : {}) }),
    });
  } catch (e) {
    io.err(`tandem chat: cannot reach ${base}: ${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message} (is \`tandem up\` running?)\n`);
    return 1;
  }
  if (!res.ok || !res.body) {
    const text = await res.text();
    let msg = text;
    try { msg = (JSON.parse(text) as { message?: string }).message ?? text; } catch { /* plain text */ }
    io.err(`tandem chat: HTTP ${res.status}: ${msg}\n`);
    return 1;
  }
  let failed = false;
  for await (const { event, data } of sse(res.body)) {
    if (data === '[DONE]') break;
    const ev = JSON.parse(data) as { type: string; delta?: Record<string, unknown> };
    const d = ev.delta as { message?: { content?: { text?: string; thinking?: string }; tool_plan?: string; tool_calls?: { function?: { name?: string; arguments?: string } } }; finish_reason?: string; error?: string; usage?: { tokens?: { input_tokens?: number; output_tokens?: number } } } | undefined;
    switch (event ?? ev.type) {
      case 'content-delta':
        io.out(d?.message?.content?.text ?? d?.message?.content?.thinking ?? '');
        break;
      case 'tool-plan-delta':
        io.err(d?.message?.tool_plan ?? '');
        break;
      case 'tool-call-start':
        io.err(`\n[tool call ${d?.message?.tool_calls?.function?.name}] ${d?.message?.tool_calls?.function?.arguments ?? ''}`);
        break;
      case 'tool-call-delta':
        io.err(d?.message?.tool_calls?.function?.arguments ?? '');
        break;
      case 'message-end': {
        const u = d?.usage?.tokens;
        io.out('\n');
        io.err(`[${d?.finish_reason}${d?.error ? `: ${d.error}` : ''}; ${u?.input_tokens ?? '?'} prompt tokens, ${u?.output_tokens ?? '?'} output tokens; replica ${res.headers.get('x-tandem-replica')}]\n`);
        failed = d?.finish_reason === 'ERROR';
        break;
      }
      default:
        break;
    }
  }
  return failed ? 1 : 0;
}
