// `tandem chat render|parse|conformance`: the chat layer from the command line.
//   render --request FILE.json [--model DIR] [--tokens] [--template]
//   parse --model DIR --text-file FILE [--documents FILE.json] [--citation-mode FAST|ACCURATE]
//   conformance --cases DIR
// Exit codes: 0 ok, 1 conformance failures, 2 usage or input errors.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  ChatTokenizer,
  Cmd3OutputParser,
  hfTemplateVars,
  renderChatRequest,
  renderChatTemplate,
  renderMelodyCase,
  type ChatContext,
} from '@tandem/chat';
import { runChatClient } from './chat-client.js';
import { DocumentListSchema, formatZodError, validateChatRequest } from '@tandem/schemas';

const USAGE = `usage:
  tandem chat [--url URL] [--api-key KEY] [--max-tokens N] MESSAGE
      stream a reply from a running router (default http://127.0.0.1:8080; see tandem up)
  tandem chat render --request FILE.json [--model DIR] [--tokens] [--template]
      print the cmd3 prompt for a Chat v2 request (--tokens: its token ids, needs --model;
      --template: render with the model folder's own chat_template instead)
  tandem chat parse --model DIR --text-file FILE [--documents FILE.json] [--citation-mode FAST|ACCURATE]
      stream a model output through the tokenizer and print Chat v2 events as JSON lines
  tandem chat conformance --cases DIR
      render every case folder (input.json → output.txt) and compare byte for byte`;

class UsageError extends Error {}

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}
const stdio: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

async function readJson(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new UsageError(`${what}: cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new UsageError(`${what}: ${path} is not valid JSON: ${(e as Error).message}`);
  }
}

function need(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing ${flag}`);
  return value;
}

async function render(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args, options: { request: { type: 'string' }, model: { type: 'string' }, tokens: { type: 'boolean' }, template: { type: 'boolean' } }, strict: true });
  const raw = await readJson(need(values.request, '--request FILE.json'), '--request');
  const checked = validateChatRequest(raw);
  if (!checked.ok) {
    io.err(`invalid request ${values.request}:\n  ${checked.issues.join('\n  ')}\n`);
    return 2;
  }
  if ((values.tokens || values.template) && !values.model) throw new UsageError(`${values.tokens ? '--tokens' : '--template'} needs --model DIR`);
  const tok = values.model ? await ChatTokenizer.fromDir(values.model) : undefined;
  let text: string;
  let ids: number[] | undefined;
  if (values.template) {
    const template = tok?.chatTemplate;
    if (!template) throw new UsageError(`--template: ${values.model}/tokenizer_config.json has no chat_template`);
    text = renderChatTemplate(template, hfTemplateVars(checked.value, { bosToken: tok?.bosToken, eosToken: tok?.eosToken }));
    ids = tok?.encodeTrusted(text);
  } else {
    const { prompt } = renderChatRequest(checked.value);
    text = prompt.text;
    ids = tok?.encodeParts(prompt.parts);
  }
  io.out(values.tokens ? `${JSON.stringify(ids)}\n` : text.endsWith('\n') ? text : `${text}\n`);
  return 0;
}

async function parse(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args, options: { model: { type: 'string' }, 'text-file': { type: 'string' }, documents: { type: 'string' }, 'citation-mode': { type: 'string' } }, strict: true });
  const tok = await ChatTokenizer.fromDir(need(values.model, '--model DIR'));
  const textPath = need(values['text-file'], '--text-file FILE');
  const output = await readFile(textPath, 'utf8').catch((e: Error) => {
    throw new UsageError(`--text-file: cannot read ${textPath}: ${e.message}`);
  });
  const mode = values['citation-mode'];
  if (mode !== undefined && mode !== 'FAST' && mode !== 'ACCURATE') throw new UsageError('--citation-mode: expected FAST or ACCURATE');
  let context: ChatContext | undefined;
  if (values.documents) {
    const docs = DocumentListSchema.safeParse(await readJson(values.documents, '--documents'));
    if (!docs.success) {
      io.err(`invalid --documents ${values.documents}:\n${formatZodError(docs.error)}\n`);
      return 2;
    }
    const documents = docs.data.map((d, i) => (typeof d === 'string' ? { id: `doc:${i}`, data: { text: d } } : { id: d.id ?? `doc:${i}`, data: d.data }));
    context = { documents, toolResults: new Map([['0', documents.map((d) => ({ apiId: d.id, output: d.data }))]]), prefill: '', citations: true };
  }
  // Replay the output token by token, as the engine would stream it.
  const parser = new Cmd3OutputParser({ context, citationMode: mode, id: 'cli' });
  const detok = tok.createDetokenizer();
  const emit = (events: unknown[]): void => {
    for (const e of events) io.out(`${JSON.stringify(e)}\n`);
  };
  for (const id of tok.encodeTrusted(output)) emit(parser.push(detok.push(id)));
  emit(parser.push(detok.finish()));
  emit(parser.finish('COMPLETE'));
  return 0;
}

function firstDifference(a: string, b: string): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const show = (s: string): string => JSON.stringify(s.slice(Math.max(0, i - 20), i + 40));
  return `first difference at character ${i}: expected ${show(b)}, got ${show(a)}`;
}

async function conformance(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args, options: { cases: { type: 'string' } }, strict: true });
  const dir = need(values.cases, '--cases DIR');
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--cases: ${dir} is not a directory`);
  const cases = readdirSync(dir).filter((d) => existsSync(join(dir, d, 'input.json'))).sort();
  if (cases.length === 0) throw new UsageError(`--cases: no case folders with input.json under ${dir}`);
  let passed = 0;
  let failed = 0;
  for (const name of cases) {
    try {
      const input = await readJson(join(dir, name, 'input.json'), name);
      const expected = await readFile(join(dir, name, 'output.txt'), 'utf8');
      const got = renderMelodyCase(input);
      if (got === expected) {
        passed++;
        io.out(`PASS ${name}\n`);
      } else {
        failed++;
        io.out(`FAIL ${name}: ${firstDifference(got, expected)}\n`);
      }
    } catch (e) {
      failed++;
      io.out(`FAIL ${name}: ${(e as Error).message}\n`);
    }
  }
  io.out(`${passed} passed, ${failed} failed\n`);
  return failed > 0 ? 1 : 0;
}

/** Entry point for `tandem chat …`; `argv` starts after "chat". Returns the exit code. */
export async function runChatCommand(argv: string[], io: Io = stdio): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'render':
        return await render(rest, io);
      case 'parse':
        return await parse(rest, io);
      case 'conformance':
        return await conformance(rest, io);
      case undefined:
      case '--help':
      case 'help':
        io.out(`${USAGE}\n`);
        return sub === undefined ? 2 : 0;
      default:
        // `tandem chat [--url URL] MESSAGE`: talk to a running router (commands/chat-client.ts).
        return await runChatClient(argv, io);
    }
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`tandem chat: ${(e as Error).message}\n${USAGE}\n`);
      return 2;
    }
    if (e instanceof Error && /TokenizerLoadError|ChatTemplateError|MelodyCaseError/.test(e.name)) {
      io.err(`tandem chat: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
