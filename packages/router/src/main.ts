// The router process entry point (see run-main.ts).
import { USAGE, runRouterMain } from './run-main.js';

runRouterMain(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`router: ${(e as Error).message ?? String(e)}\n${USAGE}\n`);
  process.exit(1);
});
