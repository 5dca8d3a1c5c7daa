// The `tandem` command: dispatches to one module per command. JSON goes to stdout, human lines to
// stderr; exit 0 ok, 1 failure, 2 bad usage.
import { UsageError } from './args.js';
import { runBenchCommand } from './commands/bench.js';
import { runDemoCommand } from './commands/demo.js';
import { runGenerateCommand } from './commands/generate.js';
import { runLogitsCommand } from './commands/logits.js';
import { runModelCommand } from './commands/model.js';
import { isInvalidArgument } from './engine.js';

export const USAGE = `usage: tandem <command> [flags]   (tandem <command> --help for its flags)
  model init     write a random-weight Cohere2 checkpoint from a preset
  model plan     KV-cache bytes per sequence for a model or preset
  logits         logits of a token prompt as JSON
  generate       generate tokens (one request, or --batch-file FILE.jsonl)
  bench engine   prefill / decode throughput and the memory-bandwidth roofline
  demo           create the small model if needed and generate from a few prompts
  chat render|parse|conformance   chat-format tools`;

type Command = (argv: string[]) => Promise<number>;

async function runChat(argv: string[]): Promise<number> {
  // Written by the chat layer; loaded lazily so the rest of the CLI works without it.
  const spec = './commands/chat.js';
  let mod: { runChatCommand?: Command };
  try {
    mod = (await import(spec)) as typeof mod;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('commands/chat')) {
      throw new Error('`tandem chat` is not available: packages/cli/src/commands/chat.ts is missing');
    }
    throw e;
  }
  if (typeof mod.runChatCommand !== 'function') throw new Error('`tandem chat` is not available: commands/chat.ts does not export runChatCommand');
  return mod.runChatCommand(argv);
}

const COMMANDS: Record<string, Command> = {
  model: runModelCommand,
  logits: runLogitsCommand,
  generate: runGenerateCommand,
  bench: runBenchCommand,
  demo: runDemoCommand,
  chat: runChat,
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stderr.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  try {
    if (!command) throw new UsageError(`unknown command "${name}"`, USAGE);
    return await command(rest);
  } catch (e) {
    if (e instanceof UsageError || isInvalidArgument(e)) {
      process.stderr.write(`tandem ${name}: ${(e as Error).message}\n`);
      if (e instanceof UsageError && e.usage) process.stderr.write(`${e.usage}\n`);
      return 2;
    }
    process.stderr.write(`tandem ${name}: ${(e as Error).message ?? String(e)}\n`);
    return 1;
  }
}

// A closed pipe (`tandem logits ... | head`) is not an error worth a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

process.exitCode = await main(process.argv.slice(2));
