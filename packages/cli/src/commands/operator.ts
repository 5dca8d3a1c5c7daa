// `tandem operator render -f FILE` and `tandem operator run`. The operator package is imported
// lazily so other commands never load the Kubernetes client.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { UsageError, parseFlags, validateFlags } from '../args.js';

export const OPERATOR_USAGE = `usage:
  tandem operator render -f FILE [--no-service-monitor] [--no-keda]
      print every object the operator would apply for the ModelDeployment(s) in FILE (- = stdin)
  tandem operator run
      run the ModelDeployment operator (in-cluster credentials or KUBECONFIG; env TANDEM_OPERATOR_*)`;

const RenderFlags = z.strictObject({
  help: z.boolean().optional(),
  file: z.string({ message: 'is required (a YAML file with ModelDeployment documents, or -)' }).min(1),
  'no-service-monitor': z.boolean().optional(),
  'no-keda': z.boolean().optional(),
});

export async function runOperatorCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'render') return runRender(rest);
  if (sub === 'run') {
    parseFlags(rest, {}, OPERATOR_USAGE);
    const { runOperator } = await import('@tandem/model-operator');
    return runOperator();
  }
  if (sub === '--help' || sub === '-h') {
    process.stderr.write(`${OPERATOR_USAGE}\n`);
    return 0;
  }
  throw new UsageError(sub ? `unknown subcommand "operator ${sub}"` : 'missing subcommand (render or run)', OPERATOR_USAGE);
}

async function runRender(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, { file: { type: 'string', short: 'f' }, 'no-service-monitor': { type: 'boolean' }, 'no-keda': { type: 'boolean' } }, OPERATOR_USAGE);
  if (parsed.values.help === true) {
    process.stderr.write(`${OPERATOR_USAGE}\n`);
    return 0;
  }
  const flags = validateFlags(RenderFlags, parsed.values, OPERATOR_USAGE);
  const text = readFileSync(flags.file === '-' ? 0 : flags.file, 'utf8');
  const { renderYaml, RenderError } = await import('@tandem/model-operator');
  try {
    process.stdout.write(
      renderYaml(text, {
        source: flags.file === '-' ? 'stdin' : flags.file,
        capabilities: { serviceMonitor: flags['no-service-monitor'] !== true, keda: flags['no-keda'] !== true },
      }),
    );
  } catch (e) {
    // An invalid resource is the user's input: report it like a usage problem, every field named.
    if (e instanceof RenderError) throw new UsageError(e.message);
    throw e;
  }
  return 0;
}
