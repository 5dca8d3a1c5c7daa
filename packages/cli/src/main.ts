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
  model fetch    download a checkpoint (hf:// repo or https:// folder) into a folder
  logits         logits of a token prompt as JSON
  generate       generate tokens (one request, or --batch-file FILE.jsonl)
  bench engine   prefill / decode throughput and the memory-bandwidth roofline
  demo           create the small model if needed and generate from a few prompts
  chat render|parse|conformance   chat-format tools
  chat [--url URL] MESSAGE        stream a reply from a running stack
  up             run the local stack: shards + router (tandem up --help)
  operator render|run   objects for a ModelDeployment / run the operator
  shard          one engine process (config from TANDEM_* environment variables)
  router         the router process (flags or TANDEM_* environment variables)`;

type Command = (argv: string[]) => Promise<number>;

// Commands that pull in heavy dependencies (gRPC servers, the Kubernetes client) load lazily, so
// `tandem logits` and friends start fast.
const lazy = (load: () => Promise<Command>): Command => async (argv) => (await load())(argv);
// Server processes run until a signal; their own handlers drain and exit.
const untilSignal = (): Promise<number> => new Promise<number>(() => {});

const COMMANDS: Record<string, Command> = {
  model: runModelCommand,
  logits: runLogitsCommand,
  generate: runGenerateCommand,
  bench: runBenchCommand,
  demo: runDemoCommand,
  chat: lazy(async () => (await import('./commands/chat.js')).runChatCommand),
  up: lazy(async () => (await import('./commands/up.js')).runUpCommand),
  operator: lazy(async () => (await import('./commands/operator.js')).runOperatorCommand),
  // The processes a ModelDeployment's pods run (and `tandem up` spawns): config from TANDEM_* env.
  shard: lazy(async () => {
    const { runShardMain } = await import('@tandem/shard');
    return async () => { await runShardMain(); return untilSignal(); };
  }),
  router: lazy(async () => {
    const { runRouterMain } = await import('@tandem/router');
    return async (argv) => { await runRouterMain(argv); return untilSignal(); };
  }),
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
