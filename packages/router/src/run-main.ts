// The router process body (main.ts and `tandem router`): `node --import tsx packages/router/src/main.ts --engines H:P[,H:P] --model DIR`.
// Flags win over the environment (every field and its variable: ROUTER_CONFIG in options.ts).
// SIGTERM / SIGINT close the listeners and exit 0.
import { parseArgs } from 'node:util';
import { startRouter } from './router.js';
import type { RouterOptionsInput } from './options.js';

export const USAGE = 'usage: router (--engines HOST:PORT[,HOST:PORT...] | --engine-service DNSNAME:PORT) --model DIR [--model-name NAME] [--host H] [--http-port P] [--grpc-port P] [--api-keys-file FILE]';

/** The router process body, shared by main.ts and `tandem router`; argv excludes node and script. */
export async function runRouterMain(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      engines: { type: 'string' }, 'engine-service': { type: 'string' }, model: { type: 'string' }, 'model-name': { type: 'string' }, host: { type: 'string' },
      'http-port': { type: 'string' }, 'grpc-port': { type: 'string' }, 'api-keys-file': { type: 'string' }, help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stderr.write(`${USAGE}\n`);
    return;
  }
  const flags: Record<string, unknown> = {
    engines: values.engines, engineService: values['engine-service'], modelDir: values.model, modelName: values['model-name'], host: values.host,
    httpPort: values['http-port'], grpcPort: values['grpc-port'], apiKeysFile: values['api-keys-file'],
  };
  for (const k of Object.keys(flags)) if (flags[k] === undefined) delete flags[k];
  const router = await startRouter(flags as RouterOptionsInput, { env: process.env });
  // One machine-readable line for whoever started us (tandem up waits for it).
  process.stdout.write(`${JSON.stringify({ event: 'listening', http: router.httpUrl, grpc: router.grpcAddress })}\n`);
  let closing = false;
  const stop = (signal: string) => {
    if (closing) return;
    closing = true;
    process.stderr.write(`${JSON.stringify({ level: 'info', component: 'router', msg: 'shutting down', signal })}\n`);
    void router.close().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
